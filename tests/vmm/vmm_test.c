/*
 * tests/vmm/vmm_test.c - virtual machines: a guest boots, prints and
 * computes; exits are counted by reason; HLT sleeps until an event; a
 * guest's access outside its memory is a reported fault that leaves the
 * host unharmed; suspend and resume; misuse; and the guest FPU kept across
 * host context switches by the vCPU's context op (illumos 12477), with the
 * bug=ctxop_restore_order detector.
 *
 * Every case skips, saying why, where the machine cannot run guests (no
 * SVM, or SVM without nested paging, as with -cpu qemu64).
 */
#include "vmm_test.h"
#include <arch.h>
#include <arch/svm.h>
#include <arch/x86.h>
#include <bugs.h>
#include <ctxop.h>
#include <fpu.h>
#include <mm.h>
#include <monitor.h>
#include <string.h>
#include <thread.h>
#include <timer.h>
#include <trace.h>

/* "hello from vCPU <id>\n" + "sse ok\n": one I/O exit per character */
static uint64_t hello_chars(int id)
{
	return strlen("hello from vCPU \n") + (id >= 10 ? 2 : 1) + strlen("sse ok\n");
}

KTEST(vmm, guest_boots_prints_and_computes)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 2, .image = &vm_guest_hello };
	struct vm *vm = vmt_create(&cfg);
	KT_EXPECT_EQ(vm->vcpus[0].state, VCPU_IDLE);	/* waits for vm_start */
	vm_start(vm);
	KT_EXPECT(vm_wait(vm, 5 * NS_PER_S));
	for (int i = 0; i < 2; i++) {
		struct vcpu *v = &vm->vcpus[i];
		KT_EXPECT_EQ(v->stop, VCPU_STOP_RESULT);
		/* the guest checked its own SSE sum and the NOP hypercalls */
		KT_EXPECT_EQ(v->result, VM_HELLO_OK | (uint32_t)i);
		KT_EXPECT_EQ(v->state, VCPU_IDLE);
	}
	KT_EXPECT(!vm->faulted);
	vm_destroy(vm);
}

KTEST(vmm, exits_counted_by_reason)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 3, .image = &vm_guest_hello, .quiet = true };
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_EXPECT(vm_wait(vm, 5 * NS_PER_S));
	for (int i = 0; i < 3; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;
		KT_EXPECT_EQ(s->exits[VM_EXIT_IO], hello_chars(i) + 1);	/* + the result */
		KT_EXPECT_EQ(s->exits[VM_EXIT_HYPERCALL], 3);
		KT_EXPECT_EQ(s->exits[VM_EXIT_HLT], 0);
		KT_EXPECT_EQ(s->exits[VM_EXIT_NPF], 0);
		KT_EXPECT_EQ(s->exits[VM_EXIT_SHUTDOWN], 0);
		KT_EXPECT_EQ(s->exits[VM_EXIT_OTHER], 0);
	}
	KT_EXPECT_EQ(vm_exits(vm, VM_EXIT_HYPERCALL), 9);
	KT_LOG("intr exits (host ticks during the run): %lu", vm_exits(vm, VM_EXIT_INTR));
	vm_destroy(vm);
}

KTEST(vmm, hlt_sleeps_until_an_event)
{
	vmt_require();
	/* the halt guest: two events, then their sum as the result */
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_halt, .args = { 2 } };
	struct vm *vm = vmt_create(&cfg);
	struct vcpu *v = &vm->vcpus[0];
	vm_start(vm);
	KT_ASSERT(vmt_wait_state(v, VCPU_SLEEPING, 2 * NS_PER_S));
	KT_EXPECT_EQ(v->thread->state, TS_SLEEPING);	/* asleep, not spinning */
	thread_sleep(20 * MS);
	KT_EXPECT_EQ(v->stats.exits[VM_EXIT_HLT], 1);	/* no busy loop of HLT exits */
	KT_EXPECT_EQ(v->state, VCPU_SLEEPING);

	vcpu_post_event(v, 0x1200);
	/* an event is one slot, not a queue: wait until the guest has read
	 * this one and halted again before posting the next */
	VMT_WAIT_UNTIL(v->stats.exits[VM_EXIT_HLT] == 2 && v->state == VCPU_SLEEPING,
		       2 * NS_PER_S);
	KT_ASSERT_EQ(v->stats.exits[VM_EXIT_HLT], 2);
	KT_EXPECT_EQ(v->stop, VCPU_STOP_NONE);		/* one more to go */
	vcpu_post_event(v, 0x34);
	KT_EXPECT(vcpu_wait(v, 2 * NS_PER_S));
	KT_EXPECT_EQ(v->stop, VCPU_STOP_RESULT);
	KT_EXPECT_EQ(v->result, 0x1234);
	KT_EXPECT_EQ(v->stats.exits[VM_EXIT_HLT], 2);	/* each HLT slept once */
	KT_EXPECT_EQ(v->stats.sleeps, 2);
	vm_destroy(vm);
}

