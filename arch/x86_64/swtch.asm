; arch/x86_64/swtch.asm - the context switch.
;
; struct thread *arch_switch(struct thread *prev /* rdi */,
;                            struct thread *next /* rsi */);
;
; Pushes on prev's stack the registers the System V ABI says a called
; function must preserve (RBX, RBP, R12-R15), stores RSP in
; prev->saved_rsp, loads next's, and pops next's. The `ret` returns into
; whatever call of arch_switch next made when it was switched out, or, for
; a new thread, into thread_entry_asm (the first frame that
; arch_thread_init_stack, frame.c, built). Returns prev, seen from next.
;
; The rest of a thread's state is not the switch's business:
;   - the FPU registers, control words included (MXCSR and the x87 control
;     word are callee-saved too), belong to the FPU context op of every
;     THREAD_FPU thread (kernel/fpu.c), which saves and restores the whole
;     state; a thread without THREAD_FPU runs with CR0.TS set and cannot
;     touch them. A switch that also moved the control words would load
;     one thread's words into registers holding another's state.
;   - RFLAGS: the switch runs with interrupts off, and the scheduler
;     restores the interrupt flag it saved (sched.c).
;
; Why assembly and not inline asm with a clobber list: which registers the
; compiler keeps live across such a statement changes with the optimisation
; level, and OSv lost callee-saved registers at -O0 exactly that way
; (docs/sched.md). Here nothing depends on the compiler.
;
; saved_rsp must be the first field of struct thread (offset 0).

bits 64
section .text

THREAD_SAVED_RSP equ 0

global arch_switch
arch_switch:
        push rbp
        push rbx
        push r12
        push r13
        push r14
        push r15
        mov [rdi + THREAD_SAVED_RSP], rsp
        mov rsp, [rsi + THREAD_SAVED_RSP]   ; now on next's stack
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbx
        pop rbp
        mov rax, rdi                    ; return prev
        ret

; A new thread's first instructions: arch_switch "returns" here with RAX =
; the thread switched away from, and RSP 16-byte aligned (frame.c). The
; call pushes 8 bytes, so thread_start begins with RSP = 8 (mod 16), as the
; ABI wants of every function. RBP is 0 (from the first frame), which ends
; backtraces.
extern thread_start
global thread_entry_asm
thread_entry_asm:
        mov rdi, rax
        call thread_start
        ud2                             ; thread_start never returns
