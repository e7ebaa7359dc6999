/*
 * thread.h - kernel threads (kernel/thread.c) and the scheduler calls a
 * thread makes (kernel/sched.c).
 *
 * A thread is a kernel stack, a saved stack pointer and a little state.
 * It runs fn(arg); returning from fn is the same as thread_exit(). Its
 * creator must thread_join it: join waits for the exit and frees the
 * thread (stack, struct, context ops).
 *
 * Preemption: the tick preempts a thread whose quantum is used up, unless
 * it has preemption disabled (kpreempt_disable, or holding a spinlock);
 * then the switch happens at the outermost kpreempt_enable. A thread may
 * sleep only with preemption enabled and no spinlock held; doing otherwise
 * panics, naming the lock or the caller.
 */
#ifndef THREAD_H
#define THREAD_H

#include <kernel.h>
#include <list.h>
#include <percpu.h>
#include <timer.h>	/* clock_ns */

struct ctxop;
struct fpu_ctx;
struct proc;
struct aspace;
struct ipc_tcb;
struct vcpu;

/* thread_create flags */
#define THREAD_FPU      (1u << 0)	/* may use x87/SSE/AVX; state kept across switches */
#define THREAD_USER     (1u << 1)	/* internal: a process's thread (kernel/proc.c) */
#define THREAD_IDLE     (1u << 8)	/* internal: a CPU's idle thread */

/* Priorities: higher runs first; equal ones share the CPU round-robin. */
enum thread_prio {
	PRIO_LOW = 0,
	PRIO_NORMAL = 1,
	PRIO_HIGH = 2,
	PRIO_COUNT = 3,
};

enum thread_state {
	TS_RUNNABLE,		/* on a run queue */
	TS_RUNNING,		/* on a CPU */
	TS_SLEEPING,		/* waiting for a wakeup or a timeout */
	TS_ZOMBIE,		/* exited, waiting for join */
};

#define THREAD_NAME_MAX 24
#define THREAD_LOCKS_TRACKED 4

struct thread {
	uint64_t saved_rsp;		/* arch_switch's save slot: keep first */
	uint64_t id;
	char name[THREAD_NAME_MAX];
	volatile int state;		/* enum thread_state; changed with CAS */
	int prio;			/* enum thread_prio */
	int rq_prio;			/* the FIFO it is on while queued (sched.c) */
	int cpu;			/* CPU it runs on, or last ran on */
	int bound_cpu;			/* -1 when it may run anywhere */
	uint32_t cpus_allowed;		/* unbound: the CPUs it may run on (bit n: CPU n) */
	bool leaving;			/* thread_bind/thread_set_cpus move it: its next
					 * switch must not queue it on this CPU */
	unsigned flags;
	volatile int on_cpu;		/* 1 while its registers are live on a CPU */
	int preempt_count;		/* > 0: no involuntary switch */
	volatile int user_work;		/* THREAD_USER: something to do before ring 3
					 * (the process is dying); next to
					 * preempt_count: the way out tests both at once
					 * (arch/x86_64/syscall.asm) */
	int ticks_left;			/* of the current quantum */
	/* the spinlocks it holds, innermost last (for messages) */
	const char *locks_held[THREAD_LOCKS_TRACKED];
	int nlocks_held;

	void (*fn)(void *);
	void *arg;
	uint8_t *stack;			/* lowest usable byte */
	size_t stack_size;

	struct list rq_link;		/* on a run queue */
	struct list all_link;		/* on the list of all threads */
	struct list timer_link;		/* on the sleep-timeout list */
	uint64_t wake_at_ns;
	uint64_t timeout_prev_scan_ns;	/* see sched_timeouts_expire */
	volatile bool timed_out;
	struct thread *joiner;		/* sleeping in thread_join */

	struct ctxop *ctxops;		/* newest context op, or NULL */
	struct spinlock ctxop_lock;	/* the ring's, against other CPUs' walkers (ctxop.c) */
	uint64_t ctxop_save_tsc;	/* when the switch last ran its save ops (TSC) */
	uint64_t ctxop_restore_tsc;	/* ... and its restore ops */
	uint64_t ctxop_allocs;		/* ops this thread has allocated (ctxop_allocate) */
	bool unstarted;			/* created, not yet runnable: see thread_create */
	int refs;			/* references: see thread_find, thread_rele */
	struct fpu_ctx *fpu;		/* THREAD_FPU: its FPU state (kernel/fpu.c) */

	/* THREAD_USER (kernel/proc.c) */
	struct proc *proc;		/* the process it belongs to */
	struct ipc_tcb *ipc;		/* its IPC state (kernel/ipc.c), from its first IPC call */
	struct vcpu *vcpu;		/* the vCPU it runs in vm_run_user, or NULL (set and
					 * cleared under proc->tlock: a kill kicks it) */
	struct aspace *aspace;		/* its address space; NULL: any (kernel) */
	struct list proc_link;		/* on proc->threads */
	uint64_t user_fs, user_gs;	/* segment bases while off-CPU */
	int stack_slot;			/* its user stack's slot, -1 for the main stack */
	bool exited;			/* left its process (kernel/proc.c) */

