/*
 * user/lib/fpu_regs.c - images of the FPU registers for the FPU tests
 * (fpu_regs.h): making them, the init state, comparing them, and whether
 * the YMM upper halves are part of them.
 *
 * Compiled -mgeneral-regs-only (Makefile, USER_NOSIMD): nothing here
 * touches an FPU register, so a test calls these without making an FPU
 * use it did not mean to (its first one traps and, with fpu.alloc=lazy,
 * allocates).
 */
#include <fpu_regs.h>
#include <stddef.h>
#include <ulib.h>

_Static_assert(offsetof(struct fpu_regs, ymm_hi) == 256, "fpu_regs.asm R_YMM_HI");
_Static_assert(offsetof(struct fpu_regs, mm) == 512, "fpu_regs.asm R_MM");
_Static_assert(offsetof(struct fpu_regs, mxcsr) == 576, "fpu_regs.asm R_MXCSR");
_Static_assert(offsetof(struct fpu_regs, fcw) == 580, "fpu_regs.asm R_FCW");

#define CPUID_1_ECX_OSXSAVE (1u << 27)
#define CPUID_1_ECX_AVX     (1u << 28)
#define XCR0_SSE_AVX        0x6	/* XMM and YMM state both enabled */
#define MXCSR_RC_SHIFT      13
#define MXCSR_FZ            (1u << 15)
#define FCW_PC_SHIFT        8
#define FCW_RC_SHIFT        10

uint8_t fpu_regs_have_avx;	/* read by fpu_regs.asm */

bool fpu_regs_init(void)
{
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	bool avx = (c & CPUID_1_ECX_OSXSAVE) && (c & CPUID_1_ECX_AVX);
	if (avx) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		avx = (lo & XCR0_SSE_AVX) == XCR0_SSE_AVX;
	}
	fpu_regs_have_avx = avx;
	return avx;
}

bool fpu_regs_avx(void)
{
	return fpu_regs_have_avx;
}

static uint64_t lane(uint64_t *rng, uint16_t tag)
{
	return (rand64(rng) & 0x0000FFFFFFFFFFFFULL) | (uint64_t)tag << 48;
}

void fpu_regs_make(struct fpu_regs *r, uint64_t *rng, uint16_t tag)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < FPU_REGS_XMM * 2; i++) {
		r->xmm[i] = lane(rng, tag);
		if (fpu_regs_have_avx)
			r->ymm_hi[i] = lane(rng, tag);
	}
	for (int i = 0; i < 8; i++)
		r->mm[i] = lane(rng, tag);
	uint64_t x = rand64(rng);
	static const uint16_t pcs[] = { 0, 2, 3 };	/* single, double, extended (1 is reserved) */
	r->mxcsr = FPU_MXCSR_DEFAULT | (uint32_t)(x & 3) << MXCSR_RC_SHIFT |
		   ((x >> 2) & 1 ? MXCSR_FZ : 0);
	r->fcw = (uint16_t)((FPU_FCW_DEFAULT & ~(3u << FCW_PC_SHIFT)) |
			    (uint32_t)pcs[(x >> 3) % 3] << FCW_PC_SHIFT |
			    (uint32_t)((x >> 5) & 3) << FCW_RC_SHIFT);
}

void fpu_regs_init_state(struct fpu_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->mxcsr = FPU_MXCSR_DEFAULT;
	r->fcw = FPU_FCW_DEFAULT;
}

int fpu_regs_diff(const struct fpu_regs *a, const struct fpu_regs *b)
{
	int d = 0;
	if (memcmp(a->xmm, b->xmm, sizeof(a->xmm)))
		d |= FPU_REGS_DIFF_XMM;
	if (fpu_regs_have_avx && memcmp(a->ymm_hi, b->ymm_hi, sizeof(a->ymm_hi)))
		d |= FPU_REGS_DIFF_YMM_HI;
	if (memcmp(a->mm, b->mm, sizeof(a->mm)))
		d |= FPU_REGS_DIFF_MM;
	if (a->mxcsr != b->mxcsr)
		d |= FPU_REGS_DIFF_MXCSR;
	if (a->fcw != b->fcw)
		d |= FPU_REGS_DIFF_FCW;
	return d;
}

static int foreign_in(const uint64_t *lanes, int count, uint16_t mine, uint16_t first, int n)
{
	int found = 0;
	for (int i = 0; i < count; i++) {
		uint16_t t = fpu_regs_tag(lanes[i]);
		if (t != mine && t >= first && t < first + n)
			found++;
	}
	return found;
}

int fpu_regs_foreign(const struct fpu_regs *r, uint16_t mine, uint16_t first, int n)
{
	return foreign_in(r->xmm, FPU_REGS_XMM * 2, mine, first, n) +
	       (fpu_regs_have_avx ? foreign_in(r->ymm_hi, FPU_REGS_XMM * 2, mine, first, n) : 0) +
	       foreign_in(r->mm, 8, mine, first, n);
}

long fpu_get_info(struct fpu_info *info)
{
	return syscall6(SYS_fpu, FPU_OP_INFO, (long)info, 0, 0, 0, 0);
}

long fpu_deliver_xm(void)
{
	return syscall6(SYS_fpu, FPU_OP_DELIVER_XM, 0, 0, 0, 0, 0);
}
