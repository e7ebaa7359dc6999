/*
 * tests/ctxop/ctxop_test.c - context-op chains: order, missing handlers,
 * attach/detach, lifecycle hooks, timestamps, misuse, and a stress test
 * checked by an invariant. (Who may change a ring, and the walkers of a
 * running thread's ring: ctxop_rules_test.c.)
 *
 * Order is checked two ways: by calling the switch's own ctxop_save /
 * ctxop_restore directly (interrupts off, as the switch does), and through
 * real switches, read back from the trace rings.
 */
#include <ktest.h>
#include <arch.h>
#include <bugs.h>
#include <ctxop.h>
#include <mm.h>
#include <sched.h>
#include <string.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>
#include <trace.h>

#define MS 1000000ULL
#define MAX_OPS 64

/* A log of handler calls: +idx+1 for a save, -(idx+1) for a restore. */
static volatile int calls[4 * MAX_OPS];
static volatile int ncalls;

static void log_call(int v)
{
	int i = __atomic_fetch_add(&ncalls, 1, __ATOMIC_SEQ_CST);
	if (i < (int)ARRAY_SIZE(calls))
		calls[i] = v;
}

static void save_idx(void *arg) { log_call((int)(uintptr_t)arg + 1); }
static void restore_idx(void *arg) { log_call(-((int)(uintptr_t)arg + 1)); }

static const struct ctxop_template idx_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = save_idx,
	.ct_restore = restore_idx,
};

/* Detaches (if attached) and frees ops[0..n). */
static void free_all_of(struct thread *t, struct ctxop **ops, int n)
{
	for (int i = 0; i < n; i++) {
		if (ops[i]->owner)
			ctxop_detach(t, ops[i]);
		ctxop_free(ops[i]);
	}
}

static void free_all(struct ctxop **ops, int n)
{
	free_all_of(curthread, ops, n);
}

/* One save and one restore of t's chain, as a switch would run them. */
static void run_switch_ops(struct thread *t)
{
	/* Outside a switch the FPU op would read c->switch_next, the thread of
	 * this CPU's last real switch, which may have ended and been freed
	 * since (a page fault in fpu_ctx_save on smp4 once): the walks run
	 * only on a thread without THREAD_FPU, whose chain is the test's. */
	KT_ASSERT(!(t->flags & THREAD_FPU));
	unsigned long f = arch_irq_save();
	ncalls = 0;
	ctxop_save(t);
	ctxop_restore(t);
	arch_irq_restore(f);
}

/*
 * The tests of the ring's shape start from an empty chain. The runner's
 * case thread has THREAD_FPU, and so an FPU op on its chain from birth
 * (the oldest, kernel/fpu.c); these bodies run in a thread created
 * without THREAD_FPU instead, whose chain is empty.
 */
struct plain_call {
	void (*fn)(int);
	int arg;
};

static void plain_main(void *p)
{
	struct plain_call *c = p;
	c->fn(c->arg);
}

static void in_plain_thread(void (*fn)(int), int arg)
{
	struct plain_call c = { fn, arg };
	thread_join(thread_create("ctxop-plain", plain_main, &c, 0));
}

/* Checks the log of run_switch_ops: saves newest..oldest, restores oldest..newest.
 * `idx` lists the ops' indexes oldest first. */
static bool order_is_stack(const int *idx, int n)
{
	if (ncalls != 2 * n)
		return false;
	for (int i = 0; i < n; i++) {
		if (calls[i] != idx[n - 1 - i] + 1)
			return false;		/* save: newest first */
		if (calls[n + i] != -(idx[i] + 1))
			return false;		/* restore: oldest first */
	}
	return true;
}

static void check_order_with(int n)
{
	struct ctxop *ops[MAX_OPS];
	int idx[MAX_OPS];
	struct thread *me = curthread;
	for (int i = 0; i < n; i++) {
		ops[i] = ctxop_allocate(&idx_tpl, (void *)(uintptr_t)i);
		ctxop_attach(me, ops[i]);
		idx[i] = i;
	}
	KT_EXPECT_EQ(ctxop_count(me), n);
	run_switch_ops(me);
	KT_EXPECT(order_is_stack(idx, n));
	for (int i = 0; i < n; i++) {
		ctxop_detach(me, ops[i]);
		ctxop_free(ops[i]);
	}
	KT_EXPECT_EQ(ctxop_count(me), 0);
	KT_EXPECT(me->ctxops == NULL);
}

