; boot/ap_trampoline.asm - the first instructions of every other CPU (AP).
;
; An application processor (AP) wakes up from the boot CPU's start-up IPI
; (SIPI) the way the whole PC once did: in 16-bit real mode, at the page
; the SIPI named (vector v: CS = v * 256, IP = 0, i.e. physical v * 4 KiB),
; with paging, protected mode and interrupts all off. boot.asm climbed from
; 32-bit protected mode to long mode; this code climbs from one step lower:
;
;   real mode  --(GDT, CR0.PE)-->  32-bit protected mode
;              --(CR4.PAE, CR3, EFER.LME, CR0.PG)-->  long mode (compatibility)
;              --(far jump to a 64-bit code segment)-->  64-bit mode
;              --> ap_main(id) on the stack the boot CPU gave it
;
; Where it runs. The bytes below are assembled into the kernel's .rodata and
; copied by smp.c to AP_TRAMPOLINE_BASE (0x8000) before every start; they
; never run where they are linked. Every absolute address in them is
; therefore computed as "offset from ap_trampoline_start + TRAMPOLINE_BASE"
; (the TADDR macro). Both pages lie below 64 KiB, so with DS = 0 real-mode
; code uses the same flat addresses as the later modes.
;
; What the AP reads: struct ap_boot_params (arch/x86_64/include/arch/smp.h)
; at TRAMPOLINE_PARAMS, the page below, filled in by the boot CPU: the page
; tables (CR3), the stack, the C entry point, the CPU number, and whether
; the page tables use the no-execute bit (then EFER.NXE must be on before
; paging is, or every NX entry is a reserved-bit fault). The AP writes one
; thing back, `stage`, so a boot CPU that waits in vain can say how far the
; AP got.
;
; The layout constants are repeated from arch/smp.h; the record at the end
; (ap_trampoline_layout) lets smp.c check at boot that both agree.
;
; Nothing here uses a stack until 64-bit mode has loaded the AP's own: the
; trampoline page is shared by all APs, and a SIPI'd CPU has no stack.

TRAMPOLINE_BASE   equ 0x8000            ; AP_TRAMPOLINE_BASE
TRAMPOLINE_PARAMS equ 0x7000            ; AP_TRAMPOLINE_PARAMS

; struct ap_boot_params offsets
P_CR3             equ 0
P_STACK_TOP       equ 8
P_ENTRY           equ 16
P_CPU_ID          equ 24
P_APIC_ID         equ 28
P_EFER_NX         equ 32
P_STAGE           equ 36

; enum ap_stage
STAGE_REAL        equ 1
STAGE_PROTECTED   equ 2
STAGE_LONG        equ 3

%include "boot/x86.inc"
CPUID_FEATURES    equ 1                 ; leaf 1: EBX[31:24] = initial APIC ID
APIC_ID_SHIFT     equ 24

; Selectors in the trampoline's own GDT (below).
SEL_CODE32        equ 0x08
SEL_DATA          equ 0x10
SEL_CODE64        equ 0x18

; The address of a trampoline label once copied, and of a parameter.
%define TADDR(label) ((label) - ap_trampoline_start + TRAMPOLINE_BASE)
%define PARAM(field) (TRAMPOLINE_PARAMS + (field))

section .rodata
align 16
global ap_trampoline_start, ap_trampoline_end, ap_trampoline_layout

bits 16
ap_trampoline_start:
        ; --- 16-bit real mode -------------------------------------------
        ; The SIPI left CS = TRAMPOLINE_BASE >> 4, IP = 0. Interrupts are
        ; off already after INIT; cli anyway, so nothing depends on that.
        cli
        cld
        xor ax, ax
        mov ds, ax                      ; DS base 0: offsets are addresses

        ; Is this block meant for us? The boot CPU starts one AP at a time
        ; and fills the block for that one. An AP that it gave up on, and
        ; that wakes up late while another AP's block is here, must not run
        ; on that AP's stack: it compares its own APIC ID (CPUID works in
        ; real mode) with the block's and parks itself if they differ.
        mov eax, CPUID_FEATURES
        cpuid
        shr ebx, APIC_ID_SHIFT
        cmp ebx, [PARAM(P_APIC_ID)]
        jne .park
        mov dword [PARAM(P_STAGE)], STAGE_REAL

        ; Load the trampoline's GDT (flat 32-bit code and data, 64-bit
        ; code), then set CR0.PE: protected mode. The value is written
        ; whole, not or-ed in: after INIT, CR0 has CD and NW set (caches
        ; off), which we do not want to keep. A far jump then loads CS with
        ; a 32-bit code selector; until it does, the CPU still decodes
        ; 16-bit code.
        o32 lgdt [TADDR(gdt_ptr)]
        mov eax, CR0_PE | CR0_ET
        mov cr0, eax
        jmp dword SEL_CODE32:TADDR(protected_mode)

