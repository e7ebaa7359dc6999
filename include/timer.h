/*
 * timer.h - time: the tick and the monotonic clock.
 */
#ifndef TIMER_H
#define TIMER_H

#include <kernel.h>

#define TIMER_HZ 1000

/* Nanoseconds since boot; monotonic on every CPU. */
uint64_t clock_ns(void);
/* Ticks since boot (the boot CPU's count). */
extern volatile uint64_t timer_ticks;
void timer_tick(void);

#endif
