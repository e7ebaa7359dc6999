/*
 * kernel/mm/kmem.c - the kernel heap: kmem_alloc / kmem_free.
 *
 * Design
 * ------
 * Small requests (up to KMEM_MAX_SMALL = 2048 bytes) come from eight size
 * caches, one per power of two from 16 to 2048 bytes; a request takes a slot
 * of the smallest class that holds it. Each cache carves its objects out of
 * slabs: 16 KiB blocks (4 pages, aligned to 16 KiB) from the page allocator.
 * A slab starts with its header, then its allocation bitmap, then one
 * 16-bit state word per slot, then the slots:
 *
 *   slab (16 KiB, 16 KiB-aligned)
 *   +--------+--------+-------------+-----+--------+--------+--   --+
 *   | header | bitmap | state[nobj] | pad | slot 0 | slot 1 |  ...   |
 *   +--------+--------+-------------+-----+--------+--------+--   --+
 *
 * Slots are aligned to their own size (the slab is, and the first slot's
 * offset is rounded up to the class size), which is how kmem_alloc_aligned
 * works: an alignment up to 2048 just picks a class at least that big.
 * From any pointer, ALIGN_DOWN(p, 16 KiB) is where its slab header would
 * be; the header's magic word, a pointer to itself and a pointer to one of
 * our caches say whether it really is one.
 *
 * Larger requests (and alignments of 4096) get 2^order whole pages from
 * pmm_alloc_pages, so they are page-aligned. Their bookkeeping, a small
 * descriptor (address, order, size), comes from an internal cache of its
 * own and sits in a hash table keyed by address.
 *
 * Each slot's state word is what makes a bad free detectable:
 *
 *     KMEM_SLOT_NEVER   never handed out since the slab was made
 *     KMEM_SLOT_FREED   handed out once, freed since
 *     0 .. 2048         allocated; the value is the size asked for
 *
 * kmem_free panics, saying which, on a pointer that is not the start of a
 * slot of a live slab nor a live large allocation ("never allocated"), and
 * on a slot already free ("double free"). A large allocation freed twice is
 * caught while its address is among the last KMEM_RECENT_LARGE freed. Once
 * an empty slab has gone back to the page allocator its header is wiped,
 * so a late second free of one of its objects is reported as "never
 * allocated": wrong word, still a panic.
 *
 * Debugging patterns (the values Solaris made famous):
 *   - a free slot is filled with 0xdeadbeef; kmem_alloc checks that the
 *     pattern is intact before handing the slot out again, and panics with
 *     "use after free" if someone wrote to it after freeing it;
 *   - an allocated slot is filled with 0xbaddcafe (so reading memory you
 *     never initialized shows up), and the bytes past the size asked for
 *     are a redzone: kmem_free panics with "buffer overrun" if they changed;
 *   - large allocations are filled with 0xbaddcafe too, and with 0xdeadbeef
 *     when freed (a stale reader sees it until pmm hands the pages out
 *     again); they have no redzone and no use-after-free check.
 *
 * Counters: bytes_in_use is the sum of the sizes asked for by live objects,
 * objects_in_use their number, allocs and frees the totals since boot.
 *
 * kmem_alloc(0) returns a unique pointer to a 16-byte slot whose whole
 * length is redzone; free it like any other.
 *
 * Invariants
 * ----------
 *   - bitmap bit i is set  <=>  state[i] <= KMEM_MAX_SMALL (slot allocated);
 *   - a free slot holds 0xdeadbeef throughout;
 *   - a slab is on exactly one of its cache's lists: full (nfree == 0),
 *     empty (nfree == nobj) or partial (in between); a cache keeps at most
 *     KMEM_KEEP_EMPTY empty slabs, giving older ones back to pmm;
 *   - a live large allocation's address is in the hash table, exactly once.
 *
 * Locking: one spinlock (kmem_lock, interrupts off) guards every cache, the
 * hash table and the counters; pmm's lock nests inside it. Pages are taken
 * from and given back to pmm outside kmem_lock where that is simple (new
 * slabs, large blocks). Only a KM_SLEEP allocation that finds memory
 * exhausted sleeps (below).
 *
 * KM_USER is for what a user request needs (a process's struct, its
 * threads' structs): it returns NULL as KM_NOSLEEP does, and also when a
 * new slab or large block would take the last half of the page
 * allocator's reserve (pmm.c), which is the kernel's own: a process can
 * make the kernel refuse it, never make it panic.
 *
 * KM_SLEEP vs KM_NOSLEEP: KM_NOSLEEP returns NULL when memory is exhausted.
 * KM_SLEEP promises never to return NULL: when memory runs out it sleeps,
 * retrying every millisecond for up to KMEM_SLEEP_MAX_MS, so that other
 * threads can free some; only then does it panic ("kmem_alloc: out of
 * memory"). A caller that may not sleep (preemption disabled, a spinlock
 * held, an interrupt handler, or before the scheduler starts) panics at
 * once, saying so: it should have used KM_NOSLEEP.
 */
