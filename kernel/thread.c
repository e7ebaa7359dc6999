/*
 * kernel/thread.c - creating, running, joining and freeing kernel threads.
 *
 * A thread owns a struct thread (kmem) and a kernel stack of STACK_PAGES
 * pages from the page allocator, the lowest of which is unmapped: a stack
 * overflow faults on it (then double-faults onto the IST stack and is
 * reported) instead of overwriting whatever lies below. A few freed stacks
 * are kept for the next threads, guard pages and all (stack_alloc).
 *
 * Memory: a kernel thread's stack and struct are the kernel's own
 * (thread_create panics without them, as its contract has it); a user
 * thread's (thread_try_prepare, for kernel/proc.c) are kernel memory for a
 * user request, which leaves half the page allocator's reserve (KM_USER,
 * PMM_KERNEL_FOR_USER, docs/mm.md "The reserve"): when there is none, the
 * thread is not made and the request gets -ENOMEM.
 *
 * Life cycle:  thread_create -> RUNNABLE <-> RUNNING <-> SLEEPING
 *              -> ZOMBIE (thread_exit) -> freed by thread_join.
 *
 * A new thread's stack holds one frame that arch_switch can "return"
 * through (arch_thread_init_stack builds it, arch/x86_64/frame.c), into a
 * call of thread_start(prev): finish the switch, enable interrupts, run
 * fn(arg), exit.
 *
 * Join: the joiner sleeps until the thread is a zombie and has left its
 * CPU (on_cpu == 0), since an exiting thread is still on its own stack
 * while it switches away for the last time. Context ops: a THREAD_FPU
 * thread gets its FPU op first (kernel/fpu.c), then lwp_create runs in the
 * creator for each of its ops, exit in the exiting thread, free when the
 * thread is freed (kernel/ctxop.c).
 *
 * Started: from the moment t can be found (thread_alloc sets
 * t->unstarted before it puts t on the list) until just before
 * sched_add_new (cleared under t->ctxop_lock); while it is set, others may
 * attach context ops to t. Afterwards only t itself may change its ring.
 * An idle thread is marked started before any CPU can run it.
 *
 * References: a thread starts with one, its creator's; thread_find takes
 * another (for the monitor). thread_join frees all but the struct (list
 * entry, then ops, then stack: a walker of the list never meets a thread
 * whose ops are freed) and drops the creator's; the struct goes with the
 * last reference, so a holder never reads freed memory.
 */
#include <thread.h>
#include <sched.h>
#include <arch.h>
#include <ctxop.h>
#include <fpu.h>
#include <mm.h>
#include <printf.h>
#include <printk.h>
#include <string.h>

#define STACK_ORDER 3			/* 8 pages: one guard page, 28 KiB of stack */
#define STACK_PAGES (1u << STACK_ORDER)

static struct spinlock threads_lock = SPINLOCK_INIT("threads");
static struct list all_threads = LIST_INIT(all_threads);

/*
 * Freed stacks are kept, up to STACK_CACHE of them, with their guard pages
 * still unmapped and registered: unmapping a page costs a TLB shootdown on
 * every other CPU (arch/x86_64/paging.c), which a thread created and joined
 * in a loop would otherwise pay each time. (Linux keeps a few freed
 * vmalloc'd stacks per CPU for the same reason.)
 */
#define STACK_CACHE 8
static struct spinlock stack_cache_lock = SPINLOCK_INIT("thread.stacks");
static uint64_t stack_cache[STACK_CACHE];
static int stack_cache_n;

/* A stack (its guard unmapped); 0 if `who` may have none (PMM_KERNEL:
 * panics instead). */
