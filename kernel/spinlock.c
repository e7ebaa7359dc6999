/*
 * kernel/spinlock.c - test-and-test-and-set spinlocks.
 *
 * Invariant: a lock is free (locked == 0) or held by exactly one CPU, whose
 * number is in owner_cpu. Taking a lock this CPU already holds would spin
 * for ever, so it panics instead, naming the lock.
 */
#include <spinlock.h>
#include <arch.h>
#include <printk.h>
#include <percpu.h>

void spin_init(struct spinlock *l, const char *name)
{
	l->locked = 0;
	l->owner_cpu = -1;
	l->name = name;
}

bool spin_trylock(struct spinlock *l)
{
	if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		return false;
	l->owner_cpu = cpu_id();
	return true;
}

void spin_lock(struct spinlock *l)
{
	if (l->locked && l->owner_cpu == cpu_id())
		panic("spin_lock: lock '%s' already held by this CPU (%d)", l->name, cpu_id());
	while (!spin_trylock(l)) {
		while (l->locked)
			arch_cpu_relax();
	}
}

void spin_unlock(struct spinlock *l)
{
	if (!l->locked)
		panic("spin_unlock: lock '%s' is not held", l->name);
	l->owner_cpu = -1;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

unsigned long spin_lock_irqsave(struct spinlock *l)
{
	unsigned long flags = arch_irq_save();
	spin_lock(l);
	return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags)
{
	spin_unlock(l);
	arch_irq_restore(flags);
}

bool spin_held(const struct spinlock *l)
{
	return l->locked && l->owner_cpu == cpu_id();
}
