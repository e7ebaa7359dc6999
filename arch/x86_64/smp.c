/*
 * arch/x86_64/smp.c - starting the other CPUs, and making them do things.
 *
 * Bring-up. The boot CPU (BSP, CPU 0) learns from the ACPI MADT which
 * local APIC IDs belong to processors, and starts each of the others (APs)
 * in turn with the sequence the Intel SDM prescribes (vol. 3, 9.4.4):
 * INIT, 10 ms, start-up IPI (SIPI), 200 us, SIPI. The SIPI points the AP at
 * a real-mode trampoline copied to a low page (boot/ap_trampoline.asm),
 * which takes it to 64-bit mode on the kernel's page tables and calls
 * ap_main on a stack allocated here. ap_main gives the CPU its per-CPU
 * block, GDT/TSS, IDT, local APIC and timer, marks it online and enters
 * smp_ap_idle, which the scheduler replaces. APs start one at a time: the
 * trampoline's parameter block serves them all, and CPU numbers are given
 * in the order CPUs come up, so they stay dense (0 .. cpu_count()-1) even
 * when one fails. An AP that does not come online within AP_ONLINE_TIMEOUT
 * is reported (with the last stage it reached), sent an INIT to park it,
 * and skipped.
 *
 * Cross-CPU calls. Each CPU has a call queue: a ring of (fn, arg, done)
 * slots under a spinlock. smp_call puts a slot in the target's ring and
 * sends it the VEC_IPI_CALL interrupt; the target's handler takes the slots
 * out one at a time and runs them, then sets *done if the caller waits.
 *
 * The deadlock this design must avoid: CPU A waits for its call on B while
 * B, interrupts off, waits for its own call on A. Neither takes the other's
 * IPI. So a waiting CPU never just spins: every turn of its wait loop runs
 * whatever is in its own queue (interrupts off, so fn always runs as it
 * would in the handler). Waiting with interrupts off is therefore allowed
 * and is not treated as an error. The same holds while waiting for room in
 * a full ring. The price is the rule in smp.h: fn can run on a CPU that is
 * in the middle of smp_call, so fn must not take a lock an smp_call caller
 * may hold.
 *
 * Invariants:
 *   - cpus[i].online is set by CPU i once its IDT, LAPIC and call queue
 *     are usable; only then, and only by the boot CPU (the one writer),
 *     is cpu_count() raised past i: every CPU below cpu_count() is online,
 *     and the next AP can never be given a number already in use.
 *   - a slot is run exactly once, by the CPU whose ring it is in; the slot
 *     is freed (head advanced) before fn runs, so fn may itself call.
 *   - *done is written after fn returns, and read by the one caller, whose
 *     stack holds it until it sees it set.
 *
 * The local APIC's ICR is driven from here; lapic.c keeps the rest of the
 * local APIC (set-up, EOI, the timer). Both use the xAPIC window at
 * LAPIC_DEFAULT_BASE, and smp_init warns if the MADT or the APIC base MSR
 * say the window is elsewhere.
 */
#include <acpi.h>
#include <arch.h>
#include <bootinfo.h>
#include <fpu.h>
#include <mm.h>
#include <percpu.h>
#include <sched.h>
#include <printk.h>
#include <smp.h>
#include <trace.h>
#include <spinlock.h>
#include <string.h>
#include <timer.h>
#include <arch/lapic.h>
#include <arch/smp.h>
#include <arch/trap.h>
#include <arch/x86.h>

#define INIT_DELAY_US        10000	/* INIT to first SIPI (SDM: 10 ms) */
#define SIPI_DELAY_US        200	/* between the two SIPIs (SDM: 200 us) */
#define AP_ONLINE_TIMEOUT_MS 1000	/* from the second SIPI to online */
#define ICR_IDLE_TIMEOUT_MS  100	/* an APIC that never accepts an IPI is broken */
#define NSEC_PER_USEC        1000ULL
#define NSEC_PER_MSEC        1000000ULL