static uint64_t stack_alloc(const char *name, enum pmm_for who)
{
	uint64_t stack = 0;
	unsigned long flags = spin_lock_irqsave(&stack_cache_lock);
	if (stack_cache_n > 0)
		stack = stack_cache[--stack_cache_n];
	spin_unlock_irqrestore(&stack_cache_lock, flags);
	if (stack)
		return stack;			/* its guard page is still unmapped */
	stack = pmm_alloc_pages_for(STACK_ORDER, who);
	if (!stack && who != PMM_KERNEL)
		return 0;
	if (!stack)
		panic("thread_create: out of memory for the stack of '%s'", name);
	paging_register_guard(stack);	/* unmaps the lowest page: the guard */
	return stack;
}

static void stack_free(uint64_t stack)
{
	unsigned long flags = spin_lock_irqsave(&stack_cache_lock);
	bool kept = stack_cache_n < STACK_CACHE;
	if (kept)
		stack_cache[stack_cache_n++] = stack;
	spin_unlock_irqrestore(&stack_cache_lock, flags);
	if (kept)
		return;
	paging_unregister_guard(stack);		/* maps the guard page again */
	pmm_free_pages(stack, STACK_ORDER);
}

size_t thread_stack_cache_pages(void)
{
	return (size_t)__atomic_load_n(&stack_cache_n, __ATOMIC_RELAXED) * STACK_PAGES;
}
static uint64_t next_id;
/* Serialises thread_exit's wakeup with thread_join's check. */
static struct spinlock join_lock = SPINLOCK_INIT("thread.join");

const char *thread_state_name(int state)
{
	static const char *const names[] = { "runnable", "running", "sleeping", "zombie" };
	return state >= 0 && state <= TS_ZOMBIE ? names[state] : "?";
}

void (*thread_register_hook)(struct thread *t);

void thread_register(struct thread *t)
{
	spin_init(&t->ctxop_lock, "thread.ctxops");
	t->refs = 1;			/* its creator's, dropped by thread_join */
	unsigned long flags = spin_lock_irqsave(&threads_lock);
	t->id = next_id++;
	list_add_tail(&all_threads, &t->all_link);
	spin_unlock_irqrestore(&threads_lock, flags);
	if (unlikely(thread_register_hook))
		thread_register_hook(t);
}

/* A new thread, on the list, not started; for a user request (user_req)
 * NULL when the memory for it may not be had, else never NULL. */
static struct thread *thread_alloc(const char *name, void (*fn)(void *), void *arg,
				   unsigned flags, bool user_req)
{
	struct thread *t = kmem_zalloc(sizeof(*t), user_req ? KM_USER : KM_SLEEP);
	if (!t)
		return NULL;
	uint64_t stack = stack_alloc(name, user_req ? PMM_KERNEL_FOR_USER : PMM_KERNEL);
	if (!stack) {
		kmem_free(t);
		return NULL;
	}

	strlcpy(t->name, name, sizeof(t->name));
	t->fn = fn;
	t->arg = arg;
	t->flags = flags;
	t->prio = PRIO_NORMAL;
	t->bound_cpu = -1;
	t->cpus_allowed = CPU_MASK_ALL;
	t->cpu = cpu_id();
	t->stack = (uint8_t *)(stack + PAGE_SIZE);
	t->stack_size = (STACK_PAGES - 1) * PAGE_SIZE;
	t->state = TS_RUNNABLE;
	t->unstarted = true;		/* before it can be found: until mark_started */
	list_init(&t->rq_link);
	list_init(&t->timer_link);

	arch_thread_init_stack(t);
	thread_register(t);
	return t;
}

/*
 * t is about to become runnable: from now on only t itself may change its
 * ring (kernel/ctxop.c). Under the ring's lock, so that an attach that saw
 * t unstarted has finished linking before t can first be switched in.
 */
static void mark_started(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&t->ctxop_lock);
	t->unstarted = false;
	spin_unlock_irqrestore(&t->ctxop_lock, flags);
}

static void thread_free(struct thread *t);

