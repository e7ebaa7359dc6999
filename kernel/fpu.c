/*
 * kernel/fpu.c - threads' FPU state: a context op, eager and lazy
 * switching, the first use, kernel FPU sections, counters.
 *
 * Theory
 *   The FPU registers (x87, SSE, AVX) are large: 512 bytes with FXSAVE,
 *   832 with AVX, 2.7 KiB with AVX-512. Each THREAD_FPU thread owns a
 *   save area (struct fpu_ctx) and a context op, installed at creation
 *   before any other op: its save runs last on the way out and its restore
 *   first on the way in, so state layered over the thread's own (a vCPU's
 *   guest FPU) is put away before it and brought back after it
 *   (docs/ctxop.md). The instructions that copy the registers are chosen
 *   once at boot (arch_fpu.save / .restore, arch/x86_64/fpu.c); the op's
 *   handlers have them inline where the machine can (arch_fpu_has_inline).
 *
 *   Each CPU records whose state its registers hold (cpu->fpu_owner) and a
 *   state records the CPU that last loaded it (fpu_ctx->last_cpu). Both
 *   must agree for the registers to be trusted: a thread that comes back
 *   to a CPU where nothing else was loaded since pays no restore, and a
 *   thread that ran elsewhere meanwhile is always reloaded (that CPU's
 *   record still names it, but last_cpu does not). Anything that loads
 *   other values into the registers (another thread's restore, a kernel
 *   FPU section) changes fpu_owner first.
 *
 *   CR0.TS makes the next FPU instruction trap (#NM). Threads without
 *   THREAD_FPU always run with TS set: their first FPU instruction is
 *   reported and kills them (arch/x86_64/fpu.c), the kernel goes on.
 *
 *   Eager (fpu=eager, the default): the switch saves the leaving thread's
 *   registers and loads the arriving thread's (unless they are still
 *   there); TS is touched only between FPU and non-FPU threads. Lazy
 *   (fpu=lazy): a thread that used the FPU is saved as it leaves and TS is
 *   set; its next FPU instruction traps, and #NM clears TS and loads its
 *   state (unless still there). A thread that never touches the FPU never
 *   traps and costs nothing; one that does pays one #NM per quantum.
 *   Each CPU keeps its own copy of the policy (cpu->fpu_lazy), changed
 *   only by itself in a cross-CPU call with interrupts off, so the save and
 *   the restore of one switch always agree (fpu_set_policy).
 *   Lazy's price beyond the trap: for a moment after each switch the
 *   registers hold the previous thread's values while TS guards them, and
 *   a CPU that runs instructions speculatively past the #NM check can leak
 *   them (LazyFP, CVE-2018-3665). That is why eager is the default.
 *
 * Invariants
 *   - A thread's area holds its current state whenever it is off-CPU:
 *     the switch saves it if the registers may differ from the area
 *     (cpu->fpu_owner is it and TS is clear: "live").
 *   - TS is set while the running thread does not hold the FPU: every
 *     path that clears TS loads the thread's state with interrupts off,
 *     and the lazy switch re-sets TS only after a thread that held it.
 *   - The Xen rule: nothing sleeps between "TS cleared" and "this thread's
 *     state loaded and recorded as the owner". The first-use allocation
 *     (fpu.alloc=lazy) may sleep, so it happens with TS still set, and the
 *     ownership is decided after it, on whatever CPU the thread wakes on.
 *   - XSAVEOPT: an area is never written by the kernel between a restore
 *     from it and the next save into it, and never shared by two contexts
 *     (each thread has its own; the init state is copied in).
 *   - A freed thread's state is nobody's owner (fpu_ctx_free clears it).
 *
 * Bug history
 *   The run-time policy switch (a test's): with one global read by both
 *   halves of a switch, a save under eager (TS left clear for the next FPU
 *   thread) met a restore under lazy (nothing loaded) when another CPU
 *   flipped the policy in between; the next thread ran on the previous
 *   one's registers. Hence the per-CPU copy.
 *   Xen PV (2013-2015): the hypervisor cleared TS before calling a PV
 *   guest's #NM handler, and Linux (< 4.2) allocated the save area of a
 *   thread's first FPU use in that handler, which could sleep. Another
 *   thread ran meanwhile with TS clear, never trapped, used the registers
 *   without its state being loaded or saved: registers leaked between
 *   tasks. bug=fpu_nm_sleep_ts_clear clears TS before that allocation;
 *   fpu.nm_sleep_us (or a test) makes the allocation sleep while other FPU
 *   threads run, and fpu.nm_sleep_keeps_ts_set / fpu.nm_sleep_bug_detector_trips
 *   show the leak. (docs/fpu.md tells the story.)
 *
 * Locking: all of this runs on the thread's own CPU with interrupts off
 * (the switch, #NM, kfpu bookkeeping). Only fpu_ctx_free touches other
 * CPUs' records, with compare-and-swap, for a thread that can run no more.
 * The monitor never follows another CPU's fpu_owner (its context may be
 * freed by a join as it looks): each CPU keeps beside it a tag, the
 * owner's thread id, written with it, and the monitor reads only that.
 */
