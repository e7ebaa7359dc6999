/*
 * tests/bench/fpu_bench.c - what the FPU costs a switch (`make bench`).
 *
 * Instructions (bench.fpu_*, booted under -icount shift=0,sleep=off):
 *   fpu.switch_nofpu   a hand-off between two threads without THREAD_FPU
 *   fpu.switch_eager   the same between two FPU threads that each touch
 *                      the FPU once per turn, fpu=eager
 *   fpu.switch_lazy    the same under fpu=lazy (each turn takes an #NM)
 *   fpu.nm_trap        one #NM round trip whose state is still loaded:
 *                      set TS, trap, handler, clear TS, return
 * icount counts an xsave as one instruction, so these figures price the
 * kernel's code around the FPU, not the FPU's own work. The wall-clock
 * case below (bench.wall_fpu, booted without -icount; tests/harness/
 * bench.py) gives nanoseconds of the same hand-offs and of each save/
 * restore pair: figures of QEMU's TCG on the host that ran it, to compare
 * with each other, not with hardware.
 *
 * The policy is switched at run time for each measurement (fpu_set_policy),
 * so one boot measures both.
 */
#include "pair.h"
#include "../fpu/fpu_test.h"
#include <ktest.h>
#include <arch.h>
#include <arch/fpu.h>
#include <fpu.h>
#include <mm.h>
#include <string.h>
#include <thread.h>

#define HANDOFFS 20000
#define NM_TRAPS 10000

/* Under -icount the TSC counts instructions; the wall-clock case wants
 * nanoseconds, converted from TSC ticks. */
static bool in_ns;

static uint64_t elapsed(uint64_t t0, uint64_t t1)
{
	return in_ns ? arch_timestamp_to_ns(t1) - arch_timestamp_to_ns(t0) : t1 - t0;
}

struct turn_args {
	bool touch;
	int turns;
};

static void turn_taker(void *arg)
{
	struct turn_args *a = arg;
	for (int i = 0; i < a->turns; i++) {
		if (a->touch)
			fpu_test_touch();
		thread_yield();
	}
}

/* Time (instructions, or ns with in_ns) per hand-off between two threads on one CPU
 * that take turns, touching the FPU each turn if `touch`. */
static uint64_t handoff(unsigned flags, bool touch, enum fpu_policy p, int handoffs)
{
	struct turn_args ta = { touch, handoffs / 2 };
	enum fpu_policy old = fpu_set_policy(p);
	uint64_t t0, t1;
	bench_run_pair("turn-taker", turn_taker, &ta, flags, &t0, &t1);
	fpu_set_policy(old);
	return elapsed(t0, t1) / (uint64_t)handoffs;
}

/* Time per #NM round trip, minus the same loop without the trap. The
 * state stays loaded (interrupts off: nothing else runs), so the handler
 * only clears TS: the cheapest #NM there is. */
static uint64_t nm_round_trip(int n)
{
	enum fpu_policy old = fpu_set_policy(FPU_LAZY);
	fpu_test_touch();			/* our state loaded */
	unsigned long irq = arch_irq_save();
	uint64_t t0 = arch_timestamp();
	for (int i = 0; i < n; i++) {
		fpu_debug_set_ts();
		fpu_test_touch();
	}
	uint64_t t1 = arch_timestamp();
	for (int i = 0; i < n; i++) {
		__asm__ volatile("" ::: "memory");	/* the same loop, no trap */
		fpu_test_touch();
	}
	uint64_t t2 = arch_timestamp();
	arch_irq_restore(irq);
	fpu_set_policy(old);
	uint64_t with = elapsed(t0, t1), without = elapsed(t1, t2);
	return with > without ? (with - without) / (uint64_t)n : 0;
}

KTEST(bench, fpu_switch)
{
	uint64_t nofpu = handoff(0, false, FPU_EAGER, HANDOFFS);
	uint64_t eager = handoff(THREAD_FPU, true, FPU_EAGER, HANDOFFS);
	uint64_t lazy = handoff(THREAD_FPU, true, FPU_LAZY, HANDOFFS);
	KT_EXPECT(nofpu > 0 && eager > nofpu && lazy > nofpu);
	KT_LOG("BENCH name=fpu.switch_nofpu unit=insn value=%lu iters=%d", nofpu, HANDOFFS);
	KT_LOG("BENCH name=fpu.switch_eager unit=insn value=%lu iters=%d mech=%s", eager,
	       HANDOFFS, arch_fpu.name);
	KT_LOG("BENCH name=fpu.switch_lazy unit=insn value=%lu iters=%d mech=%s", lazy,
	       HANDOFFS, arch_fpu.name);
}

