/*
 * ipc.h - synchronous IPC on endpoints, handles and notifications
 * (kernel/ipc.c): the kernel's side of uapi/ipc.h.
 *
 * The system calls are kernel/syscall.c's (SYS_ipc_*, SYS_handle_*,
 * SYS_notify_*); what the rest of the kernel calls is below: the hooks by
 * which a thread and a process that end give back what they held, and the
 * kick that takes a thread out of an IPC wait when its process is killed.
 */
#ifndef IPC_H
#define IPC_H

#include <kernel.h>
#include <uapi/ipc.h>

struct thread;
struct proc;

/* A user thread ends (kernel/proc.c, proc_thread_end): the reply right it
 * held is dropped (its caller gets -EPIPE), its IPC state freed. */
void ipc_thread_exit(struct thread *t);
/* fork: the child's table gets a copy of each of the parent's handles
 * (with their rights and badges) but reply rights, which are one-shot.
 * 0, or -ENOMEM (the child then has none). */
int ipc_fork(struct proc *parent, struct proc *child);
/* spawn with handles: the child's table (it has none yet) starts with
 * copies of parent's handles h[0 .. n-1] at slots 0 .. n-1, rights and
 * badges as they are. 0, -EBADF (parent lacks one), -EPERM (a reply right:
 * one-shot), -EINVAL (n), -ENOMEM. */
int ipc_spawn_handles(struct proc *parent, struct proc *child, const int *h, int n);
/* A process is torn down: every handle in its table is closed. */
void ipc_proc_exit(struct proc *p);
/* p's process is dying (kick_threads): if t waits in an IPC call, it
 * wakes with -EINTR. Takes ipc_lock, so any context where that is not
 * held: a fault from ring 3 too (proc_fault), never the IPC code. */
void ipc_kick(struct thread *t);
/* User pages of some space are about to be freed (kernel/proc.c's
 * unmap_free, after the unmap): waits for a copy into or out of another
 * process's memory that may have looked them up before the unmap. */
void ipc_unmap_barrier(void);
/* The counters of SYS_ipc_stats (tests, the shell). */
void ipc_get_stats(struct ipc_stats *s);

/* VMs behind handles (kernel/vmm/uvm.c). ipc_vm_install puts vm, whose
 * creation reference the handle then owns, into a new handle of the
 * caller's table: the handle, or -ENOSPC (the reference still the
 * caller's). ipc_vm_get: a new reference to the VM handle h names, or
 * NULL with *err = -EBADF (no VM handle), -EPERM (one without IPC_R_SEND,
 * the right to use the VM). ipc_reap lets go of VMs whose last handle
 * closed under ipc_lock; sleeps. */
struct vm;
long ipc_vm_install(struct vm *vm);
struct vm *ipc_vm_get(long h, int *err);
void ipc_reap(void);

/* The system calls (kernel/syscall.c's table). */
long sys_endpoint_create(void);
long sys_notify_create(void);
long sys_handle_close(long h);
long sys_handle_dup(long h, long rights, long badge);
long sys_handle_info(long h, long uinfo);
long sys_ipc_send(long hf, long label, long w0, long w1, long w2, long w3);
long sys_ipc_recv(long hf, long a1, long a2, long a3, long a4, long uext);
long sys_ipc_call(long hf, long label, long w0, long w1, long w2, long w3);
long sys_ipc_reply(long hf, long label, long w0, long w1, long w2, long w3);
long sys_ipc_reply_recv(long hf, long label, long w0, long w1, long w2, long w3);
long sys_ipc_reply_save(void);
long sys_notify_signal(long h, long bits);
long sys_notify_wait(long hf, long timeout_ns);
long sys_ipc_stats(long ustats);
long sys_irq_bind(long h, long irq, long bits);

#endif
