/*
 * kernel/trace.c - per-CPU trace rings.
 *
 * Each CPU writes only its own ring, so writing needs no lock: the caller
 * keeps the CPU (interrupts off or preemption disabled), and an interrupt
 * handler that logs on the same CPU runs to completion before the
 * interrupted write continues... except that it may land between reading
 * the index and storing the event. To keep that harmless the index is
 * advanced first (one add), then the slot filled: a nested event takes the
 * next slot. Readers copy a ring while its CPU may be writing; the
 * sequence numbers let them see a torn or overwritten stretch (the tests
 * read with tracing switched off).
 *
 * The dump for pictures (trace_dump_all, `make trace`, docs/trace.md)
 * prints every ring in a line-per-record form a host tool reads, with the
 * names of the threads the events name (kept in a small table as the
 * switch meets them, since a thread may be gone by the dump) and, per
 * CPU, the kernel's own counters of what the events record (switches,
 * FPU saves and restores, #NM traps, guest entries): with tracing on from
 * the boot and no event lost, the host tool's counts must equal them.
 */
#include <trace.h>
#include <arch.h>
#include <cmdline.h>
#include <monitor.h>
#include <percpu.h>
#include <mm.h>
#include <printf.h>
#include <printk.h>
#include <smp.h>
#include <string.h>
#include <ksyms.h>
#include <thread.h>
#include <vmm.h>

struct trace_ring {
	volatile uint64_t next;			/* sequence number of the next event */
	struct trace_event *ev;			/* `size` events */
	uint64_t size;				/* a power of two */
};

static struct trace_event default_ev[MAX_CPUS][TRACE_RING_SIZE];
static struct trace_ring rings[MAX_CPUS];
volatile uint32_t trace_mask;

/* The sequence number of the oldest event r still holds, given end = r->next. */
static inline uint64_t ring_first(const struct trace_ring *r, uint64_t end)
{
	return end > r->size ? end - r->size : 0;
}

/* Event s of r (0-based), or NULL if its slot holds another by now (being
 * rewritten, or overwritten). */
static inline const struct trace_event *ring_at(const struct trace_ring *r, uint64_t s)
{
	const struct trace_event *e = &r->ev[s & (r->size - 1)];
	return e->seq == s + 1 ? e : NULL;
}

static uint64_t ring_opt;
CMDLINE_UINT("trace.ring", ring_opt, 1024, 1048576,
	     "events kept per CPU, rounded down to a power of two (default 4096; make trace "
	     "gives more)");

static uint64_t trace_cats_opt;
static const char *const trace_cat_names[] = { "ctxop", "sched", "fpu", "vmm", "ipc", NULL };
static const struct cmdline_opt cmdline_opt_trace
	__used __attribute__((section(".cmdline_opts"), aligned(8))) = {
		"trace", CMDLINE_T_LIST, &trace_cats_opt, trace_cat_names, 0, 0,
		"trace categories to record from boot, comma-separated"
	};

void trace_init(void)
{
	for (int i = 0; i < MAX_CPUS; i++) {
		rings[i].ev = default_ev[i];
		rings[i].size = TRACE_RING_SIZE;
	}
	trace_mask = (uint32_t)trace_cats_opt;
}

/* trace.ring=: CPU id's ring of that size, from the heap, before the CPU
 * logs its first event (the boot CPU's once the heap is up, each other
 * one's as it is started): only CPUs that exist take the memory. */
void trace_prepare_cpu(int id)
{
	if (!ring_opt || ring_opt == TRACE_RING_SIZE || id >= MAX_CPUS)
		return;
	uint64_t n = 1ULL << (63 - __builtin_clzll(ring_opt));
	size_t bytes = n * sizeof(struct trace_event);
	struct trace_event *ev = kmem_alloc(bytes, KM_NOSLEEP);
	if (!ev) {
		printk("trace: no memory for CPU %d's ring of %lu events (trace.ring); it keeps "
		       "%d\n", id, n, TRACE_RING_SIZE);
		return;
	}
	memset(ev, 0, bytes);
	rings[id].next = 0;
	rings[id].ev = ev;
	rings[id].size = n;
	if (id == 0)
		printk("trace: %lu events per CPU\n", n);
}

