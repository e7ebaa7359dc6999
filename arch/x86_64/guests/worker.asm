; worker.asm - the guest of the rendezvous and FPU tests. Each vCPU reads
; its role from its mailbox (the host writes it before vm_start), then:
;
;   MODE_COMPUTE  loops for ever: 1024 SSE additions whose sum it checks,
;                 then (FLAG_FPU_CHECK) a check that XMM4-7 still hold its
;                 own pattern, then every MB_PERIOD iterations its periodic
;                 work: (FLAG_HOST_CHECK) an OUT to PORT_CHECK, where the
;                 host checks the same registers from outside, and, while
;                 MB_RV_COUNT is not 0, a rendezvous hypercall. When the
;                 count runs out it reports its error count (0: all well)
;                 through the result port and stops, or (FLAG_STAY) goes on
;                 computing, so that it stays a target for the others.
;   MODE_HALT     sleeps in HLT for ever, counting the events it is woken
;                 with (and checking XMM4-7 after each wakeup, if asked).
;   MODE_BLOCK    one OUT to PORT_BLOCK first (the host may hold it there),
;                 then as MODE_COMPUTE.
;
; XMM4-7 hold a pattern unique to the vCPU from the start and are never
; written again; the computing uses XMM0-2. So any change to XMM4-7 is the
; host's doing: a guest FPU lost or mixed up across a host context switch.
;
; Registers kept: EBP = our mailbox, ESI = id, EDI = number of vCPUs,
; EBX = our 128-byte scratch area on the stack (pattern, then a vCPU set).

bits 32
%include "abi.inc"
org CODE_GPA

%define MB(f) [ebp + (f) * 4]

start:
        mov eax, esi
        shl eax, MBOX_SHIFT
        lea ebp, [eax + MBOX_GPA]
        sub esp, 128
        mov ebx, esp

        ; the pattern: dword k of 16 is (id << 16) | 0xA500 | k
        FILL_PATTERN ebx, 16
        movdqu xmm4, [ebx]
        movdqu xmm5, [ebx + 16]
        movdqu xmm6, [ebx + 32]
        movdqu xmm7, [ebx + 48]

        cmp dword MB(MB_RNG), 0         ; a seed of our own, never 0
        jne .seeded
        imul eax, esi, 0x9E3779B1
        or eax, 1
        mov MB(MB_RNG), eax
.seeded:
        movups xmm0, [ones]
        xorps xmm1, xmm1

        mov eax, MB(MB_MODE)
        cmp eax, MODE_HALT
        je halt_loop
        cmp eax, MODE_BLOCK
        jne main_loop
        mov dx, PORT_BLOCK
        out dx, eax

main_loop:
        mov ecx, 1024
.add:   addps xmm1, xmm0
        dec ecx
        jnz .add
        movups xmm2, [sums]             ; 1024 * [1, 2, 3, 4], exact
        cmpeqps xmm2, xmm1
        movmskps eax, xmm2
        cmp eax, 0xF
        je .sum_ok
        inc dword MB(MB_SUM_ERR)
.sum_ok:
        xorps xmm1, xmm1
        test dword MB(MB_FLAGS), FLAG_FPU_CHECK
        jz .checked
        call check_pattern
.checked:
        inc dword MB(MB_ITER)

        mov ecx, MB(MB_PERIOD)          ; periodic work every MB_PERIOD turns
        test ecx, ecx
        jz main_loop
        mov eax, MB(MB_ITER)
        xor edx, edx
        div ecx
        test edx, edx
        jnz main_loop

        test dword MB(MB_FLAGS), FLAG_HOST_CHECK
        jz .no_host_check
        inc dword MB(MB_CHECKS)
        mov dx, PORT_CHECK
        out dx, eax                     ; the host looks at XMM4-7 here
        call check_pattern
.no_host_check:
        cmp dword MB(MB_RV_COUNT), 0
        je main_loop
        call rendezvous
        dec dword MB(MB_RV_COUNT)
        jnz main_loop
        test dword MB(MB_FLAGS), FLAG_STAY
        jnz main_loop

        mov eax, MB(MB_FPU_ERR)         ; done: report the errors seen
        add eax, MB(MB_SUM_ERR)
        add eax, MB(MB_RV_ERR)
        mov dx, PORT_RESULT
        out dx, eax
        jmp $

halt_loop:
        hlt
        mov dx, PORT_EVENT
        in eax, dx
        test eax, eax
        jz .no_event
        inc dword MB(MB_EVENTS)
.no_event:
        test dword MB(MB_FLAGS), FLAG_FPU_CHECK
        jz halt_loop
        call check_pattern
        jmp halt_loop

; Counts a mismatch of XMM4-7 against the pattern, then reloads them, so
; that one corruption counts once. Clobbers EAX, XMM2.
check_pattern:
        movdqu xmm2, [ebx]
        pcmpeqd xmm2, xmm4
        pmovmskb eax, xmm2
        cmp eax, 0xFFFF
        jne .bad
        movdqu xmm2, [ebx + 16]
        pcmpeqd xmm2, xmm5
        pmovmskb eax, xmm2
        cmp eax, 0xFFFF
        jne .bad
        movdqu xmm2, [ebx + 32]
        pcmpeqd xmm2, xmm6
        pmovmskb eax, xmm2
        cmp eax, 0xFFFF
        jne .bad
        movdqu xmm2, [ebx + 48]
        pcmpeqd xmm2, xmm7
        pmovmskb eax, xmm2
        cmp eax, 0xFFFF
        jne .bad
        ret
.bad:   inc dword MB(MB_FPU_ERR)
        movdqu xmm4, [ebx]
        movdqu xmm5, [ebx + 16]
        movdqu xmm6, [ebx + 32]
        movdqu xmm7, [ebx + 48]
        ret

; One rendezvous hypercall over MB(MB_DEST_GPA), or over a random subset of
; all vCPUs built at EBX + 64. Clobbers EAX, ECX, EDX.
rendezvous:
        mov eax, MB(MB_DEST_GPA)
        mov ecx, MB(MB_DEST_BITS)
        test eax, eax
        jnz .call
        lea ecx, [edi + 31]             ; dwords of an EDI-bit set
        shr ecx, 5
        xor edx, edx
.word:  call rand32
        mov [ebx + 64 + edx * 4], eax
        inc edx
        cmp edx, ecx
        jb .word
        mov ecx, edi                    ; clear the bits past the last vCPU
        and ecx, 31
        jz .masked
        mov eax, 1
        shl eax, cl
        dec eax
        and [ebx + 64 + edx * 4 - 4], eax
.masked:
        lea eax, [ebx + 64]             ; paging is off: linear = guest-physical
        mov ecx, edi
.call:  push ebx
        mov ebx, eax
        mov edx, MB(MB_RV_ARG)
        mov eax, HC_RENDEZVOUS
        vmmcall
        pop ebx
        test eax, eax
        jnz .failed
        inc dword MB(MB_RV_DONE)
        ret
.failed:
        inc dword MB(MB_RV_ERR)
        ret

; xorshift32 on MB(MB_RNG): returns the next value in EAX. Keeps ECX, EDX.
rand32:
        push edx
        mov eax, MB(MB_RNG)
        mov edx, eax
        shl edx, 13
        xor eax, edx
        mov edx, eax
        shr edx, 17
        xor eax, edx
        mov edx, eax
        shl edx, 5
        xor eax, edx
        mov MB(MB_RNG), eax
        pop edx
        ret

align 4
ones:   dd 1.0, 2.0, 3.0, 4.0
sums:   dd 1024.0, 2048.0, 3072.0, 4096.0