KTEST(vmm, event_posted_before_hlt_is_not_lost)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_halt, .args = { 1 } };
	struct vm *vm = vmt_create(&cfg);
	vcpu_post_event(&vm->vcpus[0], 7);	/* before the guest even starts */
	vm_start(vm);
	KT_EXPECT(vcpu_wait(&vm->vcpus[0], 2 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[0].result, 7);
	KT_EXPECT_EQ(vm->vcpus[0].stats.sleeps, 0);	/* the HLT completed at once */
	vm_destroy(vm);
}

/* A guest reads guest-physical `gpa`; returns the VM, stopped. */
static struct vm *run_fault_guest(uint64_t gpa)
{
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_fault, .args = { (uint32_t)gpa } };
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_EXPECT(vm_wait(vm, 2 * NS_PER_S));
	return vm;
}

KTEST(vmm, access_outside_guest_memory_is_a_reported_fault)
{
	vmt_require();
	/* a sentinel in host memory, and the host's free page count */
	volatile uint64_t *sentinel = kmem_alloc(sizeof(uint64_t), KM_SLEEP);
	*sentinel = 0x5AFE5AFE5AFE5AFEULL;
	static const uint64_t outside[] = {
		0x10000000,		/* far away */
		0,			/* placeholder: just past the end (below) */
		0xFEE00000,		/* where the host's local APIC is */
	};
	for (unsigned k = 0; k < ARRAY_SIZE(outside); k++) {
		uint64_t gpa = outside[k];
		if (k == 1)
			gpa = ALIGN_UP(VM_GUEST_STACK_GPA + VM_GUEST_STACK_SIZE, PAGE_SIZE);
		struct vm *vm = run_fault_guest(gpa);
		struct vcpu *v = &vm->vcpus[0];
		KT_EXPECT_EQ(v->stop, VCPU_STOP_FAULT);
		KT_EXPECT(vm->faulted);
		KT_EXPECT(strstr(vm->fault, "nested page fault") != NULL);
		KT_EXPECT_EQ(v->stats.exits[VM_EXIT_NPF], 1);
		KT_EXPECT_EQ(v->stats.exits[VM_EXIT_IO], 0);	/* never got past the read */
		KT_LOG("reported: %s", vm->fault);
		vm_destroy(vm);
	}
	KT_EXPECT_EQ(*sentinel, 0x5AFE5AFE5AFE5AFEULL);
	kmem_free((void *)sentinel);

	/* the same guest reading its own memory is fine, and the host still
	 * runs guests after the faults */
	struct vm *vm = run_fault_guest(VM_GUEST_MBOX_GPA);
	KT_EXPECT_EQ(vm->vcpus[0].stop, VCPU_STOP_RESULT);
	KT_EXPECT_EQ(vm->vcpus[0].result, 0);
	KT_EXPECT(!vm->faulted);
	vm_destroy(vm);
}

KTEST(vmm, fault_stops_every_vcpu_of_the_vm)
{
	vmt_require();
	/* vCPU 1 touches an unhandled port (a guest bug); vCPU 0 computes for
	 * ever and must be stopped with it */
	struct vm_config cfg = { .nvcpus = 2, .image = &vm_guest_worker };
	struct vm *vm = vmt_create(&cfg);
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, 0, 0, 0);
	vmt_worker(&vm->vcpus[1], WORKER_BLOCK, 0, 0, 0);	/* no handler for the port */
	vm_start(vm);
	KT_EXPECT(vm_wait(vm, 2 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[1].stop, VCPU_STOP_FAULT);
	KT_EXPECT_EQ(vm->vcpus[0].stop, VCPU_STOP_FAULT);
	KT_EXPECT(strstr(vm->fault, "port 0x701, which nothing handles") != NULL);
	KT_LOG("reported: %s", vm->fault);
	vm_destroy(vm);
}