KTEST(bench, fpu_nm_trap)
{
	uint64_t nm = nm_round_trip(NM_TRAPS);
	KT_EXPECT(nm > 0);
	KT_LOG("BENCH name=fpu.nm_trap unit=insn value=%lu iters=%d", nm, NM_TRAPS);
}

/* ---- wall clock: booted without -icount ---- */

#define WALL_REPEAT 5
#define PAIRS 20000
#define COPIES 2000
#define COPY_SIZE 4096

static uint8_t copy_a[COPY_SIZE], copy_b[COPY_SIZE];

/* Nanoseconds per save+restore pair of mechanism m on a buffer of our own,
 * inside a kernel FPU section (the registers are ours to save). */
static uint64_t pair_ns(enum fpu_mech m, void *buf)
{
	const struct arch_fpu_mech *ops = fpu_mech_ops(m);
	kfpu_begin();
	unsigned long irq = arch_irq_save();
	ops->save(buf);				/* a valid image to restore */
	uint64_t t0 = clock_ns();
	for (int i = 0; i < PAIRS; i++) {
		ops->save(buf);
		ops->restore(buf);
	}
	uint64_t t1 = clock_ns();
	arch_irq_restore(irq);
	kfpu_end();
	return (t1 - t0) / PAIRS;
}

static uint64_t copy_ns(void *(*copy)(void *, const void *, size_t))
{
	uint64_t t0 = clock_ns();
	for (int i = 0; i < COPIES; i++)
		copy(copy_b, copy_a, COPY_SIZE);
	return (clock_ns() - t0) / COPIES;
}

#define MIN_OF(expr, out)                                       \
	do {                                                    \
		out = UINT64_MAX;                               \
		for (int r_ = 0; r_ < WALL_REPEAT; r_++) {      \
			uint64_t v_ = (expr);                   \
			out = v_ < out ? v_ : out;              \
		}                                               \
	} while (0)

/* The best of WALL_REPEAT runs, in nanoseconds (clock_ns is wall time
 * without -icount). */
KTEST_TIMEOUT(bench, wall_fpu, 60)
{
	uint64_t v;
	in_ns = true;
	MIN_OF(handoff(0, false, FPU_EAGER, HANDOFFS), v);
	KT_LOG("BENCH name=fpu.wall.switch_nofpu unit=ns value=%lu clock=wall", v);
	MIN_OF(handoff(THREAD_FPU, true, FPU_EAGER, HANDOFFS), v);
	KT_LOG("BENCH name=fpu.wall.switch_eager unit=ns value=%lu clock=wall mech=%s", v,
	       arch_fpu.name);
	MIN_OF(handoff(THREAD_FPU, true, FPU_LAZY, HANDOFFS), v);
	KT_LOG("BENCH name=fpu.wall.switch_lazy unit=ns value=%lu clock=wall mech=%s", v,
	       arch_fpu.name);
	MIN_OF(nm_round_trip(NM_TRAPS), v);
	KT_LOG("BENCH name=fpu.wall.nm_trap unit=ns value=%lu clock=wall", v);

	const struct fpu_boot_info *b = fpu_boot_info();
	void *buf = kmem_alloc_aligned(PAGE_SIZE, PAGE_SIZE, KM_SLEEP);
	memset(buf, 0, PAGE_SIZE);
	for (enum fpu_mech m = FPU_MECH_FXSAVE; m < FPU_MECH_COUNT; m++) {
		if (!fpu_mech_available(&b->features, m))
			continue;
		MIN_OF(pair_ns(m, buf), v);
		KT_LOG("BENCH name=fpu.wall.%s_pair unit=ns value=%lu clock=wall xcr0=0x%lx",
		       fpu_mech_name(m), v, b->xcr0);
	}
	kmem_free(buf);

	memset(copy_a, 0x5A, sizeof(copy_a));
	MIN_OF(copy_ns(memcpy), v);
	KT_LOG("BENCH name=fpu.wall.memcpy_4k unit=ns value=%lu clock=wall", v);
	MIN_OF(copy_ns(memcpy_sse), v);
	KT_LOG("BENCH name=fpu.wall.memcpy_sse_4k unit=ns value=%lu clock=wall", v);
	KT_EXPECT(memcmp(copy_a, copy_b, COPY_SIZE) == 0);
	in_ns = false;
}
