/*
 * arch.h - the seam between the portable kernel and the architecture.
 *
 * Portable code (kernel/, lib/) calls the machine only through these
 * functions; their x86-64 versions live in arch/x86_64/. This file declares
 * them and states their contracts; the bodies of the inline ones (and the
 * one type whose layout is the machine's, struct arch_jmpbuf) are in
 * arch/x86_64/include/arch/arch.h, which it includes at the end. No
 * declaration here names an instruction or a register; the comments say
 * what a call does on x86-64 where that helps.
 */
#ifndef ARCH_H
#define ARCH_H

#include <kernel.h>

/* Interrupts on this CPU. arch_irq_save turns them off and returns a token
 * for arch_irq_restore, which turns them back on only if they were on. */
static inline void arch_irq_disable(void);
static inline void arch_irq_enable(void);
static inline unsigned long arch_irq_save(void);
static inline void arch_irq_restore(unsigned long token);
static inline bool arch_irq_enabled(void);
/* A hint in a busy-wait loop: let the other hyperthread (or the host) run. */
static inline void arch_cpu_relax(void);
/* Waits for the next interrupt (call with interrupts enabled). */
static inline void arch_wait_for_interrupt(void);
/* Enables interrupts and halts as one step: an interrupt that arrives
 * between the check before it and the halt still wakes the CPU. */
static inline void arch_safe_halt(void);

/* A cheap, monotonic timestamp (x86: the TSC); arch_timestamp_to_ns converts
 * one to clock_ns() time. */
static inline uint64_t arch_timestamp(void);
uint64_t arch_timestamp_to_ns(uint64_t ts);

/* Early set-up: console first, then descriptor tables and traps. */
void arch_console_init(void);
void arch_console_putc(char c);
/* Text goes to the serial port only: the loader set a graphics mode. */
void arch_console_vga_disable(void);
/* Whether the console also writes the VGA text screen; returns what it was
 * (a long dump to serial turns it off: scrolling the screen costs far more
 * under emulation than the serial port). */
bool arch_console_vga_set(bool on);
/* Calls cb(c) from the interrupt handler for each character received. */
void arch_console_rx_enable(void (*cb)(char c));
/* The console's receive interrupt for a driver in user space: while
 * `hook` is set, the interrupt calls it and reads nothing (the driver
 * reads the UART through its ports); NULL gives the interrupt back to the
 * kernel's reader (arch_console_rx_enable's, if there is one). The first
 * call routes the interrupt if nothing had. Its ISA IRQ and ports are
 * ARCH_CONSOLE_IRQ and ARCH_CONSOLE_PORT .. + 7. */
void arch_console_irq_hook(void (*hook)(void));
#define ARCH_CONSOLE_IRQ  4
#define ARCH_CONSOLE_PORT 0x3F8
void arch_cpu_init(void);

/* Ends the QEMU run with a verdict (isa-debug-exit); halts if that fails. */
__noreturn void arch_poweroff(bool success);
/* Stops this CPU for good, interrupts off. */
__noreturn void arch_halt(void);

/* Frame-pointer backtrace of the caller, printed with symbol names. */
void arch_backtrace_here(void);
/* Same, starting from a given frame pointer and instruction pointer. */
void arch_backtrace_from(uint64_t fp, uint64_t pc);

/* Monotonic time; valid once arch_timer_init has run. */
uint64_t arch_clock_ns(void);
void arch_timer_init(void);
/* Starts this CPU's periodic tick: timer_tick() TIMER_HZ times a second. */
void arch_timer_start(void);

/* Fills npages whole pages at dst (page-aligned, mapped) with zeros. */
static inline void arch_zero_pages(void *dst, size_t npages);

/*
 * ARCH_PERCPU_READ(var, offset): loads the field at byte `offset` of this
 * CPU's struct cpu (percpu.h) into var, in one instruction, so that a
 * preemption cannot split "which CPU" from "read its field". A macro (var
 * may be of any scalar type), defined in arch/arch.h.
 */

/* A stretch of physical memory, [start, end), with a name for messages. */
struct arch_phys_range {
	const char *what;
	uint64_t start, end;
};
/* Where the firmware may keep ACPI's root pointer (the RSDP), in the order
 * to search them (x86-64 with a BIOS: the EBDA, then the BIOS area;
 * arch/x86_64/bios.c). Fills at most max entries and returns how many. The
 * caller maps them before it reads. Boot CPU, after paging_init. */
