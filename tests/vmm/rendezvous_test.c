/*
 * tests/vmm/rendezvous_test.c - vm_smp_rendezvous (kernel/vmm/rendezvous.c).
 *
 * Every rendezvous here runs vmt_rv_fn, which records where it ran, and is
 * checked when it returns: the function ran exactly once on each target
 * still active, and never on a non-target (vmt_totals.errors counts the
 * breaches). Guests ask for rendezvous with the VMM_HC_RENDEZVOUS
 * hypercall (the worker guest), host threads with vm_smp_rendezvous_host.
 *
 * With one host CPU, as in this tree until SMP lands, the "other CPU" of a
 * target is preemption: many vCPU threads share the CPU at a 1 ms quantum,
 * and a target is in its guest, preempted after an exit, or asleep in HLT
 * whenever an initiator runs. With more CPUs the same tests reach the IPI
 * path (a target running guest code on another CPU), and
 * target_running_guest_code says whether it was taken.
 */
#include "vmm_test.h"
#include <arch.h>
#include <bugs.h>
#include <mm.h>
#include <string.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>

static void set_of(struct vcpuset *s, const int *ids, int n)
{
	bitset_zero(s->bits, VM_MAX_VCPUS);
	for (int i = 0; i < n; i++)
		bitset_set(s->bits, (unsigned)ids[i]);
}

/* Waits for the given vCPUs to stop (with a result). */
static void wait_vcpus(struct vm *vm, int from, int to, uint64_t timeout_ns)
{
	for (int i = from; i < to; i++)
		KT_EXPECT(vcpu_wait(&vm->vcpus[i], timeout_ns));
}

static uint64_t sum_stat(struct vm *vm, int from, int to, size_t offset)
{
	uint64_t n = 0;
	for (int i = from; i < to; i++)
		n += *(uint64_t *)((char *)&vm->vcpus[i].stats + offset);
	return n;
}
#define STAT(vm, from, to, field) sum_stat(vm, from, to, offsetof(struct vcpu_stats, field))

KTEST(rendezvous, func_runs_once_on_each_target_never_on_others)
{
	vmt_require();
	uint64_t quantum = vmt_quantum_set(1000);
	struct vm_config cfg = { .nvcpus = 8, .image = &vm_guest_worker };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < 8; i++)
		vmt_worker(&vm->vcpus[i], i == 4 || i == 5 ? WORKER_HALT : WORKER_COMPUTE,
			   WORKER_FPU_CHECK, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	uint64_t expect[8] = { 0 };
	uint64_t rng = 0x1234567;
	for (int r = 0; r < 40; r++) {
		struct vcpuset dest;
		bitset_zero(dest.bits, VM_MAX_VCPUS);
		if (r == 1)
			bitset_fill(dest.bits, 8, VM_MAX_VCPUS);	/* all; r == 0: none */
		else if (r > 1)
			dest.bits[0] = vmt_rng(&rng) & 0xFF;
		BITSET_FOR_EACH(i, dest.bits, 8)
			expect[i]++;
		vmt_host_rendezvous(vm, &dest);
	}
	KT_EXPECT_EQ(vmt_totals.rendezvous, 40);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	for (int i = 0; i < 8; i++) {
		KT_EXPECT_EQ(vmt_totals.runs[i], expect[i]);
		KT_EXPECT_EQ(vm->vcpus[i].stats.rendezvous_funcs, expect[i]);
	}
	KT_EXPECT_EQ(vm->rv_count, 40);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 8, MB_FPU_ERR), 0);
	vm_destroy(vm);
	vmt_quantum_set(quantum);
}

