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

/* What the entry stubs push (trap_entry.asm, syscall.asm), lowest address
 * first: the registers, the vector and error code, then what the CPU
 * pushes. A user thread's frame is at the top of its kernel stack. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};

/* A user thread's frame, from the top of its kernel stack (arch_user_frame
 * without the call). */
static inline struct trap_frame *arch_user_frame_at(void *stack_top)
{
	return (struct trap_frame *)stack_top - 1;
}

/* The six argument registers of a frame, in the order a system call takes
 * them (arch_uregs_set_args without the array). */
static inline void arch_uregs_set_args6(struct trap_frame *tf, uint64_t a0, uint64_t a1,
					uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	tf->rdi = a0;
	tf->rsi = a1;
	tf->rdx = a2;
	tf->r10 = a3;
	tf->r8 = a4;
	tf->r9 = a5;
}

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

/* The TSC. RDTSC clears the upper halves of RAX and RDX, so the halves
 * are 64-bit values already (no zero-extension for the compiler to add). */
static inline uint64_t arch_timestamp(void)
{
	uint64_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (hi << 32) | lo;
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
typedef uint64_t arch_u64_unaligned __attribute__((aligned(1)));

struct arch_cpu {
	uint64_t kstack_top;
	uint64_t scratch;
	struct arch_tss *tss;		/* this CPU's TSS (arch/x86_64/cpu.c; RSP0 at
					 * ARCH_TSS_RSP0, unaligned) */
	uint64_t io_key;		/* whose ports its TSS I/O bitmap lets ring 3
					 * use: a space's key, 0 none (arch/tss.h) */
	uint64_t fpu_pointer_clears;	/* restores that cleared the x87 pointers */
};
#define ARCH_TSS_RSP0 4			/* offsetof(struct arch_tss, rsp[0]) */
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

/* ---- bodies of include/arch.h's ring-3 helpers, on every switch ---- */

/* (the per-CPU block's own pointer, without percpu.h: %gs:0) */
static inline struct arch_cpu *arch_cpu_this(void)
{
	char *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return (struct arch_cpu *)(c + 8);	/* struct cpu's `arch`: offset 8 */
}

/*
 * The switch's FPU copies inline (include/arch.h), for the usual
 * mechanism, XSAVEOPT and XRSTOR: a context op's handler that copies
 * inline calls nothing and keeps no registers of its own. The clearing
 * restore is arch/x86_64/fpu.c's clear_x87_pointers, inline: FNCLEX, EMMS
 * and FILD of a constant leave FIP, FDP and FOP nobody's, and the per-CPU
 * counter says it ran (fpu_pointer_clears).
 */
enum { ARCH_FPU_CALL, ARCH_FPU_XSAVEOPT, ARCH_FPU_XSAVEOPT_CLEARING };
extern uint8_t arch_fpu_inline;
extern const uint32_t arch_fpu_zero;

static inline bool arch_fpu_has_inline(void)
{
	return arch_fpu_inline != ARCH_FPU_CALL;
}

static inline void arch_fpu_save_inline(void *area)
{
	__asm__ volatile("xsaveopt64 (%0)" ::"r"(area), "a"(-1), "d"(-1) : "memory");
}

static inline void arch_fpu_restore_inline(void *area)
{
	if (arch_fpu_inline == ARCH_FPU_XSAVEOPT_CLEARING)
		__asm__ volatile("fnclex; emms; fildl %1; addq $1, %%gs:%c2\n\t"
				 "xrstor64 (%0)"
				 ::"r"(area), "m"(arch_fpu_zero),
				  "i"(8 + __builtin_offsetof(struct arch_cpu, fpu_pointer_clears)),
				  "a"(-1), "d"(-1) : "memory");
	else
		__asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"(-1), "d"(-1) : "memory");
}

/* Two %gs-relative accesses rather than a load of this CPU's address
 * first: the switch calls it for every thread of a process. */
static inline void arch_set_kernel_stack(uint64_t top)
{
	char *tss;
	__asm__ volatile("mov %0, %%gs:%c1" ::"r"(top), "i"(ARCH_CPU_KSTACK_TOP) : "memory");
	ARCH_PERCPU_READ(tss, 8 + __builtin_offsetof(struct arch_cpu, tss));
	*(arch_u64_unaligned *)(tss + ARCH_TSS_RSP0) = top;
}

extern bool arch_fsgsbase_on;		/* CR4.FSGSBASE (arch/x86_64/user.c) */
#define ARCH_MSR_FS_BASE        0xC0000100u
#define ARCH_MSR_KERNEL_GS_BASE 0xC0000102u

static inline uint64_t arch__rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void arch__wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/*
 * While a user thread is in the kernel, its FS base is in FS_BASE (the
 * kernel does not use FS) and its GS base in KERNEL_GS_BASE (SWAPGS put it
 * there). With FSGSBASE, RDFSBASE/WRFSBASE are cheaper than the MSRs and
 * the GS base is reached by SWAPGS around RDGSBASE/WRGSBASE, interrupts
 * off (context ops run with interrupts off; others must disable them).
 */
static inline void arch_user_segbases_save_fsgsbase(uint64_t *fs, uint64_t *gs)
{
	__asm__ volatile("rdfsbase %0" : "=r"(*fs));
	__asm__ volatile("swapgs; rdgsbase %0; swapgs" : "=r"(*gs));
}

static inline void arch_user_segbases_load_fsgsbase(uint64_t fs, uint64_t gs)
{
	__asm__ volatile("wrfsbase %0" ::"r"(fs));
	__asm__ volatile("swapgs; wrgsbase %0; swapgs" ::"r"(gs));
}

static inline void arch_user_segbases_save_msr(uint64_t *fs, uint64_t *gs)
{
	*fs = arch__rdmsr(ARCH_MSR_FS_BASE);
	*gs = arch__rdmsr(ARCH_MSR_KERNEL_GS_BASE);
}

static inline void arch_user_segbases_load_msr(uint64_t fs, uint64_t gs)
{
	arch__wrmsr(ARCH_MSR_FS_BASE, fs);
	arch__wrmsr(ARCH_MSR_KERNEL_GS_BASE, gs);
}

static inline void arch_user_segbases_save(uint64_t *fs, uint64_t *gs)
{
	if (arch_fsgsbase_on)
		arch_user_segbases_save_fsgsbase(fs, gs);
	else
		arch_user_segbases_save_msr(fs, gs);
}

static inline void arch_user_segbases_load(uint64_t fs, uint64_t gs)
{
	if (arch_fsgsbase_on)
		arch_user_segbases_load_fsgsbase(fs, gs);
	else
		arch_user_segbases_load_msr(fs, gs);
}

/* What arch_setjmp saves (arch/x86_64/setjmp.asm: keep the offsets in step):
 * the callee-saved registers, the stack pointer and the return address. */
struct arch_jmpbuf {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

#endif
