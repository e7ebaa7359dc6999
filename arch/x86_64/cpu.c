/*
 * arch/x86_64/cpu.c - per-CPU descriptor tables: GDT, TSS and IST stacks.
 *
 * Every CPU has its own GDT (because the TSS descriptor is per CPU) and its
 * own TSS, whose Interrupt Stack Table gives three traps a known-good stack
 * of their own: a double fault (so a kernel stack overflow can still be
 * reported), NMI and machine check, and whose RSP0 is the stack an
 * interrupt from ring 3 lands on (the running thread's kernel stack,
 * arch_set_kernel_stack). Its I/O permission bitmap (arch/tss.h) is
 * inside the TSS limit, all ones and off at boot: no port is open to
 * ring 3 until a process that holds some runs here (iobitmap.c switches
 * it). RFLAGS.IOPL is 0 for every user thread (user.c), so the bitmap is
 * the only way a port opens. Segmentation is otherwise flat; the GS base
 * points at the CPU's struct cpu (percpu.h).
 *
 * The GDT's order is SYSCALL/SYSRET's (SDM vol. 2, SYSRET): STAR[47:32] is
 * the kernel code selector (SS = it + 8), STAR[63:48] + 8 the user data and
 * + 16 the 64-bit user code selector, so the four are consecutive:
 *
 *     0x08 kernel code   0x10 kernel data   0x18 user data   0x20 user code
 *     0x28 TSS (16 bytes)
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/trap.h>
#include <arch/tss.h>
#include <percpu.h>
#include <printk.h>
#include <string.h>

#define GDT_TSS   0x28		/* a 16-byte system descriptor: slots 5 and 6 */
#define GDT_ENTRIES 7

/* Segment descriptor bits (SDM vol. 3, 3.4.5). */
#define SEG_KCODE64 0x00AF9A000000FFFFULL	/* present, ring 0, code, L=1 */
#define SEG_KDATA   0x00CF92000000FFFFULL	/* present, ring 0, data, writable */
#define SEG_UDATA   0x00CFF2000000FFFFULL	/* present, ring 3, data, writable */
#define SEG_UCODE64 0x00AFFA000000FFFFULL	/* present, ring 3, code, L=1 */
#define SEG_TSS_AVAIL 0x89			/* present, 64-bit TSS (available) */

#define IST_STACK_SIZE 8192

struct cpu cpus[MAX_CPUS];
static uint64_t gdt[MAX_CPUS][GDT_ENTRIES] __aligned(16);
static struct arch_tss tss[MAX_CPUS] __aligned(64);	/* 8 KiB each: the bitmap */
_Static_assert(offsetof(struct arch_tss, rsp) == ARCH_TSS_RSP0, "arch_set_kernel_stack's RSP0");
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
	struct arch_tss *t = &tss[id];
	memset(t, 0, sizeof(*t));
	cpus[id].arch.tss = t;
	for (int slot = 1; slot <= 3; slot++) {
		/* the frame goes below the top 16 bytes, whose first word names
		 * the CPU (trap_dispatch's GS for these vectors) */
		uint64_t top = arch_ist_top(id, slot) - IST_CPU_SLOT;
		*(struct cpu **)top = &cpus[id];
		t->ist[slot - 1] = top;
	}
	iobitmap_init(t);		/* every port faults from ring 3 */

	uint64_t base = (uint64_t)t, limit = TSS_LIMIT;	/* the bitmap and its end byte */
	uint64_t *g = gdt[id];
	g[0] = 0;
	g[GDT_KCODE / 8] = SEG_KCODE64;
	g[GDT_KDATA / 8] = SEG_KDATA;
	g[GDT_UDATA / 8] = SEG_UDATA;
	g[GDT_UCODE / 8] = SEG_UCODE64;
	g[GDT_TSS / 8] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) |
			 ((uint64_t)SEG_TSS_AVAIL << 40) | (((limit >> 16) & 0xF) << 48) |
			 (((base >> 24) & 0xFF) << 56);
	g[GDT_TSS / 8 + 1] = base >> 32;

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