#include <mm.h>
#include <percpu.h>
#include <printf.h>
#include <thread.h>
#include <printk.h>
#include <spinlock.h>
#include <string.h>

#define KMEM_SLEEP_MAX_MS  1000	/* KM_SLEEP waits this long for memory */
#define KMEM_MIN_SHIFT     4		/* smallest class: 16 bytes */
#define KMEM_MAX_SHIFT     11		/* largest class: 2048 bytes */
#define KMEM_NCLASSES      (KMEM_MAX_SHIFT - KMEM_MIN_SHIFT + 1)
#define KMEM_SLAB_ORDER    2		/* slabs of 4 pages */
#define KMEM_SLAB_SIZE     (PAGE_SIZE << KMEM_SLAB_ORDER)
#define KMEM_KEEP_EMPTY    1		/* empty slabs a cache keeps for reuse */
#define KMEM_LARGE_BUCKETS 64		/* hash table of large allocations */
#define KMEM_RECENT_LARGE  32		/* freed large addresses remembered */
#define KMEM_DESC_SIZE     64		/* slot size of the descriptor cache */
#define KMEM_NAME_MAX      24

#define KMEM_SLAB_MAGIC    0x42414c53504d454bUL	/* "KEMPSLAB" */
#define KMEM_LARGE_MAGIC   0x4547524c504d454bUL	/* "KEMPLRGE" */

#define KMEM_SLOT_NEVER    0xFFFF
#define KMEM_SLOT_FREED    0xFFFE

#define KMEM_POISON_FREE   0xdeadbeefu	/* a free slot */
#define KMEM_POISON_UNINIT 0xbaddcafeu	/* allocated, not yet written; redzone */

#define BITS_PER_WORD      64
#define BITS_PER_BYTE      8

struct kmem_cache;

/* The header at the start of every slab. The bitmap follows it directly;
 * the state words and the slots are at offsets kept in the cache. */
struct kmem_slab {
	uint64_t magic;			/* KMEM_SLAB_MAGIC while the slab lives */
	struct kmem_slab *self;		/* == this while the slab lives */
	struct kmem_cache *cache;
	struct kmem_slab *next, *prev;	/* on one of the cache's three lists */
	uint32_t nfree;			/* free slots */
	uint32_t reserved;
	uint64_t map[];			/* bit i set: slot i allocated */
};

struct kmem_cache {
	char name[KMEM_NAME_MAX];
	uint32_t objsize;		/* slot size, a power of two */
	uint32_t nobj;			/* slots per slab */
	uint32_t map_words;		/* bitmap words */
	uint32_t state_off;		/* offset of state[] in the slab */
	uint32_t first_off;		/* offset of slot 0 */
	struct kmem_slab *partial, *full, *empty;
	uint64_t nslabs, nempty;
	uint64_t in_use;		/* allocated slots */
	uint64_t allocs, frees;
};

