; serial.asm - says hello through a 16550 UART at COM1 (0x3F8), as a
; guest of a VM driven from user space does: the kernel emulates no UART,
; so every IN and OUT below is an exit to the user program (vmrun), which
; plays the device. Each character waits for the line status register's
; "transmitter empty" bit (LSR bit 5) first, as a real driver must.
; Then EBX more lines "line k" (k = 1 .. EBX), and the result
; SERIAL_OK | id through the result port.

bits 32
%include "abi.inc"
org CODE_GPA

COM1            equ 0x3F8
COM1_LSR        equ COM1 + 5
LSR_THRE        equ 0x20

start:
        mov ebp, ebx                    ; lines still to print
        mov ebx, hello
        call uputs
        mov eax, esi
        call uputdigits
        mov ebx, over
        call uputs
        xor edi, edi                    ; k
.line:  cmp edi, ebp
        jae .done
        inc edi
        mov ebx, line
        call uputs
        mov eax, edi
        call uputdigits
        mov al, 10
        call uputc
        jmp .line
.done:  mov eax, 0x5E100000             ; SERIAL_OK
        or eax, esi
        mov dx, PORT_RESULT
        out dx, eax
        jmp $

; One character in AL, once the UART can take it. Clobbers EDX.
uputc:  push eax
        mov dx, COM1_LSR
.busy:  in al, dx
        test al, LSR_THRE
        jz .busy
        pop eax
        mov dx, COM1
        out dx, al
        ret

; The zero-terminated string at EBX. Clobbers EAX, EBX, EDX.
uputs:  mov al, [ebx]
        test al, al
        jz .end
        call uputc
        inc ebx
        jmp uputs
.end:   ret

; EAX in decimal. Clobbers EAX, ECX, EDX.
uputdigits:
        xor ecx, ecx
.div:   xor edx, edx
        push ebx
        mov ebx, 10
        div ebx
        pop ebx
        push edx
        inc ecx
        test eax, eax
        jnz .div
.out:   pop eax
        add al, '0'
        call uputc
        loop .out
        ret

hello:  db "hello from vCPU ", 0
over:   db " over COM1", 10, 0
line:   db "line ", 0
