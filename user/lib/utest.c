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
 */
#include <utest.h>

extern const struct utest __utest_start[], __utest_end[];

static const struct utest *current;
static volatile bool failed;

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

void utest_leave(void)
{
	on_failure();
	report(UTEST_FAIL, NULL);
	exit(1);
}

void utest_skip(const char *why)
{
	report(UTEST_SKIP, why);
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

int main(int argc, char **argv)
{
	if (argc != 2) {
		printf("usage: utests suite.name\n");
		return 2;
	}
	char full[128];
	for (const struct utest *t = __utest_start; t < __utest_end; t++) {
		snprintf(full, sizeof(full), "%s.%s", t->suite, t->name);
		if (strcmp(full, argv[1]) != 0)
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
	printf("utests: no case %s\n", argv[1]);
	return 2;
}
