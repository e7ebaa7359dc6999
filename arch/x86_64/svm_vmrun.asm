; arch/x86_64/svm_vmrun.asm - the SVM world switch: one trip into a guest.
;
; void svm_vmrun(struct svm_gprs *gprs       /* rdi */,
;                uint64_t guest_vmcb_pa      /* rsi */,
;                uint64_t host_vmcb_pa       /* rdx */);
;
; Called with interrupts off (RFLAGS.IF = 0); returns with them off.
; VMRUN, VMLOAD and VMSAVE take the physical address of a VMCB in RAX.
;
; What VMRUN does and does not do (AMD APM vol. 2, 15.5 and 15.6):
;   - VMRUN saves a little host state in the CPU's host save area (the page
;     in MSR VM_HSAVE_PA): CS, SS, DS, ES, GDTR, IDTR, CR0, CR3, CR4, EFER,
;     RFLAGS, RIP, RSP and RAX. It loads the same set of guest state from
;     the VMCB whose physical address is in RAX, and runs the guest.
;   - #VMEXIT writes the guest's state back into the VMCB and reloads the
;     host's from the save area: the host goes on at the instruction after
;     VMRUN, with the RSP and RAX it had.
;   - Everything else is not switched: the other general registers (the
;     guest's simply stay in them, so we load them before VMRUN and store
;     them after), and the "hidden" state of FS, GS, TR, LDTR with the MSRs
;     KernelGSBase, STAR, LSTAR, CSTAR, SFMASK and SYSENTER_*. VMLOAD and
;     VMSAVE move that hidden state between the CPU and a VMCB: we VMSAVE
;     the host's into a per-CPU area, VMLOAD the guest's, and after the
;     exit VMSAVE the guest's and VMLOAD the host's back. Between the two
;     the CPU has the guest's GS base, so no kernel code may run there: it
;     would find the wrong per-CPU data (percpu.h).
;
; Interrupts: GIF, the global interrupt flag, masks everything (even NMI).
; CLGI clears it; VMRUN sets it for the guest; #VMEXIT clears it again.
; The guest's VMCB asks for the physical-interrupt intercept with
; V_INTR_MASKING, under which a host interrupt exits the guest whenever the
; host's IF *as it was at VMRUN* is set. So the sequence is KVM's:
;
;       clgi            ; GIF = 0: nothing can interrupt from here on
;       sti             ; IF = 1 (VMRUN records it), still masked by GIF
;       vmrun           ; guest runs; a host interrupt -> #VMEXIT(INTR)
;       cli             ; IF = 0 (the exit restored the host's IF = 1)
;       stgi            ; GIF = 1, but IF = 0: still nothing is taken
;
; The interrupt that ended the guest's turn stays pending in the local
; APIC, and is taken through the IDT as usual once the C caller sets IF.

bits 64
section .text

; struct svm_gprs (arch/svm.h), in this order:
GPR_RBX equ 0
GPR_RCX equ 8
GPR_RDX equ 16
GPR_RSI equ 24
GPR_RDI equ 32
GPR_RBP equ 40
GPR_R8  equ 48
GPR_R9  equ 56
GPR_R10 equ 64
GPR_R11 equ 72
GPR_R12 equ 80
GPR_R13 equ 88
GPR_R14 equ 96
GPR_R15 equ 104

global svm_vmrun
svm_vmrun:
        ; The host's callee-saved registers: the guest's values will be in
        ; them after the exit.
        push rbp
        mov rbp, rsp
        push rbx
        push r12
        push r13
        push r14
        push r15
        ; Kept on the stack across the guest's turn (RSP survives VMRUN):
        push rdi                        ; [rsp+16] gprs
        push rdx                        ; [rsp+8]  host VMCB (hidden state)
        push rsi                        ; [rsp]    guest VMCB

        clgi                            ; GIF = 0
        sti                             ; host IF = 1 for VMRUN to record

        mov rax, rdx
        vmsave                          ; [RAX] <- host FS/GS/TR/LDTR, MSRs
        mov rax, [rsp]
        vmload                          ; the guest's, from [RAX]

        ; The guest's general registers (RDI last: it is the pointer).
        mov rbx, [rdi + GPR_RBX]
        mov rcx, [rdi + GPR_RCX]
        mov rdx, [rdi + GPR_RDX]
        mov rsi, [rdi + GPR_RSI]
        mov rbp, [rdi + GPR_RBP]
        mov r8,  [rdi + GPR_R8]
        mov r9,  [rdi + GPR_R9]
        mov r10, [rdi + GPR_R10]
        mov r11, [rdi + GPR_R11]
        mov r12, [rdi + GPR_R12]
        mov r13, [rdi + GPR_R13]
        mov r14, [rdi + GPR_R14]
        mov r15, [rdi + GPR_R15]
        mov rdi, [rdi + GPR_RDI]

        vmrun                           ; the guest's VMCB is in RAX
global svm_vmrun_host_rip
svm_vmrun_host_rip:                     ; (named for svm.c's check of exits)

        ; #VMEXIT: RAX, RSP and RIP are the host's again, the other general
        ; registers hold the guest's, GIF = 0, IF = 1.
        vmsave                          ; [RAX] <- the guest's hidden state

        push rdi                        ; the guest's RDI; now gprs is at [rsp+24]
        mov rdi, [rsp + 24]
        mov [rdi + GPR_RBX], rbx
        mov [rdi + GPR_RCX], rcx
        mov [rdi + GPR_RDX], rdx
        mov [rdi + GPR_RSI], rsi
        mov [rdi + GPR_RBP], rbp
        mov [rdi + GPR_R8],  r8
        mov [rdi + GPR_R9],  r9
        mov [rdi + GPR_R10], r10
        mov [rdi + GPR_R11], r11
        mov [rdi + GPR_R12], r12
        mov [rdi + GPR_R13], r13
        mov [rdi + GPR_R14], r14
        mov [rdi + GPR_R15], r15
        pop qword [rdi + GPR_RDI]

        mov rax, [rsp + 8]
        vmload                          ; the host's GS base, TR, ... back

        cli                             ; IF = 0 first,
        stgi                            ; then GIF = 1: nothing is taken yet

        add rsp, 24
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbx
        pop rbp
        ret