KTEST(vmm, suspend_parks_every_vcpu_and_resume_lets_them_go)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 4, .image = &vm_guest_worker };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < 3; i++)
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK, 0, 0);
	vmt_worker(&vm->vcpus[3], WORKER_HALT, 0, 0, 0);
	vm_start(vm);
	KT_ASSERT(vmt_wait_state(&vm->vcpus[3], VCPU_SLEEPING, 2 * NS_PER_S));
	thread_sleep(10 * MS);

	vm_suspend(vm);
	KT_EXPECT_EQ(vm->nparked, 4);
	for (int i = 0; i < 4; i++)
		KT_EXPECT_EQ(vm->vcpus[i].state, VCPU_FROZEN);
	uint64_t before = vmt_mbox_sum(vm, 0, 3, MB_ITER);
	thread_sleep(20 * MS);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 3, MB_ITER), before);	/* nobody ran guest code */

	vm_resume(vm);
	thread_sleep(20 * MS);
	KT_EXPECT(vmt_mbox_sum(vm, 0, 3, MB_ITER) > before);
	KT_EXPECT(vmt_wait_state(&vm->vcpus[3], VCPU_SLEEPING, 2 * NS_PER_S));
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 4, MB_FPU_ERR), 0);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, 4, MB_SUM_ERR), 0);
	vm_destroy(vm);
}

/*
 * Under QEMU's multi-threaded TCG, another CPU's FPU restore can undo CPU
 * 0's switch out of a guest (docs/vmm.md, "The QEMU erratum"), so there
 * vm_run takes CPU 0 out of its thread's mask. Twice as many computing
 * vCPUs as CPUs, unbound, would use every CPU otherwise.
 */
static volatile uint32_t mask_after_run[8];

static uint64_t guest_entries_off_cpu0(void)
{
	uint64_t sum = 0;
	for (int c = 1; c < cpu_count(); c++)
		sum += vmm_guest_entries(c);
	return sum;
}

static void mask_recording_main(struct vcpu *v)
{
	vm_run(v);
	mask_after_run[v->id] = curthread->cpus_allowed;
}

KTEST(vmm, guests_stay_off_cpu0_where_the_emulator_races)
{
	vmt_require();
	const char *why;
	if (!vmm_keep_off_cpu0(&why))
		KT_SKIP(why);
	int n = MIN(2 * cpu_count(), 8);
	uint64_t on0 = vmm_guest_entries(0), others = guest_entries_off_cpu0();
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker,
				 .vcpu_main = mask_recording_main };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < n; i++) {
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK, 0, 0);
		mask_after_run[i] = 0;
	}
	vm_start(vm);
	/* every vCPU in its guest (computing) before the masks are looked at */
	for (int i = 0; i < n; i++)
		KT_ASSERT(VMT_WAIT_UNTIL(vmt_mbox_sum(vm, i, i + 1, MB_ITER) > 0, 5 * NS_PER_S));
	thread_sleep(20 * MS);
	for (int i = 0; i < n; i++)
		KT_EXPECT_EQ(vm->vcpus[i].thread->cpus_allowed & 1u, 0);
	KT_EXPECT_EQ(vmt_mbox_sum(vm, 0, n, MB_FPU_ERR), 0);
	vm_destroy(vm);
	on0 = vmm_guest_entries(0) - on0;
	others = guest_entries_off_cpu0() - others;
	KT_EXPECT_EQ(on0, 0);
	KT_EXPECT(others > 0);
	for (int i = 0; i < n; i++)
		KT_EXPECT_EQ(mask_after_run[i], CPU_MASK_ALL);	/* vm_run gave it back */
	KT_LOG("%s: guest entries on CPU 0: %lu, on the others: %lu", why, on0, others);
}

/*
 * What the QEMU erratum leaves behind: the host's own state in the guest's
 * save area, RIP at the host's resume point after VMRUN, long mode on and
 * the host's page tables (the trace in docs/vmm.md). The classifier must
 * name that, and only that: a guest that executes at the same address (it
 * is guest-physical memory too, for a guest that large), in long mode or
 * not, is an ordinary exit.
 */
