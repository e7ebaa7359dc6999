/*
 * ctxop.h - per-thread context operations (illumos's ctxops).
 *
 * A context op is a set of handlers that run at every switch of one thread:
 * ct_save as it leaves a CPU, ct_restore as it comes back. A thread's ops
 * form a stack: save runs newest first, restore oldest first, so state
 * layered over other state (a vCPU's guest FPU over the thread's own FPU)
 * is put away before what it sits on, and brought back after it.
 *
 *   struct ctxop *op = ctxop_allocate(&tpl, arg);   // may sleep
 *   ctxop_attach(curthread, op);                    // never sleeps
 *   ...
 *   ctxop_detach(curthread, op);                    // unlink, keep op
 *   ctxop_free(op);                                 // runs ct_free(arg, 0)
 *
 * or ctxop_install / ctxop_remove, which allocate and attach, or find,
 * detach and free, in one call. Misuse panics naming the call: a template
 * revision other than CTXOP_TPL_REV, attaching an op that is already on a
 * chain, detaching one that is not on that thread's chain, allocating with
 * preemption disabled or a spinlock held.
 *
 * Lifecycle hooks: ct_lwp_create(parent, child) for each op of a thread
 * that creates a thread (both struct thread *); ct_exit(arg) in the exiting
 * thread; ct_free(arg, 0) when the thread is freed, or when an unattached
 * op is freed. ct_fork(parent, child) runs for each op of a thread that
 * forks its process, with the forking thread and the child's first thread. A missing
 * handler (NULL) is skipped.
 *
 * Who may change a ring (attach, detach, install, remove): the thread
 * itself, or anyone while the thread has not started (t->unstarted: the
 * FPU op and ct_lwp_create handlers attach to a new thread that way).
 * Anything else panics, naming the call. ctxop_count and ctxop_print may
 * look at any thread's ring, running or not (kernel/ctxop.c says how).
 */
#ifndef CTXOP_H
#define CTXOP_H

#include <kernel.h>
#include <arch.h>
#include <bugs.h>
#include <thread.h>
#include <trace.h>

struct thread;

#define CTXOP_TPL_REV 1

struct ctxop_template {
	uint32_t ct_rev;
	void (*ct_save)(void *arg);
	void (*ct_restore)(void *arg);
	void (*ct_fork)(void *parent, void *child);
	void (*ct_lwp_create)(void *parent, void *child);
	void (*ct_exit)(void *arg);
	void (*ct_free)(void *arg, int isexec);
};

struct ctxop {
	struct ctxop_template tpl;	/* a copy: the caller's may go away */
	void *arg;
	struct ctxop *next;		/* toward older ops (save order) */
	struct ctxop *prev;		/* toward newer ops; head->prev is the oldest */
	struct thread *owner;		/* NULL while not attached */
	uint64_t attached_tsc;		/* when it was last attached (TSC) */
	uint64_t save_tsc;		/* its last save (TSC) as of its last detach; */
	uint64_t restore_tsc;		/* since then, see ctxop_last_save_ns */
	/* Whether its last attach and detach came with preemption or
	 * interrupts off (the caller's, not the ring lock's): a vCPU's op must
	 * go on and off in the same step as the guest's FPU (the ctxop lab's
	 * test asks). */
	bool attached_atomic, detached_atomic;
};

struct ctxop *ctxop_allocate(const struct ctxop_template *tpl, void *arg);
/* As ctxop_allocate, with kmem flags: KM_NOSLEEP or KM_USER may give NULL
 * (kernel/proc.c's ops for a user request, which may be refused). */
struct ctxop *ctxop_allocate_flags(const struct ctxop_template *tpl, void *arg, int kmflags);
void ctxop_free(struct ctxop *op);
void ctxop_attach(struct thread *t, struct ctxop *op);
void ctxop_detach(struct thread *t, struct ctxop *op);
void ctxop_install(struct thread *t, const struct ctxop_template *tpl, void *arg);
int ctxop_remove(struct thread *t, const struct ctxop_template *tpl, void *arg);

