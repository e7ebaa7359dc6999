/*
 * arch/x86_64/paging.c - the kernel's page tables: x86-64 4-level paging,
 * invlpg and the TLB shootdown.
 *
 * The portable kernel sees only include/mm.h's paging_* calls and PAGE_*
 * flags; the table format (arch/mmu.h), CR3, CR4.PGE, EFER.NXE and invlpg
 * are this file's. The page allocator (kernel/mm/pmm.c) gives it tables.
 *
 * Design
 * ------
 * The kernel runs identity-mapped: virtual address == physical address.
 * boot.asm maps the first 4 GiB with 2 MiB pages, all writable and
 * executable. paging_init replaces those tables with ones that say what
 * each page is for:
 *
 *     0 .. 4 KiB                 not mapped: a NULL dereference faults
 *     kernel text                read + execute              (4 KiB pages)
 *     kernel rodata              read only, no-execute       (4 KiB pages)
 *     kernel data and bss        read + write, no-execute    (4 KiB pages)
 *     boot_stack_guard           not mapped: a boot stack overflow faults
 *     LAPIC and IOAPIC pages     read + write, no-execute, uncached
 *     everything else            read + write, no-execute
 *
 * "Everything else" runs from 0 to max(4 GiB, top of usable RAM): all of
 * RAM (so a physical page from pmm.c can be used at its own address) and
 * the 32-bit MMIO hole below 4 GiB. A 2 MiB stretch whose pages all get
 * the same permissions is one 2 MiB page; any other gets a page table of
 * 4 KiB pages. That keeps the TLB footprint small: only the stretches
 * holding page 0 and the kernel image, and the two APIC stretches, are
 * split.
 *
 * No-execute needs EFER.NXE, which boot.asm sets when the CPU has NX
 * (boot_has_nx == 1); without it the NX bit is reserved and must never be
 * set, so then everything mapped is executable. With CR4.PGE (when the CPU
 * has it) the kernel image is mapped global: it is the same in every
 * address space there will ever be, so its TLB entries survive CR3 loads.
 *
 * After paging_init, paging_map / paging_unmap change single 4 KiB pages,
 * splitting a 2 MiB (or 1 GiB) page into 512 smaller ones with the same
 * permissions first when they must. Page tables are never freed.
 *
 * Address spaces. The tables hang off a struct aspace, the root of one
 * 4-level tree (its PML4). kernel_aspace is the kernel's; each process has
 * one of its own (aspace_create), whose PML4 shares the kernel's entries:
 *
 *   PML4 slot 0         0 .. 512 GiB    the identity map (supervisor only)
 *   slots 1 .. 255      512 GiB .. 128 TiB - 4 KiB   the user's (U set)
 *   slot 511            the top 512 GiB  kernel mappings made at run time
 *
 * The kernel's two slots point at the same PDPTs in every space, made at
 * paging_init, so a kernel mapping made later is seen by every space at
 * once; paging_map refuses any other address. Nothing in the user part is
 * the kernel's: its tables and pages belong to the space and go with it
 * (aspace_destroy). User leaves have U, and NX unless PAGE_EXEC; their
 * tables have U and W (the leaf decides). The last page below the
 * canonical hole is never user memory: a SYSCALL at its end would leave a
 * non-canonical return address (docs/user.md). Lookups (paging_is_mapped,
 * paging_flags) walk whatever CR3 holds, which is what the trap and
 * backtrace code want to know about.
 *
 * Each CPU records the space it has loaded (cpu->aspace): schedule()
 * loads a user thread's space when it differs, and a kernel thread runs on
 * whatever space is loaded (they all hold the kernel's part), so switching
 * between a process and kernel threads costs no CR3 load. A change to a
 * user mapping is shot down on the CPUs whose record names that space; a
 * space is destroyed only once no CPU has it loaded (aspace_destroy moves
 * such CPUs to the kernel's space first).
 *
 * A space also holds the I/O ports its process may use (x86's other
 * address space: `ports`, arch/tss.h). Loading a space on a CPU makes
 * that CPU's TSS I/O bitmap allow exactly its ports: one compare of two
 * keys when they already agree (no ports on either side, the usual case),
 * iobitmap.c's switch when not. A change to a space's ports reaches every
 * CPU before aspace_set_ports returns, as a shootdown does.
 *
 * Invariants
 * ----------
 *   - a table entry is written with one 64-bit store, and a new table is
 *     complete (zeroed, or filled with a split page's entries) before the
 *     entry pointing at it is written. So a walker that takes no lock sees
 *     either the old mapping or the new one, never half a table;
 *   - non-leaf entries are P|W and never NX: the leaf alone decides;
 *   - every page table lives in identity-mapped RAM, so a walker can read
 *     a table at the physical address its parent entry holds.
 *
 * Locking: paging_lock (interrupts off) serializes changes to the tables
 * and to the guard registry; it is taken before pmm's lock (page tables
 * come from pmm). Lookups (paging_is_mapped, paging_flags,
 * arch_stack_guard_hit) take no lock, because the trap and backtrace code
 * call them, possibly while this CPU holds paging_lock; the invariants
 * above make that safe. Nothing here sleeps.
 *
 * SMP: the TLB shootdown. A CPU may keep a translation in its TLB after
 * the entry behind it changed, and only its own invlpg removes it. So a
 * change that takes away or alters a present mapping (paging_unmap,
 * paging_map over a present page, a new guard page) is invlpg'd on this
 * CPU under paging_lock and then on every online CPU, this one included,
 * by an IPI, waited for (smp_call_each), after paging_lock is dropped: a
 * CPU spinning for it with interrupts off could not take the IPI. "This one
 * included" because the caller may be preempted between the unlock and the
 * call and go on on another CPU, whose TLB may hold the old translation;
 * smp_call_all would skip that CPU as the caller's own, and the CPU it left
 * was done under the lock (the defect mm.paging_*_the_caller_moved* catch).
 * smp_call_each picks the other CPUs and runs the invlpg on the caller's in
 * one step with interrupts off, so no CPU falls between the two.
 * Until the call returns, another CPU may still use the old translation;
 * the callers change pages nobody else is using yet (a new thread's guard
 * page, a test's page), and they return only once every CPU has dropped it.
 * Mapping a page that was not present needs no shootdown: x86 never
 * caches a not-present entry.
 */
