/*
 * kernel/sched.c - a preemptive, per-CPU, priority round-robin scheduler.
 *
 * Design
 *   Each CPU has a run queue: one FIFO per priority (PRIO_LOW..PRIO_HIGH).
 *   schedule() runs the head of the highest non-empty FIFO, or the CPU's
 *   idle thread when all are empty. A running thread that is preempted or
 *   yields goes to the tail of its FIFO, so equal priorities share the CPU
 *   round-robin. Higher priorities always win (no aging: a spinning
 *   high-priority thread starves lower ones, which a test shows).
 *
 *   Preemption: the tick counts down the running thread's quantum
 *   (sched.quantum_us); at zero it asks for a reschedule, which happens on
 *   the way out of the interrupt, unless the thread has preemption disabled
 *   (kpreempt_disable, or a spinlock held): then at the outermost
 *   kpreempt_enable.
 *
 *   Placement: a new thread goes to the CPU with the fewest threads; a
 *   woken one goes back to its last CPU unless another is idle; an idle
 *   CPU steals a waiting thread that may run there from the busiest queue.
 *   A bound thread only ever runs on its CPU; an unbound one only on the
 *   CPUs of its mask (thread_set_cpus). A wakeup for another CPU sends it a
 *   reschedule IPI when it should switch now.
 *
 * Invariants
 *   - A thread is on at most one run queue, and only in state RUNNABLE.
 *   - state changes SLEEPING -> RUNNABLE only by compare-and-swap, so of a
 *     timeout and a wakeup racing for one sleeper exactly one queues it.
 *   - A thread runs only where sched_may_run_on allows, except between its
 *     own thread_bind/thread_set_cpus and the schedule() they call: they set
 *     `leaving`, schedule() then does not queue it locally, and
 *     finish_switch clears the flag and queues it on an allowed CPU (so the
 *     switch tests one byte, not the binding and the mask).
 *   - on_cpu is 1 from the moment a CPU picks a thread until the next
 *     thread on that CPU has finished switching away from it; no other CPU
 *     resumes the thread (nor frees it) before on_cpu is 0 again.
 *   - The run-queue lock is taken with interrupts off and held across the
 *     switch; the next thread releases it (finish_switch).
 *   - Lock order: any primitive's lock, then the timeout lock, then a run
 *     queue lock; never two run queue locks at once.
 *   - A sleeper keeps interrupts off from sched_prepare_sleep to its switch,
 *     and once a waker can find it, takes no lock but its own run queue's:
 *     a CPU that picked it spins on its on_cpu holding a run-queue lock,
 *     and must not wait for ever (docs/sched.md, "The wakeup protocol").
 *     The direct hand-off keeps to it: whether the partner may have this
 *     CPU is asked before the caller's sleep (sched_may_hand_off), and
 *     after it a refused partner joins only this CPU's queue.
 *   - A queued thread is on FIFO t->rq_prio of cpus[t->cpu]; t->prio may
 *     change meanwhile (sched_set_priority), rq_prio does not.
 *
 * The seam for context ops (docs/ctxop.md): the switch-out of prev runs
 * its save ops just before arch_switch, the switch-in of next runs its
 * restore ops in finish_switch; a thread without ops pays one test each.
 * Save ops run as prev (curthread is still prev, as in illumos's
 * savectx), with this_cpu()->switch_next naming the thread about to run:
 * the FPU op reads it to leave CR0.TS set for a thread without THREAD_FPU
 * (kernel/fpu.c). Restore ops run as next.
 */
#include <sched.h>
#include <arch.h>
#include <cmdline.h>
#include <ctxop.h>
#include <mm.h>
#include <printf.h>
#include <printk.h>
#include <smp.h>
#include <string.h>
#include <timer.h>
#include <trace.h>

uint64_t sched_quantum_us = 10000;
CMDLINE_UINT("sched.quantum_us", sched_quantum_us, 1000, 1000000,
	     "scheduler time slice in microseconds (the tick is 1 ms)");
uint64_t sched_quantum_ticks;

/* ---- run queues (lock held, interrupts off) ---- */

/* t goes on the FIFO of its priority as read now; rq_prio remembers which,
 * since sched_set_priority may change t->prio while t waits there. */
