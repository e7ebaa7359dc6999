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
 */
#include <trace.h>
#include <arch.h>
#include <cmdline.h>
#include <monitor.h>
#include <percpu.h>
#include <printk.h>
#include <string.h>
#include <ksyms.h>

struct trace_ring {
	volatile uint64_t next;			/* sequence number of the next event */
	struct trace_event ev[TRACE_RING_SIZE];
};

static struct trace_ring rings[MAX_CPUS];
volatile uint32_t trace_mask;

static uint64_t trace_cats_opt;
static const char *const trace_cat_names[] = { "ctxop", "sched", "fpu", "vmm", NULL };
static const struct cmdline_opt cmdline_opt_trace
	__used __attribute__((section(".cmdline_opts"), aligned(8))) = {
		"trace", CMDLINE_T_LIST, &trace_cats_opt, trace_cat_names, 0, 0,
		"trace categories to record from boot, comma-separated"
	};

void trace_init(void)
{
	trace_mask = (uint32_t)trace_cats_opt;
}

void trace_log(uint32_t type, uint64_t a, uint64_t b)
{
	int cpu = cpu_id();
	struct trace_ring *r = &rings[cpu];
	uint64_t seq = __atomic_add_fetch(&r->next, 1, __ATOMIC_RELAXED);
	struct trace_event *e = &r->ev[(seq - 1) & (TRACE_RING_SIZE - 1)];
	e->tsc = arch_timestamp();
	e->type = type;
	e->cpu = (uint32_t)cpu;
	e->a = a;
	e->b = b;
	__atomic_store_n(&e->seq, seq, __ATOMIC_RELEASE);
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
	for (int i = 0; i < MAX_CPUS; i++) {
		rings[i].next = 0;
		memset(rings[i].ev, 0, sizeof(rings[i].ev));
	}
}

size_t trace_read(int cpu, struct trace_event *out, size_t max)
{
	struct trace_ring *r = &rings[cpu];
	uint64_t end = r->next;
	uint64_t start = end > TRACE_RING_SIZE ? end - TRACE_RING_SIZE : 0;
	if (end - start > max)
		start = end - max;
	size_t n = 0;
	for (uint64_t s = start; s < end; s++) {
		const struct trace_event *e = &r->ev[s & (TRACE_RING_SIZE - 1)];
		if (e->seq == s + 1)	/* skip a slot being rewritten */
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

static void cmd_trace(const char *args)
{
	if (strcmp(args, "on") == 0) {
		trace_enable(TRACE_CTXOP);
		printk("tracing context-op events\n");
	} else if (strcmp(args, "off") == 0) {
		trace_disable(~0u);
		printk("tracing off\n");
	} else if (strcmp(args, "reset") == 0) {
		trace_reset();
	} else if (*args == '\0' || (*args >= '0' && *args <= '9')) {
		int cpu = -1;
		if (*args)
			cpu = (int)(*args - '0');
		printk("trace mask 0x%x\n", trace_mask);
		trace_dump(cpu, 20);
	} else {
		printk("usage: trace [CPU] | trace on | trace off | trace reset\n");
	}
}
MONITOR_COMMAND("trace", "the trace rings: [CPU] | on | off | reset", cmd_trace);
