/*
 * tests/vmm/uvm_test.c - the kernel's side of VMs driven from user space
 * (kernel/vmm/uvm.c): what a user test cannot see or do alone.
 *
 *   uvm.*   a vCPU thread's chain during a run: the guest's FPU op over
 *           the user thread's segment-base op over its FPU op, newest
 *           first (illumos 12477's listing), as the walk and the
 *           monitor's `ctxops` show it, and the chain back to the thread's
 *           two once the process is gone; and bug=ctxop_restore_order,
 *           which only the kernel can throw, losing the guest's XMM
 *           registers in a VM that user space drives.
 *
 * The program is user/bin/vmrun running the fpuhold guest (-e: no events
 * of its own): it loads a
 * pattern into XMM4-7, halts (its vCPU thread, vmrun's main thread,
 * sleeps in the kernel inside vm_run with the op attached) and, at the
 * event this case posts, checks the pattern; vmrun's status is 0 if the
 * guest found it whole, 1 if not.
 */
#include "vmm_test.h"
#include "../ctxop/chain_names.h"
#include <bugs.h>
#include <ctxop.h>
#include <fpu.h>
#include <fpudemo.h>
#include <mm.h>
#include <proc.h>
#include <string.h>
#include <uapi/errno.h>

/* Starts `vmrun -q -e fpuhold 1` (the event is this case's to give); returns its pid and, held, its thread once
 * that sleeps in the guest's HLT inside vm_run, switched out. */
static int start_fpuhold(struct thread **out)
{
	static const char *const argv[] = { "vmrun", "-q", "-e", "fpuhold", "1" };
	int pid = proc_spawn("vmrun", 5, argv, NULL);
	KT_ASSERT(pid > 0);
	struct thread *t = NULL;
	KT_ASSERT(VMT_WAIT_UNTIL((t = proc_first_thread(pid)) != NULL, 2000 * MS));
	/* asleep for real: off its CPU, its ops' saves done (the vCPU says
	 * SLEEPING a moment before its thread leaves the CPU) */
	bool asleep = VMT_WAIT_UNTIL(t->vcpu && t->vcpu->state == VCPU_SLEEPING &&
				     t->state == TS_SLEEPING &&
				     !__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE), 2000 * MS);
	if (!asleep) {
		thread_rele(t);
		proc_kill(pid);
		KT_ASSERT(asleep);
	}
	*out = t;
	return pid;
}

/* Posts the event that ends the guest's HLT; vmrun's status (-1000 if
 * it had to be killed after 5 s: fpuprobe_end). */
static int finish_fpuhold(int pid, struct thread *t)
{
	vcpu_post_event(t->vcpu, 1);	/* t sleeps in vm_run until this */
	thread_rele(t);
	return fpuprobe_end(pid);
}

KTEST(uvm, vcpu_thread_chain_in_a_run_is_guest_fpu_over_segbase_over_fpu)
{
	vmt_require();
	long ops_before = ctxop_live();
	struct thread *t;
	int pid = start_fpuhold(&t);
	struct chain_names walked, shown;
	int n = chain_names_of(t, false, &walked);
	bool ran = chain_names_of(t, true, &shown);	/* the listing of docs/vmm.md */
	long ops_during = ctxop_live();
	KT_EXPECT_EQ(n, 3);
	KT_EXPECT_EQ(walked.n, 3);
	KT_EXPECT(chain_name_is(&walked, 0, "vmm_savectx"));	/* newest: the run's */
	KT_EXPECT(chain_name_is(&walked, 1, "segbase_save"));
	KT_EXPECT(chain_name_is(&walked, 2, "fpu_ctx_save"));	/* oldest: the thread's */
	KT_EXPECT(ran);
	KT_EXPECT_EQ(shown.n, 3);
	KT_EXPECT(chain_name_is(&shown, 0, "vmm_savectx"));
	KT_EXPECT((t->flags & THREAD_USER) != 0);
	KT_EXPECT_EQ(finish_fpuhold(pid, t), 0);	/* the guest kept its XMM4-7 */
	/* the thread's two and the vCPU's one, made with the VM and gone
	 * with it */
	KT_EXPECT_EQ(ops_during, ops_before + 3);
	KT_EXPECT_EQ(ctxop_live(), ops_before);
	KT_EXPECT_EQ(vm_user_count(), 0);
}