static void rq_enqueue(struct cpu *c, struct thread *t)
{
	int p = __atomic_load_n(&t->prio, __ATOMIC_ACQUIRE);
	t->state = TS_RUNNABLE;
	t->rq_prio = p;
	list_add_tail(&c->rq.queue[p], &t->rq_link);
	c->rq.nonempty |= 1u << p;
	c->rq.nr_queued++;
}

static void rq_remove(struct cpu *c, struct thread *t)
{
	list_remove(&t->rq_link);
	if (list_empty(&c->rq.queue[t->rq_prio]))
		c->rq.nonempty &= ~(1u << t->rq_prio);
	c->rq.nr_queued--;
}

/* Takes the head of the highest non-empty FIFO, or returns NULL. */
static struct thread *rq_pick(struct cpu *c)
{
	uint32_t mask = c->rq.nonempty;
	if (!mask)
		return NULL;
	int p = 31 - __builtin_clz(mask);
	struct thread *t = list_entry(c->rq.queue[p].next, struct thread, rq_link);
	rq_remove(c, t);
	return t;
}

/*
 * rq_enqueue(c, t) then rq_pick(c), for the thread that leaves the CPU and
 * stays runnable (a yield, a preemption). When t's FIFO already holds a
 * thread and no higher FIFO does, that is a rotation: its head runs next,
 * t takes the tail, and neither the mask nor the count changes. Otherwise
 * (t's FIFO empty, so t would run again; or a higher priority waits) the
 * two steps as they are.
 */
static struct thread *rq_requeue_pick(struct cpu *c, struct thread *t)
{
	int p = __atomic_load_n(&t->prio, __ATOMIC_ACQUIRE);
	if (c->rq.nonempty >> p != 1) {
		rq_enqueue(c, t);
		return rq_pick(c);
	}
	struct list *fifo = &c->rq.queue[p];
	struct list *n = fifo->next;
	t->state = TS_RUNNABLE;
	t->rq_prio = p;
	if (n->next == fifo) {
		/* next waits alone (two threads taking turns): t takes its
		 * place, which is both the head and the tail */
		t->rq_link.next = t->rq_link.prev = fifo;
		fifo->next = fifo->prev = &t->rq_link;
		n->next = n->prev = n;		/* on no queue, as list_remove leaves it */
	} else {
		list_remove(n);
		list_add_tail(fifo, &t->rq_link);
	}
	return list_entry(n, struct thread, rq_link);
}

/* Highest priority waiting on c, or -1. */
static int rq_top_prio(struct cpu *c)
{
	uint32_t mask = c->rq.nonempty;
	return mask ? 31 - __builtin_clz(mask) : -1;
}

/* Runnable load of c: waiting threads plus the running one unless idle. */
static int cpu_load(struct cpu *c)
{
	struct thread *t = c->thread;
	return c->rq.nr_queued + (t && !(t->flags & THREAD_IDLE) ? 1 : 0);
}

/* The least loaded online CPU t may run on; `prefer` wins ties if t may
 * run there. thread_set_cpus sees to it that there is one. */
static int least_loaded_cpu(struct thread *t, int prefer)
{
	int best = -1, best_load = 0;
	if (cpus[prefer].online && sched_may_run_on(t, prefer)) {
		best = prefer;
		best_load = cpu_load(&cpus[prefer]);
	}
	for (int i = 0; i < cpu_count(); i++) {
		if (!cpus[i].online || !sched_may_run_on(t, i))
			continue;
		int l = cpu_load(&cpus[i]);
		if (best < 0 || l < best_load) {
			best = i;
			best_load = l;
		}
	}
	return best;
}

/* Where t should run next. */
static int target_cpu(struct thread *t, bool is_new)
{
	if (t->bound_cpu >= 0)
		return t->bound_cpu;
	if (is_new || !sched_may_run_on(t, t->cpu))
		return least_loaded_cpu(t, t->cpu);
	/* back where its cache is, unless that CPU is busy and another idles */
	if (cpu_load(&cpus[t->cpu]) == 0)
		return t->cpu;
	int other = least_loaded_cpu(t, t->cpu);
	return cpu_load(&cpus[other]) == 0 ? other : t->cpu;
}

