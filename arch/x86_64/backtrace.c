/*
 * arch/x86_64/backtrace.c - frame-pointer backtraces.
 *
 * The kernel is built with -fno-omit-frame-pointer, so every C function's
 * frame starts with the caller's RBP, and the word above it is the return
 * address: following RBP walks the chain of callers. The walk stops at a
 * zero RBP (boot.asm and each thread's first frame set it), at an address
 * that is not mapped or not aligned, or after MAX_FRAMES.
 */
#include <arch.h>
#include <ksyms.h>
#include <mm.h>
#include <printk.h>

#define MAX_FRAMES 32

static bool frame_ok(uint64_t rbp)
{
	return rbp && IS_ALIGNED(rbp, 8) && paging_is_mapped(rbp) &&
	       paging_is_mapped(rbp + 8);
}

static void print_frame(int n, uint64_t rip)
{
	char name[96];
	ksym_format(rip, name, sizeof(name));
	printk("  #%-2d 0x%016lx %s\n", n, rip, name);
}

void arch_backtrace_from(uint64_t rbp, uint64_t rip)
{
	printk("backtrace:\n");
	int n = 0;
	print_frame(n++, rip);
	while (n < MAX_FRAMES && frame_ok(rbp)) {
		const uint64_t *frame = (const uint64_t *)rbp;
		uint64_t ret = frame[1];
		if (!ret)
			break;
		/* a return address points after the call: show the call itself */
		print_frame(n++, ret - 1);
		rbp = frame[0];
	}
}

void arch_backtrace_here(void)
{
	uint64_t rbp = (uint64_t)__builtin_frame_address(0);
	arch_backtrace_from(((const uint64_t *)rbp)[0], ((const uint64_t *)rbp)[1] - 1);
}