KTEST(uvm, ctxop_restore_order_bug_loses_the_guest_fpu_of_a_user_vm)
{
	vmt_require();
	if (fpu_policy() == FPU_LAZY)
		KT_SKIP("fpu=lazy: the thread's FPU restore loads nothing, so the reversed order "
			"is harmless (vmm.ctxop_restore_order_bug_corrupts_guest_fpu says why)");
	struct thread *t;
	int pid = start_fpuhold(&t);
	bool was = bug_on(ctxop_restore_order);
	/* the guest's XMM4-7 are in its area now (saved at the sleep); the
	 * switch-in at the event restores oldest-last: the thread's own FPU
	 * state over the guest's */
	bug_set("ctxop_restore_order", true);
	int status = finish_fpuhold(pid, t);
	bug_set("ctxop_restore_order", was);
	KT_LOG("vmrun fpuhold with bug=ctxop_restore_order: status %d (1: the guest found its "
	       "registers changed)", status);
	KT_EXPECT_EQ(status, 1);
	KT_EXPECT_EQ(vm_user_count(), 0);
}

/*
 * FreeBSD D37390 in a VM driven from user space: `vmrun -q smp 4`, whose
 * BSP starts each AP with INIT and SIPI, each a rendezvous over that one
 * AP, then sends AP 1 twenty IPIs, each a rendezvous over AP 1 alone,
 * while the other APs pass through the run loop at every OUT of theirs. Without the bug switch no vCPU outside a rendezvous's set
 * joins it: 0 spurious exits; with bug=rendezvous_spurious the busy APs
 * join the ones for the others. The case holds the VM (vm_user_find) to
 * read its counters after vmrun has ended.
 */
static void smp_run(bool bug, uint64_t *spurious, uint64_t *sipis, uint64_t *rendezvous)
{
	static const char *const argv[] = { "vmrun", "-q", "smp", "4", "2" };	/* 2 ticks */
	bool was = bug_on(rendezvous_spurious);
	bug_set("rendezvous_spurious", bug);
	int pid = proc_spawn("vmrun", 5, argv, NULL);
	KT_ASSERT(pid > 0);
	struct vm *vm = NULL;		/* (not VMT_WAIT_UNTIL: it looks once more) */
	for (int i = 0; i < 2000 && !(vm = vm_user_find((uint64_t)pid)); i++)
		thread_sleep(MS);
	int status = fpuprobe_end(pid);
	bug_set("rendezvous_spurious", was);
	KT_ASSERT(vm != NULL);
	*spurious = *sipis = *rendezvous = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		*spurious += vm->vcpus[i].stats.spurious;
		*sipis += vm->vcpus[i].stats.sipis;
		*rendezvous += vm->vcpus[i].stats.rendezvous_funcs;
	}
	KT_LOG("vmrun smp 4%s: status %d, SIPIs %lu, rendezvous functions %lu, spurious "
	       "exits %lu", bug ? " with bug=rendezvous_spurious" : "", status, *sipis,
	       *rendezvous, *spurious);
	vm_put(vm);
	KT_EXPECT_EQ(status, 0);
}