/* Queues t on cpu `target` and makes that CPU notice. Interrupts off. */
static void enqueue_on(int target, struct thread *t)
{
	struct cpu *c = &cpus[target];
	spin_lock_raw(&c->rq.lock);
	t->cpu = target;
	rq_enqueue(c, t);
	struct thread *running = c->thread;
	bool to_idle = !running || (running->flags & THREAD_IDLE);
	bool preempt = to_idle || t->prio > running->prio;
	spin_unlock_raw(&c->rq.lock);
	if (!preempt)
		return;
	if (target == cpu_id()) {
		c->need_resched = true;
		return;
	}
	/*
	 * A CPU polling in its idle loop sees the thread without an IPI. The
	 * two sides are Dekker's: we queued (nr_queued) and then read
	 * idle_polling; the idle loop clears idle_polling and then reads
	 * nr_queued, each with a full fence between. So either we see it
	 * polling (and it will see the thread) or it sees the thread, or we
	 * send the IPI, which costs a halted CPU's wakeup but loses nothing.
	 * Only for the idle thread: a thread of higher priority than the one
	 * running there needs the IPI to preempt it, whatever the flag says
	 * (schedule() clears it when the idle thread is switched out, as by
	 * an interrupt's preemption in the middle of its poll).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (to_idle && c->idle_polling) {
		this_cpu()->resched_ipis_saved++;
		return;
	}
	this_cpu()->resched_ipis++;
	smp_send_resched(target);
}

/* ---- the switch ---- */

/* trace=sched: the switch, logged as prev (after its save ops), with the
 * CPU's own count, and both names kept for the dump. */
static __attribute__((noinline, cold)) void trace_switch(struct cpu *c, struct thread *prev,
							   struct thread *next)
{
	trace_name_thread(prev);
	trace_name_thread(next);
	trace_log3(TR_SWITCH, prev->id, next->id, c->switches);
}

/*
 * Second half of a switch, run by the thread switched to, on its CPU, with
 * interrupts off and the run-queue lock still held from schedule().
 */
static inline __attribute__((always_inline)) void finish_switch(struct thread *prev)
{
	struct cpu *c = this_cpu();
	struct thread *me = c->thread;
	spin_unlock_raw(&c->rq.lock);

	/* prev was leaving for another CPU (thread_bind, thread_set_cpus):
	 * queue it there. Its registers are saved now, but on_cpu stays 1
	 * until after this, so the other CPU waits for us before resuming it. */
	if (prev->state == TS_RUNNING && !(prev->flags & THREAD_IDLE)) {
		prev->leaving = false;
		enqueue_on(target_cpu(prev, false), prev);
	}
	__atomic_store_n(&prev->on_cpu, 0, __ATOMIC_RELEASE);

	if (me->ctxops) {
		c->in_ctxop = true;
		ctxop_restore(me);
		c->in_ctxop = false;
	}
}

void sched_finish_switch(struct thread *prev)
{
	finish_switch(prev);
}

/*
 * The switch from prev to next on c, next picked and marked ours (off
 * every run queue): c's run-queue lock held, interrupts off (flags is what
 * to restore them to). Returns in prev when it runs again.
 */
static inline __attribute__((always_inline)) void switch_to(struct cpu *c, struct thread *prev,
							    struct thread *next, int ticks,
							    unsigned long flags)
{
	/* next may still be switching out on the CPU that queued it here
	 * (rarely: the test outside the loop keeps the usual case to one
	 * compare) */
	if (unlikely(__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE))) {
		while (__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE))
			arch_cpu_relax();
	}
	next->on_cpu = 1;
	next->state = TS_RUNNING;
	next->cpu = c->id;
	next->ticks_left = ticks;
	next->switches_in++;
	c->switches++;

	if (prev->ctxops) {
		c->switch_next = next;	/* what the FPU op needs to know */
		c->in_ctxop = true;
		ctxop_save(prev);
		c = this_cpu();		/* reloaded: one callee-saved register less */
		c->in_ctxop = false;
	}
	if (trace_on(TRACE_SCHED))
		trace_switch(c, prev, next);
	c->thread = next;		/* after the save ops: they run as prev */
	if (next->aspace) {		/* a process's thread: its space, and its
					 * stack for the way in from ring 3 */
		if (next->aspace != c->aspace)
			aspace_activate(next->aspace);
		arch_set_kernel_stack((uint64_t)next->stack + next->stack_size);
	}
	prev = arch_switch(prev, next);
	finish_switch(prev);
	arch_irq_restore(flags);
}