KTEST(rendezvous, initiator_inside_and_outside_dest)
{
	vmt_require();
	const int n = 4, count = 15;
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = vmt_hc_checked };
	struct vm *vm = vmt_create(&cfg);
	uint64_t gpa = vmt_spare_gpa(n);
	struct vcpuset inside, outside;
	set_of(&inside, (int[]){ 0, 2, 3 }, 3);		/* vCPU 0 asks, and is in it */
	set_of(&outside, (int[]){ 2, 3 }, 2);		/* vCPU 1 asks, and is not */
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, 0, count, 1);
	vmt_worker_dest(&vm->vcpus[0], gpa, &inside);
	vmt_worker(&vm->vcpus[1], WORKER_COMPUTE, 0, count, 1);
	vmt_worker_dest(&vm->vcpus[1], gpa + 64, &outside);
	vmt_worker(&vm->vcpus[2], WORKER_HALT, 0, 0, 0);
	vmt_worker(&vm->vcpus[3], WORKER_COMPUTE, 0, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	wait_vcpus(vm, 0, 2, 5 * NS_PER_S);
	KT_EXPECT_EQ(vm->vcpus[0].result, 0);		/* no failed hypercall */
	KT_EXPECT_EQ(vm->vcpus[1].result, 0);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.rendezvous, 2 * count);
	KT_EXPECT_EQ(vmt_totals.pair[0][0], count);	/* the initiator ran it itself */
	KT_EXPECT_EQ(vmt_totals.pair[0][1], 0);
	KT_EXPECT_EQ(vmt_totals.pair[0][2], count);
	KT_EXPECT_EQ(vmt_totals.pair[0][3], count);
	KT_EXPECT_EQ(vmt_totals.pair[1][1], 0);		/* ... and here did not */
	KT_EXPECT_EQ(vmt_totals.pair[1][0], 0);
	KT_EXPECT_EQ(vmt_totals.pair[1][2], count);
	KT_EXPECT_EQ(vmt_totals.pair[1][3], count);
	vm_destroy(vm);
}

/* k initiators (vCPUs 0..k-1) of `count` rendezvous each, over overlapping
 * sets of a 12-vCPU VM whose other vCPUs compute or sleep. */
static void concurrent_initiators(int k, int count)
{
	const int n = 12;
	uint64_t quantum = vmt_quantum_set(1000);
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = vmt_hc_checked };
	struct vm *vm = vmt_create(&cfg);
	struct vcpuset dest[8];
	for (int i = 0; i < k; i++) {
		/* i itself, its two right neighbours, one further off, and vCPU 11 */
		set_of(&dest[i], (int[]){ i, (i + 1) % n, (i + 2) % n, (i + 5) % n, 11 }, 5);
		/* initiators stay active when done: targets of the others */
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK | WORKER_STAY,
			   (uint32_t)count, 1);
		vmt_worker_dest(&vm->vcpus[i], vmt_spare_gpa(n) + (uint64_t)i * 64, &dest[i]);
	}
	for (int i = k; i < n; i++)
		vmt_worker(&vm->vcpus[i], i % 2 ? WORKER_HALT : WORKER_COMPUTE, WORKER_FPU_CHECK,
			   0, 0);
	vmt_rv_reset();
	vm_start(vm);
	VMT_WAIT_UNTIL(vmt_mbox_sum(vm, 0, k, MB_RV_DONE) + vmt_mbox_sum(vm, 0, k, MB_RV_ERR) >=
			       (uint64_t)(k * count), 10 * NS_PER_S);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, k, MB_RV_DONE), (uint64_t)(k * count));
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, k, MB_RV_ERR), 0);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.rendezvous, (uint64_t)(k * count));
	int wrong = 0;
	for (int i = 0; i < k; i++)
		for (int t = 0; t < n; t++)
			if (vmt_totals.pair[i][t] !=
			    (bitset_test(dest[i].bits, (unsigned)t) ? (uint64_t)count : 0))
				wrong++;
	KT_EXPECT_EQ(wrong, 0);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, n, MB_FPU_ERR), 0);
	KT_LOG("%d initiators x %d rendezvous: %lu times an initiator found one in flight and "
	       "helped first", k, count, STAT(vm, 0, k, rendezvous_helps));
	vm_destroy(vm);
	vmt_quantum_set(quantum);
}

KTEST_TIMEOUT(rendezvous, two_concurrent_initiators_overlapping_sets, 20)
{
	vmt_require();
	concurrent_initiators(2, 20);
}

KTEST_TIMEOUT(rendezvous, eight_concurrent_initiators_overlapping_sets, 20)
{
	vmt_require();
	concurrent_initiators(8, 10);
}

