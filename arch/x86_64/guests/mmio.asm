; mmio.asm - loads from and stores to a device at guest-physical MMIO_GPA,
; outside the VM's memory: each access is a #NPF exit, which the kernel
; decodes (arch/x86_64/insn.c) and hands to the program driving the VM
; (UVM_EXIT_MMIO). The program is the device: eight 8-byte registers that
; keep what is stored and read it back (user/tests/uvm_test.c).
;
; ARG (EBX) 0: the moves, 32-bit first (each size, register and immediate,
; AH, a SIB and an absolute address), then in long mode the REX forms
; (64-bit, R8-R15, SIL, a zero-extending 32-bit load, an imm16, a REX.B
; base, an AH store, a RIP-relative load), then loads from code run
; through 4 KiB pages, through a 1 GiB page, and from an instruction that
; crosses a page. Each load is checked; the result is MMIO_OK, or
; GUEST_BAD | the number of the first check that failed.
; ARG 1: an INT 0x30 whose stack is the device: the event's delivery, not
; an instruction, touches it, which the kernel must say and not emulate.
; ARG 2: a MOVZX from the device, which the decoder does not take.
; ARG 3: a store whose page directory (the guest's own) is on the device:
; the CPU's walk of the guest's tables faults there, not the store.
; ARG 4: ARG2 stores in a row (vmm.user_mmio_roundtrip).
; ARG 5: a store across the end of the VM's memory: half of it memory, half
; not, which one exit cannot say (the fault names the second page).

bits 32
%include "abi.inc"
%include "longmode.inc"
org CODE_GPA

MMIO_GPA        equ 0xF00000            ; past the VM's memory, inside the 16 MiB map
LM_PML4         equ 0x70000             ; identity map of 0 .. 16 MiB (longmode.inc)
MMIO_MEM        equ 0x80000             ; the VM's memory (uvm.c's image: 512 KiB)
PT4K            equ 0x73000             ; 4 KiB pages: 16 MiB + x is x (x < 2 MiB)
VIA_4K          equ 0x1000000
VIA_1G          equ 0x40000000
MMIO_OK         equ 0x4D100000          ; uvm.h's UVM_MMIO_OK
GUEST_BAD       equ 0xBAD00000          ; | the number of the check that failed

%macro CHECK 3                          ; register, expected, check number
        cmp %1, %2
        mov eax, %3
%if __BITS__ == 64
        jne fail64
%else
        jne fail
%endif
%endmacro