void schedule(void)
{
	unsigned long flags = arch_irq_save();
	struct cpu *c = this_cpu();
	struct thread *prev = c->thread;

	spin_lock_raw(&c->rq.lock);
	c->need_resched = false;
	if (prev == c->idle)
		c->idle_polling = false;	/* it polls no more once switched out */
	struct thread *next;
	/* a leaving prev is not queued here: finish_switch moves it */
	if (prev->state == TS_RUNNING && !(prev->flags & THREAD_IDLE) && likely(!prev->leaving))
		next = rq_requeue_pick(c, prev);
	else
		next = rq_pick(c);
	if (!next)
		next = c->idle;
	if (next == prev) {
		prev->state = TS_RUNNING;
		prev->ticks_left = (int)sched_quantum_ticks;
		spin_unlock_raw(&c->rq.lock);
		arch_irq_restore(flags);
		return;
	}
	switch_to(c, prev, next, (int)sched_quantum_ticks, flags);
}

bool sched_claim(struct thread *t)
{
	return __atomic_compare_exchange_n(&t->state, &(int){ TS_SLEEPING }, TS_RUNNABLE, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* May next have c now, in its caller's place? (sched_may_hand_off) */
static inline bool may_hand_off(const struct cpu *c, const struct thread *next)
{
	return sched_may_run_on(next, c->id) && !c->need_resched &&
	       (c->rq.nonempty >> next->prio) <= 1;
}

bool sched_may_hand_off(const struct thread *next)
{
	return may_hand_off(this_cpu(), next);
}

/* sched_prepare_sleep's body, for it and sched_handoff_prepare: t (the
 * caller) asleep from now, interrupts off until its switch. */
static inline __attribute__((always_inline)) void prepare_sleep(struct thread *t,
								  const char *fn)
{
	if (arch_irq_enabled())
		panic("%s: interrupts are on (thread %s); a sleeper keeps them off until its "
		      "switch (sched.h)", fn, t->name);
	t->timed_out = false;
	if (!__atomic_compare_exchange_n(&t->state, &(int){ TS_RUNNING }, TS_SLEEPING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		panic("%s: thread %s is %s, not running", fn, t->name, thread_state_name(t->state));
}

/*
 * sched_may_hand_off, sched_claim and sched_prepare_sleep in one call, for
 * the IPC fast path (kernel/ipc.c, fast_wait): if next may have this CPU
 * now and is still asleep, claims it and marks the caller asleep; the
 * caller then drops its lock and calls sched_sleep_and_run(next). False:
 * nothing has changed. Interrupts off, as for sched_prepare_sleep.
 */
bool sched_handoff_prepare(struct thread *next)
{
	struct cpu *c = this_cpu();
	struct thread *t = c->thread;
	if (!may_hand_off(c, next) || !sched_claim(next))
		return false;
	prepare_sleep(t, "sched_handoff_prepare");
	return true;
}

/*
 * The direct hand-off (IPC's, after L4): the caller has gone to sleep
 * (sched_prepare_sleep) and claimed next, which sched_may_hand_off said
 * may have this CPU; next runs here now, in the caller's place, without a
 * trip through a run queue, and with what is left of the caller's
 * quantum (the time is the caller's: two threads handing the CPU to each
 * other must still leave it to others of their priority when it runs
 * out, seL4's scheduling contexts give the same answer). If the answer
 * changed meanwhile (a tick asked for a reschedule, a thread of higher
 * priority came), next joins this CPU's run queue and the CPU goes to the
 * best thread. Only this CPU's run-queue lock is taken: the caller is
 * asleep, another CPU may have picked it already and be spinning on its
 * on_cpu with its own run-queue lock held (docs/sched.md, "The wakeup
 * protocol"), so taking that CPU's lock here could wait for ever.
 */
void sched_sleep_and_run(struct thread *next)
{
	unsigned long flags = arch_irq_save();
	struct cpu *c = this_cpu();
	struct thread *prev = c->thread;
	spin_lock_raw(&c->rq.lock);
	if (likely(!c->need_resched && (c->rq.nonempty >> next->prio) <= 1 &&
		   prev->ticks_left > 0)) {
		c->handoffs++;
		switch_to(c, prev, next, prev->ticks_left, flags);
		return;
	}
	next->cpu = c->id;			/* sched_may_hand_off: it may run here */
	rq_enqueue(c, next);
	spin_unlock_raw(&c->rq.lock);
	arch_irq_restore(flags);
	schedule();
}

/*
 * t->cpu may change under us (a wakeup or a steal queues t elsewhere, under
 * that CPU's lock), so lock the run queue it names and look again. Once
 * t->cpu names the queue we hold, a t linked there stays there; it is moved
 * to the FIFO of its new priority. A t on no queue (running, asleep, or
 * being queued elsewhere this instant) just gets the new t->prio: whoever
 * queues it reads the value once and records it in rq_prio.
 */
void sched_set_priority(struct thread *t, int prio)
{
	unsigned long flags = arch_irq_save();
	struct cpu *c;
	for (;;) {
		c = &cpus[__atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE)];
		spin_lock_raw(&c->rq.lock);
		/* enqueue_on sets t->cpu before it links t, so a t seen
		 * linked is on the queue its t->cpu, read after, names */
		if (__atomic_load_n(&t->rq_link.next, __ATOMIC_ACQUIRE) == &t->rq_link) {
			__atomic_store_n(&t->prio, prio, __ATOMIC_RELEASE);
			break;			/* on no queue */
		}
		if (__atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE) == c->id) {
			rq_remove(c, t);	/* move it to its new FIFO */
			t->prio = prio;
			rq_enqueue(c, t);
			break;
		}
		spin_unlock_raw(&c->rq.lock);	/* queued elsewhere meanwhile */
	}
	spin_unlock_raw(&c->rq.lock);
	if (t == c->thread && rq_top_prio(c) > prio && c == this_cpu())
		c->need_resched = true;
	arch_irq_restore(flags);
	if (t == curthread && t->preempt_count == 0 && this_cpu()->need_resched)
		schedule();
}

int sched_check_runqueues(void)
{
	int bad = 0;
	for (int i = 0; i < cpu_count(); i++) {
		struct cpu *c = &cpus[i];
		unsigned long flags = arch_irq_save();
		spin_lock_raw(&c->rq.lock);
		int queued = 0;
		for (int p = 0; p < NPRIO; p++) {
			bool nonempty = (c->rq.nonempty >> p) & 1;
			if (nonempty == list_empty(&c->rq.queue[p])) {
				printk("sched: CPU %d: FIFO %d is %s but its bit is %s\n", i, p,
				       nonempty ? "empty" : "not empty", nonempty ? "set" : "clear");
				bad++;
			}
			struct list *pos;
			list_for_each(pos, &c->rq.queue[p]) {
				struct thread *t = list_entry(pos, struct thread, rq_link);
				queued++;
				if (t->rq_prio != p || t->cpu != i || t->state != TS_RUNNABLE) {
					printk("sched: CPU %d FIFO %d holds %s (rq_prio %d, cpu %d, %s)\n",
					       i, p, t->name, t->rq_prio, t->cpu,
					       thread_state_name(t->state));
					bad++;
				}
			}
		}
		if (queued != c->rq.nr_queued) {
			printk("sched: CPU %d: %d threads queued, nr_queued says %d\n", i, queued,
			       c->rq.nr_queued);
			bad++;
		}
		spin_unlock_raw(&c->rq.lock);
		arch_irq_restore(flags);
	}
	return bad;
}

void sched_set_quantum_us(uint64_t us)
{
	uint64_t ticks = us * TIMER_HZ / 1000000;
	sched_quantum_us = us;
	sched_quantum_ticks = ticks ? ticks : 1;
}

/* ---- sleeping and waking ---- */

void sched_assert_can_sleep(const char *caller)
{
	struct thread *t = curthread;
	if (this_cpu()->trap_depth > 0)
		panic("%s: sleeping in an interrupt handler (thread %s)", caller, t->name);
	if (t->preempt_count > 0) {
		if (t->nlocks_held > 0)
			panic("%s: sleeping while holding spinlock '%s' (thread %s)", caller,
			      t->locks_held[MIN(t->nlocks_held, THREAD_LOCKS_TRACKED) - 1],
			      t->name);
		panic("%s: sleeping with preemption disabled (thread %s, count %d)", caller,
		      t->name, t->preempt_count);
	}
	if (t->flags & THREAD_IDLE)
		panic("%s: the idle thread must not sleep", caller);
}

void sched_prepare_sleep(void)
{
	prepare_sleep(curthread, "sched_prepare_sleep");
}

bool sched_wakeup(struct thread *t)
{
	if (!sched_claim(t))
		return false;
	unsigned long flags = arch_irq_save();
	enqueue_on(target_cpu(t, false), t);
	arch_irq_restore(flags);
	return true;
}

void sched_add_new(struct thread *t)
{
	unsigned long flags = arch_irq_save();
	enqueue_on(target_cpu(t, true), t);
	arch_irq_restore(flags);
}

/* ---- timeouts: one list, sorted by wake time ---- */

static struct spinlock timeout_lock = SPINLOCK_INIT("sched.timeouts");
static struct list timeouts = LIST_INIT(timeouts);
static uint64_t last_scan_ns;	/* when the list was last scanned */

void sched_timeout_arm(struct thread *t, uint64_t wake_at_ns)
{
	unsigned long flags = spin_lock_irqsave(&timeout_lock);
	t->wake_at_ns = wake_at_ns;
	struct list *pos;
	list_for_each(pos, &timeouts) {
		if (list_entry(pos, struct thread, timer_link)->wake_at_ns > wake_at_ns)
			break;
	}
	list__insert(&t->timer_link, pos->prev, pos);
	spin_unlock_irqrestore(&timeout_lock, flags);
}

void sched_timeout_cancel(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&timeout_lock);
	list_remove(&t->timer_link);
	spin_unlock_irqrestore(&timeout_lock, flags);
}

void sched_timeouts_expire(uint64_t now)
{
	if (list_empty(&timeouts) || !spin_trylock_raw(&timeout_lock))
		return;		/* another CPU is on it this tick */
	while (!list_empty(&timeouts)) {
		struct thread *t = list_entry(timeouts.next, struct thread, timer_link);
		if (t->wake_at_ns > now)
			break;
		list_remove(&t->timer_link);
		t->timed_out = true;
		/* for tests: the scan before this one came before the deadline,
		 * so no tick after the deadline missed the sleeper */
		t->timeout_prev_scan_ns = last_scan_ns;
		sched_wakeup(t);
	}
	last_scan_ns = now;
	spin_unlock_raw(&timeout_lock);
}

/* ---- the tick and preemption ---- */

void sched_tick(void)
{
	struct cpu *c = this_cpu();
	struct thread *t = c->thread;
	c->ticks++;
	sched_timeouts_expire(clock_ns());
	if (!t)
		return;
	if (t->flags & THREAD_IDLE) {
		if (c->rq.nr_queued)
			c->need_resched = true;
		return;
	}
	if (--t->ticks_left <= 0) {
		/* only worth a switch if someone of equal or higher priority waits */
		if (rq_top_prio(c) >= t->prio)
			c->need_resched = true;
		else
			t->ticks_left = (int)sched_quantum_ticks;
	}
}

void sched_irq_exit(void)
{
	struct cpu *c = this_cpu();
	struct thread *t = c->thread;
	if (!c->need_resched || !t || t->preempt_count > 0 || c->trap_depth > 0)
		return;
	t->preemptions++;
	c->preemptions++;
	schedule();
}

void sched_ipi_resched(void)
{
	this_cpu()->need_resched = true;
}

void kpreempt_disable(void)
{
	struct thread *t = curthread;
	if (t) {
		t->preempt_count++;
		__asm__ volatile("" ::: "memory");
	}
}

void kpreempt_enable(void)
{
	struct thread *t = curthread;
	if (!t)
		return;
	__asm__ volatile("" ::: "memory");
	if (t->preempt_count <= 0)
		panic("kpreempt_enable: not disabled (thread %s, count %d)", t->name,
		      t->preempt_count);
	if (--t->preempt_count == 0 && this_cpu()->need_resched && arch_irq_enabled() &&
	    this_cpu()->trap_depth == 0)
		schedule();
}

/* ---- idle ---- */

/* Moves one waiting thread that may run here from the busiest CPU. */
static bool steal(struct cpu *me)
{
	struct cpu *victim = NULL;
	int most = 0;
	for (int i = 0; i < cpu_count(); i++) {
		if (&cpus[i] != me && cpus[i].online && cpus[i].rq.nr_queued > most) {
			victim = &cpus[i];
			most = cpus[i].rq.nr_queued;
		}
	}
	if (!victim || !spin_trylock_raw(&victim->rq.lock))
		return false;
	struct thread *got = NULL;
	for (int p = NPRIO - 1; p >= 0 && !got; p--) {
		struct list *pos;
		list_for_each(pos, &victim->rq.queue[p]) {
			struct thread *t = list_entry(pos, struct thread, rq_link);
			if (sched_may_run_on(t, me->id)) {
				rq_remove(victim, t);
				got = t;
				break;
			}
		}
	}
	spin_unlock_raw(&victim->rq.lock);
	if (!got)
		return false;
	spin_lock_raw(&me->rq.lock);
	got->cpu = me->id;
	rq_enqueue(me, got);
	spin_unlock_raw(&me->rq.lock);
	return true;
}

/* Replaces smp.c's weak default: an AP, once online, idles as a thread. */
void smp_ap_idle(void)
{
	sched_idle_loop();
}

/*
 * The idle loop. Before halting, an idle CPU polls its run queue for a
 * short while (IDLE_POLL_NS): a thread woken from another CPU moments after
 * this one went idle then starts without waiting for the IPI to bring the
 * CPU out of `hlt`. Under emulation that wakeup is slow (the host must
 * resume the vCPU's thread), and ping-pong between CPUs is the common case
 * it speeds up. While it polls (idle_polling), a waker on another CPU
 * sends no IPI at all (enqueue_on): the run queue is what the poll reads,
 * as Linux's TIF_POLLING_NRFLAG tells its wakers. After the poll the CPU
 * halts until an interrupt.
 */
#define IDLE_POLL_NS 50000

static bool idle_has_work(struct cpu *c)
{
	return c->rq.nr_queued || c->need_resched;
}

void sched_idle_loop(void)
{
	struct cpu *c = this_cpu();
	for (;;) {
		uint64_t poll_until = clock_ns() + IDLE_POLL_NS;
		c->idle_polling = true;
		while (!idle_has_work(c) && clock_ns() < poll_until)
			arch_cpu_relax();
		c->idle_polling = false;
		/* the other half of enqueue_on's fence: a waker that still saw
		 * us polling queued its thread before, and we see it below */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		arch_irq_disable();
		if (idle_has_work(c) || (cpu_count() > 1 && steal(c))) {
			arch_irq_enable();
			schedule();
			continue;
		}
		arch_safe_halt();	/* sti; hlt: no wakeup slips in between */
	}
}

/* ---- set-up ---- */

static struct thread boot_threads[MAX_CPUS];

static void rq_init(struct cpu *c)
{
	spin_init(&c->rq.lock, "runqueue");
	for (int p = 0; p < NPRIO; p++)
		list_init(&c->rq.queue[p]);
}

/* The code running now on this CPU becomes a thread named `name`. */
static struct thread *adopt_boot_context(int cpu, const char *name, unsigned flags)
{
	struct thread *t = &boot_threads[cpu];
	memset(t, 0, sizeof(*t));
	strlcpy(t->name, name, sizeof(t->name));
	t->state = TS_RUNNING;
	t->prio = flags & THREAD_IDLE ? PRIO_LOW : PRIO_NORMAL;
	t->cpu = cpu;
	t->bound_cpu = flags & THREAD_IDLE ? cpu : -1;
	t->cpus_allowed = CPU_MASK_ALL;
	t->flags = flags;
	t->on_cpu = 1;
	t->ticks_left = (int)sched_quantum_ticks;
	list_init(&t->rq_link);
	list_init(&t->timer_link);
	thread_register(t);
	cpus[cpu].thread = t;
	return t;
}

void sched_init(void)
{
	sched_quantum_ticks = sched_quantum_us * TIMER_HZ / 1000000;
	if (sched_quantum_ticks == 0)
		sched_quantum_ticks = 1;
	rq_init(&cpus[0]);
	cpus[0].online = true;
	adopt_boot_context(0, "main", 0);
	cpus[0].idle = thread_create_idle(0);
}

void sched_init_ap(int cpu)
{
	rq_init(&cpus[cpu]);
	char name[THREAD_NAME_MAX];
	snprintf(name, sizeof(name), "idle%d", cpu);
	cpus[cpu].idle = adopt_boot_context(cpu, name, THREAD_IDLE);
}