KTEST(vmm, host_state_exit_is_recognised_and_a_guest_at_that_rip_is_not)
{
	struct vmcb *vmcb = kmem_zalloc(sizeof(*vmcb), KM_SLEEP);
	vmcb->save.rip = (uint64_t)svm_vmrun_host_rip;
	vmcb->save.efer = 0x1D00;		/* SVME, NXE, LMA, LME: as in the trace */
	vmcb->save.cr3 = read_cr3();		/* the host's page tables */
	KT_EXPECT(svm_exit_holds_host_state(vmcb));
	vmcb->save.efer = 0x1000;		/* SVME alone: one of our 32-bit guests */
	KT_EXPECT(!svm_exit_holds_host_state(vmcb));
	vmcb->save.efer = 0x1D00;
	vmcb->save.cr3 = 0x70000;		/* a 64-bit guest's (smp.asm's) at that RIP */
	KT_EXPECT(!svm_exit_holds_host_state(vmcb));
	vmcb->save.cr3 = read_cr3();
	vmcb->save.rip = 0x10F5;		/* long mode, any other RIP */
	KT_EXPECT(!svm_exit_holds_host_state(vmcb));
	kmem_free(vmcb);

	/* a guest that jumps there (outside its memory) faults as usual */
	vmt_require();
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_jump,
				 .args = { (uint32_t)(uintptr_t)svm_vmrun_host_rip } };
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_ASSERT(vm_wait(vm, 2 * NS_PER_S));
	struct vcpu *v = &vm->vcpus[0];
	KT_EXPECT_EQ(v->stop, VCPU_STOP_FAULT);
	KT_EXPECT_EQ(v->stats.exits[VM_EXIT_HOST_STATE], 0);
	KT_EXPECT_EQ(v->stats.exits[VM_EXIT_NPF], 1);
	KT_EXPECT(strstr(vm->fault, "nested page fault: instruction fetch") != NULL);
	KT_LOG("reported: %s", vm->fault);
	vm_destroy(vm);
}

KTEST(vmm, monitor_lists_vms)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 2, .image = &vm_guest_halt };
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_EXPECT(vmt_wait_state(&vm->vcpus[1], VCPU_SLEEPING, 2 * NS_PER_S));
	KT_EXPECT(monitor_run("vms"));		/* a table: vm, vCPUs, states, exits */
	vm_destroy(vm);
	KT_EXPECT(monitor_run("vms"));		/* and "no virtual machines" */
}

static uint64_t trace_count(uint32_t type, uint64_t a)
{
	static struct trace_event ev[TRACE_RING_SIZE];
	uint64_t n = 0;
	for (int c = 0; c < cpu_count(); c++) {
		size_t got = trace_read(c, ev, TRACE_RING_SIZE);
		for (size_t i = 0; i < got; i++)
			if (ev[i].type == type && ev[i].a == a)
				n++;
	}
	return n;
}

KTEST(vmm, trace_records_exits_and_rendezvous)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_hello, .quiet = true };
	trace_reset();
	trace_enable(TRACE_VMM);
	struct vm *vm = vmt_create(&cfg);
	vm_start(vm);
	KT_EXPECT(vm_wait(vm, 5 * NS_PER_S));
	struct vcpuset none;
	bitset_zero(none.bits, VM_MAX_VCPUS);
	vmt_host_rendezvous(vm, &none);
	trace_disable(TRACE_VMM);
	uint64_t exits = 0;
	for (int r = 0; r < VM_EXIT_NR; r++)
		exits += vm->vcpus[0].stats.exits[r];
	uint64_t id = (uint64_t)vm->id << 16;
	KT_EXPECT_EQ(trace_count(TR_VMM_EXIT, id), exits);	/* one event per exit */
	KT_EXPECT_EQ(trace_count(TR_VMM_RENDEZVOUS, id | 0xFFFF), 1);
	vm_destroy(vm);
}

KTEST(vmm, destroy_before_start_and_bad_configs)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 3, .image = &vm_guest_hello };
	struct vm *vm = vmt_create(&cfg);
	vm_destroy(vm);				/* its threads never ran a guest */

	struct vm *none = NULL;
	cfg.nvcpus = 0;
	KT_EXPECT_EQ(vm_create(&cfg, &none), -VM_EINVAL);
	cfg.nvcpus = VM_MAX_VCPUS + 1;
	KT_EXPECT_EQ(vm_create(&cfg, &none), -VM_EINVAL);
	cfg.nvcpus = 1;
	cfg.image = NULL;
	KT_EXPECT_EQ(vm_create(&cfg, &none), -VM_EINVAL);
	cfg.image = &vm_guest_hello;
	cfg.mem_size = PAGE_SIZE;		/* no room for the stacks */
	KT_EXPECT_EQ(vm_create(&cfg, &none), -VM_EINVAL);
	KT_EXPECT(none == NULL);
}

