; user/lib/crt0.asm - where every program starts.
;
; The kernel enters ring 3 here with RDI = argc and RSI = argv (the
; strings and the array are on the stack it made: kernel/proc.c) and RSP
; 16-byte aligned. RBP is cleared so that a debugger's backtrace ends here;
; ulib_start calls main and exits with its value.

bits 64
section .text.start

extern ulib_start
global _start
_start:
        xor ebp, ebp
        and rsp, -16
        call ulib_start                 ; (argc, argv): never returns
        ud2