KTEST(ctxop, order_1_op) { in_plain_thread(check_order_with, 1); }
KTEST(ctxop, order_2_ops) { in_plain_thread(check_order_with, 2); }
KTEST(ctxop, order_5_ops) { in_plain_thread(check_order_with, 5); }
KTEST(ctxop, order_64_ops) { in_plain_thread(check_order_with, 64); }

/* ---- a missing handler is skipped, in either direction ---- */

static const struct ctxop_template save_only_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = save_idx,
};

static const struct ctxop_template restore_only_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_restore = restore_idx,
};

static void missing_handlers(int unused)
{
	(void)unused;
	struct thread *me = curthread;
	struct ctxop *ops[3] = {
		ctxop_allocate(&save_only_tpl, (void *)0),	/* oldest */
		ctxop_allocate(&restore_only_tpl, (void *)1),
		ctxop_allocate(&idx_tpl, (void *)2),		/* newest */
	};
	for (int i = 0; i < 3; i++)
		ctxop_attach(me, ops[i]);
	run_switch_ops(me);
	/* saves newest first, without 1; restores oldest first, without 0 */
	KT_EXPECT_EQ(ncalls, 4);
	KT_EXPECT_EQ(calls[0], 3);
	KT_EXPECT_EQ(calls[1], 1);
	KT_EXPECT_EQ(calls[2], -2);
	KT_EXPECT_EQ(calls[3], -3);
	KT_EXPECT_EQ(ctxop_last_restore_ns(ops[0]), 0);	/* it never restores */
	KT_EXPECT_EQ(ctxop_last_save_ns(ops[1]), 0);	/* nor this one saves */
	KT_EXPECT(ctxop_last_save_ns(ops[0]) != 0);
	KT_EXPECT(ctxop_last_restore_ns(ops[1]) != 0);
	free_all_of(me, ops, 3);
}

KTEST(ctxop, missing_handlers_are_skipped)
{
	in_plain_thread(missing_handlers, 0);
}

/* ---- detach from each position, re-attach ---- */

static void attach_three(struct ctxop **ops)
{
	for (int i = 0; i < 3; i++) {
		ops[i] = ctxop_allocate(&idx_tpl, (void *)(uintptr_t)i);
		ctxop_attach(curthread, ops[i]);
	}
}


static void detach_each_position(int unused)
{
	(void)unused;
	struct ctxop *ops[3];
	struct thread *me = curthread;

	attach_three(ops);			/* newest is 2: the head */
	ctxop_detach(me, ops[2]);
	run_switch_ops(me);
	KT_EXPECT(order_is_stack((int[]){ 0, 1 }, 2));
	KT_EXPECT(me->ctxops == ops[1]);
	free_all(ops, 3);

	attach_three(ops);
	ctxop_detach(me, ops[1]);		/* the middle */
	run_switch_ops(me);
	KT_EXPECT(order_is_stack((int[]){ 0, 2 }, 2));
	free_all(ops, 3);

	attach_three(ops);
	ctxop_detach(me, ops[0]);		/* the tail: the oldest */
	run_switch_ops(me);
	KT_EXPECT(order_is_stack((int[]){ 1, 2 }, 2));
	KT_EXPECT(me->ctxops->prev == ops[1]);	/* the new oldest */
	free_all(ops, 3);

	struct ctxop *one = ctxop_allocate(&idx_tpl, (void *)0);
	ctxop_attach(me, one);
	ctxop_detach(me, one);			/* the last one */
	KT_EXPECT(me->ctxops == NULL);
	KT_EXPECT(one->owner == NULL);
	ctxop_free(one);
}

KTEST(ctxop, detach_head_middle_tail_and_last)
{
	in_plain_thread(detach_each_position, 0);
}

static void reattach(int unused)
{
	(void)unused;
	struct ctxop *ops[3];
	struct thread *me = curthread;
	attach_three(ops);
	ctxop_detach(me, ops[0]);
	ctxop_attach(me, ops[0]);		/* oldest, now newest */
	run_switch_ops(me);
	KT_EXPECT(order_is_stack((int[]){ 1, 2, 0 }, 3));
	free_all(ops, 3);
}

KTEST(ctxop, detached_op_reattached_becomes_newest)
{
	in_plain_thread(reattach, 0);
}

