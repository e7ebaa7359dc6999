/*
 * kernel/proc.c - processes: creation from an image, fork, threads,
 * memory, exit, kill, waiting and reaping.
 *
 * Design
 *   A process is an address space (mm.h), a set of threads and a place in
 *   the tree. Its threads are kernel threads (THREAD_USER | THREAD_FPU):
 *   each has its own kernel stack, at whose top sits its user frame
 *   (arch_user_frame), and a context-op chain whose oldest op is the FPU's
 *   (made with the thread) and whose next is the segment bases' (below),
 *   as illumos gives an lwp its fpu and lwp_segregs ops. Every thread in
 *   the kernel is on its way back to ring 3, and proc_return_to_user is
 *   the last thing it does there: that is where a reschedule or the
 *   process's death catches it.
 *
 *   User memory (docs/user.md, "Address space"):
 *     image     at its ELF addresses, from ARCH_USER_BASE + 4 MiB
 *     heap      from the page after the image, grown by sbrk, HEAP_MAX
 *     stacks    at the top: slot -1 (the first thread's) ends at
 *               ARCH_USER_TOP, slot i ends STACK_STRIDE * (i + 1) below it;
 *               STACK_PAGES are mapped at the top of each stride and the
 *               rest stays unmapped: a guard, so an overflow faults
 *   Pages come zeroed from the page allocator, so no process sees another's
 *   data in memory it is given.
 *
 *   Memory runs out (docs/user.md, "When memory runs out"). User pages
 *   (pmm_alloc_user_page) leave the page allocator's reserve; the kernel
 *   memory a request needs (struct proc, the space's PML4, a thread's
 *   struct, kernel stack and context ops) is KM_USER / PMM_KERNEL_FOR_USER
 *   and leaves half of it. Each request takes its kernel side first, then
 *   its user pages, and on any failure undoes both and returns -ENOMEM:
 *   no system call waits for memory or panics for the want of it.
 *
 *   I/O ports (docs/user.md, "I/O ports"). A process's set (p->ports,
 *   ioport.h) is copied into its address space, which carries it to the
 *   CPU's I/O permission bitmap at every switch to the process
 *   (aspace_set_ports; the bitmap is arch/x86_64/iobitmap.c's). Only the
 *   kernel grants ports (proc_grant_ports, proc_spawn_ports); a fork's
 *   child starts with a copy of its parent's, as Linux's ioperm bits are
 *   inherited; a holder may give ports it holds to a child of its own
 *   (IOPORT_GIVE: the tree is the authority, as for kill) and may drop
 *   them (IOPORT_DROP). So no process ever holds a port that the kernel
 *   did not give to it or to an ancestor, and threads share theirs with
 *   the space. A set goes with the process (its space's copy with the
 *   space, at teardown); a spawned program starts with none.
 *
 *   A dying process makes nothing: fork, thread_create and spawn return
 *   -EINTR when they find the caller's process dying under tree_lock
 *   (kill sets it under the same lock), as Linux's fork checks
 *   fatal_signal_pending; so a kill never leaves a child, a program or a
 *   thread made after it.
 *
 *   Ending. Whoever ends a process (exit, a fault, kill) sets `dying` once,
 *   with its status, and kicks the threads: one running in ring 3 on
 *   another CPU gets a reschedule IPI, which brings it into the kernel;
 *   one asleep in an interruptible wait (waitpid, uthread_join, sleep,
 *   which all sleep on tree_cv) is woken. Each thread, on its way back to
 *   ring 3, sees `dying` and ends (proc_thread_end). The last one tears
 *   the process down: its address space, its children (orphaned), and
 *   makes it a zombie; its parent's waitpid (or proc_wait, or the reaper
 *   for an orphan) joins the threads and frees it.
 *
 * Locking
 *   tree_lock (a mutex) guards the tree, the list of processes, pids, and
 *   each process's state, heap and stack slots; tree_cv (its condition
 *   variable) is broadcast on every change a waiter may wait for (a
 *   thread ended, a process became a zombie, a process is dying).
 *   p->tlock (a spinlock, interrupts off) guards p's thread list and
 *   nlive: a fault, in trap context, walks it to kick the threads.
 *   Order: tree_lock, then a tlock.
 */
#include <proc.h>
#include <arch.h>
#include <bitset.h>
#include <cmdline.h>
#include <ctxop.h>
#include <elf.h>
#include <fpu.h>
#include <ioport.h>
#include <ipc.h>
#include <mm.h>
#include <percpu.h>
#include <printf.h>
#include <printk.h>
#include <program.h>
#include <sched.h>
#include <smp.h>
#include <string.h>
#include <sync.h>
#include <thread.h>
#include <uaccess.h>
#include <uapi/errno.h>
#include <vmm.h>

static uint64_t proc_max_opt = 64;
CMDLINE_UINT("proc.max", proc_max_opt, 2, 1024, "the most processes that may exist at once");

#define IMAGE_BASE   (ARCH_USER_BASE + MiB(4))
#define HEAP_MAX     GiB(1)		/* bytes of heap a process may have */
#define STACK_PAGES  16			/* 64 KiB of stack per thread */
#define STACK_STRIDE MiB(1)		/* per slot: the stack, then its guard */
#define STACK_SLOTS  (PROC_THREADS_MAX - 1)	/* slots 0 ..: the threads after the first */
#define UNMAP_BATCH  64			/* pages unmapped with one shootdown */

_Static_assert(PROC_THREADS_MAX == UTHREADS_MAX, "uapi/syscall.h tells user space the limit");
_Static_assert(STACK_SLOTS <= PROC_STACK_SLOT_BITS, "proc.h's stack_slots holds them all");
_Static_assert(IOPORT_LIMIT == IOPORT_COUNT && IOPORT_RANGES == IOPORT_RANGES_MAX,
	       "uapi/syscall.h tells user space the ports and ranges there are");

static struct mutex tree_lock;
static struct condvar tree_cv;
static struct list all_procs = LIST_INIT(all_procs);
static int nprocs;			/* alive and zombie */
static int next_pid = 1;
static struct list orphans = LIST_INIT(orphans);	/* zombies nobody will reap */
static struct semaphore reaper_sem;

void (*proc_create_hook)(void);

struct proc *curproc_get(void)
{
	return curthread->proc;
}

int proc_max(void)
{
	return (int)proc_max_opt;
}

int proc_count(void)
{
	return __atomic_load_n(&nprocs, __ATOMIC_RELAXED);
}

