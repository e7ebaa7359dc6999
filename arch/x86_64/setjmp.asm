; arch/x86_64/setjmp.asm - a kernel setjmp/longjmp (struct arch_jmpbuf in arch.h).
;
; The test runner uses it to leave a test from a failed KT_ASSERT nested in
; helper calls, or from the watchdog. Only the callee-saved registers, the
; stack pointer and the return address need keeping: everything else is
; dead across a call by the ABI.

bits 64
section .text

; int arch_setjmp(struct arch_jmpbuf *jb /* rdi */): returns 0 now,
; and 1 again later when arch_longjmp(jb) is called.
global arch_setjmp
arch_setjmp:
        mov [rdi + 0], rbx
        mov [rdi + 8], rbp
        mov [rdi + 16], r12
        mov [rdi + 24], r13
        mov [rdi + 32], r14
        mov [rdi + 40], r15
        lea rax, [rsp + 8]              ; the caller's RSP after our ret
        mov [rdi + 48], rax
        mov rax, [rsp]                  ; our return address
        mov [rdi + 56], rax
        xor eax, eax
        ret

; void arch_longjmp(struct arch_jmpbuf *jb /* rdi */): never returns.
global arch_longjmp
arch_longjmp:
        mov rbx, [rdi + 0]
        mov rbp, [rdi + 8]
        mov r12, [rdi + 16]
        mov r13, [rdi + 24]
        mov r14, [rdi + 32]
        mov r15, [rdi + 40]
        mov rsp, [rdi + 48]
        mov eax, 1
        jmp [rdi + 56]