	bool killed;			/* ended by a fault (trap_kill_thread) */
	const char *kill_reason;

	/* counters, for tests and the monitor */
	uint64_t switches_in;
	uint64_t preemptions;
};

/* The thread running on this CPU (one per-CPU load, so a preemption cannot
 * split it). */
static inline struct thread *curthread_get(void)
{
	struct thread *t;
	ARCH_PERCPU_READ(t, offsetof(struct cpu, thread));
	return t;
}
#define curthread (curthread_get())

/*
 * Creates a runnable thread at PRIO_NORMAL; may sleep (allocates).
 *
 * Until it is made runnable, inside thread_create, the new thread has not
 * started: t->unstarted is true, and others may still set it up. That is
 * what the FPU op (attached to it first) and the creator's ct_lwp_create
 * handlers see; they may attach context ops to it. thread_create clears
 * the flag under t->ctxop_lock just before the scheduler first sees t, so
 * an attach that found it unstarted has finished by then. From then on
 * only t itself may change its ring (kernel/ctxop.c).
 */
struct thread *thread_create(const char *name, void (*fn)(void *), void *arg, unsigned flags);
/* As thread_create, bound to `cpu` (-1: any) at priority `prio` from the
 * start: for tests and benchmarks that need a thread to run nowhere else. */
struct thread *thread_create_on(const char *name, void (*fn)(void *), void *arg,
				unsigned flags, int cpu, int prio);
/* The two halves of thread_create_on, for kernel/proc.c: a thread set up
 * (its FPU op installed) but not started, whose ring others may still
 * change; and starting it (thread_create_on also runs the creator's
 * ct_lwp_create handlers in between). thread_prepare takes THREAD_USER. */
struct thread *thread_prepare(const char *name, void (*fn)(void *), void *arg, unsigned flags,
			      int cpu, int prio);
/* As thread_prepare, for a thread a user request makes (kernel/proc.c):
 * its struct, kernel stack and FPU op are kernel memory for a user
 * request (KM_USER, docs/mm.md "The reserve"), and when they cannot be
 * had it returns NULL, having taken nothing, instead of panicking. Never
 * sleeps for memory. */
struct thread *thread_try_prepare(const char *name, void (*fn)(void *), void *arg,
				  unsigned flags, int cpu, int prio);
/* Frees a thread that was prepared and never launched (its ops' ct_free
 * run): a request that fails after making its thread. */
void thread_discard(struct thread *t);
void thread_launch(struct thread *t);
/* Waits for t to exit, then frees it: its context ops (ct_free runs),
 * its stack, its place on the list of threads, and the reference its
 * creator holds. Each thread is joined exactly once. The struct itself
 * goes with the last reference (thread_find), so after the join neither
 * the caller nor thread_find sees t again. */
void thread_join(struct thread *t);
/* As thread_join; returns true if t was killed by a fault rather than
 * exiting (and, if reason is not NULL, why). */
bool thread_join_status(struct thread *t, const char **reason);
__noreturn void thread_exit(void);
/* Gives the CPU to another runnable thread of equal or higher priority. */
void thread_yield(void);
/* Sleeps at least ns nanoseconds. */
void thread_sleep(uint64_t ns);
/* Binds the caller to `cpu` and moves it there; -1 unbinds. A binding
 * overrides the CPU mask below. */
void thread_bind(int cpu);
/* Lets the caller run only on the CPUs in `mask` (bit n: CPU n) and moves
 * it off its CPU if that one is not in it; CPU_MASK_ALL lifts the limit.
 * Panics, naming the call, if no online CPU is in the mask. A new thread
 * starts with CPU_MASK_ALL (it does not inherit its creator's). */
#define CPU_MASK_ALL    0xFFFFFFFFu
void thread_set_cpus(uint32_t mask);
/* Sets t's priority (enum thread_prio); takes effect at its next switch. */
void thread_set_priority(struct thread *t, int prio);
void kpreempt_disable(void);
void kpreempt_enable(void);

/* Pages of freed stacks kept for new threads (not in the page allocator's
 * free count, and not a leak). */
size_t thread_stack_cache_pages(void);
/* For the monitor and gdb: walks every thread. */
void thread_print_all(void);
/* Calls fn(t, arg) for every thread, under the thread list's spinlock
 * (interrupts off): fn must not sleep. */
void thread_foreach(void (*fn)(struct thread *t, void *arg), void *arg);
/* For tests, NULL otherwise: called by thread_register once t is on the
 * list of threads (thread_find finds it from then on), no lock held. */
extern void (*thread_register_hook)(struct thread *t);
/*
 * Finds a thread by name or id (the monitor's `ctxops <thread>`) and
 * returns it held, or NULL. A held thread's struct stays readable, even if
 * it is joined meanwhile (its id and name stay; its context ops are gone
 * with the join): drop the reference with thread_rele. Every thread starts
 * with one reference, its creator's, which thread_join drops.
 */
struct thread *thread_find(const char *name_or_id);
void thread_rele(struct thread *t);
const char *thread_state_name(int state);

#endif
