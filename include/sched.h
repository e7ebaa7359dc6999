/*
 * sched.h - the scheduler's internal interface (kernel/sched.c), for the
 * thread code, the synchronisation primitives and the timer.
 *
 * Blocking protocol, used by every primitive that sleeps:
 *
 *   sched_assert_can_sleep("mutex_lock");     // before taking any spinlock
 *   flags = spin_lock_irqsave(&p->lock);      // interrupts off from here
 *   queue yourself where a waker will find you;
 *   sched_prepare_sleep();                    // state RUNNING -> SLEEPING
 *   spin_unlock(&p->lock);                    // interrupts stay off
 *   schedule();                               // returns once woken
 *   arch_irq_restore(flags);
 *
 * A wakeup between the unlock and schedule() is not lost: it has already
 * made the state RUNNABLE and queued the thread, and schedule() then just
 * returns (or runs it again at once). Interrupts stay off from
 * sched_prepare_sleep to the switch, and after the unlock the sleeper takes
 * no lock: another CPU may already have picked it and be waiting, holding
 * its run-queue lock, for it to leave this CPU (docs/sched.md, "The wakeup
 * protocol").
 */
#ifndef SCHED_H
#define SCHED_H

#include <thread.h>

void sched_init(void);				/* boot CPU, before threads */
void sched_init_ap(int cpu);			/* each AP, on its boot stack */
__noreturn void sched_idle_loop(void);		/* becomes this CPU's idle thread */

/* Picks the next thread and switches to it; returns when the caller runs again. */
void schedule(void);
/* Panics, naming `caller` and the lock, if the current thread may not sleep. */
void sched_assert_can_sleep(const char *caller);
/* RUNNING -> SLEEPING; panics if interrupts are on or the caller is not running. */
void sched_prepare_sleep(void);
/* SLEEPING -> RUNNABLE and queued; false if t was not asleep. Any context. */
bool sched_wakeup(struct thread *t);
/* The first half of a wakeup: SLEEPING -> RUNNABLE, false if t was not
 * asleep. A true return makes the caller the one who must get t running:
 * by sched_sleep_and_run, which no one else can do meanwhile. */
bool sched_claim(struct thread *t);
/* Whether the caller may hand this CPU to next directly: next may run
 * here, nothing of higher priority waits here, and no reschedule is asked
 * for. Interrupts off. Ask before sched_prepare_sleep: a no means wake
 * next the usual way (sched_wakeup) while the caller is still awake. */
bool sched_may_hand_off(const struct thread *next);
/* A direct hand-off: the caller, asleep (sched_prepare_sleep, interrupts
 * off, no lock held), gives this CPU to next, which it has claimed after
 * sched_may_hand_off said yes: next runs here at once with the rest of
 * the caller's quantum, or, if the answer has changed since, joins this
 * CPU's run queue (never another's) and the CPU goes to the best thread.
 * Returns when the caller runs again. */
/* The IPC fast path's: sched_may_hand_off(next), sched_claim(next) and
 * sched_prepare_sleep() in one; false (nothing changed) if any would fail. */
bool sched_handoff_prepare(struct thread *next);
void sched_sleep_and_run(struct thread *next);
/* Whether t may run on CPU cpu: its binding if it has one, else its mask. */
static inline bool sched_may_run_on(const struct thread *t, int cpu)
{
	if (t->bound_cpu >= 0)
		return cpu == t->bound_cpu;
	return (t->cpus_allowed >> cpu) & 1;
}
/* Makes a new thread runnable on a CPU chosen for balance. */
void sched_add_new(struct thread *t);
/* Called from the timer tick on every CPU, interrupts off. */
void sched_tick(void);
/* Called at the end of an interrupt: switches if a reschedule is pending. */
void sched_irq_exit(void);

/* Second half of a switch, in the thread switched to (thread_start too). */
void sched_finish_switch(struct thread *prev);
void sched_set_priority(struct thread *t, int prio);
/* For tests: checks every run queue under its lock (each FIFO's bit, the
 * count, each queued thread's FIFO, CPU and state); prints what is wrong
 * and returns how many things were. */
int sched_check_runqueues(void);
/* thread.c: adds t to the list of all threads; an idle thread for a CPU. */
void thread_register(struct thread *t);
struct thread *thread_create_idle(int cpu);

/* Quantum in ticks (from sched.quantum_us). */
extern uint64_t sched_quantum_ticks;
extern uint64_t sched_quantum_us;
/* Changes the quantum at run time (tests); at least one tick. */
void sched_set_quantum_us(uint64_t us);
/* Sleep timeouts (kernel/sched.c): arms/cancels a wakeup at an absolute time.
 * Arm after sched_prepare_sleep, interrupts off; cancel after the sleep. */
void sched_timeout_arm(struct thread *t, uint64_t wake_at_ns);
void sched_timeout_cancel(struct thread *t);
void sched_timeouts_expire(uint64_t now_ns);

#endif
