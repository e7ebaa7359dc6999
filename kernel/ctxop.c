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
 *   along prev. A thread with no ops has t->ctxops == NULL, and the switch
 *   pays one test on each side (sched.c).
 *
 * Invariants
 *   - op->owner is the thread whose ring holds op, or NULL.
 *   - The ring is changed only with preemption disabled (illumos 12478),
 *     by the thread itself or on a thread that is not running; the switch
 *     reads it with interrupts off. So a tick never sees a half-linked ring.
 *   - Allocation (which may sleep) is separate from attach (which never
 *     does, illumos 13915/13917): a vCPU allocates once and attaches and
 *     detaches around each run.
 *
 * Timestamps are raw TSC values (one rdtsc per switch side, shared by all
 * of a thread's ops); ctxop_last_*_ns converts them to clock_ns() time.
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

/* Stands in for a missing save or restore handler. */
static void ctxop_nop(void *arg)
{
	(void)arg;
}

struct ctxop *ctxop_allocate(const struct ctxop_template *tpl, void *arg)
{
	if (!tpl)
		panic("ctxop_allocate: NULL template");
	if (tpl->ct_rev != CTXOP_TPL_REV)
		panic("ctxop_allocate: template revision %u, expected %u (CTXOP_TPL_REV)",
		      tpl->ct_rev, CTXOP_TPL_REV);
	sched_assert_can_sleep("ctxop_allocate");
	struct ctxop *op = kmem_zalloc(sizeof(*op), KM_SLEEP);
	op->tpl = *tpl;
	op->arg = arg;
	/* the switch calls these without testing for NULL */
	if (!op->tpl.ct_save)
		op->tpl.ct_save = ctxop_nop;
	if (!op->tpl.ct_restore)
		op->tpl.ct_restore = ctxop_nop;
	return op;
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
}

/* Detach may touch a ring only from its own thread or while it is off-CPU. */
static void check_owner_quiet(const char *fn, struct thread *t)
{
	if (t != curthread && t->on_cpu)
		panic("%s: thread %s is running on CPU %d; only the thread itself may "
		      "change its ring while it runs", fn, t->name, t->cpu);
}

/*
 * With bug=ctxop_attach_unprotected, a preemption between the two halves of
 * the link above finds the ring torn: the oldest op already points at the
 * new one, but the head does not know it yet. On hardware that window is a
 * few instructions wide. Under QEMU's TCG an interrupt is taken only between
 * translated blocks, and these stores sit in one block, so the reproduction
 * widens the window with a short loop (each iteration ends a block). Only
 * the bug switch runs this.
 */
static __attribute__((noinline)) void attach_race_window(void)
{
	for (volatile int i = 0; i < 200; i++)
		;
}

void ctxop_attach(struct thread *t, struct ctxop *op)
{
	if (!t || !op)
		panic("ctxop_attach: NULL %s", t ? "op" : "thread");
	if (op->owner)
		panic("ctxop_attach: op %p is already attached to thread %s", op,
		      op->owner->name);
	check_owner_quiet("ctxop_attach", t);

	bool protect = !bug_on(ctxop_attach_unprotected);
	if (protect)
		kpreempt_disable();
	struct ctxop *head = t->ctxops;
	if (!head) {
		op->next = op->prev = op;
	} else {
		/* new head: in front of the old head, behind the oldest */
		op->next = head;
		op->prev = head->prev;
		head->prev->next = op;
		if (!protect)
			attach_race_window();
		head->prev = op;
	}
	op->owner = t;
	t->ctxops = op;
	if (protect)
		kpreempt_enable();
}

void ctxop_detach(struct thread *t, struct ctxop *op)
{
	if (!t || !op)
		panic("ctxop_detach: NULL %s", t ? "op" : "thread");
	if (op->owner != t)
		panic("ctxop_detach: op %p is not on thread %s's chain (it is %s)", op,
		      t->name, op->owner ? op->owner->name : "not attached");
	check_owner_quiet("ctxop_detach", t);

	kpreempt_disable();
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
	kpreempt_enable();
}

void ctxop_install(struct thread *t, const struct ctxop_template *tpl, void *arg)
{
	ctxop_attach(t, ctxop_allocate(tpl, arg));
}

/* Handler of an op as the caller gave it (NULL where ctxop_nop stands in). */
static void (*given(void (*fn)(void *)))(void *)
{
	return fn == ctxop_nop ? NULL : fn;
}

/* Does op's template hold the handlers of b? */
static bool same_handlers(const struct ctxop_template *a, const struct ctxop_template *b)
{
	return given(a->ct_save) == b->ct_save && given(a->ct_restore) == b->ct_restore &&
	       a->ct_fork == b->ct_fork && a->ct_lwp_create == b->ct_lwp_create &&
	       a->ct_exit == b->ct_exit && a->ct_free == b->ct_free;
}

int ctxop_remove(struct thread *t, const struct ctxop_template *tpl, void *arg)
{
	struct ctxop *head = t->ctxops, *found = NULL;
	if (head) {
		struct ctxop *op = head;
		do {
			if (op->arg == arg && same_handlers(&op->tpl, tpl)) {
				found = op;
				break;
			}
			op = op->next;
		} while (op != head);
	}
	if (!found)
		return 0;
	ctxop_detach(t, found);
	ctxop_free(found);
	return 1;
}

int ctxop_count(const struct thread *t)
{
	int n = 0;
	const struct ctxop *head = t->ctxops, *op = head;
	if (head) {
		do {
			n++;
			op = op->next;
		} while (op != head);
	}
	return n;
}

/* ---- called at every switch, interrupts off ---- */

/*
 * The walks below run at every switch of a thread with ops, interrupts
 * off. They are written for few instructions per op: the trace test is
 * hoisted out of the loop (two loops), and a template's missing save or
 * restore handler was replaced by ctxop_nop at allocation, so the loop
 * calls without testing.
 */
void ctxop_save(struct thread *t)
{
	struct ctxop *head = t->ctxops, *op = head;
	uint64_t now = arch_timestamp();
	if (unlikely(trace_on(TRACE_CTXOP))) {
		do {
			op->save_tsc = now;
			trace_log(TR_CTXOP_SAVE, (uint64_t)op, t->id);
			op->tpl.ct_save(op->arg);
			op = op->next;
		} while (op != head);
		return;
	}
	do {				/* newest to oldest */
		op->save_tsc = now;
		op->tpl.ct_save(op->arg);
		op = op->next;
	} while (op != head);
}

void ctxop_restore(struct thread *t)
{
	struct ctxop *head = t->ctxops;
	uint64_t now = arch_timestamp();
	/* oldest to newest: start at the oldest, walk toward newer ops;
	 * the bug switch walks from the newest the other way, as before 12477 */
	bool reversed = unlikely(bug_on(ctxop_restore_order));
	struct ctxop *first = reversed ? head : head->prev, *op = first;
	if (unlikely(trace_on(TRACE_CTXOP) || reversed)) {
		do {
			op->restore_tsc = now;
			if (trace_on(TRACE_CTXOP))
				trace_log(TR_CTXOP_RESTORE, (uint64_t)op, t->id);
			op->tpl.ct_restore(op->arg);
			op = reversed ? op->next : op->prev;
		} while (op != first);
		return;
	}
	do {
		op->restore_tsc = now;
		op->tpl.ct_restore(op->arg);
		op = op->prev;
	} while (op != first);
}

/* ---- lifecycle: oldest first, like restore ---- */

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

void ctxop_exit(struct thread *t)
{
	FOR_EACH_OLDEST_FIRST(t, op)
		if (op->tpl.ct_exit)
			op->tpl.ct_exit(op->arg);
}

void ctxop_free_all(struct thread *t)
{
	while (t->ctxops) {
		struct ctxop *op = t->ctxops->prev;	/* oldest */
		ctxop_detach(t, op);
		ctxop_free(op);
	}
}

uint64_t ctxop_last_save_ns(const struct ctxop *op)
{
	return op->save_tsc ? arch_timestamp_to_ns(op->save_tsc) : 0;
}

uint64_t ctxop_last_restore_ns(const struct ctxop *op)
{
	return op->restore_tsc ? arch_timestamp_to_ns(op->restore_tsc) : 0;
}

/* ---- observability: the monitor's `ctxops <thread>` ---- */

static void print_handler(const char *what, void *fn)
{
	char name[96] = "-";
	if (fn)
		ksym_format((uint64_t)fn, name, sizeof(name));
	printk("      %-11s %s\n", what, name);
}

void ctxop_print(struct thread *t)
{
	int n = ctxop_count(t);
	printk("thread %lu '%s': %d context op%s, newest first\n", t->id, t->name, n,
	       n == 1 ? "" : "s");
	struct ctxop *head = t->ctxops, *op = head;
	int i = 0;
	if (!head)
		return;
	do {
		printk("  [%d] op %p arg %p  last save %lu ns, last restore %lu ns\n", i++, op,
		       op->arg, ctxop_last_save_ns(op), ctxop_last_restore_ns(op));
		print_handler("save", (void *)given(op->tpl.ct_save));
		print_handler("restore", (void *)given(op->tpl.ct_restore));
		print_handler("fork", (void *)op->tpl.ct_fork);
		print_handler("lwp_create", (void *)op->tpl.ct_lwp_create);
		print_handler("exit", (void *)op->tpl.ct_exit);
		print_handler("free", (void *)op->tpl.ct_free);
		op = op->next;
	} while (op != head);
}

static void cmd_ctxops(const char *args)
{
	if (!*args) {
		printk("usage: ctxops <thread name or id>  ('threads' lists them)\n");
		return;
	}
	struct thread *t = thread_find(args);
	if (!t) {
		printk("ctxops: no thread '%s'\n", args);
		return;
	}
	ctxop_print(t);
}
MONITOR_COMMAND("ctxops", "a thread's context ops, newest first: ctxops <thread>", cmd_ctxops);
