/*
 * kernel/sync.c - wait queues and the sleeping locks built on them.
 *
 * A wait queue is a spinlock and a FIFO of waiters. A waiter lives on the
 * sleeping thread's stack: { thread, woken }. Sleeping follows the protocol
 * of sched.h: queue yourself and mark yourself SLEEPING under the queue's
 * lock, drop the lock, schedule(). A wakeup under the same lock unlinks the
 * oldest waiter, sets its `woken` and makes it runnable; since the sleeper
 * was queued before it dropped the lock, no wakeup can fall in between
 * (no lost wakeups). A sleeper that wakes by timeout unlinks itself.
 *
 * Mutexes hand over to the oldest waiter in FIFO order only loosely: a
 * woken waiter retakes the check in a loop, so a thread that arrives
 * first may barge in. Condition variables are Mesa-style: wait in a loop.
 */
#include <sync.h>
#include <arch.h>
#include <printk.h>
#include <sched.h>
#include <thread.h>
#include <timer.h>

struct waiter {
	struct list link;
	struct thread *thread;
	volatile bool woken;
};

void waitq_init(struct waitq *wq, const char *name)
{
	spin_init(&wq->lock, name);
	list_init(&wq->waiters);
}

bool waitq_wait_locked(struct waitq *wq, unsigned long *flags, uint64_t timeout_ns,
		       const char *caller)
{
	struct thread *me = curthread;
	struct waiter w = { .thread = me, .woken = false };
	if (me->preempt_count != 1 || me->nlocks_held != 1)	/* just wq->lock */
		sched_assert_can_sleep(caller);
	list_add_tail(&wq->waiters, &w.link);
	sched_prepare_sleep();
	if (timeout_ns)
		sched_timeout_arm(me, clock_ns() + timeout_ns);
	/* Interrupts stay off until schedule(), so the unlock cannot
	 * reschedule by itself. */
	spin_unlock(&wq->lock);
	schedule();
	arch_irq_restore(*flags);
	if (timeout_ns)
		sched_timeout_cancel(me);
	*flags = spin_lock_irqsave(&wq->lock);
	if (!w.woken) {
		list_remove(&w.link);	/* timed out: nobody unlinked us */
		return false;
	}
	return true;
}

int waitq_wake_one_locked(struct waitq *wq)
{
	if (list_empty(&wq->waiters))
		return 0;
	struct waiter *w = list_entry(wq->waiters.next, struct waiter, link);
	list_remove(&w->link);
	w->woken = true;
	sched_wakeup(w->thread);
	return 1;
}

int waitq_wake_all_locked(struct waitq *wq)
{
	int n = 0;
	while (waitq_wake_one_locked(wq))
		n++;
	return n;
}

int waitq_wake_one(struct waitq *wq)
{
	unsigned long flags = spin_lock_irqsave(&wq->lock);
	int n = waitq_wake_one_locked(wq);
	spin_unlock_irqrestore(&wq->lock, flags);
	return n;
}

int waitq_wake_all(struct waitq *wq)
{
	unsigned long flags = spin_lock_irqsave(&wq->lock);
	int n = waitq_wake_all_locked(wq);
	spin_unlock_irqrestore(&wq->lock, flags);
	return n;
}

/* ---- mutexes ---- */

void mutex_init(struct mutex *m, const char *name)
{
	waitq_init(&m->wq, name);
	m->owner = NULL;
	m->name = name;
}

void mutex_lock(struct mutex *m)
{
	struct thread *me = curthread;
	sched_assert_can_sleep("mutex_lock");
	unsigned long flags = spin_lock_irqsave(&m->wq.lock);
	while (m->owner) {
		if (m->owner == me)
			panic("mutex_lock: thread %s already holds mutex '%s'", me->name, m->name);
		waitq_wait_locked(&m->wq, &flags, 0, "mutex_lock");
	}
	m->owner = me;
	spin_unlock_irqrestore(&m->wq.lock, flags);
}

bool mutex_trylock(struct mutex *m)
{
	unsigned long flags = spin_lock_irqsave(&m->wq.lock);
	bool got = !m->owner;
	if (got)
		m->owner = curthread;
	spin_unlock_irqrestore(&m->wq.lock, flags);
	return got;
}

void mutex_unlock(struct mutex *m)
{
	struct thread *me = curthread;
	unsigned long flags = spin_lock_irqsave(&m->wq.lock);
	if (m->owner != me)
		panic("mutex_unlock: mutex '%s' is held by %s, not by %s", m->name,
		      m->owner ? m->owner->name : "nobody", me->name);
	m->owner = NULL;
	waitq_wake_one_locked(&m->wq);
	spin_unlock_irqrestore(&m->wq.lock, flags);
}

bool mutex_held(const struct mutex *m)
{
	return m->owner == curthread;
}

/* ---- condition variables ---- */

void cv_init(struct condvar *cv, const char *name)
{
	waitq_init(&cv->wq, name);
}

bool cv_timedwait(struct condvar *cv, struct mutex *m, uint64_t timeout_ns)
{
	sched_assert_can_sleep("cv_wait");
	if (!mutex_held(m))
		panic("cv_wait: mutex '%s' is not held by %s", m->name, curthread->name);
	/* Queue on the cv before the mutex goes, so a signal sent right after
	 * the unlock finds us. */
	unsigned long flags = spin_lock_irqsave(&cv->wq.lock);
	mutex_unlock(m);
	bool woken = waitq_wait_locked(&cv->wq, &flags, timeout_ns, "cv_wait");
	spin_unlock_irqrestore(&cv->wq.lock, flags);
	mutex_lock(m);
	return woken;
}

void cv_wait(struct condvar *cv, struct mutex *m)
{
	cv_timedwait(cv, m, 0);
}

void cv_signal(struct condvar *cv)
{
	waitq_wake_one(&cv->wq);
}

void cv_broadcast(struct condvar *cv)
{
	waitq_wake_all(&cv->wq);
}

/* ---- semaphores ---- */

void sem_init(struct semaphore *s, int64_t count, const char *name)
{
	waitq_init(&s->wq, name);
	s->count = count;
}

bool sem_timedwait(struct semaphore *s, uint64_t timeout_ns)
{
	sched_assert_can_sleep("sem_wait");
	uint64_t deadline = timeout_ns ? clock_ns() + timeout_ns : 0;
	unsigned long flags = spin_lock_irqsave(&s->wq.lock);
	while (s->count <= 0) {
		uint64_t left = 0;
		if (deadline) {
			uint64_t now = clock_ns();
			if (now >= deadline) {
				spin_unlock_irqrestore(&s->wq.lock, flags);
				return false;
			}
			left = deadline - now;
		}
		waitq_wait_locked(&s->wq, &flags, left, "sem_wait");
	}
	s->count--;
	spin_unlock_irqrestore(&s->wq.lock, flags);
	return true;
}

void sem_wait(struct semaphore *s)
{
	sem_timedwait(s, 0);
}

bool sem_trywait(struct semaphore *s)
{
	unsigned long flags = spin_lock_irqsave(&s->wq.lock);
	bool got = s->count > 0;
	if (got)
		s->count--;
	spin_unlock_irqrestore(&s->wq.lock, flags);
	return got;
}

void sem_post(struct semaphore *s)
{
	unsigned long flags = spin_lock_irqsave(&s->wq.lock);
	s->count++;
	waitq_wake_one_locked(&s->wq);
	spin_unlock_irqrestore(&s->wq.lock, flags);
}