#include <fpu.h>
#include <arch.h>
#include <bugs.h>
#include <cmdline.h>
#include <ctxop.h>
#include <mm.h>
#include <monitor.h>
#include <percpu.h>
#include <printf.h>
#include <printk.h>
#include <sched.h>
#include <smp.h>
#include <string.h>
#include <thread.h>
#include <trace.h>
#include <uaccess.h>
#include <uapi/errno.h>
#include <uapi/syscall.h>

BUG_DEFINE(fpu_nm_sleep_ts_clear,
	   "#NM clears TS before the first-use allocation, which may sleep (Xen PV bug 40)");

static int policy_opt;
CMDLINE_ENUM("fpu", policy_opt, "FPU switching policy", "eager", "lazy");
static int alloc_opt;
CMDLINE_ENUM("fpu.alloc", alloc_opt,
	     "FPU save area: at thread creation (eager) or at the first FPU use (lazy)",
	     "eager", "lazy");
static uint64_t nm_sleep_us;
CMDLINE_UINT("fpu.nm_sleep_us", nm_sleep_us, 0, 1000000,
	     "fault injection: the first-use allocation in #NM sleeps this long");

static enum fpu_policy policy;
static enum fpu_alloc alloc;
static uint64_t nm_sleep_ns;

/* One FPU context: a thread's (the argument of its FPU context op), or one
 * layered over a thread's (a guest's, fpu_ctx_create), or the init state. */
struct fpu_ctx {
	void *area;			/* save area, or NULL before first use (fpu.alloc=lazy) */
	struct thread *thread;		/* whose own state this is; NULL if layered */
	uint64_t owner_tag;		/* the CPU's fpu_owner_tag while it is the owner */
	int last_cpu;			/* CPU that last loaded this state; -1: none */
	bool used;			/* loaded at least once */
	struct fpu_counters stats;
};

/* The architectural init state, loaded (never saved) to clear the registers
 * for a thread that has no state of its own yet. As a CPU's fpu_owner it
 * means "the registers hold the init state", so it is loaded once. */
static struct fpu_ctx init_ctx = { .owner_tag = FPU_OWNER_INIT, .last_cpu = -1 };

/* The registers change hands: to f (NULL: the kernel's values, after a
 * kernel FPU section). The tag is what the monitor reads, never f. */
static inline void set_owner_quiet(struct cpu *c, struct fpu_ctx *f)
{
	c->fpu_owner = f;
	c->fpu_owner_tag = f ? f->owner_tag : FPU_OWNER_NONE;
}

/* trace=fpu records, out of line (the paths that call them are short). */
static __attribute__((noinline, cold)) void trace_owner(const struct cpu *c)
{
	trace_log(TR_FPU_OWNER, c->fpu_owner_tag, 0);
}

static __attribute__((noinline, cold)) void trace_ts(bool set)
{
	trace_log(TR_FPU_TS, set, 0);
}

/* set_owner_quiet and its trace record; the switch's restore, which has a
 * record of its own (TR_FPU_RESTORE names the new owner), uses the quiet
 * one. */
static inline void set_owner(struct cpu *c, struct fpu_ctx *f)
{
	set_owner_quiet(c, f);
	if (trace_on(TRACE_FPU))
		trace_owner(c);
}

/* ---- small steps, on this CPU, interrupts off ---- */

static inline void ts_set(struct cpu *c)
{
	arch_fpu_set_ts();
	c->fpu_ts = true;
	if (trace_on(TRACE_FPU))
		trace_ts(true);
}

static inline void ts_clear(struct cpu *c)
{
	arch_fpu_clear_ts();
	c->fpu_ts = false;
	if (trace_on(TRACE_FPU))
		trace_ts(false);
}

/* The registers hold f's state and f may have changed it since its last
 * save (TS is clear): they must be saved before anything else loads. */