#include <mm.h>
#include <bootinfo.h>
#include <string.h>
#include <printk.h>
#include <percpu.h>
#include <smp.h>
#include <spinlock.h>
#include <arch/lapic.h>
#include <arch/mmu.h>
#include <arch/tss.h>
#include <arch/x86.h>

#define IOAPIC_DEFAULT_BASE 0xFEC00000UL
#define IDENTITY_MAP_MIN    GiB(4)	/* at least the low 4 GiB: RAM and MMIO */
#define BOOT_MAPPED_END     GiB(4)	/* what boot.asm's tables map */
#define MAX_LAYOUT_REGIONS  8

/*
 * An address space: one 4-level tree, named by the physical address of its
 * PML4 (what CR3 holds while it is in use). There is one today, the
 * kernel's, built by paging_init and loaded on every CPU. The code that
 * changes tables takes the space it changes, so a second kind (a process's,
 * sharing the kernel's upper entries) needs a constructor, a CR3 load and
 * the set of CPUs to shoot down on, not a second walker.
 */
struct aspace {
	uint64_t pml4;			/* physical address of the root; 0: not built */
	uint64_t user_pages;		/* user pages mapped (they are the space's) */
	uint64_t user_tables;		/* page tables of the user part */
	bool loaded;			/* has been in some CPU's CR3: only then can
					 * a TLB hold its translations */
	uint32_t live;			/* ASPACE_LIVE from create to destroy */
	struct aspace_ports ports;	/* the I/O ports ring 3 may use on it */
};

#define ASPACE_LIVE 0x5ACE1109u

#define PML4_IDENTITY   0		/* the identity map's slot */
#define PML4_KERNEL_TOP 511		/* the kernel's run-time mappings */
#define PML4_USER_FIRST 1
#define PML4_USER_LAST  255

static struct aspace kernel_aspace = { .live = ASPACE_LIVE };
static struct spinlock paging_lock = SPINLOCK_INIT("paging");
static uint64_t table_pages;		/* pages taken for tables (never freed) */
static bool paging_ready;		/* kernel_aspace is in CR3 */
static uint64_t pte_nx;			/* PTE_NX if the CPU has NX, else 0 */
static uint64_t pte_global;		/* PTE_G if the CPU has PGE, else 0 */

/* Registered guard pages; 0 is an empty slot. Read without the lock. */
static uint64_t guard_pages[PAGING_MAX_GUARDS];
/* Slots at and above guard_high are all free: register and unregister
 * scan only below it (there are as many guards as threads, which come and
 * go on the thread_create/thread_join path). */
static int guard_high;

/* ---- reading the tables (no lock) ---- */

static bool cpu_has_nx(void)
{
	return boot_has_nx == 1;
}

/* The tables in use on this CPU: the boot ones before paging_init. */
static uint64_t *active_pml4(void)
{
	return (uint64_t *)(read_cr3() & CR3_ADDR_MASK);
}

/* The root of as, to change it: its tables are identity-mapped RAM. The
 * kernel's exists once paging_init has built it. */
static uint64_t *aspace_pml4(const struct aspace *as)
{
	KASSERT(as->pml4 != 0);
	return (uint64_t *)as->pml4;
}

/* Makes as this CPU's address space. `loaded` is set first (a full
 * barrier), so an unmap that finds it clear knows no walk has begun. */
static void aspace_load(struct aspace *as)
{
	if (!__atomic_load_n(&as->loaded, __ATOMIC_RELAXED))
		__atomic_store_n(&as->loaded, true, __ATOMIC_SEQ_CST);
	write_cr3(as->pml4);
}

static uint64_t entry_read(const uint64_t *e)
{
	return __atomic_load_n(e, __ATOMIC_RELAXED);
}

