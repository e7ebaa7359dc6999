/*
 * kernel/demo.c - demonstrations of the kernel's subjects, as monitor
 * commands (so the shell's `demo NAME` runs them through SYS_monitor).
 *
 *   chaindemo   a thread with three context ops layered as illumos 12477's
 *               bhyve vCPU thread had them (the thread's FPU, its segment
 *               bases, the guest's FPU over them): one switch out and one
 *               in, the order each walk ran its handlers in; then the same
 *               with bug=ctxop_restore_order, which restores newest first
 *               and so loads the thread's FPU over the guest's.
 *
 * The ops do nothing but record their name: the demo shows the order, the
 * ctxop suite tests it (tests/ctxop/).
 */
#include <bugs.h>
#include <ctxop.h>
#include <monitor.h>
#include <printf.h>
#include <printk.h>
#include <thread.h>

#define LOG_MAX 256

static char demo_log[LOG_MAX];
static size_t demo_len;

/* "what:op " at the log's end, or nothing if it would not fit whole. */
static void note(const char *what, const char *op)
{
	int n = snprintf(demo_log + demo_len, LOG_MAX - demo_len, "%s%s ", what, op);
	if (n > 0 && demo_len + (size_t)n < LOG_MAX)
		demo_len += (size_t)n;
	else
		demo_log[demo_len] = '\0';	/* a cut entry would mislead */
}

static void demo_save(void *arg) { note("save:", arg); }
static void demo_restore(void *arg) { note("restore:", arg); }

static const struct ctxop_template demo_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = demo_save,
	.ct_restore = demo_restore,
};

static const char *const layers[] = { "thread-fpu", "segbases", "guest-fpu" };	/* oldest first */

/* One switch out and back in (a sleep: the CPU goes idle and comes back),
 * with the log cleared first; prints what the two walks did. */
static void one_round(const char *title)
{
	demo_len = 0;
	demo_log[0] = '\0';
	thread_sleep(1000000);
	printk("  %s\n    %s\n", title, demo_log);
}

static void chain_thread(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 3; i++)
		ctxop_install(curthread, &demo_tpl, (void *)layers[i]);
	one_round("the rule: save newest first, restore oldest first");
	bool was = bug_set("ctxop_restore_order", true);
	one_round("bug=ctxop_restore_order: restore newest first, so thread-fpu is loaded "
		  "after guest-fpu, over it (illumos 12477)");
	bug_set("ctxop_restore_order", was);
	for (unsigned i = 0; i < 3; i++)
		ctxop_remove(curthread, &demo_tpl, (void *)layers[i]);
}

static void cmd_chaindemo(const char *args)
{
	(void)args;
	printk("a thread with three context ops, oldest first: thread-fpu, segbases, guest-fpu\n");
	struct thread *t = thread_create("chaindemo", chain_thread, NULL, 0);
	thread_join(t);
}
MONITOR_COMMAND("chaindemo", "the order of a context-op chain's walks, and bug=ctxop_restore_order's",
		cmd_chaindemo);
