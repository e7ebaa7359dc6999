/*
 * kernel/monitor.c - a small command monitor on the serial console.
 *
 * Booted without ktest=, the kernel starts a "monitor" thread. The UART's
 * receive interrupt puts characters into a ring and posts a semaphore; the
 * thread takes them one by one through the line editor and runs each
 * completed line. Commands are declared where their subsystem lives
 * (MONITOR_COMMAND) and gathered by the linker; `help` lists them.
 *
 * The ring is single-producer (the interrupt) single-consumer (the
 * thread); a full ring drops characters and counts them.
 *
 * Commands that list live objects (threads, processes) copy what they
 * show under the lists' locks and print afterwards, or print under a lock
 * that keeps the objects alive: what they point at may otherwise be freed
 * as they print. A process outlives the threads on the thread list (its
 * reaper joins them before it frees the process), so `ps` may follow a
 * listed thread to its process under the thread list's lock.
 */
#include <monitor.h>
#include <arch.h>
#include <cmdline.h>
#include <mm.h>
#include <percpu.h>
#include <printk.h>
#include <proc.h>
#include <smp.h>
#include <string.h>
#include <sync.h>
#include <thread.h>

#define RX_RING 256
#define CTRL_U 0x15
#define BACKSPACE 0x08
#define DEL 0x7F

extern const struct monitor_cmd __monitor_cmds_start[], __monitor_cmds_end[];

static char rx_ring[RX_RING];
static volatile unsigned rx_head, rx_tail;	/* head: next write; tail: next read */
static volatile uint64_t rx_dropped;
static struct semaphore rx_sem;

static void rx_char(char c)
{
	unsigned next = (rx_head + 1) % RX_RING;
	if (next == rx_tail) {
		rx_dropped++;
		return;
	}
	rx_ring[rx_head] = c;
	rx_head = next;
	sem_post(&rx_sem);
}

static void echo_console(const char *s)
{
	printk("%s", s);
}

bool line_editor_feed(struct line_editor *ed, char c, void (*echo)(const char *s))
{
	if (c == '\r' || c == '\n') {
		ed->line[ed->len] = '\0';
		ed->len = 0;
		if (echo)
			echo("\n");
		return true;
	}
	if (c == BACKSPACE || c == DEL) {
		if (ed->len > 0) {
			ed->len--;
			if (echo)
				echo("\b \b");
		}
		return false;
	}
	if (c == CTRL_U) {
		while (ed->len > 0) {
			ed->len--;
			if (echo)
				echo("\b \b");
		}
		return false;
	}
	if ((unsigned char)c < ' ' || ed->len >= MONITOR_LINE_MAX - 1)
		return false;		/* other control characters; a full line */
	ed->line[ed->len++] = c;
	if (echo) {
		char s[2] = { c, 0 };
		echo(s);
	}
	return false;
}

static bool monitor_run_locked(const char *line);

static struct mutex run_lock = { .wq = WAITQ_INIT(run_lock.wq, "monitor.run"),
				  .name = "monitor.run" };

/* One command at a time (the monitor's thread and SYS_monitor's callers):
 * some print from static buffers. */
bool monitor_run(const char *line)
{
	mutex_lock(&run_lock);
	bool found = monitor_run_locked(line);
	mutex_unlock(&run_lock);
	return found;
}

bool monitor_run_nested(const char *line)
{
	return monitor_run_locked(line);
}

static bool monitor_run_locked(const char *line)
{
	while (*line == ' ')
		line++;
	if (!*line)
		return true;
	size_t n = 0;
	while (line[n] && line[n] != ' ')
		n++;
	const char *args = line + n;
	while (*args == ' ')
		args++;
	for (const struct monitor_cmd *c = __monitor_cmds_start; c < __monitor_cmds_end; c++) {
		if (strlen(c->name) == n && strncmp(c->name, line, n) == 0) {
			c->fn(args);
			return true;
		}
	}
	printk("unknown command '%.*s'; 'help' lists the commands\n", (int)n, line);
	return false;
}

static bool quiet_start;

static void monitor_main(void *arg)
{
	(void)arg;
	static struct line_editor ed;
	if (!quiet_start)
		printk("monitor: type 'help' for commands\n> ");
	for (;;) {
		sem_wait(&rx_sem);
		char c = rx_ring[rx_tail];
		rx_tail = (rx_tail + 1) % RX_RING;
		if (line_editor_feed(&ed, c, echo_console)) {
			monitor_run(ed.line);
			printk("> ");
		}
	}
}

void monitor_start(bool quiet)
{
	quiet_start = quiet;
	sem_init(&rx_sem, 0, "monitor.rx");
	thread_create("monitor", monitor_main, NULL, 0);
	/* quiet: the console server will read the UART; what is typed before
	 * it binds stays in the UART for it (monitor_resume if it goes) */
	if (!quiet)
		arch_console_rx_enable(rx_char);
}

