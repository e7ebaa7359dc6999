/*
 * arch/ioapic.h - the I/O APIC (arch/x86_64/ioapic.c).
 */
#ifndef ARCH_IOAPIC_H
#define ARCH_IOAPIC_H

#include <kernel.h>

/* Masks every line; base 0 keeps the default 0xFEC00000. */
void ioapic_init(uint64_t base, uint32_t gsi_base);
/* Sends global interrupt `gsi` to `vector` on the CPU with that APIC ID. */
void ioapic_route(uint32_t gsi, int vector, uint32_t dest_apic_id, bool level, bool active_low);

#endif
