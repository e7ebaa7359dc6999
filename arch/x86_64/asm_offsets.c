/*
 * arch/x86_64/asm_offsets.c - the numbers the assembly needs from C's
 * structures, worked out by the compiler (as Linux's asm-offsets.c does).
 *
 * This file is never linked. The build compiles it to assembly (-S), where
 * each DEFINE leaves a line "->NAME value" that the Makefile turns into
 * "NAME equ value" in build/asm_offsets.inc, which syscall.asm and
 * trap_entry.asm include. So a field added to struct cpu or struct thread
 * moves the offsets in the assembly with it.
 */
#include <arch.h>
#include <arch/trap.h>
#include <arch/x86.h>
#include <percpu.h>
#include <thread.h>
#include <uapi/syscall.h>

#define DEFINE(sym, val) __asm__ volatile("\n->" #sym " %c0" ::"i"((long)(val)))

void asm_offsets(void);
void asm_offsets(void)
{
	/* struct trap_frame (arch/trap.h) */
	DEFINE(TF_R11, offsetof(struct trap_frame, r11));
	DEFINE(TF_RCX, offsetof(struct trap_frame, rcx));
	DEFINE(TF_RAX, offsetof(struct trap_frame, rax));
	DEFINE(TF_VECTOR, offsetof(struct trap_frame, vector));
	DEFINE(TF_ERROR, offsetof(struct trap_frame, error));
	DEFINE(TF_RIP, offsetof(struct trap_frame, rip));
	DEFINE(TF_CS, offsetof(struct trap_frame, cs));
	DEFINE(TF_RFLAGS, offsetof(struct trap_frame, rflags));
	DEFINE(TF_RSP, offsetof(struct trap_frame, rsp));
	DEFINE(TF_SS, offsetof(struct trap_frame, ss));
	DEFINE(TF_SIZE, sizeof(struct trap_frame));
	/* the per-CPU block, through %gs */
	DEFINE(CPU_KSTACK_TOP, offsetof(struct cpu, arch.kstack_top));
	DEFINE(CPU_SCRATCH, offsetof(struct cpu, arch.scratch));
	DEFINE(CPU_THREAD, offsetof(struct cpu, thread));
	DEFINE(CPU_NEED_RESCHED, offsetof(struct cpu, need_resched));
	/* struct thread: preempt_count and user_work, side by side */
	DEFINE(THREAD_PREEMPT_WORK, offsetof(struct thread, preempt_count));
	/* selectors and numbers */
	DEFINE(GDT_KDATA, GDT_KDATA);
	DEFINE(USER_CS, USER_CS);
	DEFINE(USER_DS, USER_DS);
	DEFINE(SYSCALL_VECTOR, SYSCALL_VECTOR);
	DEFINE(SYSCALL_COUNT, SYS_COUNT);
}
