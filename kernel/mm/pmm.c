/*
 * kernel/mm/pmm.c - the physical page allocator.
 *
 * Design
 * ------
 * Physical memory is handed out in 4 KiB pages, or in blocks of 2^order
 * contiguous pages aligned to their size (page tables, slabs and large heap
 * allocations want those). The allocator is a bitmap with one bit per page
 * frame, from frame 0 up to the end of the highest usable RAM:
 *
 *     bit = 1   the page cannot be handed out: it is allocated, or it is
 *               not RAM the allocator manages (a hole, firmware memory, the
 *               kernel image, the first MiB, the bitmap itself, ...)
 *     bit = 0   the page is free
 *
 * Which pages are "managed" is kept separately, as a short sorted list of
 * page ranges (`ranges`), built once at boot from the loader's memory map:
 *
 *   1. add every MMAP_USABLE entry (shrunk inwards to whole pages);
 *   2. remove every other entry (grown outwards to whole pages), so a map
 *      whose entries overlap never gives out firmware memory;
 *   3. remove the first MiB (BIOS data, VGA, the loader's scratch), the
 *      kernel image, the loader's modules and its info block;
 *   4. carve the bitmap out of the lowest range that can hold it, and
 *      remove it too.
 *
 * The bitmap lives in the usable memory it describes, so its size grows
 * with the machine (32 KiB of bitmap for 1 GiB of RAM).
 *
 * Allocation is first fit: the lowest free block of the requested size.
 * `search_hint` speeds this up: it is a page number below which no page is
 * free, so a search starts there, and whole words of allocated pages are
 * skipped 64 at a time. Allocating one page at a time is O(1) amortized.
 *
 * Freeing checks the page against the list of managed ranges ("is this RAM
 * we gave out at all?") and then against the bitmap ("is it allocated right
 * now?"): a page that fails the first is not a RAM page managed by the
 * allocator, one that fails the second is a double free. Both panic,
 * because either means some other kernel structure is already corrupt.
 * The bitmap does not remember block sizes: a block of 2^order pages may
 * be freed as one block or page by page.
 *
 * Invariants
 * ----------
 *   - every managed page is either free (bit 0) or allocated (bit 1);
 *     every other page below `max_pfn` has its bit set for ever;
 *   - nfree == the number of 0 bits; ntotal == the number of managed pages;
 *   - no page below search_hint is free;
 *   - pages are zero-filled when handed out (not when freed).
 *
 * The reserve. User memory (heap, stacks, a fork's copy, a program's
 * image, the page tables that map them) may not take the last `reserve`
 * pages, and the kernel memory a user request needs (a thread's kernel
 * stack and struct, a process's struct and PML4, slabs for them) not the
 * last reserve / 2: whatever processes do, the kernel keeps room for the
 * allocations that may not fail (its own threads, its page tables, its
 * KM_SLEEP objects). The kind of allocation says which (enum pmm_for);
 * pmm_alloc_pages is the kernel's own and may take every page. reserve is
 * max(1/16 of the managed pages, RESERVE_MIN), at most a quarter: about
 * 16 MiB of 256 MiB. Why so much: a refused user request must still be
 * able to make and undo its kernel side (a stack is 8 contiguous pages, a
 * slab 4), and the kernel's own needs (its threads' stacks, page tables
 * split for guard pages, FPU areas) fit in 8 MiB many times over; more
 * memory, more threads, so a share. (Linux's min_free_kbytes, about
 * sqrt(16 * RAM in KiB), is 2 MiB at 256 MiB; its reserve is for atomic
 * allocations, ours also for the kernel's never-failing ones.)
 *
 * Locking: one spinlock, taken with interrupts off, guards the bitmap, the
 * counters and the hint (SMP-safe). Zero-filling runs after it is dropped:
 * by then the pages belong to the caller. Nothing here sleeps.
 *
 * Before paging_init runs, only the first 4 GiB are mapped (boot.asm), so
 * the bitmap is put there; the first-fit order then gives paging_init its
 * page tables from low memory too.
 */
