/*
 * user/bin/shell.c - the shell: a prompt on the console, a line editor
 * with history, Ctrl-C, and commands (`help` lists them).
 *
 * Handles (init starts it so): 0, the console server; 1, the name server.
 * One thread reads the console (console_read: the server lets one reader
 * wait at a time) into a ring and signals a notification; the first thread
 * takes the characters from there, edits the line, runs the command. So
 * Ctrl-C reaches the shell while a program runs in front: the reader sees
 * it and kills that program, and what else is typed meanwhile waits for
 * the next prompt.
 *
 * The kernel's own views (ps, threads, cpus, mem, vms, ctxops, fpu, trace)
 * and demos are the kernel monitor's commands, run through SYS_monitor:
 * the monitor stays reachable from here, and `monitor help` lists all it
 * has. `test GLOB` runs the user test cases through utests --run.
 */
#include <console.h>
#include <names.h>

#define CON   0
#define NAMES 1
#define LINE  128
#define ARGS  16		/* words of a command: a program's argv at most */
#define HIST  16
#define CTRL_C 0x03
#define CTRL_U 0x15
#define ESC    0x1B

static struct ulock lock;
static char ring[256];
static unsigned head, tail;
static int ready;			/* notification: characters in the ring */
static volatile int fg_pid;		/* the program in front, or 0 */
static volatile bool busy;		/* from Enter until that program has ended */
static volatile bool interrupted;	/* a Ctrl-C came while busy, before fg_pid */

static void reader(void *arg)
{
	char buf[64];
	for (;;) {
		long n = console_read(CON, buf, sizeof(buf));
		if (n == -EPIPE) {
			printf("shell: the console server has gone\n");
			exit(1);
		}
		if (n < 0) {
			sleep_ns(10000000);	/* another reader waits there: try again */
			continue;
		}
		ulock_take(&lock);
		for (long i = 0; i < n; i++) {
			if (buf[i] == CTRL_C && busy) {
				if (fg_pid)	/* the program in front and what it
						 * started, not the shell */
					kill_tree(fg_pid);
				else
					interrupted = true;	/* its spawn has not returned yet */
				continue;
			}
			if ((head + 1) % sizeof(ring) != tail) {
				ring[head] = buf[i];
				head = (head + 1) % sizeof(ring);
			}
		}
		ulock_give(&lock);
		notify_signal(ready, 1);
	}
}

static char next_char(void)
{
	for (;;) {
		ulock_take(&lock);
		if (tail != head) {
			char c = ring[tail];
			tail = (tail + 1) % sizeof(ring);
			ulock_give(&lock);
			return c;
		}
		ulock_give(&lock);
		notify_wait(ready, 0, 0);
	}
}

static char hist[HIST][LINE];
static int nhist;

static void erase(int n)
{
	while (n-- > 0)
		printf("\b \b");
}

/* A line, edited: printable characters, backspace, Ctrl-U (the line),
 * Ctrl-C (a new line), up and down (history). */
static void read_line(char *line)
{
	int n = 0, back = 0;		/* back: how far up the history */
	line[0] = '\0';
	for (;;) {
		char c = next_char();
		if (c == '\r' || c == '\n') {
			printf("\n");
			line[n] = '\0';
			return;
		}
		if (c == 0x7F || c == 0x08) {
			if (n) {
				n--;
				erase(1);
			}
		} else if (c == CTRL_U) {
			erase(n);
			n = 0;
		} else if (c == CTRL_C) {
			printf("^C\n$ ");
			n = back = 0;
		} else if (c == ESC) {
			char k0 = next_char();
			if (k0 == 'O') {		/* ESC O x: a function key, not ours */
				next_char();
				continue;
			}
			if (k0 != '[')
				continue;
			char k = next_char();
			while (k >= '0' && k <= '9')	/* ESC [ 3 ~ and its like: */
				k = next_char();	/* not ours, swallowed */
			int kept = nhist < HIST ? nhist : HIST;
			int want = k == 'A' ? back + 1 : k == 'B' ? back - 1 : back;
			if (want < 0 || want > kept || want == back)
				continue;
			back = want;
			erase(n);
			if (back == 0)
				n = 0;
			else
				n = (int)strlcpy(line, hist[(nhist - back) % HIST], LINE);
			line[n] = '\0';
			printf("%s", line);
		} else if (c >= 0x20 && c < 0x7F && n < LINE - 1) {
			line[n++] = c;
			printf("%c", c);
		}
	}
}