/* A large allocation's descriptor (from desc_cache). */
struct kmem_large {
	uint64_t magic;			/* KMEM_LARGE_MAGIC */
	uint64_t addr;			/* what kmem_alloc returned */
	uint64_t size;			/* what was asked for */
	unsigned order;			/* 2^order pages */
	struct kmem_large *next;	/* hash chain */
};

static struct spinlock kmem_lock = SPINLOCK_INIT("kmem");
static bool kmem_ready;
static struct kmem_cache caches[KMEM_NCLASSES];	/* the size classes */
static struct kmem_cache desc_cache;		/* internal: large descriptors */
static struct kmem_large *large_hash[KMEM_LARGE_BUCKETS];
static uint64_t large_count, large_pages;
static uint64_t recent_large[KMEM_RECENT_LARGE];	/* freed addresses, 0 = empty */
static unsigned recent_next;
static struct kmem_stats totals;

/* Drops kmem_lock, then panics: for misuse found while holding it. */
#define unlock_and_panic(irq, ...)                                   \
	do {                                                         \
		spin_unlock_irqrestore(&kmem_lock, (irq));           \
		panic(__VA_ARGS__);                                  \
	} while (0)

/* ---- patterns ---- */

/* Fills n bytes (a multiple of 4, p 4-aligned) with a 32-bit pattern. */
static void pattern_fill(void *p, size_t n, uint32_t pattern)
{
	uint32_t *w = p;
	for (size_t i = 0; i < n / sizeof(*w); i++)
		w[i] = pattern;
}

/* Offset of the first byte in [from, to) of obj that differs from the
 * pattern filled from obj's start, or `to` if none does. */
static size_t pattern_mismatch(const void *obj, size_t from, size_t to, uint32_t pattern)
{
	const uint8_t *b = obj;
	for (size_t i = from; i < to; i++)
		if (b[i] != (uint8_t)(pattern >> (BITS_PER_BYTE * (i % sizeof(pattern)))))
			return i;
	return to;
}

/* ---- slabs ---- */

static uint16_t *slab_state(const struct kmem_slab *s)
{
	return (uint16_t *)((char *)s + s->cache->state_off);
}

static char *slab_slot(const struct kmem_slab *s, unsigned i)
{
	return (char *)s + s->cache->first_off + (size_t)i * s->cache->objsize;
}

/* The list a slab with nfree free slots belongs on. */
static struct kmem_slab **slab_list(struct kmem_cache *c, uint32_t nfree)
{
	if (nfree == 0)
		return &c->full;
	if (nfree == c->nobj)
		return &c->empty;
	return &c->partial;
}

