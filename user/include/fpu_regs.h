/*
 * fpu_regs.h - a process's FPU registers, exactly, for the FPU tests
 * (user/lib/fpu_regs.asm loads and reads them, user/lib/fpu_regs.c makes
 * and compares images).
 *
 * Compiled C may use the XMM registers for anything (a struct copy, a
 * printf), so a test that wants to know whether a switch kept its
 * registers puts them in place and reads them back in assembly, around
 * the system call that switches: fpu_regs_hold. An image is everything
 * a test checks: XMM0-15, the upper halves of YMM0-15 where the kernel
 * has AVX on (XCR0), the eight MMX registers (the x87 registers'
 * significands), MXCSR and the x87 control word.
 *
 * Images are tagged: the top 16 bits of every 64-bit lane carry the tag
 * of the image's owner, so a register seen in the wrong process says
 * whose it was (fpu_regs_foreign).
 *
 * fpu_regs.c and the programs that must control their first FPU
 * instruction (user/bin/fpuprobe.c) are compiled -mgeneral-regs-only:
 * they touch the FPU only through the assembly.
 */
#ifndef FPU_REGS_H
#define FPU_REGS_H

#include <stdbool.h>
#include <stdint.h>
#include <uapi/syscall.h>

#define FPU_REGS_XMM 16

/* The layout fpu_regs.asm expects (offsets in its header). */
struct fpu_regs {
	uint64_t xmm[FPU_REGS_XMM * 2];		/* XMM0..15, low quadword first */
	uint64_t ymm_hi[FPU_REGS_XMM * 2];	/* YMM0..15 bits 128..255 (AVX only) */
	uint64_t mm[8];				/* MM0..7 */
	uint32_t mxcsr;
	uint16_t fcw;
	uint16_t pad;
};

/* The parts fpu_regs_diff reports. */
#define FPU_REGS_DIFF_XMM    (1 << 0)
#define FPU_REGS_DIFF_YMM_HI (1 << 1)
#define FPU_REGS_DIFF_MM     (1 << 2)
#define FPU_REGS_DIFF_MXCSR  (1 << 3)
#define FPU_REGS_DIFF_FCW    (1 << 4)

#define FPU_MXCSR_DEFAULT 0x1F80	/* every exception masked, round to nearest */
#define FPU_FCW_DEFAULT   0x037F	/* the same for the x87, 64-bit precision */

/* ---- fpu_regs.asm ---- */
/* Puts r into the registers / reads them into r. */
void fpu_regs_load(const struct fpu_regs *r);
void fpu_regs_read(struct fpu_regs *r);
/* Loads want, makes system call nr(a0, a1, a2), reads the registers into
 * got as the call left them; returns the call's result. (SYS_fork: both
 * processes return here, each with the registers it came back with.) */
long fpu_regs_hold(const struct fpu_regs *want, struct fpu_regs *got, long nr, long a0, long a1,
		   long a2);
/* A thread entry for SYS_thread_create(fpu_regs_probe_thread, out,
 * SYS_thread_exit): reads the registers it starts with into *out before
 * anything else runs, then makes system call SYS_thread_exit. */
/* (hidden: taken by address, so it must be reached RIP-relative, not through
 * a GOT entry, in a program linked above 4 GiB) */
__attribute__((visibility("hidden"))) void fpu_regs_probe_thread(struct fpu_regs *out,
								 long sys_thread_exit);

/* ---- fpu_regs.c ---- */
/* Finds out whether the YMM upper halves are part of an image (the CPU
 * has AVX and the kernel enabled it in XCR0). Call once before the rest;
 * returns the answer. Uses CPUID and XGETBV, no FPU register. */
bool fpu_regs_init(void);
bool fpu_regs_avx(void);
/* A random image whose lanes carry `tag`; rounding modes and precision
 * from the generator too. Exceptions stay masked. */
void fpu_regs_make(struct fpu_regs *r, uint64_t *rng, uint16_t tag);
/* The architectural init state: MXCSR 0x1F80, FCW 0x037F, the rest 0. */
void fpu_regs_init_state(struct fpu_regs *r);
/* Which parts differ (FPU_REGS_DIFF_*); 0 if none. */
int fpu_regs_diff(const struct fpu_regs *a, const struct fpu_regs *b);
/* Lanes of r whose tag is in [first, first + n) but is not `mine`:
 * registers of another image. */
int fpu_regs_foreign(const struct fpu_regs *r, uint16_t mine, uint16_t first, int n);
/* SYS_fpu (uapi/syscall.h): the kernel's view of the caller's FPU, and
 * the #XM a CPU that raises none (QEMU's TCG) would have raised. */
long fpu_get_info(struct fpu_info *info);
long fpu_deliver_xm(void);

/* For a function that must make no FPU use the test did not write: the
 * compiler then keeps to the general registers in it. */
#define FPU_REGS_NOSIMD __attribute__((target("general-regs-only")))

/* The tag of a lane: its top 16 bits. */
static inline uint16_t fpu_regs_tag(uint64_t lane)
{
	return (uint16_t)(lane >> 48);
}

#endif
