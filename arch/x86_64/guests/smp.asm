; smp.asm - a 64-bit SMP guest, the way a machine boots one: vCPU 0 (the
; BSP) builds page tables, enters long mode with paging, sets up an IDT
; and a periodic timer, and starts each AP with INIT and SIPI (VMM_HC_IPI,
; which the host delivers through the rendezvous, as bhyve's
; vm_handle_ipi does); each AP, started at CODE_GPA by its SIPI, takes the
; same way into long mode. Every vCPU counts its timer's interrupts and
; the one broadcast interrupt (VMM_HC_BROADCAST: an I/O APIC's, through
; the rendezvous) in its mailbox.
;
; The VM needs SMP_MEM bytes of memory and aps_wait_sipi (UVM_F_APS_WAIT_SIPI):
; the APs must wait for their SIPI. EBX = the timer ticks each vCPU
; counts (0: 10). While the BSP starts the next AP, those already started
; are busy: each of their loop's turns is an OUT to port 0x610, which the
; user program emulates (so they pass through the host's run loop all the
; time, and see any rendezvous in flight: with bug=rendezvous_spurious,
; also the ones not for them).
;
; ECX = 1: the APs halt between their interrupts instead (a VM of many
; vCPUs, most of them idle). ECX = 2: idle APs without a timer, halting
; with STI; HLT; the BSP sends each IDLE_IPIS fixed IPIs, one at a time,
; each once the last was counted: every one must wake its AP from a HLT
; (and return after it), and the APs finish with the broadcast alone. The
; first comes while the AP waits with interrupts off, so it is offered and
; not taken, and the AP's STI; HLT then exits with it on the line.
; (Modes 0 and 1 send AP 1 the RV_IPIS below; mode 2 does not.)
;
; Results: the BSP gives SMP_OK | the number of vCPUs that started, each
; AP SMP_OK | its id, once it has its ticks and the broadcast.
;
; Once all are up, the BSP sends AP 1 RV_IPIS fixed IPIs (vector 34), each a
; rendezvous over AP 1 alone, which may be out in the program emulating
; its port when one comes: the window in which, with the bug switch, the
; other APs join rendezvous that are not theirs (FreeBSD D37390).
;
; Mailbox dwords: SM_STARTED (1 once in long mode), SM_TICKS, SM_BCAST,
; SM_OUTS (the AP loop's OUTs), SM_LONG (EFER.LMA as RDMSR read it),
; SM_IPIS (the fixed IPIs taken; fewer than sent if some coalesced), and
; the BSP's SM_START_TSC (a qword: TSC ticks from its first INIT to the
; last AP's start; instructions under QEMU's -icount).

bits 32
%include "abi.inc"
%include "longmode.inc"
org CODE_GPA

LM_PML4         equ 0x70000             ; identity map of 0 .. 16 MiB (longmode.inc)
IDT             equ 0x74000             ; 256 gates of 16 bytes
SMP_MEM         equ 0x80000             ; the VM's memory must reach past them
VEC_TIMER       equ 32
VEC_BCAST       equ 33
VEC_IPI         equ 34
RV_IPIS         equ 20
IDLE_IPIS       equ 5
AP_IDLE         equ 2
PORT_PIO        equ 0x610
SMP_OK          equ 0x5A000000
TIMER_US        equ 1000

SM_STARTED      equ 0
SM_TICKS        equ 1
SM_BCAST        equ 2
SM_OUTS         equ 3
SM_LONG         equ 4
SM_IPIS         equ 5
SM_START_TSC    equ 6                   ; the BSP's: TSC ticks (a qword) from the
                                        ; first INIT to the last AP's start
SM_READY        equ 8                   ; an idle AP: in its window, interrupts off
SM_SENT         equ 9                   ; ... and the BSP's first IPI has been sent
SM_SHADOW       equ 10                  ; ... and it was not taken before the CLI after
                                        ; the HLT it woke (an interrupt shadow left over)

CODE64          equ LM_CODE64
DATA64          equ LM_DATA64

start:
        mov ebp, ecx                    ; the AP mode (ECX), before ECX is used
        test esi, esi
        jnz .tables_ready               ; an AP: the BSP built them
        push edi
        LM_BUILD_MAP                    ; longmode.inc
        pop edi
.tables_ready:
        LM_ENTER long_mode

