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
#include <trace.h>

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

/* A template per layer, so that each op's handlers have a name of their
 * own in a trace (make trace CMDLINE=trace.run=chaindemo, docs/trace.md). */
#define LAYER(fn, name)                                                        \
	static void fn##_save(void *arg) { note("save:", arg); }               \
	static void fn##_restore(void *arg) { note("restore:", arg); }         \
	static const struct ctxop_template fn##_tpl = {                        \
		.ct_rev = CTXOP_TPL_REV, .ct_save = fn##_save, .ct_restore = fn##_restore };
LAYER(demo_thread_fpu, "thread-fpu")
LAYER(demo_segbases, "segbases")
LAYER(demo_guest_fpu, "guest-fpu")

static const char *const layers[] = { "thread-fpu", "segbases", "guest-fpu" };	/* oldest first */
static const struct ctxop_template *const layer_tpl[] = { &demo_thread_fpu_tpl, &demo_segbases_tpl,
							  &demo_guest_fpu_tpl };

/* One switch out and back in (a sleep: the CPU goes idle and comes back),
 * with the log cleared first; prints what the two walks did. */
static void one_round(const char *title, int mark)
{
	demo_len = 0;
	demo_log[0] = '\0';
	trace_mark(mark);
	thread_sleep(1000000);
	trace_mark(mark + 1);
	printk("  %s\n    %s\n", title, demo_log);
}

static void chain_thread(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 3; i++)
		ctxop_install(curthread, layer_tpl[i], (void *)layers[i]);
	one_round("the rule: save newest first, restore oldest first", 1);
	bool was = bug_on(ctxop_restore_order);	/* (bug_set says only if it exists) */
	bug_set("ctxop_restore_order", true);
	one_round("bug=ctxop_restore_order: restore newest first, so thread-fpu is loaded "
		  "after guest-fpu, over it (illumos 12477)", 3);
	bug_set("ctxop_restore_order", was);
	for (unsigned i = 0; i < 3; i++)
		ctxop_remove(curthread, layer_tpl[i], (void *)layers[i]);
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
