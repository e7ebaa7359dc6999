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
 *     started.
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