/* ---- remove ---- */

static volatile int freed_with;

static void free_note(void *arg, int isexec)
{
	freed_with = (int)(uintptr_t)arg * 10 + isexec;
}

static const struct ctxop_template freeing_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = save_idx,
	.ct_restore = restore_idx,
	.ct_free = free_note,
};

static void remove_matching(int unused)
{
	(void)unused;
	struct thread *me = curthread;
	freed_with = -1;
	ctxop_install(me, &freeing_tpl, (void *)7);
	ctxop_install(me, &idx_tpl, (void *)7);
	KT_EXPECT_EQ(ctxop_count(me), 2);
	KT_EXPECT_EQ(ctxop_remove(me, &freeing_tpl, (void *)8), 0);	/* other arg */
	struct ctxop_template other = freeing_tpl;
	other.ct_exit = (void (*)(void *))save_idx;			/* other handlers */
	KT_EXPECT_EQ(ctxop_remove(me, &other, (void *)7), 0);
	KT_EXPECT_EQ(freed_with, -1);
	KT_EXPECT_EQ(ctxop_remove(me, &freeing_tpl, (void *)7), 1);
	KT_EXPECT_EQ(freed_with, 70);		/* ct_free(arg, 0) ran */
	KT_EXPECT_EQ(ctxop_count(me), 1);
	KT_EXPECT_EQ(ctxop_remove(me, &freeing_tpl, (void *)7), 0);	/* gone */
	KT_EXPECT_EQ(ctxop_remove(me, &idx_tpl, (void *)7), 1);
	KT_EXPECT_EQ(ctxop_count(me), 0);
}

KTEST(ctxop, remove_matches_handlers_and_arg)
{
	in_plain_thread(remove_matching, 0);
}

KTEST(ctxop, free_of_unattached_op_runs_ct_free)
{
	freed_with = -1;
	struct ctxop *op = ctxop_allocate(&freeing_tpl, (void *)3);
	KT_EXPECT_EQ(freed_with, -1);
	ctxop_free(op);
	KT_EXPECT_EQ(freed_with, 30);
}

/* ---- lifecycle hooks ---- */

static struct thread *volatile seen_parent, *volatile seen_child, *volatile seen_exit_in;
static volatile int seen_free_arg = -1;

static void lc_lwp_create(void *parent, void *child)
{
	seen_parent = parent;
	seen_child = child;
}

static void lc_exit(void *arg)
{
	(void)arg;
	seen_exit_in = curthread;
}

static void lc_free(void *arg, int isexec)
{
	seen_free_arg = (int)(uintptr_t)arg + isexec;
}

static const struct ctxop_template lifecycle_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_exit = lc_exit,
	.ct_free = lc_free,
};

static const struct ctxop_template creator_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_lwp_create = lc_lwp_create,
};

static struct thread *volatile child_self;

static void child_installs_and_exits(void *arg)
{
	(void)arg;
	child_self = curthread;
	ctxop_install(curthread, &lifecycle_tpl, (void *)5);
}

KTEST(ctxop, lifecycle_hooks_see_the_right_threads)
{
	struct thread *me = curthread;
	seen_parent = seen_child = seen_exit_in = NULL;
	seen_free_arg = -1;
	ctxop_install(me, &creator_tpl, NULL);
	struct thread *child = thread_create("child", child_installs_and_exits, NULL, 0);
	KT_EXPECT(seen_parent == me);		/* lwp_create(parent, child) */
	KT_EXPECT(seen_child == child);
	thread_join(child);
	KT_EXPECT(seen_exit_in == child_self);	/* exit ran in the exiting thread */
	KT_EXPECT(child_self == child);
	KT_EXPECT_EQ(seen_free_arg, 5);		/* free(arg, 0) when it was freed */
	KT_EXPECT_EQ(ctxop_remove(me, &creator_tpl, NULL), 1);
}

/* ---- timestamps ---- */

/*
 * Sleeps until the caller has been switched out and back in; returns
 * whether it was. Not every sleep switches: when the host holds QEMU up
 * for longer than the sleep, the timeout can wake the thread before
 * schedule() has switched away, and it goes on without a switch (and
 * without a save). So it sleeps again until a switch has happened.
 */
static bool switch_out_and_in(void)
{
	struct thread *me = curthread;
	uint64_t switches = me->switches_in;
	for (int i = 0; i < 100 && me->switches_in == switches; i++)
		thread_sleep(2 * MS);
	return me->switches_in != switches;
}

