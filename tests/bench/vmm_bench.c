/*
 * tests/bench/vmm_bench.c - vmm benchmarks (`make bench`, docs/vmm.md).
 *
 *   vmm.exit_roundtrip        one VMMCALL exit, its handling, and re-entry
 *                             into the guest (one vCPU, one CPU)
 *   rendezvous.latency.N      one rendezvous asked by vCPU 0 of an N-vCPU VM
 *                             over all N, the other N-1 asleep in HLT: from
 *                             the hypercall handler's call of
 *                             vm_smp_rendezvous to its return
 *   rendezvous.spurious       exits of non-target vCPUs into the rendezvous
 *                             handler over a stream of 100 (must be 0), and
 *   rendezvous.spurious_bug   the same with bug=rendezvous_spurious
 *
 * The rendezvous cases want four CPUs (KTEST_CPUS_TIMEOUT: bench.py boots
 * them with -smp 4, and with fewer they skip): the vCPU threads spread over the
 * CPUs, and targets running guest code elsewhere are kicked with IPIs.
 * Under -icount the TSC counts instructions of all the CPUs together.
 *
 * icount prices a VMRUN or an XSAVE as one instruction, so the same work is
 * also timed on the host's clock: the bench.wall_* cases, booted without
 * -icount (tests/harness/bench.py), report vmm.wall.* and rendezvous.wall.*
 * in ns, the best of WALL_REPEAT runs.
 */
#include "../vmm/vmm_test.h"
#include <arch.h>
#include <bugs.h>
#include <mm.h>
#include <thread.h>
#include <timer.h>

#define ROUNDTRIPS 5000
#define WALL_REPEAT 3
#define RENDEZVOUS_CPUS 4

static const int rv_sizes[] = { 1, 4, 16, 64, 130 };

/* ---- the exit round trip ---- */

static uint64_t run_tsc, run_ns;

static void timed_vcpu_main(struct vcpu *v)
{
	uint64_t t0 = arch_timestamp(), n0 = clock_ns();
	vm_run(v);
	run_tsc = arch_timestamp() - t0;
	run_ns = clock_ns() - n0;
}

/* Runs ROUNDTRIPS NOP hypercalls; per exit in TSC ticks and ns. */
static void exit_roundtrip(uint64_t *tsc, uint64_t *ns)
{
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_nops, .args = { ROUNDTRIPS },
				 .vcpu_main = timed_vcpu_main };
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_ASSERT(vm_wait(vm, 60 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[0].result, ROUNDTRIPS);
	KT_EXPECT_EQ(vm->vcpus[0].stats.exits[VM_EXIT_HYPERCALL], ROUNDTRIPS);
	vm_destroy(vm);
	*tsc = run_tsc / ROUNDTRIPS;
	*ns = run_ns / ROUNDTRIPS;
}

KTEST(bench, vmm_exit_roundtrip)
{
	vmt_require();
	uint64_t tsc, ns;
	exit_roundtrip(&tsc, &ns);
	KT_LOG("BENCH name=vmm.exit_roundtrip unit=insn value=%lu iters=%d", tsc, ROUNDTRIPS);
}

KTEST_TIMEOUT(bench, wall_vmm_exit_roundtrip, 60)
{
	vmt_require();
	uint64_t best = ~0ULL, tsc, ns;
	for (int r = 0; r < WALL_REPEAT; r++) {
		exit_roundtrip(&tsc, &ns);
		best = MIN(best, ns);
	}
	KT_LOG("BENCH name=vmm.wall.exit_roundtrip unit=ns value=%lu clock=wall iters=%d", best,
	       ROUNDTRIPS);
}

/* ---- rendezvous latency ---- */

static uint64_t rv_tsc, rv_ns, rv_n;

static void nothing(struct vcpu *v, void *arg)
{
	(void)v;
	(void)arg;
}

static void timed_hc_rendezvous(struct vcpu *v, const struct vcpuset *dest, uint32_t arg)
{
	(void)arg;
	uint64_t t0 = arch_timestamp(), n0 = clock_ns();
	vm_smp_rendezvous(v, dest, nothing, NULL);
	rv_tsc += arch_timestamp() - t0;
	rv_ns += clock_ns() - n0;
	rv_n++;
}

/* `count` rendezvous of vCPU 0 over all n; per rendezvous in TSC and ns. */
static void rendezvous_latency(int n, int count, uint64_t *tsc, uint64_t *ns)
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
	*tsc = rv_tsc / rv_n;
	*ns = rv_ns / rv_n;
}

static int rv_count(int n)
{
	return n > 16 ? 10 : 50;
}

KTEST_CPUS_TIMEOUT(bench, rendezvous_latency, RENDEZVOUS_CPUS, 120)
{
	vmt_require();
	for (unsigned i = 0; i < ARRAY_SIZE(rv_sizes); i++) {
		uint64_t tsc, ns;
		rendezvous_latency(rv_sizes[i], rv_count(rv_sizes[i]), &tsc, &ns);
		KT_LOG("BENCH name=rendezvous.latency.%d unit=insn value=%lu iters=%d cpus=%d",
		       rv_sizes[i], tsc, rv_count(rv_sizes[i]), cpu_count());
	}
}

KTEST_CPUS_TIMEOUT(bench, wall_rendezvous_latency, RENDEZVOUS_CPUS, 120)
{
	vmt_require();
	for (unsigned i = 0; i < ARRAY_SIZE(rv_sizes); i++) {
		uint64_t best = ~0ULL, tsc, ns;
		for (int r = 0; r < WALL_REPEAT; r++) {
			rendezvous_latency(rv_sizes[i], rv_count(rv_sizes[i]), &tsc, &ns);
			best = MIN(best, ns);
		}
		KT_LOG("BENCH name=rendezvous.wall.latency.%d unit=ns value=%lu clock=wall iters=%d "
		       "cpus=%d", rv_sizes[i], best, rv_count(rv_sizes[i]), cpu_count());
	}
}

/* ---- spurious exits: the stream of rendezvous.no_spurious_exits_for_non_targets ---- */

KTEST_CPUS_TIMEOUT(bench, rendezvous_spurious, RENDEZVOUS_CPUS, 60)
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