KTEST(rendezvous, target_asleep_in_hlt_is_woken)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 3, .image = &vm_guest_worker };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < 3; i++)
		vmt_worker(&vm->vcpus[i], WORKER_HALT, 0, 0, 0);
	vm_start(vm);
	for (int i = 0; i < 3; i++)
		KT_ASSERT(vmt_wait_state(&vm->vcpus[i], VCPU_SLEEPING, 2 * NS_PER_S));
	vmt_rv_reset();
	struct vcpuset dest;
	set_of(&dest, (int[]){ 1, 2 }, 2);
	for (int r = 0; r < 5; r++)
		vmt_host_rendezvous(vm, &dest);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.runs[0], 0);
	KT_EXPECT_EQ(vmt_totals.runs[1], 5);
	KT_EXPECT_EQ(vmt_totals.runs[2], 5);
	/* each target woke (one wakeup may serve several rendezvous in a row)
	 * and went back to sleep; vCPU 0 never woke */
	for (int i = 1; i < 3; i++) {
		KT_EXPECT(vmt_wait_state(&vm->vcpus[i], VCPU_SLEEPING, 2 * NS_PER_S));
		KT_EXPECT(vm->vcpus[i].stats.sleeps >= 2);
		KT_EXPECT(vm->vcpus[i].stats.rendezvous >= 1);
		KT_EXPECT_EQ(vm->vcpus[i].stats.rendezvous_funcs, 5);
	}
	KT_EXPECT_EQ(vm->vcpus[0].stats.sleeps, 1);
	KT_EXPECT_EQ(vm->vcpus[0].stats.rendezvous, 0);
	KT_EXPECT_EQ(vm->vcpus[0].stats.exits[VM_EXIT_HLT], 1);
	KT_EXPECT_EQ(vm->vcpus[0].state, VCPU_SLEEPING);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 3, MB_EVENTS), 0);	/* woken without an event */
	vm_destroy(vm);
}

/* Binds each vCPU thread to a CPU of its own where there are several. */
static void bound_vcpu_main(struct vcpu *v)
{
	if (cpu_count() > 1)
		thread_bind(1 + v->id % (cpu_count() - 1));
	vm_run(v);
}

KTEST(rendezvous, target_running_guest_code)
{
	vmt_require();
	uint64_t quantum = vmt_quantum_set(1000);
	struct vm_config cfg = { .nvcpus = 2, .image = &vm_guest_worker,
				 .vcpu_main = bound_vcpu_main };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < 2; i++)
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK, 0, 0);
	thread_bind(0);
	vmt_rv_reset();
	vm_start(vm);
	thread_sleep(5 * MS);
	struct vcpuset dest;
	set_of(&dest, (int[]){ 0, 1 }, 2);
	for (int r = 0; r < 30; r++)
		vmt_host_rendezvous(vm, &dest);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.runs[0], 30);
	KT_EXPECT_EQ(vmt_totals.runs[1], 30);
	uint64_t kicks = STAT(vm, 0, 2, kicks);
	if (cpu_count() > 1)
		KT_EXPECT(kicks > 0);		/* IPIs threw running guests out */
	KT_LOG("%d host CPU%s: %lu kicks (IPIs to a CPU running the target's guest)%s",
	       cpu_count(), cpu_count() == 1 ? "" : "s", kicks,
	       cpu_count() == 1 ? "; with one CPU a target is never in its guest while the "
				  "initiator runs, so it needs none" : "");
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 2, MB_FPU_ERR), 0);
	vm_destroy(vm);
	thread_bind(-1);
	vmt_quantum_set(quantum);
}

/* ---- a target taken out of the active set while a rendezvous waits ---- */

