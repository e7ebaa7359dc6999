; avx.asm - holds a pattern in the whole of YMM4-7 (both halves) while it
; computes with AVX, across everything the host does meanwhile: its vCPU
; thread preempted, moved to another CPU, out in the user program between
; runs. The guest turns AVX on as an OS would: CR4.OSXSAVE, then XSETBV
; with the XCR0 the host runs with (x87, SSE, AVX: an exit the host checks).
;
; EBX rounds (0: 200); each round is 256 AVX additions on YMM0-3, a
; hypercall that switches the vCPU's host thread out and in (even rounds)
; or moves it to another host CPU (odd ones) while the guest's registers
; are live, a check of YMM4-7 against the pattern (dword k of the 32 =
; (id << 16) | 0xA500 | k), and an OUT to port 0x610 (an exit to the
; program, which may move the thread too before it runs it again). Mailbox dword 0: rounds done,
; 1: rounds that found the pattern changed. Result AVX_OK | id if none
; did, AVX_BAD | id if any.

bits 32
%include "abi.inc"
org CODE_GPA

PORT_PIO        equ 0x610
AVX_OK          equ 0xA7C00000
AVX_BAD         equ 0xBAD00000

start:
        mov ebp, ebx                    ; rounds
        test ebp, ebp
        jnz .r
        mov ebp, 200
.r:     mov eax, cr4
        or eax, 1 << 18                 ; OSXSAVE
        mov cr4, eax
        xor ecx, ecx
        mov eax, 7                      ; x87 | SSE | AVX
        xor edx, edx
        xsetbv
        mov edi, esi                    ; edi: this vCPU's mailbox
        shl edi, MBOX_SHIFT
        add edi, MBOX_GPA
        sub esp, 128                    ; the pattern, 32 dwords
        FILL_PATTERN esp, 32
        vmovdqu ymm4, [esp]
        vmovdqu ymm5, [esp + 32]
        vmovdqu ymm6, [esp + 64]
        vmovdqu ymm7, [esp + 96]
        vxorps ymm0, ymm0, ymm0
        vmovdqu ymm1, [esp]             ; something to add
.round: mov ecx, 256
.add:   vaddps ymm0, ymm0, ymm1
        vaddps ymm2, ymm0, ymm1
        vaddps ymm3, ymm2, ymm0
        loop .add
        mov eax, HC_YIELD               ; a host switch (even rounds) or a
        mov ebx, ebp                    ; move to another host CPU (odd ones)
        and ebx, 1                      ; with our registers live
        vmmcall
        xor ebx, ebx                    ; 0: intact
%macro CHECK 2                          ; register, offset of its pattern
        vextractf128 xmm0, %1, 0
        pcmpeqd xmm0, [esp + %2]
        pmovmskb eax, xmm0
        cmp eax, 0xFFFF
        setne al
        or bl, al
        vextractf128 xmm0, %1, 1
        pcmpeqd xmm0, [esp + %2 + 16]
        pmovmskb eax, xmm0
        cmp eax, 0xFFFF
        setne al
        or bl, al
%endmacro
        CHECK ymm4, 0
        CHECK ymm5, 32
        CHECK ymm6, 64
        CHECK ymm7, 96
        add [edi + 4], ebx              ; rounds with a change
        inc dword [edi]
        mov dx, PORT_PIO
        out dx, al
        dec ebp
        jnz .round
        mov eax, AVX_OK
        cmp dword [edi + 4], 0
        je .report
        mov eax, AVX_BAD
.report:
        or eax, esi
        mov dx, PORT_RESULT
        out dx, eax
        jmp $
