/*
 * tests/ctxop/chain_names.h - the chain of a thread as the tests read it:
 * the save handler of each op, newest first, by name (tests/ctxop/
 * chain_names.c). For the cases that check a live thread's chain: a user
 * thread's (tests/ufpu), a vCPU thread's in a run (tests/vmm/uvm_test.c).
 */
#ifndef TESTS_CHAIN_NAMES_H
#define TESTS_CHAIN_NAMES_H

#include <kernel.h>

struct thread;

#define CHAIN_NAMES_MAX 4

struct chain_names {
	int n;					/* ops visited (all of them) */
	char save[CHAIN_NAMES_MAX][48];		/* the first ones' save handlers */
};

/* Walks t's chain: through ctxop_count (monitor false; returns its
 * count), or through the monitor's `ctxops <id>`, which prints it
 * (monitor true; returns 1 if the command ran, else 0). */
int chain_names_of(struct thread *t, bool monitor, struct chain_names *out);
/* Whether op i's save handler's name begins with `name` (segbase_save
 * matches segbase_save_msr, the variant chosen without FSGSBASE). */
bool chain_name_is(const struct chain_names *c, int i, const char *name);

#endif
