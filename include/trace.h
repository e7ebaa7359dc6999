/*
 * trace.h - per-CPU trace ring buffers (kernel/trace.c).
 *
 * A general facility: any subsystem logs small fixed-size events into the
 * ring of the CPU it runs on, with interrupts off or preemption disabled
 * (so the CPU cannot change under it). Tests read the rings to check what
 * happened and in which order; the monitor's `trace` command dumps them.
 * Each ring keeps the last TRACE_RING_SIZE events; older ones are
 * overwritten, and a sequence number shows how many were lost.
 *
 * Logging is off unless its category is switched on (trace=ctxop,sched on
 * the command line, the monitor's `trace on`, or trace_enable()), so
 * the hot paths that log pay one test of a global mask when it is off.
 */
#ifndef TRACE_H
#define TRACE_H

#include <kernel.h>

#define TRACE_RING_SIZE 4096	/* events per CPU; a power of two */

enum trace_cat {
	TRACE_CTXOP = 1u << 0,	/* context-op save/restore */
	TRACE_SCHED = 1u << 1,	/* switches */
	TRACE_FPU = 1u << 2,
	TRACE_VMM = 1u << 3,
};

enum trace_type {
	TR_CTXOP_SAVE = 1,	/* a = op, b = thread id */
	TR_CTXOP_RESTORE,	/* a = op, b = thread id */
	TR_SWITCH,		/* a = prev thread id, b = next thread id */
	TR_USER,		/* free for tests: a, b as they like */
	TR_FPU_SAVE,		/* a = thread id, b = saves by then (kernel/fpu.c) */
	TR_FPU_RESTORE,		/* a = thread id, b = restores by then */
	TR_FPU_NM,		/* a = thread id (0 if none), b = #NM traps by then */
	TR_VMM_EXIT,		/* a = vm id << 16 | vCPU id, b = reason << 56 | guest rip */
	TR_VMM_RENDEZVOUS,	/* a = vm id << 16 | initiating vCPU id (0xFFFF: a host
				   thread), b = number of targets (kernel/vmm/) */
};

struct trace_event {
	uint64_t seq;		/* per-CPU sequence number, from 1 */
	uint64_t tsc;		/* arch_timestamp() */
	uint32_t type;		/* enum trace_type */
	uint32_t cpu;
	uint64_t a, b;
};

extern volatile uint32_t trace_mask;

/* One `test` of the mask in memory and the branch on its flags: a plain
 * volatile read would be a load, then the test (the switch asks four
 * times per hand-off). The asm is volatile, so each call reads anew. */
static inline bool trace_on(uint32_t cat)
{
	bool on;
	__asm__ volatile("testl %2, %1" : "=@ccnz"(on) : "m"(trace_mask), "ir"(cat));
	return unlikely(on);
}

/* Applies trace= from the command line. */
void trace_init(void);
/* Appends an event to this CPU's ring. Call with interrupts off or
 * preemption disabled. */
void trace_log(uint32_t type, uint64_t a, uint64_t b);

void trace_enable(uint32_t cats);
void trace_disable(uint32_t cats);
/* Empties every CPU's ring. */
void trace_reset(void);
/* Copies up to max events of `cpu`'s ring, oldest first; returns the count. */
size_t trace_read(int cpu, struct trace_event *out, size_t max);
const char *trace_type_name(uint32_t type);
/* Prints the last n events of `cpu` (-1: every CPU). */
void trace_dump(int cpu, size_t n);

#endif
