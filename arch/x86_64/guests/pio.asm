; pio.asm - makes EBX OUTs in a row to port 0x610, which the kernel does
; not emulate: in a VM driven from user space each is an exit to the user
; program and back (the vmm.user_exit_roundtrip benchmark). Then reports
; EBX through the result port.

bits 32
%include "abi.inc"
org CODE_GPA

PORT_PIO        equ 0x610

start:
        mov edi, ebx
        mov dx, PORT_PIO
.again: out dx, al
        dec edi
        jnz .again
        mov eax, ebx
        mov dx, PORT_RESULT
        out dx, eax
        jmp $