#define SMP_CALL_QUEUE_LEN   32	/* slots per CPU; a full ring makes callers wait */
#define CACHE_LINE           64

#define APIC_BASE_ADDR_MASK  0x000FFFFFFFFFF000ULL	/* MSR_APIC_BASE bits 12-51 */

static volatile uint32_t *const lapic_mmio = (volatile uint32_t *)LAPIC_DEFAULT_BASE;
static volatile struct ap_boot_params *const params =
	(volatile struct ap_boot_params *)AP_TRAMPOLINE_PARAMS;

static volatile int ncpus_online = 1;		/* cpu_count(); the BSP alone writes it */
static uint64_t ap_stack_block[MAX_CPUS];	/* guard page address; 0 for the BSP */
static int trampoline_saved_flags[2];		/* code page, data page */

struct call_slot {
	void (*fn)(void *);
	void *arg;
	volatile bool *done;	/* NULL: the caller does not wait */
};

/* One CPU's queue of calls to run: slots [head, tail) modulo the length. */
struct call_queue {
	struct spinlock lock;
	uint32_t head, tail;
	struct call_slot slot[SMP_CALL_QUEUE_LEN];
} __aligned(CACHE_LINE);

static struct call_queue callq[MAX_CPUS];

static struct {
	struct smp_cpu_stats s;
} __aligned(CACHE_LINE) stats[MAX_CPUS];

/* ---- small helpers ---------------------------------------------------- */

int cpu_count(void)
{
	return __atomic_load_n(&ncpus_online, __ATOMIC_ACQUIRE);
}

const struct smp_cpu_stats *smp_stats(int cpu)
{
	KASSERT(cpu >= 0 && cpu < MAX_CPUS);
	return &stats[cpu].s;
}

/* Busy-waits at least `us` microseconds (the TSC clock; after arch_timer_init). */
static void delay_us(uint64_t us)
{
	uint64_t end = arch_clock_ns() + us * NSEC_PER_USEC;
	while (arch_clock_ns() < end)
		cpu_pause();
}

/* Online and counted (cpus[cpu].online alone is the AP's half of the
 * hand-shake in smp_start_ap). */
static bool cpu_is_online(int cpu)
{
	return cpu >= 0 && cpu < cpu_count();
}

/* ---- IPIs through the ICR ---------------------------------------------- */

/* Waits until the local APIC has accepted the previous IPI. */
static void icr_wait_idle(void)
{
	uint64_t deadline = arch_clock_ns() + ICR_IDLE_TIMEOUT_MS * NSEC_PER_MSEC;
	while (lapic_mmio[LAPIC_ICR_LO / 4] & ICR_DELIVS) {
		if (arch_clock_ns() > deadline)
			panic("smp: the local APIC of CPU %d does not accept IPIs (ICR busy)",
			      cpu_id());
		cpu_pause();
	}
}

/* Sends one IPI: `lo` is the ICR low word (mode, vector, shorthand). The
 * two ICR writes must not be split by an interrupt that sends one too. */
static void icr_send(uint32_t apic_id, uint32_t lo)
{
	unsigned long flags = arch_irq_save();
	icr_wait_idle();
	lapic_mmio[LAPIC_ICR_HI / 4] = apic_id << ICR_DEST_SHIFT;
	lapic_mmio[LAPIC_ICR_LO / 4] = lo;
	arch_irq_restore(flags);
}

static void ipi_send(int cpu, int vector)
{
	unsigned long flags = arch_irq_save();
	if (cpu == cpu_id())
		icr_send(0, ICR_FIXED | ICR_ASSERT | ICR_DEST_SELF | (uint32_t)vector);
	else
		icr_send(cpus[cpu].apic_id, ICR_FIXED | ICR_ASSERT | (uint32_t)vector);
	arch_irq_restore(flags);
}

