/*
 * kernel/ktest.c - the in-kernel test runner.
 *
 * KTEST descriptors sit in the .ktest.* sections (ktest.h). ktest_run
 * selects those whose "suite.name" matches the glob, sorts them by suite,
 * file and line, runs them, prints KTAP version 1 on the console (one
 * subtest level per suite) and powers the machine off with the verdict.
 *
 * Each case runs in a thread of its own ("ktest"); the runner waits for it
 * with a timeout (ktest.timeout=). A case that overruns is reported as
 * TIMEOUT and abandoned (its thread is left as it is; the next case runs).
 * Leaving a case early (a failed KT_ASSERT, KT_SKIP) is a longjmp back to
 * the start of the case's thread, so the checks work from helper functions
 * too; a KT_ASSERT that fails in a thread the case created ends that thread
 * instead (thread_exit), and the case is marked failed. If a case keeps its
 * CPU from the runner (interrupts or preemption off, with one CPU), the
 * tick notices the deadline passed long ago and ends the run with a
 * TIMEOUT rather than hanging.
 *
 * A case declared with KTEST_CPUS needs that many CPUs online: with fewer
 * the runner reports it skipped, "needs N CPUs, this boot has M", without
 * running it. The harness reads the same number from .ktest_index.
 *
 * KTEST_EXPECT_PANIC cases end the boot they run in, so they run only when
 * the glob selects that one case; in a larger selection they are reported
 * as skipped, with the command line that runs them (the harness does).
 */
#include <ktest.h>
#include <trace.h>
#include <arch.h>
#include <cmdline.h>
#include <percpu.h>
#include <printf.h>
#include <printk.h>
#include <proc.h>
#include <string.h>
#include <sync.h>
#include <thread.h>
#include <uapi/errno.h>

#define KTEST_MAX 2048

extern const struct ktest __ktest_start[], __ktest_end[];

static char ktest_glob_opt[1024];	/* make grade names its cases */
CMDLINE_STRING("ktest", ktest_glob_opt, "run the tests matching this glob over suite.name, then power off");
static char ktest_skip_opt[512];
CMDLINE_STRING("ktest.skip", ktest_skip_opt,
	       "globs over suite.name, comma-separated: cases not to run though ktest= selects them");
static uint64_t ktest_timeout_s = 10;
CMDLINE_UINT("ktest.timeout", ktest_timeout_s, 1, 3600, "seconds before a test is reported as TIMEOUT");

static const struct ktest *selected[KTEST_MAX];
static size_t nselected;		/* this boot's cases, in selected[] */
static struct arch_jmpbuf *leave_jb;	/* in the current case thread's frame */
static const struct ktest *current;
static int current_index;		/* KTAP number within the suite */
static bool current_failed, current_skipped;
static const char *skip_reason;
static volatile uint64_t deadline_ns;	/* 0: no watchdog armed */
static struct thread *case_thread;	/* the thread running the current case */
static struct semaphore case_done;
static int totals_pass, totals_fail, totals_skip;

const char *ktest_glob(void)
{
	return ktest_glob_opt;
}

bool ktest_glob_match(const char *g, const char *s)
{
	return glob_match(g, s);
}

/* ktest= is a glob, or several separated by commas (any may match). */
static bool matches(const char *glob, const struct ktest *t)
{
	char full[128];
	snprintf(full, sizeof(full), "%s.%s", t->suite, t->name);
	return strchr(glob, ',') ? ktest_glob_list_match(glob, full) : ktest_glob_match(glob, full);
}

bool ktest_glob_list_match(const char *globs, const char *s)
{
	char one[128];
	while (*globs) {
		size_t n = 0;
		while (globs[n] && globs[n] != ',')
			n++;
		if (n > 0 && n < sizeof(one)) {
			memcpy(one, globs, n);
			one[n] = '\0';
			if (ktest_glob_match(one, s))
				return true;
		}
		globs += globs[n] ? n + 1 : n;
	}
	return false;
}

/* ktest.skip: a configuration that varies something a suite does not
 * depend on (the boot path, say) leaves that suite out. */
