/*
 * arch/smp.h - x86-64 side of SMP bring-up: the AP trampoline's layout,
 * the parameter block the boot CPU fills for each AP, and the local APIC's
 * interrupt command register (ICR).
 *
 * boot/ap_trampoline.asm must agree with every constant and offset here. It
 * cannot include a C header, so it repeats them, and ends its code with a
 * layout record (struct ap_trampoline_layout) that smp_init compares with
 * these values before starting any AP: a mismatch stops the bring-up with a
 * message instead of sending APs into the wrong code.
 */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <kernel.h>

/*
 * The two low pages the APs start in. A SIPI can only start a CPU in real
 * mode at a page below 1 MiB (vector v starts it at CS:IP = v*256:0, i.e.
 * physical v * 4 KiB), and the physical page allocator never hands out the
 * first MiB. Code and data get a page each, as in the kernel image: the
 * code page is mapped read-only and executable while APs start, the data
 * page read-write and no-execute. Both lie below 64 KiB, so real-mode code
 * reaches them with DS = 0. (The page above the code is where QEMU's
 * Multiboot loader leaves its information block; it is dead by now, but
 * staying off it keeps it readable in a debugger.)
 */
#define AP_TRAMPOLINE_BASE   0x8000UL	/* code; the SIPI vector is BASE >> 12 */
#define AP_TRAMPOLINE_PARAMS 0x7000UL	/* struct ap_boot_params */
#define AP_SIPI_VECTOR       (AP_TRAMPOLINE_BASE >> PAGE_SHIFT)

/*
 * AP stacks: the page allocator hands out power-of-two blocks aligned to
 * their size, so a guard page and a 16 KiB stack take a block of 8 pages.
 * The lowest page is the guard (unmapped, registered with paging so a fault
 * there reads "stack overflow"); the stack gets the 7 pages above it
 * (28 KiB) rather than leaving 3 unused. The block is the stack pointer
 * rounded down to AP_STACK_BLOCK.
 */
#define AP_STACK_ORDER 3
#define AP_STACK_BLOCK (PAGE_SIZE << AP_STACK_ORDER)

/* Progress an AP records in ap_boot_params.stage, for the failure report. */
enum ap_stage {
	AP_STAGE_NONE = 0,	/* no sign of life */
	AP_STAGE_REAL = 1,	/* running the trampoline, real mode */
	AP_STAGE_PROTECTED = 2,	/* 32-bit protected mode */
	AP_STAGE_LONG = 3,	/* 64-bit mode, on its own stack */
	AP_STAGE_C = 4,		/* in ap_main */
};

/*
 * Filled by the boot CPU before it starts each AP; read by the trampoline.
 * One AP starts at a time, so one block serves all. Offsets are fixed (the
 * assembly uses them as numbers).
 */
struct ap_boot_params {
	uint64_t cr3;		/*  0: the kernel's page tables (below 4 GiB) */
	uint64_t stack_top;	/*  8: the AP's stack, 16-byte aligned */
	uint64_t entry;		/* 16: void ap_main(int id), 64-bit C */
	uint32_t cpu_id;	/* 24: the id it gets (argument of ap_main) */
	uint32_t apic_id;	/* 28: the APIC ID this block is meant for */
	uint32_t efer_nx;	/* 32: 1: set EFER.NXE (the tables use NX) */
	volatile uint32_t stage;	/* 36: enum ap_stage, written by the AP */
};

/* What the trampoline says about itself (its last bytes, see above). */
struct ap_trampoline_layout {
	uint64_t base, params;
	uint64_t off_cr3, off_stack_top, off_entry, off_cpu_id, off_apic_id, off_efer_nx,
		off_stage;
};

/* The trampoline's bytes in the kernel image (boot/ap_trampoline.asm),
 * copied to AP_TRAMPOLINE_BASE. Never executed where they are linked. */
extern const uint8_t ap_trampoline_start[], ap_trampoline_end[];
extern const struct ap_trampoline_layout ap_trampoline_layout;

/* Interrupt command register (Intel SDM vol. 3, 11.6.1). Writing the low
 * half sends the IPI, so the destination (high half) is written first. */
#define LAPIC_ICR_LO        0x300
#define LAPIC_ICR_HI        0x310
#define ICR_DEST_SHIFT      24		/* in ICR_HI: the destination APIC ID */
#define ICR_FIXED           (0u << 8)	/* delivery mode: the vector in bits 0-7 */
#define ICR_NMI             (4u << 8)	/* delivery mode: NMI (vector ignored) */
#define ICR_INIT            (5u << 8)	/* delivery mode: INIT (reset to wait-for-SIPI) */
#define ICR_STARTUP         (6u << 8)	/* delivery mode: start-up; bits 0-7 = page */
#define ICR_DELIVS          (1u << 12)	/* delivery status: 1 = not yet accepted */
#define ICR_ASSERT          (1u << 14)	/* level: assert (always, except INIT de-assert) */
#define ICR_LEVEL           (1u << 15)	/* trigger mode: level (INIT) rather than edge */
#define ICR_DEST_SELF       (1u << 18)	/* shorthand: only this CPU */
#define ICR_DEST_ALL_BUT_SELF (3u << 18)

/* The highest xAPIC ID; 0xFF in physical destination mode means "all". */
#define APIC_ID_BROADCAST   0xFF

/*
 * Tries to start the AP whose local APIC ID is apic_id as CPU number
 * cpu_count(): INIT, SIPI, SIPI, then waits for it to come online. Returns
 * true if it did; false (reported, the AP parked with an INIT) otherwise.
 * Boot CPU, interrupts on or off, not concurrently with itself. smp_init
 * uses it for every MADT processor; a test uses it on an absent one.
 */
bool smp_start_ap(uint32_t apic_id);
/* For tests: how long smp_start_ap waits for an AP to come online (default
 * 1000 ms); returns the old value. */
uint64_t smp_set_ap_online_timeout_ms(uint64_t ms);

#endif
