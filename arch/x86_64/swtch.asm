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
; The FPU control words and CR0.TS. With TS set, stmxcsr and fnstcw would
; trap (#NM), and TS is set here whenever the FPU is not the running
; thread's to use: always for threads without THREAD_FPU, and at every
; switch under fpu=lazy (kernel/fpu.c). Then there is nothing to keep:
; such a thread cannot have changed the words (its FPU instructions trap),
; and an FPU thread's FPU context op saves and restores its whole FPU
; state, these words included. So the words are stored only when TS is
; clear, a flag in the slot says whether they were, and they are loaded
; back only if they were stored and TS is clear now. CR0 is read once:
; nothing between the two halves changes it, so the TS-set path skips the
; load side without testing again: each of the two paths is as short as a
; switch that always stored the words.
;
; saved_rsp must be the first field of struct thread (offset 0).

bits 64
section .text

THREAD_SAVED_RSP equ 0
CR0_TS           equ 1 << 3            ; task switched: FPU instructions trap
FPU_SAVED        equ 1                 ; slot word at +6: the words at +0, +4 are valid

global arch_switch
arch_switch:
        push rbp
        push rbx
        push r12
        push r13
        push r14
        push r15
        sub rsp, 8                      ; MXCSR (4 bytes), x87 CW (2), flag (2)
        mov rax, cr0
        test eax, CR0_TS
        jnz .ts_set

        ; TS clear: keep prev's control words, and load next's if its
        ; frame holds them.
        stmxcsr [rsp]
        fnstcw [rsp + 4]
        mov word [rsp + 6], FPU_SAVED
        mov [rdi + THREAD_SAVED_RSP], rsp
        mov rsp, [rsi + THREAD_SAVED_RSP]   ; now on next's stack
        test word [rsp + 6], FPU_SAVED
        jz .switched
        ldmxcsr [rsp]
        fldcw [rsp + 4]
        jmp .switched

        ; TS set: neither store nor load (either would trap); say so in
        ; prev's frame. TS is still set on next's side: nothing to load.
.ts_set:
        mov word [rsp + 6], 0
        mov [rdi + THREAD_SAVED_RSP], rsp
        mov rsp, [rsi + THREAD_SAVED_RSP]   ; now on next's stack

.switched:
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