KTEST(ctxop, timestamps_record_last_save_and_restore)
{
	struct thread *me = curthread;
	struct ctxop *op = ctxop_allocate(&idx_tpl, (void *)0);
	KT_EXPECT_EQ(ctxop_last_save_ns(op), 0);
	ctxop_attach(me, op);
	uint64_t before = clock_ns();
	bool switched = switch_out_and_in();
	uint64_t after = clock_ns();
	KT_ASSERT(switched);
	KT_EXPECT(ctxop_last_save_ns(op) >= before);
	KT_EXPECT(ctxop_last_restore_ns(op) >= ctxop_last_save_ns(op));
	KT_EXPECT(ctxop_last_restore_ns(op) <= after);
	ctxop_detach(me, op);
	ctxop_free(op);
}

/* The switch stamps the ring, not each op: an op attached after the
 * ring's last switch has not been saved yet, and a detached op keeps the
 * stamps of its last switch on the ring. */
KTEST(ctxop, timestamps_follow_attach_and_detach)
{
	struct thread *me = curthread;
	KT_ASSERT(switch_out_and_in());		/* the ring has a stamp now */
	KT_ASSERT(me->ctxop_save_tsc != 0);

	struct ctxop *op = ctxop_allocate(&idx_tpl, (void *)0);
	ctxop_attach(me, op);
	KT_EXPECT_EQ(ctxop_last_save_ns(op), 0);	/* not since it came */
	KT_EXPECT_EQ(ctxop_last_restore_ns(op), 0);

	KT_ASSERT(switch_out_and_in());
	uint64_t saved = ctxop_last_save_ns(op), restored = ctxop_last_restore_ns(op);
	KT_EXPECT(saved != 0);
	KT_EXPECT(restored >= saved);

	ctxop_detach(me, op);
	KT_ASSERT(switch_out_and_in());		/* without it */
	KT_EXPECT_EQ(ctxop_last_save_ns(op), saved);	/* it kept its own */
	KT_EXPECT_EQ(ctxop_last_restore_ns(op), restored);
	ctxop_attach(me, op);				/* back: still its own */
	KT_EXPECT_EQ(ctxop_last_save_ns(op), saved);
	ctxop_detach(me, op);
	ctxop_free(op);
}

/* ---- misuse ---- */

KTEST_EXPECT_PANIC(ctxop, bad_template_revision_panics, "ctxop_allocate: template revision 2")
{
	struct ctxop_template bad = idx_tpl;
	bad.ct_rev = 2;
	ctxop_allocate(&bad, NULL);
}

KTEST_EXPECT_PANIC(ctxop, attach_twice_panics, "ctxop_attach: op")
{
	struct ctxop *op = ctxop_allocate(&idx_tpl, NULL);
	ctxop_attach(curthread, op);
	ctxop_attach(curthread, op);
}

KTEST_EXPECT_PANIC(ctxop, detach_not_on_chain_panics, "ctxop_detach: op")
{
	struct ctxop *op = ctxop_allocate(&idx_tpl, NULL);
	ctxop_detach(curthread, op);
}

KTEST_EXPECT_PANIC(ctxop, allocate_with_preemption_disabled_panics,
		   "ctxop_allocate: sleeping with preemption disabled")
{
	kpreempt_disable();
	ctxop_allocate(&idx_tpl, NULL);
}

KTEST_EXPECT_PANIC(ctxop, free_attached_op_panics, "ctxop_free: op")
{
	struct ctxop *op = ctxop_allocate(&idx_tpl, NULL);
	ctxop_attach(curthread, op);
	ctxop_free(op);
}

/* ---- the layered-FPU model (illumos 12477) through real switches ----
 *
 * model_reg[cpu] stands for one CPU's FPU registers. The thread's op
 * (attached first) saves them into the thread's area and restores them.
 * The guest's op (attached over it, as bhyve does for each VM run) keeps
 * the guest's values loaded while the vCPU runs: on save it stores the
 * guest values and puts the host's back (so the thread's op then saves the
 * host's), on restore it stashes the host's and loads the guest's again.
 * That only works if the thread's restore runs first: restoring newest
 * first lets the thread's restore run last and overwrite the guest's
 * values, and the layered value comes back wrong. */