KTEST(rendezvous, target_deactivated_mid_rendezvous)
{
	vmt_require();
	struct vm_port_blocker b;
	vm_port_blocker_init(&b);
	struct vm_config cfg = { .nvcpus = 3, .image = &vm_guest_worker,
				 .io = { { VM_GUEST_PORT_BLOCK, vm_port_block, &b } } };
	struct vm *vm = vmt_create(&cfg);
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, 0, 0, 0);
	vmt_worker(&vm->vcpus[1], WORKER_BLOCK, 0, 0, 0);	/* held in the host */
	vmt_worker(&vm->vcpus[2], WORKER_HALT, 0, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	KT_ASSERT(VMT_WAIT_UNTIL(b.blocked, 2 * NS_PER_S));

	struct vcpuset all;
	bitset_fill(all.bits, 3, VM_MAX_VCPUS);
	struct thread *init = vmt_host_rendezvous_thread(vm, &all);
	/* vCPUs 0 and 2 take part; vCPU 1 is held in its port handler */
	KT_EXPECT(VMT_WAIT_UNTIL(vmt_totals.runs[0] && vmt_totals.runs[2], 2 * NS_PER_S));
	thread_sleep(10 * MS);
	KT_EXPECT(vm->rv_func != NULL);			/* still waiting for vCPU 1 */
	KT_EXPECT_EQ(vmt_totals.rendezvous, 0);

	vcpu_deactivate(&vm->vcpus[1]);			/* ... which now leaves */
	thread_join(init);				/* the rendezvous completed */
	KT_EXPECT(vm->rv_func == NULL);
	KT_EXPECT_EQ(vmt_totals.rendezvous, 1);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.runs[0], 1);
	KT_EXPECT_EQ(vmt_totals.runs[1], 0);		/* never on the one taken out */
	KT_EXPECT_EQ(vmt_totals.runs[2], 1);

	sem_post(&b.release);				/* its handler returns; it stops */
	KT_EXPECT(vcpu_wait(&vm->vcpus[1], 2 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[1].stop, VCPU_STOP_DEACTIVATED);
	KT_EXPECT_EQ(vm->vcpus[1].stats.rendezvous_funcs, 0);
	/* the others go on: one more rendezvous over all three */
	vmt_host_rendezvous(vm, &all);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.runs[0], 2);
	KT_EXPECT_EQ(vmt_totals.runs[1], 0);
	vm_destroy(vm);
}

/* vCPU 0 waits (outside vm_run) until a host rendezvous over vCPU 1 is in
 * flight, held up by vCPU 1's blocked port; then it asks for one of its own. */
static struct semaphore help_go;

static void help_vcpu_main(struct vcpu *v)
{
	if (v->id == 0)
		sem_wait(&help_go);
	vm_run(v);
}

KTEST(rendezvous, initiator_helps_the_one_in_flight_then_starts_over)
{
	vmt_require();
	const int n = 3;
	struct vm_port_blocker b;
	vm_port_blocker_init(&b);
	sem_init(&help_go, 0, "test.help");
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = vmt_hc_checked, .vcpu_main = help_vcpu_main,
				 .io = { { VM_GUEST_PORT_BLOCK, vm_port_block, &b } } };
	struct vm *vm = vmt_create(&cfg);
	struct vcpuset own, held;
	set_of(&own, (int[]){ 0, 2 }, 2);
	set_of(&held, (int[]){ 1 }, 1);
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, WORKER_STAY, 1, 1);
	vmt_worker_dest(&vm->vcpus[0], vmt_spare_gpa(n), &own);
	vmt_worker(&vm->vcpus[1], WORKER_BLOCK, 0, 0, 0);
	vmt_worker(&vm->vcpus[2], WORKER_HALT, 0, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	KT_ASSERT(VMT_WAIT_UNTIL(b.blocked, 2 * NS_PER_S));

	struct thread *init = vmt_host_rendezvous_thread(vm, &held);
	KT_ASSERT(VMT_WAIT_UNTIL(vm->rv_func != NULL, 2 * NS_PER_S));
	sem_post(&help_go);				/* vCPU 0 may ask now */
	struct vcpu *v0 = &vm->vcpus[0];
	KT_EXPECT(VMT_WAIT_UNTIL(v0->stats.rendezvous_helps > 0, 2 * NS_PER_S));
	KT_EXPECT_EQ(v0->stats.rendezvous_helps, 1);	/* found the host's in flight */
	KT_EXPECT_EQ(vm_mailbox(v0)[MB_RV_DONE], 0);	/* and waits in it */
	KT_EXPECT_EQ(vmt_totals.runs[0], 0);		/* not a target of that one */

	sem_post(&b.release);				/* vCPU 1 gets to take part */
	thread_join(init);
	KT_EXPECT(VMT_WAIT_UNTIL(vm_mailbox(v0)[MB_RV_DONE] > 0, 2 * NS_PER_S));
	KT_EXPECT_EQ(vm_mailbox(v0)[MB_RV_DONE], 1);	/* then its own went through */
	KT_EXPECT_EQ(vmt_totals.rendezvous, 2);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.runs[0], 1);
	KT_EXPECT_EQ(vmt_totals.runs[1], 1);
	KT_EXPECT_EQ(vmt_totals.runs[2], 1);
	vm_destroy(vm);
}

