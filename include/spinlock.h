/*
 * spinlock.h - busy-waiting locks (kernel/spinlock.c).
 *
 * A spinlock is held for a few instructions and never across a sleep. The
 * _irqsave form also disables interrupts on this CPU, so the lock can be
 * shared with interrupt handlers. Each lock has a name for messages.
 */
#ifndef SPINLOCK_H
#define SPINLOCK_H

#include <arch.h>

struct spinlock {
	volatile uint32_t locked;
	int owner_cpu;		/* CPU holding it, -1 when free (for messages) */
	const char *name;
};

#define SPINLOCK_INIT(n) { .locked = 0, .owner_cpu = -1, .name = (n) }

void spin_init(struct spinlock *l, const char *name);
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
bool spin_trylock(struct spinlock *l);
unsigned long spin_lock_irqsave(struct spinlock *l);
void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags);
bool spin_held(const struct spinlock *l);

/* Without the preemption count and the held-lock record: for the scheduler's
 * run queues only, always with interrupts off. Inline: they are on the path
 * of every context switch. */

/* The raw forms record no owner and check nothing (each check costs
 * instructions on both sides of every switch), so they cannot diagnose a
 * recursive lock or an unlock of a free one; the scheduler, their main
 * user, is written not to do either. */
static inline bool spin_trylock_raw(struct spinlock *l)
{
	return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_lock_raw(struct spinlock *l)
{
	while (!spin_trylock_raw(l)) {
		while (l->locked)
			arch_cpu_relax();
	}
}

static inline void spin_unlock_raw(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