static void entry_write(uint64_t *e, uint64_t v)
{
	__atomic_store_n(e, v, __ATOMIC_RELEASE);
}

/* True if entry e at `level` maps a page itself (rather than a table). */
static bool entry_is_leaf(uint64_t e, int level)
{
	return level == PT_LEVEL_PT ||
	       ((level == PT_LEVEL_PD || level == PT_LEVEL_PDPT) && (e & PTE_PS));
}

/* What a lookup found: the leaf entry and the permissions of all levels. */
struct mapping {
	uint64_t leaf;
	int level;
	bool writable;		/* W at every level */
	bool executable;	/* NX at no level (or no NX at all) */
};

/*
 * Walks the tables CR3 points at (the boot ones or ours) for va, honouring
 * large pages. Returns false if va is not mapped or not canonical. Takes no
 * lock; safe in any context.
 */
static bool lookup(uint64_t va, struct mapping *m)
{
	if (!va_is_canonical(va))
		return false;
	const uint64_t *table = active_pml4();
	bool writable = true, nx = false;
	for (int level = PT_LEVEL_PML4; level >= PT_LEVEL_PT; level--) {
		uint64_t e = entry_read(&table[PT_INDEX(va, level)]);
		if (!(e & PTE_P))
			return false;
		writable = writable && (e & PTE_W);
		nx = nx || (cpu_has_nx() && (e & PTE_NX));
		if (entry_is_leaf(e, level)) {
			m->leaf = e;
			m->level = level;
			m->writable = writable;
			m->executable = !nx;
			return true;
		}
		table = (const uint64_t *)(e & PTE_ADDR_MASK);
	}
	return false;		/* not reached: level 1 is always a leaf */
}

/*
 * paging_is_mapped: true if reading va will not fault. Works before and
 * after paging_init; takes no lock (the backtrace code calls it from traps).
 */
bool paging_is_mapped(uint64_t va)
{
	struct mapping m;
	return lookup(va, &m);
}

/*
 * paging_flags: PAGE_WRITE / PAGE_EXEC / PAGE_NOCACHE of the mapping of va,
 * or -1 if va is not mapped. No lock; a snapshot.
 */
int paging_flags(uint64_t va)
{
	struct mapping m;
	if (!lookup(va, &m))
		return -1;
	int flags = 0;
	if (m.writable)
		flags |= PAGE_WRITE;
	if (m.executable)
		flags |= PAGE_EXEC;
	if (m.leaf & PTE_PCD)
		flags |= PAGE_NOCACHE;
	return flags;
}

static bool is_kernel_va(uint64_t va)
{
	unsigned slot = (unsigned)PT_INDEX(va, PT_LEVEL_PML4);
	return slot == PML4_IDENTITY || slot == PML4_KERNEL_TOP;
}

/* ---- changing the tables (paging_lock held) ---- */

/* A zeroed page for a table. Before our tables are loaded it must lie in the
 * boot mapping, where we can write it. */
static uint64_t alloc_table(void)
{
	uint64_t pa = pmm_alloc_page();
	if (!pa)
		panic("paging: out of memory for a page table");
	if (!paging_ready && pa + PAGE_SIZE > BOOT_MAPPED_END)
		panic("paging: page table at 0x%lx is beyond the boot mapping", pa);
	__atomic_fetch_add(&table_pages, 1, __ATOMIC_RELAXED);
	return pa;
}

uint64_t paging_table_pages(void)
{
	return __atomic_load_n(&table_pages, __ATOMIC_RELAXED);
}

/* Entry bits of a leaf with the given PAGE_* flags. */
static uint64_t leaf_bits(unsigned flags)
{
	uint64_t bits = PTE_P;
	if (flags & PAGE_WRITE)
		bits |= PTE_W;
	if (!(flags & PAGE_EXEC))
		bits |= pte_nx;
	if (flags & PAGE_NOCACHE)
		bits |= PTE_UNCACHED;
	return bits;
}

/*
 * Replaces the large-page entry *e at `level` (PD: 2 MiB, PDPT: 1 GiB) with
 * a table of 512 entries mapping the same memory with the same attributes.
 * The TLB may keep the old large translation for a while; it is identical,
 * and callers invlpg the address they go on to change.
 */
static void split_large_page(uint64_t *e, int level)
{
	uint64_t old = entry_read(e);
	uint64_t base = old & (level == PT_LEVEL_PD ? PTE_ADDR_MASK_2M : PTE_ADDR_MASK_1G);
	/* attribute bits: all but the address, PS and the large-page PAT bit */
	uint64_t attrs = old & ~(PTE_ADDR_MASK | PTE_PS);
	int child = level - 1;
	if (child == PT_LEVEL_PT) {
		if (old & PTE_PAT_LARGE)
			attrs |= PTE_PAT;		/* the PAT bit moves to bit 7 */
	} else {
		attrs |= PTE_PS;			/* 1 GiB -> 512 x 2 MiB */
		if (old & PTE_PAT_LARGE)
			attrs |= PTE_PAT_LARGE;
	}

	uint64_t table_pa = alloc_table();
	uint64_t *table = (uint64_t *)table_pa;
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		table[i] = (base + i * PT_LEVEL_SIZE(child)) | attrs;
	entry_write(e, table_pa | PTE_P | PTE_W);
}

