/*
 * user/lib/uctx.c - a new user context's first stack frame (uctx.h has
 * its layout; uctx.asm the switch that pops it).
 */
#include <uctx.h>
#include <ulib.h>

/* uctx.asm: calls r13(r12). Hidden: its address is then taken RIP-relative
 * (an extern one would go through the GOT, which this static program at
 * 0x8000400000 cannot relax to an absolute 32-bit address). */
__attribute__((visibility("hidden"))) void uctx_start(void);

void uctx_make(struct uctx *c, void *stack, size_t size, void (*fn)(void *), void *arg)
{
	/* 16-aligned: the switch's ret leaves rsp here, so uctx_start's call
	 * enters fn with rsp + 8 a multiple of 16, as the ABI wants */
	uint64_t *sp = (uint64_t *)(((uintptr_t)stack + size) & ~(uintptr_t)15);
	*--sp = (uint64_t)(uintptr_t)uctx_start;	/* what the switch returns to */
	*--sp = 0;				/* rbp */
	*--sp = 0;				/* rbx */
	*--sp = (uint64_t)(uintptr_t)arg;	/* r12 */
	*--sp = (uint64_t)(uintptr_t)fn;	/* r13 */
	*--sp = 0;				/* r14 */
	*--sp = 0;				/* r15 */
	*--sp = 0x1F80ULL | 0x037FULL << 32;	/* MXCSR, FCW: the init state */
	c->rsp = (uint64_t)(uintptr_t)sp;
}