static void run_in_wrong_thread(struct vcpu *v)
{
	(void)v;
}

KTEST_EXPECT_PANIC(vmm, vm_run_from_another_thread_panics, "vm_run: vm")
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_hello,
				 .vcpu_main = run_in_wrong_thread };
	struct vm *vm = vmt_create(&cfg);
	vm_run(&vm->vcpus[0]);			/* the test's thread is not vm?.0 */
}

/* ---- the guest FPU across host context switches ----
 *
 * Three layers of XMM values must each survive:
 *   - the guest's: each worker vCPU keeps its own pattern in XMM4-7 and
 *     checks it itself (MB_FPU_ERR); at VM_GUEST_PORT_CHECK the host also
 *     reads the real XMM4-7 from inside the exit handler, leaves the CPU
 *     and comes back, and reads them again;
 *   - the vCPU thread's own (the host layer under the guest's): loaded
 *     before vm_run, compared after it returns;
 *   - other FPU threads' (hammers that fill all sixteen registers with
 *     their own values, spin, and check).
 * The vCPUs and the hammers share one CPU (the last), at a 1 ms quantum,
 * so they preempt each other everywhere. Leaving the CPU at the port is a
 * yield there; with more CPUs it is a move to another CPU and back
 * (thread_bind), so the guest's registers are also saved on one CPU and
 * restored on another.
 *
 * The bug detector turns bug=ctxop_restore_order on from inside the run,
 * at a port check, once every guest has made one (so each has its pattern
 * in its own FPU area and the vCPU threads' areas hold their host layers):
 * the reversed order does its damage at a vCPU's first switch-in after
 * that, and for the vCPU that turned it on that switch-in is the one at
 * the port, between its two looks (see the case for why only the first).
 */

#define HAMMER_VCPUS 2
#define HAMMER_THREADS 2

struct hammer {
	int home;				/* the CPU they all share */
	bool arm_bug;				/* turn the bug on at the port (above) */
	volatile bool stop;
	volatile uint64_t port_checks, migrations;
	volatile uint64_t port_bad;		/* XMM4-7 not the guest's, at the port */
	volatile uint64_t port_bad_after_switch;
	volatile uint64_t host_layer_bad;	/* a vCPU thread's own values lost */
	volatile uint64_t hammer_rounds, hammer_bad;
	volatile uint64_t vcpu_checks[HAMMER_VCPUS];
	bool armed;				/* the bug is on (set once, atomically) */
	volatile bool arm_switched;		/* the arming check's thread left the CPU */
	volatile bool arm_bad_after_switch;	/* ... and came back without the guest's */
	uint64_t guest_fpu_err[HAMMER_VCPUS];	/* MB_FPU_ERR of each guest */
};

static bool xmm_hold_guest_pattern(int id)
{
	uint32_t got[64];
	test_xmm_store(got);
	for (int k = 0; k < 16; k++)
		if (got[16 + k] != VM_WORKER_PATTERN(id, k))	/* XMM4 is dwords 16.. */
			return false;
	return true;
}

static uint32_t check_port(struct vcpu *v, uint16_t port, bool in, uint32_t value, void *arg)
{
	struct hammer *h = arg;
	(void)port, (void)in, (void)value;
	if (!xmm_hold_guest_pattern(v->id))
		h->port_bad++;
	h->vcpu_checks[v->id]++;
	bool arming = h->arm_bug;
	for (int i = 0; arming && i < HAMMER_VCPUS; i++)
		arming = h->vcpu_checks[i] > 0;
	if (arming && !__atomic_exchange_n(&h->armed, true, __ATOMIC_SEQ_CST))
		bug_set("ctxop_restore_order", true);
	else
		arming = false;
	uint64_t switches = curthread->switches_in;
	if (cpu_count() > 1 && h->port_checks % 2) {
		thread_bind((h->home + 1) % cpu_count());	/* away, inside vm_run */
		thread_bind(h->home);				/* and back */
		h->migrations++;
	} else {
		thread_yield();			/* a host switch inside vm_run */
	}
	bool bad_after = !xmm_hold_guest_pattern(v->id);
	if (bad_after)
		h->port_bad_after_switch++;
	if (arming) {
		h->arm_switched = curthread->switches_in != switches;
		h->arm_bad_after_switch = bad_after;
	}
	h->port_checks++;
	return 0;
}

