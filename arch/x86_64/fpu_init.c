/*
 * arch/x86_64/fpu_init.c - the minimum FPU set-up every CPU needs.
 *
 * SSE instructions fault unless CR4.OSFXSR says the OS saves their state,
 * and the context switch saves MXCSR (stmxcsr) for every thread, so each
 * CPU turns SSE on at boot: CR4.OSFXSR and OSXMMEXCPT, CR0.MP and NE set,
 * EM and TS clear, then fninit and the default MXCSR. The FPU subsystem
 * proper (save areas, eager/lazy, XSAVE) builds on this.
 */
#include <arch.h>
#include <arch/x86.h>

#define MXCSR_DEFAULT 0x1F80

void arch_fpu_cpu_init(void)
{
	write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	uint32_t mxcsr = MXCSR_DEFAULT;
	__asm__ volatile("fninit; ldmxcsr %0" ::"m"(mxcsr));
}
