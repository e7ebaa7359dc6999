/*
 * smp.h - the other CPUs: bring-up, cross-CPU calls and IPIs
 * (arch/x86_64/smp.c; docs/smp.md tells the whole story).
 *
 * CPUs are numbered 0 .. cpu_count()-1 (percpu.h); 0 is the boot CPU, the
 * others are numbered in the order they came up. A CPU that is online stays
 * online: there is no CPU hot-unplug.
 */
#ifndef SMP_H
#define SMP_H

#include <kernel.h>

/*
 * Reads the ACPI MADT, starts every other processor it lists and waits for
 * each to come online (an AP that does not is reported and skipped). Prints
 * "smp: N CPUs online (APIC IDs ...)". Boot CPU, once, after paging_init
 * and arch_timer_init.
 */
void smp_init(void);

/*
 * Runs fn(arg) on CPU `cpu`, with interrupts off there, from its IPI
 * handler; fn must not sleep. With wait, returns after fn has returned;
 * without, returns once the call is queued (then arg must outlive it). A
 * call to the caller's own CPU runs at once, here, also with interrupts off.
 *
 * May be called from any context, several CPUs at once, with interrupts on
 * or off (even from inside another call's fn): while it waits, a CPU keeps
 * running the calls queued for itself, so two CPUs that call each other
 * with wait cannot deadlock. Consequence: fn may run on a CPU that is
 * itself waiting in smp_call, so fn must not take a lock that a caller of
 * smp_call may hold. Panics, naming smp_call, if cpu is not online.
 */
void smp_call(int cpu, void (*fn)(void *), void *arg, bool wait);

/* As smp_call, on every online CPU except the caller's, all at once. */
void smp_call_all(void (*fn)(void *), void *arg, bool wait);
/*
 * As smp_call_all, and on the caller's CPU too: there fn runs at once, with
 * interrupts off, on the CPU that the others were chosen against. So every
 * CPU runs fn even if the caller is moved to another CPU just before the
 * call, which smp_call_all(fn) after a local fn() cannot promise: the CPU
 * the caller moved to is then skipped as "self" (the TLB shootdown's
 * defect, docs/mm.md).
 */
void smp_call_each(void (*fn)(void *), void *arg, bool wait);

/*
 * Asks CPU `cpu` to reschedule: an IPI whose handler calls
 * sched_ipi_resched() there (interrupts off). To the own CPU it is a
 * self-IPI, delivered when interrupts are next on. Any context.
 */
void smp_send_resched(int cpu);
/* Sends CPU `cpu` (it may be this one) a non-maskable interrupt; the
 * kernel counts it, says so on the console and goes on (a test's way to
 * check that an NMI, in ring 3 or ring 0, harms nothing). */
void smp_send_nmi(int cpu);

/*
 * Sends CPU `cpu` a plain IPI (VEC_IPI_KICK) whose handler does nothing but
 * count it. The interrupt itself is the point: a CPU running guest code
 * with the physical-interrupt intercept on takes a #VMEXIT for any
 * interrupt, so a kick forces a running vCPU back into the host, where it
 * looks for pending work (a rendezvous, a suspend; kernel/vmm/vcpu.c). A
 * kick to a CPU in the host is a no-op. Any context.
 */
void smp_kick(int cpu);

/*
 * Hooks for the scheduler. Both have weak default definitions in smp.c; a
 * strong definition elsewhere replaces them at link time.
 *
 * sched_ipi_resched: runs on the CPU that received a resched IPI, in the
 *   interrupt handler. The default does nothing.
 * smp_ap_idle: where every AP goes once it is online, with interrupts on;
 *   it must never return. The default halts until the next interrupt, for
 *   ever. The scheduler replaces it with "become this CPU's idle thread".
 */
void sched_ipi_resched(void);
__noreturn void smp_ap_idle(void);

/* Counters kept by the IPI handlers, one set per CPU. */
struct smp_cpu_stats {
	uint64_t ipi_resched;	/* resched IPIs received */
	uint64_t ipi_call;	/* call IPIs received */
	uint64_t calls_run;	/* smp_call functions run for other CPUs */
	uint64_t ipi_kick;	/* kick IPIs received (smp_kick) */
};
/* This CPU's counters are written only by that CPU; others may read them. */
const struct smp_cpu_stats *smp_stats(int cpu);

/* Prints a table of CPUs: id, APIC ID, online, IPI counts (the monitor's
 * `cpus` command). */
void smp_print_cpus(void);

#endif
