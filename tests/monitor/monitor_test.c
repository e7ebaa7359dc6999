/*
 * tests/monitor/monitor_test.c - the console monitor's line editor and
 * command dispatch (the interrupt-driven input is exercised by hand with
 * `make run`; these drive the same code with characters from a string).
 */
#include <ktest.h>
#include <monitor.h>
#include <string.h>

static bool feed(struct line_editor *ed, const char *s)
{
	bool done = false;
	for (; *s; s++)
		done = line_editor_feed(ed, *s, NULL);
	return done;
}

KTEST(monitor, line_editor_completes_on_enter)
{
	struct line_editor ed = { .len = 0 };
	KT_EXPECT(!feed(&ed, "threads"));
	KT_EXPECT(feed(&ed, "\r"));
	KT_EXPECT(strcmp(ed.line, "threads") == 0);
	KT_EXPECT(feed(&ed, "mem\n"));
	KT_EXPECT(strcmp(ed.line, "mem") == 0);
}

KTEST(monitor, line_editor_backspace_and_kill)
{
	struct line_editor ed = { .len = 0 };
	KT_EXPECT(feed(&ed, "thx\x7freadz\x08s\r"));	/* DEL and BS both erase */
	KT_EXPECT(strcmp(ed.line, "threads") == 0);
	KT_EXPECT(feed(&ed, "garbage\x15" "cpus\r"));	/* Ctrl-U clears the line */
	KT_EXPECT(strcmp(ed.line, "cpus") == 0);
	KT_EXPECT(feed(&ed, "\x7f\x7f" "help\r"));	/* erasing nothing is harmless */
	KT_EXPECT(strcmp(ed.line, "help") == 0);
	KT_EXPECT(feed(&ed, "a\x1b" "b\r"));		/* other control characters ignored */
	KT_EXPECT(strcmp(ed.line, "ab") == 0);
}

KTEST(monitor, line_editor_bounds_long_lines)
{
	struct line_editor ed = { .len = 0 };
	for (int i = 0; i < 3 * MONITOR_LINE_MAX; i++)
		line_editor_feed(&ed, 'x', NULL);
	KT_EXPECT(feed(&ed, "\r"));
	KT_EXPECT_EQ(strlen(ed.line), MONITOR_LINE_MAX - 1);
}

KTEST(monitor, commands_dispatch_and_unknown_is_reported)
{
	KT_EXPECT(monitor_run("threads"));
	KT_EXPECT(monitor_run("ctxops 0"));
	KT_EXPECT(monitor_run("trace 0"));
	KT_EXPECT(monitor_run("  cpus  "));
	KT_EXPECT(monitor_run(""));
	KT_EXPECT(!monitor_run("no-such-command"));
}
