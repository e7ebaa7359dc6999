; fpuhold.asm - holds a pattern in XMM4-7 across a HLT: the guest FPU of
; a VM driven from user space, kept by the per-run context op while the
; vCPU's user thread sleeps in the kernel. Loads dword k of XMM4-7 with
; (id << 16) | 0xA500 | k (as the worker does), halts until a non-zero
; event, compares, and gives FPUHOLD_OK | id if all sixteen dwords are
; intact, FPUHOLD_BAD | id if not.

bits 32
%include "abi.inc"
org CODE_GPA

start:
        sub esp, 64                     ; the pattern, to load and compare
        FILL_PATTERN esp, 16
        movdqu xmm4, [esp]
        movdqu xmm5, [esp + 16]
        movdqu xmm6, [esp + 32]
        movdqu xmm7, [esp + 48]
.wait:  hlt                             ; the host thread sleeps: switched out and in
        mov dx, PORT_EVENT
        in eax, dx
        test eax, eax
        jz .wait
        movdqu xmm0, [esp]
        pcmpeqd xmm0, xmm4
        pmovmskb ebx, xmm0
        movdqu xmm0, [esp + 16]
        pcmpeqd xmm0, xmm5
        pmovmskb eax, xmm0
        and ebx, eax
        movdqu xmm0, [esp + 32]
        pcmpeqd xmm0, xmm6
        pmovmskb eax, xmm0
        and ebx, eax
        movdqu xmm0, [esp + 48]
        pcmpeqd xmm0, xmm7
        pmovmskb eax, xmm0
        and ebx, eax
        mov eax, 0xF00D0000             ; FPUHOLD_OK
        cmp ebx, 0xFFFF
        je .report
        mov eax, 0xBAD00000             ; FPUHOLD_BAD
.report:
        or eax, esi
        mov dx, PORT_RESULT
        out dx, eax
        jmp $
