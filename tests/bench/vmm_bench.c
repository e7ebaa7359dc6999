/*
 * tests/bench/vmm_bench.c - vmm benchmarks (`make bench`, docs/vmm.md).
 *
 * Each figure comes twice: unit=insn from the TSC, which counts guest
 * instructions under bench.py's -icount boot, and NAME.wall unit=ns from
 * clock_ns(), which bench.py keeps from a second boot without -icount,
 * where the clock is the host's real time. (Under -icount the ns figure is
 * the instruction count again, and bench.py drops it; it also drops the
 * insn figure of the wall-clock boot.) icount prices VMRUN, VMSAVE, XSAVE
 * and the like as one instruction each, which is why both are given.
 *
 *   vmm.exit_roundtrip        one VMMCALL exit, its handling, and re-entry
 *   rendezvous.latency.N      one rendezvous asked by vCPU 0 of an N-vCPU VM
 *                             over all N, the other N-1 asleep in HLT: from
 *                             the hypercall handler's call to its return
 *   rendezvous.spurious       exits of non-target vCPUs into the rendezvous
 *                             handler over a stream of 100 (must be 0), and
 *   rendezvous.spurious_bug   the same with bug=rendezvous_spurious
 */
#include "../vmm/vmm_test.h"
#include <arch.h>
#include <bugs.h>
#include <mm.h>
#include <thread.h>
#include <timer.h>

#define ROUNDTRIPS 10000

static uint64_t run_tsc, run_ns;

static void timed_vcpu_main(struct vcpu *v)
{
	uint64_t t0 = arch_timestamp(), n0 = clock_ns();
	vm_run(v);
	run_tsc = arch_timestamp() - t0;
	run_ns = clock_ns() - n0;
}

KTEST(bench, vmm_exit_roundtrip)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_nops, .args = { ROUNDTRIPS },
				 .vcpu_main = timed_vcpu_main };
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_ASSERT(vm_wait(vm, 60 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[0].result, ROUNDTRIPS);
	KT_EXPECT_EQ(vm->vcpus[0].stats.exits[VM_EXIT_HYPERCALL], ROUNDTRIPS);
	vm_destroy(vm);
	KT_LOG("BENCH name=vmm.exit_roundtrip unit=insn value=%lu iters=%d", run_tsc / ROUNDTRIPS,
	       ROUNDTRIPS);
	KT_LOG("BENCH name=vmm.exit_roundtrip.wall unit=ns value=%lu iters=%d",
	       run_ns / ROUNDTRIPS, ROUNDTRIPS);
}

/* ---- rendezvous latency ---- */

static uint64_t rv_tsc, rv_ns, rv_n;

static void count_fn(struct vcpu *v, void *arg)
{
	(void)v;
	(void)arg;
}

static void timed_hc_rendezvous(struct vcpu *v, const struct vcpuset *dest, uint32_t arg)
{
	(void)arg;
	uint64_t t0 = arch_timestamp(), n0 = clock_ns();
	vm_smp_rendezvous(v, dest, count_fn, NULL);
	rv_tsc += arch_timestamp() - t0;
	rv_ns += clock_ns() - n0;
	rv_n++;
}

static void rendezvous_latency(int n, int count)
{
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker, .quiet = true,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = timed_hc_rendezvous };
	struct vm *vm = vmt_create(&cfg);
	struct vcpuset all;
	bitset_fill(all.bits, (unsigned)n, VM_MAX_VCPUS);
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, 0, (uint32_t)count, 1);
	vmt_worker_dest(&vm->vcpus[0], vmt_spare_gpa(n), &all);
	for (int i = 1; i < n; i++)
		vmt_worker(&vm->vcpus[i], WORKER_HALT, 0, 0, 0);
	rv_tsc = rv_ns = rv_n = 0;
	vm_start(vm);
	KT_ASSERT(vcpu_wait(&vm->vcpus[0], 120 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[0].result, 0);
	KT_EXPECT_EQ(rv_n, (uint64_t)count);
	for (int i = 0; i < n; i++)
		KT_EXPECT_EQ(vm->vcpus[i].stats.rendezvous_funcs, (uint64_t)count);
	vm_destroy(vm);
	KT_LOG("BENCH name=rendezvous.latency.%d unit=insn value=%lu iters=%d", n, rv_tsc / rv_n,
	       count);
	KT_LOG("BENCH name=rendezvous.latency.%d.wall unit=ns value=%lu iters=%d", n,
	       rv_ns / rv_n, count);
}

KTEST_TIMEOUT(bench, rendezvous_latency, 120)
{
	vmt_require();
	static const int sizes[] = { 1, 4, 16, 64, 130 };
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
		rendezvous_latency(sizes[i], sizes[i] > 16 ? 20 : 100);
}

/* ---- spurious exits: the stream of rendezvous.no_spurious_exits_for_non_targets ---- */

KTEST_TIMEOUT(bench, rendezvous_spurious, 60)
{
	vmt_require();
	const int count = 100;
	uint64_t off = vmt_spurious_stream(count);
	KT_EXPECT_EQ(off, 0);
	bool was = bug_on(rendezvous_spurious);
	bug_set("rendezvous_spurious", true);
	uint64_t on = vmt_spurious_stream(count);
	bug_set("rendezvous_spurious", was);
	KT_LOG("BENCH name=rendezvous.spurious unit=exits value=%lu rendezvous=%d", off, count);
	KT_LOG("BENCH name=rendezvous.spurious_bug unit=exits value=%lu rendezvous=%d", on, count);
}