/* ---- the segment-base context op ----
 *
 * Two pairs of switch handlers, one for each way the CPU reaches the bases
 * (FSGSBASE's instructions, or the MSRs). Which a thread gets is chosen
 * once, when its op is installed, from what the boot found: the switch
 * tests nothing. */

static void segbase_save(void *arg)
{
	struct thread *t = arg;
	arch_user_segbases_save_fsgsbase(&t->user_fs, &t->user_gs);
}

static void segbase_restore(void *arg)
{
	struct thread *t = arg;
	arch_user_segbases_load_fsgsbase(t->user_fs, t->user_gs);
}

static void segbase_save_msr(void *arg)
{
	struct thread *t = arg;
	arch_user_segbases_save_msr(&t->user_fs, &t->user_gs);
}

static void segbase_restore_msr(void *arg)
{
	struct thread *t = arg;
	arch_user_segbases_load_msr(t->user_fs, t->user_gs);
}

/* fork: the child starts with the bases the parent has now (its own are
 * live in the CPU, not in its struct: read them). */
static void segbase_fork(void *parent, void *child)
{
	struct thread *c = child;
	(void)parent;
	unsigned long irq = arch_irq_save();
	arch_user_segbases_save(&c->user_fs, &c->user_gs);
	arch_irq_restore(irq);
}

static const struct ctxop_template segbase_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = segbase_save,
	.ct_restore = segbase_restore,
	.ct_fork = segbase_fork,
};

static const struct ctxop_template segbase_msr_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = segbase_save_msr,
	.ct_restore = segbase_restore_msr,
	.ct_fork = segbase_fork,
};

/* The template for this machine (FSGSBASE is on or off on every CPU). */
static const struct ctxop_template *segbase_template(void)
{
	bool fsgsbase;
	arch_user_features(NULL, NULL, &fsgsbase);
	return fsgsbase ? &segbase_tpl : &segbase_msr_tpl;
}

/* ---- stacks ---- */

static uint64_t stack_top(int slot)
{
	return ARCH_USER_TOP - STACK_STRIDE * (uint64_t)(slot + 1);
}

/* Maps STACK_PAGES below the top of `slot`; 0 or -ENOMEM (what was mapped
 * stays, for stack_unmap). */
static int stack_map(struct proc *p, int slot)
{
	uint64_t top = stack_top(slot);
	for (uint64_t va = top - STACK_PAGES * PAGE_SIZE; va < top; va += PAGE_SIZE) {
		uint64_t page = pmm_alloc_user_page();
		if (!page || aspace_map(p->as, va, page, PAGE_WRITE) < 0) {
			if (page)
				pmm_free_page(page);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Unmaps and frees p's user pages in [from, to) (page-aligned): a TLB
 * shootdown per UNMAP_BATCH pages, not one a page. */
static void unmap_free(struct proc *p, uint64_t from, uint64_t to)
{
	uint64_t pages[UNMAP_BATCH];
	while (from < to) {
		size_t n = MIN((to - from) / PAGE_SIZE, (uint64_t)UNMAP_BATCH);
		aspace_unmap_range(p->as, from, n, pages);
		ipc_unmap_barrier();	/* a copy from another process is done with them */
		for (size_t i = 0; i < n; i++)
			if (pages[i])
				pmm_free_page(pages[i]);
		from += n * PAGE_SIZE;
	}
}

static void stack_unmap(struct proc *p, int slot)
{
	uint64_t top = stack_top(slot);
	unmap_free(p, top - STACK_PAGES * PAGE_SIZE, top);
}

/* Which stack's guard holds addr, or -2 if none (-1: the first thread's). */
static int guard_slot(uint64_t addr)
{
	if (addr >= ARCH_USER_TOP || addr < stack_top(STACK_SLOTS - 1) - STACK_STRIDE)
		return -2;
	int slot = (int)((ARCH_USER_TOP - 1 - addr) / STACK_STRIDE) - 1;
	uint64_t top = stack_top(slot);
	return addr < top - STACK_PAGES * PAGE_SIZE ? slot : -2;
}

/* ---- processes ---- */

/* A new process with an empty space, on the list, pid given; NULL at the
 * limit or out of memory (*err says which). tree_lock held. */
static uint64_t proc_limit_refusals;	/* tree_lock */

static struct proc *proc_alloc(const char *name, struct proc *parent, int *err)
{
	if (nprocs >= proc_max()) {
		proc_limit_refusals++;
		*err = -EAGAIN;
		return NULL;
	}
	struct proc *p = kmem_zalloc(sizeof(*p), KM_USER);
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->as = aspace_create();
	if (!p->as) {
		kmem_free(p);
		*err = -ENOMEM;
		return NULL;
	}
	p->pid = next_pid++;
	strlcpy(p->name, name, sizeof(p->name));
	p->parent = parent;
	p->kernel_waits = parent == NULL;
	p->utest_verdict = -1;
	spin_init(&p->tlock, "proc.threads");
	list_init(&p->children);
	list_init(&p->threads);
	list_init(&p->sibling);
	if (parent)
		list_add_tail(&parent->children, &p->sibling);
	list_add_tail(&all_procs, &p->all_link);
	nprocs++;
	return p;
}

/* Frees a zombie: joins its threads, leaves the lists. tree_lock held. */
static void proc_free(struct proc *p)
{
	while (!list_empty(&p->threads)) {
		struct thread *t = list_entry(p->threads.next, struct thread, proc_link);
		list_remove(&t->proc_link);
		thread_join(t);
	}
	list_remove(&p->sibling);
	list_remove(&p->all_link);
	nprocs--;
	kmem_free(p);
}

/* Undoes proc_alloc for a process that never ran a thread. tree_lock held. */
static void proc_abandon(struct proc *p)
{
	ipc_proc_exit(p);
	aspace_destroy(p->as);
	p->as = NULL;
	proc_free(p);
}

static struct proc *proc_by_pid(int pid)
{
	struct list *pos;
	list_for_each(pos, &all_procs) {
		struct proc *p = list_entry(pos, struct proc, all_link);
		if (p->pid == pid)
			return p;
	}
	return NULL;
}

/* The thread that runs a process's code: into ring 3 through its frame. */
static void user_thread_main(void *arg)
{
	(void)arg;
	struct trap_frame *tf = arch_user_frame(curthread);
	arch_irq_disable();
	proc_return_to_user(tf);
	arch_enter_user(tf);
}

/*
 * The kernel side of a new thread of p: struct, kernel stack, its
 * segment-base op over its FPU op; not started, not yet on p's list
 * (user_thread_add puts it there; thread_discard undoes this). NULL when
 * the kernel memory for it may not be had. tree_lock held.
 */
static struct thread *user_thread_alloc(struct proc *p)
{
	struct thread *t = thread_try_prepare(p->name, user_thread_main, NULL,
					      THREAD_USER | THREAD_FPU, -1, PRIO_NORMAL);
	if (!t)
		return NULL;
	t->proc = p;
	t->aspace = p->as;
	struct ctxop *op = ctxop_allocate_flags(segbase_template(), t, KM_USER);
	if (!op) {
		thread_discard(t);
		return NULL;
	}
	ctxop_attach(t, op);
	return t;
}

/* Gives t its frame, a copy of `from` (fork) or fresh (rip, rsp, arg0,
 * arg1), and its stack slot, and puts it on p's list. tree_lock held. */
static void user_thread_add(struct proc *p, struct thread *t, int slot,
			    const struct trap_frame *from, uint64_t rip, uint64_t rsp,
			    uint64_t arg0, uint64_t arg1)
{
	t->stack_slot = slot;
	struct trap_frame *tf = arch_user_frame(t);
	if (from)
		memcpy(tf, from, ARCH_USER_FRAME_SIZE);
	else
		arch_uregs_init(tf, rip, rsp, arg0, arg1);
	unsigned long irq = spin_lock_irqsave(&p->tlock);
	list_add_tail(&p->threads, &t->proc_link);
	p->nlive++;
	spin_unlock_irqrestore(&p->tlock, irq);
}

/* tree_lock held: is the caller's process dying? Then a call that would
 * make something gives up (-EINTR) rather than leave it behind. */
static bool caller_dying(void)
{
	struct thread *me = curthread;
	return (me->flags & THREAD_USER) && me->proc->dying;
}

/* ---- argv on the new stack ---- */

/*
 * Lays argv out below the stack's top: the strings, then the array of
 * pointers (NULL-terminated), 16-byte aligned. Returns the user address of
 * the array (*sp: the new stack pointer), or 0 if it does not fit.
 */
static uint64_t push_argv(struct proc *p, int argc, const char *const argv[], uint64_t *sp)
{
	uint64_t top = stack_top(-1), at = top;
	uint64_t ptrs[PROC_ARGV_MAX + 1];
	for (int i = argc - 1; i >= 0; i--) {
		size_t len = strlen(argv[i]) + 1;
		at -= len;
		ptrs[i] = at;
	}
	ptrs[argc] = 0;
	at = ALIGN_DOWN(at, 16) - ALIGN_UP((uint64_t)(argc + 1) * 8, 16);
	if (top - at > STACK_PAGES * PAGE_SIZE / 2)
		return 0;
	/* the pages are mapped and ours: write through their physical addresses */
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]) + 1;
		for (size_t k = 0; k < len; k++)
			*(char *)aspace_lookup(p->as, ptrs[i] + k, NULL) = argv[i][k];
	}
	for (int i = 0; i <= argc; i++)
		for (int k = 0; k < 8; k++)
			*(uint8_t *)aspace_lookup(p->as, at + (uint64_t)i * 8 + (uint64_t)k, NULL) =
				(uint8_t)(ptrs[i] >> (8 * k));
	*sp = at;
	return at;
}

