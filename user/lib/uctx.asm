; user/lib/uctx.asm - the user-context switch (user/include/uctx.h).
;
; uctx_switch(from = rdi, to = rsi) is called like any function, so what
; the ABI lets a callee clobber (rax, rcx, rdx, rsi, rdi, r8-r11, the
; vector registers, the flags, MXCSR's status bits) the caller has already
; given up. What it must give back it pushes on the running stack, then
; the stack pointer goes into from->rsp; to->rsp comes back and the same
; pushes are popped in reverse: the ret at the end returns into whoever
; last switched away from `to` (or, the first time, into uctx_start).

bits 64
default rel

section .text

global uctx_switch:function
uctx_switch:
	; LAB switch BEGIN: save the callee-saved state, swap stacks, restore it
	push	rbp
	push	rbx
	push	r12
	push	r13
	push	r14
	push	r15
	sub	rsp, 8			; one word: MXCSR in its low half, FCW above
	stmxcsr	[rsp]
	fnstcw	[rsp + 4]
	mov	[rdi], rsp		; from->rsp
	mov	rsp, [rsi]		; to->rsp: now on the other context's stack
	ldmxcsr	[rsp]			; its control words back (MXCSR's status
	fldcw	[rsp + 4]		; bits come with it: harmless, they are the
	add	rsp, 8			; caller's to lose)
	pop	r15
	pop	r14
	pop	r13
	pop	r12
	pop	rbx
	pop	rbp
	ret
	; LAB switch STUB
	;	mov	[rdi], rsp		; only the stack: is that enough?
	;	mov	rsp, [rsi]
	;	ret
	; LAB switch END

; A new context's first switch returns here, with fn in r13 and arg in r12
; (uctx_make put them there) and rsp 16-byte aligned: the call enters fn
; as the ABI wants it, rsp + 8 a multiple of 16.
global uctx_start:function
uctx_start:
	mov	rdi, r12
	call	r13			; fn(arg): it must never return
	ud2				; if it does, the process dies here, saying #UD
