; jump.asm - jumps to the guest-physical address in EBX. With EBX outside
; the guest's memory the fetch there is a #NPF exit whose RIP is EBX: the
; vmm tests use it to put a chosen RIP into an exit (vmm_test.c).

bits 32
%include "abi.inc"
org CODE_GPA

start:
        jmp ebx