bits 64
long_mode:
        mov ax, DATA64
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, esp                    ; the stack's upper half zeroed
        mov r15d, esi                   ; r15: this vCPU's mailbox
        shl r15d, MBOX_SHIFT
        add r15d, MBOX_GPA
        mov r12d, ebx                   ; r12: ticks to count
        mov r11d, ebp                   ; r11: the AP mode (ECX at the start)
        test r12d, r12d
        jnz .ticks
        mov r12d, 10
.ticks: mov r13d, edi                   ; r13: vCPUs
        mov ecx, 0xC0000080
        rdmsr
        shr eax, 10                     ; LMA
        and eax, 1
        mov [r15 + 4 * SM_LONG], eax
        test esi, esi
        jnz .idt_ready
        call build_idt                  ; the BSP's, before any AP starts
.idt_ready:
        lidt [idt_ptr]
        mov dword [r15 + 4 * SM_STARTED], 1
        sti
        test esi, esi
        jz .timer
        cmp r11d, AP_IDLE
        je ap_idle                      ; an idle AP has no timer
.timer: mov eax, HC_TIMER
        mov ebx, TIMER_US
        mov ecx, VEC_TIMER
        vmmcall
        test esi, esi
        jnz ap_main

; The BSP: INIT and SIPI to each AP in turn, each started before the next.
        rdtsc                           ; the start of them all, timed
        shl rdx, 32
        or rax, rdx
        mov r9, rax
        mov r14d, 1
.next_ap:
        cmp r14d, r13d
        jae .all_started
        mov eax, HC_IPI
        mov ebx, IPI_INIT
        mov ecx, r14d
        xor edx, edx
        vmmcall
        mov eax, HC_IPI
        mov ebx, IPI_SIPI
        mov ecx, r14d
        mov edx, CODE_GPA >> 12         ; it starts at CODE_GPA
        vmmcall
        mov eax, r14d
        shl eax, MBOX_SHIFT
.wait_ap:
        cmp dword [rax + MBOX_GPA + 4 * SM_STARTED], 0
        jne .ap_up
        pause
        jmp .wait_ap
.ap_up: cmp r11d, AP_IDLE
        jne .next
        mov eax, r14d                   ; idle APs: the first IPI once the AP is in
        shl eax, MBOX_SHIFT             ; its window with interrupts off (ap_idle)
.idle_ready:
        cmp dword [rax + MBOX_GPA + 4 * SM_READY], 0
        jne .idle_first
        pause
        jmp .idle_ready
.idle_first:
        mov r10d, 1                     ; then IDLE_IPIS IPIs, each sent once the
.idle_ipi:                              ; AP has counted the last (so each must
        mov eax, HC_IPI                 ; wake it from its HLT)
        mov ebx, IPI_FIXED
        mov ecx, r14d
        mov edx, VEC_IPI
        vmmcall
        mov eax, r14d
        shl eax, MBOX_SHIFT
        mov dword [rax + MBOX_GPA + 4 * SM_SENT], 1
.idle_wait:
        cmp [rax + MBOX_GPA + 4 * SM_IPIS], r10d
        jae .idle_next
        pause
        jmp .idle_wait
.idle_next:
        inc r10d
        cmp r10d, IDLE_IPIS
        jbe .idle_ipi
.next:  inc r14d
        jmp .next_ap
.all_started:
        rdtsc
        shl rdx, 32
        or rax, rdx
        sub rax, r9
        mov [r15 + 4 * SM_START_TSC], rax
        cmp r11d, AP_IDLE
        je .ticks_wait
        cmp r13d, 2                     ; then RV_IPIS fixed IPIs to AP 1, each
        jb .ticks_wait                  ; a rendezvous over it alone
        mov r14d, RV_IPIS
.ipi:   mov eax, HC_IPI
        mov ebx, IPI_FIXED
        mov ecx, 1
        mov edx, VEC_IPI
        vmmcall
        dec r14d
        jnz .ipi
.ticks_wait:
        cmp [r15 + 4 * SM_TICKS], r12d
        jae .broadcast
        hlt                             ; until the next tick
        jmp .ticks_wait
.broadcast:
        mov eax, HC_BROADCAST
        mov ebx, VEC_BCAST
        vmmcall
.wait_bcast:
        cmp dword [r15 + 4 * SM_BCAST], 0
        jne .count
        hlt
        jmp .wait_bcast
.count: xor ecx, ecx                    ; the vCPUs that started
        xor edx, edx
