; tests/sched/regs.asm - does a switch keep the callee-saved registers?
;
; uint64_t sched_regs_check(void (*fn)(void *) /* rdi */, void *arg /* rsi */);
;
; Loads a distinct pattern into each callee-saved register (RBX, RBP,
; R12-R15), calls fn(arg) (which yields or gets preempted), then compares.
; Returns a bit mask of the registers that came back changed: bit 0 RBX,
; 1 RBP, 2 R12, 3 R13, 4 R14, 5 R15; 0 means all survived. Written in
; assembly so the compiler cannot keep or reload the values for us.

bits 64
section .text

%define PAT_RBX 0x1111111111111111
%define PAT_RBP 0x2222222222222222
%define PAT_R12 0x3333333333333333
%define PAT_R13 0x4444444444444444
%define PAT_R14 0x5555555555555555
%define PAT_R15 0x6666666666666666

%macro CHECK 3                          ; register, pattern, bit
        mov rcx, %2
        cmp %1, rcx
        je %%same
        or rax, 1 << %3
%%same:
%endmacro

global sched_regs_check
sched_regs_check:
        push rbp
        mov rbp, rsp
        push rbx
        push r12
        push r13
        push r14
        push r15
        push rbp                        ; our frame pointer, saved (keeps 16-byte alignment)

        mov rax, rdi                    ; fn
        mov rdi, rsi                    ; its argument
        mov rbx, PAT_RBX
        mov r12, PAT_R12
        mov r13, PAT_R13
        mov r14, PAT_R14
        mov r15, PAT_R15
        mov rbp, PAT_RBP
        call rax

        xor eax, eax
        CHECK rbx, PAT_RBX, 0
        CHECK rbp, PAT_RBP, 1
        CHECK r12, PAT_R12, 2
        CHECK r13, PAT_R13, 3
        CHECK r14, PAT_R14, 4
        CHECK r15, PAT_R15, 5

        pop rbp
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbx
        pop rbp
        ret
