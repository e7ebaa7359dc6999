/*
 * arch/trap.h - the trap frame and the interrupt vector plan.
 *
 * trap_entry.asm builds a struct trap_frame on the stack for every
 * exception and interrupt: the general registers it pushes, then the vector
 * and error code, then what the CPU itself pushed. The field order here must
 * match the push order there exactly.
 */
#ifndef ARCH_TRAP_H
#define ARCH_TRAP_H

#include <kernel.h>
#include <arch.h>

/* struct trap_frame is arch/arch.h's (<arch.h>): the IPC path writes a
 * received message into it inline. */

/* Exception vectors (Intel SDM vol. 3, table 6-1). */
enum {
	T_DE = 0, T_DB = 1, T_NMI = 2, T_BP = 3, T_OF = 4, T_BR = 5, T_UD = 6,
	T_NM = 7, T_DF = 8, T_TS = 10, T_NP = 11, T_SS = 12, T_GP = 13,
	T_PF = 14, T_MF = 16, T_AC = 17, T_MC = 18, T_XM = 19, T_VE = 20,
	T_CP = 21,
};

/* Interrupt vectors of our own, above the 32 exceptions. */
#define IRQ_BASE        32	/* legacy PIC remapped here, then masked */
#define VEC_TIMER       48	/* LAPIC timer */
#define VEC_IPI_RESCHED 49
#define VEC_IPI_CALL    50
#define VEC_UART        51	/* COM1 receive, through the IOAPIC */
#define VEC_IPI_KICK    52	/* smp_kick: forces a running guest to exit */
#define VEC_SPURIOUS    255

/* IST slots in the TSS (1-based, as in the IDT gate). */
#define IST_DF  1
#define IST_NMI 2
#define IST_MC  3
/* Each IST stack's top 16 bytes: the first word is the CPU's struct cpu,
 * just above the frame the CPU pushes (arch/x86_64/user.c, "The GS of NMI,
 * #DF and #MC"). */
#define IST_CPU_SLOT 16

/* trap_frame.vector of a system call (frame.inc's SYSCALL_VECTOR): above
 * every IDT vector, so nothing else has it. */
#define SYSCALL_VECTOR 256

/* The frame of a user thread, at the top of its kernel stack
 * (ARCH_USER_FRAME_SIZE bytes, arch/arch.h). */
struct thread;
struct trap_frame *arch_user_frame(struct thread *t);
/* Ring 3's exceptions: kills the process, with one line saying why. */
bool arch_user_exception(struct trap_frame *tf);
/* A kernel page fault at one of uaccess.asm's instructions, on a user
 * address: moves tf to its fixup and returns true. */
bool arch_user_fixup(struct trap_frame *tf, uint64_t addr);
const char *trap_name(uint64_t vector);

/*
 * A handler for one vector. For an exception it returns true if it dealt
 * with it (the faulting code resumes), false to fall through to the fatal
 * report. Interrupt handlers' return values are ignored.
 */
typedef bool (*trap_handler_fn)(struct trap_frame *tf);
void trap_register(int vector, trap_handler_fn fn);

/*
 * For an exception handler: ends the current thread instead of the kernel,
 * when the fault is the thread's own doing (an FPU instruction in a thread
 * without THREAD_FPU, an unmasked SIMD exception). Prints why, marks the
 * thread killed, and makes the trap return into thread_exit() on the
 * thread's stack. Returns false (do not kill; report the trap as fatal)
 * when the thread cannot be ended safely: the idle thread, inside an
 * interrupt handler, holding a lock, or with interrupts off.
 */
bool trap_kill_thread(struct trap_frame *tf, const char *why);

/* Prints the exception's name, error code, every register, CR2 for #PF. */
void trap_dump(const struct trap_frame *tf);

void idt_init(void);
void idt_load(void);
void gdt_init_this_cpu(int id);

#endif
