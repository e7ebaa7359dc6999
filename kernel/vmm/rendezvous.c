/*
 * kernel/vmm/rendezvous.c - running a function once on each of a set of
 * vCPUs, each in its own thread, after FreeBSD bhyve's vm_smp_rendezvous.
 *
 * State, under the VM's lock (vm->lock):
 *   rv_req    the targets: the vCPUs that must run func (multi-word bitset)
 *   rv_done   those that have
 *   rv_func   the function, non-NULL exactly while a rendezvous is in flight
 *   rv_arg    its argument
 *
 * The protocol, step by step
 *   1. The initiator takes the lock. If rv_func is set, another rendezvous
 *      is in flight: it drops the lock, takes part in that one (step 4)
 *      until it completes, and starts over. (Two initiators never wait for
 *      each other: the second helps the first, then goes.)
 *   2. Otherwise it sets rv_req = dest & active, clears rv_done, sets
 *      rv_arg and rv_func, and drops the lock.
 *   3. It kicks every target (vcpu_notify): an IPI to the host CPU of one
 *      running guest code, which forces a #VMEXIT; a wakeup for one asleep
 *      in HLT; nothing for one in the host, which looks before it enters
 *      its guest again (vcpu.c explains why no kick can be lost).
 * LAB rendezvous BEGIN: who takes part
 *   4. It takes part itself, as every target does when its run loop finds
 *      the rendezvous pending: under the lock, rv_req &= active; if the
 *      caller is in rv_req and not in rv_done, it runs func and joins
 *      rv_done; if now rv_req is a subset of rv_done, it is the last: it
 *      clears rv_req and rv_func and wakes everyone waiting. Otherwise it
 *      sleeps on rendezvous_cv and looks again when woken.
 *
 * "Is a rendezvous pending for me?" is asked by every vCPU before every
 * entry into its guest, without the lock: it tests its own bit in rv_req.
 * LAB rendezvous STUB
 *   4. It takes part itself, as every target does when its run loop finds
 *      the rendezvous pending, under the lock; the last one ends it and
 *      wakes everyone waiting (who runs func is labs/rendezvous.md's).
 *
 * "Is a rendezvous pending for me?" is asked by every vCPU before every
 * entry into its guest, without the lock.
 * LAB rendezvous END
 * Before FreeBSD D37390 bhyve asked "is any rendezvous pending?"
 * (rv_func != NULL); a vCPU that was not a target then left its guest, took
 * the lock, found nothing to do and waited for the others to finish: a
 * spurious exit. bug=rendezvous_spurious brings that check back, and the
 * counters (stats.spurious) show the exits it causes.
 *
 * The races that remain, and why each is harmless
 *   - A vCPU reads its bit just before an initiator sets it, and enters its
 *     guest. The initiator's kick comes after the bit is set and finds the
 *     vCPU RUNNING: the IPI throws it out at once, and it finds the bit.
 *   - A vCPU reads its bit set but the rendezvous completes before it takes
 *     the lock. That cannot happen while it is a target that has not run
 *     func (completion needs it); only if it was taken out of the active
 *     set meanwhile, and then it finds rv_func NULL, does nothing, and stops.
 *   - A target sees a stale set bit of a rendezvous it already took part in:
 *     impossible, because a participant does not leave the handler until
 *     rv_func is NULL, and the last one clears rv_req before that.
 *   - A vCPU taken out of the active set while it is a target: whoever
 *     shrinks the set masks rv_req under the lock and completes the
 *     rendezvous if it only waited for that vCPU (recheck_locked), so it
 *     cannot hang; a participant that already ran func stays in rv_done,
 *     which is why completion asks "req subset of done", not "equal".
 *   - With the bug switch on, a non-target that exits spuriously takes the
 *     lock, is in neither set, and only waits for the completion: slower,
 *     never wrong.
 *
 * func runs with the VM's lock held, in the target's own thread, so it may
 * touch that vCPU's state freely; it must not sleep or take the VM's lock.
 */
#include "vmm_impl.h"
#include <bugs.h>
#include <printk.h>
#include <sched.h>
#include <string.h>
#include <thread.h>
#include <trace.h>
#include <uapi/errno.h>

BUG_DEFINE(rendezvous_spurious,
	   "a vCPU checks 'is any rendezvous pending' instead of its own bit (FreeBSD D37390)");

bool vcpu_rendezvous_pending(struct vcpu *v)
{
	if (unlikely(bug_on(rendezvous_spurious)))
		return v->vm->rv_func != NULL;
	/* LAB rendezvous BEGIN: pending for v only if its own bit is set (labs/rendezvous.md) */
	return bitset_test(v->vm->rv_req.bits, (unsigned)v->id);
	/* LAB rendezvous STUB
	return v->vm->rv_func != NULL;	// any rendezvous: bhyve before D37390
	LAB rendezvous END */
}

