/*
 * monitor.h - the serial console's command monitor (kernel/monitor.c).
 */
#ifndef MONITOR_H
#define MONITOR_H

#include <kernel.h>

#define MONITOR_LINE_MAX 128

/* Starts the monitor thread and the console's receive interrupt. */
/* quiet: init runs and its shell has the console, so no prompt here (the
 * shell's `monitor CMD` reaches the commands; init=none gives the console
 * to the monitor). */
void monitor_start(bool quiet);
/* The console server unbound the UART (kernel/ipc.c): a quiet monitor
 * takes the console, says so and prompts. */
void monitor_resume(void);

/* The line editor, one character at a time: returns true when c completes
 * a line (Enter), which is then in line[]. Backspace/DEL erase, Ctrl-U
 * clears the line, other control characters are ignored. Echoes through
 * echo() (may be NULL). */
struct line_editor {
	char line[MONITOR_LINE_MAX];
	int len;
};
bool line_editor_feed(struct line_editor *ed, char c, void (*echo)(const char *s));

/* Runs one command line; returns false (after saying so) if unknown. */
bool monitor_run(const char *line);
/* The same from inside a command (the monitor's lock is held already):
 * `trace run COMMAND` runs COMMAND this way. */
bool monitor_run_nested(const char *line);

/* The `ps` command: every process, then each one's threads (by pid, then
 * thread id). Returns the number of user threads it found. */
int monitor_ps(void);

/* A command: name, one line of help, and the function given the rest of
 * the line. Subsystems add theirs with MONITOR_COMMAND. */
struct monitor_cmd {
	const char *name;
	const char *help;
	void (*fn)(const char *args);
};
#define MONITOR_COMMAND(n, h, f)                                              \
	static const struct monitor_cmd monitor_cmd_##f                       \
		__used __attribute__((section(".monitor_cmds"), aligned(8))) = { n, h, f }

#endif
