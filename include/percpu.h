/*
 * percpu.h - the per-CPU data block.
 *
 * Each CPU has one struct cpu; the GS base register points at it, and its
 * first field points at itself, so this_cpu() is one load (%gs:0) and needs
 * no lock: only its own CPU writes most fields.
 */
#ifndef PERCPU_H
#define PERCPU_H

#include <kernel.h>

#define MAX_CPUS 16

struct cpu {
	struct cpu *self;	/* must stay first: this_cpu() reads %gs:0 */
	int id;			/* 0 .. cpu_count()-1, 0 is the boot CPU */
	uint32_t apic_id;
	bool online;
	int trap_depth;		/* nested traps in progress (for panic reports) */
};

extern struct cpu cpus[MAX_CPUS];

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* The CPU the caller runs on. */
static inline int cpu_id(void)
{
	return this_cpu()->id;
}

int cpu_count(void);

/* Points the GS base of this CPU at cpus[id]. */
void percpu_init_this(int id);

#endif
