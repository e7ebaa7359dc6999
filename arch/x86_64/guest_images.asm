; arch/x86_64/guest_images.asm - the sample guests as data in the kernel.
;
; Each guests/NAME.asm is assembled flat (nasm -f bin, org 0x1000) into
; $(BUILD)/guests/NAME.bin by the Makefile; this file includes the bytes
; between vm_guest_NAME_start and vm_guest_NAME_end, and guests.c names
; them as struct vm_image for vmm_guests.h.

section .rodata

%include "image.inc"

IMAGE vm_guest, hello, "hello.bin"
IMAGE vm_guest, halt, "halt.bin"
IMAGE vm_guest, fault, "fault.bin"
IMAGE vm_guest, nops, "nops.bin"
IMAGE vm_guest, worker, "worker.bin"
IMAGE vm_guest, jump, "jump.bin"
