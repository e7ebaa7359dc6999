/*
 * tests/mm/kmem_test.c - the kernel heap (kernel/mm/kmem.c).
 */
#include <ktest.h>
#include <mm.h>
#include <string.h>

#define MIXED_ROUNDS   4
#define MIXED_OBJECTS  64
#define SAME_OBJECTS   1000
#define OBJ_WORDS      6	/* a 24-byte object: not a power of two */
#define POISON_FREE    0xdeadbeefu
#define POISON_UNINIT  0xbaddcafeu
/* kmem may keep an empty slab per cache after a burst: a bound for the test */
#define KMEM_SLACK_PAGES 64

static const size_t mixed_sizes[] = {
	0, 1, 7, 15, 16, 17, 31, 32, 33, 64, 100, 128, 255, 500, 512, 1000, 1024,
	2047, 2048, 2049, 4095, 4096, 4097, 9000, 20000, 65536,
};

/* Hides a value from the optimizer. */
static uint64_t launder(uint64_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

static bool bytes_are(const void *p, size_t n, uint8_t v)
{
	const volatile uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

KTEST(mm, kmem_counters_return_after_mixed_sizes)
{
	static void *objs[MIXED_OBJECTS];
	static size_t sizes[MIXED_OBJECTS];
	struct kmem_stats st0, st;
	kmem_stats(&st0);
	uint64_t pages0 = pmm_free_count();
	uint64_t expect_bytes = st0.bytes_in_use, n = 0;

	for (int round = 0; round < MIXED_ROUNDS; round++) {
		for (int i = 0; i < MIXED_OBJECTS; i++) {
			sizes[i] = mixed_sizes[(i * 7 + round) % ARRAY_SIZE(mixed_sizes)];
			objs[i] = kmem_alloc(sizes[i], KM_SLEEP);
			KT_ASSERT(objs[i] != NULL);
			memset(objs[i], i, sizes[i]);	/* every byte it may use */
			expect_bytes += sizes[i];
			n++;
		}
		kmem_stats(&st);
		KT_EXPECT_EQ(st.bytes_in_use, expect_bytes);
		KT_EXPECT_EQ(st.objects_in_use, st0.objects_in_use + MIXED_OBJECTS);
		/* free every other one, then the rest: slabs go partial, then empty */
		for (int pass = 0; pass < 2; pass++) {
			for (int i = pass; i < MIXED_OBJECTS; i += 2) {
				KT_EXPECT(bytes_are(objs[i], sizes[i], (uint8_t)i));
				kmem_free(objs[i]);
				expect_bytes -= sizes[i];
			}
		}
		kmem_stats(&st);
		KT_EXPECT_EQ(st.bytes_in_use, st0.bytes_in_use);
	}
	kmem_stats(&st);
	KT_EXPECT_EQ(st.bytes_in_use, st0.bytes_in_use);
	KT_EXPECT_EQ(st.objects_in_use, st0.objects_in_use);
	KT_EXPECT_EQ(st.allocs - st0.allocs, n);
	KT_EXPECT_EQ(st.frees - st0.frees, n);
	/* no leak of pages beyond the empty slabs caches keep */
	KT_EXPECT(pmm_free_count() + KMEM_SLACK_PAGES >= pages0);
}

KTEST(mm, kmem_objects_distinct_and_aligned)
{
	static uint32_t *objs[SAME_OBJECTS];
	for (int i = 0; i < SAME_OBJECTS; i++) {
		objs[i] = kmem_alloc(OBJ_WORDS * sizeof(uint32_t), KM_SLEEP);
		KT_ASSERT(objs[i] != NULL);
		KT_EXPECT(IS_ALIGNED((uint64_t)objs[i], 16));
		for (int k = 0; k < OBJ_WORDS; k++)
			objs[i][k] = (uint32_t)(i * OBJ_WORDS + k);
	}
	bool intact = true;
	for (int i = 0; i < SAME_OBJECTS; i++)
		for (int k = 0; k < OBJ_WORDS; k++)
			intact &= objs[i][k] == (uint32_t)(i * OBJ_WORDS + k);
	KT_EXPECT(intact);
	for (int i = 0; i < SAME_OBJECTS; i++)
		kmem_free(objs[i]);
}

KTEST(mm, kmem_zalloc_zeroes)
{
	static const size_t sizes[] = { 1, 24, 100, 2048, 3000, 10000 };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		/* dirty some memory of that class first */
		uint8_t *dirty = kmem_alloc(sizes[i], KM_SLEEP);
		memset(dirty, 0xA5, sizes[i]);
		kmem_free(dirty);
		uint8_t *p = kmem_zalloc(sizes[i], KM_SLEEP);
		KT_ASSERT(p != NULL);
		KT_EXPECT(bytes_are(p, sizes[i], 0));
		kmem_free(p);
	}
}

/* Fresh memory holds 0xbaddcafe, freed memory 0xdeadbeef: both are visible. */
KTEST(mm, kmem_debug_patterns)
{
	uint32_t *p = kmem_alloc(64, KM_SLEEP);
	uint32_t *keep = kmem_alloc(64, KM_SLEEP);	/* keeps the slab alive */
	KT_ASSERT(p && keep);
	for (size_t i = 0; i < 64 / sizeof(uint32_t); i++)
		KT_EXPECT_EQ(((volatile uint32_t *)p)[i], POISON_UNINIT);
	kmem_free(p);
	for (size_t i = 0; i < 64 / sizeof(uint32_t); i++)
		KT_EXPECT_EQ(((volatile uint32_t *)p)[i], POISON_FREE);
	kmem_free(keep);
}

KTEST(mm, kmem_aligned)
{
	static const size_t sizes[] = { 1, 100, 3000 };
	for (size_t align = 16; align <= KMEM_MAX_ALIGN; align <<= 1) {
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			size_t size[] = { sizes[i], align - 1, align, align + 1 };
			for (size_t k = 0; k < ARRAY_SIZE(size); k++) {
				uint8_t *p = kmem_alloc_aligned(size[k], align, KM_SLEEP);
				KT_ASSERT(p != NULL);
				if (!IS_ALIGNED((uint64_t)p, align))
					KT_LOG("size %zu align %zu: %p", size[k], align, p);
				KT_EXPECT(IS_ALIGNED((uint64_t)p, align));
				memset(p, 0x5A, size[k]);
				kmem_free(p);
			}
		}
	}
	/* the default alignment of kmem_alloc is 16 */
	void *q = kmem_alloc(1, KM_SLEEP);
	KT_EXPECT(IS_ALIGNED((uint64_t)q, 16));
	kmem_free(q);
}

