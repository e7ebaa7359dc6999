/*
 * tests/mm/paging_test.c - the kernel page tables (arch/x86_64/paging.c).
 *
 * The *_faults cases end their boot in the trap handler's panic, which
 * names the exception: "unexpected trap: page fault (#PF) at ...".
 */
#include <ktest.h>
#include <percpu.h>
#include <smp.h>
#include <bootinfo.h>
#include <mm.h>
#include <thread.h>
#include <arch/mmu.h>
#include <arch/trap.h>
#include <arch/x86.h>

#define LAPIC_PAGE      0xFEE00000UL
#define IOAPIC_PAGE     0xFEC00000UL
#define HIGHER_HALF_VA  0xFFFFFFC000000000UL	/* the kernel's run-time slot, empty */
#define NON_CANONICAL   0x0000800000000000UL
#define RET_OPCODE      0xC3
#define SPLIT_PAGE      5	/* a page in the middle of a 2 MiB block */
#define LARGE_ORDER     9	/* 2^9 pages: one 2 MiB block */

static const uint64_t rodata_word = 0x0123456789abcdefUL;
static uint64_t data_word = 1;
static uint64_t bss_word;
static uint8_t data_code[16] = { RET_OPCODE };

static uint64_t launder(uint64_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

static void text_function(void)
{
	__asm__ volatile("");
}

/* PAGE_EXEC is expected off for data only when the CPU can enforce it. */
static int no_exec(void)
{
	return boot_has_nx ? 0 : PAGE_EXEC;
}

KTEST(mm, paging_kernel_image_permissions)
{
	uint64_t stack_var = 0;
	KT_EXPECT_EQ(paging_flags((uint64_t)text_function), PAGE_EXEC);
	KT_EXPECT_EQ(paging_flags((uint64_t)__text_start), PAGE_EXEC);
	KT_EXPECT_EQ(paging_flags((uint64_t)__text_end - 1), PAGE_EXEC);
	KT_EXPECT_EQ(paging_flags((uint64_t)&rodata_word), no_exec());
	KT_EXPECT_EQ(paging_flags((uint64_t)__rodata_start), no_exec());
	KT_EXPECT_EQ(paging_flags((uint64_t)&data_word), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags((uint64_t)&bss_word), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags((uint64_t)__bss_end - 1), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags((uint64_t)&stack_var), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags((uint64_t)launder((uint64_t)&stack_var)), PAGE_WRITE | no_exec());
	if (!boot_has_nx)
		KT_LOG("this CPU has no NX: data and rodata are executable");
}

KTEST(mm, paging_null_and_guard_unmapped)
{
	KT_EXPECT(!paging_is_mapped(0));
	KT_EXPECT(!paging_is_mapped(PAGE_SIZE - 1));
	KT_EXPECT_EQ(paging_flags(0), -1);
	KT_EXPECT(paging_is_mapped(PAGE_SIZE));

	uint64_t guard = (uint64_t)boot_stack_guard;
	KT_EXPECT(!paging_is_mapped(guard));
	KT_EXPECT(!paging_is_mapped(guard + PAGE_SIZE - 1));
	KT_EXPECT(paging_is_mapped(guard - 1));
	KT_EXPECT(paging_is_mapped((uint64_t)boot_stack_bottom));
	KT_EXPECT(arch_stack_guard_hit(guard));
	KT_EXPECT(arch_stack_guard_hit(guard + 100));
	KT_EXPECT(!arch_stack_guard_hit(guard - 1));
	KT_EXPECT(!arch_stack_guard_hit(guard + PAGE_SIZE));

	KT_EXPECT(!paging_is_mapped(NON_CANONICAL));
	KT_EXPECT(!paging_is_mapped(HIGHER_HALF_VA));
}

KTEST(mm, paging_ram_and_mmio_mapped)
{
	for (int i = 0; i < bootinfo.nmmap; i++) {
		const struct boot_mmap_entry *e = &bootinfo.mmap[i];
		if (e->type != MMAP_USABLE || e->len < PAGE_SIZE)
			continue;
		uint64_t first = MAX(e->base, PAGE_SIZE);
		uint64_t last = e->base + e->len - 1;
		KT_EXPECT(paging_is_mapped(first));
		KT_EXPECT(paging_is_mapped(last));
	}
	/* RAM the allocator hands out: read-write, no-exec, cached */
	uint64_t pa = pmm_alloc_page();
	KT_ASSERT(pa != 0);
	KT_EXPECT_EQ(paging_flags(pa), PAGE_WRITE | no_exec());
	pmm_free_page(pa);

	/* the APICs: uncached */
	KT_EXPECT_EQ(paging_flags(LAPIC_PAGE), PAGE_WRITE | PAGE_NOCACHE | no_exec());
	KT_EXPECT_EQ(paging_flags(IOAPIC_PAGE), PAGE_WRITE | PAGE_NOCACHE | no_exec());
	/* the rest of the low 4 GiB: mapped */
	KT_EXPECT(paging_is_mapped(GiB(3)));
	KT_EXPECT(paging_is_mapped(GiB(4) - 1));
}

KTEST(mm, paging_map_and_unmap)
{
	uint64_t pa = pmm_alloc_page();
	KT_ASSERT(pa != 0);
	uint64_t va = HIGHER_HALF_VA;
	KT_EXPECT(!paging_is_mapped(va));

	paging_map(va, pa, PAGE_WRITE);
	KT_EXPECT(paging_is_mapped(va));
	KT_EXPECT_EQ(paging_flags(va), PAGE_WRITE | no_exec());
	*(volatile uint64_t *)(va + 8) = 0xfeedfacecafef00dUL;
	KT_EXPECT_EQ(*(volatile uint64_t *)(pa + 8), 0xfeedfacecafef00dUL);

	paging_map(va, pa, PAGE_EXEC);		/* remapping changes the rights */
	KT_EXPECT_EQ(paging_flags(va), PAGE_EXEC);
	paging_map(va, pa, PAGE_WRITE | PAGE_NOCACHE);
	KT_EXPECT_EQ(paging_flags(va), PAGE_WRITE | PAGE_NOCACHE | no_exec());

	paging_unmap(va);
	KT_EXPECT(!paging_is_mapped(va));
	KT_EXPECT_EQ(paging_flags(va), -1);
	paging_unmap(va);			/* unmapping twice is harmless */
	pmm_free_page(pa);
}

/*
 * The TLB shootdown: every CPU reads a page through an address (so its TLB
 * holds the translation), the address is pointed at another page, and
 * every CPU must then read the new page. Without the shootdown the other
 * CPUs keep reading the old one through their stale TLB entries (QEMU's
 * TLB, like a real one, keeps them until an invlpg on that CPU).
 */
struct tlb_probe {
	uint64_t va;
	uint64_t seen[MAX_CPUS];
};

static void read_probe(void *arg)
{
	struct tlb_probe *p = arg;
	p->seen[cpu_id()] = *(volatile uint64_t *)p->va;
}

static int cpus_reading(struct tlb_probe *p, uint64_t want)
{
	int right = 0;
	for (int c = 0; c < cpu_count(); c++) {
		p->seen[c] = 0;
		smp_call(c, read_probe, p, true);
		right += p->seen[c] == want;
	}
	return right;
}

/* Two pages, va holding 0xAAAA and *other 0xBBBB, and every CPU has read va
 * (so its TLB holds the translation); p is set up to probe va. */
static uint64_t page_in_every_tlb(struct tlb_probe *p, uint64_t *other)
{
	uint64_t va = pmm_alloc_page();
	*other = pmm_alloc_page();
	KT_ASSERT(va && *other);
	*(volatile uint64_t *)va = 0xAAAA;
	*(volatile uint64_t *)*other = 0xBBBB;
	p->va = va;
	KT_EXPECT_EQ(cpus_reading(p, 0xAAAA), cpu_count());
	return va;
}

KTEST_CPUS(mm, paging_change_reaches_every_cpu_tlb, 2)
{
	int n = cpu_count();
	struct tlb_probe p;
	uint64_t other, va = page_in_every_tlb(&p, &other);
	uint64_t before = paging_shootdowns();

	paging_map(va, other, PAGE_WRITE);		/* va -> the other page */
	KT_EXPECT_EQ(cpus_reading(&p, 0xBBBB), n);
	paging_map(va, va, PAGE_WRITE);			/* and back */
	KT_EXPECT_EQ(cpus_reading(&p, 0xAAAA), n);
	KT_EXPECT_EQ(paging_shootdowns() - before, 2);

	/* mapping a page that was not mapped sends none */
	paging_unmap(HIGHER_HALF_VA);
	before = paging_shootdowns();
	paging_map(HIGHER_HALF_VA, other, PAGE_WRITE);
	KT_EXPECT_EQ(paging_shootdowns() - before, 0);
	paging_unmap(HIGHER_HALF_VA);
	KT_EXPECT_EQ(paging_shootdowns() - before, 1);

	pmm_free_page(other);
	pmm_free_page(va);
}

/*
 * The same, when the changing thread moves to another CPU between its change
 * and the shootdown (preempted there, or, here, moved by a test hook).
 * The CPU it leaves invalidated the page under the lock; the one it comes to
 * did not, and must not be skipped as "the caller's own" by the shootdown.
 * Every CPU reads the page first, so each TLB holds the old translation.
 */
struct mover {
	struct thread *thread;		/* set by the mover itself */
	int to;				/* the CPU the hook moves it to */
	uint64_t va, pa;		/* pa == 0: unmap va, else map va -> pa */
	int cpu_after;			/* where the change returned */
};

static struct mover *moving;

static void move_in_window(uint64_t va)
{
	struct mover *m = moving;
	if (m && curthread == m->thread && va == m->va) {
		moving = NULL;		/* once */
		thread_bind(m->to);
	}
}

static void mover_main(void *arg)
{
	struct mover *m = arg;
	m->thread = curthread;
	if (m->pa)
		paging_map(m->va, m->pa, PAGE_WRITE);
	else
		paging_unmap(m->va);
	m->cpu_after = cpu_id();
}

/* Changes va (as m says) on a thread that starts on CPU `from` and is moved to
 * m->to between the change and its shootdown; returns where it ended. */
static int change_while_moving(struct mover *m, int from)
{
	moving = m;
	paging_shootdown_hook = move_in_window;
	thread_join(thread_create_on("mover", mover_main, m, 0, from, PRIO_NORMAL));
	paging_shootdown_hook = NULL;
	moving = NULL;
	return m->cpu_after;
}

KTEST_CPUS(mm, paging_map_shootdown_reaches_the_cpu_the_caller_moved_to, 2)
{
	int n = cpu_count();
	struct tlb_probe p;
	uint64_t other, va = page_in_every_tlb(&p, &other);

	struct mover m = { .to = 0, .va = va, .pa = other };
	KT_EXPECT_EQ(change_while_moving(&m, 1), 0);	/* it did move: 1 -> 0 */
	KT_EXPECT_EQ(cpus_reading(&p, 0xBBBB), n);
	for (int c = 0; c < n; c++)
		if (p.seen[c] != 0xBBBB)
			KT_LOG("CPU %d still reads the old page (0x%lx)", c, p.seen[c]);

	paging_map(va, va, PAGE_WRITE);
	pmm_free_page(other);
	pmm_free_page(va);
}

/* The page read_faults_on reads; a fault on it kills the reading thread. */
static uint64_t probe_page;

static bool fault_on_probe_page(struct trap_frame *tf)
{
	if (ALIGN_DOWN(read_cr2(), PAGE_SIZE) != probe_page)
		return false;
	return trap_kill_thread(tf, "test: read of the unmapped page");
}

static void read_probe_page(void *arg)
{
	(void)arg;
	(void)*(volatile uint64_t *)probe_page;
}

/* Reads probe_page on CPU `cpu`, in a thread of its own; returns whether the
 * read faulted (fault_on_probe_page must be the #PF handler). */
static bool read_faults_on(int cpu)
{
	return thread_join_status(thread_create_on("pf-probe", read_probe_page, NULL, 0, cpu,
						   PRIO_NORMAL), NULL);
}

KTEST_CPUS(mm, paging_unmap_faults_on_every_cpu_though_the_caller_moved, 2)
{
	int n = cpu_count();
	struct tlb_probe p;
	uint64_t other, va = page_in_every_tlb(&p, &other);

	struct mover m = { .to = 0, .va = va, .pa = 0 };
	KT_EXPECT_EQ(change_while_moving(&m, 1), 0);	/* it did move: 1 -> 0 */

	probe_page = va;
	trap_register(T_PF, fault_on_probe_page);
	int faulted = 0;
	for (int c = 0; c < n; c++) {
		bool f = read_faults_on(c);
		faulted += f;
		if (!f)
			KT_LOG("CPU %d read the unmapped page through a stale TLB entry", c);
	}
	trap_register(T_PF, NULL);
	KT_EXPECT_EQ(faulted, n);

	paging_map(va, va, PAGE_WRITE);
	pmm_free_page(other);
	pmm_free_page(va);
}

/* Unmapping one page of a 2 MiB mapping splits it; the rest stays as it was. */
KTEST(mm, paging_split_large_page)
{
	uint64_t block = pmm_alloc_pages(LARGE_ORDER);
	KT_ASSERT(block != 0);
	uint64_t victim = block + SPLIT_PAGE * PAGE_SIZE;
	*(volatile uint64_t *)(victim + PAGE_SIZE) = 77;

	paging_unmap(victim);
	KT_EXPECT(!paging_is_mapped(victim));
	KT_EXPECT_EQ(paging_flags(victim - PAGE_SIZE), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags(victim + PAGE_SIZE), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags(block), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(paging_flags(block + MiB(2) - 1), PAGE_WRITE | no_exec());
	KT_EXPECT_EQ(*(volatile uint64_t *)(victim + PAGE_SIZE), 77);

	paging_map(victim, victim, PAGE_WRITE);
	KT_EXPECT_EQ(paging_flags(victim), PAGE_WRITE | no_exec());
	*(volatile uint64_t *)victim = 78;
	KT_EXPECT_EQ(*(volatile uint64_t *)victim, 78);
	pmm_free_pages(block, LARGE_ORDER);
}

KTEST(mm, paging_guard_registry)
{
	uint64_t pa = pmm_alloc_page();
	KT_ASSERT(pa != 0);
	KT_EXPECT(!arch_stack_guard_hit(pa));
	paging_register_guard(pa + 12);		/* any address in the page */
	KT_EXPECT(!paging_is_mapped(pa));
	KT_EXPECT(arch_stack_guard_hit(pa + PAGE_SIZE - 1));
	paging_unregister_guard(pa);
	KT_EXPECT(!arch_stack_guard_hit(pa));
	KT_EXPECT_EQ(paging_flags(pa), PAGE_WRITE | no_exec());
	*(volatile uint64_t *)pa = 5;
	pmm_free_page(pa);
}

KTEST_EXPECT_PANIC(mm, null_deref_faults, "page fault")
{
	volatile uint64_t *p = (volatile uint64_t *)launder(0);
	KT_LOG("read NULL: %lu", *p);
}

KTEST_EXPECT_PANIC(mm, write_to_text_faults, "page fault")
{
	volatile uint8_t *code = (volatile uint8_t *)launder((uint64_t)text_function);
	*code = RET_OPCODE;
}

KTEST_EXPECT_PANIC(mm, write_to_rodata_faults, "page fault")
{
	volatile uint64_t *p = (volatile uint64_t *)launder((uint64_t)&rodata_word);
	*p = 0;
}

KTEST_EXPECT_PANIC(mm, exec_data_faults, "page fault")
{
	if (!boot_has_nx)
		KT_SKIP("this CPU has no NX: data is executable");
	void (*fn)(void) = (void (*)(void))launder((uint64_t)data_code);
	fn();
}

KTEST_EXPECT_PANIC(mm, guard_page_write_faults, "page fault")
{
	volatile uint64_t *p = (volatile uint64_t *)launder((uint64_t)boot_stack_guard);
	*p = 1;
}