enum walk_mode {
	WALK_SPLIT,		/* split large pages on the way; missing tables: stop */
	WALK_CREATE,		/* also allocate missing tables */
};

/*
 * The entry for va at `level` under pml4, splitting large pages above that
 * level; with WALK_CREATE also allocating missing tables. Returns NULL if a
 * table is missing and mode is WALK_SPLIT.
 */
static uint64_t *walk(uint64_t *pml4, uint64_t va, int level, enum walk_mode mode)
{
	uint64_t *table = pml4;
	for (int l = PT_LEVEL_PML4; l > level; l--) {
		uint64_t *e = &table[PT_INDEX(va, l)];
		uint64_t v = entry_read(e);
		if (!(v & PTE_P)) {
			if (mode != WALK_CREATE)
				return NULL;
			entry_write(e, alloc_table() | PTE_P | PTE_W);
		} else if (entry_is_leaf(v, l)) {
			split_large_page(e, l);
		}
		table = (uint64_t *)(entry_read(e) & PTE_ADDR_MASK);
	}
	return &table[PT_INDEX(va, level)];
}

/* These two change as's tables and return whether va was mapped before:
 * then the other CPUs' TLBs may hold it, and the caller shoots it down
 * (see the top). This CPU's entry is dropped here. */
static bool map_locked(struct aspace *as, uint64_t va, uint64_t pa, unsigned flags)
{
	uint64_t *pte = walk(aspace_pml4(as), va, PT_LEVEL_PT, WALK_CREATE);
	bool was_present = entry_read(pte) & PTE_P;
	entry_write(pte, pa | leaf_bits(flags));
	invlpg(va);
	return was_present;
}

static bool unmap_locked(struct aspace *as, uint64_t va)
{
	uint64_t *pte = walk(aspace_pml4(as), va, PT_LEVEL_PT, WALK_SPLIT);
	if (!pte || !(entry_read(pte) & PTE_P))
		return false;
	entry_write(pte, 0);
	invlpg(va);
	return true;
}

static uint64_t shootdowns;
void (*paging_shootdown_hook)(uint64_t va);

static void invlpg_ipi(void *va)
{
	invlpg((uint64_t)va);
}

/* Takes as's va out of the TLB of every CPU that may hold it, the caller's
 * included, and waits until it is out. The kernel's space is in use on every
 * online CPU, so that is all of them. The caller's too because it may have
 * moved since its invlpg under paging_lock: the CPU it is on now may be one
 * that still holds va. Not with paging_lock held. */
static void shootdown(const struct aspace *as, uint64_t va)
{
	(void)as;		/* one space, on every CPU: all of them */
	if (cpu_count() < 2)
		return;
	if (paging_shootdown_hook)
		paging_shootdown_hook(va);
	smp_call_each(invlpg_ipi, (void *)va, true);
	__atomic_fetch_add(&shootdowns, 1, __ATOMIC_RELAXED);
}

uint64_t paging_shootdowns(void)
{
	return __atomic_load_n(&shootdowns, __ATOMIC_RELAXED);
}

/*
 * paging_map: maps the 4 KiB page at va to pa with PAGE_* flags (no-execute
 * unless PAGE_EXEC), replacing any mapping there. Panics on a misaligned or
 * non-canonical address, unknown flags, or no memory for page tables.
 * Takes paging_lock (then pmm's); never sleeps.
 */
void paging_map(uint64_t va, uint64_t pa, unsigned flags)
{
	if (!IS_ALIGNED(va, PAGE_SIZE) || !IS_ALIGNED(pa, PAGE_SIZE) || !va_is_canonical(va))
		panic("paging_map: bad address va 0x%lx pa 0x%lx (page-aligned, canonical)",
		      va, pa);
	if (!is_kernel_va(va))
		panic("paging_map: 0x%lx is not in the kernel's part of the address space "
		      "(PML4 slots %d and %d)", va, PML4_IDENTITY, PML4_KERNEL_TOP);
	if (flags & ~(PAGE_WRITE | PAGE_EXEC | PAGE_NOCACHE))
		panic("paging_map: unknown flags 0x%x", flags);
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	bool was_present = map_locked(&kernel_aspace, va, pa, flags);
	spin_unlock_irqrestore(&paging_lock, irq);
	if (was_present)
		shootdown(&kernel_aspace, va);
}

/*
 * paging_unmap: unmaps the 4 KiB page holding va (nothing if it is not
 * mapped). May split a large page, so may allocate a page table (panics if
 * there is none). Takes paging_lock; never sleeps.
 */
void paging_unmap(uint64_t va)
{
	if (!va_is_canonical(va))
		return;
	va = ALIGN_DOWN(va, PAGE_SIZE);
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	bool was_present = unmap_locked(&kernel_aspace, va);
	spin_unlock_irqrestore(&paging_lock, irq);
	if (was_present)
		shootdown(&kernel_aspace, va);
}