#include <mm.h>
#include <arch.h>
#include <bootinfo.h>
#include <printk.h>
#include <spinlock.h>
#include <string.h>

#define PMM_MAX_RANGES   128		/* managed ranges kept (the map has <= 64) */
#define LOW_MEMORY_END   MiB(1)		/* below this: firmware and loader data */
#define BOOT_MAPPED_END  GiB(4)		/* what boot.asm's page tables map */
#define PHYS_ADDR_LIMIT  (1UL << 52)	/* the architecture's largest physical address */
#define BITS_PER_WORD    64
#define BITS_PER_BYTE    8
#define ALL_ONES         (~0UL)		/* a bitmap word of 64 pages none free */
#define ALL_ONES_BYTE    0xFF
#define RESERVE_MIN      (MiB(8) / PAGE_SIZE)	/* the kernel's reserve: at least 8 MiB ... */
#define RESERVE_SHARE    16			/* ... or 1/16 of memory ... */
#define RESERVE_MAX_SHARE 4			/* ... but never more than a quarter */

/* A run of managed page frames, physical addresses, [start, end), page-aligned. */
struct pmm_range {
	uint64_t start, end;
};

static struct spinlock pmm_lock = SPINLOCK_INIT("pmm");

static struct pmm_range ranges[PMM_MAX_RANGES];	/* sorted, disjoint */
static int nranges;
static bool ranges_overflowed;			/* some memory was dropped */

static uint64_t *bitmap;		/* one bit per page frame, 1 = not free */
static uint64_t bitmap_bytes;		/* rounded up to whole pages */
static uint64_t max_pfn;		/* frames covered: 0 .. max_pfn-1 */
static uint64_t nfree, ntotal;		/* pages */
static uint64_t nfree_low;		/* the fewest nfree since pmm_low_water_reset */
static uint64_t search_hint;		/* no free frame below this */
static uint64_t ram_bytes;		/* RAM in the map (before exclusions) */
static uint64_t reserve;		/* pages user memory may not take (above) */

/* ---- the list of managed ranges ---- */

/* Adds [start, end) (whole pages inside it), merging with its neighbours. */
static void range_add(uint64_t start, uint64_t end)
{
	start = ALIGN_UP(start, PAGE_SIZE);
	end = ALIGN_DOWN(end, PAGE_SIZE);
	if (start >= end)
		return;

	int i = 0;
	while (i < nranges && ranges[i].end < start)
		i++;			/* ranges[i] is the first that may touch */
	int j = i;
	while (j < nranges && ranges[j].start <= end) {
		start = MIN(start, ranges[j].start);
		end = MAX(end, ranges[j].end);
		j++;			/* ranges[i..j) merge into one */
	}
	if (j == i) {			/* touches nothing: insert at i */
		if (nranges == PMM_MAX_RANGES) {
			ranges_overflowed = true;
			return;
		}
		memmove(&ranges[i + 1], &ranges[i], (size_t)(nranges - i) * sizeof(ranges[0]));
		nranges++;
	} else {			/* keep one slot, close up the rest */
		memmove(&ranges[i + 1], &ranges[j], (size_t)(nranges - j) * sizeof(ranges[0]));
		nranges -= j - i - 1;
	}
	ranges[i] = (struct pmm_range){ start, end };
}

/* Removes [start, end) (every page it touches) from the managed ranges. */
static void range_remove(uint64_t start, uint64_t end)
{
	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = ALIGN_UP(end, PAGE_SIZE);
	if (start >= end)
		return;

	for (int i = 0; i < nranges;) {
		struct pmm_range r = ranges[i];
		if (r.end <= start || r.start >= end) {
			i++;
		} else if (r.start < start && r.end > end) {
			/* a hole in the middle: split in two */
			ranges[i].end = start;
			if (nranges == PMM_MAX_RANGES) {
				ranges_overflowed = true;	/* drop the upper part */
				return;
			}
			memmove(&ranges[i + 2], &ranges[i + 1],
				(size_t)(nranges - i - 1) * sizeof(ranges[0]));
			nranges++;
			ranges[i + 1] = (struct pmm_range){ end, r.end };
			return;		/* ranges are disjoint: nothing further overlaps */
		} else if (r.start < start) {
			ranges[i++].end = start;	/* cut the top off */
		} else if (r.end > end) {
			ranges[i++].start = end;	/* cut the bottom off */
		} else {		/* wholly inside: delete it */
			memmove(&ranges[i], &ranges[i + 1],
				(size_t)(nranges - i - 1) * sizeof(ranges[0]));
			nranges--;
		}
	}
}

