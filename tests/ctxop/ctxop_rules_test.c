/*
 * tests/ctxop/ctxop_rules_test.c - the rules for another thread's ring.
 *
 *   - The monitor's `ctxops <thread>` holds the thread: ctxop_found_hook
 *     joins it between the lookup and the print.
 */
#include <ktest.h>
#include <ctxop.h>
#include <monitor.h>
#include <printf.h>
#include <string.h>
#include <sync.h>
#include <thread.h>

static void nop_handler(void *arg)
{
	(void)arg;
}

static const struct ctxop_template plain_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = nop_handler,
	.ct_restore = nop_handler,
};

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
