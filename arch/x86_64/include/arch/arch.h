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

/*
 * The machine's part of struct cpu (percpu.h keeps it right after `self`, at
 * offset 8: the syscall entry, arch/x86_64/syscall.asm, reaches these two
 * words through %gs before it has a stack). kstack_top is the running
 * thread's kernel stack top, also in the TSS (RSP0) for interrupts from ring
 * 3; scratch holds the user's RSP for the few instructions between SYSCALL
 * and the switch to that stack.
 */
struct arch_cpu {
	uint64_t kstack_top;
	uint64_t scratch;
	struct arch_tss *tss;		/* this CPU's TSS (arch/x86_64/cpu.c) */
};
#define ARCH_CPU_KSTACK_TOP 8		/* offsetof(struct cpu, arch.kstack_top) */
#define ARCH_CPU_SCRATCH    16		/* offsetof(struct cpu, arch.scratch) */

/* User space (docs/user.md): PML4 slots 1 .. 255, less the last page
 * below the canonical hole (a SYSCALL at its very end would return to a
 * non-canonical address). */
#define ARCH_USER_BASE 0x0000008000000000UL	/* 512 GiB */
#define ARCH_USER_TOP  0x00007FFFFFFFF000UL	/* 128 TiB - 4 KiB */
#define ARCH_ELF_MACHINE 62			/* EM_X86_64 */
/* The bytes of a user thread's frame (struct trap_frame, arch/trap.h). */
#define ARCH_USER_FRAME_SIZE (22 * 8)

/* What arch_setjmp saves (arch/x86_64/setjmp.asm: keep the offsets in step):
 * the callee-saved registers, the stack pointer and the return address. */
struct arch_jmpbuf {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

#endif