/* True if [start, end) lies inside one managed range. */
static bool range_contains(uint64_t start, uint64_t end)
{
	for (int i = 0; i < nranges; i++)
		if (ranges[i].start <= start && end <= ranges[i].end)
			return true;
	return false;
}

static uint64_t ranges_total_bytes(void)
{
	uint64_t sum = 0;
	for (int i = 0; i < nranges; i++)
		sum += ranges[i].end - ranges[i].start;
	return sum;
}

/* ---- the bitmap ---- */

static bool bit_test(uint64_t pfn)
{
	return bitmap[pfn / BITS_PER_WORD] & (1UL << (pfn % BITS_PER_WORD));
}

/* Sets (value true) or clears n bits from pfn, whole words at a time where it can. */
static void bits_assign(uint64_t pfn, uint64_t n, bool value)
{
	uint64_t end = pfn + n;
	while (pfn < end) {
		if (pfn % BITS_PER_WORD == 0 && end - pfn >= BITS_PER_WORD) {
			bitmap[pfn / BITS_PER_WORD] = value ? ALL_ONES : 0;
			pfn += BITS_PER_WORD;
			continue;
		}
		uint64_t bit = 1UL << (pfn % BITS_PER_WORD);
		if (value)
			bitmap[pfn / BITS_PER_WORD] |= bit;
		else
			bitmap[pfn / BITS_PER_WORD] &= ~bit;
		pfn++;
	}
}

/* True if the n pages from pfn (n a power of two, pfn a multiple of n) are free. */
static bool block_is_free(uint64_t pfn, uint64_t n)
{
	if (n < BITS_PER_WORD) {
		uint64_t mask = ((1UL << n) - 1) << (pfn % BITS_PER_WORD);
		return (bitmap[pfn / BITS_PER_WORD] & mask) == 0;
	}
	for (uint64_t w = pfn / BITS_PER_WORD; w < (pfn + n) / BITS_PER_WORD; w++)
		if (bitmap[w])
			return false;
	return true;
}

/*
 * First fit: the lowest free block of n pages (n a power of two) aligned to
 * n, searching from the hint. Returns its first frame, or max_pfn if there
 * is none. Caller holds pmm_lock.
 */
static uint64_t find_free_block(uint64_t n)
{
	uint64_t pfn = ALIGN_DOWN(search_hint, n);
	while (pfn + n <= max_pfn) {
		if (n < BITS_PER_WORD && bitmap[pfn / BITS_PER_WORD] == ALL_ONES) {
			/* 64 pages all taken: skip the word (stays n-aligned) */
			pfn = ALIGN_UP(pfn + 1, BITS_PER_WORD);
			continue;
		}
		if (block_is_free(pfn, n))
			return pfn;
		pfn += n;
	}
	return max_pfn;
}

/* Fills npages pages at pa with zeros (identity-mapped). */
static void zero_pages(uint64_t pa, uint64_t npages)
{
	arch_zero_pages((void *)pa, npages);
}

/* ---- boot ---- */

/*
 * pmm_init: builds the managed ranges and the bitmap from bootinfo. Called
 * once, on the boot CPU, before anything allocates; panics if there is no
 * usable memory or no room for the bitmap below 4 GiB.
 */