static inline bool is_live(const struct cpu *c, const struct fpu_ctx *f)
{
	return c->fpu_owner == f && !c->fpu_ts;
}

/* The trace records of a save and a restore (trace=fpu), out of line: the
 * switch's path then bumps the counters in memory and keeps no copy of
 * them for a call it almost never makes. */
static __attribute__((noinline, cold)) void trace_fpu(uint32_t type, const struct cpu *c,
						       const struct fpu_ctx *f)
{
	trace_log3(type, f->thread ? f->thread->id : TRACE_NO_THREAD,
		   type == TR_FPU_SAVE ? c->fpu.saves : c->fpu.restores, f->owner_tag);
}

/* f's registers into its area. f is live. */
static inline void save(struct cpu *c, struct fpu_ctx *f)
{
	arch_fpu.save(f->area);
	c->fpu.saves++;
	f->stats.saves++;
	if (trace_on(TRACE_FPU))
		trace_fpu(TR_FPU_SAVE, c, f);
}

/* Whatever context the registers hold live is saved into its area, so that
 * something else may be loaded (the init state is never saved). */
static void put_away_live(struct cpu *c)
{
	struct fpu_ctx *o = c->fpu_owner;
	if (o && o != &init_ctx && !c->fpu_ts)
		save(c, o);
}

/* The records of a restore after its counters: the first use, the trace. */
static inline void after_restore(struct cpu *c, struct fpu_ctx *f)
{
	if (!f->used) {
		f->used = true;
		c->fpu.first_uses++;
		f->stats.first_uses++;
	}
	if (trace_on(TRACE_FPU))
		trace_fpu(TR_FPU_RESTORE, c, f);
}

/*
 * Makes f's state the registers' on this CPU, TS clear: loads it from the
 * area unless this CPU's registers still hold it (this CPU loaded it last,
 * and nothing else was loaded here since).
 */
static inline void activate(struct cpu *c, struct fpu_ctx *f)
{
	if (c->fpu_ts)
		ts_clear(c);
	if (c->fpu_owner == f && f->last_cpu == c->id)
		return;
	arch_fpu.restore(f->area);
	set_owner_quiet(c, f);		/* after_restore's record says it */
	f->last_cpu = c->id;
	c->fpu.restores++;
	f->stats.restores++;
	after_restore(c, f);
}

/*
 * Eager switching, into an FPU thread that has no state yet (fpu.alloc=lazy,
 * before its first FPU instruction): it runs with TS set, and the registers
 * must not hold another context's values meanwhile (only a TS check would
 * stand between them and it: the LazyFP window). Load the init state, once
 * (the owner record says when it is there already); the previous owner's
 * state is in its area (the switch saved it, or it was not live).
 */
static void clear_registers(struct cpu *c)
{
	if (c->fpu_owner != &init_ctx) {
		if (c->fpu_ts)
			ts_clear(c);
		arch_fpu.restore(init_ctx.area);
		set_owner(c, &init_ctx);
		c->fpu.clears++;
	}
	if (!c->fpu_ts)
		ts_set(c);
}

/* Eager: an FPU thread's own state into the registers, TS clear; or, if it
 * has none yet, the init state with TS set, so that its first FPU
 * instruction allocates it. */
static inline void load_own(struct cpu *c, struct fpu_ctx *own)
{
	if (!own->area)
		clear_registers(c);
	else
		activate(c, own);
}

/*
 * The registers and TS as c's policy has them for the thread running on c,
 * when nothing but that thread's own state can be live there: eager, its
 * state loaded (load_own); lazy, or a thread without THREAD_FPU, TS set
 * unless its own state is live.
 */
static void settle(struct cpu *c)
{
	struct fpu_ctx *own = c->thread ? c->thread->fpu : NULL;
	if (!c->fpu_lazy && own)
		load_own(c, own);
	else if (!c->fpu_ts && !(own && c->fpu_owner == own))
		ts_set(c);
}

/* A save area in the init state, or NULL (KM_NOSLEEP only). */
static void *new_area(int kmflags)
{
	void *a = kmem_alloc_aligned(arch_fpu_area_size(), ARCH_FPU_AREA_ALIGN, kmflags);
	if (a)
		arch_fpu_area_init(a);
	return a;
}

/* ---- the context op ---- */