/* ---- I/O ports ---- */

/* Makes s p's set of ports, in its space as well (every CPU has it when
 * this returns). 0, or -ESRCH for a process that has ended. tree_lock
 * held. */
static int ports_set_locked(struct proc *p, const struct ioport_set *s)
{
	if (p->state != PROC_LIVE || !p->as)
		return -ESRCH;
	if (ioport_set_equal(&p->ports, s))
		return 0;		/* no change: no IPIs */
	aspace_set_ports(p->as, s);
	p->ports = *s;
	return 0;
}

/* Adds first..last to p's ports. tree_lock held. */
static int ports_add_locked(struct proc *p, unsigned first, unsigned last)
{
	struct ioport_set s = p->ports;
	if (ioport_set_add(&s, first, last) < 0)
		return -EINVAL;
	return ports_set_locked(p, &s);
}

int proc_grant_ports(struct proc *p, unsigned base, unsigned count)
{
	if (!ioport_range_ok(base, count))
		return -EINVAL;
	mutex_lock(&tree_lock);
	int err = ports_add_locked(p, base, base + count - 1);
	mutex_unlock(&tree_lock);
	return err;
}

/* ---- spawn ---- */

static int spawn_common(const char *name, int argc, const char *const argv[], struct proc *parent,
			unsigned port_base, unsigned port_count, const int *handles, int nhandles);

int proc_spawn(const char *name, int argc, const char *const argv[], struct proc *parent)
{
	return spawn_common(name, argc, argv, parent, 0, 0, NULL, 0);
}

int proc_spawn_ports(const char *name, int argc, const char *const argv[], struct proc *parent,
		     unsigned port_base, unsigned port_count)
{
	return spawn_common(name, argc, argv, parent, port_base, port_count, NULL, 0);
}

int proc_spawn_handles(const char *name, int argc, const char *const argv[], struct proc *parent,
		       const int *handles, int nhandles)
{
	return spawn_common(name, argc, argv, parent, 0, 0, handles, nhandles);
}

static int spawn_common(const char *name, int argc, const char *const argv[], struct proc *parent,
			unsigned port_base, unsigned port_count, const int *handles, int nhandles)
{
	sched_assert_can_sleep("proc_spawn");
	if (port_count && !ioport_range_ok(port_base, port_count))
		return -EINVAL;
	if (argc < 1 || argc > PROC_ARGV_MAX)
		return -E2BIG;
	const struct program *prog = program_find(name);
	if (!prog)
		return -ENOENT;
	mutex_lock(&tree_lock);
	if (parent && caller_dying()) {
		mutex_unlock(&tree_lock);
		return -EINTR;
	}
	int err = 0;
	struct proc *p = proc_alloc(name, parent, &err);
	if (!p) {
		mutex_unlock(&tree_lock);
		return err;
	}
	/* the kernel side first: user memory cannot then starve it */
	struct thread *t = user_thread_alloc(p);
	if (!t) {
		proc_abandon(p);
		mutex_unlock(&tree_lock);
		return -ENOMEM;
	}
	char why[128];
	struct elf_image img;
	err = elf_load(p->as, prog->image, prog->size, &img, why, sizeof(why));
	if (err == -ENOEXEC)
		printk("proc: program '%s' refused: %s\n", name, why);
	uint64_t sp = 0, uargv = 0;
	if (!err)
		err = stack_map(p, -1);
	if (!err && !(uargv = push_argv(p, argc, argv, &sp)))
		err = -E2BIG;
	if (!err && port_count)		/* before its first instruction */
		err = ports_add_locked(p, port_base, port_base + port_count - 1);
	if (!err && nhandles)		/* the same */
		err = ipc_spawn_handles(parent, p, handles, nhandles);
	if (err) {
		thread_discard(t);
		proc_abandon(p);
		mutex_unlock(&tree_lock);
		return err;
	}
	p->brk_base = p->brk = ALIGN_UP(img.end, PAGE_SIZE);
	user_thread_add(p, t, -1, NULL, img.entry, sp, (uint64_t)argc, uargv);
	int pid = p->pid;
	thread_launch(t);
	mutex_unlock(&tree_lock);
	return pid;
}

