/*
 * user/tests/memory_test.c - a process's memory: the heap (sbrk, malloc),
 * and memory that is handed out clean and given back whole.
 *
 * What is asserted:
 *   - sbrk moves the break by exactly the increment, both ways, and
 *     refuses to go below the heap's base (-EINVAL) or past its limit or
 *     the machine's memory (-ENOMEM), leaving the break and the pages as
 *     they were;
 *   - memory a process is given reads as zeros: a new heap page, the part
 *     of a page the break grows back over, a new thread's stack, and no
 *     page ever shows what another process left in it (xv6's "secret"
 *     lab);
 *   - malloc keeps every block apart under a random mix of sizes;
 *   - once every child, program and thread has ended, the page, kernel
 *     heap, process, thread and user-page counters are back where they
 *     started;
 *   - when memory is full (the heap took all it may, by this process or
 *     another), fork, spawn and thread_create are -ENOMEM, change nothing
 *     and never panic the kernel, whose reserve the heap cannot take; a
 *     thread whose user stack fits gets its kernel side from the reserve.
 * A case starts with an empty heap: utests allocates nothing before it.
 */
#include "helpers.h"

#define PAGE 4096L
#define MS 1000000UL

static long nonzero_bytes(const unsigned char *p, long n)
{
	long c = 0;
	for (long i = 0; i < n; i++)
		c += p[i] != 0;
	return c;
}

UTEST(memory, sbrk_moves_the_break_exactly)
{
	char *base = sbrk(0);
	struct sysinfo s0, s1;
	ut_sysinfo(&s0);
	UT_EXPECT_EQ((long)sbrk(-1), -EINVAL);		/* below the base by one byte */
	UT_EXPECT_EQ(sbrk(10000), base);
	UT_EXPECT_EQ(sbrk(0), base + 10000);
	memset(base, 0x5A, 10000);
	ut_sysinfo(&s1);
	UT_EXPECT_EQ(s1.user_pages, s0.user_pages + 3);	/* 10000 bytes: three pages */
	UT_EXPECT_EQ(sbrk(1), base + 10000);
	UT_EXPECT_EQ(sbrk(-10001), base + 10001);
	UT_EXPECT_EQ(sbrk(0), base);
	UT_EXPECT_EQ((long)sbrk(-1), -EINVAL);
	ut_sysinfo(&s1);
	UT_EXPECT_EQ(s1.user_pages, s0.user_pages);
}

/* In a child: asks for more than the machine has free (within the heap's
 * limit), so every page is taken and must be given back. */
static void exhaust(void *arg)
{
	char *base = sbrk(0);
	struct sysinfo s0, s1;
	ut_sysinfo(&s0);
	long want = (long)(s0.free_pages + 1024) * PAGE;
	UT_ASSERT(want < (1L << 30));
	UT_EXPECT_EQ((long)sbrk(want), -ENOMEM);
	UT_EXPECT_EQ(sbrk(0), base);
	ut_sysinfo(&s1);
	UT_EXPECT_EQ(s1.user_pages, s0.user_pages);
	/* and the heap still works */
	UT_ASSERT_EQ(sbrk(PAGE), base);
	UT_EXPECT_EQ(nonzero_bytes((unsigned char *)base, PAGE), 0);
}

UTEST(memory, sbrk_past_the_limit_is_enomem_and_changes_nothing)
{
	char *base = sbrk(0);
	struct sysinfo s0, s1;
	ut_sysinfo(&s0);
	UT_EXPECT_EQ((long)sbrk(0x7FFFFFFFFFFFFFFFL), -ENOMEM);
	UT_EXPECT_EQ((long)sbrk((1L << 30) + 1), -ENOMEM);	/* the heap's limit: 1 GiB */
	UT_EXPECT_EQ(sbrk(0), base);
	ut_sysinfo(&s1);
	UT_EXPECT_EQ(s1.user_pages, s0.user_pages);
	/* out of memory within the limit: once the child is gone (its page
	 * tables with it), every page is back */
	UT_EXPECT_EQ(ut_child(exhaust, NULL), 0);
	ut_sysinfo(&s1);
	ut_expect_baseline(&s0, &s1);
}

