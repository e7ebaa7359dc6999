/*
 * arch/x86_64/init.c - bringing up the boot CPU's architectural state.
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/trap.h>
#include <arch/lapic.h>
#include <percpu.h>
#include <printk.h>
#include <timer.h>

static bool timer_interrupt(struct trap_frame *tf)
{
	(void)tf;
	timer_tick();
	return true;
}

void arch_cpu_init(void)
{
	arch_fpu_cpu_init();
	gdt_init_this_cpu(0);
	idt_init();
	idt_load();
	arch_user_init_this_cpu();
	trap_register(VEC_TIMER, timer_interrupt);
}