/* ---- ending ---- */

/* Asks every other thread of p to come into the kernel and end. */
static void kick_threads(struct proc *p)
{
	unsigned long irq = spin_lock_irqsave(&p->tlock);
	struct list *pos;
	list_for_each(pos, &p->threads) {
		struct thread *t = list_entry(pos, struct thread, proc_link);
		t->user_work = 1;	/* the system call's fast way out looks at it */
		if (t != curthread && !t->exited && t->state == TS_RUNNING && t->cpu != cpu_id())
			smp_send_resched(t->cpu);
		if (t != curthread && !t->exited) {
			ipc_kick(t);	/* out of an IPC wait */
			vmm_kick_thread(t);	/* out of a guest (vm_run_user) */
		}
	}
	spin_unlock_irqrestore(&p->tlock, irq);
	cv_broadcast(&tree_cv);		/* the interruptible sleepers */
}

/* Starts p's end with `status`, unless it has begun already. Any context. */
static bool proc_begin_dying(struct proc *p, int status)
{
	int expected = 0;
	if (!__atomic_compare_exchange_n(&p->dying, &expected, 1, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return false;
	p->status = status;
	kick_threads(p);
	return true;
}

/* The last thread of p is ending: take the process apart. tree_lock held;
 * every thread of p has left its space (proc_thread_end). */
static void proc_teardown(struct proc *p)
{
	ipc_proc_exit(p);		/* its handles: servers' clients learn it */
	aspace_destroy(p->as);
	p->as = NULL;
	p->ports = (struct ioport_set){ 0 };	/* a zombie holds no ports (ps) */

	/* orphans: the zombies among them go to the reaper at once, the live
	 * ones when they end */
	while (!list_empty(&p->children)) {
		struct proc *c = list_entry(p->children.next, struct proc, sibling);
		list_remove(&c->sibling);
		c->parent = NULL;
		if (c->state == PROC_ZOMBIE) {
			list_add_tail(&orphans, &c->sibling);
			sem_post(&reaper_sem);
		}
	}
	p->state = PROC_ZOMBIE;
	if (!p->parent && !p->kernel_waits) {
		list_add_tail(&orphans, &p->sibling);
		sem_post(&reaper_sem);
	}
}

/* The calling thread leaves its process (and, if it is the last, ends it);
 * then the thread exits. */
uint64_t proc_test_leave_delay_ns;

static __noreturn void proc_thread_end(void)
{
	struct thread *me = curthread;
	struct proc *p = me->proc;
	ipc_thread_exit(me);		/* the reply right it held: its caller learns it */
	mutex_lock(&tree_lock);
	/* Off the space before it stops counting as live: once nlive says it
	 * has gone, the last thread may destroy the space while this one
	 * still has switches to make (preempted before its thread_exit), and
	 * schedule() would load whatever a thread's aspace names. */
	unsigned long irq = arch_irq_save();
	me->aspace = NULL;			/* a kernel thread from now on */
	aspace_activate(aspace_kernel());
	arch_irq_restore(irq);
	irq = spin_lock_irqsave(&p->tlock);
	me->exited = true;
	bool last = --p->nlive == 0;
	spin_unlock_irqrestore(&p->tlock, irq);
	if (last) {
		if (!p->dying)
			proc_begin_dying(p, 0);	/* the last thread left: exit(0) */
		proc_teardown(p);
	}
	cv_broadcast(&tree_cv);
	mutex_unlock(&tree_lock);
	if (unlikely(proc_test_leave_delay_ns) && !last)
		thread_sleep(proc_test_leave_delay_ns);	/* a test widens the window */
	thread_exit();
}

void proc_fault(const char *what, const char *detail, bool has_addr, uint64_t addr, uint64_t pc,
		int sig)
{
	struct thread *t = curthread;
	struct proc *p = t->proc;
	char at[32] = "";
	char guard[64] = "";
	if (has_addr) {
		snprintf(at, sizeof(at), " at 0x%lx", addr);
		int slot = guard_slot(addr);
		if (slot != -2)
			snprintf(guard, sizeof(guard), "; stack overflow (the guard below %s stack)",
				 slot == -1 ? "the first thread's" : "a thread's");
	}
	char line[PROC_FAULT_MAX];
	snprintf(line, sizeof(line), "process %d '%s' thread %lu: %s%s%s, rip 0x%lx%s; killed",
		 p->pid, p->name, t->id, what, detail ? detail : "", at, pc, guard);
	printk("proc: %s\n", line);
	/* the fault that ends it is the one its waiter hears of (this thread
	 * is live, so nobody reads p->fault before it has been written) */
	if (proc_begin_dying(p, -sig))
		strlcpy(p->fault, line, sizeof(p->fault));
}

int proc_kill(int pid)
{
	mutex_lock(&tree_lock);
	struct proc *p = proc_by_pid(pid);
	int err = p ? 0 : -ESRCH;
	if (p && p->state == PROC_LIVE)
		proc_begin_dying(p, WAIT_KILLED);
	mutex_unlock(&tree_lock);
	return err;
}

void proc_return_to_user(struct trap_frame *tf)
{
	struct thread *t = curthread;
	for (;;) {
		arch_irq_disable();
		if (t->preempt_count || t->nlocks_held)
			panic("proc_return_to_user: thread %lu '%s' returns to ring 3 with "
			      "preemption disabled or a lock held ('%s')", t->id, t->name,
			      t->nlocks_held ? t->locks_held[0] : "-");
		if (t->proc->dying) {
			arch_irq_enable();
			proc_thread_end();
		}
		if (!arch_uregs_pc_canonical(tf)) {
			arch_irq_enable();
			proc_fault("return to a non-canonical address", NULL, true, arch_uregs_pc(tf),
				   arch_uregs_pc(tf), PROC_SIG_SEGV);
			continue;
		}
		if (!this_cpu()->need_resched)
			return;			/* interrupts off: straight to ring 3 */
		schedule();
	}
}

/* ---- waiting and reaping ---- */

/* The reaper: frees the zombies nobody waits for (orphans). */
static void reaper_main(void *arg)
{
	(void)arg;
	for (;;) {
		sem_wait(&reaper_sem);
		mutex_lock(&tree_lock);
		while (!list_empty(&orphans)) {
			struct proc *p = list_entry(orphans.next, struct proc, sibling);
			list_remove(&p->sibling);
			list_init(&p->sibling);
			proc_free(p);
		}
		mutex_unlock(&tree_lock);
	}
}

struct proc *proc_kernel_child(int pid)
{
	mutex_lock(&tree_lock);
	struct proc *p = proc_by_pid(pid);
	if (p && !p->kernel_waits)
		p = NULL;
	mutex_unlock(&tree_lock);
	return p;
}

int proc_wait(int pid, uint64_t timeout_ns, struct proc_end *end)
{
	uint64_t deadline = timeout_ns ? clock_ns() + timeout_ns : 0;
	mutex_lock(&tree_lock);
	struct proc *p = proc_by_pid(pid);
	if (!p || !p->kernel_waits) {
		mutex_unlock(&tree_lock);
		return -ECHILD;
	}
	while (p->state != PROC_ZOMBIE) {
		uint64_t now = clock_ns();
		if (deadline && now >= deadline) {
			mutex_unlock(&tree_lock);
			return -EAGAIN;
		}
		cv_timedwait(&tree_cv, &tree_lock, deadline ? deadline - now : 0);
	}
	end->status = p->status;
	end->utest_verdict = p->utest_verdict;
	strlcpy(end->utest_why, p->utest_why, sizeof(end->utest_why));
	strlcpy(end->fault, p->fault, sizeof(end->fault));
	proc_free(p);
	mutex_unlock(&tree_lock);
	return 0;
}

int proc_quiesce(uint64_t timeout_ns)
{
	uint64_t deadline = clock_ns() + timeout_ns;
	bool killed = false;
	mutex_lock(&tree_lock);
	for (;;) {
		uint64_t now = clock_ns();
		if (nprocs == 0 || (killed && now >= deadline + timeout_ns))
			break;
		if (now >= deadline && !killed) {
			/* still there: end them, and give the reaper the same time again */
			struct list *pos;
			list_for_each(pos, &all_procs) {
				struct proc *p = list_entry(pos, struct proc, all_link);
				if (p->state == PROC_LIVE)
					proc_begin_dying(p, WAIT_KILLED);
			}
			killed = true;
			continue;
		}
		uint64_t until = killed ? deadline + timeout_ns : deadline;
		cv_timedwait(&tree_cv, &tree_lock, until > now ? until - now : 1);
	}
	int left = nprocs;
	mutex_unlock(&tree_lock);
	return killed ? (left ? -left : 1) : 0;
}

/* An interruptible sleep on tree_cv, tree_lock held: false if the caller's
 * process is dying (the call should give up with -EINTR). */
static bool wait_tree(uint64_t timeout_ns)
{
	if (curproc->dying)
		return false;
	cv_timedwait(&tree_cv, &tree_lock, timeout_ns);
	return !curproc->dying;
}

long sys_waitpid(long pid, long ustatus)
{
	struct proc *me = curproc;
	if (ustatus && !user_range_ok((uint64_t)ustatus, sizeof(int)))
		return -EFAULT;
	mutex_lock(&tree_lock);
	for (;;) {
		struct proc *found = NULL, *zombie = NULL;
		struct list *pos;
		list_for_each(pos, &me->children) {
			struct proc *c = list_entry(pos, struct proc, sibling);
			if (pid != -1 && c->pid != pid)
				continue;
			found = c;
			if (c->state == PROC_ZOMBIE) {
				zombie = c;
				break;
			}
		}
		if (!found) {
			mutex_unlock(&tree_lock);
			return -ECHILD;
		}
		if (zombie) {
			int status = zombie->status, cpid = zombie->pid;
			int err = ustatus ? copyout((uint64_t)ustatus, &status, sizeof(status)) : 0;
			if (!err)
				proc_free(zombie);	/* a bad pointer leaves it for a retry */
			mutex_unlock(&tree_lock);
			return err ? err : cpid;
		}
		if (!wait_tree(0)) {
			mutex_unlock(&tree_lock);
			return -EINTR;
		}
	}
}

/* ---- the other system calls ---- */

long sys_exit(long code)
{
	proc_begin_dying(curproc, (int)(code & 0xFF));
	proc_thread_end();
}

long sys_getpid(void)
{
	return curproc->pid;
}

long sys_getppid(void)
{
	mutex_lock(&tree_lock);
	long ppid = curproc->parent ? curproc->parent->pid : 0;
	mutex_unlock(&tree_lock);
	return ppid;
}

/*
 * A process may kill itself and its descendants, nothing else: no user ids
 * here, so the tree is the authority (a shell kills what it ran; a child
 * cannot end its parent, nor a process its sibling, nor anyone the kernel
 * started). The kernel's proc_kill has no such bound.
 */
/* Kills root and, in pre-order, every live process below it (a shell's
 * Ctrl-C: a test runner's cases, a program's children). tree_lock held:
 * the tree stays as it is while we walk it (teardown needs the lock). */
static void kill_subtree(struct proc *root)
{
	struct proc *p = root;
	for (;;) {
		if (p->state == PROC_LIVE)
			proc_begin_dying(p, WAIT_KILLED);
		if (!list_empty(&p->children)) {
			p = list_entry(p->children.next, struct proc, sibling);
			continue;
		}
		while (p != root && p->sibling.next == &p->parent->children)
			p = p->parent;		/* the last child: up */
		if (p == root)
			return;
		p = list_entry(p->sibling.next, struct proc, sibling);
	}
}

long sys_kill(long pid, long flags)
{
	if (pid <= 0 || pid > INT32_MAX)
		return -ESRCH;
	if (flags & ~(long)KILL_TREE)
		return -EINVAL;
	mutex_lock(&tree_lock);
	struct proc *p = proc_by_pid((int)pid);
	long err = p ? -EPERM : -ESRCH;
	for (struct proc *a = p; a; a = a->parent) {
		if (a == curproc) {
			err = 0;
			break;
		}
	}
	if (!err && (flags & KILL_TREE))
		kill_subtree(p);
	else if (!err && p->state == PROC_LIVE)
		proc_begin_dying(p, WAIT_KILLED);
	mutex_unlock(&tree_lock);
	return err;
}

/*
 * A process's name (labs/syscall.md: these two are the lab's, and a
 * student's tree has them as stubs). setname takes a string from user
 * space: bounded, so a name without its NUL within PROC_NAME_MAX is
 * refused (-ENAMETOOLONG) and a bad pointer is -EFAULT, never a fault in
 * the kernel; the name changes under the tree's lock, which ps holds to
 * read it. getname copies one out: the whole name and its NUL, or -ERANGE
 * when the buffer is too small (a cut name would mislead), or -EFAULT.
 */
long sys_setname(long uname)
{
	/* LAB syscall BEGIN: copy the name in, then set it under the lock */
	char name[PROC_NAME_MAX];
	long n = copyinstr(name, (uint64_t)uname, sizeof(name));
	if (n < 0)
		return n;
	if (n == 0)
		return -EINVAL;			/* a process has a name */
	mutex_lock(&tree_lock);
	strlcpy(curproc->name, name, sizeof(curproc->name));
	mutex_unlock(&tree_lock);
	return 0;
	/* LAB syscall STUB
	return -ENOSYS;
	LAB syscall END */
}

long sys_getname(long pid, long ubuf, long len)
{
	/* LAB syscall BEGIN: find the process, copy its name under the lock, then out */
	if (pid < 0 || pid > INT32_MAX || len < 0)
		return -EINVAL;
	char name[PROC_NAME_MAX];
	mutex_lock(&tree_lock);
	struct proc *p = pid ? proc_by_pid((int)pid) : curproc;
	if (p)
		strlcpy(name, p->name, sizeof(name));
	mutex_unlock(&tree_lock);
	if (!p)
		return -ESRCH;
	size_t n = strlen(name);
	if ((size_t)len < n + 1)
		return -ERANGE;
	int err = copyout((uint64_t)ubuf, name, n + 1);	/* not under the lock: it may fault */
	return err ? err : (long)n;
	/* LAB syscall STUB
	return -ENOSYS;
	LAB syscall END */
}

long sys_fork(struct trap_frame *tf)
{
	struct thread *me = curthread;
	struct proc *parent = me->proc;
	if (unlikely(proc_create_hook))
		proc_create_hook();
	mutex_lock(&tree_lock);
	if (caller_dying()) {
		mutex_unlock(&tree_lock);
		return -EINTR;
	}
	int err = 0;
	struct proc *child = proc_alloc(parent->name, parent, &err);
	if (!child) {
		mutex_unlock(&tree_lock);
		return err;
	}
	/* the kernel side first (the thread, the area its FPU state is
	 * copied into), then the copy of the user pages */
	struct thread *t = user_thread_alloc(child);
	if (!t || fpu_fork_prepare(me, t, KM_USER) < 0 ||
	    aspace_copy(child->as, parent->as) < 0 || ipc_fork(parent, child) < 0) {
		if (t)
			thread_discard(t);
		proc_abandon(child);
		mutex_unlock(&tree_lock);
		return -ENOMEM;
	}
	child->brk_base = parent->brk_base;
	child->brk = parent->brk;
	ports_set_locked(child, &parent->ports);	/* inherited; the child is on no CPU */
	/* The child's one thread uses the stack the forking thread used: the
	 * same addresses, copied. The other threads' stacks came along in the
	 * copy, but no thread of the child owns them, and their slots must be
	 * free for the threads the child makes (a slot's stack is mapped when
	 * a thread takes it). The first thread's stack stays: argv is there. */
	for (int i = 0; i < STACK_SLOTS; i++)
		if (bitset_test(parent->stack_slots, (unsigned)i) && i != me->stack_slot)
			stack_unmap(child, i);
	bitset_zero(child->stack_slots, PROC_STACK_SLOT_BITS);
	if (me->stack_slot >= 0)
		bitset_set(child->stack_slots, (unsigned)me->stack_slot);
	user_thread_add(child, t, me->stack_slot, tf, 0, 0, 0, 0);
	arch_uregs_set_return(arch_user_frame(t), 0);	/* fork() returns 0 there */
	ctxop_fork(me, t);
	int pid = child->pid;
	thread_launch(t);
	mutex_unlock(&tree_lock);
	return pid;
}

/*
 * The heap: [brk_base, brk), in whole pages from brk_base up to
 * ALIGN_UP(brk). Growing maps fresh (zeroed) pages, and zeroes the part of
 * the page at the old break that it grows over: that part may hold what
 * the process wrote below a break it has since lowered (or past the break,
 * which the page lets it do), and new memory reads as zeros. Shrinking
 * unmaps the pages wholly above the new break. An increment larger than
 * the free memory is refused at once: taking every page and giving each
 * back (with a TLB shootdown apiece) costs seconds on four CPUs, and
 * starves everyone else meanwhile. (Memory can still run out half way, if
 * others take it: then the pages taken are given back.) "Free" is what
 * user memory may take: the page allocator's reserve is the kernel's.
 */
long sys_sbrk(long increment)
{
	struct proc *p = curproc;
	mutex_lock(&tree_lock);
	uint64_t old = p->brk;
	uint64_t lo = p->brk_base;
	uint64_t down = 0 - (uint64_t)increment;	/* for increment < 0 (LONG_MIN too) */
	long ret = (long)old;
	if (increment > 0 && (uint64_t)increment > HEAP_MAX - (old - lo)) {
		ret = -ENOMEM;
	} else if (increment < 0 && down > old - lo) {
		ret = -EINVAL;
	} else if (increment > 0 &&
		   (ALIGN_UP(old + (uint64_t)increment, PAGE_SIZE) - ALIGN_UP(old, PAGE_SIZE)) /
				   PAGE_SIZE > pmm_available(PMM_USER)) {
		ret = -ENOMEM;		/* more than is free: say so before taking it all */
	} else if (increment > 0) {
		uint64_t from = ALIGN_UP(old, PAGE_SIZE), to = ALIGN_UP(old + (uint64_t)increment, PAGE_SIZE);
		uint64_t va = from;
		for (; va < to; va += PAGE_SIZE) {
			uint64_t page = pmm_alloc_user_page();
			if (!page || aspace_map(p->as, va, page, PAGE_WRITE) < 0) {
				if (page)
					pmm_free_page(page);
				break;
			}
		}
		if (va < to) {			/* out of memory: undo */
			unmap_free(p, from, va);
			ret = -ENOMEM;
		} else {
			p->brk = old + (uint64_t)increment;
			uint64_t tail = MIN(from, p->brk);	/* the old break's page */
			if (tail > old)
				memset((void *)aspace_lookup(p->as, old, NULL), 0, tail - old);
		}
	} else if (increment < 0) {
		uint64_t nbrk = old - down;
		unmap_free(p, ALIGN_UP(nbrk, PAGE_SIZE), ALIGN_UP(old, PAGE_SIZE));
		p->brk = nbrk;
	}
	mutex_unlock(&tree_lock);
	return ret;
}

long sys_thread_create(long entry, long a0, long a1)
{
	struct proc *p = curproc;
	if (!user_range_ok((uint64_t)entry, 1))
		return -EFAULT;
	if (unlikely(proc_create_hook))
		proc_create_hook();
	mutex_lock(&tree_lock);
	if (caller_dying()) {
		mutex_unlock(&tree_lock);
		return -EINTR;
	}
	int slot = -1;
	for (int i = 0; i < STACK_SLOTS; i++)
		if (!bitset_test(p->stack_slots, (unsigned)i)) {
			slot = i;
			break;
		}
	if (slot < 0) {
		mutex_unlock(&tree_lock);
		return -EAGAIN;
	}
	/* the kernel side first, then the user stack */
	struct thread *t = user_thread_alloc(p);
	if (!t || stack_map(p, slot) < 0) {
		if (t) {
			stack_unmap(p, slot);
			thread_discard(t);
		}
		mutex_unlock(&tree_lock);
		return -ENOMEM;
	}
	bitset_set(p->stack_slots, (unsigned)slot);
	/* the entry is a function: its stack as a call leaves it, RSP + 8 a
	 * multiple of 16 (the ABI's), or its aligned SSE stores fault */
	user_thread_add(p, t, slot, NULL, (uint64_t)entry, stack_top(slot) - 8, (uint64_t)a0,
			(uint64_t)a1);
	ctxop_lwp_create(curthread, t);
	long tid = (long)t->id;
	thread_launch(t);
	mutex_unlock(&tree_lock);
	return tid;
}

long sys_thread_join(long tid)
{
	struct proc *p = curproc;
	mutex_lock(&tree_lock);
	for (;;) {
		struct thread *t = NULL;
		unsigned long irq = spin_lock_irqsave(&p->tlock);
		struct list *pos;
		list_for_each(pos, &p->threads) {
			struct thread *c = list_entry(pos, struct thread, proc_link);
			if ((long)c->id == tid && c != curthread)
				t = c;
		}
		bool done = t && t->exited;
		if (done)
			list_remove(&t->proc_link);	/* ours to join: nobody else finds it */
		spin_unlock_irqrestore(&p->tlock, irq);
		if (!t) {
			mutex_unlock(&tree_lock);
			return -ESRCH;
		}
		if (done) {
			if (t->stack_slot >= 0) {
				stack_unmap(p, t->stack_slot);
				bitset_clear(p->stack_slots, (unsigned)t->stack_slot);
			}
			mutex_unlock(&tree_lock);
			thread_join(t);
			return 0;
		}
		if (!wait_tree(0)) {
			mutex_unlock(&tree_lock);
			return -EINTR;
		}
	}
}

long sys_thread_exit(void)
{
	proc_thread_end();
}

/* spawn and spawn_handles: the name and argv copied in, then the start. */
static long spawn_from_user(long uname, long uargv, const int *handles, int nhandles);

long sys_spawn(long uname, long uargv)
{
	return spawn_from_user(uname, uargv, NULL, 0);
}

long sys_spawn_handles(long uname, long uargv, long uhandles, long n)
{
	int handles[PROC_SPAWN_HANDLES];
	if (n < 0 || n > PROC_SPAWN_HANDLES)
		return -EINVAL;
	if (n && copyin(handles, (uint64_t)uhandles, (size_t)n * sizeof(int)))
		return -EFAULT;
	return spawn_from_user(uname, uargv, handles, (int)n);
}

static long spawn_from_user(long uname, long uargv, const int *handles, int nhandles)
{
	char name[PROC_NAME_MAX];
	long n = copyinstr(name, (uint64_t)uname, sizeof(name));
	if (n < 0)
		return n;
	if (unlikely(proc_create_hook))
		proc_create_hook();
	/* argv: up to PROC_ARGV_MAX strings, each bounded; NULL: { name } */
	char *strs = kmem_alloc(PROC_ARGV_MAX * PROC_ARG_MAX, KM_USER);
	if (!strs)
		return -ENOMEM;
	const char *argv[PROC_ARGV_MAX];
	int argc = 0;
	long err = 0;
	if (!uargv) {
		strlcpy(strs, name, PROC_ARG_MAX);
		argv[argc++] = strs;
	}
	while (uargv && !err) {
		uint64_t up;
		err = copyin(&up, (uint64_t)uargv + (uint64_t)argc * 8, sizeof(up));
		if (err || !up)
			break;
		if (argc == PROC_ARGV_MAX) {
			err = -E2BIG;
			break;
		}
		long len = copyinstr(strs + argc * PROC_ARG_MAX, up, PROC_ARG_MAX);
		if (len < 0)
			err = len == -ENAMETOOLONG ? -E2BIG : len;
		else
			argv[argc] = strs + argc * PROC_ARG_MAX, argc++;
	}
	if (!err && argc == 0)
		err = -EINVAL;		/* argv must hold at least argv[0] */
	if (!err)
		err = spawn_common(name, argc, argv, curproc, 0, 0, handles, nhandles);
	kmem_free(strs);
	return err;
}

long sys_sleep(long ns)
{
	if (ns < 0)
		return -EINVAL;
	uint64_t deadline = clock_ns() + (uint64_t)ns;
	mutex_lock(&tree_lock);
	for (uint64_t now = clock_ns(); now < deadline; now = clock_ns()) {
		if (!wait_tree(deadline - now)) {
			mutex_unlock(&tree_lock);
			return -EINTR;
		}
	}
	mutex_unlock(&tree_lock);
	return 0;
}

/* The calling thread's FS or GS base: read, or set to a value in the user
 * half, [0, ARCH_USER_TOP). The CPU takes any canonical base, but one in
 * the kernel's half is no address the process may use, and would read back
 * as a negative number, which a caller takes for an error. */
long sys_segbase(long op, long value)
{
	struct thread *t = curthread;
	uint64_t fs, gs;
	unsigned long irq = arch_irq_save();
	arch_user_segbases_save(&fs, &gs);
	long ret = 0;
	switch (op) {
	case SEGBASE_GET_FS:
		ret = (long)fs;
		break;
	case SEGBASE_GET_GS:
		ret = (long)gs;
		break;
	case SEGBASE_SET_FS:
	case SEGBASE_SET_GS:
		if ((uint64_t)value >= ARCH_USER_TOP || !arch_user_segbase_ok((uint64_t)value)) {
			ret = -EINVAL;
			break;
		}
		if (op == SEGBASE_SET_FS)
			fs = (uint64_t)value;
		else
			gs = (uint64_t)value;
		arch_user_segbases_load(fs, gs);
		t->user_fs = fs;
		t->user_gs = gs;
		break;
	default:
		ret = -EINVAL;
	}
	arch_irq_restore(irq);
	return ret;
}

/* IOPORT_GIVE: the caller must hold every port, and pid be its child (a
 * process is not its own child: none gives itself ports). tree_lock
 * held. */
static long ports_give_locked(struct proc *me, long pid, unsigned first, unsigned last)
{
	if (!ioport_set_holds(&me->ports, first, last))
		return -EPERM;
	struct proc *c = pid > 0 && pid <= INT32_MAX ? proc_by_pid((int)pid) : NULL;
	if (!c)
		return -ESRCH;
	if (c->parent != me)
		return -EPERM;
	return ports_add_locked(c, first, last);
}

bool proc_ports_held(const struct proc *p, unsigned first, unsigned last)
{
	struct ioport_set s = p->ports;	/* a copy: a torn read only misleads a message */
	return ioport_set_holds(&s, first, last);
}

long sys_ioport(long op, long a0, long a1, long a2)
{
	struct proc *me = curproc;
	uint64_t base = (uint64_t)(op == IOPORT_GIVE ? a1 : a0);
	uint64_t count = (uint64_t)(op == IOPORT_GIVE ? a2 : a1);
	if (op < IOPORT_QUERY || op > IOPORT_GIVE || !ioport_range_ok(base, count))
		return -EINVAL;
	unsigned first = (unsigned)base, last = (unsigned)(base + count - 1);
	mutex_lock(&tree_lock);
	struct ioport_set s = me->ports;
	long ret;
	if (op == IOPORT_QUERY) {
		ret = ioport_set_holds(&s, first, last);
	} else if (op == IOPORT_DROP) {
		ret = ioport_set_remove(&s, first, last);
		if (!ret)
			ret = ports_set_locked(me, &s);
	} else {
		ret = ports_give_locked(me, a0, first, last);
	}
	mutex_unlock(&tree_lock);
	return ret;
}

/* The counters are read under tree_lock, as one snapshot: a process is
 * freed (its threads joined, its struct freed) under it too, so a process
 * no longer counted has given back everything. */
long sys_sysinfo(long uinfo)
{
	struct sysinfo si = { 0 };
	struct kmem_stats k;
	si.proc_max = (unsigned long)proc_max();
	si.ncpus = (unsigned long)cpu_count();
	si.window_traps = arch_user_window_traps();
	si.reserve_pages = pmm_reserve_pages();
	si.user_free_pages = pmm_available(PMM_USER);
	si.proc_limit_refusals = proc_limit_refusals;
	uint64_t rewrites, toggles;
	arch_ioport_counters(-1, &rewrites, &toggles);
	si.iobitmap_rewrites = rewrites;
	si.iobitmap_toggles = toggles;
	si.vms = (unsigned long)vm_user_count();
	mutex_lock(&tree_lock);
	kmem_stats(&k);
	si.free_pages = pmm_free_count() + thread_stack_cache_pages() + paging_table_pages() +
			k.pages;
	si.kmem_bytes = k.bytes_in_use;
	si.kmem_objects = k.objects_in_use;
	si.procs = (unsigned long)nprocs;
	struct list *pos;
	list_for_each(pos, &all_procs) {
		struct proc *p = list_entry(pos, struct proc, all_link);
		si.threads += (unsigned long)p->nlive;
		if (p->as)
			si.user_pages += aspace_user_pages(p->as);
	}
	mutex_unlock(&tree_lock);
	return copyout((uint64_t)uinfo, &si, sizeof(si));
}

long sys_utest_result(long verdict, long uwhy)
{
	struct proc *p = curproc;
	char why[sizeof(p->utest_why)] = "";
	if (verdict < UTEST_PASS || verdict > UTEST_SKIP)
		return -EINVAL;
	if (uwhy) {
		long n = copyinstr(why, (uint64_t)uwhy, sizeof(why));
		if (n == -ENAMETOOLONG)
			why[sizeof(why) - 1] = '\0';
		else if (n < 0)
			return n;
	}
	mutex_lock(&tree_lock);
	p->utest_verdict = (int)verdict;
	strlcpy(p->utest_why, why, sizeof(p->utest_why));
	mutex_unlock(&tree_lock);
	return 0;
}

/* ---- the monitor ---- */

void proc_print_all(void)
{
	static const char *const states[] = { "live", "zombie" };
	mutex_lock(&tree_lock);
	printk("  %5s %5s %-24s %-7s %7s %7s %s\n", "pid", "ppid", "name", "state", "threads",
	       "pages", "status");
	struct list *pos;
	list_for_each(pos, &all_procs) {
		struct proc *p = list_entry(pos, struct proc, all_link);
		char ports[64] = "";
		if (p->ports.n) {
			strlcpy(ports, "  ports ", sizeof(ports));
			ioport_set_format(&p->ports, ports + strlen(ports), sizeof(ports) - strlen(ports));
		}
		printk("  %5d %5d %-24s %-7s %7d %7lu %d%s%s\n", p->pid,
		       p->parent ? p->parent->pid : 0, p->name, states[p->state], p->nlive,
		       p->as ? aspace_user_pages(p->as) : 0UL, p->status,
		       p->dying && p->state == PROC_LIVE ? " (dying)" : "", ports);
	}
	mutex_unlock(&tree_lock);
}

void proc_init(void)
{
	mutex_init(&tree_lock, "proc.tree");
	cv_init(&tree_cv, "proc.tree");
	sem_init(&reaper_sem, 0, "proc.reaper");
	program_init();
	thread_create("reaper", reaper_main, NULL, 0);
	arch_user_print_features();
}

/* ---- a process's thread, for the kernel's tests and demos ---- */

struct first_thread {
	int pid;
	uint64_t id;
};

static void first_thread_cb(struct thread *t, void *arg)
{
	struct first_thread *f = arg;
	if (t->proc && t->proc->pid == f->pid && !t->exited && !f->id)
		f->id = t->id;
}

struct thread *proc_first_thread(int pid)
{
	struct first_thread f = { pid, 0 };
	thread_foreach(first_thread_cb, &f);
	if (!f.id)
		return NULL;
	char id[24];
	snprintf(id, sizeof(id), "%lu", f.id);
	return thread_find(id);	/* NULL if it went meanwhile */
}
