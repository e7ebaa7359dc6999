/*
 * uctx.h - user contexts: coroutines in one thread (user/lib/uctx.c,
 * user/lib/uctx.asm), the switch a thread library builds on, and the
 * subject of labs/switch.md.
 *
 *   uctx_make(c, stack, size, fn, arg)   a context that will run fn(arg) on
 *                                        [stack, stack + size) at its first
 *                                        switch; fn must never return (it
 *                                        switches away for good instead)
 *   uctx_switch(from, to)                saves the running context in from,
 *                                        resumes to; returns when someone
 *                                        switches back to from
 *
 * What a switch keeps is what the x86-64 System V ABI says a called
 * function must give back unchanged: RBX, RBP, R12-R15 and RSP, the
 * control bits of MXCSR (rounding, exception masks) and the x87 control
 * word. The rest the caller of uctx_switch has given up by calling it.
 *
 * The layout a new context's stack starts with, which uctx_switch's
 * restore must match (the first switch to it "returns" into the
 * trampoline uctx_start, which calls fn(arg)):
 *
 *   c->rsp ->  [ MXCSR (low 32 bits) | FCW (next 16) ]   0x1F80, 0x037F
 *              r15  r14  r13 (= fn)  r12 (= arg)  rbx  rbp (0)
 *              return address: uctx_start        (the last slot below
 *                                                 the stack's 16-aligned top)
 */
#ifndef UCTX_H
#define UCTX_H

#include <stddef.h>
#include <stdint.h>

struct uctx {
	uint64_t rsp;		/* the saved stack pointer; everything else is on that stack */
};

void uctx_make(struct uctx *c, void *stack, size_t size, void (*fn)(void *), void *arg);
void uctx_switch(struct uctx *from, struct uctx *to);

#endif