/* ---- guard pages ---- */

/*
 * paging_register_guard: unmaps the page holding va and records it, so a
 * fault there is reported as a stack overflow. Panics if the registry is
 * full, va is page 0, or the page is registered already. Takes paging_lock.
 */
void paging_register_guard(uint64_t va)
{
	va = ALIGN_DOWN(va, PAGE_SIZE);
	if (!va)
		panic("paging_register_guard: page 0 cannot be a guard page");
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	int slot = -1;
	for (int i = 0; i < guard_high; i++) {
		if (guard_pages[i] == va) {
			spin_unlock_irqrestore(&paging_lock, irq);
			panic("paging_register_guard: 0x%lx is registered already", va);
		}
		if (!guard_pages[i] && slot < 0)
			slot = i;
	}
	if (slot < 0 && guard_high < PAGING_MAX_GUARDS)
		slot = guard_high++;
	if (slot < 0) {
		spin_unlock_irqrestore(&paging_lock, irq);
		panic("paging_register_guard: more than %d guard pages", PAGING_MAX_GUARDS);
	}
	bool was_present = unmap_locked(&kernel_aspace, va);
	__atomic_store_n(&guard_pages[slot], va, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&paging_lock, irq);
	if (was_present)
		shootdown(&kernel_aspace, va);
}

/*
 * paging_unregister_guard: forgets the guard page holding va and maps it
 * again (identity, RW, no-execute), e.g. when a thread's stack is freed.
 * Panics if it was not registered. Takes paging_lock.
 */
void paging_unregister_guard(uint64_t va)
{
	va = ALIGN_DOWN(va, PAGE_SIZE);
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	for (int i = 0; i < guard_high; i++) {
		if (va && guard_pages[i] == va) {
			__atomic_store_n(&guard_pages[i], 0, __ATOMIC_RELEASE);
			while (guard_high > 0 && !guard_pages[guard_high - 1])
				guard_high--;
			map_locked(&kernel_aspace, va, va, PAGE_WRITE);
			spin_unlock_irqrestore(&paging_lock, irq);
			return;
		}
	}
	spin_unlock_irqrestore(&paging_lock, irq);
	panic("paging_unregister_guard: 0x%lx is not a guard page", va);
}

/*
 * arch_stack_guard_hit: true if addr is in a registered guard page. For the
 * trap code: no lock, any context.
 */
bool arch_stack_guard_hit(uint64_t addr)
{
	for (int i = 0; i < PAGING_MAX_GUARDS; i++) {
		uint64_t g = __atomic_load_n(&guard_pages[i], __ATOMIC_ACQUIRE);
		if (g && addr - g < PAGE_SIZE)
			return true;
	}
	return false;
}

/* ---- building the kernel's tables ---- */

/* A stretch of the identity map with its own leaf bits (0: not mapped). */
struct layout_region {
	uint64_t start, end;
	uint64_t bits;
};

static struct layout_region layout[MAX_LAYOUT_REGIONS];
static int nlayout;
static uint64_t default_bits;		/* RAM and MMIO: P|W|NX */

static void layout_add(uint64_t start, uint64_t end, uint64_t bits)
{
	KASSERT(nlayout < MAX_LAYOUT_REGIONS);
	layout[nlayout++] = (struct layout_region){ start, end, bits };
}

/* Leaf bits of the page at pa: the first region holding it wins. */
static uint64_t layout_bits(uint64_t pa)
{
	for (int i = 0; i < nlayout; i++)
		if (pa >= layout[i].start && pa < layout[i].end)
			return layout[i].bits;
	return default_bits;
}

/* True if all of [start, start + 2 MiB) gets the same bits: no region
 * begins or ends strictly inside it. */
static bool layout_uniform(uint64_t start)
{
	uint64_t end = start + LARGE_PAGE_SIZE;
	for (int i = 0; i < nlayout; i++) {
		if (layout[i].start > start && layout[i].start < end)
			return false;
		if (layout[i].end > start && layout[i].end < end)
			return false;
	}
	return true;
}

static uint64_t top_of_ram(void)
{
	uint64_t top = 0;
	for (int i = 0; i < bootinfo.nmmap; i++)
		if (bootinfo.mmap[i].type == MMAP_USABLE)
			top = MAX(top, bootinfo.mmap[i].base + bootinfo.mmap[i].len);
	return top;
}

/*
 * paging_init: builds the kernel's tables (see the top of this file) from
 * pmm pages, loads CR3, turns on global pages if the CPU has them, and
 * registers the boot stack's guard page. Boot CPU, once, after pmm_init.
 */