UTEST(memory, sbrk_grown_back_over_a_page_reads_as_zero)
{
	unsigned char *p = sbrk(PAGE);
	UT_ASSERT(!IS_ERR_VALUE(p));
	memset(p, 0xA5, PAGE);
	UT_ASSERT_EQ(sbrk(-(PAGE - 96)), p + PAGE);	/* the page stays: 96 bytes in use */
	p[200] = 0xA5;				/* past the break, in the same page */
	UT_ASSERT_EQ(sbrk(PAGE - 96), p + 96);
	UT_EXPECT_EQ(nonzero_bytes(p + 96, PAGE - 96), 0);
	UT_EXPECT_EQ(p[95], 0xA5);		/* what was below the break stays */
}

/* ---- nobody sees another's data ---- */

#define SECRET_PAGES 64
static const char secret[] = "my very secret password, 0xC0FFEE";

static bool holds_secret(const char *p, long n)
{
	for (long i = 0; i + (long)sizeof(secret) <= n; i += 64)
		if (memcmp(p + i, secret, sizeof(secret)) == 0)
			return true;
	return false;
}

static void fill_secret(char *p, long n)
{
	for (long i = 0; i + (long)sizeof(secret) <= n; i += 64)
		memcpy(p + i, secret, sizeof(secret));
}

/* A child that fills its heap and a big stack frame with the secret, then
 * exits: its pages go back to the kernel. */
static void leave_a_secret(void *arg)
{
	char *heap = sbrk(SECRET_PAGES * PAGE);
	UT_ASSERT(!IS_ERR_VALUE(heap));
	fill_secret(heap, SECRET_PAGES * PAGE);
	volatile char frame[8 * PAGE];
	fill_secret((char *)frame, sizeof(frame));
}

static void look_for_the_secret(void *arg)
{
	char *heap = sbrk(2 * SECRET_PAGES * PAGE);
	UT_ASSERT(!IS_ERR_VALUE(heap));
	exit(holds_secret(heap, 2 * SECRET_PAGES * PAGE) ? 1 : 0);
}

UTEST(memory, pages_never_show_another_process_s_secret)
{
	for (int round = 0; round < 3; round++) {
		UT_ASSERT_EQ(ut_child(leave_a_secret, NULL), 0);
		/* the pages it freed: in a new child, and in this process */
		UT_EXPECT_EQ(ut_child(look_for_the_secret, NULL), 0);
		char *heap = sbrk(SECRET_PAGES * PAGE);
		UT_ASSERT(!IS_ERR_VALUE(heap));
		UT_EXPECT(!holds_secret(heap, SECRET_PAGES * PAGE));
		UT_EXPECT_EQ(nonzero_bytes((unsigned char *)heap, SECRET_PAGES * PAGE), 0);
		sbrk(-SECRET_PAGES * PAGE);
	}
}

#define STACK_PROBE (16 * 1024)

static void secret_on_the_stack(void *arg)
{
	volatile char frame[STACK_PROBE];
	fill_secret((char *)frame, sizeof(frame));
}

/* Looks below its own frame, where nothing of its own has been yet. */
static void probe_the_stack(void *arg)
{
	unsigned long sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	const unsigned char *below = (const unsigned char *)(sp - 256 - STACK_PROBE);
	*(long *)arg = nonzero_bytes(below, STACK_PROBE);
}

