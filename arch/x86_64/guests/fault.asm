; fault.asm - reads the guest-physical address in EBX, then reports 0 through
; the result port. With EBX outside the guest's memory the read never
; completes: the nested page tables make it a #NPF exit and the host stops
; the VM.

bits 32
%include "abi.inc"
org CODE_GPA

start:
        mov eax, [ebx]
        xor eax, eax
        mov dx, PORT_RESULT
        out dx, eax
        jmp $
