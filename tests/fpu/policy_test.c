/*
 * tests/fpu/policy_test.c - changing the switching policy at run time
 * (fpu_set_policy) while other CPUs switch between FPU threads.
 *
 * Both halves of a switch depend on the policy: the leaving thread's save
 * (eager leaves TS clear when the next thread is an FPU thread) and the
 * arriving thread's restore (eager loads, lazy leaves it to #NM). When the
 * policy was one global that another CPU could change between the two
 * halves, a save under eager met a restore under lazy: the arriving thread
 * ran, without #NM, on the registers of the one that left, and that one,
 * coming back, skipped its restore (the CPU still named it the owner) and
 * ran with the other's values. Two keepers on one CPU and a flipper on
 * another show it within a few dozen flips; with eager on both sides of
 * every flip they never did.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <fpu.h>
#include <sched.h>
#include <thread.h>

#define FLIP_SPIN 2000			/* busy loop between flips */
#define FLIP_TIME (1000 * MS)		/* how long the flipper keeps at it */

KTEST_CPUS(fpu, policy_flips_keep_the_state_of_threads_on_other_cpus, 2)
{
	int cpu = fpt_test_cpu();
	thread_bind(0);
	struct fpt_keeper a = { .seed = 0xA, .variant = 1 }, b = { .seed = 0xB, .variant = 2 };
	struct thread *ta = thread_create_on("keep-a", fpt_keeper_main, &a, THREAD_FPU, cpu,
					     PRIO_NORMAL);
	struct thread *tb = thread_create_on("keep-b", fpt_keeper_main, &b, THREAD_FPU, cpu,
					     PRIO_NORMAL);
	while (!a.ready || !b.ready)
		thread_yield();
	enum fpu_policy boot = fpu_policy();
	int flips = 0;
	uint64_t start = clock_ns(), end = start + FLIP_TIME;
	while (clock_ns() < end && a.bad + b.bad == 0) {
		fpu_set_policy(boot == FPU_EAGER ? FPU_LAZY : FPU_EAGER);
		for (volatile int i = 0; i < FLIP_SPIN; i++)
			;
		fpu_set_policy(boot);
		for (volatile int i = 0; i < FLIP_SPIN; i++)
			;
		flips++;
	}
	uint64_t ms = (clock_ns() - start) / MS;
	a.stop = b.stop = true;
	thread_join(ta);
	thread_join(tb);
	thread_bind(-1);
	KT_LOG("%d flips to %s and back in %lu ms; keeper a saw %lu bad images, b %lu", flips,
	       fpu_policy_name(boot == FPU_EAGER ? FPU_LAZY : FPU_EAGER), ms, a.bad, b.bad);
	KT_EXPECT_EQ(a.bad, 0);
	KT_EXPECT_EQ(b.bad, 0);
}