/* INIT: the target resets and waits for a SIPI. The de-assert is for the
 * old discrete APIC (82489DX); newer ones ignore it, as the SDM allows. */
static void send_init(uint32_t apic_id)
{
	icr_send(apic_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
	icr_wait_idle();
	icr_send(apic_id, ICR_INIT | ICR_LEVEL);
	icr_wait_idle();
}

static void send_startup(uint32_t apic_id)
{
	icr_send(apic_id, ICR_STARTUP | ICR_ASSERT | AP_SIPI_VECTOR);
	icr_wait_idle();
}

/* ---- cross-CPU calls ---------------------------------------------------- */

/* Runs the calls queued for this CPU, oldest first, until its ring is
 * empty. Interrupts off (the IPI handler, or a waiting caller). */
static void call_run_queued(void)
{
	int self = cpu_id();
	struct call_queue *q = &callq[self];
	for (;;) {
		spin_lock(&q->lock);
		if (q->head == q->tail) {
			spin_unlock(&q->lock);
			return;
		}
		struct call_slot s = q->slot[q->head % SMP_CALL_QUEUE_LEN];
		q->head++;
		spin_unlock(&q->lock);

		s.fn(s.arg);
		stats[self].s.calls_run++;
		if (s.done)
			__atomic_store_n(s.done, true, __ATOMIC_RELEASE);
	}
}

/* One turn of a wait loop: serve our own queue, so that a CPU waiting for
 * us is never stuck behind our waiting for it. */
static void call_poll(void)
{
	unsigned long flags = arch_irq_save();
	call_run_queued();
	arch_irq_restore(flags);
	arch_cpu_relax();
}

/* Puts a call in `cpu`'s ring (waiting for room if it is full) and sends
 * the IPI. Any context. */
static void call_enqueue(int cpu, void (*fn)(void *), void *arg, volatile bool *done)
{
	struct call_queue *q = &callq[cpu];
	for (;;) {
		unsigned long flags = spin_lock_irqsave(&q->lock);
		if (q->tail - q->head < SMP_CALL_QUEUE_LEN) {
			q->slot[q->tail % SMP_CALL_QUEUE_LEN] = (struct call_slot){ fn, arg, done };
			q->tail++;
			spin_unlock_irqrestore(&q->lock, flags);
			break;
		}
		spin_unlock_irqrestore(&q->lock, flags);
		call_poll();
	}
	ipi_send(cpu, VEC_IPI_CALL);
}

static void call_wait(volatile bool *done)
{
	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE))
		call_poll();
}

void smp_call(int cpu, void (*fn)(void *), void *arg, bool wait)
{
	/* Interrupts off: no migration between "which CPU am I" and acting on it. */
	unsigned long flags = arch_irq_save();
	if (cpu == cpu_id()) {
		fn(arg);
		arch_irq_restore(flags);
		return;
	}
	if (!cpu_is_online(cpu)) {
		arch_irq_restore(flags);
		panic("smp_call: CPU %d is not online (%d CPUs online)", cpu, cpu_count());
	}
	volatile bool done = false;
	call_enqueue(cpu, fn, arg, wait ? &done : NULL);
	arch_irq_restore(flags);
	if (wait)
		call_wait(&done);
}

/* smp_call_all and smp_call_each: the other CPUs are chosen, and with
 * `self` the caller's runs fn, with interrupts off throughout, so the CPU
 * left out of the queueing is the one that ran fn: a caller moved to
 * another CPU in between cannot make one CPU be skipped. */
static void call_many(void (*fn)(void *), void *arg, bool wait, bool self_too)
{
	volatile bool done[MAX_CPUS];
	unsigned long flags = arch_irq_save();
	int self = cpu_id(), n = cpu_count();
	for (int c = 0; c < n; c++) {
		done[c] = true;
		if (c != self && cpu_is_online(c)) {
			done[c] = false;
			call_enqueue(c, fn, arg, wait ? &done[c] : NULL);
		}
	}
	if (self_too)
		fn(arg);
	arch_irq_restore(flags);
	for (int c = 0; wait && c < n; c++)
		call_wait(&done[c]);
}