/* With vm->lock held and a rendezvous in flight: if it is complete, ends it
 * and wakes the participants. Returns true if it ended. */
static bool complete_locked(struct vm *vm)
{
	if (!bitset_subset(vm->rv_req.bits, vm->rv_done.bits, (unsigned)vm->nvcpus))
		return false;
	bitset_zero(vm->rv_req.bits, VM_MAX_VCPUS);
	vm->rv_func = NULL;
	vm->rv_count++;
	cv_broadcast(&vm->rendezvous_cv);
	return true;
}

void vm_rendezvous_recheck_locked(struct vm *vm)
{
	if (!vm->rv_func)
		return;
	bitset_and(vm->rv_req.bits, vm->rv_req.bits, vm->active.bits, (unsigned)vm->nvcpus);
	complete_locked(vm);
}

/* Step 4 for v (NULL: a host thread) with vm->lock held: run func if v
 * owes it, then complete if v was the last. Returns true when the
 * rendezvous is over. */
static bool participate_locked(struct vm *vm, struct vcpu *v)
{
	bitset_and(vm->rv_req.bits, vm->rv_req.bits, vm->active.bits, (unsigned)vm->nvcpus);
	/* LAB rendezvous BEGIN: only a target that owes the function runs it */
	if (v && bitset_test(vm->rv_req.bits, (unsigned)v->id) &&
	    !bitset_test(vm->rv_done.bits, (unsigned)v->id)) {
	/* LAB rendezvous STUB
	if (v && !bitset_test(vm->rv_done.bits, (unsigned)v->id)) {
	LAB rendezvous END */
		vm->rv_func(v, vm->rv_arg);
		v->stats.rendezvous_funcs++;
		if (trace_on(TRACE_VMM)) {
			kpreempt_disable();	/* the trace ring is this CPU's */
			trace_log(TR_VMM_RV_FUNC, (uint64_t)vm->id << 16 | (uint64_t)v->id, 0);
			kpreempt_enable();
		}
		bitset_set(vm->rv_done.bits, (unsigned)v->id);
	}
	return complete_locked(vm);
}

void vm_handle_rendezvous(struct vm *vm, struct vcpu *v)
{
	mutex_lock(&vm->lock);
	while (vm->rv_func && !participate_locked(vm, v)) {
		if (v && vcpu_must_leave(v))
			break;		/* its process is dying: the VM goes with it */
		vm_cv_wait(vm, &vm->rendezvous_cv);
	}
	mutex_unlock(&vm->lock);
}

static int rendezvous(struct vm *vm, struct vcpu *v, const struct vcpuset *dest,
		      vm_rendezvous_fn func, void *arg)
{
	if (!func)
		panic("vm_smp_rendezvous: %s: NULL function", vm->name);
	sched_assert_can_sleep("vm_smp_rendezvous");
	for (;;) {
		mutex_lock(&vm->lock);
		if (!vm->rv_func)
			break;
		mutex_unlock(&vm->lock);
		if (v && vcpu_must_leave(v))
			return -EINTR;		/* its process is dying */
		if (v)
			v->stats.rendezvous_helps++;
		vm_handle_rendezvous(vm, v);	/* help the one in flight, then again */
	}
	bitset_and(vm->rv_req.bits, dest->bits, vm->active.bits, (unsigned)vm->nvcpus);
	bitset_zero(vm->rv_done.bits, VM_MAX_VCPUS);
	vm->rv_arg = arg;
	vm->rv_func = func;
	if (trace_on(TRACE_VMM)) {
		kpreempt_disable();		/* the trace ring is this CPU's */
		trace_log(TR_VMM_RENDEZVOUS, (uint64_t)vm->id << 16 | (v ? (uint64_t)v->id : 0xFFFF),
			  bitset_popcount(vm->rv_req.bits, (unsigned)vm->nvcpus));
		kpreempt_enable();
	}
	if (vm->suspended)
		cv_broadcast(&vm->state_cv);	/* parked targets take part too */
	mutex_unlock(&vm->lock);

	BITSET_FOR_EACH(i, dest->bits, (unsigned)vm->nvcpus) {
		if (!v || i != (unsigned)v->id)
			vcpu_notify(&vm->vcpus[i]);
	}
	vm_handle_rendezvous(vm, v);
	if (trace_on(TRACE_VMM)) {
		kpreempt_disable();
		trace_log(TR_VMM_RENDEZVOUS_END,
			  (uint64_t)vm->id << 16 | (v ? (uint64_t)v->id : 0xFFFF), 0);
		kpreempt_enable();
	}
	return 0;
}