static bool skipped(const struct ktest *t)
{
	char full[128];
	snprintf(full, sizeof(full), "%s.%s", t->suite, t->name);
	return ktest_glob_list_match(ktest_skip_opt, full);
}

static int order(const struct ktest *a, const struct ktest *b)
{
	int c = strcmp(a->suite, b->suite);
	if (!c)
		c = strcmp(a->file, b->file);
	if (!c)
		c = a->line - b->line;
	return c;
}

static void diag_header(const char *kind, const char *file, int line)
{
	printk("    # %s.%s: %s at %s:%d\n", current->suite, current->name, kind, file, line);
}

bool ktest_check(bool ok, const char *expr, const char *file, int line)
{
	if (ok)
		return true;
	current_failed = true;
	diag_header("EXPECTATION FAILED", file, line);
	printk("    #     expected: %s\n", expr);
	return false;
}

bool ktest_check_eq(bool ok, const char *ea, const char *eb, uint64_t a, uint64_t b,
		    const char *file, int line)
{
	if (ok)
		return true;
	current_failed = true;
	diag_header("EXPECTATION FAILED", file, line);
	printk("    #     expected: %s == %s\n", ea, eb);
	printk("    #     %s = %ld (0x%lx)\n", ea, (int64_t)a, a);
	printk("    #     %s = %ld (0x%lx)\n", eb, (int64_t)b, b);
	return false;
}

void ktest_leave(void)
{
	if (!current)
		panic("ktest_leave: KT_ASSERT failed outside a running test");
	if (curthread != case_thread) {
		printk("    # (in thread %s, which now exits)\n", curthread->name);
		thread_exit();
	}
	arch_longjmp(leave_jb);
}

void ktest_skip(const char *why)
{
	current_skipped = true;
	skip_reason = why;
	ktest_leave();
}

void ktest_log(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printk("    # %s\n", buf);
}

/* Grace the runner gets past a deadline before the tick gives up on it. */
#define RUNNER_GRACE_NS 2000000000ULL

static __noreturn void finish(bool ok);

void ktest_watchdog_tick(void)
{
	uint64_t d = deadline_ns;
	if (!d || !current || arch_clock_ns() < d + RUNNER_GRACE_NS)
		return;
	/* The runner should have reported a TIMEOUT by now: the case holds
	 * the CPU it needs. Nothing else can run; end the boot with a verdict. */
	deadline_ns = 0;
	printk("    # %s.%s: TIMEOUT after %lu s, and the case does not let the runner run "
	       "(interrupts or preemption off?); ending the run\n",
	       current->suite, current->name,
	       current->timeout_s ? current->timeout_s : ktest_timeout_s);
	printk("    not ok %d %s # TIMEOUT\n", current_index, current->name);
	printk("not ok 1 %s\n", current->suite);
	totals_fail++;
	finish(false);
}

static void print_result(int n, const struct ktest *t, bool failed, bool skipped,
			 const char *why)
{
	if (skipped)
		printk("    ok %d %s # SKIP %s\n", n, t->name, why ? why : "");
	else
		printk("    %s %d %s\n", failed ? "not ok" : "ok", n, t->name);
	if (skipped)
		totals_skip++;
	else if (failed)
		totals_fail++;
	else
		totals_pass++;
}

static __noreturn void finish(bool ok)
{
	printk("# Totals: pass:%d fail:%d skip:%d total:%d\n", totals_pass, totals_fail,
	       totals_skip, totals_pass + totals_fail + totals_skip);
	printk("# ktest: %s\n", ok ? "PASS" : "FAIL");
	trace_at_poweroff();		/* trace.dump=1: make trace */
	arch_poweroff(ok);
}

/* Panic hook while tests run: the verdict for an EXPECT_PANIC case, or the
 * report of a case that panicked unexpectedly. Never returns. */