void smp_call_all(void (*fn)(void *), void *arg, bool wait)
{
	call_many(fn, arg, wait, false);
}

void smp_call_each(void (*fn)(void *), void *arg, bool wait)
{
	call_many(fn, arg, wait, true);
}

void smp_send_resched(int cpu)
{
	if (!cpu_is_online(cpu) && cpu != cpu_id())
		panic("smp_send_resched: CPU %d is not online (%d CPUs online)", cpu,
		      cpu_count());
	ipi_send(cpu, VEC_IPI_RESCHED);
}

void smp_send_nmi(int cpu)
{
	if (!cpu_is_online(cpu) && cpu != cpu_id())
		panic("smp_send_nmi: CPU %d is not online (%d CPUs online)", cpu, cpu_count());
	unsigned long flags = arch_irq_save();
	if (cpu == cpu_id())
		icr_send(0, ICR_NMI | ICR_ASSERT | ICR_DEST_SELF);
	else
		icr_send(cpus[cpu].apic_id, ICR_NMI | ICR_ASSERT);
	arch_irq_restore(flags);
}

void smp_kick(int cpu)
{
	if (!cpu_is_online(cpu) && cpu != cpu_id())
		panic("smp_kick: CPU %d is not online (%d CPUs online)", cpu, cpu_count());
	ipi_send(cpu, VEC_IPI_KICK);
}

__attribute__((weak)) void sched_ipi_resched(void)
{
}

static bool ipi_call_interrupt(struct trap_frame *tf)
{
	(void)tf;
	stats[cpu_id()].s.ipi_call++;
	call_run_queued();
	return true;
}

/* A kick has done its work by arriving (smp.h): count it, nothing more. */
static bool ipi_kick_interrupt(struct trap_frame *tf)
{
	(void)tf;
	stats[cpu_id()].s.ipi_kick++;
	return true;
}

static bool ipi_resched_interrupt(struct trap_frame *tf)
{
	(void)tf;
	stats[cpu_id()].s.ipi_resched++;
	sched_ipi_resched();
	return true;
}

/* ---- AP bring-up -------------------------------------------------------- */

__attribute__((weak)) void smp_ap_idle(void)
{
	for (;;)
		arch_wait_for_interrupt();
}

/* The first C an AP runs, on its own stack, interrupts off, the boot
 * GDT of the trampoline still loaded and no IDT yet: nothing may fault or
 * take a lock (which reads the per-CPU block) before the first three calls. */
static __noreturn void ap_main(int id)
{
	percpu_init_this(id);
	gdt_init_this_cpu(id);
	idt_load();
	arch_user_init_this_cpu();
	fpu_init_ap();			/* the boot CPU's CR4/XCR0; TS set, no owner */
	params->stage = AP_STAGE_C;

	lapic_init_this_cpu();
	if (lapic_id() != cpus[id].apic_id)
		printk("smp: CPU %d has local APIC ID %u, the MADT said %u\n", id, lapic_id(),
		       cpus[id].apic_id);
	sched_init_ap(id);		/* this boot context becomes the CPU's idle thread */
	lapic_timer_start(TIMER_HZ);

	__atomic_store_n(&cpus[id].online, true, __ATOMIC_RELEASE);	/* the BSP counts it */
	arch_irq_enable();
	smp_ap_idle();
	panic("smp: smp_ap_idle returned on CPU %d", id);
}

/* Maps a page identity with `flags`, or unmaps it if flags < 0. */
static void map_low_page(uint64_t pa, int flags)
{
	if (flags < 0)
		paging_unmap(pa);
	else
		paging_map(pa, pa, (unsigned)flags);
}

