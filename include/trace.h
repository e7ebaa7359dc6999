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
 * `make trace` boots with categories on from the start, dumps every ring
 * at the end (trace_dump_all) and turns the dump into pictures
 * (tools/trace2json.py, tools/tracesvg.py; docs/trace.md).
 */
#ifndef TRACE_H
#define TRACE_H

#include <kernel.h>

#define TRACE_NO_THREAD UINT64_MAX	/* tid of an event logged before the CPU's first thread */
#define TRACE_RING_SIZE 4096	/* events per CPU by default (trace.ring= for more) */

enum trace_cat {
	TRACE_CTXOP = 1u << 0,	/* context-op save/restore */
	TRACE_SCHED = 1u << 1,	/* switches */
	TRACE_FPU = 1u << 2,	/* saves, restores, #NM, TS, ownership, kernel sections */
	TRACE_VMM = 1u << 3,	/* guest entries and exits, rendezvous */
	TRACE_IPC = 1u << 4,	/* calls */
};

/* Every event also records the thread that logged it (tid) and c, which
 * only some types use. docs/trace.md says what each means to a picture. */
enum trace_type {
	TR_CTXOP_SAVE = 1,	/* a = op, b = thread id, c = the handler (ct_save) */
	TR_CTXOP_RESTORE,	/* a = op, b = thread id, c = the handler (ct_restore) */
	TR_SWITCH,		/* a = prev thread id, b = next thread id, c = the CPU's
				   switches by then (its own counter) */
	TR_USER,		/* free for tests: a, b as they like */
	TR_FPU_SAVE,		/* a = thread id, b = the CPU's saves by then (its own
				   counter, kernel/fpu.c), c = the context's owner
				   tag (as TR_FPU_OWNER's a) */
	TR_FPU_RESTORE,		/* a, b, c as a save's: the registers now hold that
				   context: c owns the FPU */
	TR_FPU_NM,		/* a = thread id (TRACE_NO_THREAD if none), b = the CPU's #NM traps */
	TR_VMM_EXIT,		/* a = vm id << 16 | vCPU id, b = reason << 56 | guest rip */
	TR_VMM_RENDEZVOUS,	/* a = vm id << 16 | initiating vCPU id (0xFFFF: a host
				   thread), b = number of targets (kernel/vmm/) */
	TR_FPU_TS,		/* a = CR0.TS now (1 set, 0 clear) */
	TR_FPU_OWNER,		/* a = whose state the registers hold now: a thread id,
				   or FPU_OWNER_NONE/INIT/LAYERED (<fpu.h>) */
	TR_KFPU_BEGIN,		/* a kernel FPU section opens (kfpu_begin) */
	TR_KFPU_END,		/* ... and closes */
	TR_VMM_ENTRY,		/* a = vm id << 16 | vCPU id, b = the CPU's guest
				   entries by then: into the guest (the slice ends
				   at the next TR_VMM_EXIT on this CPU) */
	TR_VMM_RENDEZVOUS_END,	/* a as TR_VMM_RENDEZVOUS: the initiator is done */
	TR_VMM_RV_FUNC,		/* a = vm id << 16 | vCPU id: ran a rendezvous' function */
	TR_IPC_CALL,		/* a = handle and flags, b = label: a call begins */
	TR_IPC_CALL_END,	/* a = result: ... and returns */
	TR_COUNTERS,		/* the dump's: a, b, c = the CPU's switches, FPU saves,
				   FPU restores (trace_dump_all) */
	TR_COUNTERS2,		/* a, b = its #NM traps, guest entries */
	TR_TYPES		/* one more than the last */
};

struct trace_event {
	uint64_t seq;		/* per-CPU sequence number, from 1 */
	uint64_t tsc;		/* arch_timestamp() */
	uint32_t type;		/* enum trace_type */
	uint32_t cpu;
	uint64_t tid;		/* the thread that logged it, or TRACE_NO_THREAD */
	uint64_t a, b, c;
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
/* trace.ring=: the boot CPU's bigger ring, once the heap is up (before
 * the first event that matters: fpu_init's); trace_prepare_cpu(id) each
 * other CPU's, as it is started (arch's smp code). */
void trace_init_rings(void);
void trace_prepare_cpu(int id);
/* Events each ring keeps. */
size_t trace_ring_size(void);
/* Appends an event to this CPU's ring. Call with interrupts off or
 * preemption disabled. */
void trace_log(uint32_t type, uint64_t a, uint64_t b);
void trace_log3(uint32_t type, uint64_t a, uint64_t b, uint64_t c);
/* A numbered mark (TR_USER, a = n) where any category is on, from a
 * thread: demos put them at the moments a picture is about
 * (tools/tracesvg.py --window marks, and draws them). */
void trace_mark(uint64_t n);
/* Remembers a thread's name for the dump (trace_dump_all), which would
 * otherwise know only the threads still alive. */
struct thread;
void trace_name_thread(const struct thread *t);

void trace_enable(uint32_t cats);
void trace_disable(uint32_t cats);
/* Empties every CPU's ring. */
void trace_reset(void);
/* Copies up to max events of `cpu`'s ring, oldest first; returns the count. */
size_t trace_read(int cpu, struct trace_event *out, size_t max);
const char *trace_type_name(uint32_t type);
/* Prints the last n events of `cpu` (-1: every CPU). */
void trace_dump(int cpu, size_t n);
/* Every ring whole, in the machine-readable form tools/trace2json.py reads
 * (docs/trace.md): each CPU logs its own counters (TR_COUNTERS), tracing
 * stops, then the threads' names and the events; tracing goes back on as
 * it was. */
void trace_dump_all(void);
/* trace.dump=1: before the kernel powers off after ktest= or trace.run=. */
void trace_at_poweroff(void);
/* trace.run=COMMAND: runs that monitor command, dumps, powers off; returns
 * if no command was given. */
void trace_run_boot_command(void);

#endif
