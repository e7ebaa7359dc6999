/*
 * tests/bench/pair.h - the hand-off measurement the switch benchmarks share.
 */
#ifndef BENCH_PAIR_H
#define BENCH_PAIR_H

#include <kernel.h>

/*
 * Runs fn(arg) in two threads (thread_create flags `flags`) bound to the
 * last CPU and started together, and waits for both. *t0 and *t1 are
 * arch_timestamp() just before the two could first run and just after the
 * second finished: the caller divides t1 - t0 by its number of hand-offs.
 */
void bench_run_pair(const char *name, void (*fn)(void *), void *arg, unsigned flags,
		    uint64_t *t0, uint64_t *t1);

/*
 * n, or a tenth of it (at least 1) when the boot says bench.quick=1: make
 * test runs the benchmarks only to see that they work, on rows that pass
 * that key (tests/harness/configs.py); make bench takes the figures at full
 * length.
 */
int bench_iters(int n);

#endif
