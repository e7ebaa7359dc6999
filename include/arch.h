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
/* Calls cb(c) from the interrupt handler for each character received. */
void arch_console_rx_enable(void (*cb)(char c));
void arch_cpu_init(void);
/* Turns on SSE for this CPU (CR4.OSFXSR, ...); every CPU, at boot. */
void arch_fpu_cpu_init(void);

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

#endif
