/*
 * tests/ctxop/ctxop_rules_test.c - who may change a ring, and the walkers
 * that look at another thread's ring while it runs.
 *
 *   - Once a thread has started, only it may attach, detach or remove its
 *     ops: another thread doing so panics, even while the target sleeps
 *     (the old rule, "not on a CPU", let that through and was
 *     check-then-act). Before it starts, its creator may attach to it.
 *   - ctxop_count and ctxop_print hold the ring's lock: a detach on the
 *     owner's CPU waits until they are done. ctxop_walk_hook stops the
 *     walker on an op while the owner tries to detach and free that very
 *     op; without the lock the walker would step off freed memory.
 *   - The monitor's `ctxops <thread>` holds the thread: ctxop_found_hook
 *     joins it between the lookup and the print.
 *   - A thread is unstarted from the moment thread_find can find it
 *     (thread_register_hook looks then); it used to become so only after
 *     it was on the list, so an attach in between panicked.
 */
#include <ktest.h>
#include <arch.h>
#include <ctxop.h>
#include <monitor.h>
#include <percpu.h>
#include <printf.h>
#include <string.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>

#define MS 1000000ULL

static void nop_handler(void *arg)
{
	(void)arg;
}

static const struct ctxop_template plain_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = nop_handler,
	.ct_restore = nop_handler,
};

/* ---- changes from another thread ---- */

/* A thread that has started: attaches `op` to itself (if any), then
 * sleeps until `go`. */
struct sitter {
	struct semaphore ready, go;
	struct ctxop *op;
};

static void sitter_main(void *p)
{
	struct sitter *s = p;
	if (s->op)
		ctxop_attach(curthread, s->op);
	sem_post(&s->ready);
	sem_wait(&s->go);
	if (s->op)
		ctxop_detach(curthread, s->op);
}

/* Starts a sitter and waits until it sleeps in sem_wait(&go), off its CPU. */
static struct thread *start_sitter(struct sitter *s, struct ctxop *op)
{
	sem_init(&s->ready, 0, "sitter.ready");
	sem_init(&s->go, 0, "sitter.go");
	s->op = op;
	struct thread *t = thread_create("sitter", sitter_main, s, 0);
	sem_wait(&s->ready);
	while (t->state != TS_SLEEPING || t->on_cpu)
		thread_sleep(MS);
	return t;
}

static struct sitter sitter;

KTEST_EXPECT_PANIC(ctxop, attach_to_started_thread_panics,
		   "ctxop_attach: thread sitter has started")
{
	struct thread *t = start_sitter(&sitter, NULL);
	ctxop_attach(t, ctxop_allocate(&plain_tpl, NULL));	/* it sleeps: still no */
}

KTEST_EXPECT_PANIC(ctxop, detach_from_started_thread_panics,
		   "ctxop_detach: thread sitter has started")
{
	struct ctxop *op = ctxop_allocate(&plain_tpl, NULL);
	struct thread *t = start_sitter(&sitter, op);
	ctxop_detach(t, op);
}

KTEST_EXPECT_PANIC(ctxop, remove_from_started_thread_panics,
		   "ctxop_remove: thread sitter has started")
{
	struct ctxop *op = ctxop_allocate(&plain_tpl, NULL);
	struct thread *t = start_sitter(&sitter, op);
	ctxop_remove(t, &plain_tpl, NULL);
}

/* ---- the creator attaches to a thread that has not started ---- */

static struct ctxop *for_child;
static struct thread *volatile hooked_child;
static volatile bool child_was_unstarted, child_restored, child_saw_op;

static void child_restore(void *arg)
{
	(void)arg;
	child_restored = true;
}

static const struct ctxop_template child_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_restore = child_restore,
};

static void attach_to_child(void *parent, void *child)
{
	(void)parent;
	struct thread *c = child;
	hooked_child = c;
	child_was_unstarted = c->unstarted;
	ctxop_attach(c, for_child);	/* legal: c has not started */
}

static const struct ctxop_template creator_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_lwp_create = attach_to_child,
};

static void child_main(void *arg)
{
	(void)arg;
	/* its first switch-in ran the op's restore, before fn */
	child_saw_op = child_restored && ctxop_count(curthread) == 1 &&
		       curthread->ctxops == for_child;
	ctxop_detach(curthread, for_child);
}

KTEST(ctxop, creator_attaches_to_a_thread_before_it_starts)
{
	child_was_unstarted = child_restored = child_saw_op = false;
	for_child = ctxop_allocate(&child_tpl, NULL);
	struct ctxop *mine = ctxop_allocate(&creator_tpl, NULL);
	ctxop_attach(curthread, mine);
	struct thread *t = thread_create("child", child_main, NULL, 0);	/* no THREAD_FPU */
	KT_EXPECT(hooked_child == t);
	KT_EXPECT(child_was_unstarted);
	KT_EXPECT(!t->unstarted);		/* runnable: from now on, its own */
	thread_join(t);
	KT_EXPECT(child_saw_op);
	ctxop_detach(curthread, mine);
	ctxop_free(mine);
	ctxop_free(for_child);
}

/* ---- unstarted from the moment it can be found ---- */

static volatile int unstarted_when_findable;	/* -1: never seen */

static void at_register(struct thread *t)
{
	if (strcmp(t->name, "findable") == 0)
		unstarted_when_findable = t->unstarted;
}

static void returns_at_once(void *arg)
{
	(void)arg;
}