void trace_init_rings(void)
{
	trace_prepare_cpu(0);
}

size_t trace_ring_size(void)
{
	return rings[0].size;
}

static char run_opt[128];
CMDLINE_STRING("trace.run", run_opt,
	       "a monitor command to run at the end of the boot (commas for spaces), then dump "
	       "the trace rings and power off (make trace)");
static uint64_t dump_opt;
CMDLINE_UINT("trace.dump", dump_opt, 0, 1,
	     "dump every trace ring over serial before powering off after ktest= or trace.run= "
	     "(tools/trace2json.py reads it)");

void trace_log3(uint32_t type, uint64_t a, uint64_t b, uint64_t c)
{
	/* interrupts off for the write (callers that only disabled
	 * preemption keep them on): the dump's round of calls to every CPU
	 * (trace_dump_all) then finds no CPU halfway through one */
	unsigned long irq = arch_irq_save();
	if (unlikely(!trace_mask)) {
		/* turned off between the caller's test and here (an interrupt
		 * in between: the dump's quiesce round): nothing more may land */
		arch_irq_restore(irq);
		return;
	}
	struct cpu *me = this_cpu();
	int cpu = me->id;
	struct trace_ring *r = &rings[cpu];
	uint64_t seq = __atomic_add_fetch(&r->next, 1, __ATOMIC_RELAXED);
	struct trace_event *e = &r->ev[(seq - 1) & (r->size - 1)];
	e->tsc = arch_timestamp();
	e->type = type;
	e->cpu = (uint32_t)cpu;
	e->tid = me->thread ? me->thread->id : TRACE_NO_THREAD;
	e->a = a;
	e->b = b;
	e->c = c;
	__atomic_store_n(&e->seq, seq, __ATOMIC_RELEASE);
	arch_irq_restore(irq);
}

void trace_log(uint32_t type, uint64_t a, uint64_t b)
{
	trace_log3(type, a, b, 0);
}

void trace_mark(uint64_t n)
{
	if (!trace_mask)
		return;
	unsigned long irq = arch_irq_save();
	trace_log(TR_USER, n, 0);
	arch_irq_restore(irq);
}

/* ---- names, for the dump ----
 * Open addressing on the id; a slot is claimed by a compare-and-swap of
 * its id, so any CPU may add one from the switch without a lock. The
 * name is copied after the claim: the dump runs with tracing off. A full
 * table drops the name (the dump then says "thread N"). */
#define NAMES 1024
static struct {
	uint64_t key;			/* thread id + 1; 0: a free slot */
	char name[THREAD_NAME_MAX];
} names[NAMES];

