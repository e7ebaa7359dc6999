/*
 * user/tests/uchain_test.c - a user thread's context-op chain as ring 3
 * sees it: fork copies what the ops hold (the FS and GS bases here; the
 * FPU state in ufpu_test.c), each process keeps its own afterwards, and
 * processes and threads that end give back what the kernel made for them.
 * The kernel's side (the chain's order, as the monitor's `ctxops` shows
 * it; the ops counted back) is in tests/ufpu/ufpu_test.c.
 */
#include <fpu_regs.h>
#include <utest.h>

#define FS_BASE 0x0000700000001000UL	/* canonical, user, never dereferenced */
#define GS_BASE 0x0000700000002000UL
#define MOVED   0x10000UL

UTEST(uchain, fork_copies_the_fs_and_gs_bases_then_each_keeps_its_own)
{
	UT_ASSERT_EQ(set_fs_base(FS_BASE), 0);
	UT_ASSERT_EQ(set_gs_base(GS_BASE), 0);
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		int bad = (get_fs_base() != FS_BASE) | (get_gs_base() != GS_BASE) << 1;
		set_fs_base(FS_BASE + MOVED);
		set_gs_base(GS_BASE + MOVED);
		for (int i = 0; i < 20; i++)
			sched_yield();
		bad |= (get_fs_base() != FS_BASE + MOVED) << 2 | (get_gs_base() != GS_BASE + MOVED) << 3;
		exit(bad);
	}
	for (int i = 0; i < 20; i++) {
		sched_yield();
		UT_EXPECT_EQ(get_fs_base(), FS_BASE);
		UT_EXPECT_EQ(get_gs_base(), GS_BASE);
	}
	int status = -1;
	UT_EXPECT_EQ(waitpid(pid, &status), pid);
	UT_EXPECT_EQ(status, 0);	/* 1, 2: not copied; 4, 8: not kept across switches */
	set_fs_base(0);
	set_gs_base(0);
}

static void fpu_worker(void *arg)
{
	struct fpu_regs want, got;
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	fpu_regs_make(&want, &rng, 0xF2A0);
	for (int i = 0; i < 10; i++)
		fpu_regs_hold(&want, &got, SYS_yield, 0, 0, 0);
}

/* A process with three threads that use the FPU, and a thread of ours. */
static void one_round(void)
{
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		int tids[3];
		for (int i = 0; i < 3; i++)
			tids[i] = uthread_create(fpu_worker, (void *)(uintptr_t)(i + 1));
		for (int i = 0; i < 3; i++)
			uthread_join(tids[i]);
		exit(0);
	}
	int status = -1;
	UT_EXPECT_EQ(waitpid(pid, &status), pid);
	UT_EXPECT_EQ(status, 0);
	int tid = uthread_create(fpu_worker, (void *)7);
	UT_ASSERT(tid > 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
}

UTEST(uchain, ended_processes_and_threads_give_back_kernel_memory)
{
	fpu_regs_init();
	one_round();			/* the heap's caches warm */
	struct sysinfo a, b;
	UT_ASSERT_EQ(sysinfo(&a), 0);
	for (int i = 0; i < 3; i++)
		one_round();
	UT_ASSERT_EQ(sysinfo(&b), 0);
	UT_LOG("kernel heap: %lu objects, %lu bytes before; %lu, %lu after", a.kmem_objects,
	       a.kmem_bytes, b.kmem_objects, b.kmem_bytes);
	UT_EXPECT_EQ(b.kmem_objects, a.kmem_objects);	/* threads, ops, FPU state, areas */
	UT_EXPECT_EQ(b.kmem_bytes, a.kmem_bytes);
}
