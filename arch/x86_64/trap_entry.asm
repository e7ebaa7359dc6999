; arch/x86_64/trap_entry.asm - the first instructions of every trap.
;
; The CPU enters an IDT gate with RFLAGS.IF cleared (all our gates are
; interrupt gates) and has pushed SS, RSP, RFLAGS, CS, RIP and, for some
; exceptions, an error code. To give C one shape for all 256 vectors, each
; vector has a tiny stub that pushes a 0 in place of the missing error code
; (so the frame is the same size either way) and its vector number, then jumps
; to trap_common, which pushes the general registers to complete a struct
; trap_frame (arch/trap.h) and calls trap_dispatch(frame).
;
; trap_common also pushes a fake stack frame (the interrupted RIP and RBP)
; before the call, so a backtrace taken inside a handler walks on through
; the interrupted code as if the trap had been a call.
;
; From ring 3 (the interrupted CS has RPL 3) three things more, on the way
; in: SWAPGS, so that %gs is this CPU's struct cpu again (the user's GS base
; goes to MSR_KERNEL_GS_BASE until the way out); SS reloaded with the
; kernel's data selector (an interrupt from ring 3 loads a null SS, which
; AMD's SYSRET would hand on to another thread returning to ring 3 with its
; attributes unusable); and a fake frame of zeros, so that a backtrace stops
; at the boundary instead of walking the user's stack. On the way out,
; SWAPGS again just before IRETQ, with interrupts off: nothing can run in
; between with the user's GS (an NMI can: it has a stack and a GS rule of
; its own, arch/x86_64/user.c). Every entry clears RFLAGS.AC where the CPU
; has SMAP: AC is the user's to set, and with it set the kernel could touch
; user memory outside the copy routines; the IRETQ restores it.
;
; Every trap from ring 0 is also checked against the stretches of the way
; into and out of ring 3 that run with interrupts off (SYSCALL to its STI,
; the system call's exit to SYSRETQ, user_return's checks, trap_return to
; IRETQ): one taken there means the
; code let interrupts in too early, and is counted (arch_user_window_traps,
; which sysinfo reports and robust.no_interrupt_arrives_on_the_way_in_or_out
; checks stays 0). NMI and #MC are left out: they arrive anywhere.

bits 64
section .text

%include "arch/x86_64/frame.inc"
extern arch_smap_on

T_NMI           equ 2
T_MC            equ 18

; Vectors whose error code the CPU pushes itself: #DF 8, #TS 10, #NP 11,
; #SS 12, #GP 13, #PF 14, #AC 17, #CP 21, #VC 29, #SX 30.
%macro STUB 1
trap_stub_%1:
%if (%1 = 8) || (%1 >= 10 && %1 <= 14) || (%1 = 17) || (%1 = 21) || (%1 = 29) || (%1 = 30)
        ; the CPU pushed an error code already
%else
        push 0                          ; a dummy error code
%endif
        push %1                         ; the vector number
        jmp trap_common
        align 16
%endmacro

        align 16
global trap_stubs
trap_stubs:
%assign v 0
%rep 256
        STUB %[v]
%assign v v + 1
%endrep

; A trap from ring 0 whose RIP lies in [%1, %2] (both ends included: at
; %2 the instruction had not run yet) goes to .window_hit. RAX: the RIP.
%macro IN_WINDOW 2
        lea rcx, [rel %1]
        cmp rax, rcx
        jb %%out
        lea rcx, [rel %2]
        cmp rax, rcx
        jbe .window_hit
%%out:
%endmacro

extern trap_dispatch
extern syscall_entry, syscall_entry_sti, syscall_exit, user_return_sysret
extern user_return, user_return_end
global arch_user_window_count
trap_common:
        test qword [rsp + TF_CS - TF_VECTOR], 3
        jz .saved_gs                    ; from ring 0: GS is the kernel's
        swapgs
.saved_gs:
        ; Save every general register; the order makes struct trap_frame.
        PUSH_GPRS
        cld                             ; the C ABI wants DF clear
        cmp byte [rel arch_smap_on], 0
        je .ac_clear
        clac
.ac_clear:

        ; The stretches of the way into and out of ring 3 that run with
        ; interrupts off (syscall.asm names them, and trap_return to IRETQ). A trap from ring 0 inside one is a bug
        ; (docs/user.md, "Entry and exit"), counted for the tests; NMI and
        ; #MC may arrive anywhere and are not.
        test qword [rsp + TF_CS], 3
        jnz .window_done
        cmp qword [rsp + TF_VECTOR], T_NMI
        je .window_done
        cmp qword [rsp + TF_VECTOR], T_MC
        je .window_done
        mov rax, [rsp + TF_RIP]
        IN_WINDOW syscall_entry, syscall_entry_sti
        IN_WINDOW syscall_exit, user_return_sysret
        IN_WINDOW user_return, user_return_end
        IN_WINDOW trap_return, trap_return_iretq
        jmp .window_done
.window_hit:
        lock inc qword [rel arch_user_window_count]
.window_done:

        ; Fake frame: [rsp] = interrupted RBP, [rsp+8] = interrupted RIP + 1.
        ; The +1: a backtrace shows each return address minus one (to name
        ; the call instruction, not the one after it); here the saved RIP is
        ; the faulting instruction itself, so +1 makes that come out right.
        ; From ring 3: zeros, where backtraces stop.
        test qword [rsp + TF_CS], 3
        jnz .from_user
        mov rax, [rsp + TF_RIP]
        inc rax
        push rax
        push rbp
        jmp .call
.from_user:
        mov eax, GDT_KDATA
        mov ss, eax
        push 0
        push 0
.call:
        mov rbp, rsp
        lea rdi, [rsp + 16]             ; argument: the struct trap_frame
        call trap_dispatch
        add rsp, 16                     ; drop the fake frame

global trap_return
trap_return:                            ; (RSP: a struct trap_frame, interrupts off)
        POP_GPRS
        add rsp, 16                     ; drop vector and error code
        test qword [rsp + 8], 3         ; the CS we return to
        jz trap_return_iretq
        swapgs                          ; back to the user's GS
global trap_return_iretq
trap_return_iretq:
        iretq

section .bss
align 8
arch_user_window_count: resq 1          ; arch_user_window_traps() reads it
section .text

; The address of each stub, for idt_init: stubs are 16-byte aligned, so the
; stub of vector v is at trap_stubs + 16 * v as long as none grows past 16
; bytes; build the table anyway rather than rely on that.
section .rodata
global trap_stub_table
align 8
trap_stub_table:
%assign v 0
%rep 256
        dq trap_stub_%[v]
%assign v v + 1
%endrep
