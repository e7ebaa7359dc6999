/*
 * lib/memcpy_sse.c - memcpy through the SSE registers, the kernel's example
 * of a kernel FPU section (include/fpu.h).
 *
 * The kernel's C is compiled without SIMD (-mgeneral-regs-only): the
 * vector registers belong to threads. Kernel code that wants them anyway
 * opens a section: kfpu_begin puts the running thread's state away (if it
 * is loaded), disables preemption and gives the kernel default MXCSR and
 * x87 control words; kfpu_end brings the thread's state back. A section
 * costs a save and a restore, so only copies of MEMCPY_SSE_MIN bytes or
 * more use it; smaller ones are plain memcpy.
 */
#include <fpu.h>
#include <string.h>

#define SSE_BLOCK 64			/* bytes per iteration of sse_copy_blocks */
#define MEMCPY_SSE_MIN 512

extern void sse_copy_blocks(void *dst, const void *src, size_t blocks);

void *memcpy_sse(void *dst, const void *src, size_t n)
{
	if (n < MEMCPY_SSE_MIN)
		return memcpy(dst, src, n);
	size_t blocks = n / SSE_BLOCK, done = blocks * SSE_BLOCK;
	kfpu_begin();
	sse_copy_blocks(dst, src, blocks);
	kfpu_end();
	memcpy((char *)dst + done, (const char *)src + done, n - done);
	return dst;
}
