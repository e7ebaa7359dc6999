/*
 * tests/bench/sched_bench.c - scheduler benchmarks (`make bench`).
 *
 * Each prints "# BENCH name=... unit=insn value=..." through KT_LOG. Under
 * `make bench` QEMU runs with -icount shift=0,sleep=off, where the TSC
 * counts guest instructions, so arch_timestamp() differences are
 * instruction counts: repeatable to the last digit. Run as ordinary tests
 * (make test) the same code only checks that it works; the figures are
 * then host cycles and mean little.
 */
#include "pair.h"
#include <ktest.h>
#include <arch.h>
#include <sync.h>
#include <thread.h>

#define YIELDS 20000

static volatile uint64_t yield_start, yield_end;

static void yielder(void *arg)
{
	(void)arg;
	for (int i = 0; i < YIELDS; i++)
		thread_yield();
}

/* Instructions per hand-off between two threads that yield to each other
 * on one CPU: from one thread's thread_yield() to the other's return. */
KTEST(bench, sched_yield)
{
	uint64_t t0, t1;
	bench_run_pair("yielder", yielder, NULL, 0, &t0, &t1);
	/* 2 * YIELDS hand-offs, plus a few switches at the start and end */
	uint64_t per = (t1 - t0) / (2 * YIELDS);
	KT_EXPECT(per > 0);
	KT_LOG("BENCH name=sched.yield unit=insn value=%lu iters=%d", per, 2 * YIELDS);
}

#define WAKEUPS 2000

static struct semaphore wake_sem, back_sem;
static volatile uint64_t posted_at, woke_total;

static void wakee(void *arg)
{
	(void)arg;
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		sem_wait(&wake_sem);
		woke_total += arch_timestamp() - posted_at;
		sem_post(&back_sem);
	}
}

/* Instructions from a wakeup on one CPU until the woken thread runs on
 * another (it was idle there, so this is the IPI path). */
KTEST_CPUS(bench, sched_wakeup_ipi, 2)
{
	sem_init(&wake_sem, 0, "bench.wake");
	sem_init(&back_sem, 0, "bench.back");
	woke_total = 0;
	int n = bench_iters(WAKEUPS);
	thread_bind(0);
	struct thread *t = thread_create_on("wakee", wakee, &n, 0, 1, PRIO_NORMAL);
	for (int i = 0; i < n; i++) {
		thread_sleep(100000);		/* let the other CPU go idle */
		posted_at = arch_timestamp();
		sem_post(&wake_sem);
		sem_wait(&back_sem);
	}
	thread_join(t);
	thread_bind(-1);
	uint64_t per = woke_total / (uint64_t)n;
	KT_EXPECT(per > 0);
	KT_LOG("BENCH name=sched.wakeup_ipi unit=insn value=%lu iters=%d", per, n);
}

static void nothing(void *arg)
{
	(void)arg;
}

#define CREATES 2000

/* Instructions for one thread_create + thread_join of a thread that
 * returns at once, on one CPU. */
KTEST(bench, sched_create_join)
{
	thread_bind(0);
	uint64_t t0 = arch_timestamp();
	for (int i = 0; i < CREATES; i++)
		thread_join(thread_create_on("cj", nothing, NULL, 0, 0, PRIO_NORMAL));
	uint64_t per = (arch_timestamp() - t0) / CREATES;
	thread_bind(-1);
	KT_EXPECT(per > 0);
	KT_LOG("BENCH name=sched.create_join unit=insn value=%lu iters=%d", per, CREATES);
}
