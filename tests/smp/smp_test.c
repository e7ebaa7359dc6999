/*
 * tests/smp/smp_test.c - the other CPUs are up, and do what they are asked.
 *
 * Each case binds its thread to the boot CPU first (the scheduler would
 * otherwise run it anywhere) and reaches the other CPUs only through
 * smp_call and IPIs. A case that needs a second CPU says so
 * (KTEST_CPUS) and is skipped on a one-CPU machine. The test cannot see QEMU's -smp, so "all
 * CPUs came up" is checked against the firmware's MADT.
 */
#include <ktest.h>
#include <thread.h>
#include <acpi.h>
#include <arch.h>
#include <mm.h>
#include <percpu.h>
#include <sched.h>
#include <smp.h>
#include <timer.h>
#include <arch/lapic.h>
#include <arch/smp.h>

#define NSEC_PER_MSEC   1000000ULL
#define WAIT_LIMIT_NS   (5000 * NSEC_PER_MSEC)	/* for calls that need not wait */
#define MANY_CALLS      1000
#define PING_PONG_ROUNDS 100
#define CLOCK_READS     10000
#define CLOCK_SKEW_NS   (1 * NSEC_PER_MSEC)	/* "roughly agrees" */

/* Spins, interrupts on, until *counter reaches want or WAIT_LIMIT_NS passes. */
static bool wait_for_count(volatile uint64_t *counter, uint64_t want)
{
	uint64_t end = clock_ns() + WAIT_LIMIT_NS;
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want && clock_ns() < end)
		arch_cpu_relax();
	return __atomic_load_n(counter, __ATOMIC_ACQUIRE) >= want;
}

static void record_cpu(void *arg)
{
	*(volatile int *)arg = cpu_id();
}

static void count_up(void *arg)
{
	__atomic_add_fetch((volatile uint64_t *)arg, 1, __ATOMIC_RELEASE);
}

/* ---- bring-up ------------------------------------------------------- */

KTEST(smp, cpu_count_matches_madt)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	if (!acpi.have_madt) {
		KT_LOG("no ACPI MADT: expecting the boot CPU alone");
		KT_ASSERT_EQ(cpu_count(), 1);
		return;
	}
	KT_LOG("MADT: %d usable processors; %d CPUs online", acpi.ncpus, cpu_count());
	KT_EXPECT_EQ(cpu_count(), MIN(acpi.ncpus, MAX_CPUS));
}

KTEST(smp, madt_lists_the_boot_cpu_and_an_io_apic)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	if (!acpi.have_madt)
		KT_SKIP("no ACPI MADT");
	bool bsp_listed = false;
	for (int i = 0; i < acpi.ncpus; i++)
		bsp_listed |= acpi.cpu_apic_id[i] == cpus[0].apic_id;
	KT_EXPECT(bsp_listed);
	KT_EXPECT(acpi.nioapics >= 1);
	KT_EXPECT_EQ(acpi.lapic_addr, LAPIC_DEFAULT_BASE);
	/* an ISA IRQ without an override is the GSI of its number, high, edge */
	for (int irq = 0; irq < ACPI_ISA_IRQS; irq++) {
		const struct acpi_isa_route *r = &acpi.isa[irq];
		if (r->overridden)
			continue;
		KT_EXPECT_EQ(r->gsi, irq);
		KT_EXPECT(!r->active_low && !r->level);
	}
}

KTEST(smp, online_cpus_have_distinct_apic_ids)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	int n = cpu_count();
	for (int i = 0; i < n; i++) {
		KT_EXPECT(cpus[i].online);
		KT_EXPECT_EQ(cpus[i].id, i);
		for (int j = 0; j < i; j++)
			KT_EXPECT(cpus[i].apic_id != cpus[j].apic_id);
	}
	for (int i = n; i < MAX_CPUS; i++)
		KT_EXPECT(!cpus[i].online);
	KT_EXPECT_EQ(cpus[0].apic_id, lapic_id());
}

static void read_apic_id(void *arg)
{
	*(volatile uint32_t *)arg = lapic_id();
}

KTEST(smp, each_cpu_reads_its_own_apic_id)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	for (int c = 0; c < cpu_count(); c++) {
		volatile uint32_t id = ~0u;
		smp_call(c, read_apic_id, (void *)&id, true);
		KT_EXPECT_EQ(id, cpus[c].apic_id);
	}
}

/* The stack pointer of the CPU's interrupted context; 0 unless that CPU is
 * running its idle thread, which is the AP's boot context and so runs on
 * the AP's own stack (another thread there would have its own stack). */
static void read_stack_pointer(void *arg)
{
	uint64_t rsp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	*(volatile uint64_t *)arg = this_cpu()->thread == this_cpu()->idle ? rsp : 0;
}

/* read_stack_pointer on cpu, retried until it lands while cpu idles. */
static uint64_t ap_stack_pointer(int cpu)
{
	for (int tries = 0; tries < 1000; tries++) {
		volatile uint64_t rsp = 0;
		smp_call(cpu, read_stack_pointer, (void *)&rsp, true);
		if (rsp)
			return rsp;
		thread_sleep(1000000);
	}
	return 0;
}