.park:
        hlt                             ; interrupts are off: for good
        jmp .park

bits 32
protected_mode:
        ; --- 32-bit protected mode, paging off ----------------------------
        mov ax, SEL_DATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov dword [PARAM(P_STAGE)], STAGE_PROTECTED

        ; Long mode needs PAE page tables: 64-bit entries, four levels.
        mov eax, cr4
        or eax, CR4_PAE
        mov cr4, eax

        ; The kernel's own page tables. CR3 is 32 bits wide here, which is
        ; why smp.c insists that they lie below 4 GiB.
        mov eax, [PARAM(P_CR3)]
        mov cr3, eax

        ; EFER.LME: "use long mode when paging is turned on"; EFER.NXE if
        ; the kernel's tables use the no-execute bit, as the boot CPU's do.
        mov ecx, MSR_EFER
        rdmsr
        or eax, EFER_LME
        cmp dword [PARAM(P_EFER_NX)], 0
        je .no_nx
        or eax, EFER_NXE
.no_nx:
        wrmsr

        ; Paging on: the CPU is now in long mode, compatibility submode,
        ; still running this 32-bit code. The kernel's tables must map this
        ; page executable (smp.c sees to it while APs start), or the next
        ; instruction fetch faults. WP makes read-only pages read-only for
        ; the kernel too; NE is the native x87 error reporting.
        mov eax, CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_PE
        mov cr0, eax

        ; A far jump to a code segment with L=1: 64-bit mode.
        jmp SEL_CODE64:TADDR(long_mode)

bits 64
long_mode:
        ; --- 64-bit mode --------------------------------------------------
        mov ax, SEL_DATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax                      ; percpu_init_this sets the GS base

        ; Our own stack at last, then ap_main(cpu id) in C. A zero frame
        ; pointer ends backtraces here. The stack top is 16-byte aligned and
        ; `call` pushes 8 bytes, as the ABI expects at a function's entry.
        mov rsp, [PARAM(P_STACK_TOP)]
        xor ebp, ebp
        mov edi, [PARAM(P_CPU_ID)]
        mov rax, [PARAM(P_ENTRY)]
        mov dword [PARAM(P_STAGE)], STAGE_LONG
        call rax
.hang:                                  ; ap_main does not return
        cli
        hlt
        jmp .hang

; The trampoline's GDT. The accessed bit (type 0x9B / 0x93 rather than
; 0x9A / 0x92) is set already: loading a segment would otherwise make the
; CPU write it, and in long mode this page is mapped read-only. ap_main
; loads the CPU's real GDT (cpu.c) before anything else needs it.
align 16
gdt:
        dq 0                            ; null
        dq 0x00CF9B000000FFFF           ; 0x08: 32-bit code, base 0, 4 GiB
        dq 0x00CF93000000FFFF           ; 0x10: data, base 0, 4 GiB, writable
        dq 0x00AF9B000000FFFF           ; 0x18: 64-bit code (L=1)
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd TADDR(gdt)
ap_trampoline_end:

; What this file assumes; smp.c checks it against arch/smp.h (not copied).
align 8
ap_trampoline_layout:
        dq TRAMPOLINE_BASE, TRAMPOLINE_PARAMS
        dq P_CR3, P_STACK_TOP, P_ENTRY, P_CPU_ID, P_APIC_ID, P_EFER_NX, P_STAGE
