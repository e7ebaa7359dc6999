; halt.asm - waits in HLT for events: EBX of them (0: for ever). After
; each HLT it reads the event port; when EBX events have come it reports
; their sum through the result port.

bits 32
%include "abi.inc"
org CODE_GPA

start:
        xor edi, edi                    ; sum of the events
.wait:  hlt                             ; sleeps in the host until an event
        mov dx, PORT_EVENT
        in eax, dx                      ; the event (0 if none: woken for other work)
        test eax, eax
        jz .wait
        add edi, eax
        test ebx, ebx
        jz .wait                        ; for ever
        dec ebx
        jnz .wait
        mov eax, edi
        mov dx, PORT_RESULT
        out dx, eax
        jmp $