KTEST_CPUS(smp, ap_stacks_are_distinct, 2)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	uint64_t rsp[MAX_CPUS];
	for (int c = 1; c < cpu_count(); c++) {
		volatile uint64_t v = 0;
		v = ap_stack_pointer(c);
		KT_ASSERT(v != 0);
		rsp[c] = v;
		for (int d = 1; d < c; d++)
			KT_EXPECT(rsp[c] / PAGE_SIZE != rsp[d] / PAGE_SIZE);
	}
}

static bool apic_id_listed(uint32_t apic_id)
{
	for (int i = 0; i < acpi.ncpus; i++)
		if (acpi.cpu_apic_id[i] == apic_id)
			return true;
	for (int c = 0; c < cpu_count(); c++)
		if (cpus[c].apic_id == apic_id)
			return true;
	return false;
}

KTEST_CPUS(smp, ap_stacks_have_guard_pages, 2)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	for (int c = 1; c < cpu_count(); c++) {
		uint64_t rsp = ap_stack_pointer(c);
		KT_ASSERT(rsp != 0);
		uint64_t guard = ALIGN_DOWN(rsp, AP_STACK_BLOCK);
		KT_EXPECT(rsp - guard > PAGE_SIZE);	/* in the stack, above the guard */
		KT_EXPECT(!paging_is_mapped(guard));
		KT_EXPECT(arch_stack_guard_hit(guard));
		KT_EXPECT(paging_is_mapped(guard + PAGE_SIZE));
	}
}

/* After bring-up the trampoline's code page is no longer executable. */
KTEST(smp, trampoline_page_is_not_left_executable)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	int flags = paging_flags(AP_TRAMPOLINE_BASE);
	KT_EXPECT(flags < 0 || !(flags & PAGE_EXEC));
}

/* An APIC ID no processor has (and not the broadcast 0xFF): starting it
 * must time out, be reported, and leave the CPUs as they were. */
KTEST(smp, absent_processor_is_reported_and_skipped)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	if (cpu_count() == MAX_CPUS)
		KT_SKIP("every CPU slot is taken: nowhere to try an absent processor");
	uint32_t ghost = APIC_ID_BROADCAST - 1;
	while (apic_id_listed(ghost))
		ghost--;
	int before = cpu_count();
	/* a processor that is not there never answers: no need to wait the
	 * full second real ones get */
	uint64_t timeout = smp_set_ap_online_timeout_ms(100);
	KT_EXPECT(!smp_start_ap(ghost));
	smp_set_ap_online_timeout_ms(timeout);
	KT_EXPECT_EQ(cpu_count(), before);
	KT_EXPECT(!cpus[before].online);
	/* and the CPUs that are up still answer */
	for (int c = 0; c < cpu_count(); c++) {
		volatile int where = -1;
		smp_call(c, record_cpu, (void *)&where, true);
		KT_EXPECT_EQ(where, c);
	}
}

/* ---- smp_call ------------------------------------------------------- */

KTEST(smp, call_runs_on_the_target_cpu)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	for (int c = 0; c < cpu_count(); c++) {
		volatile int where = -1;
		smp_call(c, record_cpu, (void *)&where, true);
		KT_EXPECT_EQ(where, c);
	}
}

static void check_interrupts_off(void *arg)
{
	*(volatile bool *)arg = !arch_irq_enabled();
}

KTEST(smp, call_runs_with_interrupts_off)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	for (int c = 0; c < cpu_count(); c++) {
		volatile bool off = false;
		smp_call(c, check_interrupts_off, (void *)&off, true);
		KT_EXPECT(off);
	}
	KT_EXPECT(arch_irq_enabled());	/* and the caller's state is back */
}

KTEST_CPUS(smp, call_without_wait_eventually_runs, 2)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	static volatile uint64_t ran;
	ran = 0;
	for (int c = 1; c < cpu_count(); c++)
		smp_call(c, count_up, (void *)&ran, false);
	KT_EXPECT(wait_for_count(&ran, (uint64_t)cpu_count() - 1));
	KT_EXPECT_EQ(ran, cpu_count() - 1);
}

static volatile uint64_t per_cpu_hits[MAX_CPUS];

static void hit_this_cpu(void *arg)
{
	(void)arg;
	per_cpu_hits[cpu_id()]++;	/* only this CPU writes its slot */
}

KTEST_CPUS_TIMEOUT(smp, thousand_calls_to_every_cpu_complete, 2, 60)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	static volatile uint64_t total;
	total = 0;
	int n = cpu_count();
	for (int i = 0; i < MANY_CALLS; i++)
		for (int c = 1; c < n; c++)
			smp_call(c, count_up, (void *)&total, false);
	uint64_t want = (uint64_t)MANY_CALLS * (uint64_t)(n - 1);
	KT_EXPECT(wait_for_count(&total, want));
	KT_EXPECT_EQ(total, want);

	/* the same through smp_call_all, waiting each time */
	for (int c = 0; c < n; c++)
		per_cpu_hits[c] = 0;
	for (int i = 0; i < MANY_CALLS; i++)
		smp_call_all(hit_this_cpu, NULL, true);
	KT_EXPECT_EQ(per_cpu_hits[0], 0);	/* never the caller's own CPU */
	for (int c = 1; c < n; c++)
		KT_EXPECT_EQ(per_cpu_hits[c], MANY_CALLS);
}