/*
 * Switch-out of f's thread: schedule(), interrupts off, curthread still
 * f's thread; this_cpu()->switch_next is the thread about to run.
 *
 * The handlers come in two builds of one body: with the copy inline (the
 * op's handlers when the boot's mechanism is one arch_fpu_has_inline
 * names, XSAVEOPT and XRSTOR) and with the copy called through arch_fpu
 * (every other mechanism). The inline build's usual path calls nothing:
 * whatever needs a call (TS, the trace, a first use, a thread without its
 * area) is a tail call to a second function, so GCC keeps no registers for
 * it. The switch runs these at every hand-off of a user thread (docs/user.md,
 * "Why user.yield misses its goal").
 */
static __attribute__((noinline)) void save_tail(struct cpu *c, struct fpu_ctx *f, bool live)
{
	if (live && trace_on(TRACE_FPU))
		trace_fpu(TR_FPU_SAVE, c, f);
	/* Lazy: the next FPU instruction of whoever runs must trap. Only a
	 * thread that held the FPU re-sets TS (Linux < 4.2 did the same:
	 * what the Xen bug got past). Eager: TS is for non-FPU threads. */
	if (c->fpu_lazy ? live : !(c->switch_next->flags & THREAD_FPU))
		ts_set(c);
}

static inline __attribute__((always_inline)) void ctx_save(struct fpu_ctx *f, bool inl)
{
	struct cpu *c = this_cpu();
	if (c->fpu_ts)
		return;			/* nothing is live, and the next thread traps */
	bool live = c->fpu_owner == f;	/* is_live: TS is clear */
	if (live) {
		if (inl)
			arch_fpu_save_inline(f->area);
		else
			arch_fpu.save(f->area);
		c->fpu.saves++;
		f->stats.saves++;
	}
	if (unlikely(c->fpu_lazy || trace_on(TRACE_FPU) || !(c->switch_next->flags & THREAD_FPU)))
		save_tail(c, f, live);
}

/* after_restore, out of line for the handlers' usual path */
static __attribute__((noinline)) void restore_tail(struct cpu *c, struct fpu_ctx *f)
{
	after_restore(c, f);
}

static __attribute__((noinline)) void restore_slow(struct cpu *c, struct fpu_ctx *f)
{
	load_own(c, f);
}

/* Switch-in of f's thread: finish_switch, interrupts off. activate() for
 * an eager thread that has its area and finds TS clear; load_own else. */
static inline __attribute__((always_inline)) void ctx_restore(struct fpu_ctx *f, bool inl)
{
	struct cpu *c = this_cpu();
	if (c->fpu_lazy)
		return;			/* TS is set: the first FPU instruction loads it */
	if (unlikely(!f->area || c->fpu_ts)) {
		restore_slow(c, f);
		return;
	}
	if (c->fpu_owner == f && f->last_cpu == c->id)
		return;			/* still in the registers */
	if (inl)
		arch_fpu_restore_inline(f->area);
	else
		arch_fpu.restore(f->area);
	set_owner_quiet(c, f);		/* restore_tail's record says it */
	f->last_cpu = c->id;
	c->fpu.restores++;
	f->stats.restores++;
	if (unlikely(!f->used || trace_on(TRACE_FPU)))
		restore_tail(c, f);
}

static void fpu_ctx_save(void *arg) { ctx_save(arg, true); }
static void fpu_ctx_restore(void *arg) { ctx_restore(arg, true); }
static void fpu_ctx_save_called(void *arg) { ctx_save(arg, false); }
static void fpu_ctx_restore_called(void *arg) { ctx_restore(arg, false); }

