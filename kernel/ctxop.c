/*
 * kernel/ctxop.c - context-op chains.
 *
 * Theory
 *   Some state belongs to a thread but lives in the CPU: FPU registers,
 *   a guest's FPU while a vCPU runs, segment bases. A context op lets the
 *   owner of such state save it when the thread leaves a CPU and restore
 *   it when the thread comes back. Ops stack: an op attached later may
 *   hold state layered over an earlier one's (the guest FPU is loaded over
 *   the thread's FPU), so save runs newest first and restore oldest first.
 *   Before illumos 12477, restore also ran newest first: the thread's FPU
 *   restore then ran after the vCPU's and overwrote the guest's registers.
 *
 * The ring
 *   t->ctxops points at the newest op. Ops form a circular doubly linked
 *   list: following next goes newest to oldest, so save walks from the
 *   head along next; head->prev is the oldest, so restore walks from there
 *   along prev, ending with the head. A thread with no ops has
 *   t->ctxops == NULL, and the switch pays one test on each side. The
 *   switch's two walks (ctxop_save, ctxop_restore) are in ctxop.h, inline
 *   in the scheduler; like illumos's savectx/restorectx they skip a missing
 *   handler in the loop. Tracing and bug=ctxop_restore_order take one
 *   early branch out of them, to the slow walks here.
 *
 * Who may change a ring (illumos's ctxop_attach/detach ASSERTs)
 *   Attach, detach and remove accept t == curthread, or a t that has not
 *   started (t->unstarted: created, not yet runnable; see thread.h).
 *   Anything else panics, naming the call. The rule used to be "t is not
 *   running" (on_cpu == 0), which was check-then-act: t could be switched
 *   in between the check and the link, and its restore walk would follow
 *   a half-linked ring. Neither of the allowed cases can switch t in
 *   mid-change: the thread itself changes its ring with interrupts off,
 *   and t->unstarted is cleared under the ring lock (thread.c) before the
 *   scheduler first sees t, so an attach that saw it set is done by then.
 *   The joiner also unlinks a dead thread's ops (ctxop_free_all).
 *
 * Locking
 *   t->ctxop_lock, taken with interrupts off, guards t's ring against
 *   walkers on other CPUs. It is taken by whoever changes the ring
 *   (attach, detach, remove, free_all) and by the walkers that may look
 *   at another thread's ring while it runs: ctxop_count and ctxop_print
 *   (the monitor, the tests, a handler). Interrupts off during a change
 *   also keep the switch out of it on this CPU (illumos 12478's
 *   kpreempt_disable). The walks made on t's own behalf take no lock: the
 *   switch's (on the CPU t leaves or enters) and lwp_create/exit (by t
 *   itself), because t's ring changes only by t, with interrupts off, or
 *   while t cannot run. The lock is a leaf, never held across a switch or
 *   a handler (ctxop_print copies the ring under it, prints outside), so
 *   a handler may call ctxop_count.
 *
 * Invariants
 *   - op->owner is the thread whose ring holds op, or NULL.
 *   - Once t has started, its ring changes only by t itself, under
 *     t->ctxop_lock, interrupts off: a tick never sees it half linked.
 *   - Allocation (which may sleep) is separate from attach (which never
 *     does, illumos 13915/13917): a vCPU allocates once and attaches and
 *     detaches around each run.
 *
 * Timestamps: the switch stamps the thread, once per walk
 * (t->ctxop_save_tsc, t->ctxop_restore_tsc), not each op: a store per op
 * per side cost more than the NULL test. An op's last save is its ring's
 * last save walk if op was attached before it, else what op kept when it
 * was last detached (last_save_tsc below); ctxop_last_*_ns converts to
 * clock_ns() time.
 */
#include <ctxop.h>
#include <arch.h>
#include <bugs.h>
#include <mm.h>
#include <printk.h>
#include <sched.h>
#include <string.h>
#include <thread.h>
#include <timer.h>
#include <trace.h>
#include <ksyms.h>
#include <monitor.h>

BUG_DEFINE(ctxop_restore_order, "restore ops run newest first, like save (illumos 12477)");
BUG_DEFINE(ctxop_attach_unprotected, "attach links the ring without disabling preemption (illumos 12478)");

void (*ctxop_walk_hook)(struct thread *t, struct ctxop *op);
void (*ctxop_found_hook)(struct thread *t);

static long live_ops;		/* allocated and not yet freed: a leak shows here */

long ctxop_live(void)
{
	return __atomic_load_n(&live_ops, __ATOMIC_RELAXED);
}