void monitor_resume(void)
{
	static bool resumed;
	if (!quiet_start || __atomic_exchange_n(&resumed, true, __ATOMIC_ACQ_REL))
		return;
	printk("\nmonitor: the console server has gone; the monitor has the console "
	       "('help')\n> ");
	arch_console_rx_enable(rx_char);
}

/* ---- the basic commands ---- */

static void cmd_help(const char *args)
{
	(void)args;
	printk("commands:\n");
	for (const struct monitor_cmd *c = __monitor_cmds_start; c < __monitor_cmds_end; c++)
		printk("  %-10s %s\n", c->name, c->help);
	printk("kernel command-line keys:\n");
	cmdline_print_options();
}
MONITOR_COMMAND("help", "this list", cmd_help);

static void cmd_threads(const char *args)
{
	(void)args;
	thread_print_all();
}
MONITOR_COMMAND("threads", "every thread: name, state, CPU, priority, binding", cmd_threads);

static void cmd_cpus(const char *args)
{
	(void)args;
	/* io: the I/O permission bitmap's rewrites and toggles (docs/user.md) */
	printk("  %3s %7s %-12s %10s %10s %10s %10s %8s %8s\n", "cpu", "apic id", "running",
	       "ticks", "switches", "preempts", "irqs", "io rewr", "io togl");
	for (int i = 0; i < cpu_count(); i++) {
		struct cpu *c = &cpus[i];
		uint64_t rewrites, toggles;
		arch_ioport_counters(i, &rewrites, &toggles);
		printk("  %3d %7u %-12s %10lu %10lu %10lu %10lu %8lu %8lu\n", c->id, c->apic_id,
		       c->thread ? c->thread->name : "-", c->ticks, c->switches, c->preemptions,
		       c->irqs, rewrites, toggles);
	}
	smp_print_cpus();	/* the IPI counters, and MADT processors that did not come up */
}
MONITOR_COMMAND("cpus", "every CPU: APIC ID, running thread, counters, IPIs", cmd_cpus);

static void cmd_mem(const char *args)
{
	(void)args;
	pmm_print_summary();
	kmem_print_stats();
}
MONITOR_COMMAND("mem", "memory map, free pages, heap caches", cmd_mem);

/* ---- ps: processes and their threads ---- */

#define PS_MAX 64		/* user threads `ps` lists; it counts the rest */

struct ps_row {
	int pid;
	uint64_t tid;
	int state, cpu;
	bool exited;
	char name[THREAD_NAME_MAX];
};

struct ps_walk {
	struct ps_row rows[PS_MAX];
	int n;			/* user threads seen, listed or not */
};

/* Under the thread list's lock (interrupts off): copy, do not print. */
static void ps_collect(struct thread *t, void *arg)
{
	struct ps_walk *w = arg;
	if (!t->proc)
		return;
	if (w->n < PS_MAX) {
		struct ps_row *r = &w->rows[w->n];
		*r = (struct ps_row){ t->proc->pid, t->id, t->state, t->cpu, t->exited, "" };
		strlcpy(r->name, t->name, sizeof(r->name));
	}
	w->n++;
}

static bool ps_before(const struct ps_row *a, const struct ps_row *b)
{
	return a->pid != b->pid ? a->pid < b->pid : a->tid < b->tid;
}

int monitor_ps(void)
{
	static struct ps_walk w;	/* the monitor's thread or a test: one at a time */
	w.n = 0;
	proc_print_all();
	thread_foreach(ps_collect, &w);
	int shown = MIN(w.n, PS_MAX);
	for (int i = 1; i < shown; i++) {	/* insertion sort: by pid, then thread id */
		struct ps_row r = w.rows[i];
		int j = i;
		for (; j > 0 && ps_before(&r, &w.rows[j - 1]); j--)
			w.rows[j] = w.rows[j - 1];
		w.rows[j] = r;
	}
	printk("  %5s %5s %-20s %-9s %3s\n", "pid", "tid", "thread", "state", "cpu");
	for (int i = 0; i < shown; i++) {
		const struct ps_row *r = &w.rows[i];
		printk("  %5d %5lu %-20s %-9s %3d\n", r->pid, r->tid, r->name,
		       r->exited ? "exited" : thread_state_name(r->state), r->cpu);
	}
	if (w.n > shown)
		printk("  ... and %d more threads\n", w.n - shown);
	return w.n;
}

static void cmd_ps(const char *args)
{
	(void)args;
	monitor_ps();
}
MONITOR_COMMAND("ps", "processes (pid, parent, state, threads, pages, status) and their threads",
		cmd_ps);