void trace_name_thread(const struct thread *t)
{
	uint64_t key = t->id + 1;
	for (unsigned i = 0, h = (unsigned)(t->id * 2654435761u); i < NAMES; i++) {
		unsigned k = (h + i) & (NAMES - 1);
		uint64_t seen = __atomic_load_n(&names[k].key, __ATOMIC_ACQUIRE);
		if (seen == 0 && __atomic_compare_exchange_n(&names[k].key, &seen, key, false,
							     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			memcpy(names[k].name, t->name, THREAD_NAME_MAX);
			return;
		}
		if (seen == key) {
			/* renamed since (the demos name their probes after the
			 * spawn): the name as it is now */
			if (memcmp(names[k].name, t->name, THREAD_NAME_MAX))
				memcpy(names[k].name, t->name, THREAD_NAME_MAX);
			return;
		}
	}
}

void trace_enable(uint32_t cats)
{
	__atomic_or_fetch(&trace_mask, cats, __ATOMIC_SEQ_CST);
}

void trace_disable(uint32_t cats)
{
	__atomic_and_fetch(&trace_mask, ~cats, __ATOMIC_SEQ_CST);
}

void trace_reset(void)
{
	for (int i = 0; i < cpu_count(); i++) {
		rings[i].next = 0;
		memset(rings[i].ev, 0, rings[i].size * sizeof(struct trace_event));
	}
}

size_t trace_read(int cpu, struct trace_event *out, size_t max)
{
	struct trace_ring *r = &rings[cpu];
	uint64_t end = r->next, start = ring_first(r, end);
	if (end - start > max)
		start = end - max;
	size_t n = 0;
	for (uint64_t s = start; s < end; s++) {
		const struct trace_event *e = ring_at(r, s);
		if (e)			/* (a slot being rewritten is skipped) */
			out[n++] = *e;
	}
	return n;
}

const char *trace_type_name(uint32_t type)
{
	switch (type) {
	case TR_CTXOP_SAVE: return "ctxop-save";
	case TR_CTXOP_RESTORE: return "ctxop-restore";
	case TR_SWITCH: return "switch";
	case TR_USER: return "user";
	case TR_FPU_SAVE: return "fpu-save";
	case TR_FPU_RESTORE: return "fpu-restore";
	case TR_FPU_NM: return "fpu-#NM";
	case TR_VMM_EXIT: return "vmm-exit";
	case TR_VMM_RENDEZVOUS: return "vmm-rendezvous";
	case TR_FPU_TS: return "fpu-ts";
	case TR_FPU_OWNER: return "fpu-owner";
	case TR_KFPU_BEGIN: return "kfpu-begin";
	case TR_KFPU_END: return "kfpu-end";
	case TR_VMM_ENTRY: return "vmm-entry";
	case TR_VMM_RENDEZVOUS_END: return "vmm-rendezvous-end";
	case TR_VMM_RV_FUNC: return "vmm-rv-func";
	case TR_IPC_CALL: return "ipc-call";
	case TR_IPC_CALL_END: return "ipc-call-end";
	case TR_COUNTERS: return "counters";
	case TR_COUNTERS2: return "counters2";
	default: return "?";
	}
}

static void dump_cpu(int cpu, size_t n)
{
	static struct trace_event buf[64];
	if (n > ARRAY_SIZE(buf))
		n = ARRAY_SIZE(buf);
	size_t got = trace_read(cpu, buf, n);
	printk("cpu %d: %lu events logged, last %zu:\n", cpu, (uint64_t)rings[cpu].next, got);
	for (size_t i = 0; i < got; i++) {
		const struct trace_event *e = &buf[i];
		printk("  #%-8lu %14lu ns  %-14s a=0x%lx b=%lu\n", e->seq,
		       arch_timestamp_to_ns(e->tsc), trace_type_name(e->type), e->a, e->b);
	}
}

void trace_dump(int cpu, size_t n)
{
	for (int c = 0; c < cpu_count(); c++)
		if (cpu < 0 || c == cpu)
			dump_cpu(c, n);
}

/* ---- the dump for pictures ---- */

static void name_live(struct thread *t, void *arg)
{
	(void)arg;
	trace_name_thread(t);
}

/* One event, compactly (the serial port is the slow part): the time as a
 * delta from the CPU's previous event, the type as its number (the
 * trace-types line names them), the sequence number only after a gap,
 * "-" for no thread, A B C in hex, the handler's symbol of a ctxop event. */
static void dump_event(const struct trace_event *e, uint64_t *prev_ns, uint64_t *prev_seq)
{
	uint64_t ns = arch_timestamp_to_ns(e->tsc);
	/* an interrupt's event between another's claim of its slot and its
	 * TSC read is stamped before it: 0, and the time goes on from the
	 * later of the two */
	uint64_t d = ns >= *prev_ns ? ns - *prev_ns : 0;
	if (ns < *prev_ns)
		ns = *prev_ns;
	char seq[24] = "", tid[24] = "-";
	if (e->seq != *prev_seq + 1)
		snprintf(seq, sizeof(seq), "@%lu ", e->seq);
	if (e->tid != TRACE_NO_THREAD)
		snprintf(tid, sizeof(tid), "%lu", e->tid);
	const char *sym = NULL;
	uint64_t off = 0;
	if ((e->type == TR_CTXOP_SAVE || e->type == TR_CTXOP_RESTORE) && e->c)
		sym = ksym_lookup(e->c, &off);
	printk("E %s%lu %u %s %lx %lx %lx%s%s\n", seq, d, e->type, tid, e->a, e->b, e->c,
	       sym ? " " : "", sym ? sym : "");
	*prev_ns = ns;
	*prev_seq = e->seq;
}

/* On each CPU in turn, interrupts off (smp_call_each): the CPU's own
 * counters as two events of its ring, while tracing is still on. Every
 * counter is bumped with interrupts off just before its event is logged,
 * so the events before these are exactly the ones those counters count:
 * tests/harness/tracecheck.py compares them. */
static void log_counters(void *arg)
{
	(void)arg;
	struct cpu *c = this_cpu();
	trace_log3(TR_COUNTERS, c->switches, c->fpu.saves, c->fpu.restores);
	trace_log3(TR_COUNTERS2, c->fpu.nm_traps, vmm_guest_entries(c->id), 0);
}

static void nothing(void *arg)
{
	(void)arg;
}

void trace_dump_all(void)
{
	uint32_t mask = trace_mask;
	/* From a panic or an interrupt (the test runner's watchdog), another
	 * CPU may have interrupts off for good, or spin on a lock held here:
	 * no calls to the other CPUs then, so no counters, and a 2 ms wait
	 * instead of the quiesce round. */
	bool calls = arch_irq_enabled() && this_cpu()->trap_depth == 0 && !panic_in_progress();
	if (mask && calls)
		smp_call_each(log_counters, NULL, true);
	trace_disable(~0u);
	if (calls) {
		/* a round of calls to every CPU, each taken with interrupts on:
		 * once it is back, no CPU is inside trace_log (which keeps them
		 * off and looks at the mask again) */
		smp_call_each(nothing, NULL, true);
	} else {
		uint64_t until = arch_timestamp_to_ns(arch_timestamp()) + 2000000;
		while (arch_timestamp_to_ns(arch_timestamp()) < until)
			arch_cpu_relax();
		printk("trace: dumping from a panic or an interrupt: no counters events\n");
	}
	thread_foreach(name_live, NULL);
	bool vga = arch_console_vga_set(false);	/* serial only: far faster */
	char line[512];
	int n = snprintf(line, sizeof(line), "trace-types:");
	for (uint32_t t = 1; t < TR_TYPES && n < (int)sizeof(line); t++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %u=%s", t, trace_type_name(t));
	printk("trace-dump: begin cpus=%d mask=0x%x ring=%lu\n%s\n", cpu_count(), mask,
	       rings[0].size, line);
	n = snprintf(line, sizeof(line), "trace-vmm-exits:");
	for (int r = 0; r < VM_EXIT_NR && n < (int)sizeof(line); r++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %d=%s", r, vm_exit_name(r));
	printk("%s\n", line);
	for (int i = 0; i < NAMES; i++)
		if (names[i].key)
			printk("trace-thread: %lu %s\n", names[i].key - 1, names[i].name);
	for (int c = 0; c < cpu_count(); c++) {
		struct trace_ring *r = &rings[c];
		uint64_t end = r->next, kept = 0;
		printk("trace-cpu: %d logged=%lu\n", c, end);
		uint64_t prev_ns = 0, prev_seq = 0;
		for (uint64_t s = ring_first(r, end); s < end; s++) {
			const struct trace_event *e = ring_at(r, s);
			if (e) {		/* (tracing is off: never rewritten) */
				dump_event(e, &prev_ns, &prev_seq);
				kept++;
			}
		}
		printk("trace-cpu-end: %d kept=%lu\n", c, kept);
	}
	printk("trace-dump: end\n");
	arch_console_vga_set(vga);
	trace_enable(mask);		/* as it was: the dump only reads */
}

void trace_at_poweroff(void)
{
	if (dump_opt)
		trace_dump_all();
}

void trace_run_boot_command(void)
{
	if (!run_opt[0])
		return;
	for (char *p = run_opt; *p; p++)
		if (*p == ',')
			*p = ' ';	/* the command line splits at spaces: commas stand for them */
	printk("trace: running '%s'\n", run_opt);
	if (!monitor_run(run_opt))
		printk("trace: trace.run='%s' is not a monitor command (help lists them)\n",
		       run_opt);
	trace_dump_all();
	arch_poweroff(true);
}

/* The categories a word names ("ctxop,sched", "all"), or 0 after saying
 * what is wrong. */
static uint32_t cats_of(const char *w)
{
	if (!*w || !strcmp(w, "all"))
		return TRACE_CTXOP | TRACE_SCHED | TRACE_FPU | TRACE_VMM | TRACE_IPC;
	uint32_t cats = 0;
	while (*w) {
		size_t n = 0;
		while (w[n] && w[n] != ',')
			n++;
		int i = 0;
		while (trace_cat_names[i] && (strlen(trace_cat_names[i]) != n ||
					      strncmp(trace_cat_names[i], w, n)))
			i++;
		if (!trace_cat_names[i]) {
			printk("trace: no category '%.*s' (ctxop, sched, fpu, vmm, ipc, all)\n",
			       (int)n, w);
			return 0;
		}
		cats |= 1u << i;
		w += n + (w[n] == ',');
	}
	return cats;
}

static void cmd_trace(const char *args)
{
	if (!strncmp(args, "on", 2) && (args[2] == '\0' || args[2] == ' ')) {
		const char *w = args[2] ? args + 3 : "";
		uint32_t cats = cats_of(w);
		if (cats) {
			trace_enable(cats);
			printk("tracing on: mask 0x%x (trace dump prints the rings for "
			       "tools/trace2json.py)\n", trace_mask);
		}
	} else if (strcmp(args, "off") == 0) {
		trace_disable(~0u);
		printk("tracing off\n");
	} else if (strcmp(args, "reset") == 0) {
		trace_reset();
	} else if (strcmp(args, "dump") == 0) {
		trace_dump_all();
	} else if (!strncmp(args, "run ", 4) && !strncmp(args + 4, "trace", 5)) {
		printk("trace run: runs a command other than trace itself\n");
	} else if (!strncmp(args, "run ", 4)) {
		/* every category (or those already on), from empty rings, for
		 * the one command; then the dump (docs/trace.md) */
		uint32_t was = trace_mask;
		if (!was) {		/* nothing was being recorded: from empty rings */
			trace_reset();
			trace_enable(cats_of("all"));
		}
		bool found = monitor_run_nested(args + 4);
		if (found)
			trace_dump_all();
		trace_disable(~0u);
		trace_enable(was);	/* as it was */
	} else if (*args == '\0' || (*args >= '0' && *args <= '9')) {
		int cpu = -1;
		if (*args)
			cpu = (int)(*args - '0');
		printk("trace mask 0x%x\n", trace_mask);
		trace_dump(cpu, 20);
	} else {
		printk("usage: trace [CPU] | trace on [CATEGORIES] | trace off | trace reset | "
		       "trace dump | trace run COMMAND\n");
	}
}
MONITOR_COMMAND("trace", "the trace rings: [CPU] | on [CATEGORIES] | off | reset | dump | run COMMAND",
		cmd_trace);
