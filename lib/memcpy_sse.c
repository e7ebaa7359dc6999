/*
 * lib/memcpy_sse.c - memcpy through the SSE registers, the kernel's example
 * of a kernel FPU section (include/fpu.h). The copy loop itself is the
 * machine's (arch_fpu_copy_blocks, arch/x86_64/fpu_copy.asm).
 *
 * The kernel's C is compiled without SIMD (-mgeneral-regs-only): the
 * vector registers belong to threads. Kernel code that wants them anyway
 * opens a section: kfpu_begin puts the running thread's state away (if it
 * is loaded), disables preemption and gives the kernel default MXCSR and
 * x87 control words; kfpu_end brings the thread's state back. A section
 * costs a save and a restore, so only copies of MEMCPY_SSE_MIN bytes or
 * more use it; smaller ones are plain memcpy.
 */
#include <arch.h>
#include <fpu.h>
#include <string.h>

#define MEMCPY_SSE_MIN 512

void *memcpy_sse(void *dst, const void *src, size_t n)
{
	if (n < MEMCPY_SSE_MIN)
		return memcpy(dst, src, n);
	size_t blocks = n / ARCH_FPU_COPY_BLOCK, done = blocks * ARCH_FPU_COPY_BLOCK;
	kfpu_begin();
	arch_fpu_copy_blocks(dst, src, blocks);
	kfpu_end();
	memcpy((char *)dst + done, (const char *)src + done, n - done);
	return dst;
}