/* (20 s: two runs, each given 5 s before it is killed, fit in its watchdog) */
KTEST_TIMEOUT(uvm, init_sipi_rendezvous_spurious_exits_only_with_the_bug, 20)
{
	vmt_require();
	uint64_t spurious, sipis, funcs;
	smp_run(false, &spurious, &sipis, &funcs);
	KT_EXPECT_EQ(sipis, 3);
	/* INIT and SIPI for each AP, 20 IPIs to AP 1, the broadcast on all four */
	KT_EXPECT_EQ(funcs, 2 * 3 + 20 + 4);
	KT_EXPECT_EQ(spurious, 0);
	smp_run(true, &spurious, &sipis, &funcs);
	KT_EXPECT_EQ(sipis, 3);
	KT_EXPECT_EQ(funcs, 2 * 3 + 20 + 4);	/* the function still runs only on targets */
	KT_EXPECT(spurious > 0);
	KT_EXPECT_EQ(vm_user_count(), 0);
}

/*
 * A vmrun process killed in the middle of VM_RUN: `vmrun -q halt 3 0`, its
 * three vCPU threads asleep in their guests' HLT inside vm_run; the kill
 * ends them, the VM goes with the process's handles, and the heap, the
 * context ops and the VMs are back where they were. (user/tests/
 * uvm_test.c's kill case covers the other places a run can be.)
 */
KTEST(uvm, vmrun_killed_in_vm_run_tears_its_vm_down_and_leaks_nothing)
{
	vmt_require();
	static const char *const argv[] = { "vmrun", "-q", "-e", "halt", "3", "0" };
	struct kmem_stats before, after;
	for (int round = 0; round < 2; round++) {	/* the first warms the heap's caches */
		long ops_before = ctxop_live();
		kmem_stats(&before);
		int pid = proc_spawn("vmrun", 6, argv, NULL);
		KT_ASSERT(pid > 0);
		struct vm *vm = NULL;
		for (int i = 0; i < 2000 && !(vm = vm_user_find((uint64_t)pid)); i++)
			thread_sleep(MS);
		KT_ASSERT(vm != NULL);
		bool asleep = false;
		for (int i = 0; i < 2000 && !asleep; i++) {
			asleep = true;
			for (int c = 0; c < vm->nvcpus; c++)
				asleep &= vm->vcpus[c].state == VCPU_SLEEPING;
			if (!asleep)
				thread_sleep(MS);
		}
		vm_put(vm);
		KT_EXPECT(asleep);
		KT_EXPECT_EQ(proc_kill(pid), 0);
		struct proc_end end;
		KT_ASSERT_EQ(proc_wait(pid, 5000 * MS, &end), 0);
		KT_EXPECT_EQ(end.status, WAIT_KILLED);
		kmem_stats(&after);
		KT_EXPECT_EQ(vm_user_count(), 0);
		KT_EXPECT_EQ(ctxop_live(), ops_before);
		if (round == 1) {
			KT_EXPECT_EQ(after.objects_in_use, before.objects_in_use);
			KT_EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
		}
	}
}

/*
 * A user VM's kernel side (its struct, vCPU array, nested tables, VMCBs,
 * guest FPU areas and ops) is a user request's: it may take the kernel's
 * memory only down to half the reserve (docs/mm.md "The reserve"). The
 * pre-check in sys_vm_create cannot promise that alone: another process's
 * fork or thread can take what is left between the check and the
 * allocations. So this case takes it there (vm_config.after_memory,
 * called once the guest's memory is taken): all that a user request may
 * have but `left` pages, for left = 0, 8, 16, ... until the create works.
 * Every create before must be -VM_ENOMEM and none may have taken a page
 * of the kernel's half, even for a moment (pmm_low_water); nothing leaks.
 * 160 vCPUs, so that each kind of object needs slabs of its own, which
 * the heap's cached ones cannot give. It failed so while svm.c took the
 * nested tables and VMCBs as the kernel's own (PMM_KERNEL, KM_SLEEP), and
 * while the guest's FPU area or the op was KM_SLEEP: a create worked with
 * too little left, 4 to 8 pages below the floor.
 */
struct eaten {				/* at the start of each block taken */
	struct eaten *next;
	uint64_t npages;
};
static struct eaten *eaten;
static uint64_t eat_left;		/* what after_memory leaves a user request */