/* The thread is freed: its state must be nobody's. */
static void fpu_ctx_free(void *arg, int isexec)
{
	struct fpu_ctx *f = arg;
	(void)isexec;
	for (int i = 0; i < MAX_CPUS; i++) {
		struct fpu_ctx *expect = f;
		uint64_t tag = f->owner_tag;
		/* the tag after the owner: if CPU i has taken another owner
		 * since, its set_owner wrote (or will write) that one's tag */
		if (__atomic_compare_exchange_n(&cpus[i].fpu_owner, &expect, NULL, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			__atomic_compare_exchange_n(&cpus[i].fpu_owner_tag, &tag, FPU_OWNER_NONE,
						    false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
	if (f->thread && f->thread->fpu == f)
		f->thread->fpu = NULL;
	if (f->area)
		kmem_free(f->area);
	kmem_free(f);
}

/* Process fork: the child's first thread starts with the forking thread's
 * FPU state, as it is in the registers now. May sleep (the child's area,
 * unless fpu_fork_prepare has given it one, as kernel/proc.c does). */
static void fpu_ctx_fork(void *parent, void *child)
{
	struct fpu_ctx *pf = ((struct thread *)parent)->fpu, *cf = ((struct thread *)child)->fpu;
	if (!pf || !cf || !pf->area)
		return;			/* no state yet: the child starts in the init state */
	if (!cf->area)
		cf->area = new_area(KM_SLEEP);
	kpreempt_disable();
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	if (is_live(c, pf))
		save(c, pf);		/* the registers into the parent's area first */
	arch_irq_restore(irq);
	memcpy(cf->area, pf->area, arch_fpu_area_size());
	kpreempt_enable();
}

static const struct ctxop_template fpu_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = fpu_ctx_save,
	.ct_restore = fpu_ctx_restore,
	.ct_fork = fpu_ctx_fork,
	.ct_free = fpu_ctx_free,
};

/* The same op with the copies called through arch_fpu, for a mechanism
 * the machine has no inline copy of (fpu_thread_create picks). */
static const struct ctxop_template fpu_tpl_called = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = fpu_ctx_save_called,
	.ct_restore = fpu_ctx_restore_called,
	.ct_fork = fpu_ctx_fork,
	.ct_free = fpu_ctx_free,
};

int fpu_thread_create(struct thread *t, int kmflags)
{
	if (t->ctxops)
		panic("fpu_thread_create: thread %s already has context ops; the FPU op must "
		      "be the first", t->name);
	struct fpu_ctx *f = kmem_zalloc(sizeof(*f), kmflags);
	if (!f)
		return -ENOMEM;
	f->thread = t;
	f->owner_tag = t->id;
	f->last_cpu = -1;
	if (alloc == FPU_ALLOC_EAGER && !(f->area = new_area(kmflags))) {
		kmem_free(f);
		return -ENOMEM;
	}
	struct ctxop *op = ctxop_allocate_flags(arch_fpu_has_inline() ? &fpu_tpl : &fpu_tpl_called, f, kmflags);
	if (!op) {
		kmem_free(f->area);
		kmem_free(f);
		return -ENOMEM;
	}
	t->fpu = f;
	ctxop_attach(t, op);
	return 0;
}

int fpu_fork_prepare(struct thread *parent, struct thread *child, int kmflags)
{
	struct fpu_ctx *pf = parent->fpu, *cf = child->fpu;
	if (!pf || !cf || !pf->area || cf->area)
		return 0;		/* fpu_ctx_fork will need no area */
	cf->area = new_area(kmflags);
	return cf->area ? 0 : -ENOMEM;
}

/* ---- contexts layered over a thread's own (a guest's FPU) ---- */

struct fpu_ctx *fpu_ctx_create_flags(int kmflags)
{
	sched_assert_can_sleep("fpu_ctx_create");
	struct fpu_ctx *f = kmem_zalloc(sizeof(*f), kmflags);
	if (!f)
		return NULL;
	f->owner_tag = FPU_OWNER_LAYERED;
	f->last_cpu = -1;
	f->area = new_area(kmflags);
	if (!f->area) {
		kmem_free(f);
		return NULL;
	}
	return f;
}

struct fpu_ctx *fpu_ctx_create(void)
{
	return fpu_ctx_create_flags(KM_SLEEP);
}

void fpu_ctx_destroy(struct fpu_ctx *f)
{
	if (f->thread)
		panic("fpu_ctx_destroy: the context of thread %s is freed with its thread",
		      f->thread->name);
	fpu_ctx_free(f, 0);
}

/* The caller must keep its CPU: interrupts or preemption off. Checked on
 * entry, before the function's own arch_irq_save (after it the check
 * could never fire). */
static void check_keeps_cpu(const char *fn)
{
	struct thread *t = curthread;
	if (arch_irq_enabled() && t->preempt_count == 0)
		panic("%s: call with preemption or interrupts disabled (thread %s)", fn, t->name);
}

void fpu_ctx_load(struct fpu_ctx *f)
{
	check_keeps_cpu("fpu_ctx_load");
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	if (c->fpu_owner != f)
		put_away_live(c);
	activate(c, f);
	arch_irq_restore(irq);
}

void fpu_ctx_put(struct fpu_ctx *f)
{
	check_keeps_cpu("fpu_ctx_put");
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	if (is_live(c, f))
		save(c, f);
	if (c->fpu_owner == f && !c->fpu_ts)
		ts_set(c);
	arch_irq_restore(irq);
}

void fpu_ctx_unload(struct fpu_ctx *f)
{
	check_keeps_cpu("fpu_ctx_unload");
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	fpu_ctx_put(f);
	/* the thread's own state, as its policy has it: loaded, or the init
	 * state if it has none yet (eager: not the guest's registers under
	 * TS), or left to its next FPU instruction (lazy; TS is set) */
	settle(c);
	arch_irq_restore(irq);
}

/* ---- #NM ---- */

/*
 * The save area of a thread's first FPU use (fpu.alloc=lazy), from the
 * #NM handler. The allocation may sleep, and with it the thread: TS stays
 * set (the Xen rule), so whoever runs meanwhile still traps on its own
 * first FPU instruction. bug=fpu_nm_sleep_ts_clear clears it first, as
 * Xen PV did before calling the guest's handler.
 */
static void *first_use_area(bool may_sleep)
{
	struct cpu *c = this_cpu();
	if (bug_on(fpu_nm_sleep_ts_clear) && c->fpu_ts)
		ts_clear(c);
	/* LAB lazyfpu BEGIN: an allocation that may sleep, TS kept set (labs/lazyfpu.md) */
	if (!may_sleep)
		return new_area(KM_NOSLEEP);
	/* A synchronous fault in thread context may sleep as the code it
	 * interrupted could: leave the trap's nesting count while we do. */
	c->trap_depth--;
	arch_irq_enable();
	if (nm_sleep_ns)
		thread_sleep(nm_sleep_ns);	/* fault injection: the allocator sleeps */
	/* a user thread's area is memory for a user request: refused rather
	 * than waited for, and the process is killed (arch/x86_64/fpu.c) */
	void *a = new_area(curthread->flags & THREAD_USER ? KM_USER : KM_SLEEP);
	arch_irq_disable();
	this_cpu()->trap_depth++;		/* maybe on another CPU now */
	return a;
	/* LAB lazyfpu STUB
	return new_area(KM_NOSLEEP);	// never sleeps: fails where memory is short
	LAB lazyfpu END */
}

enum fpu_nm_result fpu_nm_trap(bool may_sleep)
{
	struct cpu *c = this_cpu();
	struct thread *t = c->thread;
	struct fpu_ctx *f = t ? t->fpu : NULL;
	c->fpu.nm_traps++;
	if (trace_on(TRACE_FPU))
		trace_log(TR_FPU_NM, t ? t->id : TRACE_NO_THREAD, c->fpu.nm_traps);
	if (!f)
		return FPU_NM_NOT_FPU_THREAD;
	f->stats.nm_traps++;
	if (!f->area) {
		void *area = first_use_area(may_sleep);
		if (!area)
			return FPU_NM_NO_MEMORY;
		f->area = area;
		c = this_cpu();		/* ownership is decided here, after any sleep */
	}
	activate(c, f);
	return FPU_NM_HANDLED;
}

/* ---- kernel FPU sections ---- */

void kfpu_begin(void)
{
	kpreempt_disable();
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	if (c->kfpu_open)
		panic("kfpu_begin: nested kernel FPU section (thread %s, CPU %d); kfpu_begin "
		      "and kfpu_end do not nest", c->thread ? c->thread->name : "-", c->id);
	c->kfpu_open = true;
	c->kfpu_saved = NULL;
	if (trace_on(TRACE_FPU))
		trace_log(TR_KFPU_BEGIN, 0, 0);
	if (c->fpu_owner && c->fpu_owner != &init_ctx && !c->fpu_ts) {
		c->kfpu_saved = c->fpu_owner;	/* the thread's, or one layered over it */
		put_away_live(c);
	}
	set_owner(c, NULL);		/* the registers will hold the kernel's values */
	if (c->fpu_ts)
		ts_clear(c);
	arch_fpu_load_defaults();
	arch_irq_restore(irq);
}

void kfpu_end(void)
{
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	if (!c->kfpu_open)
		panic("kfpu_end: no kernel FPU section is open (thread %s, CPU %d)",
		      c->thread ? c->thread->name : "-", c->id);
	if (c->kfpu_saved)
		activate(c, c->kfpu_saved);	/* the thread's state, live again */
	else
		settle(c);	/* eager: not the kernel's values under TS */
	if (trace_on(TRACE_FPU))
		trace_log(TR_KFPU_END, 0, 0);
	c->kfpu_open = false;
	c->kfpu_saved = NULL;
	arch_irq_restore(irq);
	kpreempt_enable();
}

/* ---- boot ---- */

static const char *const policy_names[] = { "eager", "lazy" };
static const char *const alloc_names[] = { "at thread creation", "at first use (in #NM)" };

const char *fpu_policy_name(enum fpu_policy p)
{
	return p <= FPU_LAZY ? policy_names[p] : "?";
}

void fpu_init(void)
{
	policy = (enum fpu_policy)policy_opt;
	alloc = (enum fpu_alloc)alloc_opt;
	nm_sleep_ns = nm_sleep_us * 1000;
	arch_fpu_init();
	init_ctx.area = new_area(KM_SLEEP);
	struct cpu *c = this_cpu();
	c->fpu_lazy = policy == FPU_LAZY;
	set_owner(c, NULL);
	ts_set(c);			/* the boot thread has no THREAD_FPU */
	printk("fpu: %s switching, save areas allocated %s%s\n", policy_names[policy],
	       alloc_names[alloc], nm_sleep_ns ? ", #NM allocation sleeps (fault injection)" : "");
}

void fpu_init_ap(void)
{
	arch_fpu_init_ap();
	struct cpu *c = this_cpu();
	c->fpu_lazy = __atomic_load_n(&policy, __ATOMIC_ACQUIRE) == FPU_LAZY;
	set_owner(c, NULL);
	ts_set(c);
}

/* ---- queries and test controls ---- */

enum fpu_policy fpu_policy(void)
{
	return policy;
}

enum fpu_alloc fpu_alloc_policy(void)
{
	return alloc;
}

void fpu_thread_counters(const struct thread *t, struct fpu_counters *out)
{
	unsigned long irq = arch_irq_save();
	if (t->fpu)
		*out = t->fpu->stats;
	else
		memset(out, 0, sizeof(*out));
	arch_irq_restore(irq);
}

void fpu_cpu_counters(int cpu, struct fpu_counters *out)
{
	unsigned long irq = arch_irq_save();
	*out = cpus[cpu].fpu;
	arch_irq_restore(irq);
}

/*
 * On every CPU, for fpu_set_policy (smp_call_each: interrupts off, so never
 * between the save and the restore of a switch): the CPU takes the policy
 * that is current now, and its running thread gets the registers and TS
 * that policy gives it. A kernel FPU section or a layered context that is
 * live is left alone: kfpu_end and fpu_ctx_unload settle it, under the
 * policy this CPU has by then.
 */
static void apply_policy(void *arg)
{
	(void)arg;
	struct cpu *c = this_cpu();
	c->fpu_lazy = __atomic_load_n(&policy, __ATOMIC_ACQUIRE) == FPU_LAZY;
	struct fpu_ctx *own = c->thread ? c->thread->fpu : NULL;
	if (c->kfpu_open || (!c->fpu_ts && c->fpu_owner != own))
		return;
	settle(c);
}

enum fpu_policy fpu_set_policy(enum fpu_policy p)
{
	enum fpu_policy old = __atomic_exchange_n(&policy, p, __ATOMIC_ACQ_REL);
	/* Each CPU reads the global when its call runs, not p: with two
	 * callers at once, every CPU ends with the value written last. */
	smp_call_each(apply_policy, NULL, true);
	return old;
}

enum fpu_alloc fpu_set_alloc(enum fpu_alloc a)
{
	enum fpu_alloc old = alloc;
	alloc = a;
	return old;
}

uint64_t fpu_set_nm_sleep_ns(uint64_t ns)
{
	uint64_t old = nm_sleep_ns;
	nm_sleep_ns = ns;
	return old;
}

bool fpu_thread_has_area(const struct thread *t)
{
	return t->fpu && t->fpu->area;
}

bool fpu_thread_is_live(const struct thread *t)
{
	unsigned long irq = arch_irq_save();
	bool live = t->fpu && is_live(this_cpu(), t->fpu);
	arch_irq_restore(irq);
	return live;
}

bool fpu_debug_foreign_registers(void)
{
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	struct fpu_ctx *o = c->fpu_owner;
	bool foreign = o != &init_ctx && o != c->thread->fpu;
	arch_irq_restore(irq);
	return foreign;
}

void fpu_debug_set_ts(void)
{
	struct cpu *c = this_cpu();
	if (arch_irq_enabled())
		panic("fpu_debug_set_ts: call with interrupts disabled (thread %s)",
		      c->thread->name);
	if (!c->fpu_ts)
		ts_set(c);
}

void fpu_release(void)
{
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	struct fpu_ctx *f = c->thread->fpu;
	if (f && is_live(c, f))
		save(c, f);		/* its area is its state: nothing is lost */
	if (!c->fpu_ts)
		ts_set(c);
	arch_irq_restore(irq);
}

bool fpu_debug_forge_migration(struct thread *t, uint64_t value)
{
	kpreempt_disable();
	unsigned long irq = arch_irq_save();
	struct cpu *c = this_cpu();
	struct fpu_ctx *f = t->fpu;
	/* off-CPU, so its area is its state (and no save is pending) */
	bool ok = f && f->area && t != c->thread && !t->on_cpu && !is_live(c, f) &&
		  arch_fpu_area_set_xmm0(f->area, value);
	if (ok)
		f->last_cpu = (c->id + 1) % MAX_CPUS;	/* "it ran on another CPU since" */
	arch_irq_restore(irq);
	kpreempt_enable();
	return ok;
}

/* ---- SYS_fpu: the user tests' window ---- */

long sys_fpu(long op, long uarg)
{
	struct thread *t = curthread;
	if (op == FPU_OP_DELIVER_XM)
		return arch_fpu_deliver_simd_exception(arch_user_frame(t)) ? 1 : 0;
	if (op != FPU_OP_INFO)
		return -EINVAL;
	struct fpu_counters k;
	fpu_thread_counters(t, &k);
	struct fpu_info info = {
		.policy = policy,
		.alloc = alloc,
		.area_size = arch_fpu_area_size(),
		.has_area = fpu_thread_has_area(t),
		.foreign = fpu_debug_foreign_registers(),
		.saves = k.saves,
		.restores = k.restores,
		.nm_traps = k.nm_traps,
		.first_uses = k.first_uses,
		.switches = t->switches_in,
	};
	return copyout((uint64_t)uarg, &info, sizeof(info));
}

/* ---- the monitor's `fpu` ---- */

void (*fpu_print_hook)(int cpu);

/* Under threads_lock (thread_foreach): a listed thread's FPU op, and its
 * state, are freed only after it has left the list (thread_free). */
static void print_thread(struct thread *t, void *arg)
{
	(void)arg;
	struct fpu_ctx *f = t->fpu;
	if (!f)
		return;
	printk("  %4lu %-20s %5s %4d %9lu %9lu %9lu %6lu\n", t->id, t->name,
	       f->area ? "yes" : "no", f->last_cpu, f->stats.saves, f->stats.restores,
	       f->stats.nm_traps, f->stats.first_uses);
}

void fpu_print(void)
{
	printk("fpu: %s, %s switching, save area %zu bytes allocated %s\n", arch_fpu.name,
	       policy_names[policy], arch_fpu_area_size(), alloc_names[alloc]);
	printk("  %3s %-16s %3s %9s %9s %9s %6s\n", "cpu", "registers hold", "TS", "saves",
	       "restores", "#NM", "first");
	for (int i = 0; i < cpu_count(); i++) {
		struct cpu *c = &cpus[i];
		/* Another CPU's owner may be freed as we look (a join there):
		 * its tag, a thread id, is all we read; thread_find holds the
		 * thread, if it still exists, while we print its name. */
		uint64_t tag = __atomic_load_n(&c->fpu_owner_tag, __ATOMIC_RELAXED);
		if (unlikely(fpu_print_hook))
			fpu_print_hook(i);
		char holds[THREAD_NAME_MAX + 24];
		if (tag == FPU_OWNER_NONE || tag == FPU_OWNER_INIT || tag == FPU_OWNER_LAYERED) {
			strlcpy(holds, tag == FPU_OWNER_NONE ? "-" : tag == FPU_OWNER_INIT ?
				"(init state)" : "(layered)", sizeof(holds));
		} else {
			char id[24];
			snprintf(id, sizeof(id), "%lu", tag);
			struct thread *t = thread_find(id);
			snprintf(holds, sizeof(holds), "%s %s", id, t ? t->name : "(exited)");
			if (t)
				thread_rele(t);
		}
		printk("  %3d %-16s %3s %9lu %9lu %9lu %6lu\n", i, holds,
		       c->fpu_ts ? "set" : "clr", c->fpu.saves, c->fpu.restores, c->fpu.nm_traps,
		       c->fpu.first_uses);
	}
	printk("  %4s %-20s %5s %4s %9s %9s %9s %6s\n", "id", "FPU thread", "area", "last",
	       "saves", "restores", "#NM", "first");
	thread_foreach(print_thread, NULL);
}

static void cmd_fpu(const char *args)
{
	(void)args;
	fpu_print();
}
MONITOR_COMMAND("fpu", "FPU mechanism and policy; per CPU and per thread: saves, restores, #NM",
		cmd_fpu);
