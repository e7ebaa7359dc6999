/*
 * ktest.h - in-kernel tests (kernel/ktest.c runs them).
 *
 *   KTEST(suite, name) { ... }                  a test case
 *   KTEST_EXPECT_PANIC(suite, name, "text") { } passes only if the body
 *                                               panics with "text" in the
 *                                               message; runs in a boot of
 *                                               its own
 *   KTEST_TIMEOUT(suite, name, seconds) { ... } a case with a longer watchdog
 *   KTEST_CPUS(suite, name, ncpus) { ... }      a case that needs at least
 *                                               ncpus CPUs online; with
 *                                               fewer it is skipped, saying
 *                                               so, and the harness knows to
 *                                               boot it with enough
 *   KTEST_CPUS_TIMEOUT(suite, name, ncpus, seconds) { ... }   both
 *
 *   KT_ASSERT(c), KT_ASSERT_EQ(a, b)    on failure: report, leave the test
 *   KT_EXPECT(c), KT_EXPECT_EQ(a, b)    on failure: report, go on
 *   KT_SKIP("why")                      leave the test, reported as skipped
 *   KT_LOG(fmt, ...)                    a diagnostic line in the output
 *
 * Boot with ktest=GLOB (over "suite.name") to run the matching cases, less
 * those matching ktest.skip=GLOB[,GLOB]; the
 * results are printed in KTAP version 1 and the run ends through QEMU's
 * isa-debug-exit device with the verdict. Cases run in order of suite, then
 * file, then line. Each has a watchdog (ktest.timeout=, default 10 s) that
 * reports "# TIMEOUT" and moves on to the next case.
 *
 * A failure prints the expression, both values of an _EQ, file and line.
 */
#ifndef KTEST_H
#define KTEST_H

#include <kernel.h>

struct ktest {
	const char *suite;
	const char *name;
	void (*fn)(void);
	const char *panic_text;	/* KTEST_EXPECT_PANIC: the expected text, else NULL */
	const char *file;
	int line;
	unsigned timeout_s;	/* 0: the default */
	int min_cpus;		/* CPUs the case needs online (KTEST_CPUS); 1 for most */
	int user;		/* 0, or KTEST_USER_CASE / _FAULT: a UTEST (fn is NULL) */
	unsigned port_base;	/* a UTEST_PORTS case: the I/O ports its process */
	unsigned port_count;	/* is granted, [base, base + count); count 0: none */
};
#define KTEST_USER_CASE  1	/* UTEST */
#define KTEST_USER_FAULT 2	/* UTEST_EXPECT_FAULT */

/*
 * Besides the descriptor (in .ktest.<suite>, gathered by the linker), each
 * case leaves a line "suite.name<TAB>P|-<TAB>timeout<TAB>cpus" in the
 * non-loaded section .ktest_index, so the host harness can list the cases
 * from the ELF file without booting it (timeout: seconds, 0 for the
 * default, and the harness gives a boot with a long case more time; cpus:
 * the CPUs the case needs, and bench.py boots a benchmark with that many).
 * Both numbers are written into the line as the macro's argument is
 * spelled, so they must be decimal literals, or macros that expand to one.
 */