/* Takes what a user request may take but `left` pages, or gives pages
 * back one at a time (from the start of the newest block) until that is
 * so: the first blocks taken are large, so those given back are mostly
 * contiguous. */
static void eat_to(uint64_t left)
{
	for (int order = PMM_MAX_ORDER; order >= 0; order--) {
		uint64_t n = 1ULL << order, pa;
		while (pmm_available(PMM_KERNEL_FOR_USER) >= left + n &&
		       (pa = pmm_alloc_pages_for((unsigned)order, PMM_KERNEL_FOR_USER))) {
			struct eaten *e = (struct eaten *)pa;
			e->next = eaten;
			e->npages = n;
			eaten = e;
		}
	}
	while (eaten && pmm_available(PMM_KERNEL_FOR_USER) < left) {
		struct eaten *e = eaten;
		if (e->npages == 1) {
			eaten = e->next;
		} else {
			struct eaten *rest = (struct eaten *)((uint64_t)e + PAGE_SIZE);
			*rest = (struct eaten){ e->next, e->npages - 1 };
			eaten = rest;
		}
		pmm_free_page((uint64_t)e);
	}
}

static void eat_after_memory(struct vm *vm)
{
	(void)vm;
	eat_to(eat_left);
	pmm_low_water_reset();
}

static void give_all_back(void)
{
	while (eaten) {
		struct eaten *e = eaten;
		eaten = e->next;
		uint64_t n = e->npages;
		for (uint64_t i = 0; i < n; i++)
			pmm_free_page((uint64_t)e + i * PAGE_SIZE);
	}
}

KTEST(uvm, a_user_vms_kernel_side_stops_at_half_the_reserve)
{
	vmt_require();
	struct vm_config cfg = { .nvcpus = 160, .user = true };
	uint64_t floor = pmm_reserve_pages() / 2;
	struct vm *vm = NULL;
	KT_ASSERT_EQ(vm_create(&cfg, &vm), 0);	/* warms the heap's caches */
	vm_put(vm);
	cfg.after_memory = eat_after_memory;
	struct kmem_stats before, after;
	kmem_stats(&before);
	long ops_before = ctxop_live();
	uint64_t free_before = pmm_free_count();
	int refused = 0, wrong = 0, below = 0, err = -VM_ENOMEM;
	uint64_t lowest = ~0ULL, last_refused = 0;
	for (eat_left = 0; eat_left < 2048; eat_left += 8) {
		/* room for the guest's memory, which is user memory: it must
		 * leave the whole reserve, a user request's kernel side half */
		eat_to(floor + 256);
		err = vm_create(&cfg, &vm);
		uint64_t low = pmm_low_water();
		lowest = MIN(lowest, low);
		if (low < floor && below++ == 0)
			KT_LOG("with %lu pages left: the low water was %lu, the floor %lu",
			       eat_left, low, floor);
		if (err == 0)
			break;
		last_refused = eat_left;
		refused++;
		wrong += err != -VM_ENOMEM;
	}
	give_all_back();
	KT_LOG("refused %d times, the last with %lu pages left, made with %lu; the lowest "
	       "free count %lu, the floor %lu", refused, last_refused, eat_left, lowest, floor);
	KT_ASSERT_EQ(err, 0);
	vm_put(vm);
	KT_EXPECT(refused > 0);		/* the eating did make it fail */
	KT_EXPECT_EQ(wrong, 0);
	KT_EXPECT_EQ(below, 0);
	kmem_stats(&after);
	KT_EXPECT_EQ(after.objects_in_use, before.objects_in_use);
	KT_EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
	KT_EXPECT_EQ(ctxop_live(), ops_before);
	KT_EXPECT_EQ(vm_user_count(), 0);
	/* the pages too, but those the heap keeps in empty slabs */
	KT_EXPECT(pmm_free_count() + 64 >= free_before);
}
