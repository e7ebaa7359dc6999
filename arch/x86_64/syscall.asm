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
; The system call itself is made here: the number indexes syscall_table
; (kernel/syscall.c) and the handler is called with the arguments still in
; their registers. Then, interrupts off, one look at whether anything must
; happen before ring 3 (a reschedule, the process dying: C does it,
; proc_return_to_user); if not, straight out by SYSRET. The number, the
; call, the look and the way out are the fast path of every system call:
; a few dozen instructions (docs/user.md has the figure).
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
; Interrupts stay off from the last check for work (here, or in C:
; proc_return_to_user) to SYSRETQ/IRETQ, which turn them back on as they
; reach ring 3: an interrupt cannot arrive on the way out and find the
; thread half-returned (seL4's REGRESSIONS0003 found a kernel that enabled
; them one instruction too early). SWAPGS is the last thing before each.
; The stretches here that run with interrupts off are marked by labels,
; syscall_entry .. syscall_entry_sti, syscall_exit .. user_return_sysret and
; user_return .. user_return_end; trap_entry.asm counts any trap taken
; inside them (or inside trap_return's) as a bug the tests see (sysinfo's
; window_traps). The slow ways out (syscall_slow_*) call C, which turns
; interrupts on, and come back through user_return.

bits 64
section .text

%include "arch/x86_64/frame.inc"

extern syscall_table
extern syscall_unknown_entry, syscall_work, syscall_bad_return
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
        cmp rax, SYSCALL_COUNT
        jae syscall_slow_unknown

        ; The call itself: the arguments are still in their registers but
        ; the fourth, which the C convention wants in RCX (SYSCALL took it).
global syscall_entry_sti
syscall_entry_sti:
        sti                             ; the frame is complete
        mov rcx, r10
        call [syscall_table + rax * 8]
        cli
global syscall_exit
syscall_exit:
        mov [rsp + TF_RAX], rax         ; the result, for ring 3

        ; Work before ring 3? A reschedule, the process dying (user_work),
        ; a lock a handler kept (preempt_count): the two counts are side by
        ; side, one 8-byte test looks at both.
        cmp byte [gs:CPU_NEED_RESCHED], 0
        jne syscall_slow_work
        mov rax, [gs:CPU_THREAD]
        cmp qword [rax + THREAD_PREEMPT_WORK], 0
        jne syscall_slow_work

        ; The fast way out: CS, SS and the vector are a system call's, as
        ; pushed above; only RIP needs a look (see the top).
        mov rcx, [rsp + TF_RIP]
        mov rax, rcx
        shl rax, 16                     ; canonical: bits 63..47 all equal, so
        sar rax, 16                     ; sign-extending bit 47 changes nothing
        cmp rax, rcx
        jne syscall_slow_bad_return

sysret_frame:                           ; (a system call's frame, RIP canonical)
        POP_GPRS                        ; RCX and R11 get the RIP and RFLAGS
        mov rcx, [rsp + TF_RIP - TF_VECTOR]     ; back, for SYSRETQ
        mov r11, [rsp + TF_RFLAGS - TF_VECTOR]
        mov rsp, [rsp + TF_RSP - TF_VECTOR]     ; the user's stack
        swapgs                          ; the user's GS
global user_return_sysret
user_return_sysret:
        o64 sysret

syscall_slow_unknown:
        mov rdi, rsp
        call syscall_unknown_entry      ; -ENOSYS; returns with interrupts off
        jmp user_return
syscall_slow_work:
        mov rdi, rsp
        call syscall_work               ; returns with interrupts off
        jmp user_return
syscall_slow_bad_return:
        mov rdi, rsp
        call syscall_bad_return         ; never returns

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
        shl rax, 16                     ; canonical, as above
        sar rax, 16
        cmp rax, rcx
        jne trap_return
global user_return_end
user_return_end:
        jmp sysret_frame

; void arch_enter_user(struct trap_frame *tf): starts a thread in ring 3
; from the frame at the top of its kernel stack (tf must be that frame:
; the stack is abandoned, C frames and all).
global arch_enter_user
arch_enter_user:
        cli
        mov rsp, rdi
        jmp user_return