struct ctxop *ctxop_allocate_flags(const struct ctxop_template *tpl, void *arg, int kmflags)
{
	if (!tpl)
		panic("ctxop_allocate: NULL template");
	if (tpl->ct_rev != CTXOP_TPL_REV)
		panic("ctxop_allocate: template revision %u, expected %u (CTXOP_TPL_REV)",
		      tpl->ct_rev, CTXOP_TPL_REV);
	sched_assert_can_sleep("ctxop_allocate");
	struct ctxop *op = kmem_zalloc(sizeof(*op), kmflags);
	if (!op)
		return NULL;
	op->tpl = *tpl;
	op->arg = arg;
	__atomic_fetch_add(&live_ops, 1, __ATOMIC_RELAXED);
	curthread->ctxop_allocs++;	/* its own: the tests of 13917's split count */
	return op;
}

struct ctxop *ctxop_allocate(const struct ctxop_template *tpl, void *arg)
{
	return ctxop_allocate_flags(tpl, arg, KM_SLEEP);
}

void ctxop_free(struct ctxop *op)
{
	if (!op)
		panic("ctxop_free: NULL op");
	if (op->owner)
		panic("ctxop_free: op %p is still attached to thread %s; detach it first",
		      op, op->owner->name);
	if (op->tpl.ct_free)
		op->tpl.ct_free(op->arg, 0);
	kmem_free(op);
	__atomic_fetch_sub(&live_ops, 1, __ATOMIC_RELAXED);
}

/* ---- changing a ring: t itself, or t not started; ring lock held ---- */

/* Panics unless the caller may change t's ring (see the top of the file). */
static void check_changer(const char *fn, struct thread *t)
{
	if (t != curthread && !t->unstarted)
		panic("%s: thread %s has started; only it may change its ring (caller: %s)",
		      fn, t->name, curthread->name);
}

static void check_attach(struct thread *t, struct ctxop *op)
{
	if (op->owner)
		panic("ctxop_attach: op %p is already attached to thread %s", op,
		      op->owner->name);
	check_changer("ctxop_attach", t);
}

/* TSC of op's last save: its ring's last save walk, if op was on the ring
 * by then, else what op kept from an earlier attachment; 0 if never. */
static uint64_t last_save_tsc(const struct ctxop *op)
{
	const struct thread *t = op->owner;
	if (!op->tpl.ct_save)
		return 0;
	return t && t->ctxop_save_tsc > op->attached_tsc ? t->ctxop_save_tsc : op->save_tsc;
}

static uint64_t last_restore_tsc(const struct ctxop *op)
{
	const struct thread *t = op->owner;
	if (!op->tpl.ct_restore)
		return 0;
	return t && t->ctxop_restore_tsc > op->attached_tsc ? t->ctxop_restore_tsc
							     : op->restore_tsc;
}

/*
 * Attaching makes op the new head, in two halves. The first points op
 * into the ring (next: the old head, prev: the oldest) and the oldest at
 * op; the second points the old head back at op and makes op the head.
 * Between the two the ring is torn: walking next from the head visits op
 * last, and walking prev from head->prev starts at it.
 */
static void link_first_half(struct thread *t, struct ctxop *op)
{
	struct ctxop *head = t->ctxops;
	op->attached_tsc = arch_timestamp();
	if (!head) {
		op->next = op->prev = op;
		return;
	}
	op->next = head;
	op->prev = head->prev;
	head->prev->next = op;
}

static void link_second_half(struct thread *t, struct ctxop *op)
{
	if (t->ctxops)
		t->ctxops->prev = op;
	op->owner = t;
	t->ctxops = op;
}

/* Takes op off t's ring; it keeps its timestamps. */
static void unlink_op(struct thread *t, struct ctxop *op)
{
	op->save_tsc = last_save_tsc(op);
	op->restore_tsc = last_restore_tsc(op);
	if (op->next == op) {
		t->ctxops = NULL;		/* it was the only one */
	} else {
		op->prev->next = op->next;
		op->next->prev = op->prev;
		if (t->ctxops == op)
			t->ctxops = op->next;	/* the next older becomes newest */
	}
	op->next = op->prev = NULL;
	op->owner = NULL;
}

/*
 * bug=ctxop_attach_unprotected: attach as before illumos 12478, without
 * the lock and with preemption enabled, so a tick between the two halves
 * finds the ring torn. On hardware that window is a few instructions
 * wide. Under QEMU's TCG an interrupt is taken only between translated
 * blocks, and the stores sit in one block, so the reproduction widens the
 * window with a short loop (each iteration ends a block).
 */
static __attribute__((noinline)) void attach_unprotected(struct thread *t, struct ctxop *op)
{
	check_attach(t, op);
	link_first_half(t, op);
	for (volatile int i = 0; i < 200; i++)
		;
	link_second_half(t, op);
}

