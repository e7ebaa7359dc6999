/*
 * fpu.h - threads' FPU state: eager or lazy switching, kernel FPU sections,
 * counters (kernel/fpu.c; the instructions are in arch/x86_64/fpu.c).
 *
 * A thread created with THREAD_FPU may use the x87, SSE and AVX registers;
 * its whole FPU state survives every switch, and it starts in the
 * architectural init state (MXCSR 0x1F80, FCW 0x037F, vector registers
 * zero). A thread created without it must not touch them: its first FPU
 * instruction traps and the thread is killed (the kernel goes on).
 *
 * Kernel code that wants SIMD (the kernel is built -mgeneral-regs-only, so
 * it is written in assembly) brackets it:
 *
 *   kfpu_begin();          // preemption off, the thread's state put away,
 *   simd_work();           // MXCSR 0x1F80 and FCW 0x037F, registers free
 *   kfpu_end();            // the thread's state back, preemption on
 *
 * (lib/memcpy_sse.c does it around arch_fpu_copy_blocks.)
 *
 * Sections do not nest (a nested kfpu_begin panics) and must not sleep.
 *
 * Command line: fpu=eager|lazy (switching policy), fpu.alloc=eager|lazy
 * (save area at thread creation, or at the first FPU instruction),
 * fpu.save=auto|fxsave|xsave|xsaveopt|xsavec (arch/x86_64/fpu.c),
 * fpu.nm_sleep_us=N (fault injection: the first-use allocation sleeps).
 * docs/fpu.md has the theory and the figures.
 */
#ifndef FPU_H
#define FPU_H

#include <kernel.h>

struct thread;

enum fpu_policy {
	FPU_EAGER = 0,		/* save at every switch out, load at every switch in */
	FPU_LAZY = 1,		/* load at the first FPU instruction after a switch (#NM) */
};

enum fpu_alloc {
	FPU_ALLOC_EAGER = 0,	/* the save area comes with the thread */
	FPU_ALLOC_LAZY = 1,	/* at the thread's first FPU instruction, in #NM */
};

/* cpu->fpu_owner_tag when the owner is not a thread's own state. */
#define FPU_OWNER_NONE    UINT64_MAX		/* nobody's: a kernel FPU section's */
#define FPU_OWNER_INIT    (UINT64_MAX - 1)	/* the init state */
#define FPU_OWNER_LAYERED (UINT64_MAX - 2)	/* a layered context (a guest's) */

/* Counted per thread and per CPU. */
struct fpu_counters {
	uint64_t saves;		/* FPU registers written to a save area */
	uint64_t restores;	/* a save area loaded into the FPU registers */
	uint64_t nm_traps;	/* #NM (device not available) trap taken */
	uint64_t first_uses;	/* a thread's state loaded for the first time */
	uint64_t clears;	/* init state loaded for a thread with no state yet (eager) */
};

/* Boot: the mechanism (arch_fpu_init), then the policy. After kmem_init,
 * before the first thread is created. Prints the boot lines. */
void fpu_init(void);
/* On each other CPU as it comes up (after its per-CPU block is set). */
void fpu_init_ap(void);

/* thread.c, at creation of a THREAD_FPU thread, before any other context
 * op: installs the FPU op and (fpu.alloc=eager) the save area in the
 * init state, with kmem flags kmflags. 0, or -ENOMEM (KM_NOSLEEP,
 * KM_USER) with nothing attached. May sleep (KM_SLEEP). */
int fpu_thread_create(struct thread *t, int kmflags);
/* kernel/proc.c's fork, before the child's ct_fork handlers run: gives
 * the child's FPU context the save area the fork will copy into, if the
 * parent has state to copy, so that the copy needs no allocation. 0, or
 * -ENOMEM. */
int fpu_fork_prepare(struct thread *parent, struct thread *child, int kmflags);

/*
 * FPU contexts layered over a thread's own, for state that replaces the
 * thread's in the registers for a while: a guest's FPU inside vm_run
 * (kernel/vmm/vcpu.c, through a context op newer than the thread's FPU
 * op). After FreeBSD's fpu_save_area_alloc and illumos's hma_fpu: one
 * mechanism, one area format, for host and guest.
 *
 *   g = fpu_ctx_create();    // may sleep: an area in the init state
 *   fpu_ctx_load(g);         // the live state put away, g's loaded, TS clear
 *   ...                      // (the registers now hold g's state)
 *   fpu_ctx_put(g);          // g saved if live, TS set: the thread's FPU op
 *                            //   at a switch-out finds nothing of its own live
 *   fpu_ctx_unload(g);       // put, then the thread's own state back as its
 *                            //   policy has it (loaded if eager)
 *   fpu_ctx_destroy(g);
 *
 * load, put and unload never sleep and need the caller to stay on its CPU
 * (interrupts or preemption off: they panic otherwise); they are made for
 * context ops, which run with interrupts off. None of them takes #NM.
 */