KTEST(ctxop, a_thread_is_unstarted_from_the_moment_it_can_be_found)
{
	unstarted_when_findable = -1;
	thread_register_hook = at_register;
	struct thread *t = thread_create("findable", returns_at_once, NULL, 0);
	thread_register_hook = NULL;
	thread_join(t);
	KT_EXPECT_EQ(unstarted_when_findable, 1);
	for (int i = 0; i < cpu_count(); i++)
		KT_EXPECT(!cpus[i].idle->unstarted);	/* they run: started */
}

/* ---- walkers against a detach on the owner's CPU ----
 *
 * The owner (on the last CPU) has ops a (older) and b (newest). The walker
 * (here, on CPU 0) starts at b; the hook stops it there, tells the owner
 * to detach and free b, and waits a while. With the lock the owner cannot
 * (it spins in ctxop_detach until the walker is done) and the walker goes
 * on from b to a. Without it, b is freed and poisoned under the walker. */

enum { W_IDLE, W_GO, W_DETACHING, W_DETACHED };

static struct walk_race {
	struct thread *owner;
	struct ctxop *a, *b;
	volatile int phase;
	volatile bool owner_ready, hook_ran;
	int phase_after_wait;		/* what the hook saw after waiting */
} wr;

static bool wait_for(volatile int *v, int want, uint64_t ns)
{
	uint64_t until = clock_ns() + ns;
	while (*v < want && clock_ns() < until)
		arch_cpu_relax();
	return *v >= want;
}

static void race_owner(void *arg)
{
	(void)arg;
	struct thread *me = curthread;
	ctxop_attach(me, wr.a);
	ctxop_attach(me, wr.b);
	wr.owner_ready = true;
	if (!wait_for(&wr.phase, W_GO, 5000 * MS))
		return;			/* the walker never came; the test fails */
	wr.phase = W_DETACHING;
	ctxop_detach(me, wr.b);
	ctxop_free(wr.b);
	wr.phase = W_DETACHED;
	ctxop_detach(me, wr.a);
	ctxop_free(wr.a);
}

static void race_hook(struct thread *t, struct ctxop *op)
{
	if (t != wr.owner || op != wr.b || wr.hook_ran)
		return;
	wr.hook_ran = true;
	wr.phase = W_GO;
	wait_for(&wr.phase, W_DETACHING, 1000 * MS);
	wait_for(&wr.phase, W_DETACHED, 20 * MS);	/* give a detach time to happen */
	wr.phase_after_wait = wr.phase;
}

/* Runs the race with `walk` as the walker; returns what it counted. */
static int walk_during_detach(int (*walk)(struct thread *t))
{
	if (cpu_count() < 2)
		KT_SKIP("needs 2 CPUs: the owner runs while another CPU walks its ring");
	memset(&wr, 0, sizeof(wr));
	wr.a = ctxop_allocate(&plain_tpl, (void *)1);
	wr.b = ctxop_allocate(&plain_tpl, (void *)2);
	thread_bind(0);
	wr.owner = thread_create_on("ring-owner", race_owner, NULL, 0, cpu_count() - 1,
				    PRIO_NORMAL);
	while (!wr.owner_ready)
		thread_yield();
	ctxop_walk_hook = race_hook;
	int n = walk(wr.owner);
	ctxop_walk_hook = NULL;
	thread_join(wr.owner);
	thread_bind(-1);
	KT_EXPECT(wr.hook_ran);
	KT_EXPECT_EQ(wr.phase_after_wait, W_DETACHING);	/* the detach waited */
	KT_EXPECT_EQ(wr.phase, W_DETACHED);			/* and then went on */
	return n;
}

static int count_walk(struct thread *t)
{
	return ctxop_count(t);
}

static int print_walk(struct thread *t)
{
	ctxop_print(t);
	return 2;
}

KTEST(ctxop, count_holds_off_a_detach_on_another_cpu)
{
	KT_EXPECT_EQ(walk_during_detach(count_walk), 2);
}

KTEST(ctxop, print_holds_off_a_detach_on_another_cpu)
{
	walk_during_detach(print_walk);
}

/* ---- the monitor's `ctxops <thread>` holds the thread ---- */

static struct semaphore prey_go;
static struct thread *prey;
static volatile bool found_hook_ran, name_survived;
static volatile int ops_after_join = -1;

static void prey_main(void *arg)
{
	(void)arg;
	ctxop_install(curthread, &plain_tpl, NULL);	/* freed with the thread */
	sem_wait(&prey_go);
}

/* Between the monitor's lookup and its print: the thread exits and is
 * joined. The monitor's reference keeps the struct; the join took the ops. */
static void join_found(struct thread *t)
{
	if (t != prey)
		return;
	found_hook_ran = true;
	sem_post(&prey_go);
	thread_join(t);
	name_survived = strcmp(t->name, "ctxop-prey") == 0;
	ops_after_join = ctxop_count(t);
}

KTEST(ctxop, monitor_ctxops_holds_its_thread)
{
	sem_init(&prey_go, 0, "prey_go");
	found_hook_ran = name_survived = false;
	ops_after_join = -1;
	prey = thread_create("ctxop-prey", prey_main, NULL, 0);
	while (ctxop_count(prey) != 1)
		thread_yield();
	char line[48];
	snprintf(line, sizeof(line), "ctxops %lu", prey->id);
	ctxop_found_hook = join_found;
	KT_EXPECT(monitor_run(line));
	ctxop_found_hook = NULL;
	KT_EXPECT(found_hook_ran);
	KT_EXPECT(name_survived);
	KT_EXPECT_EQ(ops_after_join, 0);
}