struct layer {
	uint64_t slot;		/* saved values of this layer */
	uint64_t stash;		/* guest layer: the host values it displaced */
};

static volatile uint64_t model_reg[MAX_CPUS];

static void host_save(void *arg)
{
	((struct layer *)arg)->slot = model_reg[cpu_id()];
}

static void host_restore(void *arg)
{
	model_reg[cpu_id()] = ((struct layer *)arg)->slot;
}

static void guest_save(void *arg)
{
	struct layer *l = arg;
	l->slot = model_reg[cpu_id()];
	model_reg[cpu_id()] = l->stash;
}

static void guest_restore(void *arg)
{
	struct layer *l = arg;
	l->stash = model_reg[cpu_id()];
	model_reg[cpu_id()] = l->slot;
}

static const struct ctxop_template layer_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = host_save,
	.ct_restore = host_restore,
};

static const struct ctxop_template guest_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = guest_save,
	.ct_restore = guest_restore,
};

#define GUEST_VALUE 0x6e657374ULL		/* what the guest put in the register */
#define HOST_VALUE  0x686f7374ULL

static volatile bool layer_stop;

static void layer_spin(void *arg)
{
	(void)arg;
	while (!layer_stop)
		thread_yield();
}

/* Switches many times with the guest layer loaded; returns how many times
 * the register held something else than the guest's value afterwards. */
static int layered_mismatches(void)
{
	struct thread *me = curthread;
	int cpu = cpu_count() - 1;
	thread_bind(cpu);
	layer_stop = false;
	struct thread *other = thread_create_on("other", layer_spin, NULL, 0, cpu, PRIO_NORMAL);

	struct layer host = { .slot = HOST_VALUE }, guest = { .slot = 0 };
	kpreempt_disable();
	model_reg[cpu] = HOST_VALUE;
	kpreempt_enable();
	ctxop_install(me, &layer_tpl, &host);		/* the thread's own FPU */
	struct ctxop *gop = ctxop_allocate(&guest_tpl, &guest);
	kpreempt_disable();
	ctxop_attach(me, gop);				/* the guest's, over it */
	guest.stash = model_reg[cpu];			/* enter guest context */
	model_reg[cpu] = GUEST_VALUE;
	kpreempt_enable();

	int bad = 0;
	for (int i = 0; i < 200; i++) {
		thread_yield();
		kpreempt_disable();
		if (model_reg[cpu_id()] != GUEST_VALUE)
			bad++;
		model_reg[cpu_id()] = GUEST_VALUE;	/* repair, keep counting */
		kpreempt_enable();
	}
	kpreempt_disable();
	ctxop_detach(me, gop);				/* leave guest context */
	model_reg[cpu_id()] = guest.stash;
	kpreempt_enable();
	ctxop_free(gop);
	KT_EXPECT_EQ(ctxop_remove(me, &layer_tpl, &host), 1);
	layer_stop = true;
	thread_join(other);
	thread_bind(-1);
	return bad;
}

KTEST(ctxop, layered_state_survives_switches)
{
	KT_EXPECT_EQ(layered_mismatches(), 0);
}

KTEST(ctxop, restore_order_bug_detector_trips)
{
	bool was = bug_on(ctxop_restore_order);
	bug_set("ctxop_restore_order", true);
	int bad = layered_mismatches();
	bug_set("ctxop_restore_order", was);
	KT_LOG("with bug=ctxop_restore_order: %d of 200 switch-ins lost the guest value", bad);
	KT_EXPECT(bad > 0);
}

/* ---- stress: attach and detach while preempted, on every CPU ----
 *
 * Every op carries a serial number, taken from a global counter just before
 * it is attached, so on any chain newer ops have larger serials. The
 * handlers check, online, on the CPU where they run (interrupts are off):
 *   - a save group visits the whole chain (ctxop_count of its thread),
 *     serials strictly decreasing: newest first;
 *   - a restore group visits the whole chain, serials strictly increasing;
 *   - a thread's restore group shows exactly the ops (sum and xor of
 *     serials) of its last save group: nothing changed while it was away.
 * Any breach is counted; the test wants none.
 */

#define STRESS_OPS 6

struct stress_op {
	struct thread *owner;
	uint64_t serial;
};

struct group {			/* per CPU: the group being run */
	struct thread *thread;
	bool saving;
	int seen, expect;
	uint64_t last, sum, xor;
};

