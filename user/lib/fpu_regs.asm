; user/lib/fpu_regs.asm - a process's FPU registers, loaded and read
; exactly (user/include/fpu_regs.h).
;
; Compiled C may use any XMM register between two statements, so the
; tests do everything that must see the registers untouched here: load an
; image, make a system call (a yield, a fork, a migration), read the
; registers back. Legacy SSE moves leave the upper halves of the YMM
; registers alone, so the XMM and YMM parts are loaded and read
; separately; the MMX moves reach the x87 registers' significands.
; The first instruction of each routine that touches the FPU is an SSE
; move: with CR0.TS set it is the one that raises #NM.

bits 64
default rel

; struct fpu_regs (fpu_regs.c checks these against the C layout)
%define R_XMM    0
%define R_YMM_HI 256
%define R_MM     512
%define R_MXCSR  576
%define R_FCW    580

extern fpu_regs_have_avx                ; fpu_regs.c: 1 if the YMM halves count

section .text

; EACH n, m: m 0, m 1, ..., m n-1
%macro EACH 2
%assign i 0
%rep %1
        %2 %[i]
%assign i i + 1
%endrep
%endmacro

; one register of each kind, to (LD_) and from (ST_) the image at rdi
%macro LD_XMM 1
        movdqu  xmm%1, [rdi + R_XMM + 16 * %1]
%endmacro
%macro ST_XMM 1
        movdqu  [rdi + R_XMM + 16 * %1], xmm%1
%endmacro
%macro LD_YMM_HI 1
        vinsertf128 ymm%1, ymm%1, [rdi + R_YMM_HI + 16 * %1], 1
%endmacro
%macro ST_YMM_HI 1
        vextractf128 [rdi + R_YMM_HI + 16 * %1], ymm%1, 1
%endmacro
%macro LD_MM 1
        movq    mm%1, [rdi + R_MM + 8 * %1]
%endmacro
%macro ST_MM 1
        movq    [rdi + R_MM + 8 * %1], mm%1
%endmacro

; the registers from the image at rdi
%macro LOAD 0
        EACH    16, LD_XMM
        cmp     byte [fpu_regs_have_avx], 0
        je      %%no_avx
        EACH    16, LD_YMM_HI
%%no_avx:
        EACH    8, LD_MM
        ldmxcsr [rdi + R_MXCSR]
        fldcw   [rdi + R_FCW]
%endmacro

; the registers into the image at rdi
%macro READ 0
        EACH    16, ST_XMM
        cmp     byte [fpu_regs_have_avx], 0
        je      %%no_avx
        EACH    16, ST_YMM_HI
%%no_avx:
        EACH    8, ST_MM
        stmxcsr [rdi + R_MXCSR]
        fnstcw  [rdi + R_FCW]
%endmacro

; void fpu_regs_load(const struct fpu_regs *r)
global fpu_regs_load:function
fpu_regs_load:
        LOAD
        ret

; void fpu_regs_read(struct fpu_regs *r)
global fpu_regs_read:function
fpu_regs_read:
        READ
        ret

; long fpu_regs_hold(want rdi, got rsi, nr rdx, a0 rcx, a1 r8, a2 r9)
global fpu_regs_hold:function
fpu_regs_hold:
        push    rbx
        mov     rbx, rsi                ; got: callee-saved across the call
        LOAD
        mov     rax, rdx
        mov     rdi, rcx
        mov     rsi, r8
        mov     rdx, r9
        syscall                         ; clobbers rcx and r11 only
        mov     rdi, rbx
        READ                            ; leaves rax, the result
        pop     rbx
        ret

; void fpu_regs_probe_thread(out rdi, sys_thread_exit rsi): a thread's
; entry; nothing runs in it before the registers are read
global fpu_regs_probe_thread:function
fpu_regs_probe_thread:
        READ
        mov     rax, rsi
        syscall
        ud2
