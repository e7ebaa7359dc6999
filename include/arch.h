/*
 * arch.h - the seam between the portable kernel and the architecture.
 *
 * Portable code (kernel/, lib/) calls the machine only through these
 * functions; their x86-64 versions live in arch/x86_64/. Nothing here
 * exposes a register layout or an instruction.
 */
#ifndef ARCH_H
#define ARCH_H

#include <kernel.h>

/* Interrupts on this CPU. arch_irq_save returns a token for arch_irq_restore. */
static inline void arch_irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void arch_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline unsigned long arch_irq_save(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(f)::"memory");
	return f;
}
static inline void arch_irq_restore(unsigned long f)
{
	if (f & (1UL << 9))	/* RFLAGS.IF was set */
		arch_irq_enable();
}
static inline bool arch_irq_enabled(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f & (1UL << 9);
}
static inline void arch_cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
/* Waits for the next interrupt (call with interrupts enabled). */
static inline void arch_wait_for_interrupt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* Enables interrupts and halts as one step: an interrupt that arrives
 * between the check before it and the halt still wakes the CPU (sti's
 * one-instruction shadow). */
static inline void arch_safe_halt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

/* A cheap, monotonic timestamp (the TSC); arch_timestamp_to_ns converts one
 * to clock_ns() time. */
static inline uint64_t arch_timestamp(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
uint64_t arch_timestamp_to_ns(uint64_t ts);

/* Early set-up: console first, then descriptor tables and traps. */
void arch_console_init(void);
void arch_console_putc(char c);
/* Text goes to the serial port only: the loader set a graphics mode. */
void arch_console_vga_disable(void);
/* Calls cb(c) from the interrupt handler for each character received. */
void arch_console_rx_enable(void (*cb)(char c));
void arch_cpu_init(void);

/* Ends the QEMU run with a verdict (isa-debug-exit); halts if that fails. */
__noreturn void arch_poweroff(bool success);
/* Stops this CPU for good, interrupts off. */
__noreturn void arch_halt(void);

/* Frame-pointer backtrace of the caller, printed with symbol names. */
void arch_backtrace_here(void);
/* Same, starting from a given frame pointer and instruction pointer. */
void arch_backtrace_from(uint64_t rbp, uint64_t rip);

/* Monotonic time; valid once arch_timer_init has run. */
uint64_t arch_clock_ns(void);
void arch_timer_init(void);

/* Non-local exit for the test runner: returns 0 first, then 1 from longjmp. */
struct arch_jmpbuf {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};
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
extern const struct arch_fpu_mech *arch_fpu;
#define ARCH_FPU_AREA_ALIGN 64
size_t arch_fpu_area_size(void);
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

/* For tests: writes the low 64 bits of XMM0 in a saved area; false if
 * the area says its SSE registers are in their init state (not stored). */
bool arch_fpu_area_set_xmm0(void *area, uint64_t lo);

#endif