/* When op last saved / restored, in clock_ns() time; 0 if never. (The
 * switch stamps the ring, once per walk, not each op: while op is on a
 * ring, its last save is the ring's if that came after op was attached.) */
uint64_t ctxop_last_save_ns(const struct ctxop *op);
uint64_t ctxop_last_restore_ns(const struct ctxop *op);
/* Prints t's ops newest first, with handler names and timestamps. Any
 * thread, running or not; takes t's ring lock, so not with it held. */
void ctxop_print(struct thread *t);
/* Ops allocated and not yet freed, on every chain or none (tests: a thread
 * or a process that ends must give its ops back). */
long ctxop_live(void);
/* Number of ops on t's chain. As ctxop_print; also from a handler. */
int ctxop_count(const struct thread *t);

/* For tests, NULL otherwise: called by ctxop_count and ctxop_print at each
 * op they visit, with t's ring lock held and interrupts off; and by the
 * monitor's `ctxops <thread>` between finding the thread and printing it. */
extern void (*ctxop_walk_hook)(struct thread *t, struct ctxop *op);
extern void (*ctxop_found_hook)(struct thread *t);

/* ---- called by the scheduler and the thread code only ---- */

/*
 * The switch's walks, as illumos's savectx/restorectx: the switch calls
 * them for a thread with ops (t->ctxops != NULL), with interrupts off, on
 * the CPU t leaves or enters. Save runs newest to oldest (along next),
 * restore oldest to newest (along prev, from head->prev, ending with the
 * head). Tracing and the bug reproduction that reverses restore take the
 * one early branch to ctxop.c; the loops below are only the correct order.
 *
 * They take no lock: only t changes its ring once it has started, with
 * interrupts off on its own CPU, so no change is ever half done while t
 * switches (kernel/ctxop.c, "Locking").
 *
 * Inline in the scheduler, so a switch pays no call and no frame of its
 * own for them: that pays for testing each handler for NULL in the loop
 * (docs/ctxop.md, "Figures"). The head is read with __atomic_load_n so
 * that the caller's `if (t->ctxops)` stays one compare (the compiler would
 * otherwise keep the value it tested for the loop, an instruction more on
 * every switch, with ops or without).
 */
void ctxop_save_slow(struct thread *t);
void ctxop_restore_slow(struct thread *t);

static inline void ctxop_save(struct thread *t)
{
	if (unlikely(trace_on(TRACE_CTXOP))) {
		ctxop_save_slow(t);
		return;
	}
	t->ctxop_save_tsc = arch_timestamp();
	struct ctxop *op = __atomic_load_n(&t->ctxops, __ATOMIC_RELAXED);
	do {
		if (op->tpl.ct_save)
			op->tpl.ct_save(op->arg);
		op = op->next;
	} while (op != t->ctxops);
}

static inline void ctxop_restore(struct thread *t)
{
	if (unlikely(trace_on(TRACE_CTXOP) || bug_on(ctxop_restore_order))) {
		ctxop_restore_slow(t);
		return;
	}
	t->ctxop_restore_tsc = arch_timestamp();
	struct ctxop *op = __atomic_load_n(&t->ctxops, __ATOMIC_RELAXED);
	/* LAB ctxop BEGIN: the restore walk, oldest first (labs/ctxop.md) */
	do {
		op = op->prev;
		if (op->tpl.ct_restore)
			op->tpl.ct_restore(op->arg);
	} while (op != t->ctxops);
	/* LAB ctxop STUB
	do {			// newest first, as the save walk: illumos before 12477
		if (op->tpl.ct_restore)
			op->tpl.ct_restore(op->arg);
		op = op->next;
	} while (op != t->ctxops);
	LAB ctxop END */
}

void ctxop_lwp_create(struct thread *parent, struct thread *child);
/* Process fork (kernel/proc.c): ct_fork(parent, child) of each of the
 * forking thread's ops, oldest first; child has not started. */
void ctxop_fork(struct thread *parent, struct thread *child);
void ctxop_exit(struct thread *t);
/* The joiner frees a dead thread's ops, oldest first. */
void ctxop_free_all(struct thread *t);

#endif
