/*
 * tests/fpu/fault_test.c - FPU faults (docs/fpu.md, "FPU exceptions", "The
 * FPU is a context op"): the thread that caused one is killed, the rest go
 * on. FPU use in a thread created without THREAD_FPU (#NM), an unmasked
 * SIMD exception (#XM), an unmasked x87 one (#MF): each kills its culprit,
 * while a victim beside it on the same CPU, and the case's own thread,
 * keep their images. An FPU instruction in a trap handler is the kernel's
 * own bug: a panic.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <arch/fpu.h>
#include <arch/trap.h>
#include <fpu.h>
#include <sched.h>
#include <string.h>
#include <thread.h>

/* ---- the culprit dies, the victim keeps its state ---- */

/* A culprit thread gets this as its argument. */
struct kill_run {
	struct fpt_keeper victim;	/* checks its image beside the culprit */
	volatile bool after_fault;	/* the culprit went on past its fault */
	volatile bool xm_by_int;	/* #XM delivered by INT (see sse_divider) */
};

static void non_fpu_toucher(void *arg)
{
	struct kill_run *k = arg;
	fpu_test_touch();
	k->after_fault = true;
}

static void sse_divider(void *arg)
{
	struct kill_run *k = arg;
	while (!k->victim.ready)
		thread_yield();
	fpu_set_mxcsr(MXCSR_DEFAULT & ~MXCSR_ZM);	/* divide by zero unmasked */
	fpu_test_sse_divide_by_zero();
	/* Still here: QEMU 7.2's TCG records SIMD exceptions in MXCSR's flags
	 * but never raises #XM. Deliver it as the hardware would have (the
	 * flag set, unmasked), through the same IDT vector, so the handler's
	 * decoding and the kill are still what runs. */
	if (fpu_get_mxcsr() & MXCSR_ZE) {
		k->xm_by_int = true;
		__asm__ volatile("int %0" ::"i"(T_XM));
	}
	k->after_fault = true;
}

static void x87_divider(void *arg)
{
	struct kill_run *k = arg;
	while (!k->victim.ready)
		thread_yield();
	fpu_set_fcw(FCW_DEFAULT & ~FCW_ZM);		/* divide by zero unmasked */
	fpu_test_x87_divide_by_zero();
	k->after_fault = true;
}

/* Runs `fn` in a thread (FPU or not) next to a victim that checks its own
 * image; the thread must be killed for `reason`, the victim untouched.
 * *k starts zeroed; the case reads what the culprit left in it. */
static void expect_killed(struct kill_run *k, void (*fn)(void *), unsigned flags,
			  const char *reason)
{
	int cpu = fpt_test_cpu();
	struct fpu_image mine, got;
	fpt_image_make(&mine, 31337, 4);
	fpt_image_load(&mine);
	k->victim.seed = 555;
	k->victim.variant = 7;
	struct thread *v = thread_create_on("victim", fpt_keeper_main, &k->victim, THREAD_FPU,
					    cpu, PRIO_NORMAL);
	struct thread *c = thread_create_on("culprit", fn, k, flags, cpu, PRIO_NORMAL);
	const char *why = NULL;
	bool killed = thread_join_status(c, &why);
	for (int i = 0; i < 10; i++)
		thread_yield();
	k->victim.stop = true;
	thread_join(v);
	fpt_image_read(&got);
	KT_EXPECT(killed);
	KT_EXPECT(!k->after_fault);
	KT_EXPECT(why && strstr(why, reason));
	if (why)
		KT_LOG("killed: %s", why);
	KT_EXPECT_EQ(k->victim.bad, 0);
	KT_EXPECT_EQ(fpt_image_diff(&mine, &got), 0);
	/* and the kernel goes on making FPU threads */
	volatile bool after_stop = false;
	struct thread *after = thread_create("after", fpt_yield_until, (void *)&after_stop,
					     THREAD_FPU);
	after_stop = true;
	KT_EXPECT(!thread_join_status(after, NULL));
}

KTEST(fpu, fpu_use_without_thread_fpu_kills_the_thread)
{
	struct kill_run k = { .after_fault = false };
	expect_killed(&k, non_fpu_toucher, 0, "without THREAD_FPU");
}

KTEST(fpu, simd_exception_kills_only_its_thread)
{
	struct kill_run k = { .xm_by_int = false };
	expect_killed(&k, sse_divider, THREAD_FPU,
		      "SIMD floating-point exception: divide by zero");
	if (k.xm_by_int)
		KT_LOG("this CPU set MXCSR.ZE without raising #XM (QEMU TCG): delivered by INT 19");
}

KTEST(fpu, x87_exception_kills_only_its_thread)
{
	struct kill_run k = { .after_fault = false };
	expect_killed(&k, x87_divider, THREAD_FPU, "x87 floating-point exception: divide by zero");
}

/* ---- a trap handler's FPU use ---- */

/* An interrupt or trap handler's FPU instruction (outside a kfpu section)
 * would use the registers of the thread it interrupted: fatal, not a kill. */
static bool touching_breakpoint(struct trap_frame *tf)
{
	(void)tf;
	fpu_test_touch();
	return true;
}

static void breakpoint_in_plain_thread(void *arg)
{
	(void)arg;
	__asm__ volatile("int3");
}

KTEST_EXPECT_PANIC(fpu, fpu_use_in_a_trap_handler_panics,
		   "unexpected trap: device not available (#NM)")
{
	trap_register(T_BP, touching_breakpoint);
	thread_join(thread_create("int3er", breakpoint_in_plain_thread, NULL, 0));
	trap_register(T_BP, NULL);
}