int vm_smp_rendezvous(struct vcpu *vcpu, const struct vcpuset *dest, vm_rendezvous_fn func,
		      void *arg)
{
	if (curthread != vcpu->thread)
		panic("vm_smp_rendezvous: called for %s from thread %s; a thread that is not "
		      "the vCPU's uses vm_smp_rendezvous_host", vcpu->name, curthread->name);
	return rendezvous(vcpu->vm, vcpu, dest, func, arg);
}

int vm_smp_rendezvous_host(struct vm *vm, const struct vcpuset *dest, vm_rendezvous_fn func,
			   void *arg)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (curthread == vm->vcpus[i].thread)
			panic("vm_smp_rendezvous_host: called from %s's own thread; use "
			      "vm_smp_rendezvous", vm->vcpus[i].name);
	return rendezvous(vm, NULL, dest, func, arg);
}

/* The default function of VMM_HC_RENDEZVOUS: the count in
 * stats.rendezvous_funcs is all it leaves. */
static void count_only(struct vcpu *v, void *arg)
{
	(void)v;
	(void)arg;
}

uint64_t vm_hc_rendezvous(struct vcpu *v, uint64_t gpa, uint64_t nbits, uint64_t arg)
{
	struct vm *vm = v->vm;
	struct vcpuset dest;
	if (nbits == 0 || nbits > VM_MAX_VCPUS)
		return VMM_HC_EINVAL;
	size_t bytes = (nbits + 7) / 8;
	const void *src = vm_gpa_ptr(vm, gpa, bytes);
	if (!src)
		return VMM_HC_EINVAL;
	bitset_zero(dest.bits, VM_MAX_VCPUS);
	memcpy(dest.bits, src, bytes);
	for (unsigned i = (unsigned)nbits; i < bytes * 8; i++)
		bitset_clear(dest.bits, i);		/* padding in the last byte */
	if (bitset_next(dest.bits, (unsigned)vm->nvcpus, VM_MAX_VCPUS) < VM_MAX_VCPUS)
		return VMM_HC_EINVAL;			/* a vCPU the VM does not have */
	if (vm->cfg.hc_rendezvous)
		vm->cfg.hc_rendezvous(v, &dest, (uint32_t)arg);
	else
		vm_smp_rendezvous(v, &dest, count_only, NULL);
	return 0;
}

/* ---- interrupts between vCPUs, through the rendezvous (bhyve's
 * vm_handle_ipi): the function runs in the target's own thread, where its
 * interrupt state lives, so nothing of that state needs a lock ---- */

static void ipi_init(struct vcpu *v, void *arg)
{
	(void)arg;
	vcpu_init_ipi(v);
}

static void ipi_sipi(struct vcpu *v, void *arg)
{
	vcpu_sipi(v, (uint64_t)(uintptr_t)arg);
}

static void ipi_fixed(struct vcpu *v, void *arg)
{
	vcpu_raise_irq(v, (int)(uintptr_t)arg);
}

uint64_t vm_hc_ipi(struct vcpu *v, uint64_t kind, uint64_t target, uint64_t vector)
{
	struct vm *vm = v->vm;
	static const vm_rendezvous_fn fns[] = {
		[VMM_IPI_INIT] = ipi_init, [VMM_IPI_SIPI] = ipi_sipi, [VMM_IPI_FIXED] = ipi_fixed,
	};
	if (kind > VMM_IPI_FIXED || target >= (uint64_t)vm->nvcpus)
		return VMM_HC_EINVAL;
	if (kind == VMM_IPI_FIXED && (vector < VMM_IRQ_MIN || vector > 255))
		return VMM_HC_EINVAL;
	if (kind == VMM_IPI_SIPI && (vector > 0xFF || vector << 12 >= vm->mem_size))
		return VMM_HC_EINVAL;
	struct vcpuset dest;
	bitset_zero(dest.bits, VM_MAX_VCPUS);
	bitset_set(dest.bits, (unsigned)target);
	vm_smp_rendezvous(v, &dest, fns[kind], (void *)(uintptr_t)vector);
	return 0;
}

uint64_t vm_hc_broadcast(struct vcpu *v, uint64_t vector)
{
	struct vm *vm = v->vm;
	if (vector < VMM_IRQ_MIN || vector > 255)
		return VMM_HC_EINVAL;
	struct vcpuset dest;
	bitset_fill(dest.bits, (unsigned)vm->nvcpus, VM_MAX_VCPUS);
	vm_smp_rendezvous(v, &dest, ipi_fixed, (void *)(uintptr_t)vector);
	return 0;
}