static void slab_list_push(struct kmem_slab **head, struct kmem_slab *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

static void slab_list_remove(struct kmem_slab **head, struct kmem_slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

/* Moves s to the list its nfree calls for, having been on old's. */
static void slab_relist(struct kmem_cache *c, struct kmem_slab *s, uint32_t old_nfree)
{
	struct kmem_slab **from = slab_list(c, old_nfree), **to = slab_list(c, s->nfree);
	if (from == to)
		return;
	slab_list_remove(from, s);
	slab_list_push(to, s);
	if (from == &c->empty)
		c->nempty--;
	if (to == &c->empty)
		c->nempty++;
}

/* A new slab for c, every slot free and poisoned; NULL if pmm has no block
 * (for `who`). Called without kmem_lock: nobody else can see the slab yet. */
/* Pages taken from pmm for slabs and large allocations (kmem_stats). */
static uint64_t pages_held;

static struct kmem_slab *slab_create(struct kmem_cache *c, enum pmm_for who)
{
	uint64_t pa = pmm_alloc_pages_for(KMEM_SLAB_ORDER, who);
	if (!pa)
		return NULL;
	__atomic_add_fetch(&pages_held, 1UL << KMEM_SLAB_ORDER, __ATOMIC_RELAXED);
	struct kmem_slab *s = (struct kmem_slab *)pa;
	s->magic = KMEM_SLAB_MAGIC;
	s->self = s;
	s->cache = c;
	s->next = s->prev = NULL;
	s->nfree = c->nobj;
	memset(s->map, 0, c->map_words * sizeof(uint64_t));
	uint16_t *state = slab_state(s);
	for (unsigned i = 0; i < c->nobj; i++)
		state[i] = KMEM_SLOT_NEVER;
	pattern_fill(slab_slot(s, 0), (size_t)c->nobj * c->objsize, KMEM_POISON_FREE);
	return s;
}

/* Gives an empty slab back to pmm; slot_release has taken it off its
 * cache's lists and wiped its header. Called without kmem_lock. */
static void slab_destroy(struct kmem_slab *s)
{
	__atomic_sub_fetch(&pages_held, 1UL << KMEM_SLAB_ORDER, __ATOMIC_RELAXED);
	pmm_free_pages((uint64_t)s, KMEM_SLAB_ORDER);
}

/*
 * Takes a free slot of c and marks it allocated with `req` bytes asked for.
 * Returns the slot (still holding the free poison), or NULL if no slab could
 * be had (for `who`). Takes kmem_lock (dropping it to get a new slab from
 * pmm).
 */
static void *slot_take(struct kmem_cache *c, size_t req, enum pmm_for who)
{
	unsigned long irq = spin_lock_irqsave(&kmem_lock);
	while (!c->partial && !c->empty) {
		spin_unlock_irqrestore(&kmem_lock, irq);
		struct kmem_slab *fresh = slab_create(c, who);
		irq = spin_lock_irqsave(&kmem_lock);
		if (!fresh) {
			spin_unlock_irqrestore(&kmem_lock, irq);
			return NULL;
		}
		slab_list_push(&c->empty, fresh);
		c->nslabs++;
		c->nempty++;
	}
	struct kmem_slab *s = c->partial ? c->partial : c->empty;

	unsigned i = 0;
	for (unsigned w = 0; w < c->map_words; w++) {
		if (s->map[w] != ~0UL) {
			i = w * BITS_PER_WORD + (unsigned)__builtin_ctzl(~s->map[w]);
			break;
		}
	}
	KASSERT(i < c->nobj && slab_state(s)[i] > KMEM_MAX_SMALL);
	s->map[i / BITS_PER_WORD] |= 1UL << (i % BITS_PER_WORD);
	slab_state(s)[i] = (uint16_t)req;
	uint32_t old = s->nfree--;
	slab_relist(c, s, old);
	c->in_use++;
	c->allocs++;
	spin_unlock_irqrestore(&kmem_lock, irq);
	return slab_slot(s, i);
}

/*
 * Checks a slot just taken still holds the free poison (else someone wrote
 * to it after freeing it: panic), then fills it with the uninitialized
 * pattern, which also makes the redzone. No lock: the slot is ours.
 */
static void *slot_prepare(struct kmem_cache *c, void *obj)
{
	size_t bad = pattern_mismatch(obj, 0, c->objsize, KMEM_POISON_FREE);
	if (bad != c->objsize)
		panic("kmem_alloc: use after free: %s object %p was written at offset %zu "
		      "after it was freed (poison 0xdeadbeef overwritten)",
		      c->name, obj, bad);
	pattern_fill(obj, c->objsize, KMEM_POISON_UNINIT);
	return obj;
}

/*
 * Frees slot i of s (allocated; the caller checked), poisoning it. Returns
 * a slab the cache no longer wants, for the caller to destroy after
 * dropping the lock, or NULL. kmem_lock held.
 */
static struct kmem_slab *slot_release(struct kmem_slab *s, unsigned i)
{
	struct kmem_cache *c = s->cache;
	pattern_fill(slab_slot(s, i), c->objsize, KMEM_POISON_FREE);
	slab_state(s)[i] = KMEM_SLOT_FREED;
	s->map[i / BITS_PER_WORD] &= ~(1UL << (i % BITS_PER_WORD));
	uint32_t old = s->nfree++;
	slab_relist(c, s, old);
	c->in_use--;
	c->frees++;

	if (c->nempty <= KMEM_KEEP_EMPTY)
		return NULL;
	/* too many empty slabs: give back the oldest, the last on the list */
	struct kmem_slab *victim = c->empty;
	while (victim->next)
		victim = victim->next;
	slab_list_remove(&c->empty, victim);
	c->nempty--;
	c->nslabs--;
	/* wiped now, under the lock: from here on slab_of no longer trusts it */
	victim->magic = 0;
	victim->self = NULL;
	return victim;
}

/*
 * The live slab of one of our caches that holds address a, or NULL. The
 * header is read only if its page is allocated RAM (so a wild pointer can
 * neither fault nor read a device) and trusted only if magic, self and
 * cache pointer all agree. kmem_lock held.
 */
static struct kmem_slab *slab_of(uint64_t a)
{
	uint64_t base = ALIGN_DOWN(a, KMEM_SLAB_SIZE);
	if (!base || !pmm_page_allocated(base))
		return NULL;
	struct kmem_slab *s = (struct kmem_slab *)base;
	if (s->magic != KMEM_SLAB_MAGIC || s->self != s)
		return NULL;
	if (s->cache == &desc_cache)
		return s;
	for (unsigned i = 0; i < KMEM_NCLASSES; i++)
		if (s->cache == &caches[i])
			return s;
	return NULL;
}

/* ---- large allocations ---- */

static unsigned large_bucket(uint64_t addr)
{
	return (addr >> PAGE_SHIFT) % KMEM_LARGE_BUCKETS;
}

/* Unlinks and returns the descriptor of the live large allocation at addr,
 * or NULL. kmem_lock held. */
static struct kmem_large *large_take(uint64_t addr)
{
	for (struct kmem_large **pp = &large_hash[large_bucket(addr)]; *pp; pp = &(*pp)->next) {
		struct kmem_large *d = *pp;
		if (d->addr == addr) {
			*pp = d->next;
			return d;
		}
	}
	return NULL;
}

/* Frees a descriptor's slot. kmem_lock held; returns a slab to destroy or NULL. */
static struct kmem_slab *desc_release(struct kmem_large *d)
{
	struct kmem_slab *s = slab_of((uint64_t)d);
	KASSERT(s && s->cache == &desc_cache);
	unsigned i = (unsigned)(((char *)d - slab_slot(s, 0)) / desc_cache.objsize);
	return slot_release(s, i);
}

/* Smallest order with PAGE_SIZE << order >= size; PMM_MAX_ORDER + 1 if none. */
static unsigned large_order(size_t size)
{
	unsigned order = 0;
	while (order <= PMM_MAX_ORDER && (PAGE_SIZE << order) < size)
		order++;
	return order;
}

/* 2^order pages for `size` bytes, recorded in the hash table and filled
 * with the uninitialized pattern; NULL if there is no memory (for `who`). Takes
 * kmem_lock for the bookkeeping only. */
static void *large_alloc(size_t size, enum pmm_for who)
{
	unsigned order = large_order(size);
	if (order > PMM_MAX_ORDER)
		return NULL;
	struct kmem_large *d = slot_take(&desc_cache, sizeof(*d), who);
	if (!d)
		return NULL;
	slot_prepare(&desc_cache, d);
	uint64_t pa = pmm_alloc_pages_for(order, who);

	unsigned long irq = spin_lock_irqsave(&kmem_lock);
	if (!pa) {
		struct kmem_slab *victim = desc_release(d);
		spin_unlock_irqrestore(&kmem_lock, irq);
		if (victim)
			slab_destroy(victim);
		return NULL;
	}
	__atomic_add_fetch(&pages_held, 1UL << order, __ATOMIC_RELAXED);
	*d = (struct kmem_large){ KMEM_LARGE_MAGIC, pa, size, order, NULL };
	d->next = large_hash[large_bucket(pa)];
	large_hash[large_bucket(pa)] = d;
	for (unsigned i = 0; i < KMEM_RECENT_LARGE; i++)
		if (recent_large[i] == pa)
			recent_large[i] = 0;	/* live again */
	large_count++;
	large_pages += 1UL << order;
	spin_unlock_irqrestore(&kmem_lock, irq);
	/* like a slot: uninitialized memory reads as 0xbaddcafe, not zero */
	pattern_fill((void *)pa, PAGE_SIZE << order, KMEM_POISON_UNINIT);
	return (void *)pa;
}

/* ---- the interface ---- */

/* The class index for a request of `need` bytes (need <= KMEM_MAX_SMALL). */
static unsigned class_index(size_t need)
{
	unsigned shift = KMEM_MIN_SHIFT;
	while ((1UL << shift) < need)
		shift++;
	return shift - KMEM_MIN_SHIFT;
}

/* kmem_alloc and kmem_alloc_aligned: `need` (>= size) picks the class. */
static void *alloc_common(size_t size, size_t need, int flags, const char *who)
{
	if (!kmem_ready)
		panic("%s: called before kmem_init", who);
	if (flags & ~(KM_NOSLEEP | KM_USER))
		panic("%s: unknown flags 0x%x", who, flags);
	enum pmm_for pages_for = flags & KM_USER ? PMM_KERNEL_FOR_USER : PMM_KERNEL;

	void *p;
	for (int waited_ms = 0;; waited_ms++) {
		if (need <= KMEM_MAX_SMALL) {
			struct kmem_cache *c = &caches[class_index(need)];
			p = slot_take(c, size, pages_for);
			if (p)
				slot_prepare(c, p);
		} else {
			p = large_alloc(size, pages_for);
		}
		if (p || (flags & (KM_NOSLEEP | KM_USER)))
			break;
		struct thread *t = curthread;
		if (!t || t->preempt_count > 0 || this_cpu()->trap_depth > 0)
			panic("kmem_alloc: out of memory (%zu bytes, KM_SLEEP, via %s), and the "
			      "caller cannot sleep to wait for memory (%s); use KM_NOSLEEP there",
			      size, who, !t ? "no threads yet" : t->preempt_count ?
			      "preemption disabled or a spinlock held" : "interrupt handler");
		if (waited_ms == KMEM_SLEEP_MAX_MS)
			panic("kmem_alloc: out of memory (%zu bytes, KM_SLEEP, via %s); waited "
			      "%d ms for memory to be freed", size, who, KMEM_SLEEP_MAX_MS);
		thread_sleep(1000000);
	}
	if (!p)
		return NULL;

	unsigned long irq = spin_lock_irqsave(&kmem_lock);
	totals.bytes_in_use += size;
	totals.objects_in_use++;
	totals.allocs++;
	spin_unlock_irqrestore(&kmem_lock, irq);
	return p;
}

/*
 * kmem_alloc: `size` bytes, aligned to at least 16 (to its class size for
 * small objects, to a page for large ones), not zeroed (it holds
 * 0xbaddcafe). KM_NOSLEEP: NULL if memory is exhausted; KM_SLEEP: never
 * NULL (sleeps for memory, see above). size 0 gives a unique pointer. Takes
 * kmem_lock and pmm's; KM_SLEEP may sleep.
 */
void *kmem_alloc(size_t size, int flags)
{
	return alloc_common(size, size, flags, "kmem_alloc");
}

/* kmem_zalloc: kmem_alloc, then the `size` bytes zeroed. */
void *kmem_zalloc(size_t size, int flags)
{
	void *p = alloc_common(size, size, flags, "kmem_zalloc");
	if (p)
		memset(p, 0, size);
	return p;
}

/*
 * kmem_alloc_aligned: as kmem_alloc, aligned to `align` (a power of two up
 * to KMEM_MAX_ALIGN, else panic). Costs a slot of at least `align` bytes.
 */
void *kmem_alloc_aligned(size_t size, size_t align, int flags)
{
	if (!align || (align & (align - 1)) || align > KMEM_MAX_ALIGN)
		panic("kmem_alloc_aligned: alignment %zu is not a power of two up to %lu", align,
		      KMEM_MAX_ALIGN);
	return alloc_common(size, MAX(size, align), flags, "kmem_alloc_aligned");
}

/*
 * kmem_free: frees what kmem_alloc* returned; NULL is ignored. Panics with
 * "double free" on an object already free, with "never allocated" on a
 * pointer that is not the start of a live allocation, and with "buffer
 * overrun" if the object's redzone was written. Takes kmem_lock (and pmm's);
 * never sleeps.
 */
void kmem_free(void *p)
{
	if (!p)
		return;
	uint64_t a = (uint64_t)p;
	struct kmem_slab *victim = NULL;
	unsigned long irq = spin_lock_irqsave(&kmem_lock);

	/* A large allocation? */
	struct kmem_large *d = IS_ALIGNED(a, PAGE_SIZE) ? large_take(a) : NULL;
	if (d) {
		KASSERT(d->magic == KMEM_LARGE_MAGIC);
		unsigned order = d->order;
		totals.bytes_in_use -= d->size;
		totals.objects_in_use--;
		totals.frees++;
		large_count--;
		large_pages -= 1UL << order;
		recent_large[recent_next++ % KMEM_RECENT_LARGE] = a;
		victim = desc_release(d);
		spin_unlock_irqrestore(&kmem_lock, irq);
		if (victim)
			slab_destroy(victim);
		pattern_fill(p, PAGE_SIZE << order, KMEM_POISON_FREE);
		__atomic_sub_fetch(&pages_held, 1UL << order, __ATOMIC_RELAXED);
		pmm_free_pages(a, order);
		return;
	}

	/* The start of a slot in one of our slabs? */
	struct kmem_slab *s = slab_of(a);
	if (s && s->cache != &desc_cache) {
		struct kmem_cache *c = s->cache;
		uint64_t first = (uint64_t)slab_slot(s, 0);
		if (a < first || (a - first) % c->objsize || (a - first) / c->objsize >= c->nobj)
			unlock_and_panic(irq, "kmem_free: %p was never allocated (it points "
					 "inside a %s slab, not at an object)", p, c->name);
		unsigned i = (unsigned)((a - first) / c->objsize);
		uint16_t state = slab_state(s)[i];
		if (state == KMEM_SLOT_FREED)
			unlock_and_panic(irq, "kmem_free: double free of %p (%s)", p, c->name);
		if (state == KMEM_SLOT_NEVER)
			unlock_and_panic(irq, "kmem_free: %p was never allocated (a %s slot "
					 "never handed out)", p, c->name);
		size_t bad = pattern_mismatch(p, state, c->objsize, KMEM_POISON_UNINIT);
		if (bad != c->objsize)
			unlock_and_panic(irq, "kmem_free: buffer overrun: %p (%u bytes asked "
					 "for, %s) was written at offset %zu, past its end",
					 p, state, c->name, bad);
		totals.bytes_in_use -= state;
		totals.objects_in_use--;
		totals.frees++;
		victim = slot_release(s, i);
		spin_unlock_irqrestore(&kmem_lock, irq);
		if (victim)
			slab_destroy(victim);
		return;
	}

	/* Neither: a large allocation freed recently, or garbage. */
	for (unsigned i = 0; i < KMEM_RECENT_LARGE; i++)
		if (recent_large[i] == a)
			unlock_and_panic(irq, "kmem_free: double free of %p (a large "
					 "allocation, freed already)", p);
	unlock_and_panic(irq, "kmem_free: %p was never allocated by kmem_alloc", p);
}

/* kmem_stats: a consistent snapshot of the counters, under kmem_lock. */
void kmem_stats(struct kmem_stats *st)
{
	unsigned long irq = spin_lock_irqsave(&kmem_lock);
	*st = totals;
	st->pages = __atomic_load_n(&pages_held, __ATOMIC_RELAXED);
	spin_unlock_irqrestore(&kmem_lock, irq);
}

/* Lays out a cache's slabs: as many slots as fit after the header, bitmap
 * and state words, the first slot aligned to the slot size. */
static void cache_init(struct kmem_cache *c, const char *name, uint32_t objsize)
{
	memset(c, 0, sizeof(*c));
	strlcpy(c->name, name, sizeof(c->name));
	c->objsize = objsize;
	for (uint32_t n = (KMEM_SLAB_SIZE - sizeof(struct kmem_slab)) / objsize; n > 0; n--) {
		uint32_t words = (n + BITS_PER_WORD - 1) / BITS_PER_WORD;
		uint32_t state_off = sizeof(struct kmem_slab) + words * sizeof(uint64_t);
		uint32_t first_off = ALIGN_UP(state_off + n * sizeof(uint16_t), objsize);
		if (first_off + (uint64_t)n * objsize <= KMEM_SLAB_SIZE) {
			c->nobj = n;
			c->map_words = words;
			c->state_off = state_off;
			c->first_off = first_off;
			return;
		}
	}
	panic("kmem_init: no %u-byte object fits in a %lu-byte slab", objsize, KMEM_SLAB_SIZE);
}

/* kmem_init: sets up the caches (no memory is taken until the first
 * allocation). Boot CPU, once, after pmm_init. */
void kmem_init(void)
{
	_Static_assert(sizeof(struct kmem_large) <= KMEM_DESC_SIZE, "descriptor too big");
	_Static_assert((1UL << KMEM_MAX_SHIFT) == KMEM_MAX_SMALL, "classes and KMEM_MAX_SMALL");
	_Static_assert(KMEM_MAX_SMALL < KMEM_SLOT_FREED, "state words hold sizes");
	for (unsigned i = 0; i < KMEM_NCLASSES; i++) {
		char name[KMEM_NAME_MAX];
		uint32_t size = 1u << (KMEM_MIN_SHIFT + i);
		snprintf(name, sizeof(name), "kmem_%u", size);
		cache_init(&caches[i], name, size);
	}
	cache_init(&desc_cache, "kmem_large_desc", KMEM_DESC_SIZE);
	kmem_ready = true;
}

#define KMEM_STATS_ROW "  %-16s %6s %6s %9s %9s %10s %10s\n"

static void print_cache(const struct kmem_cache *c)
{
	printk("  %-16s %6u %6lu %9lu %9lu %10lu %10lu\n", c->name, c->objsize, c->nslabs,
	       c->in_use, c->nslabs * c->nobj, c->allocs, c->frees);
}

/*
 * kmem_print_stats: one line per cache, the large allocations and the
 * totals. Copies the figures under kmem_lock and prints outside it.
 */
void kmem_print_stats(void)
{
	struct kmem_cache snap[KMEM_NCLASSES + 1];
	unsigned long irq = spin_lock_irqsave(&kmem_lock);
	for (unsigned i = 0; i < KMEM_NCLASSES; i++)
		snap[i] = caches[i];
	snap[KMEM_NCLASSES] = desc_cache;
	struct kmem_stats t = totals;
	uint64_t lcount = large_count, lpages = large_pages;
	spin_unlock_irqrestore(&kmem_lock, irq);

	printk("kmem: size caches (slabs of %lu KiB):\n", KMEM_SLAB_SIZE / KiB(1));
	printk(KMEM_STATS_ROW, "cache", "size", "slabs", "in use", "slots", "allocs", "frees");
	for (unsigned i = 0; i <= KMEM_NCLASSES; i++)
		print_cache(&snap[i]);
	printk("kmem: large allocations: %lu live, %lu pages (%lu KiB)\n", lcount, lpages,
	       lpages * PAGE_SIZE / KiB(1));
	printk("kmem: %lu bytes in %lu objects in use; %lu allocs, %lu frees since boot\n",
	       t.bytes_in_use, t.objects_in_use, t.allocs, t.frees);
}