static void hammer_vcpu_main(struct vcpu *v)
{
	struct hammer *h = v->vm->cfg.priv;
	uint32_t mine[64], got[64];
	thread_bind(h->home);
	vmt_xmm_pattern(0x1000 + (uint32_t)v->id, mine);
	test_xmm_load(mine);
	vm_run(v);
	test_xmm_store(got);
	if (memcmp(mine, got, sizeof(mine)) != 0)
		h->host_layer_bad++;
}

static void hammer_thread(void *arg)
{
	struct hammer *h = arg;
	uint32_t mine[64], got[64];
	vmt_xmm_pattern(0x2000 + (uint32_t)curthread->id, mine);
	while (!h->stop) {
		test_xmm_load(mine);
		for (volatile int i = 0; i < 20000; i++)
			;			/* long enough to be preempted now and then */
		test_xmm_store(got);
		if (memcmp(mine, got, sizeof(mine)) != 0)
			h->hammer_bad++;
		h->hammer_rounds++;
		thread_yield();
	}
}

/* Runs the guests and the hammers for `ms`; fills *h and the guest errors.
 * arm_bug: turn bug=ctxop_restore_order on at the port (above). */
static void run_fpu_hammer(struct hammer *h, uint64_t *guest_errors, uint64_t ms, bool arm_bug)
{
	memset((void *)h, 0, sizeof(*h));
	h->home = cpu_count() - 1;
	h->arm_bug = arm_bug;
	uint64_t quantum = vmt_quantum_set(1000);
	struct vm_config cfg = {
		.nvcpus = HAMMER_VCPUS,
		.image = &vm_guest_worker,
		.io = { { VM_GUEST_PORT_CHECK, check_port, h } },
		.vcpu_main = hammer_vcpu_main,
		.priv = h,
	};
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < HAMMER_VCPUS; i++)
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_FPU_CHECK | WORKER_HOST_CHECK, 0, 4);
	struct thread *hammers[HAMMER_THREADS];
	for (int i = 0; i < HAMMER_THREADS; i++)
		hammers[i] = thread_create_on("hammer", hammer_thread, (void *)h, THREAD_FPU,
					      h->home, PRIO_NORMAL);
	vm_start(vm);
	thread_sleep(ms * MS);
	h->stop = true;
	for (int i = 0; i < HAMMER_THREADS; i++)
		thread_join(hammers[i]);
	*guest_errors = vmt_mbox_sum(vm, 0, HAMMER_VCPUS, MB_FPU_ERR) +
			vmt_mbox_sum(vm, 0, HAMMER_VCPUS, MB_SUM_ERR);
	for (int i = 0; i < HAMMER_VCPUS; i++)
		h->guest_fpu_err[i] = vm_mailbox(&vm->vcpus[i])[MB_FPU_ERR];
	uint64_t saves = 0;
	for (int i = 0; i < HAMMER_VCPUS; i++)
		saves += vm->vcpus[i].stats.fpu_saves;
	vm_destroy(vm);				/* vm_run returns: host layers checked */
	vmt_quantum_set(quantum);
	KT_LOG("%d CPU%s: %lu port checks (%lu with a move to another CPU), %lu switches inside "
	       "vm_run, %lu hammer rounds; bad: guest %lu, port %lu/%lu (before/after a switch), "
	       "vCPU host layer %lu, hammers %lu", cpu_count(), cpu_count() == 1 ? "" : "s",
	       h->port_checks, h->migrations, saves, h->hammer_rounds, *guest_errors, h->port_bad,
	       h->port_bad_after_switch, h->host_layer_bad, h->hammer_bad);
	KT_EXPECT(h->port_checks > 20);
	KT_EXPECT(saves > 20);
	if (cpu_count() > 1)
		KT_EXPECT(h->migrations > 10);
}

static void expect_all_layers_intact(struct hammer *h, uint64_t guest_errors)
{
	KT_EXPECT_EQ(guest_errors, 0);
	KT_EXPECT_EQ(h->port_bad, 0);
	KT_EXPECT_EQ(h->port_bad_after_switch, 0);
	KT_EXPECT_EQ(h->host_layer_bad, 0);
	KT_EXPECT_EQ(h->hammer_bad, 0);
}

