/*
 * utest.h - tests that run in ring 3 (user/lib/utest.c runs them).
 *
 *   UTEST(suite, name) { ... }              a test case, in a process of its
 *                                           own
 *   UTEST_EXPECT_FAULT(suite, name) { ... } passes only if the kernel kills
 *                                           its process for a fault (a bad
 *                                           access, #UD, #GP, a divide
 *                                           error) and the kernel goes on
 *
 *   UT_ASSERT(c), UT_ASSERT_EQ(a, b)    on failure: report, end the case
 *   UT_EXPECT(c), UT_EXPECT_EQ(a, b)    on failure: report, go on
 *   UT_SKIP("why"), UT_LOG(fmt, ...)    as KT_SKIP, KT_LOG
 *   UTEST_TIMEOUT(suite, name, seconds) a case with a longer watchdog
 *   UTEST_PORTS(suite, name, base, count)  a case whose process may use I/O
 *                                       ports [base, base + count) (the
 *                                       kernel grants them when it starts
 *                                       it, as it would a driver's)
 *   UTEST_CPUS(suite, name, ncpus)      a case that needs several CPUs
 *
 * The files are linked into one program, utests, built into the kernel;
 * `make test EXTRA_UTESTS='a.c b.c'` adds files from outside the tree.
 * The kernel's test runner starts `utests suite.name` for each selected
 * case (ktest=GLOB selects them like kernel cases), waits for it, and
 * reports it in the same KTAP, JUnit and summary as the kernel's cases.
 * A failure prints the expression, both values of an _EQ, file and line.
 * A case that ends by returning passes unless a check failed; one that
 * exits or is killed otherwise fails, saying how it ended.
 */
#ifndef UTEST_H
#define UTEST_H

#include <ulib.h>

struct utest {
	const char *suite;
	const char *name;
	void (*fn)(void);
	bool expect_fault;
	const char *file;
	int line;
	unsigned timeout_s;		/* 0: the runner's default (10 s) */
	unsigned ncpus;			/* CPUs it needs */
	unsigned nports;		/* I/O ports the kernel must grant it */
};

/* Each case: a descriptor in .utest (the table utests searches), and a
 * line "suite.name<TAB>F|-<TAB>timeout<TAB>cpus" in the non-loaded section
 * .utest_index, from which the kernel's build learns the list of cases
 * (tools/mkutests.py) and the harness with it; a UTEST_PORTS case's line
 * goes on with "<TAB>base<TAB>count", the two as they are spelled after
 * macro expansion (decimal or 0x literals). */
#define UTEST__DEFINE(suite, name, fault, kind, tmo, ncpus, ports, nports)        \
	static void utest_fn_##suite##_##name(void);                              \
	static const struct utest utest_desc_##suite##_##name                     \
		__attribute__((used, section(".utest"), aligned(8))) = {          \
			#suite, #name, utest_fn_##suite##_##name, fault,          \
			__FILE__, __LINE__, tmo, ncpus, nports                    \
		};                                                                 \
	__asm__(".pushsection .utest_index,\"\",@progbits\n\t"                     \
		".ascii \"" #suite "." #name "\\t" kind "\\t" #tmo "\\t" #ncpus ports "\\n\"\n\t" \
		".popsection");                                                    \
	static void utest_fn_##suite##_##name(void)

#define UTEST(suite, name) UTEST__DEFINE(suite, name, false, "-", 0, 1, "", 0)
#define UTEST_EXPECT_FAULT(suite, name) UTEST__DEFINE(suite, name, true, "F", 0, 1, "", 0)
/* A case that runs longer than the runner's default watchdog (ktest.timeout,
 * 10 s): seconds, a decimal literal. */
#define UTEST_TIMEOUT(suite, name, seconds) UTEST__DEFINE(suite, name, false, "-", seconds, 1, "", 0)
/* A case that needs at least ncpus CPUs (a decimal literal): skipped with
 * fewer, and `make bench` boots a benchmark with that many (KTEST_CPUS). */
#define UTEST_CPUS(suite, name, ncpus) UTEST__DEFINE(suite, name, false, "-", 0, ncpus, "", 0)
/* (two steps, so that base and count are expanded before # spells them) */
#define UTEST_PORTS(suite, name, base, count) UTEST__PORTS(suite, name, base, count)
#define UTEST__PORTS(suite, name, base, count) \
	UTEST__DEFINE(suite, name, false, "-", 0, 1, "\\t" #base "\\t" #count, count)

/* UTEST_POINTS(suite, name, points); what case suite.name is worth in
 * `make grade` (1 without it; docs/labs.md):
 * a line in the non-loaded section .grade_points of the test program. */
#define UTEST_POINTS(suite, name, points)                                       \
	__asm__(".pushsection .grade_points,\"\",@progbits\n\t"                  \
		".ascii \"" #suite "." #name "\\t" #points "\\n\"\n\t.popsection")

bool utest_check(bool ok, const char *expr, const char *file, int line);
bool utest_check_eq(bool ok, const char *ea, const char *eb, long a, long b,
		    const char *file, int line);
__attribute__((noreturn)) void utest_leave(void);
/* If set, called (once) at the first failed check, before it is reported
 * (a case that changed the console puts it back so that the report shows). */
extern void (*utest_on_failure)(void);
/* Has a check of this process failed (a forked child's own, from the fork
 * on, and those it inherited)? */
bool utest_failed(void);
/* Was this case started by `utests --run` (the shell's test) rather than
 * by the kernel's runner? A case that depends on who started it asks. */
bool utest_standalone(void);
__attribute__((noreturn)) void utest_skip(const char *why);
void utest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define UT_EXPECT(c) ((void)utest_check(!!(c), #c, __FILE__, __LINE__))
#define UT_ASSERT(c)                                                  \
	do {                                                          \
		if (!utest_check(!!(c), #c, __FILE__, __LINE__))      \
			utest_leave();                                \
	} while (0)
#define UT__EQ(a, b)                                                  \
	({                                                            \
		long ut_a_ = (long)(a), ut_b_ = (long)(b);            \
		utest_check_eq(ut_a_ == ut_b_, #a, #b, ut_a_, ut_b_,  \
			       __FILE__, __LINE__);                   \
	})
#define UT_EXPECT_EQ(a, b) ((void)UT__EQ(a, b))
#define UT_ASSERT_EQ(a, b)                                            \
	do {                                                          \
		if (!UT__EQ(a, b))                                    \
			utest_leave();                                \
	} while (0)
#define UT_SKIP(why) utest_skip(why)
#define UT_LOG(...) utest_log(__VA_ARGS__)

#endif
