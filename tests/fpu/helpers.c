/*
 * tests/fpu/helpers.c - images and shared threads for the FPU suite
 * (fpu_test.h). Every function works on the caller's own registers or on
 * the state it is handed; nothing here keeps state between calls.
 */
#include "fpu_test.h"
#include <arch.h>
#include <arch/fpu.h>
#include <fpu.h>
#include <string.h>
#include <thread.h>

bool fpt_avx_on(void)
{
	return fpu_boot_info()->xcr0 & XCR0_AVX;
}

uint16_t fpt_x87_tags(void)
{
	struct {
		uint16_t fcw, r0, fsw, r1, ftw, r2;
		uint32_t rest[4];
	} env;
	__asm__ volatile("fnstenv %0" : "=m"(env));
	fpu_set_fcw(env.fcw);		/* fnstenv masks every exception: undo */
	return env.ftw;
}

void fpt_image_make(struct fpu_image *im, uint64_t seed, int variant)
{
	for (int i = 0; i < NREGS * 2; i++) {
		im->xmm[i] = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) << 40;
		im->ymm_hi[i] = ~im->xmm[i] ^ 0x5A5A5A5AULL;
	}
	unsigned rc = (unsigned)variant & 3, pc = (variant >> 2) & 1 ? 2 : 3;
	im->mxcsr = MXCSR_DEFAULT | rc << MXCSR_RC_SHIFT;
	im->fcw = (uint16_t)((FCW_DEFAULT & ~(3u << FCW_RC_SHIFT) & ~(3u << FCW_PC_SHIFT)) |
			     ((3 - rc) << FCW_RC_SHIFT) | (pc << FCW_PC_SHIFT));
}

void fpt_image_init_state(struct fpu_image *im)
{
	memset(im, 0, sizeof(*im));
	im->mxcsr = MXCSR_DEFAULT;
	im->fcw = FCW_DEFAULT;
}

void fpt_image_load(const struct fpu_image *im)
{
	fpu_test_put_xmm(im->xmm);
	if (fpt_avx_on())
		fpu_test_put_ymm_hi(im->ymm_hi);
	fpu_set_mxcsr(im->mxcsr);
	fpu_set_fcw(im->fcw);
}

void fpt_image_read(struct fpu_image *im)
{
	memset(im, 0, sizeof(*im));
	fpu_test_get_xmm(im->xmm);
	if (fpt_avx_on())
		fpu_test_get_ymm_hi(im->ymm_hi);
	im->mxcsr = fpu_get_mxcsr();
	im->fcw = fpu_get_fcw();
}

int fpt_image_diff(const struct fpu_image *a, const struct fpu_image *b)
{
	int d = 0;
	if (memcmp(a->xmm, b->xmm, sizeof(a->xmm)))
		d |= IMG_XMM;
	if (fpt_avx_on() && memcmp(a->ymm_hi, b->ymm_hi, sizeof(a->ymm_hi)))
		d |= IMG_YMM_HI;
	if (a->mxcsr != b->mxcsr)
		d |= IMG_MXCSR;
	if (a->fcw != b->fcw)
		d |= IMG_FCW;
	return d;
}

int fpt_test_cpu(void)
{
	return cpu_count() - 1;
}

void fpt_keeper_main(void *arg)
{
	struct fpt_keeper *k = arg;
	struct fpu_image want, got;
	fpt_image_make(&want, k->seed, k->variant);
	fpt_image_load(&want);
	k->ready = true;
	while (!k->stop) {
		thread_yield();
		fpt_image_read(&got);
		if (fpt_image_diff(&want, &got)) {
			k->bad++;
			fpt_image_load(&want);
		}
	}
}

void fpt_yield_until(void *stop)
{
	while (!*(volatile bool *)stop)
		thread_yield();
}