void ctxop_attach(struct thread *t, struct ctxop *op)
{
	if (!t || !op)
		panic("ctxop_attach: NULL %s", t ? "op" : "thread");
	bool atomic = curthread->preempt_count > 0 || !arch_irq_enabled();
	if (unlikely(bug_on(ctxop_attach_unprotected))) {
		attach_unprotected(t, op);
		return;
	}
	unsigned long flags = spin_lock_irqsave(&t->ctxop_lock);
	check_attach(t, op);
	op->attached_atomic = atomic;
	link_first_half(t, op);
	link_second_half(t, op);
	spin_unlock_irqrestore(&t->ctxop_lock, flags);
}

void ctxop_detach(struct thread *t, struct ctxop *op)
{
	if (!t || !op)
		panic("ctxop_detach: NULL %s", t ? "op" : "thread");
	bool atomic = curthread->preempt_count > 0 || !arch_irq_enabled();
	unsigned long flags = spin_lock_irqsave(&t->ctxop_lock);
	op->detached_atomic = atomic;
	if (op->owner != t)
		panic("ctxop_detach: op %p is not on thread %s's chain (it is %s)", op,
		      t->name, op->owner ? op->owner->name : "not attached");
	check_changer("ctxop_detach", t);
	unlink_op(t, op);
	spin_unlock_irqrestore(&t->ctxop_lock, flags);
}

void ctxop_install(struct thread *t, const struct ctxop_template *tpl, void *arg)
{
	ctxop_attach(t, ctxop_allocate(tpl, arg));
}

/* Does op's template hold the handlers of b? */
static bool same_handlers(const struct ctxop_template *a, const struct ctxop_template *b)
{
	return a->ct_save == b->ct_save && a->ct_restore == b->ct_restore &&
	       a->ct_fork == b->ct_fork && a->ct_lwp_create == b->ct_lwp_create &&
	       a->ct_exit == b->ct_exit && a->ct_free == b->ct_free;
}

int ctxop_remove(struct thread *t, const struct ctxop_template *tpl, void *arg)
{
	unsigned long flags = spin_lock_irqsave(&t->ctxop_lock);
	check_changer("ctxop_remove", t);
	struct ctxop *head = t->ctxops, *op = head, *found = NULL;
	if (head) {
		do {
			if (op->arg == arg && same_handlers(&op->tpl, tpl)) {
				found = op;
				unlink_op(t, op);
				break;
			}
			op = op->next;
		} while (op != head);
	}
	spin_unlock_irqrestore(&t->ctxop_lock, flags);
	if (!found)
		return 0;
	ctxop_free(found);	/* ct_free may do anything: not under the lock */
	return 1;
}

/* ---- walkers for any thread, running or not: under its ring lock ---- */

struct op_copy {
	const struct ctxop *at;
	struct ctxop_template tpl;
	void *arg;
	uint64_t save_tsc, restore_tsc;
};

/* Copies t's first `max` ops, newest first, into out (which may be NULL
 * if max is 0); returns how many ops the ring holds. */
static int ring_copy(struct thread *t, struct op_copy *out, int max)
{
	int n = 0;
	unsigned long flags = spin_lock_irqsave(&t->ctxop_lock);
	struct ctxop *head = t->ctxops, *op = head;
	if (head) {
		do {
			if (unlikely(ctxop_walk_hook))
				ctxop_walk_hook(t, op);
			if (n < max)
				out[n] = (struct op_copy){ op, op->tpl, op->arg, last_save_tsc(op),
							   last_restore_tsc(op) };
			n++;
			op = op->next;
		} while (op != head);
	}
	spin_unlock_irqrestore(&t->ctxop_lock, flags);
	return n;
}

int ctxop_count(const struct thread *t)
{
	/* the lock is not part of the ring's value: t stays const to callers */
	return ring_copy((struct thread *)t, NULL, 0);
}

/* ---- the slow walks: tracing on, or a bug reproduction ---- */

void ctxop_save_slow(struct thread *t)
{
	t->ctxop_save_tsc = arch_timestamp();
	struct ctxop *op = t->ctxops;
	do {				/* newest to oldest, as ctxop_save */
		if (op->tpl.ct_save) {
			trace_log3(TR_CTXOP_SAVE, (uint64_t)op, t->id,
				   (uint64_t)op->tpl.ct_save);
			op->tpl.ct_save(op->arg);
		}
		op = op->next;
	} while (op != t->ctxops);
}

static void restore_one(struct thread *t, struct ctxop *op)
{
	if (!op->tpl.ct_restore)
		return;
	if (trace_on(TRACE_CTXOP))
		trace_log3(TR_CTXOP_RESTORE, (uint64_t)op, t->id, (uint64_t)op->tpl.ct_restore);
	op->tpl.ct_restore(op->arg);
}

