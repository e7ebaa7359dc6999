; user/lib/uctx_probe.asm - for the uctx tests (user/tests/uctx_test.c):
; what a switch does to the registers it must keep, seen from assembly,
; where no compiler decides what lives in them.
;
; uctx_switch_probe(from = rdi, to = rsi, out = rdx): loads a pattern into
;   rbx, rbp, r12-r15, switches, and when it is switched back stores the
;   six into out[0..5] (the caller's own values are kept and given back).
; uctx_switch_trash(from = rdi, to = rsi): loads garbage into the same six
;   and switches: a context that does this between two of another's
;   switches is a thread that uses every callee-saved register.

bits 64
default rel

extern uctx_switch

section .text

%define PATTERN(i) (0x5A5A000000000000 + i * 0x1111)

; the caller's own callee-saved registers, kept for it around each probe
%macro KEEP_CALLERS 0
	push	rbp
	push	rbx
	push	r12
	push	r13
	push	r14
	push	r15
%endmacro
%macro GIVE_BACK_CALLERS 0
	pop	r15
	pop	r14
	pop	r13
	pop	r12
	pop	rbx
	pop	rbp
%endmacro

global uctx_switch_probe:function
uctx_switch_probe:
	KEEP_CALLERS
	push	rdx			; out, kept across the switch on our stack
	mov	rbx, PATTERN(1)		; (seven pushes and the return address:
	mov	rbp, PATTERN(2)		; rsp is 16-aligned at the call)
	mov	r12, PATTERN(3)
	mov	r13, PATTERN(4)
	mov	r14, PATTERN(5)
	mov	r15, PATTERN(6)
	call	uctx_switch
	pop	rdx
	mov	[rdx], rbx
	mov	[rdx + 8], rbp
	mov	[rdx + 16], r12
	mov	[rdx + 24], r13
	mov	[rdx + 32], r14
	mov	[rdx + 40], r15
	GIVE_BACK_CALLERS
	ret

global uctx_switch_trash:function
uctx_switch_trash:
	KEEP_CALLERS
	sub	rsp, 8			; 16-aligned at the call
	mov	rbx, -1
	mov	rbp, -2
	mov	r12, -3
	mov	r13, -4
	mov	r14, -5
	mov	r15, -6
	call	uctx_switch
	add	rsp, 8
	GIVE_BACK_CALLERS
	ret
