/*
 * sync.h - sleeping synchronisation: wait queues, mutexes, condition
 * variables, semaphores (kernel/sync.c). Spinlocks are in spinlock.h.
 *
 * Everything here may sleep, so none of it may be used with preemption
 * disabled or a spinlock held (that panics, naming the call and the lock),
 * nor from an interrupt handler; the wake-up calls (waitq_wake_*,
 * cv_signal/broadcast, sem_post) may be used anywhere.
 *
 * Timeouts are in nanoseconds; 0 means wait for ever. The timed calls
 * return true if woken, false on timeout.
 */
#ifndef SYNC_H
#define SYNC_H

#include <kernel.h>
#include <list.h>
#include <spinlock.h>

struct thread;

struct waitq {
	struct spinlock lock;
	struct list waiters;		/* struct waiter, oldest first */
};

struct mutex {
	struct waitq wq;
	struct thread *volatile owner;
	const char *name;
};

struct condvar {
	struct waitq wq;
};

struct semaphore {
	struct waitq wq;
	volatile int64_t count;
};

#define WAITQ_INIT(wq, n) { SPINLOCK_INIT(n), LIST_INIT((wq).waiters) }

void waitq_init(struct waitq *wq, const char *name);
/* With wq->lock held through spin_lock_irqsave(&wq->lock) = *flags: sleeps
 * until woken or timeout_ns passes; returns with the lock held again. */
bool waitq_wait_locked(struct waitq *wq, unsigned long *flags, uint64_t timeout_ns,
		       const char *caller);
/* With wq->lock held: wakes the oldest waiter / all; returns how many. */
int waitq_wake_one_locked(struct waitq *wq);
int waitq_wake_all_locked(struct waitq *wq);
int waitq_wake_one(struct waitq *wq);
int waitq_wake_all(struct waitq *wq);

void mutex_init(struct mutex *m, const char *name);
void mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
void mutex_unlock(struct mutex *m);
bool mutex_held(const struct mutex *m);	/* by the calling thread */

void cv_init(struct condvar *cv, const char *name);
/* Releases m, sleeps, re-takes m. */
void cv_wait(struct condvar *cv, struct mutex *m);
bool cv_timedwait(struct condvar *cv, struct mutex *m, uint64_t timeout_ns);
void cv_signal(struct condvar *cv);
void cv_broadcast(struct condvar *cv);

void sem_init(struct semaphore *s, int64_t count, const char *name);
void sem_wait(struct semaphore *s);
bool sem_timedwait(struct semaphore *s, uint64_t timeout_ns);
bool sem_trywait(struct semaphore *s);
void sem_post(struct semaphore *s);

#endif
