/*
 * tests/bench/ctxop_bench.c - the cost of context ops on a switch.
 *
 * Two threads on one CPU yield to each other, each with N ops attached
 * whose handlers do nothing; a hand-off then runs N saves (of the thread
 * leaving) and N restores (of the one arriving). ctxop.switch.N is
 * instructions per hand-off; ctxop.per_op.N = (switch.N - switch.0) / N,
 * the price of one op on a switch (its save on the way out plus its
 * restore on the way in). Tracing is off, as it is by default.
 */
#include "pair.h"
#include <ktest.h>
#include <arch.h>
#include <ctxop.h>
#include <thread.h>

#define HANDOFFS 20000
#define MAX_BENCH_OPS 8

static void empty_handler(void *arg)
{
	(void)arg;
}

static const struct ctxop_template empty_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = empty_handler,
	.ct_restore = empty_handler,
};

struct yield_args {
	int nops;
};

static void op_yielder(void *arg)
{
	struct yield_args *ya = arg;
	struct ctxop *ops[MAX_BENCH_OPS];
	for (int i = 0; i < ya->nops; i++) {
		ops[i] = ctxop_allocate(&empty_tpl, NULL);
		ctxop_attach(curthread, ops[i]);
	}
	for (int i = 0; i < HANDOFFS / 2; i++)
		thread_yield();
	for (int i = 0; i < ya->nops; i++) {
		ctxop_detach(curthread, ops[i]);
		ctxop_free(ops[i]);
	}
}

static uint64_t handoff_cost(int nops)
{
	struct yield_args ya = { nops };
	uint64_t t0, t1;
	bench_run_pair("op-yielder", op_yielder, &ya, 0, &t0, &t1);
	return (t1 - t0) / HANDOFFS;
}

KTEST(bench, ctxop_switch)
{
	static const int counts[] = { 0, 1, 8 };
	uint64_t cost[3];
	for (int i = 0; i < 3; i++) {
		cost[i] = handoff_cost(counts[i]);
		KT_EXPECT(cost[i] > 0);
		KT_LOG("BENCH name=ctxop.switch.%d unit=insn value=%lu iters=%d", counts[i], cost[i],
		       HANDOFFS);
	}
	for (int i = 1; i < 3; i++)
		KT_LOG("BENCH name=ctxop.per_op.%d unit=insn value=%lu", counts[i],
		       (cost[i] - cost[0]) / (uint64_t)counts[i]);
}
