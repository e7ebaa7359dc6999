/*
 * arch/x86_64/frame.c - a new thread's first frame (after Linux's
 * copy_thread): what arch_switch pops for a thread that has never run.
 *
 * arch_switch (swtch.asm) ends with six pops and a `ret`. For a new thread
 * they find, just below the room kept for a user frame at the very top:
 *
 *     top - 56   r15 r14 r13 r12 rbx rbp    zeros (RBP 0 ends backtraces)
 *     top -  8   return address             thread_entry_asm
 *     top        the user frame (ARCH_USER_FRAME_SIZE, a multiple of 16),
 *                where a user thread's registers are while it is in the
 *                kernel (arch/x86_64/user.c); then the end of the stack
 *
 * Every thread keeps that room, user or not: the kernel stack of a thread
 * looks the same whatever runs on it.
 * so the `ret` leaves RSP at the aligned top, and thread_entry_asm's
 * `call thread_start` enters thread_start with RSP = 8 (mod 16): the
 * System V ABI's rule for every function entry, which the compiler relies
 * on to align locals (an aligned(16) buffer, a movaps spill, an fxsave
 * area on the stack). A frame one word longer or shorter puts every local
 * of every thread 8 bytes off: the bug issue 10 found, which
 * sched.new_thread_stack_is_abi_aligned catches.
 */
#include <arch.h>
#include <arch/trap.h>
#include <kernel.h>
#include <printk.h>
#include <string.h>
#include <thread.h>

#define STACK_ALIGN 16			/* the ABI's, at a call */

extern void thread_entry_asm(void);

struct first_frame {
	uint64_t r15, r14, r13, r12, rbx, rbp;
	uint64_t ret;			/* thread_entry_asm */
};

void arch_thread_init_stack(struct thread *t)
{
	uint64_t top = (uint64_t)t->stack + t->stack_size - ARCH_USER_FRAME_SIZE;
	if (!IS_ALIGNED(top, STACK_ALIGN))
		panic("arch_thread_init_stack: stack top 0x%lx of thread %s is not %d-byte "
		      "aligned", top, t->name, STACK_ALIGN);
	struct first_frame *ff = (struct first_frame *)top - 1;
	memset(ff, 0, sizeof(*ff));
	ff->ret = (uint64_t)thread_entry_asm;
	t->saved_rsp = (uint64_t)ff;
}
