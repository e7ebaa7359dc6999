; hello.asm - the first guest: says hello, computes with SSE, checks its
; own result, makes three NOP hypercalls, and reports through the result
; port: 0x600D0000 | id if all was well, 0xBAD00000 | id if not.
;
; Console: "hello from vCPU <id>" and "sse ok" (or "sse WRONG"), one line
; each. Exits: one I/O exit per console character and one for the result,
; three hypercalls.

bits 32
%include "abi.inc"
org CODE_GPA

start:
        mov ebp, esi                    ; our id, kept
        mov ebx, msg_hello
        call puts
        mov eax, ebp
        call putdec
        mov ebx, msg_nl
        call puts

        ; 100 times [1, 2, 3, 4] is [100, 200, 300, 400]: exact in floats
        movups xmm0, [ones]
        xorps xmm1, xmm1
        mov ecx, 100
.add:   addps xmm1, xmm0
        dec ecx
        jnz .add
        movups xmm2, [hundreds]
        cmpeqps xmm2, xmm1              ; all ones in each lane that matches
        movmskps eax, xmm2
        cmp eax, 0xF
        jne .wrong
        mov ebx, msg_ok
        call puts

        mov ecx, 3
.hc:    mov eax, HC_NOP
        vmmcall
        test eax, eax                   ; NOP returns 0
        jnz .bad
        dec ecx
        jnz .hc

        mov eax, 0x600D0000
        or eax, ebp
        jmp .result
.wrong: mov ebx, msg_wrong
        call puts
.bad:   mov eax, 0xBAD00000
        or eax, ebp
.result:
        mov dx, PORT_RESULT
        out dx, eax                     ; the vCPU stops here
        jmp $

; Prints EAX in decimal. Clobbers EAX, EBX, ECX, EDX.
putdec:
        sub esp, 12
        lea ebx, [esp + 11]
        mov byte [ebx], 0
        mov ecx, 10
.digit: xor edx, edx
        div ecx
        add dl, '0'
        dec ebx
        mov [ebx], dl
        test eax, eax
        jnz .digit
        call puts
        add esp, 12
        ret

PUTS_FN

align 4
ones:       dd 1.0, 2.0, 3.0, 4.0
hundreds:   dd 100.0, 200.0, 300.0, 400.0
msg_hello:  db "hello from vCPU ", 0
msg_nl:     db 10, 0
msg_ok:     db "sse ok", 10, 0
msg_wrong:  db "sse WRONG", 10, 0
