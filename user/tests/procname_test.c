/*
 * user/tests/procname_test.c - setname and getname, the system calls of
 * labs/syscall.md: a string in (copyinstr, bounded), a string out
 * (copyout), and every way a pointer can be bad, after Pintos's
 * robustness rubric. `make grade LAB=syscall` runs these.
 *
 * A name is at most PROC_NAME_MAX - 1 = 23 characters; ps shows it.
 */
#include "helpers.h"

#define MS 1000000UL
#define NAME_MAX_LEN 23

static void expect_name(int pid, const char *want)
{
	char buf[32];
	memset(buf, 'x', sizeof(buf));
	UT_EXPECT_EQ(getname(pid, buf, sizeof(buf)), (long)strlen(want));
	UT_EXPECT(!strcmp(buf, want));
}

UTEST(procname, a_name_set_is_the_name_read_back)
{
	UT_ASSERT_EQ(setname("student"), 0);
	expect_name(0, "student");
	expect_name(getpid(), "student");
	UT_ASSERT_EQ(setname("second"), 0);		/* shorter: no trace of the first */
	expect_name(0, "second");
}

static void name_then_wait(void *arg)
{
	UT_ASSERT_EQ(setname("the-child"), 0);
	sleep_ns(200 * MS);
}

UTEST(procname, another_process_s_name_can_be_read)
{
	int pid = ut_fork(name_then_wait, NULL);
	char buf[32] = "";
	for (int i = 0; i < 100 && strcmp(buf, "the-child"); i++) {
		getname(pid, buf, sizeof(buf));
		sleep_ns(MS);
	}
	UT_EXPECT(!strcmp(buf, "the-child"));
	int st;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(getname(pid, buf, sizeof(buf)), -ESRCH);	/* reaped: gone */
	UT_EXPECT_EQ(getname(1 << 30, buf, sizeof(buf)), -ESRCH);
	UT_EXPECT_EQ(getname(-1, buf, sizeof(buf)), -EINVAL);
}

UTEST(procname, the_longest_name_fits_and_one_more_is_refused)
{
	char name[NAME_MAX_LEN + 2];
	memset(name, 'a', NAME_MAX_LEN);
	name[NAME_MAX_LEN] = '\0';
	UT_ASSERT_EQ(setname(name), 0);
	expect_name(0, name);
	UT_ASSERT_EQ(setname("kept"), 0);
	name[NAME_MAX_LEN] = 'b';
	name[NAME_MAX_LEN + 1] = '\0';
	UT_EXPECT_EQ(setname(name), -ENAMETOOLONG);
	expect_name(0, "kept");				/* a refused name changes nothing */
	UT_EXPECT_EQ(setname(""), -EINVAL);
	expect_name(0, "kept");
}

/* A short name that ends (NUL included) just before unmapped memory is
 * good: the call may read no further than the NUL (copyinstr, not a copy
 * of the largest name). */
UTEST(procname, a_name_ending_just_before_unmapped_memory_is_taken)
{
	char *edge = ut_heap_edge();			/* 8 bytes, then nothing */
	memcpy(edge + 5, "ab", 3);
	UT_EXPECT_EQ(setname(edge + 5), 0);
	expect_name(0, "ab");
	char buf[32];
	UT_EXPECT_EQ(getname(0, buf, (unsigned long)-1), -EINVAL);	/* a negative length */
	UT_EXPECT_EQ(syscall6(SYS_getname, 1L << 32, (long)buf, sizeof(buf), 0, 0, 0), -EINVAL);
}

UTEST(procname, a_buffer_too_small_is_erange_and_left_alone)
{
	UT_ASSERT_EQ(setname("twelve-chars"), 0);
	char buf[16];
	memset(buf, 'x', sizeof(buf));
	UT_EXPECT_EQ(getname(0, buf, 12), -ERANGE);	/* no room for the NUL */
	UT_EXPECT_EQ(buf[0], 'x');
	UT_EXPECT_EQ(getname(0, buf, 0), -ERANGE);
	UT_EXPECT_EQ(getname(0, buf, 13), 12);		/* exactly enough */
	UT_EXPECT(!strcmp(buf, "twelve-chars"));
}

UTEST(procname, setname_with_a_bad_pointer_is_efault)
{
	UT_ASSERT_EQ(setname("before"), 0);
	for (int i = 0; i < UT_BAD_PTRS; i++)
		EXPECT_EFAULT(setname((const char *)ut_bad_ptrs[i].p), ut_bad_ptrs[i].what);
	/* a name whose NUL would be in unmapped memory */
	char *edge = ut_heap_edge();
	memcpy(edge, "abcdefgh", 8);
	EXPECT_EFAULT(setname(edge), "a name running into unmapped memory");
	expect_name(0, "before");
}

UTEST(procname, getname_with_a_bad_buffer_is_efault)
{
	UT_ASSERT_EQ(setname("a-name-of-15-ch"), 0);
	for (int i = 0; i < UT_BAD_PTRS; i++)
		EXPECT_EFAULT(getname(0, (char *)ut_bad_ptrs[i].p, 32), ut_bad_ptrs[i].what);
	EXPECT_EFAULT(getname(0, (char *)UT_NEAR_TOP, 32), "a buffer running off user space");
	EXPECT_EFAULT(getname(0, ut_heap_edge(), 32), "a buffer running into unmapped memory");
	int before = ut_text_word();
	EXPECT_EFAULT(getname(0, (char *)ut_program_text(), 32), "the program's text (read-only)");
	UT_EXPECT_EQ(ut_text_word(), before);
}

UTEST_POINTS(procname, setname_with_a_bad_pointer_is_efault, 2);
UTEST_POINTS(procname, getname_with_a_bad_buffer_is_efault, 2);
