/*
 * kernel/timer.c - the periodic tick and clock_ns().
 *
 * The architecture calls timer_tick() TIMER_HZ times a second on each CPU,
 * with interrupts off. For now the tick drives the test watchdog; the
 * scheduler's quantum hangs off it too.
 */
#include <timer.h>
#include <arch.h>
#include <ktest.h>
#include <percpu.h>

volatile uint64_t timer_ticks;

uint64_t clock_ns(void)
{
	return arch_clock_ns();
}

void timer_tick(void)
{
	/* Every CPU ticks; the clock's tick count and the test watchdog
	 * belong to the boot CPU alone. */
	if (cpu_id() != 0)
		return;
	timer_ticks++;
	ktest_watchdog_tick();
}
