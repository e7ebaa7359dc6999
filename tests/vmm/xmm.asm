; tests/vmm/xmm.asm - load and store the sixteen XMM registers, for the
; tests that check which values a thread (or a guest) finds in them.
;
; The kernel's C is compiled with -mgeneral-regs-only, so no compiler-made
; code ever touches an XMM register: what these put there stays there until
; a context switch (and the context ops under test) or a guest changes it.
;
; void test_xmm_load(const uint32_t in[64]);   /* rdi: xmm0..xmm15 <- in  */
; void test_xmm_store(uint32_t out[64]);       /* rdi: out <- xmm0..xmm15 */

bits 64
section .text

global test_xmm_load
test_xmm_load:
%assign r 0
%rep 16
        movdqu xmm %+ r, [rdi + r * 16]
%assign r r + 1
%endrep
        ret

global test_xmm_store
test_xmm_store:
%assign r 0
%rep 16
        movdqu [rdi + r * 16], xmm %+ r
%assign r r + 1
%endrep
        ret