static int split(char *line, char **words, int max)
{
	int n = 0;
	for (char *p = line; *p && n < max;) {
		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			break;
		words[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
	return n;
}

static void run(char **w, int n)
{
	const char *argv[ARGS + 1];
	for (int i = 0; i < n && i < ARGS; i++)
		argv[i] = w[i];
	argv[n < ARGS ? n : ARGS] = NULL;
	int hs[2] = { CON, NAMES };
	int pid = spawn_handles(w[0], argv, hs, 2);
	if (pid < 0) {
		printf("%s: %s\n", w[0], pid == -ENOENT ? "no such program" : "did not start");
		return;
	}
	ulock_take(&lock);
	fg_pid = pid;
	if (interrupted)
		kill_tree(pid);			/* Ctrl-C came before we knew its pid */
	ulock_give(&lock);
	int st = 0;
	waitpid(pid, &st);
	fg_pid = 0;
	if (st < 0)
		printf("[%d] %s\n", pid, st == WAIT_KILLED ? "killed" : "killed by a fault");
	else if (st)
		printf("[%d] exit %d\n", pid, st);
}

static const char *const views[] = { "ps", "threads", "cpus", "mem", "vms", "ctxops", "fpu",
				     "trace" };

/* `demo NAME`: the kernel's demonstrations (kernel/demo.c, fpudemo.c,
 * vmm/rvdemo.c), monitor commands. */
static const struct {
	const char *name, *cmd;
} demos[] = {
	{ "chain", "chaindemo" },
	{ "fpu", "fpudemo" },
	{ "rendezvous", "rvdemo" },
};

/* `demo NAME`, or with prefix "trace run " the same under tracing (`trace
 * demo NAME`: the rings dumped after it, for tools/trace2json.py). */
static void demo(char **w, int n, const char *prefix)
{
	for (unsigned i = 0; n > 1 && i < sizeof(demos) / sizeof(demos[0]); i++) {
		if (!strcmp(w[1], demos[i].name)) {
			char cmd[64];
			snprintf(cmd, sizeof(cmd), "%s%s", prefix, demos[i].cmd);
			monitor_cmd(cmd);
			return;
		}
	}
	if (n > 1)
		printf("demo: no demo '%s'\n", w[1]);
	printf("usage: %sdemo chain|fpu|rendezvous\n", *prefix ? "trace " : "");
}

/* `test GLOB`, `test list [GLOB]`: the user test cases, through utests
 * (user/lib/utest.c), each in a process of its own, as make test runs
 * them. The kernel's own cases run at boot (ktest=GLOB, make test T=GLOB). */
static void test(char **w, int n)
{
	char *words[4] = { "utests", "--run", n > 1 ? w[1] : NULL, NULL };
	if (n > 1 && !strcmp(w[1], "list")) {
		words[1] = "--list";
		words[2] = n > 2 ? w[2] : "*";
	} else if (n != 2) {
		printf("usage: test GLOB (test ipc.*, test *), test list [GLOB]\n"
		       "  runs the user test cases that match, each in a process of its own;\n"
		       "  the kernel's cases run at boot: make test T=GLOB\n");
		return;
	}
	run(words, 3);
}

static void help(void)
{
	printf("shell commands:\n"
	       "  help              this list\n"
	       "  echo WORDS        print the words\n"
	       "  run PROG [ARGS]   start a program and wait for it (Ctrl-C kills it and\n"
	       "                    what it started)\n"
	       "  PROG [ARGS]       the same, for a program's name\n"
	       "  kill PID          end a process\n"
	       "  test GLOB         run the user test cases that match (test list: their names)\n"
	       "  ps, threads, cpus, mem, vms, ctxops THREAD, fpu, trace\n"
	       "                    the kernel's views (its monitor's commands)\n"
	       "  demo chain        a context-op chain's order, right and with the 12477 bug\n"
	       "  demo fpu          the Xen #NM leak between processes, and its rule\n"
	       "  demo rendezvous   a rendezvous in flight, and D37390's spurious exits\n");
	/* (two calls: printf writes at most 1 KiB at a time) */
	printf("  vmrun GUEST [N]   a VM of N vCPUs driven from this user program, which\n"
	       "                    emulates its serial port ('vmrun' lists the guests;\n"
	       "                    'vmrun -c fpuhold 2' shows a vCPU thread's chain)\n"
	       "  trace demo NAME   a demo, traced: the rings are printed after it, and\n"
	       "                    make trace LOG=build/run.log draws them (docs/trace.md)\n"
	       "  monitor CMD       any command of the kernel's monitor ('monitor help')\n"
	       "  exit [CODE]       leave the shell\n"
	       "keys: Backspace, Ctrl-U (the line), Ctrl-C, Up and Down (history)\n");
}

int main(int argc, char **argv)
{
	ready = notify_create();
	if (ready < 0 || uthread_create(reader, NULL) < 0) {
		printf("shell: cannot start its reader\n");
		return 1;
	}
	printf("shell: ready ('help' lists the commands)\n");
	char line[LINE], copy[LINE];
	for (;;) {
		printf("$ ");
		read_line(line);
		if (!line[0])
			continue;
		strlcpy(hist[nhist % HIST], line, LINE);
		nhist++;
		strlcpy(copy, line, LINE);
		char *w[ARGS + 1];
		int n = split(line, w, ARGS);
		if (!n)
			continue;
		interrupted = false;
		busy = true;			/* a Ctrl-C from now on is this command's */
		bool view = false;
		for (unsigned i = 0; i < sizeof(views) / sizeof(views[0]); i++)
			view |= !strcmp(w[0], views[i]);
		if (!strcmp(w[0], "help")) {
			help();
		} else if (!strcmp(w[0], "echo")) {
			for (int i = 1; i < n; i++)
				printf("%s%s", w[i], i + 1 < n ? " " : "");
			printf("\n");
		} else if (!strcmp(w[0], "exit")) {
			return n > 1 ? (int)atol(w[1]) : 0;
		} else if (!strcmp(w[0], "kill")) {
			int r = n > 1 && w[1][0] >= '0' && w[1][0] <= '9' ? kill((int)atol(w[1]))
									   : -EINVAL;
			if (r)
				printf("kill: %s\n", r == -ESRCH ? "no such process" :
						     r == -EPERM ? "not one of the shell's" : "usage: kill PID");
		} else if (view && !strcmp(w[0], "trace") && n > 1 && !strcmp(w[1], "demo")) {
			demo(w + 1, n - 1, "trace run ");
		} else if (view) {
			if (monitor_cmd(copy) == -EPERM)
				printf("%s: not from the shell: it would change the kernel for every "
				       "process (the kernel monitor's own: README)\n", w[0]);
		} else if (!strcmp(w[0], "test")) {
			test(w, n);
		} else if (!strcmp(w[0], "demo")) {
			demo(w, n, "");
		} else if (!strcmp(w[0], "monitor")) {
			/* the rest of the line as typed, from its second word */
			const char *rest = n > 1 ? copy + (w[1] - line) : "help";
			if (monitor_cmd(rest) == -ENOENT)
				printf("(the monitor has no such command)\n");
		} else if (!strcmp(w[0], "run")) {
			if (n > 1)
				run(w + 1, n - 1);
			else
				printf("usage: run PROG [ARGS]\n");
		} else {
			run(w, n);
		}
		busy = false;
	}
}
