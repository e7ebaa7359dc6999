/*
 * tests/ktest/ktest_test.c - the test runner's own pieces: glob selection
 * and the checks' verdicts.
 */
#include <ktest.h>
#include <uapi/syscall.h>

KTEST(ktest, glob_list_matching)
{
	KT_EXPECT(ktest_glob_list_match("vmm.*,rendezvous.*", "vmm.hlt"));
	KT_EXPECT(ktest_glob_list_match("vmm.*,rendezvous.*", "rendezvous.x"));
	KT_EXPECT(!ktest_glob_list_match("vmm.*,rendezvous.*", "mm.pmm"));
	KT_EXPECT(!ktest_glob_list_match("", "mm.pmm"));	/* none: nothing skipped */
	KT_EXPECT(ktest_glob_list_match(",,lib.*,", "lib.printf"));	/* empty parts ignored */
	KT_EXPECT(!ktest_glob_list_match(",", "lib.printf"));
}

KTEST(ktest, glob_matching)
{
	KT_EXPECT(ktest_glob_match("*", "lib.printf"));
	KT_EXPECT(ktest_glob_match("lib.*", "lib.printf"));
	KT_EXPECT(!ktest_glob_match("lib.*", "mm.pmm"));
	KT_EXPECT(ktest_glob_match("*.printf_*", "lib.printf_signed"));
	KT_EXPECT(ktest_glob_match("lib.?tring", "lib.string"));
	KT_EXPECT(!ktest_glob_match("lib.?tring", "lib.strin"));
	KT_EXPECT(ktest_glob_match("[lm]*", "mm.x"));
	KT_EXPECT(!ktest_glob_match("[!lm]*", "mm.x"));
	KT_EXPECT(ktest_glob_match("[a-c]tx", "ctx"));
	KT_EXPECT(!ktest_glob_match("lib", "lib.printf"));
	KT_EXPECT(ktest_glob_match("a**b", "ab"));
}

KTEST(ktest, checks_return_verdicts)
{
	/* A passing check returns true and records nothing. */
	KT_EXPECT(ktest_check(true, "true", __FILE__, __LINE__));
	KT_EXPECT(ktest_check_eq(true, "1", "1", 1, 1, __FILE__, __LINE__));
}

KTEST(ktest, skip_is_reported_as_skip)
{
	KT_SKIP("shows that KT_SKIP leaves the case and reports SKIP");
	KT_EXPECT(false);	/* never reached */
}

/* UTEST_EXPECT_FAULT passes on the faults CONTRACT.md names and nothing
 * else: a case that means a bad access must not pass on a breakpoint. */
KTEST(ktest, expect_fault_takes_faults_not_breakpoints_or_exits)
{
	KT_EXPECT(ktest_status_is_fault(WAIT_SEGV));
	KT_EXPECT(ktest_status_is_fault(WAIT_ILL));
	KT_EXPECT(ktest_status_is_fault(WAIT_FPE));
	KT_EXPECT(!ktest_status_is_fault(WAIT_TRAP));
	KT_EXPECT(!ktest_status_is_fault(WAIT_KILLED));
	KT_EXPECT(!ktest_status_is_fault(0));
	KT_EXPECT(!ktest_status_is_fault(1));
}
