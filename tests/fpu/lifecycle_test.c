/*
 * tests/fpu/lifecycle_test.c - an FPU thread's context op from creation to
 * free, and the counters (docs/fpu.md, "The FPU is a context op", "Who
 * holds the registers", "Counters"): the FPU op is the thread's first and
 * only op at creation, a freed thread's state is named owner by no CPU,
 * and the per-CPU and per-thread counters move and show in the monitor.
 *
 * The monitor's `fpu` used to follow another CPU's owner record to the
 * owner's thread and its name, while a join on another CPU could free
 * both: fpu_print_hook joins the owner at exactly that moment, and kmem's
 * poison (0xdeadbeef) turned the read into a general protection fault.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <ctxop.h>
#include <fpu.h>
#include <monitor.h>
#include <percpu.h>
#include <sched.h>
#include <thread.h>

/* fpu.monitor_never_follows_another_cpus_owner: the thread the hook joins */
static struct thread *owner_to_free;
static int owner_cpu;
static bool owner_freed;

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

/* Called by fpu_print between reading a CPU's owner record and printing
 * it: the owner's thread is joined, and its state freed, right there. */
static void free_the_owner(int cpu)
{
	if (cpu != owner_cpu || owner_freed)
		return;
	thread_join(owner_to_free);
	owner_freed = true;
}

KTEST_CPUS(fpu, monitor_never_follows_another_cpus_owner, 2)
{
	int cpu = fpt_test_cpu();
	thread_bind(0);
	struct thread *t = thread_create_on("owner", brief_user, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	/* it used the FPU and exited: its CPU still names its state the owner */
	while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != TS_ZOMBIE ||
	       __atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE))
		thread_yield();
	bool named = cpus[cpu].fpu_owner == t->fpu;
	if (!named)
		thread_join(t);
	KT_ASSERT(named);
	owner_to_free = t;
	owner_cpu = cpu;
	owner_freed = false;
	fpu_print_hook = free_the_owner;
	fpu_print();
	fpu_print_hook = NULL;
	thread_bind(-1);
	KT_EXPECT(owner_freed);		/* the hook ran: the race was there to lose */
}