KTEST(rendezvous, suspended_vcpus_take_part)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 3, .image = &vm_guest_worker };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < 3; i++)
		vmt_worker(&vm->vcpus[i], i == 2 ? WORKER_HALT : WORKER_COMPUTE, 0, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	KT_ASSERT(vmt_wait_state(&vm->vcpus[2], VCPU_SLEEPING, 2 * NS_PER_S));
	vm_suspend(vm);
	uint64_t iters = vmt_mbox_sum(vm, 0, 2, MB_ITER);
	struct vcpuset all;
	bitset_fill(all.bits, 3, VM_MAX_VCPUS);
	vmt_host_rendezvous(vm, &all);			/* parked vCPUs run it too */
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	for (int i = 0; i < 3; i++)
		KT_EXPECT_EQ(vmt_totals.runs[i], 1);
	/* Each left its parking to take part (vcpu_park) and goes back: on
	 * a loaded host that can take longer than a fixed 5 ms (nparked was 2
	 * then once, on vmm-smp4), so wait for it, then see that no guest
	 * code ran meanwhile */
	KT_EXPECT(VMT_WAIT_UNTIL(vm->nparked == 3, 2 * NS_PER_S));
	thread_sleep(5 * MS);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 2, MB_ITER), iters);	/* and stay parked */
	KT_EXPECT_EQ(vm->nparked, 3);
	vm_resume(vm);
	thread_sleep(10 * MS);
	KT_EXPECT(vmt_mbox_sum(vm, 0, 2, MB_ITER) > iters);
	vm_destroy(vm);
}

KTEST(rendezvous, hypercall_with_a_bad_set_fails)
{
	vmt_require();
	const int n = 2;
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = vmt_hc_checked };
	struct vm *vm = vmt_create(&cfg);
	struct vcpuset bad;
	set_of(&bad, (int[]){ 1, 5 }, 2);		/* vCPU 5 does not exist */
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, 0, 3, 1);
	vmt_worker_dest(&vm->vcpus[0], vmt_spare_gpa(n), &bad);
	vm_mailbox(&vm->vcpus[0])[MB_DEST_BITS] = 8;
	vmt_worker(&vm->vcpus[1], WORKER_HALT, 0, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	KT_EXPECT(vcpu_wait(&vm->vcpus[0], 2 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[0].result, 3);		/* three failed hypercalls */
	KT_EXPECT_EQ(vm_mailbox(&vm->vcpus[0])[MB_RV_ERR], 3);
	KT_EXPECT_EQ(vmt_totals.rendezvous, 0);
	KT_EXPECT_EQ(vm->vcpus[1].stats.rendezvous_funcs, 0);
	vm_destroy(vm);
}

KTEST_TIMEOUT(rendezvous, vcpus_130_on_all_host_cpus, 30)
{
	vmt_require();
	const int n = 130, count = 4, computing = 10;
	uint64_t quantum = vmt_quantum_set(1000);
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker, .quiet = true,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = vmt_hc_checked };
	struct vm *vm = vmt_create(&cfg);
	struct vcpuset all, odd;
	bitset_fill(all.bits, n, VM_MAX_VCPUS);
	bitset_zero(odd.bits, VM_MAX_VCPUS);
	for (int i = 1; i < n; i += 2)
		bitset_set(odd.bits, (unsigned)i);
	/* a guest initiator, which stays active when done: the host's
	 * rendezvous over all of them may still be going on */
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, WORKER_STAY, count, 1);
	vmt_worker_dest(&vm->vcpus[0], vmt_spare_gpa(n), &all);
	for (int i = 1; i < n; i++)
		vmt_worker(&vm->vcpus[i], i < computing ? WORKER_COMPUTE : WORKER_HALT,
			   WORKER_FPU_CHECK, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	for (int r = 0; r < count; r++)			/* and a host one, at once */
		vmt_host_rendezvous(vm, r % 2 ? &odd : &all);
	volatile uint32_t *mb0 = vm_mailbox(&vm->vcpus[0]);
	KT_EXPECT(VMT_WAIT_UNTIL(mb0[MB_RV_DONE] + mb0[MB_RV_ERR] >= (uint32_t)count,
				 20 * NS_PER_S));
	KT_EXPECT_EQ(mb0[MB_RV_ERR], 0);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(vmt_totals.rendezvous, 2 * count);
	int wrong = 0;
	for (int i = 0; i < n; i++) {
		uint64_t want = count + (i % 2 ? count : count / 2);
		if (vmt_totals.runs[i] != want)
			wrong++;
		if (vmt_totals.pair[0][i] != (uint64_t)count)
			wrong++;
	}
	KT_EXPECT_EQ(wrong, 0);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, n, MB_FPU_ERR), 0);
	KT_EXPECT_EQ(STAT(vm, 0, n, spurious), 0);
	KT_LOG("%d vCPUs on %d host CPU%s: %lu rendezvous, %lu sleeps", n, cpu_count(),
	       cpu_count() == 1 ? "" : "s", vm->rv_count, STAT(vm, 0, n, sleeps));
	vm_destroy(vm);
	vmt_quantum_set(quantum);
}

