/*
 * kernel/timer.c - the periodic tick and clock_ns().
 *
 * The architecture calls timer_tick() TIMER_HZ times a second on each CPU,
 * with interrupts off. It drives the scheduler (quanta, sleep timeouts)
 * on every CPU and the test watchdog on the boot CPU.
 */
#include <timer.h>
#include <arch.h>
#include <ktest.h>
#include <percpu.h>
#include <sched.h>

volatile uint64_t timer_ticks;

uint64_t clock_ns(void)
{
	return arch_clock_ns();
}

void timer_tick(void)
{
	/* Every CPU ticks for the scheduler; the clock's tick count and the
	 * test watchdog belong to the boot CPU alone. */
	if (cpu_id() == 0) {
		timer_ticks++;
		ktest_watchdog_tick();
	}
	sched_tick();
}