UTEST(memory, a_new_thread_s_stack_reads_as_zero)
{
	/* the slot a joined thread leaves is the next thread's */
	int tid = uthread_create(secret_on_the_stack, NULL);
	UT_ASSERT(tid > 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	long dirty = -1;
	tid = uthread_create(probe_the_stack, &dirty);
	UT_ASSERT(tid > 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(dirty, 0);
}

/* ---- malloc ---- */

UTEST(memory, malloc_keeps_blocks_apart_under_stress)
{
	enum { SLOTS = 64 };
	unsigned char *blk[SLOTS] = { 0 };
	size_t len[SLOTS] = { 0 };
	uint64_t seed = 12345;
	int ops = ut_rounds(2000), bad = 0;
	for (int op = 0; op < ops; op++) {
		int i = (int)(rand64(&seed) % SLOTS);
		if (blk[i]) {
			for (size_t k = 0; k < len[i]; k++)
				bad += blk[i][k] != (unsigned char)i;
			free(blk[i]);
			blk[i] = NULL;
			continue;
		}
		len[i] = 1 + rand64(&seed) % (rand64(&seed) % 8 ? 256 : 8192);
		blk[i] = malloc(len[i]);
		UT_ASSERT(blk[i] != NULL);
		UT_EXPECT_EQ((unsigned long)blk[i] % 16, 0);
		memset(blk[i], i, len[i]);
	}
	for (int i = 0; i < SLOTS; i++) {
		for (size_t k = 0; blk[i] && k < len[i]; k++)
			bad += blk[i][k] != (unsigned char)i;
		free(blk[i]);
	}
	UT_EXPECT_EQ(bad, 0);
	/* everything is free again: a block as big as the heap fits without
	 * growing it much */
	char *top = sbrk(0);
	long *z = calloc(1000, sizeof(long));
	UT_ASSERT(z != NULL);
	UT_EXPECT_EQ(nonzero_bytes((unsigned char *)z, 1000 * sizeof(long)), 0);
	UT_EXPECT((char *)sbrk(0) - top <= 8192);
	free(z);
	UT_EXPECT(malloc((size_t)1 << 40) == NULL);
	UT_EXPECT(calloc((size_t)1 << 40, (size_t)1 << 40) == NULL);
}

/* ---- everything given back ---- */

static void count_one(void *arg) { __atomic_add_fetch((volatile int *)arg, 1, __ATOMIC_RELAXED); }

/* A child's life: a heap, threads, a grandchild. */
static void busy_child(void *arg)
{
	char *p = malloc(3 * PAGE);
	UT_ASSERT(p != NULL);
	memset(p, 1, 3 * PAGE);
	int bad = ut_run_threads(4) != 4;
	volatile int n = 0;
	int pid = ut_fork(count_one, (void *)&n);
	bad += waitpid(pid, NULL) != pid || n != 0;	/* the grandchild's add was its own */
	exit(bad);
}

/* Four children (each with a heap, threads and a grandchild), a program,
 * and eight threads of this process; all waited for. */
static void busy_round(void)
{
	int pids[4];
	for (int i = 0; i < 4; i++)
		pids[i] = ut_fork(busy_child, NULL);
	const char *argv[] = { "hello", "baseline", NULL };
	int sp = spawn("hello", argv);
	UT_ASSERT(sp > 0);
	UT_EXPECT_EQ(ut_run_threads(8), 8);
	for (int i = 0; i < 4; i++) {
		int st = -1;
		UT_EXPECT_EQ(waitpid(pids[i], &st), pids[i]);
		UT_EXPECT_EQ(st, 0);
	}
	UT_EXPECT_EQ(waitpid(sp, NULL), sp);
}

UTEST(memory, counters_return_to_baseline_after_children_and_threads)
{
	/* This process exists throughout: the page tables its threads'
	 * stacks need are made by the first round and stay until it exits,
	 * so the baseline is taken after that round. */
	busy_round();
	struct sysinfo before, after;
	ut_sysinfo(&before);
	int rounds = ut_rounds(3);
	for (int r = 0; r < rounds; r++)
		busy_round();
	UT_EXPECT(ut_settle(before.procs, 1000 * MS, &after));
	ut_expect_baseline(&before, &after);
}

/* ---- memory runs out ---- */

#define USER_STACK_PAGES 16	/* a thread's user stack (kernel/proc.c) */

static volatile int sleepers_stop;
static void sleeper(void *arg)
{
	(void)arg;
	while (!sleepers_stop)
		sleep_ns(10 * MS);
}

static void nothing(void *arg) { (void)arg; }

/* With memory to spare: fork, spawn and thread_create work. */
static void expect_all_work(void)
{
	const char *argv[] = { "hello", "oom", NULL };
	UT_EXPECT_EQ(ut_child(nothing, NULL), 0);
	int sp = spawn("hello", argv);
	UT_EXPECT(sp > 0);
	UT_EXPECT_EQ(waitpid(sp, NULL), sp);
	UT_EXPECT_EQ(ut_run_threads(2), 2);
}

/*
 * In a child: take all the heap there is. Then fork (whose copy cannot
 * fit), spawn and thread_create are -ENOMEM and change nothing. Then give
 * the heap back a page at a time, asking for a thread after each page
 * (ten threads first, so that the kernel's cache of freed kernel stacks
 * is empty and the new thread needs a fresh one): -ENOMEM until its user
 * stack fits, then a thread, whose kernel stack, struct and FPU area come
 * from the kernel's reserve. It used to panic there: "thread_create: out
 * of memory for the stack of 'utests'" (a reviewer's scenario). With the
 * heap given back, all three calls work.
 */
static void full_then_fork_spawn_thread(void *arg)
{
	enum { SLEEPERS = 10 };
	const char *argv[] = { "hello", "oom", NULL };
	int tids[SLEEPERS];
	struct sysinfo s0, s1;
	volatile int n = 0;
	(void)arg;
	sleepers_stop = 0;
	for (int i = 0; i < SLEEPERS; i++) {
		tids[i] = uthread_create(sleeper, NULL);
		UT_ASSERT(tids[i] > 0);
	}
	long taken = ut_fill_heap();
	UT_ASSERT(taken > 0);
	ut_sysinfo(&s0);
	UT_EXPECT(s0.user_free_pages < 2);		/* full, as far as the heap goes */
	UT_EXPECT(s0.free_pages >= s0.reserve_pages);	/* and the reserve is there */
	UT_EXPECT_EQ(fork(), -ENOMEM);
	UT_EXPECT_EQ(spawn("hello", argv), -ENOMEM);
	UT_EXPECT_EQ(uthread_create(count_one, (void *)&n), -ENOMEM);
	ut_sysinfo(&s1);
	UT_EXPECT_EQ(s1.procs, s0.procs);
	UT_EXPECT_EQ(s1.threads, s0.threads);
	UT_EXPECT_EQ(s1.user_pages, s0.user_pages);
	UT_EXPECT_EQ(s1.kmem_objects, s0.kmem_objects);
	UT_EXPECT_EQ(n, 0);

	int t = -1, k, other = 0;
	for (k = 1; k <= 4 * USER_STACK_PAGES; k++) {
		UT_ASSERT(!IS_ERR_VALUE(sbrk(-PAGE)));
		t = uthread_create(sleeper, NULL);
		if (t > 0)
			break;
		other += t != -ENOMEM;
	}
	UT_LOG("took %ld KiB of heap; a thread after %d pages given back", taken / 1024, k);
	UT_EXPECT_EQ(other, 0);
	UT_EXPECT(k > 1);			/* one page is not a stack */
	/* the user stack and a table; and the thread's kernel side (an 8-page
	 * stack, its FPU area) which, taken first, comes out of the pages the
	 * heap gave back while there are more than the reserve */
	UT_EXPECT(k <= USER_STACK_PAGES + 16);
	sleepers_stop = 1;
	for (int i = 0; i < SLEEPERS; i++)
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
	UT_ASSERT(t > 0);
	UT_EXPECT_EQ(uthread_join(t), 0);

	UT_ASSERT(!IS_ERR_VALUE(sbrk(-(taken - k * PAGE))));
	expect_all_work();
}

UTEST(memory, with_memory_full_fork_spawn_and_thread_create_are_enomem_until_they_fit)
{
	ut_child_leaves_nothing(full_then_fork_spawn_thread, NULL);
}

/* What one thread needs: its user stack and a table, and its kernel side
 * (8-page stack, FPU area, a slab), which comes out of the same free pages
 * first; not two threads' worth */
#define HOG_GIVE_BACK (USER_STACK_PAGES + 24)

static void hog_helper(void *arg)
{
	while (!*(volatile int *)arg)
		sleep_ns(MS);
}

/* The hog: takes all the heap there is, gives back just enough for a
 * thread's user stack, says so (its helper thread ends; not joined, so
 * its stacks stay where they are), and waits to be killed. */
static void hog(void *arg)
{
	volatile int filled = 0;
	(void)arg;
	int tid = uthread_create(hog_helper, (void *)&filled);
	UT_ASSERT(tid > 0);
	ut_fill_heap();
	UT_ASSERT(!IS_ERR_VALUE(sbrk(-HOG_GIVE_BACK * PAGE)));
	filled = 1;
	for (;;)
		sleep_ns(1000 * MS);
}

/*
 * Two processes compete: a hog takes all the memory but a thread's user
 * stack, and this process then makes a thread (its kernel stack, struct
 * and FPU area come from the kernel's reserve: it used to panic there),
 * forks and spawns (-ENOMEM: their copies and images cannot fit), and
 * makes a second thread (-ENOMEM: the pages are gone). Once the hog is
 * killed, all of it works. Sleeping threads hold the kernel's cache of
 * freed stacks empty, so every new thread needs a fresh kernel stack. All
 * in a child, whose page tables go with it, so that the counters come
 * back.
 */
static void compete(void *arg)
{
	enum { SLEEPERS = 10 };
	const char *argv[] = { "hello", "oom", NULL };
	struct sysinfo before, si;
	int tids[SLEEPERS];
	(void)arg;
	sleepers_stop = 0;
	for (int i = 0; i < SLEEPERS; i++) {
		tids[i] = uthread_create(sleeper, NULL);
		UT_ASSERT(tids[i] > 0);
	}
	ut_sysinfo(&before);
	int pid = ut_fork(hog, NULL);
	/* the hog is done once its helper has ended: its pages are many, and
	 * its live threads down to one */
	unsigned long deadline = clock_ns() + 5000 * MS;
	for (;;) {
		ut_sysinfo(&si);
		if (si.threads == before.threads + 1 &&
		    si.user_pages > before.user_pages + before.free_pages / 2)
			break;
		UT_ASSERT(clock_ns() < deadline);
		sleep_ns(MS);
	}
	volatile int n = 0;
	int t = uthread_create(count_one, (void *)&n);
	UT_EXPECT(t > 0);
	UT_EXPECT_EQ(fork(), -ENOMEM);
	UT_EXPECT_EQ(spawn("hello", argv), -ENOMEM);
	UT_EXPECT_EQ(uthread_create(count_one, (void *)&n), -ENOMEM);
	if (t > 0)
		UT_EXPECT_EQ(uthread_join(t), 0);
	UT_EXPECT_EQ(n, t > 0 ? 1 : 0);
	UT_EXPECT_EQ(kill(pid), 0);
	int st = 0;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, WAIT_KILLED);
	expect_all_work();
	sleepers_stop = 1;
	for (int i = 0; i < SLEEPERS; i++)
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
}

UTEST(memory, calls_competing_with_a_process_that_took_all_memory_fail_cleanly)
{
	ut_child_leaves_nothing(compete, NULL);
}
