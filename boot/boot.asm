; boot/boot.asm - multiboot headers, 32-bit entry, and the switch to long mode.
;
; Two loaders start us:
;   - GRUB's `multiboot2` command (the ISO): it reads the Multiboot 2 header,
;     loads the ELF64 image and jumps to _start32 with EAX = 0x36D76289.
;   - QEMU's `-kernel` (the test harness): it only speaks Multiboot 1 and
;     only loads 32-bit ELF files, so the build converts kernel.elf with
;     `objcopy -O elf32-i386`; EAX = 0x2BADB002.
; Either way we arrive in 32-bit protected mode, paging off, interrupts off,
; EBX pointing at the loader's information structure.
;
; What this file does, in order:
;   1. check the loader magic and that the CPU can run 64-bit code, saying so
;      on the serial port and the VGA screen if not;
;   2. identity-map the first 4 GiB with 2 MiB pages (arch/x86_64/paging.c
;      replaces these tables with finer ones once C runs);
;   3. turn on PAE, long mode (EFER.LME), no-execute (EFER.NXE, if present),
;      paging and write-protect, load a 64-bit GDT and far-jump to 64-bit code;
;   4. call kmain(magic, info) on the boot stack.

MB1_MAGIC       equ 0x1BADB002
MB1_FLAGS       equ (1 << 0) | (1 << 1)  ; page-align modules, give memory info
MB1_LOADER      equ 0x2BADB002           ; what a Multiboot 1 loader puts in EAX
MB2_MAGIC       equ 0xE85250D6
MB2_ARCH_I386   equ 0
MB2_LOADER      equ 0x36D76289

%include "boot/x86.inc"
CPUID_EXT_LM    equ 1 << 29              ; CPUID 0x80000001 EDX: long mode
CPUID_EXT_NX    equ 1 << 20              ; CPUID 0x80000001 EDX: no-execute

PTE_P           equ 1 << 0
PTE_W           equ 1 << 1
PTE_PS          equ 1 << 7               ; in a page directory: a 2 MiB page

COM1            equ 0x3F8
VGA_TEXT        equ 0xB8000

; ---------------------------------------------------------------------------
; Headers. The linker script puts .multiboot first in the image, well inside
; the first 8 KiB (Multiboot 1) and 32 KiB (Multiboot 2) the loaders search.
section .multiboot
align 4
mb1_header:
        dd MB1_MAGIC
        dd MB1_FLAGS
        dd 0x100000000 - (MB1_MAGIC + MB1_FLAGS)   ; checksum: the sum is 0

align 8
mb2_header:
        dd MB2_MAGIC
        dd MB2_ARCH_I386
        dd mb2_header_end - mb2_header
        dd 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
        ; no tags but the end tag: text mode, memory map, command line and
        ; modules are given to every multiboot2 kernel anyway
        dw 0                            ; type: end
        dw 0                            ; flags
        dd 8                            ; size
mb2_header_end:

; ---------------------------------------------------------------------------
section .boot.text
bits 32
global _start32
_start32:
        cli
        cld
        mov esp, boot_stack_top
        mov [boot_magic], eax
        mov [boot_info], ebx

        ; 1. Who loaded us?
        cmp eax, MB1_LOADER
        je .loader_ok
        cmp eax, MB2_LOADER
        je .loader_ok
        mov esi, msg_no_multiboot
        jmp fatal32
.loader_ok:

        ; Does CPUID go up to the extended leaf 0x80000001, and does that
        ; leaf report long mode? (Every x86-64 CPU has CPUID itself.)
        mov eax, 0x80000000
        cpuid
        cmp eax, 0x80000001
        jb .no_long_mode
        mov eax, 0x80000001
        cpuid
        test edx, CPUID_EXT_LM
        jz .no_long_mode
        mov [boot_has_nx], dword 0
        test edx, CPUID_EXT_NX
        jz .build_tables
        mov [boot_has_nx], dword 1
        jmp .build_tables
.no_long_mode:
        mov esi, msg_no_long_mode
        jmp fatal32

        ; 2. Page tables: PML4[0] -> PDPT, PDPT[0..3] -> four page
        ; directories, each directory 512 entries of 2 MiB: 4 GiB identity.
        ; The tables are in .bss, which both loaders zero.
.build_tables:
        mov eax, boot_pdpt
        or eax, PTE_P | PTE_W
        mov [boot_pml4], eax

        mov ecx, 0                      ; ecx = which directory (0..3)