.c:     mov eax, ecx
        shl eax, MBOX_SHIFT
        add edx, [rax + MBOX_GPA + 4 * SM_STARTED]
        inc ecx
        cmp ecx, r13d
        jb .c
        mov eax, SMP_OK
        or eax, edx
        mov dx, PORT_RESULT
        out dx, eax
        jmp $

; An AP: busy with its device (port 0x610) until it has its ticks and the
; broadcast.
ap_main:
        test r11d, r11d
        jnz ap_halting
ap_busy:
        mov dx, PORT_PIO
        out dx, al
        inc dword [r15 + 4 * SM_OUTS]
        cmp [r15 + 4 * SM_TICKS], r12d
        jb ap_busy
        cmp dword [r15 + 4 * SM_BCAST], 0
        je ap_busy
ap_done:
        mov eax, SMP_OK
        or eax, esi
        mov dx, PORT_RESULT
        out dx, eax
        jmp $

; An idle AP (ECX = 2): no timer; it halts the race-free way (interrupts
; off while it looks, STI then HLT, the interrupt taken after the HLT
; begins), woken only by the BSP's IPIs and the broadcast.
ap_idle:
        cli                             ; the first IPI comes in this window:
        mov dword [r15 + 4 * SM_READY], 1
.wait_sent:                             ; its vector is offered while IF is 0,
        cmp dword [r15 + 4 * SM_SENT], 0
        je .wait_sent
        sti                             ; so it is still on the line when the
        hlt                             ; HLT (in STI's shadow) exits: it must wake it,
        cli                             ; and be taken before this CLI (a shadow
        cmp dword [r15 + 4 * SM_IPIS], 0        ; kept past the HLT's completion
        jne ap_idle_loop                ; would hold it off: SM_SHADOW)
        mov dword [r15 + 4 * SM_SHADOW], 1
ap_idle_loop:
        cli
        cmp dword [r15 + 4 * SM_IPIS], IDLE_IPIS
        jb .sleep
        cmp dword [r15 + 4 * SM_BCAST], 0
        jne .done
.sleep: sti
        hlt
        jmp ap_idle_loop
.done:  sti
        jmp ap_done

; An AP that halts between its interrupts (ECX = 1): what a large VM's
; idle APs do, asleep in the host until their timer's next period.
ap_halting:
        hlt
        cmp [r15 + 4 * SM_TICKS], r12d
        jb ap_halting
        cmp dword [r15 + 4 * SM_BCAST], 0
        je ap_halting
        jmp ap_done

; 256 interrupt gates: the timer's, the broadcast's, and for every other
; vector (an exception) one that ends the guest with a triple fault.
build_idt:
        mov edi, IDT
        xor ecx, ecx
.gate:  mov eax, isr_fault
        cmp ecx, VEC_TIMER
        jne .not_timer
        mov eax, isr_timer
.not_timer:
        cmp ecx, VEC_BCAST
        jne .not_bcast
        mov eax, isr_bcast
.not_bcast:
        cmp ecx, VEC_IPI
        jne .not_ipi
        mov eax, isr_ipi
.not_ipi:
        mov edx, eax                    ; offset 15:0, selector
        and edx, 0xFFFF
        or edx, CODE64 << 16
        mov [rdi], edx
        mov edx, eax                    ; offset 31:16, present, DPL 0, interrupt gate
        and edx, 0xFFFF0000
        or edx, 0x8E00
        mov [rdi + 4], edx
        mov qword [rdi + 8], 0          ; offset 63:32, reserved
        add rdi, 16
        inc ecx
        cmp ecx, 256
        jb .gate
        ret

; The handlers find their vCPU's mailbox from the stack they run on
; (vCPU i's is the STACK_SIZE bytes from STACK_GPA + i * STACK_SIZE).
%macro COUNTING_ISR 2
%1:     push rax
        mov rax, rsp
        sub rax, STACK_GPA
        shr rax, 9                      ; / STACK_SIZE: the vCPU's id
        shl rax, MBOX_SHIFT
        inc dword [rax + MBOX_GPA + 4 * %2]
        pop rax
        iretq
%endmacro
STACK_GPA       equ 0x10000
COUNTING_ISR isr_timer, SM_TICKS
COUNTING_ISR isr_bcast, SM_BCAST
COUNTING_ISR isr_ipi, SM_IPIS

isr_fault:
        lidt [no_idt]                   ; then any exception is a triple fault,
        int3                            ; which the host reports

LM_GDT
idt_ptr:
        dw 256 * 16 - 1
        dq IDT
no_idt: dw 0
        dq 0
