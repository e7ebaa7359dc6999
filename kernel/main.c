/*
 * kernel/main.c - from the boot assembly to a running kernel.
 *
 * kmain runs on the boot CPU with the boot page tables, interrupts off.
 * The order matters: the per-CPU pointer first (locks use it), the console
 * (everything after can report), the loader's information (copied before
 * the page allocator can hand its memory out), the command line (the
 * options steer what follows), traps, memory, the FPU (its save areas
 * come from the heap, and it must be set before the first thread), time. With ktest= on the
 * command line the tests run and power the machine off; otherwise the
 * kernel idles.
 */
#include <arch.h>
#include <bootinfo.h>
#include <bugs.h>
#include <cmdline.h>
#include <fpu.h>
#include <ktest.h>
#include <mm.h>
#include <percpu.h>
#include <printk.h>
#include <proc.h>
#include <smp.h>
#include <timer.h>
#include <sched.h>
#include <trace.h>
#include <monitor.h>
#include <thread.h>

#define KERNEL_NAME    "ctxkern"
#define KERNEL_VERSION "0.1"

void kmain(uint32_t magic, uint32_t info)
{
	percpu_init_this(0);
	arch_console_init();
	bootinfo_parse(magic, info);

	printk("\n%s %s - a teaching kernel for x86-64: context ops, FPU, vCPUs\n",
	       KERNEL_NAME, KERNEL_VERSION);
	printk("boot: Multiboot %d%s%s\n", bootinfo.multiboot_version,
	       bootinfo.loader[0] ? " from " : "", bootinfo.loader);

	arch_cpu_init();
	bugs_init();
	cmdline_init(bootinfo.cmdline);
	bugs_apply();
	trace_init();
	bugs_print(false);

	pmm_init();
	paging_init();
	kmem_init();
	pmm_print_summary();
	fpu_init();
	sched_init();

	arch_timer_init();
	arch_timer_start();
	smp_init();
	arch_irq_enable();
	proc_init();

	if (ktest_glob()[0])
		ktest_run(ktest_glob());

	monitor_start();
	/* The boot thread has nothing left to do: leave the CPU to the others. */
	for (;;)
		thread_sleep(1000000000ULL);
}