.next_pd:
        mov eax, ecx
        shl eax, 12                     ; 4 KiB per directory
        add eax, boot_pd
        or eax, PTE_P | PTE_W
        mov [boot_pdpt + ecx * 8], eax
        inc ecx
        cmp ecx, 4
        jb .next_pd

        mov ecx, 0                      ; ecx = 2 MiB page number (0..2047)
.next_page:
        mov eax, ecx
        shl eax, 21                     ; physical address = n * 2 MiB
        or eax, PTE_P | PTE_W | PTE_PS
        mov [boot_pd + ecx * 8], eax
        mov eax, ecx
        shr eax, 11                     ; high half of the address (n >> 11)
        mov [boot_pd + ecx * 8 + 4], eax
        inc ecx
        cmp ecx, 2048
        jb .next_page

        ; 3. Into long mode: PAE, CR3, EFER, then paging.
        mov eax, cr4
        or eax, CR4_PAE
        mov cr4, eax
        mov eax, boot_pml4
        mov cr3, eax
        mov ecx, MSR_EFER
        rdmsr
        or eax, EFER_LME
        cmp dword [boot_has_nx], 0
        je .no_nx
        or eax, EFER_NXE
.no_nx:
        wrmsr
        mov eax, cr0
        or eax, CR0_PG | CR0_PE | CR0_WP
        mov cr0, eax

        lgdt [boot_gdt_ptr]
        jmp BOOT_CS:long_entry          ; reload CS: now 64-bit code

; fatal32: print the NUL-terminated string at ESI on COM1 and the top line of
; the VGA text screen, then halt for ever. Used before long mode only.
fatal32:
        ; COM1: 115200 8N1, polled (same set-up as arch/x86_64/uart.c)
        mov dx, COM1 + 1
        xor al, al
        out dx, al                      ; no interrupts
        mov dx, COM1 + 3
        mov al, 0x80
        out dx, al                      ; DLAB on
        mov dx, COM1
        mov al, 1
        out dx, al                      ; divisor 1 = 115200 baud
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al                      ; 8 bits, no parity, 1 stop, DLAB off
        mov edi, VGA_TEXT
.next_char:
        lodsb
        test al, al
        jz .halt
        mov ah, al
        mov dx, COM1 + 5
.wait_tx:
        in al, dx                       ; line status: transmitter empty?
        test al, 0x20
        jz .wait_tx
        mov dx, COM1
        mov al, ah
        out dx, al
        cmp al, 10
        je .next_char                   ; no newline on the screen
        mov [edi], al
        mov byte [edi + 1], 0x4F        ; white on red
        add edi, 2
        jmp .next_char
.halt:
        hlt
        jmp .halt

; ---------------------------------------------------------------------------
bits 64
extern kmain
long_entry:
        mov ax, BOOT_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax
        mov rsp, boot_stack_top
        xor ebp, ebp                    ; a zero frame pointer ends backtraces
        mov edi, [boot_magic]
        mov esi, [boot_info]
        call kmain
.hang:
        cli
        hlt
        jmp .hang

; ---------------------------------------------------------------------------
section .rodata
msg_no_multiboot:
        db "boot: not started by a Multiboot loader (bad magic in EAX); halting", 10, 0
msg_no_long_mode:
        db "boot: this CPU has no long mode (x86-64); this kernel needs a 64-bit CPU. Halting.", 10, 0

; A minimal GDT for the jump into long mode; arch/x86_64/gdt.c loads the real
; one (with a TSS per CPU) soon after.
align 16
boot_gdt:
        dq 0                            ; null
        dq 0x00AF9A000000FFFF           ; 0x08: 64-bit code, ring 0
        dq 0x00CF92000000FFFF           ; 0x10: data, ring 0
boot_gdt_end:
BOOT_CS equ 0x08
BOOT_DS equ 0x10
boot_gdt_ptr:
        dw boot_gdt_end - boot_gdt - 1
        dd boot_gdt

; ---------------------------------------------------------------------------
section .data
global boot_magic, boot_info, boot_has_nx
boot_magic:     dd 0
boot_info:      dd 0
boot_has_nx:    dd 0

section .bss.pagealigned nobits alloc write align=4096
global boot_pml4, boot_stack_guard, boot_stack_bottom, boot_stack_top
boot_pml4:      resb 4096
boot_pdpt:      resb 4096
boot_pd:        resb 4 * 4096
; The page below the boot stack is left unmapped by paging.c, so running off
; the end of the stack is a page fault (then a double fault on its own IST
; stack), not silent corruption of whatever lies below.
boot_stack_guard:
                resb 4096
boot_stack_bottom:
                resb 16384
boot_stack_top:
