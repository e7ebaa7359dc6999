; arch/x86_64/fpu_copy.asm - the SIMD part of memcpy_sse (lib/memcpy_sse.c).
;
; void arch_fpu_copy_blocks(void *dst /* rdi */, const void *src /* rsi */,
;                           size_t blocks /* rdx */);
;
; The machine half of the kernel's one SIMD user: lib/memcpy_sse.c is the
; portable half (the kernel FPU section, the tail), include/arch.h declares
; this and its block size, ARCH_FPU_COPY_BLOCK.
;
; Copies blocks * 64 bytes, 64 per iteration through XMM0-XMM3 (SSE2:
; every x86-64 CPU has it). movdqu accepts any alignment. The caller must
; be inside kfpu_begin/kfpu_end: these registers belong to the running
; thread otherwise (and with CR0.TS set, the first movdqu would trap).
; In assembly because the kernel is compiled with -mgeneral-regs-only.

bits 64
section .text

global arch_fpu_copy_blocks
arch_fpu_copy_blocks:
        test rdx, rdx
        jz .done
.loop:
        movdqu xmm0, [rsi]
        movdqu xmm1, [rsi + 16]
        movdqu xmm2, [rsi + 32]
        movdqu xmm3, [rsi + 48]
        movdqu [rdi], xmm0
        movdqu [rdi + 16], xmm1
        movdqu [rdi + 32], xmm2
        movdqu [rdi + 48], xmm3
        add rsi, 64
        add rdi, 64
        dec rdx
        jnz .loop
.done:
        ret