/* ---- spurious exits (FreeBSD D37390): vmt_spurious_held, vmt_spurious_stream ---- */

KTEST_TIMEOUT(rendezvous, no_spurious_exits_for_non_targets, 20)
{
	vmt_require();
	KT_EXPECT_EQ(vmt_spurious_held(20), 0);
	KT_EXPECT_EQ(vmt_spurious_stream(60), 0);
}

KTEST_TIMEOUT(rendezvous, spurious_bug_detector_trips, 20)
{
	vmt_require();
	bool was = bug_on(rendezvous_spurious);
	bug_set("rendezvous_spurious", true);
	uint64_t held = vmt_spurious_held(20);
	vmt_spurious_stream(60);			/* still correct, only slower */
	bug_set("rendezvous_spurious", was);
	/* each computing non-target exits at its next tick, finds "a
	 * rendezvous pending", and waits in it until it completes: once each */
	KT_EXPECT_EQ(held, 2);
}

/* ---- random rendezvous while guests compute with the FPU ---- */

struct storm {
	struct vm *vm;
	volatile bool stop;
	volatile uint64_t host_rendezvous, events;
	volatile uint64_t port_checks, port_bad;
};

static uint32_t storm_check_port(struct vcpu *v, uint16_t port, bool in, uint32_t value,
				 void *arg)
{
	struct storm *s = arg;
	(void)port, (void)in, (void)value;
	uint32_t got[64];
	thread_yield();				/* let the storm in, then look */
	test_xmm_store(got);
	for (int k = 0; k < 16; k++)
		if (got[16 + k] != VM_WORKER_PATTERN(v->id, k))
			s->port_bad++;
	s->port_checks++;
	return 0;
}

static void storm_host_initiator(void *arg)
{
	struct storm *s = arg;
	uint64_t x = 0xC0FFEE;
	while (!s->stop) {
		vmt_rng(&x);
		struct vcpuset dest;
		bitset_zero(dest.bits, VM_MAX_VCPUS);
		dest.bits[0] = x & 0xFF;
		vmt_host_rendezvous(s->vm, &dest);
		s->host_rendezvous++;
		vcpu_post_event(&s->vm->vcpus[6 + (x >> 20) % 2], 1);	/* wake a sleeper */
		s->events++;
		thread_sleep(MS / 2);
	}
}

static void storm_clobber(void *arg)
{
	struct storm *s = arg;
	uint32_t junk[64];
	vmt_xmm_pattern(0xDEAD, junk);
	while (!s->stop) {
		test_xmm_load(junk);		/* whatever it finds, it leaves garbage */
		junk[0]++;
		thread_yield();
	}
}

/*
 * With four CPUs the user-space fuzzers share the storm's 10 seconds: the
 * IPC fuzzer's case (user/tests/fuzz_test.c), which there runs the system
 * call fuzzers beside it too, starts once the VM runs and is judged by its
 * own checks (nothing left behind: it counts kernel heap and pages from
 * its start to its end, inside the VM's life) as part of this case. It is
 * a mixed load (guests, rendezvous and FPU clobbers; processes forking,
 * faulting and making IPC and system calls at random) and, on a 2-core
 * host, one 10-second window of four busy CPUs rather than two
 * (docs/testing.md). Only where both cases are selected: the fuzzer's own
 * turn then says where it ran (ktest_user_case_host). Its watchdog: the
 * fuzzer's 40 s, the VM's set-up and teardown, and a margin. The storm
 * itself allocates nothing once it runs (the VM, its threads and the
 * vCPUs' ops exist before the fuzzer starts), or the fuzzer's count of
 * kernel heap would see it; the ctxop lab's stub, which allocates an op
 * for each run, does, so the case is in that lab's affects.
 */
#define STORM_CASE "rendezvous.random_rendezvous_while_guests_use_the_fpu"
#define STORM_FUZZER "fuzz.ipc_random_operations_from_several_processes"