static void flush_trampoline_tlb(void *unused)
{
	(void)unused;
	invlpg(AP_TRAMPOLINE_BASE);
	invlpg(AP_TRAMPOLINE_PARAMS);
}

/* Copies the trampoline to its page and maps the code page read-only and
 * executable, the data page read-write: whatever the kernel's tables said
 * about these two pages is saved, and restored by trampoline_unmap. */
static void trampoline_map(void)
{
	trampoline_saved_flags[0] = paging_flags(AP_TRAMPOLINE_BASE);
	trampoline_saved_flags[1] = paging_flags(AP_TRAMPOLINE_PARAMS);
	map_low_page(AP_TRAMPOLINE_BASE, PAGE_WRITE);
	memcpy((void *)AP_TRAMPOLINE_BASE, ap_trampoline_start,
	       (size_t)(ap_trampoline_end - ap_trampoline_start));
	map_low_page(AP_TRAMPOLINE_BASE, PAGE_EXEC);
	map_low_page(AP_TRAMPOLINE_PARAMS, PAGE_WRITE);
}

static void trampoline_unmap(void)
{
	map_low_page(AP_TRAMPOLINE_BASE, trampoline_saved_flags[0]);
	map_low_page(AP_TRAMPOLINE_PARAMS, trampoline_saved_flags[1]);
	/* the CPUs already up may still hold the bring-up mappings */
	smp_call_all(flush_trampoline_tlb, NULL, true);
}

static uint64_t ap_online_timeout_ms = AP_ONLINE_TIMEOUT_MS;

uint64_t smp_set_ap_online_timeout_ms(uint64_t ms)
{
	uint64_t old = ap_online_timeout_ms;
	ap_online_timeout_ms = ms;
	return old;
}

/* A stack block for CPU id: the guard page at its bottom is unmapped. */
static uint64_t ap_stack_get(int id)
{
	if (!ap_stack_block[id]) {
		uint64_t block = pmm_alloc_pages(AP_STACK_ORDER);
		if (!block)
			return 0;
		paging_register_guard(block);
		ap_stack_block[id] = block;
	}
	return ap_stack_block[id] + AP_STACK_BLOCK;
}

static void ap_stack_put(int id)
{
	if (!ap_stack_block[id])
		return;
	paging_unregister_guard(ap_stack_block[id]);
	pmm_free_pages(ap_stack_block[id], AP_STACK_ORDER);
	ap_stack_block[id] = 0;
}

static const char *const stage_names[] = {
	[AP_STAGE_NONE] = "no sign of life",
	[AP_STAGE_REAL] = "stopped in real mode",
	[AP_STAGE_PROTECTED] = "stopped in protected mode",
	[AP_STAGE_LONG] = "reached long mode, not ap_main",
	[AP_STAGE_C] = "reached ap_main, never came online",
};

