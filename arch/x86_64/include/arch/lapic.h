/*
 * arch/lapic.h - the local APIC (xAPIC over MMIO) and its timer.
 */
#ifndef ARCH_LAPIC_H
#define ARCH_LAPIC_H

#include <kernel.h>

#define LAPIC_DEFAULT_BASE 0xFEE00000UL

void lapic_init_this_cpu(void);
void lapic_eoi(void);
uint32_t lapic_id(void);
/* Starts the periodic timer on this CPU at `hz` interrupts a second. */
void lapic_timer_start(uint32_t hz);
/* Timer counts per millisecond, measured against the PIT at boot. */
extern uint64_t lapic_ticks_per_ms;

#endif
