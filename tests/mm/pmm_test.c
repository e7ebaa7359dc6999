/*
 * tests/mm/pmm_test.c - the physical page allocator (kernel/mm/pmm.c).
 */
#include <ktest.h>
#include <mm.h>
#include <sync.h>
#include <thread.h>

#define ZEROED_PAGES   64	/* pages checked for zero fill and distinctness */
#define MAX_TEST_ORDER 10	/* 4 MiB blocks */

/* True if the page at pa holds only zero bytes. */
static bool page_is_zero(uint64_t pa, uint64_t npages)
{
	const volatile uint64_t *w = (const volatile uint64_t *)pa;
	for (uint64_t i = 0; i < npages * PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

KTEST(mm, pmm_alloc_free_restores_count)
{
	uint64_t before = pmm_free_count();
	KT_ASSERT(before > 0);
	KT_EXPECT(before <= pmm_total_count());

	uint64_t pa = pmm_alloc_page();
	KT_ASSERT(pa != 0);
	KT_EXPECT_EQ(pmm_free_count(), before - 1);
	KT_EXPECT(pmm_page_allocated(pa));
	pmm_free_page(pa);
	KT_EXPECT(!pmm_page_allocated(pa));
	KT_EXPECT_EQ(pmm_free_count(), before);
}

KTEST(mm, pmm_pages_aligned_zeroed_distinct)
{
	uint64_t pages[ZEROED_PAGES];
	uint64_t before = pmm_free_count();
	for (int i = 0; i < ZEROED_PAGES; i++) {
		pages[i] = pmm_alloc_page();
		KT_ASSERT(pages[i] != 0);
		KT_EXPECT(IS_ALIGNED(pages[i], PAGE_SIZE));
		KT_EXPECT(pages[i] >= MiB(1));	/* the first MiB is never handed out */
		KT_EXPECT(page_is_zero(pages[i], 1));
		/* outside the kernel image */
		KT_EXPECT(pages[i] + PAGE_SIZE <= (uint64_t)__kernel_start ||
			  pages[i] >= (uint64_t)__kernel_end);
	}
	/* distinct: each page keeps its own fill when all are written */
	for (int i = 0; i < ZEROED_PAGES; i++) {
		volatile uint64_t *w = (volatile uint64_t *)pages[i];
		for (uint64_t k = 0; k < PAGE_SIZE / sizeof(*w); k++)
			w[k] = pages[i] ^ k;
	}
	for (int i = 0; i < ZEROED_PAGES; i++) {
		const volatile uint64_t *w = (const volatile uint64_t *)pages[i];
		bool intact = true;
		for (uint64_t k = 0; k < PAGE_SIZE / sizeof(*w); k++)
			intact &= w[k] == (pages[i] ^ k);
		KT_EXPECT(intact);
	}
	KT_EXPECT_EQ(pmm_free_count(), before - ZEROED_PAGES);
	for (int i = 0; i < ZEROED_PAGES; i++)
		pmm_free_page(pages[i]);
	KT_EXPECT_EQ(pmm_free_count(), before);

	/* the dirty pages come back zeroed */
	uint64_t again = pmm_alloc_page();
	KT_ASSERT(again != 0);
	KT_EXPECT(page_is_zero(again, 1));
	pmm_free_page(again);
}

KTEST(mm, pmm_order_blocks_contiguous_aligned)
{
	uint64_t before = pmm_free_count();
	for (unsigned order = 0; order <= MAX_TEST_ORDER; order++) {
		uint64_t n = 1UL << order;
		uint64_t pa = pmm_alloc_pages(order);
		KT_ASSERT(pa != 0);
		KT_EXPECT(IS_ALIGNED(pa, n * PAGE_SIZE));
		KT_EXPECT_EQ(pmm_free_count(), before - n);
		bool all_taken = true;
		for (uint64_t i = 0; i < n; i++)
			all_taken &= pmm_page_allocated(pa + i * PAGE_SIZE);
		KT_EXPECT(all_taken);
		KT_EXPECT(page_is_zero(pa, n));
		pmm_free_pages(pa, order);
		KT_EXPECT_EQ(pmm_free_count(), before);
	}
	KT_EXPECT_EQ(pmm_alloc_pages(PMM_MAX_ORDER + 1), 0);
	KT_EXPECT_EQ(pmm_free_count(), before);
}

KTEST(mm, pmm_block_freed_page_by_page)
{
	uint64_t before = pmm_free_count();
	uint64_t pa = pmm_alloc_pages(2);
	KT_ASSERT(pa != 0);
	for (int i = 3; i >= 0; i--)
		pmm_free_page(pa + (uint64_t)i * PAGE_SIZE);
	KT_EXPECT_EQ(pmm_free_count(), before);
}

/*
 * Takes every free page (one at a time, chained through their first words
 * so no other memory is needed), checks that the allocator then says no,
 * also to kmem_alloc(KM_NOSLEEP) of a large object, and gives all back.
 */
KTEST_TIMEOUT(mm, pmm_exhaust_and_recover, 60)
{
	uint64_t before = pmm_free_count();
	uint64_t chain = 0, taken = 0, bound = pmm_total_count() + 1;
	for (;;) {
		uint64_t pa = pmm_alloc_page();
		if (!pa)
			break;
		*(uint64_t *)pa = chain;
		chain = pa;
		taken++;
		if (taken > bound)
			break;
	}
	KT_EXPECT_EQ(taken, before);
	KT_EXPECT_EQ(pmm_free_count(), 0);
	KT_EXPECT_EQ(pmm_alloc_page(), 0);
	KT_EXPECT_EQ(pmm_alloc_pages(1), 0);
	void *p = kmem_alloc(4 * PAGE_SIZE, KM_NOSLEEP);
	KT_EXPECT(p == NULL);
	if (p)
		kmem_free(p);

	while (chain) {
		uint64_t next = *(uint64_t *)chain;
		pmm_free_page(chain);
		chain = next;
	}
	KT_EXPECT_EQ(pmm_free_count(), before);
	uint64_t pa = pmm_alloc_pages(MAX_TEST_ORDER);
	KT_EXPECT(pa != 0);
	if (pa)
		pmm_free_pages(pa, MAX_TEST_ORDER);
}

KTEST_EXPECT_PANIC(mm, pmm_double_free, "pmm_free_page: double free")
{
	uint64_t pa = pmm_alloc_page();
	KT_ASSERT(pa != 0);
	pmm_free_page(pa);
	pmm_free_page(pa);
}

KTEST_EXPECT_PANIC(mm, pmm_free_not_ram, "not a RAM page managed by the allocator")
{
	/* the kernel's own text is RAM, but not the allocator's to give back */
	pmm_free_page(ALIGN_DOWN((uint64_t)__text_start, PAGE_SIZE));
}

/* KM_SLEEP must not return NULL: with no scheduler yet, it panics instead. */
KTEST_EXPECT_PANIC(mm, kmem_sleep_out_of_memory, "kmem_alloc: out of memory")
{
	while (pmm_alloc_page())
		;
	kmem_alloc(4 * PAGE_SIZE, KM_SLEEP);
}

/* ---- KM_SLEEP waits for memory once there are threads ---- */

/* Takes every free page, chained through their first words; returns the chain. */
static uint64_t hog_all_pages(void)
{
	uint64_t chain = 0, pa;
	while ((pa = pmm_alloc_page())) {
		*(uint64_t *)pa = chain;
		chain = pa;
	}
	return chain;
}

static void free_chain(uint64_t chain)
{
	while (chain) {
		uint64_t next = *(uint64_t *)chain;
		pmm_free_page(chain);
		chain = next;
	}
}

static volatile uint64_t hogged;
static struct semaphore hog_done;

static void release_later(void *arg)
{
	(void)arg;
	sem_wait(&hog_done);
	thread_sleep(20000000);		/* 20 ms */
	free_chain(hogged);
}

KTEST(mm, kmem_sleep_waits_for_memory_to_be_freed)
{
	struct kmem_stats before, after;
	sem_init(&hog_done, 0, "test.hog_done");
	kmem_stats(&before);
	struct thread *t = thread_create("releaser", release_later, NULL, 0);
	hogged = hog_all_pages();
	KT_ASSERT_EQ(pmm_free_count(), 0);
	KT_EXPECT(kmem_alloc(4 * PAGE_SIZE, KM_NOSLEEP) == NULL);
	sem_post(&hog_done);
	uint64_t t0 = clock_ns();
	void *p = kmem_alloc(4 * PAGE_SIZE, KM_SLEEP);	/* sleeps until the release */
	uint64_t waited = clock_ns() - t0;
	thread_join(t);
	KT_EXPECT(p != NULL);
	KT_EXPECT(waited >= 20000000);
	kmem_free(p);
	kmem_stats(&after);
	KT_EXPECT_EQ(after.objects_in_use, before.objects_in_use);
	KT_EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

KTEST_EXPECT_PANIC(mm, kmem_sleep_out_of_memory_cannot_sleep, "caller cannot sleep")
{
	hog_all_pages();
	kpreempt_disable();
	kmem_alloc(4 * PAGE_SIZE, KM_SLEEP);
}
