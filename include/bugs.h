/*
 * bugs.h - switchable reproductions of historical bugs, for labs.
 *
 * A subsystem that can reproduce a bug declares it once:
 *
 *   BUG_DEFINE(ctxop_restore_order, "restore ops run newest first (illumos 12477)");
 *
 * and tests the switch where the fix lives:
 *
 *   if (bug_on(ctxop_restore_order)) ... the old, wrong way ...
 *
 * `bug=NAME[,NAME]` on the command line switches them on; an unknown name is
 * reported and ignored. Every switch is off by default.
 */
#ifndef BUGS_H
#define BUGS_H

#include <kernel.h>

struct kbug {
	const char *name;
	const char *what;
	bool on;
};

#define BUG_DEFINE(n, desc)                                                  \
	struct kbug kbug_##n __used                                          \
		__attribute__((section(".kbugs"), aligned(8))) = { #n, desc, false }

#define bug_on(n)                                                            \
	({                                                                   \
		extern struct kbug kbug_##n;                                 \
		kbug_##n.on;                                                 \
	})

/* Turns a switch on or off by name (tests); false if there is no such bug. */
bool bug_set(const char *name, bool on);
/* Fills the bug= option's list of names; called before cmdline_init. */
void bugs_init(void);
/* Applies what bug= switched on; called after cmdline_init. */
void bugs_apply(void);
/* Prints the switches that are on (the boot line) or all of them. */
void bugs_print(bool all);

#endif