void pmm_init(void)
{
	/* 1 and 2: RAM according to the map, minus anything also claimed otherwise */
	for (int i = 0; i < bootinfo.nmmap; i++) {
		const struct boot_mmap_entry *e = &bootinfo.mmap[i];
		uint64_t end = e->base + e->len;
		if (end < e->base || end > PHYS_ADDR_LIMIT)
			end = PHYS_ADDR_LIMIT;	/* a bogus length: clamp it */
		if (e->type == MMAP_USABLE)
			range_add(e->base, end);
	}
	for (int i = 0; i < bootinfo.nmmap; i++) {
		const struct boot_mmap_entry *e = &bootinfo.mmap[i];
		uint64_t end = e->base + e->len;
		if (end < e->base || end > PHYS_ADDR_LIMIT)
			end = PHYS_ADDR_LIMIT;
		if (e->type != MMAP_USABLE)
			range_remove(e->base, end);
	}
	ram_bytes = ranges_total_bytes();

	/* 3: what is in use already */
	range_remove(0, LOW_MEMORY_END);
	range_remove((uint64_t)__kernel_start, (uint64_t)__kernel_end);
	for (int i = 0; i < bootinfo.nmodules; i++)
		range_remove(bootinfo.modules[i].start, bootinfo.modules[i].end);
	if (bootinfo.info_end > bootinfo.info_start)
		range_remove(bootinfo.info_start, bootinfo.info_end);
	if (nranges == 0)
		panic("pmm_init: the memory map has no usable RAM above 1 MiB");

	/* 4: the bitmap, in the lowest range that holds it (and is mapped now) */
	max_pfn = ranges[nranges - 1].end / PAGE_SIZE;
	bitmap_bytes = ALIGN_UP(ALIGN_UP(max_pfn, BITS_PER_WORD) / BITS_PER_BYTE, PAGE_SIZE);
	uint64_t where = 0;
	for (int i = 0; i < nranges && !where; i++)
		if (ranges[i].end - ranges[i].start >= bitmap_bytes &&
		    ranges[i].start + bitmap_bytes <= BOOT_MAPPED_END)
			where = ranges[i].start;
	if (!where)
		panic("pmm_init: no room for a %lu KiB page bitmap below 4 GiB",
		      bitmap_bytes / KiB(1));
	range_remove(where, where + bitmap_bytes);
	bitmap = (uint64_t *)where;

	/* Everything "not free", then the managed ranges free. */
	memset(bitmap, ALL_ONES_BYTE, bitmap_bytes);
	for (int i = 0; i < nranges; i++)
		bits_assign(ranges[i].start / PAGE_SIZE,
			    (ranges[i].end - ranges[i].start) / PAGE_SIZE, false);
	ntotal = nfree = nfree_low = ranges_total_bytes() / PAGE_SIZE;
	reserve = MIN(MAX(ntotal / RESERVE_SHARE, RESERVE_MIN), ntotal / RESERVE_MAX_SHARE);
	search_hint = ranges[0].start / PAGE_SIZE;

	if (ranges_overflowed)
		printk("pmm: more than %d memory ranges; some RAM is left unused\n",
		       PMM_MAX_RANGES);
}

/* ---- allocation ---- */

/* The free pages an allocation of kind `who` must leave (the reserve). */
static uint64_t floor_of(enum pmm_for who)
{
	switch (who) {
	case PMM_USER:
		return reserve;
	case PMM_KERNEL_FOR_USER:
		return reserve / 2;
	default:
		return 0;
	}
}

/*
 * pmm_alloc_pages_for: 2^order zero-filled, physically contiguous pages
 * aligned to 2^order pages, for an allocation of kind `who`. Returns the
 * physical (== virtual) address of the first, or 0 if no such block is
 * free, if taking it would leave fewer free pages than `who` must leave,
 * or if order > PMM_MAX_ORDER. Takes pmm_lock with interrupts off; never
 * sleeps, so it may be called from any context.
 */