KTEST_TIMEOUT(vmm, guest_fpu_survives_preemption, 20)
{
	vmt_require();
	struct hammer h;
	uint64_t guest_errors;
	run_fpu_hammer(&h, &guest_errors, 250, false);
	expect_all_layers_intact(&h, guest_errors);
}

KTEST_TIMEOUT(vmm, ctxop_restore_order_bug_corrupts_guest_fpu, 20)
{
	vmt_require();
	struct hammer h;
	uint64_t guest_errors;
	bool was = bug_on(ctxop_restore_order);
	bug_set("ctxop_restore_order", false);	/* until every guest has its pattern */
	run_fpu_hammer(&h, &guest_errors, 200, true);
	bug_set("ctxop_restore_order", was);
	KT_LOG("port checks per vCPU %lu/%lu, XMM4-7 losses seen by each guest %lu/%lu; the check "
	       "that turned the bug on %s, %s", h.vcpu_checks[0], h.vcpu_checks[1],
	       h.guest_fpu_err[0], h.guest_fpu_err[1],
	       h.arm_switched ? "switched" : "did not switch",
	       h.arm_bad_after_switch ? "guest's registers gone after" : "guest's registers kept");
	KT_EXPECT(h.armed);
	KT_EXPECT(h.arm_switched);
	if (fpu_policy() == FPU_LAZY) {
		/* The lazy FPU op loads nothing on the way in, so whichever
		 * runs first, vmm_restorectx's load of the guest's state is the
		 * only one: the order of the restores is moot, and the reversed
		 * one must do no harm. */
		KT_LOG("fpu=lazy: the thread's FPU restore loads nothing, so the reversed order "
		       "is harmless here");
		expect_all_layers_intact(&h, guest_errors);
		return;
	}
	/* Eager: the thread's FPU restore runs last, loads the thread's own
	 * area over the guest's registers and makes the thread's context the
	 * CPU's FPU owner. From then on vmm_savectx finds the guest's context
	 * not live and saves nothing, and the thread's op saves whatever the
	 * guest left into the thread's area: the guest's area goes stale, the
	 * thread's carries the guest's registers, and every later switch-in
	 * brings them back. So a guest sees its registers replaced (by its
	 * thread's host layer) once, at its vCPU's first switch-in with the
	 * bug on, and only if it had values of its own saved by then: hence
	 * the bug goes on only after every guest has made a port check. The
	 * vCPU that turned it on switches at once, so its own look after the
	 * switch sees the host layer; the other finds it at its next check.
	 * Either way each guest counts it, and each vCPU thread leaves
	 * vm_run with its guest's registers as its own: both host layers
	 * lost. Other FPU threads are untouched. */
	KT_EXPECT(h.arm_bad_after_switch);
	for (int i = 0; i < HAMMER_VCPUS; i++)
		KT_EXPECT_EQ(h.guest_fpu_err[i], 1);	/* once: see above */
	KT_EXPECT(guest_errors > 0);
	KT_EXPECT(h.port_bad_after_switch > 0);
	KT_EXPECT_EQ(h.host_layer_bad, HAMMER_VCPUS);
	KT_EXPECT_EQ(h.hammer_bad, 0);
}

/* ---- the guest FPU op: allocated once, attached for the run ----
 *
 * illumos 13917 (with 13915) split an op's allocation from its attachment:
 * a vCPU allocates its guest-FPU op once, when it is made (allocation may
 * sleep), and vm_run attaches it in the same no-preemption step as the
 * guest's FPU load and detaches it on the way out without freeing it; the
 * VM's destruction frees it. Seen from the vCPU thread: the op exists
 * before the run and is not on any ring; inside the run (at each port
 * check) it is the newest op of the thread's ring, attached with
 * preemption off; after the run it is the same op, off the ring again,
 * detached with preemption off (a switch between the guest FPU's unload
 * and the detach would run the op's restore and load the guest's
 * registers into the host thread); and the thread allocated no op in
 * between (thread->ctxop_allocs).
 */
#define SPLIT_VCPUS 2

static struct split_seen {
	struct ctxop *before, *after;		/* v->fpu_op around vm_run */
	struct thread *owner_before, *owner_after;
	uint64_t allocs_in_run;			/* ops the thread allocated inside vm_run */
	volatile uint64_t checks;		/* port checks seen */
	volatile uint64_t checks_on_top;	/* ... with v's op the newest of the ring */
	int ring_outside, ring_inside;		/* ctxop_count of the thread */
	bool attach_atomic, detach_atomic;	/* preemption off for them (ctxop.h) */
} split_seen[SPLIT_VCPUS];