static void on_panic(const char *msg)
{
	const struct ktest *t = current;
	if (!t) {
		printk("Bail out! panic outside any test: %s\n", msg);
		finish(false);
	}
	if (t->panic_text) {
		bool ok = strstr(msg, t->panic_text) != NULL;
		if (!ok)
			printk("    # %s.%s: expected a panic containing '%s'\n", t->suite,
			       t->name, t->panic_text);
		print_result(current_index, t, !ok, false, NULL);
		printk("%s 1 %s\n", ok ? "ok" : "not ok", t->suite);
		finish(ok);
	}
	printk("    # %s.%s: unexpected panic: %s\n", t->suite, t->name, msg);
	print_result(current_index, t, true, false, NULL);
	printk("not ok %d %s # the boot ended in a panic; later tests did not run\n", 1,
	       t->suite);
	finish(false);
}

/* The body of a case's thread. */
static void case_main(void *arg)
{
	const struct ktest *t = arg;
	struct arch_jmpbuf jb;
	/* Set here, not by the runner after thread_create returns: on another
	 * CPU the case may already be running (and leaving) by then. */
	case_thread = curthread;
	leave_jb = &jb;
	if (arch_setjmp(&jb) == 0)
		t->fn();
	if (current == t)	/* not abandoned after a TIMEOUT */
		sem_post(&case_done);
}