uint64_t pmm_alloc_pages_for(unsigned order, enum pmm_for who)
{
	if (order > PMM_MAX_ORDER)
		return 0;
	uint64_t n = 1UL << order;

	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	if (nfree < n + floor_of(who)) {
		spin_unlock_irqrestore(&pmm_lock, flags);
		return 0;
	}
	uint64_t pfn = find_free_block(n);
	if (pfn == max_pfn) {
		if (n == 1)
			search_hint = max_pfn;	/* not a single page is free */
		spin_unlock_irqrestore(&pmm_lock, flags);
		return 0;
	}
	bits_assign(pfn, n, true);
	nfree -= n;
	if (nfree < nfree_low)
		nfree_low = nfree;
	if (n == 1)
		search_hint = pfn + 1;	/* a page-by-page search: none free below pfn */
	else if (pfn <= search_hint && search_hint < pfn + n)
		search_hint = pfn + n;	/* the lowest free page was in the block */
	spin_unlock_irqrestore(&pmm_lock, flags);

	uint64_t pa = pfn * PAGE_SIZE;
	zero_pages(pa, n);
	return pa;
}

/* pmm_alloc_pages: the kernel's own, which may take every free page. */
uint64_t pmm_alloc_pages(unsigned order)
{
	return pmm_alloc_pages_for(order, PMM_KERNEL);
}

/* pmm_alloc_user_page: a page of user memory, or 0 (the reserve stays). */
uint64_t pmm_alloc_user_page(void)
{
	return pmm_alloc_pages_for(0, PMM_USER);
}

/* pmm_alloc_page: one zero-filled page, or 0. As pmm_alloc_pages(0). */
uint64_t pmm_alloc_page(void)
{
	return pmm_alloc_pages(0);
}

/*
 * Frees 2^order pages at pa, after checking every one of them: panics
 * (naming `who`, the public function called) if pa is misaligned, if any
 * page is not managed RAM, or if any is already free. Either all the pages
 * are freed or, on a panic, none.
 */
static void free_block(uint64_t pa, unsigned order, const char *who)
{
	if (order > PMM_MAX_ORDER)
		panic("%s: order %u is larger than PMM_MAX_ORDER (%u)", who, order, PMM_MAX_ORDER);
	uint64_t n = 1UL << order;
	if (!IS_ALIGNED(pa, n * PAGE_SIZE))
		panic("%s: 0x%lx is not aligned to a block of %lu pages", who, pa, n);

	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	if (pa + n * PAGE_SIZE < pa || !range_contains(pa, pa + n * PAGE_SIZE)) {
		spin_unlock_irqrestore(&pmm_lock, flags);
		panic("%s: 0x%lx is not a RAM page managed by the allocator", who, pa);
	}
	uint64_t pfn = pa / PAGE_SIZE;
	for (uint64_t i = 0; i < n; i++) {
		if (!bit_test(pfn + i)) {
			spin_unlock_irqrestore(&pmm_lock, flags);
			panic("%s: double free of page 0x%lx (it is not allocated)", who,
			      (pfn + i) * PAGE_SIZE);
		}
	}
	bits_assign(pfn, n, false);
	nfree += n;
	search_hint = MIN(search_hint, pfn);
	spin_unlock_irqrestore(&pmm_lock, flags);
}

/*
 * pmm_free_pages / pmm_free_page: give back a block from pmm_alloc_pages
 * (or any allocated, aligned part of one). Takes pmm_lock; never sleeps.
 * Panics on a double free or a page the allocator does not manage.
 */
void pmm_free_pages(uint64_t pa, unsigned order)
{
	free_block(pa, order, "pmm_free_pages");
}

void pmm_free_page(uint64_t pa)
{
	free_block(pa, 0, "pmm_free_page");
}

/*
 * pmm_page_allocated: true if the page holding pa is managed RAM and is
 * allocated at this moment. Takes pmm_lock; never sleeps.
 */
bool pmm_page_allocated(uint64_t pa)
{
	pa = ALIGN_DOWN(pa, PAGE_SIZE);
	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	bool yes = pa < max_pfn * PAGE_SIZE && range_contains(pa, pa + PAGE_SIZE) &&
		   bit_test(pa / PAGE_SIZE);
	spin_unlock_irqrestore(&pmm_lock, flags);
	return yes;
}

