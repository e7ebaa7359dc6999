; arch/x86_64/syscall.asm - the way into the kernel by SYSCALL, and the ways
; back to ring 3.
;
; SYSCALL (from ring 3) loads RIP from MSR_LSTAR, saves the user's RIP in
; RCX and RFLAGS in R11, clears the RFLAGS bits of MSR_FMASK (IF, TF, DF,
; AC, NT: interrupts off until the stack is ours) and loads the kernel's CS
; and SS from MSR_STAR. It does not switch stacks and does not touch GS:
; that is this code's job (arch/x86_64/user.c sets the MSRs).
;
; syscall_entry builds, on the thread's kernel stack, exactly the struct
; trap_frame an interrupt from ring 3 would have left there (arch/trap.h),
; with vector SYSCALL_VECTOR: one frame shape for system calls, interrupts
; and faults, which fork copies and a new thread starts from. The system
; call number is in RAX, its arguments in RDI, RSI, RDX, R10, R8, R9 (R10
; for the fourth, since SYSCALL takes RCX); the result goes back in RAX.
;
;   user RSP ──┐                              kernel stack top (RSP0)
;              │   ss  rsp  rflags  cs  rip  error  vector  rax ... r15
;              └──────┘  (R11)           (RCX)   0    256
;
; The way out (user_return), with interrupts off and RSP at a frame:
;   - SYSRETQ if the frame is one it can restore: a system call's (SYSRET
;     puts RIP in RCX and RFLAGS in R11, which a system call gives up but
;     an interrupted thread does not), CS and SS the user's, RIP canonical,
;     TF and RF clear. SYSRET to a non-canonical RIP raises #GP
;     in ring 0 on Intel CPUs, with the user's RSP already loaded (CVE-2012-
;     0217): such a frame leaves by IRETQ instead (and the C side never lets
;     a user thread return to one: it kills the process first).
;   - IRETQ otherwise (trap_return in trap_entry.asm, which also serves the
;     interrupts).
; Interrupts stay off from the last check for work in C (proc.c's
; proc_return_to_user) to SYSRETQ/IRETQ, which turn them back on as they
; reach ring 3: an interrupt cannot arrive on the way out and find the
; thread half-returned (seL4's REGRESSIONS0003 found a kernel that enabled
; them one instruction too early). SWAPGS is the last thing before each.
; The labels syscall_entry_sti and user_return_sysret end the two
; stretches here that run with interrupts off; trap_entry.asm counts any
; trap taken inside them (or inside trap_return's) as a bug the tests see
; (sysinfo's window_traps).

bits 64
section .text

%include "arch/x86_64/frame.inc"

extern syscall_dispatch
extern trap_return

global syscall_entry
syscall_entry:
        swapgs                          ; GS: this CPU's struct cpu
        mov [gs:CPU_SCRATCH], rsp       ; the user's RSP, until it is pushed
        mov rsp, [gs:CPU_KSTACK_TOP]    ; this thread's kernel stack
        push USER_DS                    ; ss
        push qword [gs:CPU_SCRATCH]     ; rsp
        push r11                        ; rflags
        push USER_CS                    ; cs
        push rcx                        ; rip
        push 0                          ; error code
        push SYSCALL_VECTOR             ; vector
        PUSH_GPRS
        xor ebp, ebp                    ; backtraces stop here
        mov rdi, rsp                    ; argument: the struct trap_frame
global syscall_entry_sti
syscall_entry_sti:
        sti                             ; the frame is complete
        call syscall_dispatch           ; returns with interrupts off

; user_return: leave for ring 3 through the frame at RSP, interrupts off.
global user_return
user_return:
        cmp qword [rsp + TF_VECTOR], SYSCALL_VECTOR
        jne trap_return                 ; SYSRET would lose RCX and R11
        mov rcx, [rsp + TF_RIP]
        mov r11, [rsp + TF_RFLAGS]
        cmp qword [rsp + TF_CS], USER_CS
        jne trap_return
        cmp qword [rsp + TF_SS], USER_DS
        jne trap_return
        test r11, RFLAGS_TF | RFLAGS_RF
        jnz trap_return
        mov rax, rcx
        shl rax, 16                     ; canonical: bits 63..47 all equal,
        sar rax, 16                     ; so sign-extending bit 47 changes
        cmp rax, rcx                    ; nothing
        jne trap_return

        POP_GPRS                        ; RCX and R11 get the RIP and RFLAGS
        mov rcx, [rsp + TF_RIP - TF_VECTOR]     ; back, for SYSRETQ
        mov r11, [rsp + TF_RFLAGS - TF_VECTOR]
        mov rsp, [rsp + TF_RSP - TF_VECTOR]     ; the user's stack
        swapgs                          ; the user's GS
global user_return_sysret
user_return_sysret:
        o64 sysret

; void arch_enter_user(struct trap_frame *tf): starts a thread in ring 3
; from the frame at the top of its kernel stack (tf must be that frame:
; the stack is abandoned, C frames and all).
global arch_enter_user
arch_enter_user:
        cli
        mov rsp, rdi
        jmp user_return