void ctxop_restore_slow(struct thread *t)
{
	t->ctxop_restore_tsc = arch_timestamp();
	struct ctxop *op = t->ctxops;
	if (bug_on(ctxop_restore_order)) {
		do {			/* newest to oldest, as before illumos 12477 */
			restore_one(t, op);
			op = op->next;
		} while (op != t->ctxops);
		return;
	}
	/* LAB ctxop BEGIN: the same walk with tracing (labs/ctxop.md) */
	do {				/* oldest to newest, as ctxop_restore */
		op = op->prev;
		restore_one(t, op);
	} while (op != t->ctxops);
	/* LAB ctxop STUB
	do {
		restore_one(t, op);
		op = op->next;
	} while (op != t->ctxops);
	LAB ctxop END */
}

/* ---- lifecycle: oldest first, like restore ---- */

/* Walks of t's ring by t itself (or its creator, for the parent): no lock. */
#define FOR_EACH_OLDEST_FIRST(t, op)                                          \
	for (struct ctxop *op##_first = (t)->ctxops ? (t)->ctxops->prev : NULL, \
			  *op = op##_first;                                     \
	     op; op = op->prev == op##_first ? NULL : op->prev)

void ctxop_lwp_create(struct thread *parent, struct thread *child)
{
	if (!parent)
		return;
	FOR_EACH_OLDEST_FIRST(parent, op)
		if (op->tpl.ct_lwp_create)
			op->tpl.ct_lwp_create(parent, child);
}

/* fork: the forking thread's ops, oldest first, each told of the child
 * (which has not started: a handler may attach ops to it). */
void ctxop_fork(struct thread *parent, struct thread *child)
{
	FOR_EACH_OLDEST_FIRST(parent, op)
		if (op->tpl.ct_fork)
			op->tpl.ct_fork(parent, child);
}

void ctxop_exit(struct thread *t)
{
	FOR_EACH_OLDEST_FIRST(t, op)
		if (op->tpl.ct_exit)
			op->tpl.ct_exit(op->arg);
}

void ctxop_free_all(struct thread *t)
{
	for (;;) {
		/* under the lock: a holder (the monitor) may be walking it */
		unsigned long flags = spin_lock_irqsave(&t->ctxop_lock);
		struct ctxop *op = t->ctxops ? t->ctxops->prev : NULL;	/* oldest */
		if (op)
			unlink_op(t, op);
		spin_unlock_irqrestore(&t->ctxop_lock, flags);
		if (!op)
			return;
		ctxop_free(op);
	}
}

static uint64_t tsc_to_ns(uint64_t tsc)
{
	return tsc ? arch_timestamp_to_ns(tsc) : 0;
}

uint64_t ctxop_last_save_ns(const struct ctxop *op)
{
	return tsc_to_ns(last_save_tsc(op));
}

uint64_t ctxop_last_restore_ns(const struct ctxop *op)
{
	return tsc_to_ns(last_restore_tsc(op));
}

/* ---- observability: the monitor's `ctxops <thread>` ---- */

#define PRINT_MAX 16		/* ops ctxop_print shows; it counts the rest */

static void print_handler(const char *what, void *fn)
{
	char name[96] = "-";
	if (fn)
		ksym_format((uint64_t)fn, name, sizeof(name));
	printk("      %-11s %s\n", what, name);
}

void ctxop_print(struct thread *t)
{
	struct op_copy ops[PRINT_MAX];
	int n = ring_copy(t, ops, PRINT_MAX);
	printk("thread %lu '%s': %d context op%s, newest first\n", t->id, t->name, n,
	       n == 1 ? "" : "s");
	for (int i = 0; i < MIN(n, PRINT_MAX); i++) {
		const struct op_copy *c = &ops[i];
		printk("  [%d] op %p arg %p  last save %lu ns, last restore %lu ns\n", i, c->at,
		       c->arg, tsc_to_ns(c->save_tsc), tsc_to_ns(c->restore_tsc));
		print_handler("save", (void *)c->tpl.ct_save);
		print_handler("restore", (void *)c->tpl.ct_restore);
		print_handler("fork", (void *)c->tpl.ct_fork);
		print_handler("lwp_create", (void *)c->tpl.ct_lwp_create);
		print_handler("exit", (void *)c->tpl.ct_exit);
		print_handler("free", (void *)c->tpl.ct_free);
	}
	if (n > PRINT_MAX)
		printk("  ... and %d older\n", n - PRINT_MAX);
}

static void cmd_ctxops(const char *args)
{
	if (!*args) {
		printk("usage: ctxops <thread name or id>  ('threads' lists them)\n");
		return;
	}
	struct thread *t = thread_find(args);	/* held: it cannot be freed under us */
	if (!t) {
		printk("ctxops: no thread '%s'\n", args);
		return;
	}
	if (unlikely(ctxop_found_hook))
		ctxop_found_hook(t);
	ctxop_print(t);
	thread_rele(t);
}
MONITOR_COMMAND("ctxops", "a thread's context ops, newest first: ctxops <thread>", cmd_ctxops);
