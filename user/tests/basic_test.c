/*
 * user/tests/basic_test.c - the first things a process can do: print, know
 * who it is, make a child and wait for it, get an error for a bad call.
 */
#include <utest.h>

UTEST(user, write_prints_to_the_console)
{
	const char msg[] = "    # hello from ring 3\n";
	UT_EXPECT_EQ(write(1, msg, sizeof(msg) - 1), sizeof(msg) - 1);
}

UTEST(user, getpid_is_positive_and_stable)
{
	int pid = getpid();
	UT_EXPECT(pid > 0);
	UT_EXPECT_EQ(getpid(), pid);
}

UTEST(user, fork_child_exit_code_reaches_waitpid)
{
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0)
		exit(42);
	int status = -1;
	UT_EXPECT_EQ(waitpid(pid, &status), pid);
	UT_EXPECT_EQ(status, 42);
}

UTEST(user, unknown_syscall_is_enosys)
{
	UT_EXPECT_EQ(syscall6(9999, 0, 0, 0, 0, 0, 0), -ENOSYS);
}

UTEST(user, write_from_a_kernel_address_is_efault)
{
	UT_EXPECT_EQ(write(1, (const void *)0x100000, 8), -EFAULT);
}

UTEST_EXPECT_FAULT(user, null_read_kills_the_process)
{
	volatile int *p = (volatile int *)0;
	(void)*p;
}

static void add_one(void *arg)
{
	__atomic_add_fetch((volatile int *)arg, 1, __ATOMIC_RELAXED);
}

UTEST(user, threads_run_and_join)
{
	volatile int count = 0;
	int tids[4];
	for (int i = 0; i < 4; i++) {
		tids[i] = uthread_create(add_one, (void *)&count);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < 4; i++)
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
	UT_EXPECT_EQ(count, 4);
}

UTEST(user, sbrk_memory_reads_as_zero)
{
	unsigned char *p = sbrk(3 * 4096);
	UT_ASSERT(!IS_ERR_VALUE(p));
	int nonzero = 0;
	for (int i = 0; i < 3 * 4096; i++)
		nonzero += p[i] != 0;
	UT_EXPECT_EQ(nonzero, 0);
	p[0] = 1;
	UT_EXPECT_EQ(sbrk(-3 * 4096), (void *)(p + 3 * 4096));
}

UTEST(user, spawn_runs_a_program)
{
	const char *argv[] = { "hello", "from", "a", "test", NULL };
	int pid = spawn("hello", argv);
	UT_ASSERT(pid > 0);
	int status = -1;
	UT_EXPECT_EQ(waitpid(pid, &status), pid);
	UT_EXPECT_EQ(status, 0);
}
