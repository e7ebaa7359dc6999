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
 * monitor starts, and the first process, init (user/bin/init.c: the
 * servers and the shell), with COM1's ports for the console server.
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
#include <string.h>

#define KERNEL_NAME    "ctxkern"
#define KERNEL_VERSION "0.1"

static char init_opt[32] = "init";
CMDLINE_STRING("init", init_opt,
	       "the first program, started when no ktest= runs (none: only the monitor)");

/* init, with the console's ports (it gives them to the console server);
 * whether it started (then the shell has the console, not the monitor). */
static bool start_init(void)
{
	if (!strcmp(init_opt, "none"))
		return false;
	const char *argv[] = { init_opt };
	int pid = proc_spawn_ports(init_opt, 1, argv, NULL, ARCH_CONSOLE_PORT, 8);
	if (pid < 0)
		printk("init: '%s' did not start (%d); the monitor has the console\n", init_opt,
		       pid);
	return pid > 0;
}

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
	trace_init_rings();
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
	trace_run_boot_command();	/* trace.run=: make trace's workload */

	monitor_start(start_init());
	/* The boot thread has nothing left to do: leave the CPU to the others. */
	for (;;)
		thread_sleep(1000000000ULL);
}