start:
        test ebx, ebx
        jnz delivery
        mov ebx, MMIO_GPA
        mov dword [ebx], 0x12345678             ; C7 /0 imm32, 4 bytes at +0
        mov eax, 0xCAFEF00D
        mov [ebx + 8], eax                      ; 89 /r, 4 bytes at +8
        mov byte [ebx + 16], 0xAB               ; C6 /0 imm8, 1 byte at +16
        mov ax, 0xBEEF
        mov [ebx + 24], ax                      ; 66 89 /r, 2 bytes at +24
        mov ecx, [ebx]                          ; 8B /r
        CHECK ecx, 0x12345678, 1
        mov edx, 0xFFFFFFFF
        mov dl, [ebx + 16]                      ; 8A /r: the low byte only
        CHECK edx, 0xFFFFFFAB, 2
        mov eax, 0x11111111
        mov ah, [ebx + 16]                      ; 8A /r with reg 4: AH
        CHECK eax, 0x1111AB11, 3
        mov edi, 0x22222222
        mov di, [ebx + 24]                      ; 66 8B /r: the low word only
        CHECK edi, 0x2222BEEF, 4
        mov esi, 1
        mov eax, [ebx + esi * 8]                ; a SIB byte
        CHECK eax, 0xCAFEF00D, 5
        mov ecx, [MMIO_GPA + 8]                 ; an absolute disp32
        CHECK ecx, 0xCAFEF00D, 6

        LM_BUILD_MAP                            ; into long mode (longmode.inc)
        ; two more ways to the first 2 MiB, for code run through them (the
        ; kernel walks the guest's tables to fetch an instruction): 4 KiB
        ; pages at 16 MiB (a page table at PT4K), a 1 GiB page at 1 GiB
        mov edi, PT4K
        mov eax, 3                              ; present, writable, from 0
        mov ecx, 512
.pt:    mov [edi], eax
        add eax, 0x1000
        add edi, 8
        dec ecx
        jnz .pt
        mov dword [LM_PML4 + 0x2000 + 8 * 8], PT4K | 3   ; PD[8]: 16 MiB
        mov dword [LM_PML4 + 0x1000 + 8], 0x83  ; PDPT[1]: 1 GiB at 0, a 1 GiB page
        LM_ENTER long_mode

bits 64
long_mode:
        mov ax, LM_DATA64
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov ebx, MMIO_GPA
        mov rax, 0x0123456789ABCDEF
        mov [rbx + 32], rax                     ; REX.W 89 /r, 8 bytes at +32
        mov r9, [rbx + 32]                      ; REX.WR 8B /r
        CHECK r9, rax, 7
        mov qword [rbx + 40], -5                ; REX.W C7 /0: imm32 sign-extended
        mov r10, [rbx + 40]
        mov rax, -5
        CHECK r10, rax, 8
        mov r11, -1
        mov r11d, [rbx]                         ; a 32-bit load zero-extends
        mov eax, 0x12345678
        CHECK r11, rax, 9
        mov rsi, -1
        mov sil, [rbx + 16]                     ; REX 8A /r with reg 6: SIL
        mov rax, 0xFFFFFFFFFFFFFFAB
        CHECK rsi, rax, 10
        mov r12d, 0x5555
        mov [rbx + 48], r12w                    ; 66 REX.R 89 /r, 2 bytes at +48
        mov word [rbx + 56], 0x1234             ; 66 C7 /0: imm16, 2 bytes at +56
        mov r8, rbx
        mov eax, 0xCD77
        mov [r8 + 60], eax                      ; REX.B 89 /r (base R8), 4 bytes at +60
        mov [rbx + 17], ah                      ; 88 /r with reg 4: AH, 1 byte at +17
        mov ecx, [rel $$ + MMIO_GPA + 8 - CODE_GPA]   ; RIP-relative (to $$, the image)
        CHECK ecx, 0xCAFEF00D, 11
        mov rax, VIA_4K + via_4k                ; this code again, through 4 KiB pages
        jmp rax
via_4k: mov edx, [rbx + 60]
        CHECK edx, 0xCD77, 12
        mov rax, VIA_1G + via_1g                ; ... and through a 1 GiB page
        jmp rax
via_1g: xor esi, esi
        mov si, [rbx + 56]
        CHECK esi, 0x1234, 13
        mov rax, across                         ; identity again
        jmp rax
fail64: or eax, GUEST_BAD
report64:
        mov dx, PORT_RESULT
        out dx, eax
        jmp $

bits 32
fail:   or eax, GUEST_BAD
report:
        mov dx, PORT_RESULT
        out dx, eax
        jmp $

delivery:
        cmp ebx, 5
        je split
        cmp ebx, 4
        je stores
        cmp ebx, 3
        je walk
        cmp ebx, 2
        jne .int
        mov ebx, MMIO_GPA
        movzx eax, word [ebx]                   ; 0F B7: not a MOV the decoder takes
        mov eax, 98                             ; (never reached: the VM stops)
        jmp report
.int:   lgdt [lm_gdt_ptr]                       ; the gate's selector needs a GDT
        lidt [idt_ptr]
        mov esp, MMIO_GPA + 0x100               ; the stack is the device
        int 0x30                                ; its delivery pushes there
        mov eax, 99                             ; (never reached)
        jmp report

isr:    iret

bits 64
        times 0x1FFE - CODE_GPA - ($ - $$) nop
across: mov eax, [rbx + 17]                     ; 8B 43 11: across the page at 0x2000
        CHECK eax, 0xCD, 14                     ; +17 is AH's 0xCD, +18 .. +20 never stored
        mov eax, MMIO_OK                        ; every check passed
        jmp report64

bits 32
stores: ; ARG 4: ECX (ARG2) stores to the device in a row (the benchmark's)
        mov edi, MMIO_GPA
.again: mov [edi], ecx
        dec ecx
        jnz .again
        mov eax, MMIO_OK
        jmp report

split:  ; ARG 5: a store whose first half is the VM's memory, its second not
        mov dword [MMIO_MEM - 2], 0x11223344    ; (never completes: the VM stops)
        mov eax, 96
        jmp report

walk:   ; ARG 3: the guest's second GiB has its page directory on the device:
        ; a load there faults in the CPU's walk of the guest's tables
        LM_BUILD_MAP
        mov dword [LM_PML4 + 0x1000 + 8], MMIO_GPA | 3  ; PDPT[1]: a PD on the device
        LM_ENTER walk64
bits 64
walk64: mov [0x40000000], ecx                   ; a store, as the walk's own access is
                                                ; (the A bit): only EXITINFO1 tells them
                                                ; apart. (Never completes: the VM stops.)
        mov eax, 97
        jmp report64

LM_GDT
align 8
idt:    times 0x30 dq 0
        dw isr, 0x08, 0x8E00, 0                 ; 0x30: a 32-bit interrupt gate
idt_end:
idt_ptr:
        dw idt_end - idt - 1
        dd idt