void paging_init(void)
{
	pte_nx = cpu_has_nx() ? PTE_NX : 0;
	bool has_pge = cpuid(CPUID_LEAF_FEATURES, 0).edx & CPUID_1_EDX_PGE;
	pte_global = has_pge ? PTE_G : 0;
	default_bits = PTE_P | PTE_W | pte_nx;

	uint64_t guard = (uint64_t)boot_stack_guard;
	/* first match wins: the holes go first */
	layout_add(0, PAGE_SIZE, 0);
	layout_add(guard, guard + PAGE_SIZE, 0);
	layout_add((uint64_t)__text_start, (uint64_t)__text_end, PTE_P | pte_global);
	layout_add((uint64_t)__rodata_start, (uint64_t)__rodata_end,
		   PTE_P | pte_global | pte_nx);
	layout_add((uint64_t)__data_start, (uint64_t)__kernel_end,
		   PTE_P | PTE_W | pte_global | pte_nx);
	layout_add(LAPIC_DEFAULT_BASE, LAPIC_DEFAULT_BASE + PAGE_SIZE,
		   PTE_P | PTE_W | pte_nx | PTE_UNCACHED);
	layout_add(IOAPIC_DEFAULT_BASE, IOAPIC_DEFAULT_BASE + PAGE_SIZE,
		   PTE_P | PTE_W | pte_nx | PTE_UNCACHED);

	uint64_t top = MAX(IDENTITY_MAP_MIN, ALIGN_UP(top_of_ram(), LARGE_PAGE_SIZE));
	kernel_aspace.pml4 = alloc_table();
	uint64_t *pml4 = aspace_pml4(&kernel_aspace);
	uint64_t nlarge = 0, nsmall = 0, ntables = 1;	/* (the PML4) */
	uint64_t free_before = pmm_free_count();

	for (uint64_t chunk = 0; chunk < top; chunk += LARGE_PAGE_SIZE) {
		uint64_t *pde = walk(pml4, chunk, PT_LEVEL_PD, WALK_CREATE);
		if (layout_uniform(chunk)) {
			uint64_t bits = layout_bits(chunk);
			if (bits) {
				*pde = chunk | bits | PTE_PS;
				nlarge++;
			}
			continue;
		}
		uint64_t pt_pa = alloc_table();
		uint64_t *pt = (uint64_t *)pt_pa;
		for (unsigned i = 0; i < PT_ENTRIES; i++) {
			uint64_t pa = chunk + i * PAGE_SIZE;
			uint64_t bits = layout_bits(pa);
			if (bits) {
				pt[i] = pa | bits;
				nsmall++;
			}
		}
		*pde = pt_pa | PTE_P | PTE_W;
	}
	ntables += free_before - pmm_free_count();

	/* the run-time slot's PDPT, shared by every space from the start */
	walk(pml4, (uint64_t)PML4_KERNEL_TOP << PT_LEVEL_SHIFT(PT_LEVEL_PML4) | 0xFFFF000000000000UL,
	     PT_LEVEL_PDPT, WALK_CREATE);

	aspace_load(&kernel_aspace);
	for (int i = 0; i < MAX_CPUS; i++)
		cpus[i].aspace = &kernel_aspace;
	paging_ready = true;
	if (has_pge)
		write_cr4(read_cr4() | CR4_PGE);

	/* The layout left it unmapped already; recording it is what remains. */
	guard_pages[0] = guard;
	guard_high = 1;

	printk("paging: 0x0-0x%lx identity-mapped: %lu x 2 MiB + %lu x 4 KiB pages, "
	       "%lu tables; NX %s, global pages %s\n",
	       top - 1, nlarge, nsmall, ntables, pte_nx ? "on" : "off (CPU lacks it)",
	       has_pge ? "on" : "off (CPU lacks it)");
}

/* ---- user address spaces ---- */

static uint64_t user_tables_total;	/* tables of all user parts, for the leak tests */

struct aspace *aspace_kernel(void)
{
	return &kernel_aspace;
}

struct aspace *aspace_create(void)
{
	struct aspace *as = kmem_zalloc(sizeof(*as), KM_USER);
	if (!as)
		return NULL;
	as->pml4 = pmm_alloc_pages_for(0, PMM_KERNEL_FOR_USER);
	if (!as->pml4) {
		kmem_free(as);
		return NULL;
	}
	uint64_t *pml4 = aspace_pml4(as), *kpml4 = aspace_pml4(&kernel_aspace);
	pml4[PML4_IDENTITY] = kpml4[PML4_IDENTITY];
	pml4[PML4_KERNEL_TOP] = kpml4[PML4_KERNEL_TOP];
	as->live = ASPACE_LIVE;
	return as;
}

/* Frees the tables (and, at the leaves, the pages) below the user entry
 * *e at `level`. */
static void free_user_tree(struct aspace *as, uint64_t e, int level)
{
	uint64_t *table = (uint64_t *)(e & PTE_ADDR_MASK);
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t c = table[i];
		if (!(c & PTE_P))
			continue;
		if (level - 1 == PT_LEVEL_PT) {
			pmm_free_page(c & PTE_ADDR_MASK);
			as->user_pages--;
		} else {
			free_user_tree(as, c, level - 1);
		}
	}
	pmm_free_page(e & PTE_ADDR_MASK);
	as->user_tables--;
	__atomic_fetch_sub(&user_tables_total, 1, __ATOMIC_RELAXED);
}

