; arch/x86_64/swtch.asm - the context switch.
;
; struct thread *arch_switch(struct thread *prev /* rdi */,
;                            struct thread *next /* rsi */);
;
; Saves on prev's stack everything the C calling convention says a callee
; must preserve: RBX, RBP, R12-R15, and the FPU control state (the MXCSR
; control bits and the x87 control word, which the SysV ABI also makes
; callee-saved). Stores prev's stack pointer in prev->saved_rsp, loads
; next's, and restores next's registers from its stack. The `ret` then
; returns into whatever call of arch_switch next made when it was switched
; out, or, for a new thread, into thread_entry_asm (thread.c builds that
; first frame). Returns prev, now seen from next's side.
;
; Why in assembly and not inline asm with a clobber list: which registers
; the compiler keeps live across such a statement changes with the
; optimisation level, and OSv lost callee-saved registers at -O0 exactly
; that way (docs/sched.md). Here nothing depends on the compiler.
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
        sub rsp, 8                      ; room for MXCSR (4 bytes) + x87 CW (2)
        stmxcsr [rsp]
        fnstcw [rsp + 4]
        mov [rdi + THREAD_SAVED_RSP], rsp

        mov rsp, [rsi + THREAD_SAVED_RSP]   ; now on next's stack

        ldmxcsr [rsp]
        fldcw [rsp + 4]
        add rsp, 8
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbx
        pop rbp
        mov rax, rdi                    ; return prev
        ret

; A new thread's first instructions: arch_switch "returns" here with RAX =
; the thread switched away from. Pass it to thread_start(prev), which
; finishes the switch and calls the thread's function. RBP is 0 (from the
; first frame), which ends backtraces.
extern thread_start
global thread_entry_asm
thread_entry_asm:
        mov rdi, rax
        call thread_start
        ud2                             ; thread_start never returns
