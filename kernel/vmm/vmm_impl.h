/*
 * kernel/vmm/vmm_impl.h - what the files of the vmm core share among
 * themselves (vm.c, vcpu.c, rendezvous.c); not for anyone else.
 */
#ifndef VMM_IMPL_H
#define VMM_IMPL_H

#include <vmm.h>
#include <vmm_backend.h>
#include <thread.h>

/* The backend, once vmm_unavailable() has said it works. */
extern const struct vmm_backend *vmm_be;

/* vcpu.c */
/* Sets up / tears down the guest FPU areas and context op of v (may
 * sleep); init returns 0 or -VM_ENOMEM (a user VM's, vm_kmflags). */
int vcpu_fpu_init(struct vcpu *v);
void vcpu_fpu_fini(struct vcpu *v);
/* Makes v notice new work: an IPI if it runs guest code on another CPU, a
 * wakeup if it sleeps in HLT. Any thread; never sleeps. */
void vcpu_notify(struct vcpu *v);
/* True while v is in the VM's active set (a lock-free snapshot). */
bool vcpu_active(const struct vcpu *v);
/* Stops the whole VM because of v's fault: records why, takes every vCPU
 * out of the active set, wakes them all. v's thread; may sleep. */
void vm_fault(struct vcpu *v, const char *fmt, ...) __printf(2, 3);
/* A run from user space must leave vm_run_user: its thread has work
 * before ring 3 (its process is dying). v's thread. */
static inline bool vcpu_must_leave(const struct vcpu *v)
{
	return unlikely(v->vm->cfg.user) && curthread->user_work;
}
/*
 * cv_wait on one of vm's condition variables, vm->lock held. In a VM driven
 * from user space the wait also ends after VM_USER_RECHECK_NS: a kill
 * (vmm_kick_thread) cannot take vm->lock, which is a mutex, from where it
 * runs, so its broadcast may fall between a waiter's look and its sleep;
 * the waiter then sees it at the next look.
 */
#define VM_USER_RECHECK_NS 10000000ULL	/* 10 ms */
static inline void vm_cv_wait(struct vm *vm, struct condvar *cv)
{
	if (vm->cfg.user)
		cv_timedwait(cv, &vm->lock, VM_USER_RECHECK_NS);
	else
		cv_wait(cv, &vm->lock);
}
/* The body of a vCPU thread (vm.c starts it). */
void vcpu_thread_main(void *arg);

/* The registers a vCPU starts with, at entry (vm.c): its stack, id, the
 * number of vCPUs and the VM's arguments. */
void vcpu_boot_regs(struct vcpu *v, uint64_t entry, struct vcpu_boot *boot);
/* Raises interrupt `vector` on v (its IRR; offered before its next
 * entry). v's own thread: its loop, or a rendezvous function. */
void vcpu_raise_irq(struct vcpu *v, int vector);
/* INIT for v (a rendezvous function, in v's thread): its interrupt state
 * cleared, it runs no guest code until a SIPI. */
void vcpu_init_ipi(struct vcpu *v);
/* A SIPI for v (the same): if v waits for one (INIT), its loop starts it
 * over at page << 12 with its registers at reset. */
void vcpu_sipi(struct vcpu *v, uint64_t page);

/* rendezvous.c */
/* Is a rendezvous pending for v? (v's own bit; bug=rendezvous_spurious:
 * any rendezvous at all.) Lock-free. */
bool vcpu_rendezvous_pending(struct vcpu *v);
/* Takes part in the rendezvous in flight, if any, and waits until it is
 * complete. v may be NULL (a host thread). Sleeps; not with vm->lock. */
void vm_handle_rendezvous(struct vm *vm, struct vcpu *v);
/* With vm->lock held, after the active set shrank: drops the inactive
 * vCPUs from the rendezvous in flight and completes it if that was all
 * it waited for. */
void vm_rendezvous_recheck_locked(struct vm *vm);
/* The hypercall VMM_HC_RENDEZVOUS (v's thread): returns the guest's EAX. */
uint64_t vm_hc_rendezvous(struct vcpu *v, uint64_t gpa, uint64_t nbits, uint64_t arg);
/* VMM_HC_IPI and VMM_HC_BROADCAST (v's thread): the guest's EAX. */
uint64_t vm_hc_ipi(struct vcpu *v, uint64_t kind, uint64_t target, uint64_t vector);
uint64_t vm_hc_broadcast(struct vcpu *v, uint64_t vector);

#endif
