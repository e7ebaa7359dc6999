; tests/fpu/fpu_regs.asm - put values in the vector registers and read them
; back, for the FPU tests and benchmarks (declared in tests/fpu/fpu_test.h).
;
; The kernel is compiled with -mgeneral-regs-only, so C never touches an
; XMM register: what these routines load stays there, across any amount of
; C code, until a switch (or a bug) changes it. That is what the tests rely
; on. Each buffer is 16 registers x 16 bytes, register 0 first.
;
; Legacy SSE instructions (movdqu) write the low 128 bits of a YMM register
; and keep the upper half; the VEX ones (vinsertf128) write all 256 bits.
; So fpu_test_put_xmm leaves the upper halves as they were, and
; fpu_test_put_ymm_hi sets only the upper halves (it rewrites the low half
; with itself).

bits 64
section .text

%macro EACH 1                           ; EACH op: op 0, op 1, ... op 15
%assign i 0
%rep 16
        %1 i
%assign i i + 1
%endrep
%endmacro

%macro PUT_XMM 1
        movdqu xmm%1, [rdi + 16 * %1]
%endmacro
%macro GET_XMM 1
        movdqu [rdi + 16 * %1], xmm%1
%endmacro
%macro PUT_YMM_HI 1
        vinsertf128 ymm%1, ymm%1, [rdi + 16 * %1], 1
%endmacro
%macro GET_YMM_HI 1
        vextractf128 [rdi + 16 * %1], ymm%1, 1
%endmacro

; void fpu_test_put_xmm(const void *src /* rdi, 256 bytes */)
global fpu_test_put_xmm
fpu_test_put_xmm:
        EACH PUT_XMM
        ret

; void fpu_test_get_xmm(void *dst /* rdi, 256 bytes */)
global fpu_test_get_xmm
fpu_test_get_xmm:
        EACH GET_XMM
        ret

; void fpu_test_put_ymm_hi(const void *src /* rdi */): AVX only
global fpu_test_put_ymm_hi
fpu_test_put_ymm_hi:
        EACH PUT_YMM_HI
        ret

; void fpu_test_get_ymm_hi(void *dst /* rdi */): AVX only
global fpu_test_get_ymm_hi
fpu_test_get_ymm_hi:
        EACH GET_YMM_HI
        ret

; void fpu_test_touch(void): one SSE instruction that changes nothing
; (with TS set it traps: #NM).
global fpu_test_touch
fpu_test_touch:
        movdqa xmm15, xmm15
        ret

; void fpu_test_sse_divide_by_zero(void): 1.0f / 0.0f in SSE; raises #XM
; if MXCSR leaves the divide-by-zero exception unmasked.
global fpu_test_sse_divide_by_zero
fpu_test_sse_divide_by_zero:
        mov eax, 0x3f800000             ; 1.0f
        movd xmm0, eax
        xorps xmm1, xmm1                ; 0.0f
        divss xmm0, xmm1
        ret

; void fpu_test_x87_divide_by_zero(void): 1 / 0 on the x87 stack; with the
; x87 control word leaving ZE unmasked, the next waiting instruction (fwait)
; raises #MF.
global fpu_test_x87_divide_by_zero
fpu_test_x87_divide_by_zero:
        fld1
        fldz
        fdivp st1, st0
        fwait
        fstp st0                        ; (not reached when #MF kills us)
        ret
