/*
 * acpi.h - what the firmware's ACPI tables say about the machine
 * (kernel/acpi.c).
 *
 * The kernel reads ACPI once, at boot, for the facts it cannot probe
 * safely: which processors exist (their local APIC IDs), where the I/O
 * APICs are and which interrupt lines they serve, and how the 16 legacy ISA
 * IRQs are wired to those lines. Everything is copied into `acpi` below, so
 * nobody needs the tables themselves afterwards. Nothing here touches the
 * hardware the tables describe; smp.c starts the processors, the I/O APIC
 * code (later) programs the interrupt routing.
 *
 * Specification: ACPI 6.5, chapter 5.2 (RSDP, RSDT/XSDT, MADT).
 */
#ifndef ACPI_H
#define ACPI_H

#include <kernel.h>

#define ACPI_MAX_CPUS     256	/* xAPIC IDs are 8 bits */
#define ACPI_MAX_IOAPICS  8
#define ACPI_ISA_IRQS     16

/* How a legacy ISA IRQ reaches an I/O APIC input (a "GSI", global system
 * interrupt). Without an override, ISA IRQ n is GSI n, active high, edge. */
struct acpi_isa_route {
	uint32_t gsi;
	bool active_low;	/* polarity: false = active high */
	bool level;		/* trigger mode: false = edge */
	bool overridden;	/* the MADT had an override (type 2) for this IRQ */
};

struct acpi_ioapic {
	uint8_t id;
	uint64_t addr;		/* physical address of its MMIO window */
	uint32_t gsi_base;	/* first GSI it serves */
};

struct acpi_info {
	bool found;		/* an RSDP with a valid checksum was found */
	bool have_madt;		/* ... and it led to a valid MADT */
	uint64_t rsdp_addr;
	int revision;		/* RSDP revision: 0 = ACPI 1.0 (RSDT), >= 2 (XSDT) */
	char oem_id[7];		/* NUL-terminated */

	/* From the MADT (signature "APIC"). */
	uint64_t lapic_addr;	/* after a type 5 override, if any */
	bool pcat_compat;	/* the machine also has the two 8259 PICs */
	int ncpus;		/* usable processors: enabled or online-capable */
	uint32_t cpu_apic_id[ACPI_MAX_CPUS];	/* their local APIC IDs, MADT order */
	int ncpus_x2apic;	/* x2APIC-only entries (type 9): not usable here */
	int nioapics;
	struct acpi_ioapic ioapic[ACPI_MAX_IOAPICS];
	int noverrides;		/* interrupt source overrides seen (type 2) */
	struct acpi_isa_route isa[ACPI_ISA_IRQS];	/* indexed by ISA IRQ */
};

/* Filled in by acpi_init; all zero (found = false) before or without ACPI. */
extern struct acpi_info acpi;

/*
 * Finds the RSDP, walks the RSDT or XSDT and parses the MADT into `acpi`,
 * printing one summary line (or why there is no ACPI). Runs once; later
 * calls return at once. Needs the page tables (it maps the firmware pages
 * it reads), so it runs after paging_init. Boot CPU only.
 */
void acpi_init(void);

/*
 * Finds a table by its 4-character signature ("APIC", "HPET", ...) through
 * the RSDT/XSDT; returns its header (checksum verified) or NULL. The table
 * stays mapped read-only. After acpi_init.
 */
const void *acpi_find_table(const char *sig);

#endif
