; arch/x86_64/guest_images.asm - the sample guests as data in the kernel.
;
; Each guests/NAME.asm is assembled flat (nasm -f bin, org 0x1000) into
; $(BUILD)/guests/NAME.bin by the Makefile; this file includes the bytes
; between vm_guest_NAME_start and vm_guest_NAME_end, and guests.c names
; them as struct vm_image for vmm_guests.h.

section .rodata

%macro IMAGE 2
global vm_guest_%1_start, vm_guest_%1_end
vm_guest_%1_start:
        incbin %2
vm_guest_%1_end:
%endmacro

IMAGE hello,  "hello.bin"
IMAGE halt,   "halt.bin"
IMAGE fault,  "fault.bin"
IMAGE nops,   "nops.bin"
IMAGE worker, "worker.bin"
IMAGE jump,   "jump.bin"
