/*
 * tests/sched/thread_ref_test.c - references on threads: thread_find
 * returns the thread held, and a held thread's struct outlives its join.
 *
 * kmem poisons what it frees (0xdeadbeef), so reading a thread freed under
 * a holder shows at once: its name is no longer its name. (That the join
 * of an unheld thread frees all of it is sched.create_join_10000_no_leak.)
 *
 * A walker of the list of threads (thread_foreach: the monitor's `fpu`,
 * which reads each thread's FPU state) must never meet a thread whose
 * context ops, and with them that state, are already freed: the join takes
 * the thread off the list before it frees its ops.
 */
#include <ktest.h>
#include <ctxop.h>
#include <mm.h>
#include <printf.h>
#include <string.h>
#include <sync.h>
#include <thread.h>

static struct semaphore victim_go;

static void victim_main(void *arg)
{
	(void)arg;
	sem_wait(&victim_go);
}

KTEST(sched, thread_find_holds_a_thread_through_its_join)
{
	sem_init(&victim_go, 0, "victim_go");
	struct thread *t = thread_create("ref-victim", victim_main, NULL, 0);
	struct thread *held = thread_find("ref-victim");
	KT_ASSERT(held == t);

	sem_post(&victim_go);
	thread_join(t);			/* it exits and is freed, but we hold it */
	KT_EXPECT(strcmp(held->name, "ref-victim") == 0);
	KT_EXPECT(held->ctxops == NULL);	/* the join freed its ops */
	KT_EXPECT(thread_find("ref-victim") == NULL);	/* and took it off the list */

	struct kmem_stats before, after;
	kmem_stats(&before);
	thread_rele(held);		/* the last reference: now the struct goes */
	kmem_stats(&after);
	KT_EXPECT_EQ(before.objects_in_use - after.objects_in_use, 1);
}

KTEST(sched, thread_find_by_id_holds_too)
{
	sem_init(&victim_go, 0, "victim_go");
	struct thread *t = thread_create("ref-victim", victim_main, NULL, 0);
	uint64_t tid = t->id;
	char id[24];
	snprintf(id, sizeof(id), "%lu", tid);
	struct thread *held = thread_find(id);
	KT_ASSERT(held == t);
	sem_post(&victim_go);
	thread_join(t);
	KT_EXPECT_EQ(held->id, tid);
	KT_EXPECT(strcmp(held->name, "ref-victim") == 0);
	thread_rele(held);
}

/* ---- a thread's ops are freed after it has left the list ---- */

struct listed_at_free {
	struct thread *t;		/* the thread whose op this is */
	bool freed;			/* the op's ct_free ran */
	bool listed;			/* ... while thread_foreach still found t */
};

static void look_for_it(struct thread *t, void *arg)
{
	struct listed_at_free *l = arg;
	if (t == l->t)
		l->listed = true;
}

static void free_looks_at_the_list(void *arg, int isexec)
{
	(void)isexec;
	struct listed_at_free *l = arg;
	l->freed = true;
	thread_foreach(look_for_it, l);
}

static const struct ctxop_template looking_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_free = free_looks_at_the_list,
};

static void installs_a_looking_op(void *arg)
{
	struct listed_at_free *l = arg;
	l->t = curthread;
	ctxop_install(curthread, &looking_tpl, l);
}

KTEST(sched, join_takes_a_thread_off_the_list_before_freeing_its_ops)
{
	struct listed_at_free l = { 0 };
	struct thread *t = thread_create("op-freed", installs_a_looking_op, &l, THREAD_FPU);
	thread_join(t);
	KT_EXPECT(l.freed);
	KT_EXPECT(!l.listed);
}