/* pmm_free_count: free pages now (a snapshot; others may allocate at once). */
uint64_t pmm_free_count(void)
{
	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	uint64_t n = nfree;
	spin_unlock_irqrestore(&pmm_lock, flags);
	return n;
}

/* pmm_available: pages an allocation of kind `who` could take now (a
 * snapshot; contiguous blocks may be fewer). */
uint64_t pmm_available(enum pmm_for who)
{
	uint64_t n = pmm_free_count(), floor = floor_of(who);
	return n > floor ? n - floor : 0;
}

/* pmm_low_water: the fewest free pages there were since the last
 * pmm_low_water_reset (or the boot): whether an allocation took pages a
 * kind of request must leave, though it gave them back (tests). */
uint64_t pmm_low_water(void)
{
	return __atomic_load_n(&nfree_low, __ATOMIC_RELAXED);
}

void pmm_low_water_reset(void)
{
	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	nfree_low = nfree;
	spin_unlock_irqrestore(&pmm_lock, flags);
}

/* pmm_reserve_pages: the reserve; fixed after pmm_init. */
uint64_t pmm_reserve_pages(void)
{
	return reserve;
}

/* pmm_total_count: pages the allocator manages; fixed after pmm_init. */
uint64_t pmm_total_count(void)
{
	return ntotal;
}

/* ---- the summary ---- */

static const char *mmap_type_name(uint32_t type)
{
	switch (type) {
	case MMAP_USABLE:		return "usable";
	case MMAP_RESERVED:		return "reserved";
	case MMAP_ACPI_RECLAIMABLE:	return "ACPI reclaimable";
	case MMAP_ACPI_NVS:		return "ACPI NVS";
	case MMAP_BAD:			return "bad memory";
	default:			return "reserved (other)";
	}
}

/* Prints a size with the largest unit that fits and one decimal: "127.8 MiB". */
static void print_size(uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	const unsigned unit_shift = 10;		/* each unit is 1024 of the last */
	const uint64_t tenths_per_unit = 10;
	unsigned u = 0;
	while (u + 1 < ARRAY_SIZE(units) && bytes >= (1UL << (unit_shift * (u + 1))))
		u++;
	uint64_t unit = 1UL << (unit_shift * u);
	uint64_t whole = bytes / unit, tenths = (bytes % unit) * tenths_per_unit / unit;
	if (tenths)
		printk("%lu.%lu %s", whole, tenths, units[u]);
	else
		printk("%lu %s", whole, units[u]);
}

/*
 * pmm_print_summary: the loader's memory map, one line an entry, then the
 * totals. Reads the counters under pmm_lock; prints outside it.
 */
void pmm_print_summary(void)
{
	printk("mem: memory map from the loader, %d entries:\n", bootinfo.nmmap);
	for (int i = 0; i < bootinfo.nmmap; i++) {
		const struct boot_mmap_entry *e = &bootinfo.mmap[i];
		if (!e->len) {		/* qboot's map ends with one: no range to print */
			printk("  0x%016lx (empty)            %-18s 0 B\n", e->base,
			       mmap_type_name(e->type));
			continue;
		}
		printk("  0x%016lx-0x%016lx %-18s ", e->base, e->base + e->len - 1,
		       mmap_type_name(e->type));
		print_size(e->len);
		printk("\n");
	}
	uint64_t free_pages = pmm_free_count();
	printk("mem: %lu MiB usable, %lu MiB free, kernel image %lu KiB\n",
	       ram_bytes / MiB(1), free_pages * PAGE_SIZE / MiB(1),
	       ((uint64_t)__kernel_end - (uint64_t)__kernel_start) / KiB(1));
	printk("mem: page allocator: %lu of %lu pages free, %d ranges, bitmap %lu KiB at 0x%lx\n",
	       free_pages, ntotal, nranges, bitmap_bytes / KiB(1), (uint64_t)bitmap);
	printk("mem: kernel reserve: %lu pages (%lu MiB) user memory may not take\n", reserve,
	       reserve * PAGE_SIZE / MiB(1));
}