struct fpu_ctx;
struct fpu_ctx *fpu_ctx_create(void);
/* As fpu_ctx_create, with kmem flags: KM_NOSLEEP or KM_USER (a user VM's
 * guest FPU) may give NULL. */
struct fpu_ctx *fpu_ctx_create_flags(int kmflags);
void fpu_ctx_destroy(struct fpu_ctx *f);
void fpu_ctx_load(struct fpu_ctx *f);
void fpu_ctx_put(struct fpu_ctx *f);
void fpu_ctx_unload(struct fpu_ctx *f);

/* Kernel FPU sections (see above). kfpu_begin panics if one is already
 * open on this CPU; kfpu_end panics if none is. Callable with interrupts
 * off and from interrupt handlers; never sleep. */
void kfpu_begin(void);
void kfpu_end(void);

enum fpu_policy fpu_policy(void);
enum fpu_alloc fpu_alloc_policy(void);
const char *fpu_policy_name(enum fpu_policy p);

/* Counter snapshots. A thread without THREAD_FPU has all zeros. */
void fpu_thread_counters(const struct thread *t, struct fpu_counters *out);
void fpu_cpu_counters(int cpu, struct fpu_counters *out);
/* Prints the monitor's `fpu` view: mechanism, policy, CPUs, FPU threads. */
void fpu_print(void);
/* For tests, NULL otherwise: called by fpu_print for each CPU between
 * reading its owner record and printing it, with no lock held; it may
 * sleep (a test frees the owner there). */
extern void (*fpu_print_hook)(int cpu);

/* The arch #NM handler's question: the current thread touched the FPU with
 * TS set. may_sleep: the interrupted code could have slept (interrupts
 * were on, no lock, not nested in another trap). */
enum fpu_nm_result {
	FPU_NM_HANDLED,		/* its state is loaded, TS clear: resume */
	FPU_NM_NOT_FPU_THREAD,	/* no THREAD_FPU: kill it (or panic) */
	FPU_NM_NO_MEMORY,	/* its first-use save area could not be had */
};
enum fpu_nm_result fpu_nm_trap(bool may_sleep);

/* SYS_fpu (uapi/syscall.h): FPU_OP_INFO fills a struct fpu_info at the
 * user address arg with the caller's view (policy, its counters, whether
 * the registers hold another context); FPU_OP_DELIVER_XM delivers a
 * pending unmasked SIMD exception as #XM (the process is killed, status
 * -8), or returns 0 if none is pending. -EINVAL for another op, -EFAULT
 * for a bad arg. */
long sys_fpu(long op, long uarg);

/* ---- for tests and benchmarks ---- */

/* Changes the policy / the allocation policy / the fault injection at run
 * time; each returns the old value. The policy may be switched at any time
 * from a thread: every CPU takes it in a cross-CPU call, between two of its
 * switches, and fpu_set_policy returns once all have (docs/fpu.md,
 * "Changing the policy at run time"). The allocation policy applies to
 * threads created afterwards. */
enum fpu_policy fpu_set_policy(enum fpu_policy p);
enum fpu_alloc fpu_set_alloc(enum fpu_alloc a);
uint64_t fpu_set_nm_sleep_ns(uint64_t ns);
/* Has t a save area yet? (fpu.alloc=lazy: not before its first use.) */
bool fpu_thread_has_area(const struct thread *t);
/* Does this CPU's register file hold t's state, with TS clear? */
bool fpu_thread_is_live(const struct thread *t);
/* Puts the caller's FPU state away (saved if live) and sets TS, as a lazy
 * switch out and back in on this CPU would: its next FPU instruction takes
 * #NM, which finds the state still loaded. Safe at any time; the
 * benchmark of a user #NM uses it (SYS_fpu_release). */
void fpu_release(void);
/* Does this CPU's register file hold a context other than the caller's
 * own (another thread's, a layered one's, or a kernel section's values)?
 * The init state and the caller's own state are not foreign. Under eager
 * switching an FPU thread never runs with foreign registers loaded. */
bool fpu_debug_foreign_registers(void);
/* For the #NM benchmark: sets TS on this CPU without saving, so the next
 * FPU instruction traps and finds the caller's state still loaded (what a
 * lazy switch leaves behind for a thread that comes back to its CPU).
 * Interrupts must stay disabled until that FPU instruction. */
void fpu_debug_set_ts(void);
/*
 * Makes t look as if it had last run on another CPU, where it changed the
 * low 64 bits of XMM0 to `value`: writes them into t's save area and
 * records another CPU as the last to hold its state. t must be off-CPU
 * with its state saved, and its XMM registers not in their init state.
 * Returns false if that does not hold. (tests/fpu: the lazy owner check.)
 */
bool fpu_debug_forge_migration(struct thread *t, uint64_t value);

#endif