struct saved_set {		/* per thread: what its last save group held */
	uint64_t sum, xor;
	int n;
	bool valid;
};

static struct group groups[MAX_CPUS];
static volatile uint64_t stress_serial;
static volatile uint64_t breaches, groups_checked;
static volatile bool stress_stop;

#define STRESS_THREADS_MAX (2 * MAX_CPUS)
static struct thread *stress_threads[STRESS_THREADS_MAX];
static struct saved_set saved_sets[STRESS_THREADS_MAX];

static struct saved_set *set_of(struct thread *t)
{
	for (int i = 0; i < STRESS_THREADS_MAX; i++)
		if (stress_threads[i] == t)
			return &saved_sets[i];
	return NULL;
}

static void breach(void)
{
	__atomic_fetch_add(&breaches, 1, __ATOMIC_RELAXED);
}

/* Ends the group in progress on this CPU, checking it was complete. */
static void close_group(struct group *g)
{
	if (!g->thread)
		return;
	if (g->seen != g->expect)
		breach();
	struct saved_set *s = set_of(g->thread);
	if (s) {
		if (g->saving) {
			*s = (struct saved_set){ g->sum, g->xor, g->seen, true };
		} else if (s->valid && (s->sum != g->sum || s->xor != g->xor || s->n != g->seen)) {
			breach();
		}
	}
	__atomic_fetch_add(&groups_checked, 1, __ATOMIC_RELAXED);
	g->thread = NULL;
}

static void stress_visit(struct stress_op *op, bool saving)
{
	struct group *g = &groups[cpu_id()];
	if (g->thread && (g->thread != op->owner || g->saving != saving)) {
		breach();		/* a group cut short by another */
		g->thread = NULL;
	}
	if (!g->thread) {
		*g = (struct group){ .thread = op->owner, .saving = saving,
				     .expect = ctxop_count(op->owner) };
	} else if (saving ? op->serial >= g->last : op->serial <= g->last) {
		breach();		/* out of order */
	}
	g->seen++;
	g->last = op->serial;
	g->sum += op->serial;
	g->xor ^= op->serial;
	/* Closed as soon as it is complete: a save group is then on record
	 * before its thread can be resumed on another CPU. */
	if (g->seen == g->expect)
		close_group(g);
}

static void stress_save(void *arg) { stress_visit(arg, true); }
static void stress_restore(void *arg) { stress_visit(arg, false); }

static const struct ctxop_template stress_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = stress_save,
	.ct_restore = stress_restore,
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void stress_worker(void *arg)
{
	struct stress_op args[STRESS_OPS];
	struct ctxop *ops[STRESS_OPS];
	uint64_t rng = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
	struct thread *me = curthread;
	for (int i = 0; i < STRESS_OPS; i++) {
		args[i] = (struct stress_op){ .owner = me };
		ops[i] = ctxop_allocate(&stress_tpl, &args[i]);
	}
	while (!stress_stop) {
		int i = (int)(rng_next(&rng) % STRESS_OPS);
		if (ops[i]->owner) {
			ctxop_detach(me, ops[i]);
		} else {
			args[i].serial = __atomic_add_fetch(&stress_serial, 1, __ATOMIC_SEQ_CST);
			ctxop_attach(me, ops[i]);
		}
		if (rng_next(&rng) % 64 == 0)
			thread_yield();		/* voluntary switches too */
	}
	for (int i = 0; i < STRESS_OPS; i++) {
		if (ops[i]->owner)
			ctxop_detach(me, ops[i]);
		ctxop_free(ops[i]);
	}
}

/* Runs the stress for `seconds` on every CPU at the shortest quantum;
 * returns the number of breaches seen. */
static uint64_t run_stress(uint64_t seconds, uint64_t *checked)
{
	int nthreads = 2 * cpu_count();
	uint64_t quantum = sched_quantum_us;
	struct kmem_stats before, after;
	kmem_stats(&before);
	memset(groups, 0, sizeof(groups));
	memset(saved_sets, 0, sizeof(saved_sets));
	memset(stress_threads, 0, sizeof(stress_threads));
	breaches = groups_checked = 0;
	stress_stop = false;
	sched_set_quantum_us(1000);		/* the shortest: one tick */
	thread_set_priority(curthread, PRIO_HIGH);	/* so all start before any runs long */
	for (int i = 0; i < nthreads; i++)
		stress_threads[i] = thread_create("stress", stress_worker, (void *)(uintptr_t)i, 0);
	thread_set_priority(curthread, PRIO_NORMAL);
	thread_sleep(seconds * 1000000000ULL);
	stress_stop = true;
	for (int i = 0; i < nthreads; i++)
		thread_join(stress_threads[i]);
	sched_set_quantum_us(quantum);
	kmem_stats(&after);
	KT_EXPECT_EQ(after.objects_in_use, before.objects_in_use);	/* no leak */
	*checked = groups_checked;
	return breaches;
}

