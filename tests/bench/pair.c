/*
 * tests/bench/pair.c - two threads on one CPU, timed from start to finish.
 *
 * The caller's thread binds itself to the CPU and raises its priority, so
 * that both threads exist before either runs; dropping its priority below
 * theirs then lets them run, and it gets the CPU back only once both are
 * done. The two timestamps bracket exactly that.
 */
#include "pair.h"
#include <arch.h>
#include <cmdline.h>
#include <thread.h>

static uint64_t quick;
CMDLINE_UINT("bench.quick", quick, 0, 1,
	     "1: benchmarks run a tenth of their iterations (make test checks they work)");

int bench_iters(int n)
{
	return quick ? (n / 10 ? n / 10 : 1) : n;
}

void bench_run_pair(const char *name, void (*fn)(void *), void *arg, unsigned flags,
		    uint64_t *t0, uint64_t *t1)
{
	int cpu = cpu_count() - 1;
	thread_bind(cpu);
	thread_set_priority(curthread, PRIO_HIGH);	/* both start together */
	struct thread *a = thread_create_on(name, fn, arg, flags, cpu, PRIO_NORMAL);
	struct thread *b = thread_create_on(name, fn, arg, flags, cpu, PRIO_NORMAL);
	*t0 = arch_timestamp();
	thread_set_priority(curthread, PRIO_LOW);	/* back when both are done */
	*t1 = arch_timestamp();
	thread_set_priority(curthread, PRIO_NORMAL);
	thread_join(a);
	thread_join(b);
	thread_bind(-1);
}
