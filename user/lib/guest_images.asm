; user/lib/guest_images.asm - the sample guests (arch/x86_64/guests/) as
; data in user programs, for VMs driven from user space: a program loads
; one into its VM's memory with vm_memory, as bhyve loads a guest kernel.
; The Makefile assembles the guests flat into $(BUILD)/guests/NAME.bin and
; gives this file that directory on its include path; user/lib/uvm.c
; names them (struct uvm_image).

section .rodata

%include "image.inc"

IMAGE uvm_guest, hello, "hello.bin"
IMAGE uvm_guest, halt, "halt.bin"
IMAGE uvm_guest, fault, "fault.bin"
IMAGE uvm_guest, nops, "nops.bin"
IMAGE uvm_guest, worker, "worker.bin"
IMAGE uvm_guest, serial, "serial.bin"
IMAGE uvm_guest, fpuhold, "fpuhold.bin"
IMAGE uvm_guest, pio, "pio.bin"
IMAGE uvm_guest, smp, "smp.bin"
IMAGE uvm_guest, avx, "avx.bin"
IMAGE uvm_guest, mmio, "mmio.bin"