bool smp_start_ap(uint32_t apic_id)
{
	int id = cpu_count();
	if (id >= MAX_CPUS) {
		printk("smp: no CPU slot for APIC ID %u (MAX_CPUS is %d)\n", apic_id, MAX_CPUS);
		return false;
	}
	if (apic_id >= APIC_ID_BROADCAST) {
		printk("smp: APIC ID %u cannot be reached in xAPIC mode; skipped\n", apic_id);
		return false;
	}
	uint64_t stack_top = ap_stack_get(id);
	if (!stack_top) {
		printk("smp: no memory for the stack of APIC ID %u; skipped\n", apic_id);
		return false;
	}
	trace_prepare_cpu(id);		/* its ring, before it can log (trace.ring=) */

	trampoline_map();
	params->cr3 = read_cr3();
	params->stack_top = stack_top;
	params->entry = (uint64_t)ap_main;
	params->cpu_id = (uint32_t)id;
	params->apic_id = apic_id;
	params->efer_nx = (rdmsr(MSR_EFER) & EFER_NXE) ? 1 : 0;
	params->stage = AP_STAGE_NONE;
	cpus[id].apic_id = apic_id;
	cpus[id].online = false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* all of it visible before the IPIs */

	send_init(apic_id);
	delay_us(INIT_DELAY_US);
	send_startup(apic_id);
	delay_us(SIPI_DELAY_US);
	send_startup(apic_id);	/* ignored if the first one worked */

	uint64_t deadline = arch_clock_ns() + ap_online_timeout_ms * NSEC_PER_MSEC;
	while (!__atomic_load_n(&cpus[id].online, __ATOMIC_ACQUIRE) && arch_clock_ns() < deadline)
		cpu_pause();
	bool ok = __atomic_load_n(&cpus[id].online, __ATOMIC_ACQUIRE);
	if (ok) {
		/* Only here is the count raised, by this one writer: the next
		 * smp_start_ap must not see the old count and reuse id. */
		__atomic_store_n(&ncpus_online, id + 1, __ATOMIC_RELEASE);
	} else {
		uint32_t stage = params->stage;
		send_init(apic_id);	/* park it, in case it is only late */
		/* it may have set online between our last look and the INIT */
		__atomic_store_n(&cpus[id].online, false, __ATOMIC_RELEASE);
		printk("smp: APIC ID %u did not come online within %lu ms (%s); skipped\n",
		       apic_id, ap_online_timeout_ms,
		       stage < ARRAY_SIZE(stage_names) ? stage_names[stage] : "?");
		cpus[id].apic_id = 0;
		ap_stack_put(id);
	}
	trampoline_unmap();
	return ok;
}

/* ---- smp_init ------------------------------------------------------------ */

static bool range_overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* Why the trampoline cannot be used (a message), or NULL if it can. */
static const char *trampoline_problem(void)
{
	const struct ap_trampoline_layout *l = &ap_trampoline_layout;
	if (l->base != AP_TRAMPOLINE_BASE || l->params != AP_TRAMPOLINE_PARAMS ||
	    l->off_cr3 != offsetof(struct ap_boot_params, cr3) ||
	    l->off_stack_top != offsetof(struct ap_boot_params, stack_top) ||
	    l->off_entry != offsetof(struct ap_boot_params, entry) ||
	    l->off_cpu_id != offsetof(struct ap_boot_params, cpu_id) ||
	    l->off_apic_id != offsetof(struct ap_boot_params, apic_id) ||
	    l->off_efer_nx != offsetof(struct ap_boot_params, efer_nx) ||
	    l->off_stage != offsetof(struct ap_boot_params, stage))
		return "boot/ap_trampoline.asm and arch/smp.h disagree on the layout";
	if ((uint64_t)(ap_trampoline_end - ap_trampoline_start) > PAGE_SIZE)
		return "the trampoline is larger than a page";
	if (read_cr3() >= GiB(4))
		return "the page tables are above 4 GiB, out of the trampoline's reach";

	uint64_t lo = MIN(AP_TRAMPOLINE_BASE, AP_TRAMPOLINE_PARAMS);
	uint64_t hi = MAX(AP_TRAMPOLINE_BASE, AP_TRAMPOLINE_PARAMS) + PAGE_SIZE;
	bool usable = false;
	for (int i = 0; i < bootinfo.nmmap; i++) {
		const struct boot_mmap_entry *e = &bootinfo.mmap[i];
		if (e->type == MMAP_USABLE && e->base <= lo && hi <= e->base + e->len)
			usable = true;
		else if (e->type != MMAP_USABLE && range_overlaps(lo, hi, e->base, e->base + e->len))
			return "the trampoline pages are not usable RAM in the memory map";
	}
	if (!usable)
		return "the trampoline pages are not usable RAM in the memory map";
	/* The loader's information block may be there (QEMU puts it at 0x9000):
	 * bootinfo_parse copied all of it, so it is dead. Modules are not. */
	for (int i = 0; i < bootinfo.nmodules; i++)
		if (range_overlaps(lo, hi, bootinfo.modules[i].start, bootinfo.modules[i].end))
			return "a loader module is on the trampoline pages";
	return NULL;
}