static uint32_t split_port(struct vcpu *v, uint16_t port, bool in, uint32_t value, void *arg)
{
	(void)port, (void)in, (void)value, (void)arg;
	struct split_seen *s = &split_seen[v->id];
	struct thread *t = curthread;
	if (v->fpu_op && t->ctxops == v->fpu_op && v->fpu_op->owner == t)
		s->checks_on_top++;
	s->attach_atomic = t->ctxops && t->ctxops->attached_atomic;
	s->ring_inside = ctxop_count(t);
	s->checks++;
	return 0;
}

static void split_main(struct vcpu *v)
{
	struct split_seen *s = &split_seen[v->id];
	s->before = v->fpu_op;
	s->owner_before = v->fpu_op ? v->fpu_op->owner : NULL;
	s->ring_outside = ctxop_count(curthread);
	uint64_t allocs = curthread->ctxop_allocs;
	vm_run(v);
	s->allocs_in_run = curthread->ctxop_allocs - allocs;
	s->after = v->fpu_op;
	s->owner_after = v->fpu_op ? v->fpu_op->owner : NULL;
	s->detach_atomic = v->fpu_op && v->fpu_op->detached_atomic;
}

KTEST(vmm, vcpu_fpu_op_is_allocated_once_and_attached_for_the_run)
{
	vmt_require();
	memset(split_seen, 0, sizeof(split_seen));
	long live = ctxop_live();
	struct vm_config cfg = { .nvcpus = SPLIT_VCPUS, .image = &vm_guest_worker, .quiet = true,
				 .vcpu_main = split_main,
				 .io = { { VM_GUEST_PORT_CHECK, split_port, NULL } } };
	struct vm *vm = vmt_create(&cfg);
	for (int i = 0; i < SPLIT_VCPUS; i++) {
		vmt_worker(&vm->vcpus[i], WORKER_COMPUTE, WORKER_HOST_CHECK, 0, 64);
		KT_EXPECT(vm->vcpus[i].fpu_op != NULL);	/* allocated with the vCPU */
	}
	vm_start(vm);
	bool checked = VMT_WAIT_UNTIL(split_seen[0].checks >= 4 && split_seen[1].checks >= 4,
				      5 * NS_PER_S);
	vm_destroy(vm);
	KT_ASSERT(checked);
	for (int i = 0; i < SPLIT_VCPUS; i++) {
		struct split_seen *s = &split_seen[i];
		KT_LOG("vCPU %d: op %p before the run (owner %p), %p after (owner %p); %lu of %lu "
		       "checks saw it newest; ring %d ops outside the run, %d inside; %lu ops "
		       "allocated in the run", i, (void *)s->before, (void *)s->owner_before,
		       (void *)s->after, (void *)s->owner_after, (unsigned long)s->checks_on_top,
		       (unsigned long)s->checks, s->ring_outside, s->ring_inside,
		       (unsigned long)s->allocs_in_run);
		if (!s->before || s->allocs_in_run)
			KT_LOG("hint: the op is allocated once, in vcpu_fpu_init, where sleeping "
			       "is fine; vm_run only attaches it (labs/ctxop.md, part 2)");
		if (!s->attach_atomic || (s->after && !s->detach_atomic))
			KT_LOG("hint: attach with the guest FPU's load, and detach with its unload, "
			       "inside one kpreempt_disable() ... kpreempt_enable() each");
		KT_EXPECT(s->before != NULL);			/* allocated before the run */
		KT_EXPECT(s->owner_before == NULL);		/* ... and not attached yet */
		KT_EXPECT_EQ(s->checks_on_top, s->checks);	/* attached, on top, in the run */
		KT_EXPECT_EQ(s->ring_inside, s->ring_outside + 1);
		KT_EXPECT(s->attach_atomic);			/* ... in the step with the load */
		KT_EXPECT_EQ(s->allocs_in_run, 0);		/* attach does not allocate */
		KT_EXPECT(s->after == s->before);		/* kept: detach does not free */
		KT_EXPECT(s->owner_after == NULL);		/* ... and detached */
		KT_EXPECT(s->detach_atomic);			/* ... in the step with the unload */
	}
	KT_EXPECT_EQ(ctxop_live(), live);			/* freed with the VM */
}
