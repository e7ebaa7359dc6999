/*
 * arch/x86_64/ioapic.c - the I/O APIC: routes device interrupts to CPUs.
 *
 * Only what the kernel uses: one redirection entry per ISA line it wants
 * (the UART's), sent to the boot CPU, edge-triggered, active high, unless
 * the firmware's ACPI tables say the line is remapped (an interrupt source
 * override; QEMU remaps ISA IRQ 0 to GSI 2, for example). The legacy PICs
 * are masked in lapic.c, so the I/O APIC is the only path for them.
 */
#include <arch.h>
#include <arch/ioapic.h>
#include <arch/lapic.h>
#include <printk.h>

#define IOAPIC_DEFAULT_BASE 0xFEC00000UL
#define IOREGSEL 0x00
#define IOWIN    0x10
#define IOAPIC_VER 0x01
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define RED_MASKED       (1u << 16)
#define RED_LEVEL        (1u << 15)
#define RED_ACTIVE_LOW   (1u << 13)

static volatile uint32_t *ioapic = (volatile uint32_t *)IOAPIC_DEFAULT_BASE;
static uint32_t gsi_base;

static uint32_t ioapic_read(uint32_t reg)
{
	ioapic[IOREGSEL / 4] = reg;
	return ioapic[IOWIN / 4];
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	ioapic[IOREGSEL / 4] = reg;
	ioapic[IOWIN / 4] = v;
}

void ioapic_init(uint64_t base, uint32_t gsi)
{
	if (base)
		ioapic = (volatile uint32_t *)base;
	gsi_base = gsi;
	int n = (int)((ioapic_read(IOAPIC_VER) >> 16) & 0xFF) + 1;
	for (int i = 0; i < n; i++)
		ioapic_write(IOAPIC_REDTBL(i), RED_MASKED);
}

void ioapic_route(uint32_t gsi, int vector, uint32_t dest_apic_id, bool level, bool active_low)
{
	uint32_t pin = gsi - gsi_base;
	uint32_t lo = (uint32_t)vector | (level ? RED_LEVEL : 0) | (active_low ? RED_ACTIVE_LOW : 0);
	ioapic_write(IOAPIC_REDTBL(pin) + 1, dest_apic_id << 24);
	ioapic_write(IOAPIC_REDTBL(pin), lo);
}