static void check_lapic_address(void)
{
	uint64_t msr = rdmsr(MSR_APIC_BASE) & APIC_BASE_ADDR_MASK;
	if (msr != LAPIC_DEFAULT_BASE)
		printk("smp: warning: the APIC base MSR says 0x%lx, lapic.c uses 0x%lx\n", msr,
		       LAPIC_DEFAULT_BASE);
	if (acpi.have_madt && acpi.lapic_addr != LAPIC_DEFAULT_BASE)
		printk("smp: warning: the MADT says the local APIC is at 0x%lx, lapic.c uses "
		       "0x%lx\n", acpi.lapic_addr, LAPIC_DEFAULT_BASE);
}

static void print_online_line(void)
{
	int n = cpu_count();
	printk("smp: %d CPU%s online (APIC ID%s", n, n == 1 ? "" : "s", n == 1 ? "" : "s");
	for (int i = 0; i < n; i++)
		printk(" %u", cpus[i].apic_id);
	printk(")\n");
}

void smp_init(void)
{
	KASSERT(cpu_id() == 0);
	for (int c = 0; c < MAX_CPUS; c++)
		spin_init(&callq[c].lock, "smp_call queue");
	trap_register(VEC_IPI_CALL, ipi_call_interrupt);
	trap_register(VEC_IPI_RESCHED, ipi_resched_interrupt);
	trap_register(VEC_IPI_KICK, ipi_kick_interrupt);
	uint32_t bsp_apic = lapic_id();
	cpus[0].apic_id = bsp_apic;
	__atomic_store_n(&cpus[0].online, true, __ATOMIC_RELEASE);

	acpi_init();
	check_lapic_address();
	const char *problem = trampoline_problem();
	if (!acpi.have_madt) {
		printk("smp: no ACPI MADT, so no list of processors: running on the boot CPU "
		       "only\n");
	} else if (problem) {
		printk("smp: %s: running on the boot CPU only\n", problem);
	} else {
		int failed = 0, no_room = 0;
		bool bsp_listed = false;
		for (int i = 0; i < acpi.ncpus; i++) {
			uint32_t apic = acpi.cpu_apic_id[i];
			if (apic == bsp_apic)
				bsp_listed = true;
			else if (cpu_count() == MAX_CPUS)
				no_room++;
			else if (!smp_start_ap(apic))
				failed++;
		}
		if (!bsp_listed)
			printk("smp: warning: the boot CPU (APIC ID %u) is not in the MADT\n",
			       bsp_apic);
		if (no_room)
			printk("smp: %d more processor%s not started: MAX_CPUS is %d\n", no_room,
			       no_room == 1 ? "" : "s", MAX_CPUS);
		if (failed)
			printk("smp: %d processor%s did not start (see above)\n", failed,
			       failed == 1 ? "" : "s");
	}
	print_online_line();
}

void smp_print_cpus(void)
{
	int n = cpu_count();
	printk("cpu  apic  online  resched-ipis  call-ipis  calls-run  kick-ipis\n");
	for (int c = 0; c < n; c++) {
		const struct smp_cpu_stats *s = &stats[c].s;
		printk("%3d  %4u  %-6s  %12lu  %9lu  %9lu  %9lu\n", c, cpus[c].apic_id,
		       cpu_is_online(c) ? "yes" : "no", s->ipi_resched, s->ipi_call, s->calls_run,
		       s->ipi_kick);
	}
	/* processors the MADT lists that did not come up (or found no slot) */
	for (int i = 0; i < acpi.ncpus; i++) {
		bool up = false;
		for (int c = 0; c < n; c++)
			up |= cpus[c].apic_id == acpi.cpu_apic_id[i];
		if (!up)
			printk("  -  %4u  %-6s\n", acpi.cpu_apic_id[i], "no");
	}
}
