; nops.asm - makes EBX NOP hypercalls in a row, then reports EBX through
; the result port: the exit round trip of the vmm.exit_roundtrip benchmark.

bits 32
%include "abi.inc"
org CODE_GPA

start:
        mov edi, ebx
.again: mov eax, HC_NOP
        vmmcall
        dec edi
        jnz .again
        mov eax, ebx
        mov dx, PORT_RESULT
        out dx, eax
        jmp $
