/*
 * kernel/spinlock.c - test-and-test-and-set spinlocks.
 *
 * Invariant: a lock is free (locked == 0) or held by exactly one CPU, whose
 * number is in owner_cpu. Taking a lock this CPU already holds would spin
 * for ever, so it panics instead, naming the lock.
 *
 * Holding a spinlock disables preemption (the holder must not be switched
 * out while others spin on it) and forbids sleeping: the thread records the
 * names of the locks it holds, so the panic for sleeping with one held can
 * name it. The scheduler's own run-queue locks, which it holds across the
 * switch itself, use the _raw forms that skip that bookkeeping.
 */
#include <spinlock.h>
#include <arch.h>
#include <printk.h>
#include <percpu.h>
#include <thread.h>

void spin_init(struct spinlock *l, const char *name)
{
	l->locked = 0;
	l->owner_cpu = -1;
	l->name = name;
}

static void check_held(struct spinlock *l)
{
	if (!l->locked)
		panic("spin_unlock: lock '%s' is not held", l->name);
}

static void note_held(struct spinlock *l)
{
	struct thread *t = curthread;
	if (!t)
		return;
	if (t->nlocks_held < THREAD_LOCKS_TRACKED)
		t->locks_held[t->nlocks_held] = l->name;
	t->nlocks_held++;
}

static void note_released(void)
{
	struct thread *t = curthread;
	if (t && t->nlocks_held > 0)
		t->nlocks_held--;
}

bool spin_trylock(struct spinlock *l)
{
	kpreempt_disable();
	if (!spin_trylock_raw(l)) {
		kpreempt_enable();
		return false;
	}
	l->owner_cpu = cpu_id();
	note_held(l);
	return true;
}

void spin_lock(struct spinlock *l)
{
	kpreempt_disable();
	if (l->locked && l->owner_cpu == cpu_id())
		panic("spin_lock: lock '%s' already held by this CPU (%d)", l->name, cpu_id());
	spin_lock_raw(l);
	l->owner_cpu = cpu_id();
	note_held(l);
}

void spin_unlock(struct spinlock *l)
{
	check_held(l);
	l->owner_cpu = -1;
	spin_unlock_raw(l);
	note_released();
	kpreempt_enable();
}

unsigned long spin_lock_irqsave(struct spinlock *l)
{
	unsigned long flags = arch_irq_save();
	spin_lock(l);
	return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, unsigned long flags)
{
	/* interrupts back on before the preemption count drops, so a
	 * reschedule asked for meanwhile happens here, not at the next tick */
	check_held(l);
	l->owner_cpu = -1;
	spin_unlock_raw(l);
	note_released();
	arch_irq_restore(flags);
	kpreempt_enable();
}

bool spin_held(const struct spinlock *l)
{
	return l->locked && l->owner_cpu == cpu_id();
}