/* thread_prepare and thread_try_prepare: NULL only for a user request. */
static struct thread *prepare(const char *name, void (*fn)(void *), void *arg, unsigned flags,
			      int cpu, int prio, bool user_req)
{
	if (!fn)
		panic("thread_create: NULL function for thread '%s'", name ? name : "?");
	if (flags & ~(THREAD_FPU | THREAD_USER))
		panic("thread_create: unknown flags 0x%x for thread '%s'", flags, name);
	if (cpu < -1 || cpu >= cpu_count())
		panic("thread_create: no CPU %d for thread '%s'", cpu, name);
	if (prio < PRIO_LOW || prio >= PRIO_COUNT)
		panic("thread_create: bad priority %d for thread '%s'", prio, name);
	sched_assert_can_sleep("thread_create");
	struct thread *t = thread_alloc(name ? name : "anon", fn, arg, flags, user_req);
	if (!t)
		return NULL;
	t->bound_cpu = cpu;
	t->prio = prio;
	if (cpu >= 0)
		t->cpu = cpu;
	/* The FPU op first, so it saves last and restores first; then the
	 * creator's ops may layer theirs over it. */
	if ((flags & THREAD_FPU) && fpu_thread_create(t, user_req ? KM_USER : KM_SLEEP) < 0) {
		thread_free(t);
		return NULL;
	}
	return t;
}

struct thread *thread_prepare(const char *name, void (*fn)(void *), void *arg, unsigned flags,
			      int cpu, int prio)
{
	return prepare(name, fn, arg, flags, cpu, prio, false);
}

struct thread *thread_try_prepare(const char *name, void (*fn)(void *), void *arg,
				  unsigned flags, int cpu, int prio)
{
	return prepare(name, fn, arg, flags, cpu, prio, true);
}

void thread_discard(struct thread *t)
{
	if (!t->unstarted)
		panic("thread_discard: thread %lu '%s' has started", t->id, t->name);
	thread_free(t);
}

void thread_launch(struct thread *t)
{
	if (!t->unstarted)
		panic("thread_launch: thread %lu '%s' has started already", t->id, t->name);
	mark_started(t);
	sched_add_new(t);
}

struct thread *thread_create_on(const char *name, void (*fn)(void *), void *arg,
				unsigned flags, int cpu, int prio)
{
	if (flags & THREAD_USER)
		panic("thread_create: THREAD_USER threads are made by kernel/proc.c");
	struct thread *t = thread_prepare(name, fn, arg, flags, cpu, prio);
	ctxop_lwp_create(curthread, t);
	thread_launch(t);
	return t;
}

struct thread *thread_create(const char *name, void (*fn)(void *), void *arg, unsigned flags)
{
	return thread_create_on(name, fn, arg, flags, -1, PRIO_NORMAL);
}

/* An idle thread for `cpu` that has never run: it starts in the idle loop. */
static void idle_main(void *arg)
{
	(void)arg;
	sched_idle_loop();
}

struct thread *thread_create_idle(int cpu)
{
	char name[THREAD_NAME_MAX];
	snprintf(name, sizeof(name), "idle%d", cpu);
	struct thread *t = thread_alloc(name, idle_main, NULL, THREAD_IDLE, false);
	t->prio = PRIO_LOW;
	t->bound_cpu = cpu;
	t->cpu = cpu;
	t->state = TS_RUNNING;		/* never on a run queue */
	mark_started(t);		/* its CPU may switch to it at any time */
	return t;
}

/* C entry of every new thread (from thread_entry_asm). */
void thread_start(struct thread *prev)
{
	sched_finish_switch(prev);
	arch_irq_enable();
	struct thread *t = curthread;
	t->fn(t->arg);
	thread_exit();
}