static bool fuzzers_beside_the_storm(void)
{
	return cpu_count() >= 4 && !vmm_unavailable() && ktest_selected(STORM_CASE) &&
	       ktest_selected(STORM_FUZZER);
}

const char *ktest_user_case_host(const char *full)
{
	return !strcmp(full, STORM_FUZZER) && fuzzers_beside_the_storm() ? STORM_CASE : NULL;
}

KTEST_TIMEOUT(rendezvous, random_rendezvous_while_guests_use_the_fpu, 75)
{
	vmt_require();
	/* 10 s where it matters, with 4 or more CPUs; 2 s elsewhere keeps the
	 * whole matrix inside its time budget */
	uint64_t seconds = cpu_count() >= 4 ? 10 : 2;
	bool beside = fuzzers_beside_the_storm();
	const int n = 8;
	uint64_t quantum = vmt_quantum_set(1000);
	struct storm s = { .stop = false };
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker,
				 .hc_rendezvous = vmt_hc_checked,
				 .io = { { VM_GUEST_PORT_CHECK, storm_check_port, &s } } };
	struct vm *vm = vmt_create(&cfg);
	s.vm = vm;
	/* 0-3 ask for random rendezvous, 4-5 compute and are checked from the
	 * host, 6-7 sleep in HLT; everyone checks XMM4-7 */
	for (int i = 0; i < 4; i++)
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK, 0x7FFFFFFF, 2);
	for (int i = 4; i < 6; i++)
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK | WORKER_HOST_CHECK,
			   0, 3);
	for (int i = 6; i < 8; i++)
		vmt_worker(&vm->vcpus[i], WORKER_HALT, WORKER_FPU_CHECK, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	struct thread *host = thread_create("storm-host", storm_host_initiator, &s, 0);
	struct thread *clob[2];
	for (int i = 0; i < 2; i++)
		clob[i] = thread_create("storm-fpu", storm_clobber, &s, THREAD_FPU);
	int fuzzer = beside ? ktest_user_start(STORM_FUZZER) : -1;
	KT_EXPECT(!beside || fuzzer > 0);
	thread_sleep(seconds * NS_PER_S);
	/* the fuzzer's 10 s began a moment after ours: the storm goes on
	 * until its checks are done (stopping frees threads it would count) */
	bool fuzzer_ok = fuzzer <= 0 || ktest_user_finish(STORM_FUZZER, fuzzer);
	s.stop = true;
	thread_join(host);
	for (int i = 0; i < 2; i++)
		thread_join(clob[i]);
	uint64_t guest_rv = vmt_mbox_sum(vm, 0, 4, MB_RV_DONE);
	uint64_t fpu_err = vmt_mbox_sum(vm, 0, n, MB_FPU_ERR);
	uint64_t sum_err = vmt_mbox_sum(vm, 0, n, MB_SUM_ERR);
	uint64_t rv_err = vmt_mbox_sum(vm, 0, n, MB_RV_ERR);
	uint64_t events = vmt_mbox_sum(vm, 6, 8, MB_EVENTS);
	vm_destroy(vm);					/* no hang: everyone comes home */
	vmt_quantum_set(quantum);
	KT_LOG("%lu s on %d CPU%s: %lu checked rendezvous (%lu asked by guests, %lu by the host), "
	       "%lu host checks of XMM4-7, %lu events", seconds, cpu_count(),
	       cpu_count() == 1 ? "" : "s", vmt_totals.rendezvous, guest_rv, s.host_rendezvous,
	       s.port_checks, events);
	if (beside)
		KT_LOG("beside it: %s, %s", STORM_FUZZER, fuzzer_ok ? "passed" : "FAILED");
	KT_EXPECT(fuzzer_ok);
	KT_EXPECT_EQ(vmt_totals.errors, 0);
	KT_EXPECT_EQ(fpu_err, 0);
	KT_EXPECT_EQ(sum_err, 0);
	KT_EXPECT_EQ(rv_err, 0);
	KT_EXPECT_EQ(s.port_bad, 0);
	KT_EXPECT(guest_rv > 4 * seconds);		/* every initiator got through, often */
	KT_EXPECT(s.host_rendezvous > 10 * seconds);
	KT_EXPECT(s.port_checks > 10 * seconds);
	KT_EXPECT(events > 0);
}