#define KTEST__DEFINE(suite, name, ptext, kind, tmo, ncpus)                     \
	_Static_assert((ncpus) >= 1, "a test case needs at least one CPU");    \
	static void ktest_fn_##suite##_##name(void);                            \
	static const struct ktest ktest_desc_##suite##_##name                   \
		__used __attribute__((section(".ktest." #suite), aligned(8))) = { \
			#suite, #name, ktest_fn_##suite##_##name, ptext,         \
			__FILE__, __LINE__, tmo, ncpus, 0, 0, 0                  \
		};                                                               \
	__asm__(".pushsection .ktest_index,\"\",@progbits\n\t"                   \
		".ascii \"" #suite "." #name "\\t" kind "\\t" #tmo "\\t" #ncpus   \
		"\\n\"\n\t.popsection");                                         \
	static void ktest_fn_##suite##_##name(void)

/*
 * A user-space case (<utest.h>): the build lists them from the test
 * program's own index (tools/mkutests.py writes one KTEST_USER per case
 * into build/utest_cases.c), so the runner, the harness and the reports
 * see them as cases like any other; the runner starts `utests suite.name`
 * in a process of its own to run one (kernel/ktest.c), granting it the
 * I/O ports of a UTEST_PORTS case (proc_spawn_ports).
 */
#define KTEST_USER(suite, name, kind, order, tmo, ncpus, port_base, port_count) \
	static const struct ktest ktest_udesc_##suite##_##name                  \
		__used __attribute__((section(".ktest." #suite), aligned(8))) = { \
			#suite, #name, NULL, NULL, "user", order, tmo, ncpus, kind, \
			port_base, port_count                                     \
		};                                                               \
	__asm__(".pushsection .ktest_index,\"\",@progbits\n\t"                   \
		".ascii \"" #suite "." #name "\\t-\\t" #tmo "\\t" #ncpus "\\n\"\n\t.popsection")

#define KTEST(suite, name) KTEST__DEFINE(suite, name, NULL, "-", 0, 1)
#define KTEST_TIMEOUT(suite, name, seconds) KTEST__DEFINE(suite, name, NULL, "-", seconds, 1)
#define KTEST_EXPECT_PANIC(suite, name, text) KTEST__DEFINE(suite, name, "" text, "P", 0, 1)
#define KTEST_CPUS(suite, name, ncpus) KTEST__DEFINE(suite, name, NULL, "-", 0, ncpus)
#define KTEST_CPUS_TIMEOUT(suite, name, ncpus, seconds)                         \
	KTEST__DEFINE(suite, name, NULL, "-", seconds, ncpus)

/*
 * KTEST_POINTS(suite, name, points); what case suite.name is worth in
 * `make grade` (1 without it; docs/labs.md), anywhere at file scope, a
 * decimal literal. A line "suite.name<TAB>points" in the non-loaded
 * section .grade_points, which tools/grade.py reads from the kernel's ELF
 * file. UTEST_POINTS (<utest.h>) is the same for a user case.
 */
#define KTEST_POINTS(suite, name, points)                                       \
	__asm__(".pushsection .grade_points,\"\",@progbits\n\t"                  \
		".ascii \"" #suite "." #name "\\t" #points "\\n\"\n\t.popsection")

/* The checks. They return whether the check held; the macros act on that. */
bool ktest_check(bool ok, const char *expr, const char *file, int line);
bool ktest_check_eq(bool ok, const char *ea, const char *eb, uint64_t a, uint64_t b,
		    const char *file, int line);
__noreturn void ktest_leave(void);
__noreturn void ktest_skip(const char *why);
void ktest_log(const char *fmt, ...) __printf(1, 2);

#define KT_EXPECT(c) ((void)ktest_check(!!(c), #c, __FILE__, __LINE__))
#define KT_ASSERT(c)                                                    \
	do {                                                            \
		if (!ktest_check(!!(c), #c, __FILE__, __LINE__))        \
			ktest_leave();                                  \
	} while (0)
#define KT__EQ(a, b)                                                    \
	({                                                              \
		uint64_t kt_a_ = (uint64_t)(a), kt_b_ = (uint64_t)(b);  \
		ktest_check_eq(kt_a_ == kt_b_, #a, #b, kt_a_, kt_b_,    \
			       __FILE__, __LINE__);                     \
	})
#define KT_EXPECT_EQ(a, b) ((void)KT__EQ(a, b))
#define KT_ASSERT_EQ(a, b)                                              \
	do {                                                            \
		if (!KT__EQ(a, b))                                      \
			ktest_leave();                                  \
	} while (0)
#define KT_SKIP(why) ktest_skip(why)
#define KT_LOG(...) ktest_log(__VA_ARGS__)

/* The runner (kernel/ktest.c). */
bool ktest_glob_match(const char *glob, const char *s);
/* True if s matches any of the comma-separated globs (ktest.skip=). */
bool ktest_glob_list_match(const char *globs, const char *s);
__noreturn void ktest_run(const char *glob);
/* The ktest= option: "" when the boot runs no tests. */
const char *ktest_glob(void);
/* Whether a user case's process status counts as the fault a
 * UTEST_EXPECT_FAULT case expects (-11, -4, -8; not a breakpoint's -5). */
bool ktest_status_is_fault(int status);
/* Whether this boot runs case "suite.name" (ktest= selects it, ktest.skip=
 * does not drop it). */
bool ktest_selected(const char *full);
/*
 * A kernel case may run a user case beside itself, as its load: both then
 * share one window of a fixed-length stress (tests/vmm/rendezvous_test.c).
 * The host starts it with ktest_user_start (a pid, or an error) and ends
 * with ktest_user_finish, which waits (the user case's own deadline,
 * counted from its start),
 * prints why it failed or skipped, and returns false only if it failed.
 * The runner asks ktest_user_case_host(full) before it runs a user case:
 * a test file that defines it returns the host's "suite.name" for a case
 * that host will run, or has run, in this boot, and the runner reports
 * that case skipped, naming the host; the weak default returns NULL.
 */
int ktest_user_start(const char *full);
bool ktest_user_finish(const char *full, int pid);
const char *ktest_user_case_host(const char *full);
/* Called from the timer tick: ends the current case if it ran too long. */
void ktest_watchdog_tick(void);

#endif