void thread_exit(void)
{
	struct thread *t = curthread;
	if (t->flags & THREAD_IDLE)
		panic("thread_exit: the idle thread %s must not exit", t->name);
	sched_assert_can_sleep("thread_exit");
	ctxop_exit(t);

	/* Interrupts stay off from here to the final switch, so the wakeup of
	 * the joiner cannot preempt us half-way out. */
	arch_irq_disable();
	spin_lock_raw(&join_lock);
	t->state = TS_ZOMBIE;
	if (t->joiner)
		sched_wakeup(t->joiner);
	spin_unlock_raw(&join_lock);
	schedule();
	panic("thread_exit: zombie %s was scheduled again", t->name);
}

static void thread_join_keep(struct thread *t);

/* Off the list first, under threads_lock: a walker of the list
 * (thread_foreach, the monitor's `fpu`) reads each thread's context-op
 * state, so a listed thread's ops must still be there. A joined thread,
 * or one discarded before it started. */
static void thread_free(struct thread *t)
{
	unsigned long flags = spin_lock_irqsave(&threads_lock);
	list_remove(&t->all_link);
	spin_unlock_irqrestore(&threads_lock, flags);
	ctxop_free_all(t);
	stack_free((uint64_t)t->stack - PAGE_SIZE);
	thread_rele(t);			/* its creator's reference */
}

void thread_rele(struct thread *t)
{
	int left = __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL);
	if (left < 0)
		panic("thread_rele: thread %lu '%s' has no reference left", t->id, t->name);
	if (left == 0)
		kmem_free(t);
}

bool thread_join_status(struct thread *t, const char **reason)
{
	thread_join_keep(t);
	bool killed = t->killed;
	if (reason)
		*reason = t->kill_reason;
	thread_free(t);
	return killed;
}

void thread_join(struct thread *t)
{
	thread_join_keep(t);
	thread_free(t);
}

/* Waits until t is a zombie that has left its CPU; does not free it. */
static void thread_join_keep(struct thread *t)
{
	struct thread *me = curthread;
	sched_assert_can_sleep("thread_join");
	if (t == me)
		panic("thread_join: thread %s joins itself", me->name);
	if (t->flags & THREAD_IDLE)
		panic("thread_join: %s is an idle thread", t->name);

	unsigned long flags = spin_lock_irqsave(&join_lock);
	if (t->joiner && t->joiner != me)
		panic("thread_join: %s already has a joiner (%s)", t->name, t->joiner->name);
	while (t->state != TS_ZOMBIE) {
		t->joiner = me;
		sched_prepare_sleep();
		spin_unlock(&join_lock);	/* interrupts stay off until the switch */
		schedule();
		spin_lock(&join_lock);
	}
	spin_unlock_irqrestore(&join_lock, flags);
	while (__atomic_load_n(&t->on_cpu, __ATOMIC_ACQUIRE))
		arch_cpu_relax();	/* its last switch is finishing */
}

void thread_yield(void)
{
	struct thread *t = curthread;
	/* the checks of sched_assert_can_sleep, inline: yield is a hot path */
	if (unlikely(t->preempt_count || this_cpu()->trap_depth))
		sched_assert_can_sleep("thread_yield");
	schedule();
}

void thread_sleep(uint64_t ns)
{
	struct thread *t = curthread;
	sched_assert_can_sleep("thread_sleep");
	uint64_t wake = clock_ns() + ns;
	while (clock_ns() < wake) {
		unsigned long flags = arch_irq_save();	/* off until the switch */
		sched_prepare_sleep();
		sched_timeout_arm(t, wake);
		schedule();
		arch_irq_restore(flags);
		sched_timeout_cancel(t);
	}
}

/* After the caller t changed its binding or mask: if its CPU is no longer
 * allowed, switches away, and finish_switch queues it where it may run. */
static void leave_if_not_allowed(struct thread *t)
{
	if (!sched_may_run_on(t, cpu_id())) {
		t->leaving = true;
		schedule();
	}
}