#define EACH_CALLS 10

/* smp_call_each: every CPU, the caller's too (one CPU is enough). */
KTEST(smp, call_each_runs_on_every_cpu_the_callers_too)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	int n = cpu_count();
	for (int c = 0; c < n; c++)
		per_cpu_hits[c] = 0;
	for (int i = 0; i < EACH_CALLS; i++)
		smp_call_each(hit_this_cpu, NULL, true);
	for (int c = 0; c < n; c++)
		KT_EXPECT_EQ(per_cpu_hits[c], EACH_CALLS);
}

/* Two CPUs, each waiting with interrupts off for a call on the other: only
 * the waiters' serving of their own queues gets either call run. */
static volatile int pong_ran_on;
static volatile bool ping_waiting;

static void pong(void *arg)
{
	(void)arg;
	pong_ran_on = cpu_id();
}

static void ping(void *arg)
{
	int back = *(volatile int *)arg;
	__atomic_store_n(&ping_waiting, true, __ATOMIC_RELEASE);
	smp_call(back, pong, NULL, true);	/* from an IPI handler, interrupts off */
}

KTEST_CPUS(smp, two_cpus_calling_each_other_with_wait_do_not_deadlock, 2)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	int n = cpu_count();
	for (int round = 0; round < PING_PONG_ROUNDS; round++) {
		int other = 1 + round % (n - 1);
		volatile int me = cpu_id();
		volatile int where = -1;
		ping_waiting = false;
		pong_ran_on = -1;
		unsigned long flags = arch_irq_save();
		smp_call(other, ping, (void *)&me, false);
		while (!__atomic_load_n(&ping_waiting, __ATOMIC_ACQUIRE))
			arch_cpu_relax();
		/* `other` now waits for us, interrupts off; we wait for it likewise */
		smp_call(other, record_cpu, (void *)&where, true);
		arch_irq_restore(flags);
		KT_EXPECT_EQ(where, other);
		KT_EXPECT_EQ(pong_ran_on, me);
	}
}

static void call_back_all(void *arg)
{
	smp_call_all(count_up, arg, true);
}

/* Every CPU at once calls every other and waits: n * (n - 1) calls. */
KTEST_CPUS(smp, all_cpus_calling_all_at_once_complete, 2)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	static volatile uint64_t count;
	count = 0;
	int n = cpu_count();
	smp_call_all(call_back_all, (void *)&count, false);
	call_back_all((void *)&count);
	uint64_t want = (uint64_t)n * (uint64_t)(n - 1);
	KT_EXPECT(wait_for_count(&count, want));
	KT_EXPECT_EQ(count, want);
}

/* ---- time --------------------------------------------------------------- */

struct clock_sample {
	uint64_t first, last;
	bool monotonic;
};

static void sample_clock(void *arg)
{
	struct clock_sample *s = arg;
	uint64_t prev = clock_ns();
	s->first = prev;
	s->monotonic = true;
	for (int i = 0; i < CLOCK_READS; i++) {
		uint64_t now = clock_ns();
		if (now < prev)
			s->monotonic = false;
		prev = now;
	}
	s->last = prev;
}

KTEST(smp, clock_is_monotonic_and_agrees_across_cpus)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	for (int c = 0; c < cpu_count(); c++) {
		struct clock_sample s;
		uint64_t before = clock_ns();
		smp_call(c, sample_clock, &s, true);
		uint64_t after = clock_ns();
		KT_EXPECT(s.monotonic);
		/* the remote reads happened between our two */
		if (s.first + CLOCK_SKEW_NS < before || s.last > after + CLOCK_SKEW_NS) {
			KT_LOG("CPU %d: read %lu..%lu ns, caller %lu..%lu ns", c, s.first, s.last,
			       before, after);
			KT_EXPECT(false);
		}
	}
}

/* ---- resched IPI -------------------------------------------------------- */

KTEST(smp, resched_ipi_is_delivered)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	for (int c = 0; c < cpu_count(); c++) {
		const volatile uint64_t *n = &smp_stats(c)->ipi_resched;
		uint64_t before = *n;
		smp_send_resched(c);	/* to itself too: a self-IPI */
		KT_EXPECT(wait_for_count((volatile uint64_t *)n, before + 1));
	}
}

KTEST(smp, print_cpus_runs)
{
	thread_bind(0);	/* these cases reason about CPUs: run on the boot CPU */
	smp_print_cpus();	/* the monitor's `cpus`: must not fault */
}

/* ---- misuse ------------------------------------------------------------- */

KTEST_EXPECT_PANIC(smp, call_to_a_cpu_that_is_not_online_panics, "smp_call: CPU -1 is not online")
{
	static volatile int sink;
	smp_call(-1, record_cpu, (void *)&sink, true);
}
