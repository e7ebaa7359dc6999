/*
 * user/lib/utest.c - the main of the utests program: runs one UTEST case.
 *
 * The kernel's test runner starts `utests suite.name` (kernel/ktest.c) and
 * waits for the process. This finds the case in the .utest table, runs it,
 * and tells the kernel the verdict with SYS_utest_result before exiting:
 * pass, fail (a check failed: its lines are already on the console, in
 * the KTAP diagnostic form the kernel's own checks print), or skip with a
 * reason. A case that expects a fault and returns has failed: the kernel
 * saw no fault. Checks that fail in another thread of the case end the
 * whole process (UT_ASSERT) or mark it failed (UT_EXPECT): the verdict is
 * the process's.
 *
 * From the shell (`test GLOB`), with nobody in the kernel waiting:
 *   utests --list [GLOB]   names the cases that match
 *   utests --run GLOB      runs each in a process of its own, `utests --one
 *                          suite.name`, with the case's deadline, and
 *                          prints a line per case (PASS, FAIL, SKIP: not
 *                          KTAP, which is the kernel runner's, and which the
 *                          harness reads from the same console) and a
 *                          summary; exits 1 if any failed
 * A --one case says its verdict in its exit status as well (0 pass, 1
 * fail, UTEST_EXIT_SKIP skip, after printing why). Cases the shell cannot
 * give what they need are skipped, saying so: a UTEST_PORTS case's ports
 * come only from the kernel, a UTEST_CPUS case needs its CPUs.
 */
#include <utest.h>

extern const struct utest __utest_start[], __utest_end[];

static const struct utest *current;
static volatile bool failed;
static bool standalone;			/* --one: the verdict in the exit status too */

#define UTEST_EXIT_SKIP 77		/* as automake's tests */
#define DEFAULT_TIMEOUT_S 10		/* ktest.timeout's default */

static void report(int verdict, const char *why)
{
	syscall6(SYS_utest_result, verdict, (long)why, 0, 0, 0, 0);
}

void (*utest_on_failure)(void);

/* The first failed check calls the case's hook (once), so that its report
 * can reach the console. */
static void on_failure(void)
{
	void (*hook)(void) = utest_on_failure;
	utest_on_failure = NULL;
	if (hook)
		hook();
}

bool utest_check(bool ok, const char *expr, const char *file, int line)
{
	if (ok)
		return true;
	failed = true;
	on_failure();
	char buf[512];
	snprintf(buf, sizeof(buf), "    # %s.%s: EXPECTATION FAILED at %s:%d\n    #     expected: %s\n",
		 current->suite, current->name, file, line, expr);
	write(1, buf, strlen(buf));
	return false;
}

bool utest_check_eq(bool ok, const char *ea, const char *eb, long a, long b, const char *file,
		    int line)
{
	if (ok)
		return true;
	failed = true;
	on_failure();
	char buf[768];
	snprintf(buf, sizeof(buf),
		 "    # %s.%s: EXPECTATION FAILED at %s:%d\n    #     expected: %s == %s\n"
		 "    #     %s = %ld (0x%lx)\n    #     %s = %ld (0x%lx)\n",
		 current->suite, current->name, file, line, ea, eb, ea, a, (unsigned long)a, eb, b,
		 (unsigned long)b);
	write(1, buf, strlen(buf));
	return false;
}

bool utest_failed(void)
{
	return failed;
}

bool utest_standalone(void)
{
	return standalone;
}

void utest_leave(void)
{
	on_failure();
	report(UTEST_FAIL, NULL);
	exit(1);
}

void utest_skip(const char *why)
{
	report(UTEST_SKIP, why);
	if (standalone) {
		printf("    skipped: %s\n", why ? why : "");
		exit(UTEST_EXIT_SKIP);
	}
	exit(0);
}

void utest_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(buf, sizeof(buf), "    # ");
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = strlen(buf);
	buf[len++] = '\n';
	write(1, buf, len);
}

static void full_name(const struct utest *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s.%s", t->suite, t->name);
}

static int run_one(const char *name)
{
	char full[128];
	for (const struct utest *t = __utest_start; t < __utest_end; t++) {
		full_name(t, full, sizeof(full));
		if (strcmp(full, name) != 0)
			continue;
		current = t;
		t->fn();
		if (t->expect_fault) {
			printf("    # %s: EXPECTED A FAULT at %s:%d, and the case returned\n", full,
			       t->file, t->line);
			failed = true;
		}
		report(failed ? UTEST_FAIL : UTEST_PASS, NULL);
		return failed;
	}
	printf("utests: no case %s\n", name);
	return 2;
}