/* How a user case's process ended, in words, for a failure's report. */
static void describe_end(const struct proc_end *e, char *buf, size_t size)
{
	static const struct {
		int status;
		const char *what;
	} killed[] = {
		{ WAIT_KILLED, "killed" },
		{ WAIT_SEGV, "killed for a bad memory access" },
		{ WAIT_ILL, "killed for an invalid instruction" },
		{ WAIT_FPE, "killed for an arithmetic fault" },
		{ WAIT_TRAP, "killed for a breakpoint" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(killed); i++)
		if (e->status == killed[i].status) {
			snprintf(buf, size, "its process was %s (status %d)", killed[i].what,
				 e->status);
			return;
		}
	snprintf(buf, size, "its process exited with %d%s", e->status,
		 e->utest_verdict < 0 ? " without reporting a verdict" : "");
}

/* What UTEST_EXPECT_FAULT accepts (CONTRACT.md): a bad access or #GP, #UD,
 * a divide error or x87/SIMD exception. Not a breakpoint or a single-step
 * trap: those are a debugger's, not the faults the case is about. */
bool ktest_status_is_fault(int status)
{
	return status == WAIT_SEGV || status == WAIT_ILL || status == WAIT_FPE;
}

/* `utests suite.name` in a process of its own, with the I/O ports of a
 * UTEST_PORTS case (as the kernel starts a driver): its pid, or an error. */
static int spawn_user(const struct ktest *t, const char *full)
{
	const char *argv[] = { "utests", full };
	return proc_spawn_ports("utests", 2, argv, NULL, t->port_base, t->port_count);
}

/* The verdict of a UTEST's process, printing why where it failed.
 * Returns KTEST_USER_PASS, _FAIL or _SKIP (the reason in skip_why). */
enum { KTEST_USER_PASS, KTEST_USER_FAIL, KTEST_USER_SKIP };
#define USER_WHY_MAX sizeof(((struct proc_end *)0)->utest_why)
static int user_verdict(const struct ktest *t, const char *full, int pid, uint64_t tmo_s,
			char *skip_why, size_t skip_size)
{
	char why[160];
	struct proc_end end;
	if (proc_wait(pid, tmo_s * 1000000000ULL, &end) == -EAGAIN) {
		printk("    # %s: TIMEOUT after %lu s (its process is killed)\n", full, tmo_s);
		proc_kill(pid);
		proc_wait(pid, 0, &end);
		proc_quiesce(1000000000ULL);	/* and whatever it started */
		return KTEST_USER_FAIL;
	}
	bool failed, skipped = false;
	if (t->user == KTEST_USER_FAULT) {
		failed = !ktest_status_is_fault(end.status);
		if (failed) {
			describe_end(&end, why, sizeof(why));
			printk("    # %s: expected the kernel to kill its process for a fault; %s\n",
			       full, why);
		}
	} else {
		skipped = end.status == 0 && end.utest_verdict == UTEST_SKIP;
		failed = !skipped && (end.status != 0 || end.utest_verdict != UTEST_PASS);
		if (failed && end.utest_verdict != UTEST_FAIL) {
			describe_end(&end, why, sizeof(why));
			printk("    # %s: %s\n", full, why);
		}
	}
	/* the case's children must be gone before the next case, which may
	 * count pages or processes: an orphan is reaped asynchronously */
	int left = proc_quiesce(1000000000ULL);
	if (left) {
		printk("    # %s: the case left processes behind; %s\n", full,
		       left > 0 ? "they were killed" : "they are still there after a kill");
		failed = true;
	}
	if (skipped)
		strlcpy(skip_why, end.utest_why, skip_size);
	return failed ? KTEST_USER_FAIL : skipped ? KTEST_USER_SKIP : KTEST_USER_PASS;
}

static bool is_named(const struct ktest *t, const char *full)
{
	size_t n = strlen(t->suite);
	return !strncmp(full, t->suite, n) && full[n] == '.' && !strcmp(full + n + 1, t->name);
}

static const struct ktest *find_case(const char *full)
{
	for (const struct ktest *t = __ktest_start; t < __ktest_end; t++)
		if (is_named(t, full))
			return t;
	return NULL;
}

bool ktest_selected(const char *full)
{
	for (size_t i = 0; i < nselected; i++)
		if (is_named(selected[i], full))
			return true;
	return false;
}

/* No kernel case runs a user case beside itself unless a test file says
 * which (tests/vmm/rendezvous_test.c). */
__attribute__((weak)) const char *ktest_user_case_host(const char *full)
{
	(void)full;
	return NULL;
}

static uint64_t beside_start_ns;	/* when ktest_user_start started one */

int ktest_user_start(const char *full)
{
	const struct ktest *t = find_case(full);
	if (!t || !t->user)
		panic("ktest_user_start: %s is not a user case", full);
	beside_start_ns = clock_ns();
	return spawn_user(t, full);
}

bool ktest_user_finish(const char *full, int pid)
{
	const struct ktest *t = find_case(full);
	if (!t || !t->user)
		panic("ktest_user_finish: %s is not a user case", full);
	/* its own deadline, from its start: what is left of it now */
	uint64_t tmo_s = t->timeout_s ? t->timeout_s : ktest_timeout_s;
	uint64_t gone_s = (clock_ns() - beside_start_ns) / 1000000000ULL;
	char why[USER_WHY_MAX] = "";
	int v = user_verdict(t, full, pid, gone_s < tmo_s ? tmo_s - gone_s : 1, why, sizeof(why));
	if (v == KTEST_USER_SKIP)
		printk("    # %s skipped: %s\n", full, why);
	return v != KTEST_USER_FAIL;
}

/*
 * A UTEST: `utests suite.name` in a process of its own (with the I/O ports
 * of a UTEST_PORTS case, as the kernel starts a driver), waited for with
 * the case's deadline (a process that overruns is killed and reported as
 * a TIMEOUT). Its checks print their own diagnostics; its verdict comes
 * from SYS_utest_result, or, for UTEST_EXPECT_FAULT, from how it ended.
 * A case that a kernel case of this boot runs beside itself, as its load
 * (ktest_user_case_host), is reported skipped here, naming that case.
 */
static void run_user(const struct ktest *t, int n, uint64_t tmo_s)
{
	char full[128], why[160];
	snprintf(full, sizeof(full), "%s.%s", t->suite, t->name);
	const char *host = ktest_user_case_host(full);
	if (host) {
		snprintf(why, sizeof(why), "runs in %s, beside it (that case's verdict is its too)",
			 host);
		print_result(n, t, false, true, why);
		return;
	}
	int pid = spawn_user(t, full);
	if (pid < 0) {
		printk("    # %s: cannot start the test program utests (error %d)\n", full, pid);
		print_result(n, t, true, false, NULL);
		return;
	}
	char skip_why[USER_WHY_MAX] = "";
	int v = user_verdict(t, full, pid, tmo_s, skip_why, sizeof(skip_why));
	print_result(n, t, v == KTEST_USER_FAIL, v == KTEST_USER_SKIP,
		     v == KTEST_USER_SKIP ? skip_why : NULL);
}

/* Runs one case in a thread of its own and waits for it, or its deadline. */
static void run_one(const struct ktest *t, int n, bool alone)
{
	char why[160];
	if (cpu_count() < t->min_cpus) {
		snprintf(why, sizeof(why), "needs %d CPUs, this boot has %d", t->min_cpus,
			 cpu_count());
		print_result(n, t, false, true, why);
		return;
	}
	if (t->panic_text && !alone) {
		snprintf(why, sizeof(why),
			 "expects a panic: runs in a boot of its own (ktest=%s.%s)", t->suite,
			 t->name);
		print_result(n, t, false, true, why);
		return;
	}
	current = t;
	current_index = n;
	current_failed = current_skipped = false;
	skip_reason = NULL;
	uint64_t tmo = t->timeout_s ? t->timeout_s : ktest_timeout_s;
	if (t->user) {
		run_user(t, n, tmo);
		current = NULL;
		return;
	}

	sem_init(&case_done, 0, "ktest.case_done");
	deadline_ns = arch_clock_ns() + tmo * 1000000000ULL;
	struct thread *th = thread_create("ktest", case_main, (void *)t, THREAD_FPU);
	bool done = sem_timedwait(&case_done, tmo * 1000000000ULL);
	deadline_ns = 0;
	if (done) {
		thread_join(th);
	} else {
		current_failed = true;
		printk("    # %s.%s: TIMEOUT after %lu s (the case's thread is abandoned)\n",
		       t->suite, t->name, tmo);
	}
	case_thread = NULL;
	if (t->panic_text && !current_skipped) {
		printk("    # %s.%s: returned without the expected panic ('%s')\n", t->suite,
		       t->name, t->panic_text);
		current_failed = true;
	}
	print_result(n, t, current_failed, current_skipped, skip_reason);
	current = NULL;
}

void ktest_run(const char *glob)
{
	size_t n = 0;
	for (const struct ktest *t = __ktest_start; t < __ktest_end; t++) {
		if (!matches(glob, t) || skipped(t))
			continue;
		if (n == KTEST_MAX)
			panic("ktest_run: more than %d tests selected", KTEST_MAX);
		selected[n++] = t;
	}
	for (size_t i = 1; i < n; i++) {	/* insertion sort: a few hundred at most */
		const struct ktest *t = selected[i];
		size_t j = i;
		for (; j > 0 && order(selected[j - 1], t) > 0; j--)
			selected[j] = selected[j - 1];
		selected[j] = t;
	}
	nselected = n;

	int nsuites = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(selected[i]->suite, selected[i - 1]->suite))
			nsuites++;

	printk("KTAP version 1\n1..%d\n", nsuites);
	if (n == 0) {
		printk("# ktest: no test matches '%s'%s%s%s\n", glob,
		       ktest_skip_opt[0] ? " (less ktest.skip=" : "", ktest_skip_opt,
		       ktest_skip_opt[0] ? ")" : "");
		finish(false);
	}
	panic_set_hook(on_panic);
	bool alone = n == 1;
	int suite_no = 0;
	for (size_t i = 0; i < n;) {
		const char *suite = selected[i]->suite;
		size_t end = i;
		while (end < n && strcmp(selected[end]->suite, suite) == 0)
			end++;
		printk("    KTAP version 1\n    # Subtest: %s\n    1..%zu\n", suite, end - i);
		int fails_before = totals_fail;
		for (size_t k = i; k < end; k++)
			run_one(selected[k], (int)(k - i + 1), alone);
		printk("%s %d %s\n", totals_fail > fails_before ? "not ok" : "ok", ++suite_no, suite);
		i = end;
	}
	panic_set_hook(NULL);
	finish(totals_fail == 0);
}