/* An IPI's work: a CPU that has as loaded moves to the kernel's space. */
static void drop_space(void *arg)
{
	struct cpu *c = this_cpu();
	if (c->aspace == arg) {
		aspace_load(&kernel_aspace);
		c->aspace = &kernel_aspace;
		/* no dead process's ports left open (a stale key could never
		 * match a live space's anyway: keys are not reused) */
		if (c->arch.io_key)
			iobitmap_switch(&kernel_aspace.ports);
	}
}

void aspace_destroy(struct aspace *as)
{
	if (as == &kernel_aspace)
		panic("aspace_destroy: the kernel's address space");
	smp_call_each(drop_space, as, true);
	uint64_t *pml4 = aspace_pml4(as);
	for (int slot = PML4_USER_FIRST; slot <= PML4_USER_LAST; slot++)
		if (pml4[slot] & PTE_P)
			free_user_tree(as, pml4[slot], PT_LEVEL_PML4);
	if (as->user_pages || as->user_tables)
		panic("aspace_destroy: %lu pages and %lu tables left over", as->user_pages,
		      as->user_tables);
	pmm_free_page(as->pml4);
	as->live = 0;
	kmem_free(as);
}

/* Out of line, taking the space: the compiler then has no address of its
 * ports to work out ahead of the test on the usual path. */
static __attribute__((noinline, cold)) void activate_ports(struct aspace *as)
{
	iobitmap_switch(&as->ports);
}

void aspace_activate(struct aspace *as)
{
	struct cpu *c = this_cpu();
	if (c->aspace != as) {
		/* a thread still naming a space that was torn down: its CR3
		 * would be freed (or another process's) tables */
		if (unlikely(as->live != ASPACE_LIVE))
			panic("aspace_activate: address space %p is not live (destroyed; a thread "
			      "of its process still names it)", as);
		aspace_load(as);
		c->aspace = as;
		/* its ports: the TSS bitmap (arch/tss.h); nothing to do when
		 * this CPU's already agrees, as it does when neither has any */
		if (unlikely(__atomic_load_n(&as->ports.key, __ATOMIC_RELAXED) != c->arch.io_key))
			activate_ports(as);
	}
}

/* An IPI's work: a CPU on this space takes its new ports. */
static void reload_ports(void *arg)
{
	struct aspace *as = arg;
	if (this_cpu()->aspace == as)
		iobitmap_switch(&as->ports);
}