int arch_acpi_rsdp_areas(struct arch_phys_range *areas, int max);

/* Switches from thread prev to thread next (arch/x86_64/swtch.asm): saves
 * prev's callee-saved registers and stack pointer in prev, loads next's,
 * and returns, in next, the thread that was switched away from to get
 * there. Run queue lock held, interrupts off (kernel/sched.c). FPU state
 * is not its business (the FPU context op's, kernel/fpu.c). */
struct thread;
struct thread *arch_switch(struct thread *prev, struct thread *next);
/* Builds a new thread's first frame on t->stack (t->stack_size bytes), so
 * that the first arch_switch to t enters thread_start(prev) with the stack
 * aligned as the ABI wants (arch/x86_64/frame.c). */
void arch_thread_init_stack(struct thread *t);

/* Non-local exit for the test runner: returns 0 first, then 1 from longjmp.
 * struct arch_jmpbuf is the machine's (arch/arch.h); callers only hold one. */
struct arch_jmpbuf;
int arch_setjmp(struct arch_jmpbuf *jb) __attribute__((returns_twice));
__noreturn void arch_longjmp(struct arch_jmpbuf *jb);

/*
 * The FPU's machine side (arch/x86_64/fpu.c). The policy (eager or lazy,
 * who owns the registers, kernel FPU sections) is portable: kernel/fpu.c.
 */
/* Early, on every CPU: SSE enabled and the x87 initialized, TS clear. */
void arch_fpu_cpu_init(void);
/* Once, on the boot CPU, after the command line and kmem_init: reads the
 * CPU's FPU features, chooses the save mechanism (fpu.save=), sets CR4 and
 * XCR0, sizes the save area, installs the #NM, #MF and #XM handlers and
 * prints the boot line. */
void arch_fpu_init(void);
/* On every other CPU as it comes up: the boot CPU's CR4 and XCR0. */
void arch_fpu_init_ap(void);

/* The save mechanism, chosen once at boot. save copies the FPU registers
 * into an area, restore loads them from one; both need TS clear and an
 * area of arch_fpu_area_size() bytes aligned to ARCH_FPU_AREA_ALIGN, and
 * never sleep. */
struct arch_fpu_mech {
	const char *name;			/* as fpu.save= spells it */
	void (*save)(void *area);
	void (*restore)(void *area);
};
/* Filled in by arch_fpu_init (FXSAVE's until then), written never again.
 * The struct itself rather than a pointer to it: a switch then calls
 * through it in one instruction, without loading the pointer first. */
extern struct arch_fpu_mech arch_fpu;
/* The same pair inline, for the switch, where arch_fpu_has_inline() says
 * the boot's choice is one the machine has inline (arch/arch.h). */
static inline bool arch_fpu_has_inline(void);
static inline void arch_fpu_save_inline(void *area);
static inline void arch_fpu_restore_inline(void *area);
#define ARCH_FPU_AREA_ALIGN 64
size_t arch_fpu_area_size(void);
/* For a CPU that sets MXCSR's exception flags but raises no #XM (QEMU's
 * TCG): does what #XM would have done for the user thread whose frame is
 * tf if an unmasked SIMD exception is pending (the process is killed), and
 * returns true; false if none is pending. Thread context; may take #NM. */
struct trap_frame;
bool arch_fpu_deliver_simd_exception(struct trap_frame *tf);
/* Fills an area with the architectural init state (MXCSR 0x1F80, FCW
 * 0x037F, x87 stack empty, vector registers zero) in the chosen format. */
void arch_fpu_area_init(void *area);
/* Sets / clears the bit that makes the next FPU instruction trap (x86:
 * CR0.TS, the trap is #NM). The policy keeps a per-CPU copy (cpu->fpu_ts). */
void arch_fpu_set_ts(void);
void arch_fpu_clear_ts(void);
/* Resets the x87 (FNINIT) and loads the default MXCSR: what a kernel FPU
 * section starts with. TS must be clear. */
void arch_fpu_load_defaults(void);

/* Copies blocks * ARCH_FPU_COPY_BLOCK bytes through the vector registers
 * (arch/x86_64/fpu_copy.asm: SSE2, any alignment). Only inside a kernel FPU
 * section (kfpu_begin .. kfpu_end): the registers are the thread's
 * otherwise. */
#define ARCH_FPU_COPY_BLOCK 64
void arch_fpu_copy_blocks(void *dst, const void *src, size_t blocks);

