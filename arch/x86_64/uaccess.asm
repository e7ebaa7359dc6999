; arch/x86_64/uaccess.asm - the only code that touches user memory.
;
; Each routine opens user memory (STAC, where the CPU has SMAP: with
; CR4.SMAP set, a kernel access to a user page faults unless RFLAGS.AC is
; set) and closes it again (CLAC) on every way out. The instructions that
; read or write user memory are listed in the section .ex_table as pairs
; (instruction, fixup): a page fault at one of them, on a user address,
; resumes at its fixup instead of being fatal (arch/x86_64/user.c), which
; closes user memory and reports the failure. The callers (kernel/uaccess.c)
; have already checked that the range lies inside user space, so a fault
; here means the user passed a pointer to memory it does not have mapped,
; or not writable: -EFAULT, never a panic.

bits 64
section .text

extern arch_smap_on

%macro USER_OPEN 0
        cmp byte [rel arch_smap_on], 0
        je %%done
        stac
%%done:
%endmacro

%macro USER_CLOSE 0
        cmp byte [rel arch_smap_on], 0
        je %%done
        clac
%%done:
%endmacro

; An entry of the exception table: the faulting instruction and its fixup.
%macro EX_ENTRY 2
section .ex_table
        dq %1, %2
section .text
%endmacro

; size_t arch_copy_user(void *dst /* rdi */, const void *src /* rsi */,
;                       size_t n /* rdx */);
; Copies n bytes between kernel and user memory (either way round);
; returns how many were not copied: 0, or what was left at a fault.
; Eight bytes at a time, then the last 0-7: under QEMU's TCG each round
; of a REP is an instruction (and -icount counts it), so a byte at a
; time cost eight times the rounds.
global arch_copy_user
arch_copy_user:
        USER_OPEN
        mov rcx, rdx
        shr rcx, 3                      ; the whole quadwords
.copyq: rep movsq                       ; a fault leaves RCX = quadwords left
        mov rcx, rdx
        and rcx, 7                      ; then the bytes after them
.copyb: rep movsb                       ; a fault leaves RCX = bytes left
        USER_CLOSE
        xor eax, eax
        ret
.faultq:
        USER_CLOSE
        shl rcx, 3                      ; the quadwords left, in bytes,
        and rdx, 7
        lea rax, [rcx + rdx]            ; and the bytes after them
        ret
.faultb:
        USER_CLOSE
        mov rax, rcx
        ret
        EX_ENTRY .copyq, .faultq
        EX_ENTRY .copyb, .faultb

; long arch_copy_str_user(char *dst /* rdi */, const char *usrc /* rsi */,
;                         size_t max /* rdx */);
; Copies a NUL-terminated string of at most max bytes, NUL included.
; Returns its length without the NUL; max if no NUL came within max bytes
; (dst then holds max bytes and no NUL); -1 at a fault.
global arch_copy_str_user
arch_copy_str_user:
        USER_OPEN
        xor eax, eax
.next:  cmp rax, rdx
        jae .done                       ; no NUL within max: RAX = max
.load:  mov cl, [rsi + rax]
        mov [rdi + rax], cl
        test cl, cl
        jz .done
        inc rax
        jmp .next
.done:
        USER_CLOSE
        ret
.sfault:
        USER_CLOSE
        mov rax, -1
        ret
        EX_ENTRY .load, .sfault
