/*
 * tests/ctxop/chain_names.c - a thread's chain by name (chain_names.h),
 * through ctxop_walk_hook: the walk calls it at each op, with the ring's
 * lock held, and it records the save handler's symbol.
 */
#include "chain_names.h"
#include <ctxop.h>
#include <ksyms.h>
#include <monitor.h>
#include <printf.h>
#include <string.h>
#include <thread.h>

static struct chain_names *rec;

static void record_op(struct thread *t, struct ctxop *op)
{
	(void)t;
	if (rec->n < CHAIN_NAMES_MAX)
		ksym_format((uint64_t)op->tpl.ct_save, rec->save[rec->n], sizeof(rec->save[0]));
	rec->n++;
}

int chain_names_of(struct thread *t, bool monitor, struct chain_names *out)
{
	*out = (struct chain_names){ 0 };
	rec = out;
	ctxop_walk_hook = record_op;
	int r;
	if (monitor) {
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "ctxops %lu", t->id);
		r = monitor_run(cmd);
	} else {
		r = ctxop_count(t);
	}
	ctxop_walk_hook = NULL;
	return r;
}

bool chain_name_is(const struct chain_names *c, int i, const char *name)
{
	if (i < 0 || i >= c->n || i >= CHAIN_NAMES_MAX)
		return false;
	/* a prefix: the handlers chosen for the CPU (segbase_save_msr,
	 * fpu_ctx_save_called, ...) count as theirs */
	return strncmp(c->save[i], name, strlen(name)) == 0;
}
