/*
 * percpu.h - the per-CPU data block.
 *
 * Each CPU has one struct cpu, which the architecture can reach in one
 * instruction (x86-64: the GS base register points at it); its self field
 * gives its address. Fields are read with ARCH_PERCPU_READ (cpu_id(),
 * curthread), one load, so a preemption cannot split the read. Only its
 * own CPU writes most fields; the run queue is shared under its lock.
 */
#ifndef PERCPU_H
#define PERCPU_H

#include <kernel.h>
#include <arch.h>
#include <fpu.h>
#include <list.h>
#include <spinlock.h>

#define MAX_CPUS 16
#define NPRIO 3			/* = PRIO_COUNT in thread.h */

struct thread;
struct fpu_ctx;
struct aspace;

/* A CPU's runnable threads, one FIFO per priority. */
struct runqueue {
	struct spinlock lock;		/* taken raw: interrupts off, no preemption count */
	struct list queue[NPRIO];
	uint32_t nonempty;		/* bit p set iff queue[p] is not empty */
	volatile int nr_queued;		/* threads on the queues (not the running one) */
};

struct cpu {
	struct cpu *self;	/* this struct: this_cpu() reads it (keep it first) */
	struct arch_cpu arch;	/* the machine's words (keep it second: arch/arch.h) */
	int id;			/* 0 .. cpu_count()-1, 0 is the boot CPU */
	uint32_t apic_id;
	volatile bool online;
	int trap_depth;		/* nested traps in progress */
	struct thread *thread;	/* running now */
	struct thread *switch_next;	/* while prev's save ops run: the thread to run */
	bool in_ctxop;		/* a context op's handler runs (an #NM now is a bug) */
	struct thread *idle;	/* runs when the run queue is empty */
	struct aspace *aspace;	/* the address space loaded (mm.h) */
	volatile bool need_resched;	/* switch at the next chance */
	volatile bool idle_polling;	/* the idle loop polls the run queue: a thread
					 * queued here needs no IPI (sched.c) */
	struct runqueue rq;

	/* FPU (kernel/fpu.c); touched by this CPU only, interrupts off */
	struct fpu_ctx *fpu_owner;	/* whose state the FPU registers hold, or NULL */
	uint64_t fpu_owner_tag;		/* the owner's thread id, or FPU_OWNER_*: for the
					 * monitor, which must not follow fpu_owner */
	bool fpu_ts;			/* CR0.TS as last written: FPU use traps (#NM) */
	bool fpu_lazy;			/* this CPU switches lazily: the policy as it
					 * last took it (fpu_set_policy) */
	bool kfpu_open;			/* inside kfpu_begin .. kfpu_end */
	struct fpu_ctx *kfpu_saved;	/* live state kfpu_begin put away, or NULL */
	struct fpu_counters fpu;

	/* counters, for tests and the monitor */
	uint64_t ticks;
	uint64_t switches;
	uint64_t handoffs;		/* sched_sleep_and_run's direct switches */
	uint64_t preemptions;
	uint64_t resched_ipis;		/* wakeups this CPU sent an IPI for ... */
	uint64_t resched_ipis_saved;	/* ... and those whose target was polling */
	uint64_t irqs;
	uint64_t nmis;			/* NMIs taken (trap.c: logged, ignored) */
	uint64_t nmis_from_user;	/* ... of which arrived in ring 3 */
};

extern struct cpu cpus[MAX_CPUS];
_Static_assert(offsetof(struct cpu, arch.kstack_top) == ARCH_CPU_KSTACK_TOP, "arch/arch.h");
_Static_assert(offsetof(struct cpu, arch.scratch) == ARCH_CPU_SCRATCH, "arch/arch.h");

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	ARCH_PERCPU_READ(c, offsetof(struct cpu, self));
	return c;
}

/* The CPU the caller runs on (may be stale at once unless preemption is off). */
static inline int cpu_id(void)
{
	int id;
	ARCH_PERCPU_READ(id, offsetof(struct cpu, id));
	return id;
}

int cpu_count(void);

/* The online CPUs as a mask (bit n: CPU n). They are always CPUs 0 ..
 * cpu_count() - 1: an AP that fails to come up gives its number back
 * (arch/x86_64/smp.c). */
_Static_assert(MAX_CPUS <= 32, "cpu_online_mask is 32 bits");
static inline uint32_t cpu_online_mask(void)
{
	return (uint32_t)((1ULL << cpu_count()) - 1);
}

/* Makes cpus[id] this CPU's block (x86-64: its GS base; arch/x86_64/cpu.c). */
void percpu_init_this(int id);

#endif
