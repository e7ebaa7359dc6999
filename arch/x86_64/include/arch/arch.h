/*
 * arch/arch.h - the x86-64 half of <arch.h>: the bodies of its inline
 * functions and the types whose layout is the machine's.
 *
 * include/arch.h declares what the portable kernel may call and includes
 * this file at its end; nothing else includes it. It is the one place where
 * an instruction reaches portable code, and only inside these bodies: the
 * names and contracts are include/arch.h's, and a port to another machine
 * writes its own arch/<machine>/include/arch/arch.h with the same names.
 * It includes no other arch header, so <arch.h> brings no port I/O, MSR or
 * control-register helper (arch/x86.h) into portable code.
 */
#ifndef ARCH_ARCH_H
#define ARCH_ARCH_H

#include <kernel.h>

#define ARCH_RFLAGS_IF (1UL << 9)	/* arch/x86.h's RFLAGS_IF */

static inline void arch_irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void arch_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }

/* The token is RFLAGS as it was: IF says whether to turn interrupts back on. */
static inline unsigned long arch_irq_save(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(f)::"memory");
	return f;
}

static inline void arch_irq_restore(unsigned long f)
{
	if (f & ARCH_RFLAGS_IF)
		arch_irq_enable();
}

static inline bool arch_irq_enabled(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f & ARCH_RFLAGS_IF;
}

static inline void arch_cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void arch_wait_for_interrupt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* sti delays interrupts by one instruction, so none can come in between. */
static inline void arch_safe_halt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

/* The TSC. */
static inline uint64_t arch_timestamp(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* rep stosq: 8 bytes a step, and one instruction for TCG to run. */
static inline void arch_zero_pages(void *dst, size_t npages)
{
	uint64_t words = npages * (PAGE_SIZE / sizeof(uint64_t));
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(words) : "a"(0UL) : "memory");
}

/* The GS base holds this CPU's struct cpu (arch/x86_64/cpu.c), so a field
 * is one %gs-relative load; the operand size follows var's type. */
#define ARCH_PERCPU_READ(var, offset) \
	__asm__ volatile("mov %%gs:%c1, %0" : "=r"(var) : "i"(offset))

/* What arch_setjmp saves (arch/x86_64/setjmp.asm: keep the offsets in step):
 * the callee-saved registers, the stack pointer and the return address. */
struct arch_jmpbuf {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

#endif
