/*
 * tests/fpu/fpu_test.h - what the FPU suite's files share (helpers.c,
 * fpu_regs.asm), and where each kind of case lives.
 *
 *   choice_test.c     the save mechanism and XCR0: the rules over described
 *                     CPUs, and the boot's own pick
 *   switch_test.c     state across switches and migrations: the init state,
 *                     preemption, moving between CPUs, the per-CPU owner
 *                     (when a restore is skipped, when it is forced), #NM
 *                     counts under eager and lazy switching
 *   kfpu_test.c       kernel FPU sections (kfpu_begin/end, memcpy_sse)
 *   fault_test.c      FPU faults: the culprit thread is killed, the others
 *                     keep their state; FPU use in a trap handler panics
 *   first_use_test.c  fpu.alloc=lazy's first use, and the Xen #NM rule
 *   lifecycle_test.c  the FPU op at creation and free, counters, monitor
 *   window_test.c     the registers hold what the owner record says: a switch
 *                     to a thread that never uses the FPU, the eager window,
 *                     no #NM inside a context op
 *   pointers_test.c   AMD's FXSAVE leak of the x87 error pointers
 *   policy_test.c     the policy changed at run time while other CPUs switch
 *
 * A new case goes in the file of its theme; a new theme gets a file of its
 * own. Each case keeps its scenario's state in a struct in its own frame
 * and hands it to its threads as their argument (it joins them before it
 * returns), so there is no state at file scope for two cases to share.
 *
 * The vector registers are loaded and read by fpu_regs.asm (the kernel's C
 * never touches them: -mgeneral-regs-only), so a value put in XMM3 is still
 * there after any amount of C, unless a switch loses it. An "image" is
 * everything a thread checks: XMM0-15, the upper halves of YMM0-15 when AVX
 * is on, MXCSR and the x87 control word.
 *
 * The harness runs the suite on -cpu qemu64 (FXSAVE) and -cpu max
 * (XSAVEOPT, AVX), eager and lazy, one CPU and -smp 4 (configs.py). Cases
 * whose subject is one policy (the Xen rule is lazy's) switch to it for
 * their duration with fpu_set_policy.
 */
#ifndef TESTS_FPU_TEST_H
#define TESTS_FPU_TEST_H

#include <kernel.h>

#define MS 1000000ULL
#define NREGS 16

/* fpu_regs.asm. Each buffer is NREGS registers x 16 bytes, register 0 first. */
void fpu_test_put_xmm(const void *src);
void fpu_test_get_xmm(void *dst);
void fpu_test_put_ymm_hi(const void *src);	/* AVX only */
void fpu_test_get_ymm_hi(void *dst);		/* AVX only */
/* One SSE instruction that changes nothing (with TS set: #NM). */
void fpu_test_touch(void);
/* 1.0f / 0.0f in SSE: #XM if MXCSR leaves divide-by-zero unmasked. */
void fpu_test_sse_divide_by_zero(void);
/* 1 / 0 on the x87 stack: #MF if the control word leaves ZE unmasked. */
void fpu_test_x87_divide_by_zero(void);

/* ---- images ---- */

struct fpu_image {
	uint64_t xmm[NREGS * 2];
	uint64_t ymm_hi[NREGS * 2];
	uint32_t mxcsr;
	uint16_t fcw;
};

/* The parts fpt_image_diff reports. */
#define IMG_XMM    (1 << 0)
#define IMG_YMM_HI (1 << 1)
#define IMG_MXCSR  (1 << 2)
#define IMG_FCW    (1 << 3)

/* Is AVX in XCR0 (the YMM upper halves are part of an image)? */
bool fpt_avx_on(void);
/* A distinct image per seed; `variant` picks the rounding modes (all four
 * of MXCSR's, all four of the x87's) and the x87 precision. */
void fpt_image_make(struct fpu_image *im, uint64_t seed, int variant);
/* The architectural init state, as a new FPU thread must see it. */
void fpt_image_init_state(struct fpu_image *im);
/* Puts im into the caller's registers / reads them into im. */
void fpt_image_load(const struct fpu_image *im);
void fpt_image_read(struct fpu_image *im);
/* Which parts differ (IMG_* bits); 0 if none. */
int fpt_image_diff(const struct fpu_image *a, const struct fpu_image *b);
/* The x87 tag word: 0xFFFF when the register stack is empty. */
uint16_t fpt_x87_tags(void);

/* The CPU a case runs its threads on: the last one, which is CPU 0 on a
 * one-CPU boot and otherwise not the boot CPU. */
int fpt_test_cpu(void);

/* ---- threads the cases share ---- */

/*
 * A keeper thread (fpt_keeper_main, argument a struct fpt_keeper): loads
 * the image of (seed, variant), sets `ready`, then yields until `stop`,
 * counting in `bad` (and repairing) every time its registers came back
 * different: another thread's state got in.
 */
struct fpt_keeper {
	uint64_t seed;
	int variant;
	volatile bool ready;
	volatile bool stop;
	volatile uint64_t bad;
};
void fpt_keeper_main(void *keeper);

/* A thread that yields until *(volatile bool *)stop: a partner to switch to. */
void fpt_yield_until(void *stop);

#endif
