/*
 * user/tests/helpers.c - the helpers of helpers.h: children, counters at
 * rest. No test cases here.
 */
#include "helpers.h"
#include <fpu_regs.h>
#include <uvm.h>

int ut_fork(void (*fn)(void *), void *arg)
{
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		fn(arg);
		exit(utest_failed() ? 1 : 0);	/* its failed checks fail the case */
	}
	return pid;
}

int ut_child(void (*fn)(void *), void *arg)
{
	int pid = ut_fork(fn, arg);
	int status = 0x7FFF;
	UT_ASSERT_EQ(waitpid(pid, &status), pid);
	return status;
}

static void add_one(void *arg)
{
	__atomic_add_fetch((volatile int *)arg, 1, __ATOMIC_RELAXED);
}

int ut_run_threads(int n)
{
	volatile int count = 0;
	int tids[UTHREADS_MAX];
	UT_ASSERT(n < UTHREADS_MAX);
	for (int i = 0; i < n; i++) {
		tids[i] = uthread_create(add_one, (void *)&count);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < n; i++)
		UT_ASSERT_EQ(uthread_join(tids[i]), 0);
	return count;
}

void ut_sysinfo(struct sysinfo *si)
{
	UT_ASSERT_EQ(sysinfo(si), 0);
}

bool ut_settle(unsigned long procs, unsigned long timeout_ns, struct sysinfo *si)
{
	unsigned long deadline = clock_ns() + timeout_ns;
	for (;;) {
		ut_sysinfo(si);
		if (si->procs == procs)
			return true;
		if (clock_ns() >= deadline)
			return false;
		sleep_ns(1000000);
	}
}

void ut_expect_baseline(const struct sysinfo *before, const struct sysinfo *after)
{
	UT_EXPECT_EQ(after->procs, before->procs);
	UT_EXPECT_EQ(after->threads, before->threads);
	UT_EXPECT_EQ(after->user_pages, before->user_pages);
	UT_EXPECT_EQ(after->free_pages, before->free_pages);
	UT_EXPECT_EQ(after->kmem_bytes, before->kmem_bytes);
	UT_EXPECT_EQ(after->kmem_objects, before->kmem_objects);
}

void ut_child_leaves_nothing(void (*fn)(void *), void *arg)
{
	struct sysinfo before, after;
	ut_sysinfo(&before);
	UT_EXPECT_EQ(ut_child(fn, arg), 0);
	UT_EXPECT(ut_settle(before.procs, 1000000000UL, &after));
	ut_expect_baseline(&before, &after);
}

long ut_fill_heap(void)
{
	long chunk = 1L << 28, total = 0;
	while (chunk >= 4096) {
		if (IS_ERR_VALUE(sbrk(chunk)))
			chunk /= 2;
		else
			total += chunk;
	}
	return total;
}

void ut_spin_ns(unsigned long ns)
{
	unsigned long end = clock_ns() + ns;
	while (clock_ns() < end)
		for (volatile int i = 0; i < 100; i++)
			;
}

int ut_rounds(int n)
{
	struct sysinfo si;
	ut_sysinfo(&si);
	if (si.ncpus > 1)
		return n;
	return n / 4 > 0 ? n / 4 : 1;
}

void ut_wait_for_partner(void)
{
	struct fpu_info a, b;
	UT_ASSERT_EQ(fpu_get_info(&a), 0);
	for (int in_a_row = 0, i = 0; in_a_row < 3 && i < 10000; i++) {
		sched_yield();
		fpu_get_info(&b);
		in_a_row = b.switches > a.switches ? in_a_row + 1 : 0;
		a = b;
	}
}

/* ---- pointers no system call may follow ---- */

const struct ut_bad_ptr ut_bad_ptrs[UT_BAD_PTRS] = {
	{ "NULL", 0 },
	{ "the kernel image", 0x100000 },
	{ "the kernel's top half", 0xFFFFFF8000000000UL },
	{ "non-canonical", 0x8000000000000000UL },
	{ "non-canonical, just above user space", 0x0000800000000000UL },
	{ "user space, nothing mapped", USER_SPACE_BASE },
	{ "the last page below the hole", USER_SPACE_TOP },
};

char *ut_heap_edge(void)
{
	unsigned long brk = (unsigned long)sbrk(0);
	unsigned long end = (brk + 4096) & ~4095UL;
	UT_ASSERT(!IS_ERR_VALUE(sbrk((long)(end - brk))));
	return (char *)end - 8;
}

void *ut_program_text(void)
{
	return (void *)(unsigned long)&ut_program_text;
}

int ut_text_word(void)
{
	return *(volatile int *)ut_program_text();
}

void ut_run_vcpu(void *arg)
{
	struct ut_vcpu *x = arg;
	x->r = (struct uvm_run){ 0 };
	for (;;) {
		x->err = vm_run(x->vm, x->id, &x->r);
		if (x->err || x->r.reason == UVM_EXIT_STOPPED)
			return;
		if (x->pio_only && (x->r.port != UVM_PORT_PIO || x->r.in)) {
			x->err = -1000 - x->r.port;	/* a port the guest should not use */
			return;
		}
		x->exits++;
		x->r.in_value = x->r.port == UVM_PORT_COM1 + 5 ? 0x60 : 0;
	}
}