static int list(const char *glob)
{
	char full[128];
	int n = 0;
	for (const struct utest *t = __utest_start; t < __utest_end; t++) {
		full_name(t, full, sizeof(full));
		if (glob_match(glob, full)) {
			printf("  %s%s\n", full, t->nports ? "  (I/O ports: make test only)" : "");
			n++;
		}
	}
	printf("%d user test case%s%s%s\n", n, n == 1 ? "" : "s", *glob ? " match " : "", glob);
	return 0;
}

/* The case in front, for the watchdog thread: killed (with whatever it
 * started) if it is still running at `deadline`. */
static volatile int watched;
static volatile unsigned long deadline;
static volatile bool timed_out;

static void watchdog(void *arg)
{
	for (;;) {
		sleep_ns(20000000);
		unsigned long d = deadline;
		if (d && clock_ns() > d && watched) {
			timed_out = true;
			deadline = 0;
			kill_tree(watched);
		}
	}
}

static bool is_fault(int st)
{
	return st == WAIT_SEGV || st == WAIT_ILL || st == WAIT_FPE;	/* as the kernel's runner */
}

/* One case in a process of its own: 1 pass, 0 fail, -1 skipped. */
static int run_child(const struct utest *t, const char *full, unsigned ncpus)
{
	char why[64] = "";
	if (t->nports)
		strlcpy(why, "needs I/O ports only the kernel grants: make test runs it", sizeof(why));
	else if (t->ncpus > ncpus)
		snprintf(why, sizeof(why), "needs %u CPUs, this boot has %u", t->ncpus, ncpus);
	if (why[0]) {
		printf("    skipped: %s\n", why);
		return -1;
	}
	const char *argv[] = { "utests", "--one", full, NULL };
	int hs[2] = { 0, 1 };		/* the console and the name server, as we had them */
	int pid = spawn_handles("utests", argv, hs, 2);
	if (pid == -EBADF)
		pid = spawn("utests", argv);	/* started without them */
	if (pid < 0) {
		printf("    cannot start utests --one %s (error %d)\n", full, pid);
		return 0;
	}
	unsigned tmo = t->timeout_s ? t->timeout_s : DEFAULT_TIMEOUT_S;
	timed_out = false;
	watched = pid;
	deadline = clock_ns() + tmo * 1000000000UL;
	int st = 0;
	waitpid(pid, &st);
	deadline = 0;
	watched = 0;
	if (timed_out) {
		printf("    TIMEOUT after %u s (its process is killed)\n", tmo);
		return 0;
	}
	if (t->expect_fault) {
		if (!is_fault(st))
			printf("    expected the kernel to kill its process for a fault; it ended "
			       "with status %d\n", st);
		return is_fault(st);
	}
	if (st == UTEST_EXIT_SKIP)
		return -1;
	if (st < 0)
		printf("    its process was killed (status %d)\n", st);
	return st == 0;
}

static int run_all(const char *glob)
{
	struct sysinfo si;
	unsigned ncpus = sysinfo(&si) == 0 ? (unsigned)si.ncpus : 1;
	if (uthread_create(watchdog, NULL) < 0) {
		printf("utests: cannot start its watchdog\n");
		return 2;
	}
	char full[128];
	int n = 0, pass = 0, fail = 0, skip = 0;
	unsigned long t0 = clock_ns();
	for (const struct utest *t = __utest_start; t < __utest_end; t++) {
		full_name(t, full, sizeof(full));
		if (!glob_match(glob, full))
			continue;
		unsigned long start = clock_ns();
		int v = run_child(t, full, ncpus);
		unsigned long ms = (clock_ns() - start) / 1000000;
		n++;
		pass += v > 0;
		fail += v == 0;
		skip += v < 0;
		printf("%s %s (%lu.%02lu s)\n", v > 0 ? "PASS" : v ? "SKIP" : "FAIL", full,
		       ms / 1000, ms % 1000 / 10);
	}
	unsigned long ms = (clock_ns() - t0) / 1000000;
	if (!n)
		printf("utests: no user test case matches %s ('test list' names them)\n", glob);
	else
		printf("test: %d passed, %d failed, %d skipped, in %lu.%02lu s\n", pass, fail, skip,
		       ms / 1000, ms % 1000 / 10);
	return fail || !n;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--list"))
		return list(argc > 2 ? argv[2] : "*");
	if (argc == 3 && !strcmp(argv[1], "--run"))
		return run_all(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "--one")) {
		standalone = true;
		return run_one(argv[2]);
	}
	if (argc != 2 || argv[1][0] == '-') {
		printf("usage: utests suite.name | --one suite.name | --run GLOB | --list [GLOB]\n");
		return 2;
	}
	return run_one(argv[1]);
}