/* For tests: writes the low 64 bits of XMM0 in a saved area; false if
 * the area says its SSE registers are in their init state (not stored). */
bool arch_fpu_area_set_xmm0(void *area, uint64_t lo);

/*
 * Ring 3 (arch/x86_64/user.c, syscall.asm, uaccess.asm; docs/user.md).
 *
 * User space is [ARCH_USER_BASE, ARCH_USER_TOP) (arch/arch.h). A user
 * thread's registers, while it is in the kernel, are one struct trap_frame
 * at the top of its kernel stack (the portable code holds it as an opaque
 * pointer), whether it came in by a system call, an interrupt or a fault.
 */
struct trap_frame;
/* Each CPU: the SYSCALL MSRs, and SMEP, SMAP and FSGSBASE where the CPU
 * has them. */
void arch_user_init_this_cpu(void);
void arch_user_print_features(void);
bool arch_user_features(bool *smep, bool *smap, bool *fsgsbase);
/* The stack an interrupt or SYSCALL from ring 3 starts on: the running
 * thread's kernel stack top (schedule() sets it for user threads). */
static inline void arch_set_kernel_stack(uint64_t top);
/* The frame at the top of t's kernel stack, and a fresh one: ring 3 at
 * rip with stack rsp, the first two arguments registers set. */
struct trap_frame *arch_user_frame(struct thread *t);
void arch_uregs_init(struct trap_frame *tf, uint64_t rip, uint64_t rsp, uint64_t arg0,
		     uint64_t arg1);
/* The system call's result register; the frame's program counter. */
void arch_uregs_set_return(struct trap_frame *tf, uint64_t value);
/* The six argument registers, in the system call's order (RDI, RSI, RDX,
 * R10, R8, R9): how a received message comes back in registers (ipc.c). */
void arch_uregs_set_args(struct trap_frame *tf, const uint64_t v[6]);
uint64_t arch_uregs_pc(const struct trap_frame *tf);
void arch_uregs_set_pc(struct trap_frame *tf, uint64_t pc);	/* for tests */
bool arch_uregs_pc_canonical(const struct trap_frame *tf);
/* Leaves for ring 3 through tf, which must be arch_user_frame(curthread):
 * the kernel stack below it is abandoned. */
__noreturn void arch_enter_user(struct trap_frame *tf);
/* The user's FS and GS bases of the running thread (while it is in the
 * kernel), for its segment-base context op; and whether a value is one
 * the CPU takes. Interrupts off. */
static inline void arch_user_segbases_save(uint64_t *fs, uint64_t *gs);
static inline void arch_user_segbases_load(uint64_t fs, uint64_t gs);
/* The same, each by one way, for a caller that chose the way once
 * (arch_user_features' fsgsbase; the context op, at install). */
static inline void arch_user_segbases_save_fsgsbase(uint64_t *fs, uint64_t *gs);
static inline void arch_user_segbases_load_fsgsbase(uint64_t fs, uint64_t gs);
static inline void arch_user_segbases_save_msr(uint64_t *fs, uint64_t *gs);
static inline void arch_user_segbases_load_msr(uint64_t fs, uint64_t gs);
bool arch_user_segbase_ok(uint64_t base);
/* Traps taken in ring 0 inside the stretches of the way into and out of
 * ring 3 that must run with interrupts off (NMI and #MC aside): 0 unless
 * the entry or exit code is wrong (docs/user.md, "Entry and exit"). */
uint64_t arch_user_window_traps(void);
/* The I/O permission bitmap (arch/x86_64/iobitmap.c; the ports follow the
 * address space, mm.h's aspace_set_ports): how often CPU `cpu` (-1: all of
 * them, summed) rewrote its bitmap's bytes for other ports, and turned it
 * on or off. For tests and the monitor. */
void arch_ioport_counters(int cpu, uint64_t *rewrites, uint64_t *toggles);
/* The copy routines (uaccess.asm): n bytes between kernel and user memory,
 * either way; returns how many were not copied (a fault). And a string of
 * at most max bytes, NUL included: its length, max if no NUL came, -1 at a
 * fault. The caller has checked the range is user space. */
size_t arch_copy_user(void *dst, const void *src, size_t n);
long arch_copy_str_user(char *dst, const char *usrc, size_t max);

/* The bodies of the inline functions above, and struct arch_jmpbuf. */
#include <arch/arch.h>

#endif
