/*
 * arch/x86_64/cpu.c - per-CPU descriptor tables: GDT, TSS and IST stacks.
 *
 * Every CPU has its own GDT (because the TSS descriptor is per CPU) and its
 * own TSS, whose Interrupt Stack Table gives three traps a known-good stack
 * of their own: a double fault (so a kernel stack overflow can still be
 * reported), NMI and machine check. Segmentation is otherwise flat; the GS
 * base points at the CPU's struct cpu (percpu.h).
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/trap.h>
#include <percpu.h>
#include <printk.h>
#include <string.h>

#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_TSS   0x18		/* a 16-byte system descriptor: slots 3 and 4 */
#define GDT_ENTRIES 5

/* Segment descriptor bits (SDM vol. 3, 3.4.5). */
#define SEG_KCODE64 0x00AF9A000000FFFFULL	/* present, ring 0, code, L=1 */
#define SEG_KDATA   0x00CF92000000FFFFULL	/* present, ring 0, data, writable */
#define SEG_TSS_AVAIL 0x89			/* present, 64-bit TSS (available) */

#define IST_STACK_SIZE 8192

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __packed;

struct cpu cpus[MAX_CPUS];
static uint64_t gdt[MAX_CPUS][GDT_ENTRIES] __aligned(16);
static struct tss tss[MAX_CPUS] __aligned(16);
static uint8_t ist_stacks[MAX_CPUS][3][IST_STACK_SIZE] __aligned(16);

void percpu_init_this(int id)
{
	struct cpu *c = &cpus[id];
	c->self = c;
	c->id = id;
	wrmsr(MSR_GS_BASE, (uint64_t)c);
}

/* The top of IST stack `slot` (1-based) of CPU `id`, for a test's sanity checks. */
uint64_t arch_ist_top(int id, int slot)
{
	return (uint64_t)&ist_stacks[id][slot - 1][IST_STACK_SIZE];
}

void gdt_init_this_cpu(int id)
{
	struct tss *t = &tss[id];
	memset(t, 0, sizeof(*t));
	for (int slot = 1; slot <= 3; slot++)
		t->ist[slot - 1] = arch_ist_top(id, slot);
	t->iomap_base = sizeof(*t);	/* no I/O permission bitmap */

	uint64_t base = (uint64_t)t, limit = sizeof(*t) - 1;
	uint64_t *g = gdt[id];
	g[0] = 0;
	g[1] = SEG_KCODE64;
	g[2] = SEG_KDATA;
	g[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) |
	       ((uint64_t)SEG_TSS_AVAIL << 40) | (((limit >> 16) & 0xF) << 48) |
	       (((base >> 24) & 0xFF) << 56);
	g[4] = base >> 32;

	struct {
		uint16_t limit;
		uint64_t base;
	} __packed ptr = { sizeof(gdt[id]) - 1, (uint64_t)g };

	/* Load the GDT, reload CS with a far return, the data segments, the TSS. */
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %w2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(ptr), "i"(GDT_KCODE), "r"(GDT_KDATA), "r"(GDT_TSS)
			 : "rax", "memory");
}

#define DEBUG_EXIT_PORT 0xF4
#define DEBUG_EXIT_PASS 0x10	/* QEMU exits with (0x10 << 1) | 1 = 33 */
#define DEBUG_EXIT_FAIL 0x11	/* and (0x11 << 1) | 1 = 35 */

void arch_poweroff(bool success)
{
	arch_irq_disable();
	outb(DEBUG_EXIT_PORT, success ? DEBUG_EXIT_PASS : DEBUG_EXIT_FAIL);
	/* Still here: no isa-debug-exit device (real hardware, or QEMU without it). */
	printk("poweroff: no isa-debug-exit device at port 0x%x; halting instead\n",
	       DEBUG_EXIT_PORT);
	arch_halt();
}

void arch_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}
