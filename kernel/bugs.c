/*
 * kernel/bugs.c - the registry behind `bug=`.
 *
 * BUG_DEFINE places a struct kbug in the .kbugs section; bugs_init gathers
 * their names for the command-line option, and after parsing, the option's
 * bit set is copied into each switch.
 */
#include <bugs.h>
#include <cmdline.h>
#include <monitor.h>
#include <printk.h>
#include <string.h>

#define MAX_BUGS 63

extern struct kbug __kbugs_start[], __kbugs_end[];

static const char *bug_names[MAX_BUGS + 1];
static uint64_t bug_set_bits;

static const struct cmdline_opt cmdline_opt_bug
	__used __attribute__((section(".cmdline_opts"), aligned(8))) = {
		"bug", CMDLINE_T_LIST, &bug_set_bits, bug_names, 0, 0,
		"reproduce historical bugs, comma-separated"
	};

static size_t nbugs(void)
{
	return (size_t)(__kbugs_end - __kbugs_start);
}

void bugs_init(void)
{
	if (nbugs() > MAX_BUGS)
		panic("bugs_init: %zu bug switches, at most %d", nbugs(), MAX_BUGS);
	for (size_t i = 0; i < nbugs(); i++)
		bug_names[i] = __kbugs_start[i].name;
}

/* After cmdline_init: the parsed set becomes the switches. */
void bugs_apply(void)
{
	for (size_t i = 0; i < nbugs(); i++)
		__kbugs_start[i].on = bug_set_bits & (1ULL << i);
}

bool bug_set(const char *name, bool on)
{
	for (struct kbug *b = __kbugs_start; b < __kbugs_end; b++) {
		if (strcmp(b->name, name) == 0) {
			b->on = on;
			return true;
		}
	}
	return false;
}

void bugs_print(bool all)
{
	for (struct kbug *b = __kbugs_start; b < __kbugs_end; b++)
		if (all || b->on)
			printk("  bug %-28s %s  %s\n", b->name, b->on ? "ON " : "off", b->what);
}

/* The monitor's `bugs`: every switch, and a count of those on (the shell
 * row checks that the demos leave them as they found them). */
static void cmd_bugs(const char *args)
{
	(void)args;
	bugs_print(true);
	int on = 0;
	for (struct kbug *b = __kbugs_start; b < __kbugs_end; b++)
		on += b->on;
	printk("%zu bug switches, %d on (bug= on the command line)\n", nbugs(), on);
}
MONITOR_COMMAND("bugs", "the bug= switches: which historical bugs are on", cmd_bugs);