void aspace_set_ports(struct aspace *as, const struct ioport_set *set)
{
	if (as == &kernel_aspace)
		panic("aspace_set_ports: the kernel's address space");
	iobitmap_set(&as->ports, set);
	/* A space never loaded is on no CPU, and its first load will read
	 * the new key: the store above, this fence, and aspace_load's full
	 * barrier between setting `loaded` and reading the key make one of
	 * the two sides see the other. Otherwise every CPU looks, as a
	 * shootdown does (smp_call_each: the caller's own too, even if it
	 * moved). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&as->loaded, __ATOMIC_RELAXED))
		smp_call_each(reload_ports, as, true);
}

/* The PTE of user address va in as, creating tables if create; NULL if a
 * table is missing (or there is no memory for one). */
static uint64_t *user_pte(struct aspace *as, uint64_t va, bool create)
{
	uint64_t *table = aspace_pml4(as);
	for (int l = PT_LEVEL_PML4; l > PT_LEVEL_PT; l--) {
		uint64_t *e = &table[PT_INDEX(va, l)];
		uint64_t v = entry_read(e);
		if (!(v & PTE_P)) {
			if (!create)
				return NULL;
			uint64_t t = pmm_alloc_user_page();	/* user memory's: the reserve stays */
			if (!t)
				return NULL;
			as->user_tables++;
			__atomic_fetch_add(&user_tables_total, 1, __ATOMIC_RELAXED);
			v = t | PTE_P | PTE_W | PTE_U;
			entry_write(e, v);
		}
		table = (uint64_t *)(v & PTE_ADDR_MASK);
	}
	return &table[PT_INDEX(va, PT_LEVEL_PT)];
}

static void check_user_va(const char *fn, uint64_t va)
{
	if (!IS_ALIGNED(va, PAGE_SIZE) || va < ARCH_USER_BASE || va >= ARCH_USER_TOP)
		panic("%s: 0x%lx is not a page of user space [0x%lx, 0x%lx)", fn, va,
		      (uint64_t)ARCH_USER_BASE, (uint64_t)ARCH_USER_TOP);
}

int aspace_map(struct aspace *as, uint64_t va, uint64_t pa, unsigned flags)
{
	check_user_va("aspace_map", va);
	if (flags & ~(PAGE_WRITE | PAGE_EXEC))
		panic("aspace_map: unknown flags 0x%x", flags);
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	uint64_t *pte = user_pte(as, va, true);
	if (!pte) {
		spin_unlock_irqrestore(&paging_lock, irq);
		return -1;
	}
	if (entry_read(pte) & PTE_P) {
		spin_unlock_irqrestore(&paging_lock, irq);
		panic("aspace_map: 0x%lx is mapped already", va);
	}
	entry_write(pte, pa | leaf_bits(flags) | PTE_U);
	as->user_pages++;
	spin_unlock_irqrestore(&paging_lock, irq);
	return 0;			/* it was not present: nothing to shoot down */
}

struct user_shootdown {
	struct aspace *as;
	uint64_t va;
	size_t npages;
};

static void user_invlpg(void *arg)
{
	struct user_shootdown *u = arg;
	if (this_cpu()->aspace != u->as)
		return;
	for (size_t i = 0; i < u->npages; i++)
		invlpg(u->va + i * PAGE_SIZE);
}

size_t aspace_unmap_range(struct aspace *as, uint64_t va, size_t npages, uint64_t *pages)
{
	if (!npages)
		return 0;
	check_user_va("aspace_unmap_range", va);
	check_user_va("aspace_unmap_range", va + (npages - 1) * PAGE_SIZE);
	size_t n = 0;
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	for (size_t i = 0; i < npages; i++) {
		uint64_t *pte = user_pte(as, va + i * PAGE_SIZE, false);
		uint64_t old = pte ? entry_read(pte) : 0;
		pages[i] = 0;
		if (old & PTE_P) {
			entry_write(pte, 0);
			as->user_pages--;
			pages[i] = old & PTE_ADDR_MASK;
			n++;
		}
	}
	spin_unlock_irqrestore(&paging_lock, irq);
	if (!n)
		return 0;
	/* One shootdown for the range. A space no CPU has ever loaded (a
	 * fork's child before it runs) is in no TLB: nothing to shoot down.
	 * The fence orders the cleared entries before the look at `loaded`
	 * (aspace_load's store is the other half): either we see it set, or
	 * the first walk sees the clear. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&as->loaded, __ATOMIC_RELAXED)) {
		struct user_shootdown u = { as, va, npages };
		smp_call_each(user_invlpg, &u, true);
	}
	return n;
}

uint64_t aspace_unmap(struct aspace *as, uint64_t va)
{
	uint64_t page;
	aspace_unmap_range(as, va, 1, &page);
	return page;
}

uint64_t aspace_lookup(struct aspace *as, uint64_t va, unsigned *flags)
{
	if (va < ARCH_USER_BASE || va >= ARCH_USER_TOP)
		return 0;
	unsigned long irq = spin_lock_irqsave(&paging_lock);
	uint64_t *pte = user_pte(as, ALIGN_DOWN(va, PAGE_SIZE), false);
	uint64_t e = pte ? entry_read(pte) : 0;
	spin_unlock_irqrestore(&paging_lock, irq);
	if (!(e & PTE_P))
		return 0;
	if (flags)
		*flags = (e & PTE_W ? PAGE_WRITE : 0) | (e & pte_nx ? 0 : PAGE_EXEC);
	return (e & PTE_ADDR_MASK) | (va & (PAGE_SIZE - 1));
}

/* One page, 8 bytes a step with rep movsq: fork copies every page of the
 * process, and lib's memcpy, a byte loop, made that 20,000 instructions a
 * page. */
static void copy_page(void *dst, const void *src)
{
	uint64_t words = PAGE_SIZE / sizeof(uint64_t);
	__asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(words) : : "memory");
}

/* Copies the user pages below src's entry at `level` (a table at e) into
 * fresh pages of dst at the same addresses; va is the table's base. */
static int copy_user_tree(struct aspace *dst, uint64_t e, int level, uint64_t va)
{
	const uint64_t *table = (const uint64_t *)(e & PTE_ADDR_MASK);
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t c = table[i];
		if (!(c & PTE_P))
			continue;
		uint64_t cva = va + (uint64_t)i * PT_LEVEL_SIZE(level - 1);
		if (level - 1 > PT_LEVEL_PT) {
			if (copy_user_tree(dst, c, level - 1, cva) < 0)
				return -1;
			continue;
		}
		uint64_t page = pmm_alloc_user_page();
		if (!page)
			return -1;
		copy_page((void *)page, (const void *)(c & PTE_ADDR_MASK));
		unsigned flags = (c & PTE_W ? PAGE_WRITE : 0) | (c & pte_nx ? 0 : PAGE_EXEC);
		if (aspace_map(dst, cva, page, flags) < 0) {
			pmm_free_page(page);
			return -1;
		}
	}
	return 0;
}

int aspace_copy(struct aspace *dst, struct aspace *src)
{
	const uint64_t *pml4 = aspace_pml4(src);
	for (int slot = PML4_USER_FIRST; slot <= PML4_USER_LAST; slot++)
		if ((pml4[slot] & PTE_P) &&
		    copy_user_tree(dst, pml4[slot], PT_LEVEL_PML4,
				   (uint64_t)slot << PT_LEVEL_SHIFT(PT_LEVEL_PML4)) < 0)
			return -1;
	return 0;
}

uint64_t aspace_user_pages(const struct aspace *as)
{
	return as->user_pages;
}

uint64_t aspace_user_tables_total(void)
{
	return __atomic_load_n(&user_tables_total, __ATOMIC_RELAXED);
}