void thread_bind(int cpu)
{
	struct thread *t = curthread;
	if (cpu < -1 || cpu >= cpu_count() || (cpu >= 0 && !cpus[cpu].online))
		panic("thread_bind: no CPU %d (thread %s; %d CPUs online)", cpu, t->name,
		      cpu_count());
	sched_assert_can_sleep("thread_bind");
	t->bound_cpu = cpu;
	leave_if_not_allowed(t);	/* bound elsewhere, or unbound onto a mask
					 * without this CPU */
	if (cpu >= 0 && cpu_id() != cpu)
		panic("thread_bind: %s is on CPU %d, not %d", t->name, cpu_id(), cpu);
}

void thread_set_cpus(uint32_t mask)
{
	struct thread *t = curthread;
	if (!(mask & cpu_online_mask()))
		panic("thread_set_cpus: mask 0x%x has no online CPU (thread %s; online 0x%x)",
		      mask, t->name, cpu_online_mask());
	sched_assert_can_sleep("thread_set_cpus");
	t->cpus_allowed = mask;
	leave_if_not_allowed(t);
	if (!sched_may_run_on(t, cpu_id()))
		panic("thread_set_cpus: %s is still on CPU %d, outside mask 0x%x", t->name,
		      cpu_id(), mask);
}

void thread_set_priority(struct thread *t, int prio)
{
	if (prio < PRIO_LOW || prio >= PRIO_COUNT)
		panic("thread_set_priority: bad priority %d for %s", prio, t->name);
	if (t->flags & THREAD_IDLE)
		panic("thread_set_priority: %s is an idle thread", t->name);
	sched_set_priority(t, prio);
}

void thread_print_all(void)
{
	static const char *const prio_names[] = { "low", "normal", "high" };
	unsigned long flags = spin_lock_irqsave(&threads_lock);
	printk("  %4s %-20s %-9s %3s %-6s %5s %10s\n", "id", "name", "state", "cpu", "prio",
	       "bound", "switches");
	struct list *pos;
	list_for_each(pos, &all_threads) {
		struct thread *t = list_entry(pos, struct thread, all_link);
		char bound[12] = "-";
		if (t->bound_cpu >= 0)
			snprintf(bound, sizeof(bound), "%d", t->bound_cpu);
		else if (t->cpus_allowed != CPU_MASK_ALL)
			snprintf(bound, sizeof(bound), "0x%x", t->cpus_allowed);
		/* an idle thread stays "running" while off its CPU: say "idle" */
		const char *state = (t->flags & THREAD_IDLE) && cpus[t->cpu].thread != t
					    ? "idle" : thread_state_name(t->state);
		printk("  %4lu %-20s %-9s %3d %-6s %5s %10lu\n", t->id, t->name, state, t->cpu,
		       prio_names[t->prio], bound, t->switches_in);
	}
	spin_unlock_irqrestore(&threads_lock, flags);
}

void thread_foreach(void (*fn)(struct thread *t, void *arg), void *arg)
{
	unsigned long flags = spin_lock_irqsave(&threads_lock);
	struct list *pos;
	list_for_each(pos, &all_threads)
		fn(list_entry(pos, struct thread, all_link), arg);
	spin_unlock_irqrestore(&threads_lock, flags);
}

struct thread *thread_find(const char *key)
{
	uint64_t id = 0;
	bool numeric = *key != '\0';
	for (const char *p = key; *p; p++) {
		if (*p < '0' || *p > '9')
			numeric = false;
		else
			id = id * 10 + (uint64_t)(*p - '0');
	}
	struct thread *found = NULL;
	unsigned long flags = spin_lock_irqsave(&threads_lock);
	struct list *pos;
	list_for_each(pos, &all_threads) {
		struct thread *t = list_entry(pos, struct thread, all_link);
		if ((numeric && t->id == id) || strcmp(t->name, key) == 0) {
			/* under threads_lock: thread_free takes t off the list
			 * under it before it drops the creator's reference */
			__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
			found = t;
			break;
		}
	}
	spin_unlock_irqrestore(&threads_lock, flags);
	return found;
}