KTEST_TIMEOUT(ctxop, stress_attach_detach_under_preemption, 60)
{
	/* The full 10 s where it matters, on 4 or more CPUs; a shorter run
	 * elsewhere keeps the whole matrix within its time budget. */
	uint64_t checked;
	uint64_t bad = run_stress(cpu_count() >= 4 ? 10 : 2, &checked);
	KT_LOG("%lu save/restore groups checked on %d CPUs, %lu breaches", checked,
	       cpu_count(), bad);
	KT_EXPECT(checked > 1000);
	KT_EXPECT_EQ(bad, 0);
}

KTEST_TIMEOUT(ctxop, attach_unprotected_bug_detector_trips, 60)
{
	bool was = bug_on(ctxop_attach_unprotected);
	bug_set("ctxop_attach_unprotected", true);
	uint64_t checked;
	uint64_t bad = run_stress(1, &checked);
	bug_set("ctxop_attach_unprotected", was);
	KT_LOG("with bug=ctxop_attach_unprotected: %lu breaches in %lu groups", bad, checked);
	KT_EXPECT(bad > 0);
}

/* ---- the trace ring sees every save and restore, in stack order ---- */

static volatile bool tr_stop;

static void tr_partner(void *arg)
{
	(void)arg;
	while (!tr_stop)
		thread_yield();
}

KTEST(ctxop, trace_ring_records_save_and_restore_groups)
{
	struct thread *me = curthread;
	int cpu = cpu_count() - 1;
	thread_bind(cpu);
	tr_stop = false;
	struct thread *p = thread_create_on("partner", tr_partner, NULL, 0, cpu, PRIO_NORMAL);
	struct ctxop *ops[3];
	for (int i = 0; i < 3; i++) {
		ops[i] = ctxop_allocate(&idx_tpl, (void *)(uintptr_t)i);
		ctxop_attach(me, ops[i]);
	}
	trace_reset();
	trace_enable(TRACE_CTXOP);
	for (int i = 0; i < 10; i++)
		thread_yield();
	trace_disable(TRACE_CTXOP);

	static struct trace_event all[TRACE_RING_SIZE], ev[TRACE_RING_SIZE];
	size_t got = trace_read(cpu, all, ARRAY_SIZE(all)), n = 0;
	/* this thread's events for these three ops (it may have others, such
	 * as its FPU op, which are not this test's business) */
	for (size_t i = 0; i < got; i++)
		if (all[i].b == me->id && (all[i].a == (uint64_t)ops[0] ||
		    all[i].a == (uint64_t)ops[1] || all[i].a == (uint64_t)ops[2]))
			ev[n++] = all[i];
	int saves = 0, restores = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].type == TR_CTXOP_SAVE) {
			/* a save group: newest (ops[2]) to oldest (ops[0]) */
			bad += i + 2 >= n || ev[i].a != (uint64_t)ops[2] ||
			       ev[i + 1].a != (uint64_t)ops[1] || ev[i + 2].a != (uint64_t)ops[0];
			saves++;
			i += 2;
		} else if (ev[i].type == TR_CTXOP_RESTORE) {
			bad += i + 2 >= n || ev[i].a != (uint64_t)ops[0] ||
			       ev[i + 1].a != (uint64_t)ops[1] || ev[i + 2].a != (uint64_t)ops[2];
			restores++;
			i += 2;
		}
	}
	KT_LOG("%zu events: %d save groups, %d restore groups of this thread", n, saves, restores);
	KT_EXPECT(saves >= 10);
	KT_EXPECT(restores >= 10);
	KT_EXPECT_EQ(bad, 0);
	for (int i = 0; i < 3; i++) {
		ctxop_detach(me, ops[i]);
		ctxop_free(ops[i]);
	}
	tr_stop = true;
	thread_join(p);
	thread_bind(-1);
}
