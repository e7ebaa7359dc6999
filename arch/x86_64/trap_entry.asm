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

bits 64
section .text

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

extern trap_dispatch
trap_common:
        ; Save every general register; the order makes struct trap_frame.
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        cld                             ; the C ABI wants DF clear

        ; Fake frame: [rsp] = interrupted RBP, [rsp+8] = interrupted RIP + 1.
        ; 15 registers + vector + error = 17 slots; RIP is slot 17. The +1:
        ; a backtrace shows each return address minus one (to name the call
        ; instruction, not the one after it); here the saved RIP is the
        ; faulting instruction itself, so +1 makes that come out right.
        mov rax, [rsp + 17 * 8]
        inc rax
        push rax
        push rbp
        mov rbp, rsp
        lea rdi, [rsp + 16]             ; argument: the struct trap_frame
        call trap_dispatch
        add rsp, 16                     ; drop the fake frame

        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        add rsp, 16                     ; drop vector and error code
        iretq

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
