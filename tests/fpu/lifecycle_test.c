/*
 * tests/fpu/lifecycle_test.c - an FPU thread's context op from creation to
 * free, and the counters (docs/fpu.md, "The FPU is a context op", "Who
 * holds the registers", "Counters"): the FPU op is the thread's first and
 * only op at creation, a freed thread's state is named owner by no CPU,
 * and the per-CPU and per-thread counters move and show in the monitor.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <ctxop.h>
#include <fpu.h>
#include <monitor.h>
#include <percpu.h>
#include <sched.h>
#include <thread.h>

static void brief_user(void *arg)
{
	(void)arg;
	fpu_test_touch();
}

KTEST(fpu, freed_thread_owns_no_cpu)
{
	int cpu = fpt_test_cpu();
	struct thread *t = thread_create_on("brief", brief_user, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	const struct fpu_ctx *ctx = t->fpu;
	KT_EXPECT(ctx != NULL);
	KT_EXPECT_EQ(ctxop_count(t), 1);	/* the FPU op, first and alone */
	thread_join(t);
	for (int i = 0; i < MAX_CPUS; i++)
		KT_EXPECT(cpus[i].fpu_owner != ctx);
}

KTEST(fpu, counters_move_and_monitor_shows_them)
{
	struct fpu_counters c0, c1, t0, t1;
	int cpu = cpu_id();
	fpu_cpu_counters(cpu, &c0);
	fpu_thread_counters(curthread, &t0);
	struct thread *t = thread_create_on("brief", brief_user, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	thread_join(t);
	fpu_test_touch();
	fpu_cpu_counters(cpu, &c1);
	fpu_thread_counters(curthread, &t1);
	KT_EXPECT(c1.restores > c0.restores);
	KT_EXPECT(c1.first_uses > c0.first_uses);
	KT_EXPECT(c1.saves >= c0.saves);
	KT_EXPECT(t1.restores >= t0.restores);
	KT_EXPECT(monitor_run("fpu"));
}