KTEST(mm, kmem_large_allocations)
{
	static const size_t sizes[] = { 2049, 4096, 4097, 65536, MiB(1) + 1 };
	uint8_t *p[ARRAY_SIZE(sizes)];

	/* warm up: the descriptor cache takes a slab once and keeps it */
	kmem_free(kmem_alloc(sizes[0], KM_SLEEP));
	uint64_t pages0 = pmm_free_count();
	struct kmem_stats st0, st;
	kmem_stats(&st0);

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		p[i] = kmem_alloc(sizes[i], KM_NOSLEEP);
		KT_ASSERT(p[i] != NULL);
		KT_EXPECT(IS_ALIGNED((uint64_t)p[i], PAGE_SIZE));
		KT_EXPECT(paging_flags((uint64_t)p[i] + sizes[i] - 1) & PAGE_WRITE);
		memset(p[i], (int)i + 1, sizes[i]);
	}
	kmem_stats(&st);
	uint64_t sum = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		sum += sizes[i];
	KT_EXPECT_EQ(st.bytes_in_use - st0.bytes_in_use, sum);
	KT_EXPECT(pmm_free_count() < pages0);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		KT_EXPECT(bytes_are(p[i], sizes[i], (uint8_t)(i + 1)));	/* no overlap */
		kmem_free(p[i]);
	}
	kmem_stats(&st);
	KT_EXPECT_EQ(st.bytes_in_use, st0.bytes_in_use);
	KT_EXPECT_EQ(pmm_free_count(), pages0);

	/* far more than there is: NULL, not a panic, with KM_NOSLEEP */
	KT_EXPECT(kmem_alloc(GiB(64), KM_NOSLEEP) == NULL);
	KT_EXPECT(kmem_alloc((size_t)-1, KM_NOSLEEP) == NULL);
}

KTEST(mm, kmem_zero_size_and_null)
{
	struct kmem_stats st0, st;
	kmem_stats(&st0);
	void *a = kmem_alloc(0, KM_SLEEP), *b = kmem_alloc(0, KM_SLEEP);
	KT_EXPECT(a != NULL && b != NULL && a != b);
	kmem_stats(&st);
	KT_EXPECT_EQ(st.bytes_in_use, st0.bytes_in_use);
	KT_EXPECT_EQ(st.objects_in_use, st0.objects_in_use + 2);
	kmem_free(a);
	kmem_free(b);
	kmem_free(NULL);
	kmem_stats(&st);
	KT_EXPECT_EQ(st.objects_in_use, st0.objects_in_use);
	KT_EXPECT_EQ(st.frees - st0.frees, 2);
}

/* The stats printer runs (the monitor's `mem` will call it). */
KTEST(mm, kmem_print_stats_runs)
{
	void *p = kmem_alloc(300, KM_SLEEP);
	kmem_print_stats();
	kmem_free(p);
}

KTEST_EXPECT_PANIC(mm, kmem_double_free, "kmem_free: double free")
{
	void *p = kmem_alloc(32, KM_SLEEP);
	kmem_free(p);
	kmem_free(p);
}

KTEST_EXPECT_PANIC(mm, kmem_large_double_free, "kmem_free: double free")
{
	void *p = kmem_alloc(3 * PAGE_SIZE, KM_SLEEP);
	kmem_free(p);
	kmem_free(p);
}

KTEST_EXPECT_PANIC(mm, kmem_free_never_allocated, "never allocated")
{
	static uint64_t not_heap[4];
	kmem_free((void *)launder((uint64_t)&not_heap[1]));
}

KTEST_EXPECT_PANIC(mm, kmem_free_interior_pointer, "never allocated")
{
	char *p = kmem_alloc(64, KM_SLEEP);
	kmem_free(p + 8);
}

KTEST_EXPECT_PANIC(mm, kmem_use_after_free_detected, "use after free")
{
	static void *objs[SAME_OBJECTS];
	uint32_t *p = kmem_alloc(128, KM_SLEEP);
	kmem_free(p);
	((volatile uint32_t *)p)[3] = 42;	/* the bug */
	/* the next allocations of that size reach the slot and notice */
	for (int i = 0; i < SAME_OBJECTS; i++)
		objs[i] = kmem_alloc(128, KM_SLEEP);
	for (int i = 0; i < SAME_OBJECTS; i++)	/* not reached if it works */
		kmem_free(objs[i]);
}

KTEST_EXPECT_PANIC(mm, kmem_buffer_overrun_detected, "buffer overrun")
{
	char *p = kmem_alloc(20, KM_SLEEP);
	((volatile char *)p)[launder(20)] = 'x';	/* one past the end */
	kmem_free(p);
}
