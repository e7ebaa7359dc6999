/*
 * kernel/fpudemo.c - the Xen PV #NM scenario (docs/fpu.md, "First use and
 * the Xen PV bug") between user processes, and the monitor's `fpudemo`
 * (the shell's `demo fpu`) that shows it.
 *
 * Three FPU probes (user/bin/fpuprobe.c) on one CPU, lazy switching, the
 * first-use allocation made to sleep NM_SLEEP in #NM:
 *   holder    (area at creation) loads its image at T, sleeps until
 *             T + 35 ms without touching the FPU, then checks it;
 *   sleeper   (area at first use) loads its image at T + 10 ms: #NM from
 *             ring 3, whose allocation sleeps until T + 50 ms;
 *   newcomer  (area at creation) makes its first FPU use at T + 20 ms,
 *             during that sleep, by reading its registers: the init state.
 * All three then check their images between yields until T + 80 ms.
 * With TS set during the sleep (the rule), the newcomer's read traps and
 * loads its own init state, and nothing leaks. With bug=fpu_nm_sleep_ts_clear
 * TS is clear: the newcomer reads the holder's registers, and what it then
 * writes goes into them, unsaved: the holder, waking before the sleeper
 * (whose restore would overwrite them), finds the newcomer's values.
 *
 * The only state changed is put back before a run returns: the policy,
 * the allocation mode, the #NM sleep and the bug switch are global, so
 * other processes see them for the run's 80 ms (a student's shell session
 * does: that is the demo).
 */
#include <fpudemo.h>
#include <bugs.h>
#include <fpu.h>
#include <monitor.h>
#include <percpu.h>
#include <printf.h>
#include <printk.h>
#include <proc.h>
#include <thread.h>
#include <trace.h>
#include <string.h>
#include <uapi/errno.h>
#include <uapi/fpuprobe.h>

#define MS 1000000ULL
#define NM_SLEEP (40 * MS)

int fpuprobe_start(int argc, const char *const words[])
{
	const char *argv[PROC_ARGV_MAX] = { "fpuprobe" };
	if (argc + 1 > PROC_ARGV_MAX)
		return -EINVAL;
	for (int i = 0; i < argc; i++)
		argv[i + 1] = words[i];
	return proc_spawn("fpuprobe", argc + 1, argv, NULL);
}

int fpuprobe_start_at(const char *mode, int tag, int cpu, uint64_t a, uint64_t b, uint64_t c)
{
	char w[5][24];
	snprintf(w[0], sizeof(w[0]), "%d", tag);
	snprintf(w[1], sizeof(w[1]), "%d", cpu);
	snprintf(w[2], sizeof(w[2]), "%lu", a);
	snprintf(w[3], sizeof(w[3]), "%lu", b);
	snprintf(w[4], sizeof(w[4]), "%lu", c);
	const char *words[] = { mode, w[0], w[1], w[2], w[3], w[4] };
	return fpuprobe_start(c ? 6 : 5, words);
}

int fpuprobe_end(int pid)
{
	struct proc_end end;
	if (proc_wait(pid, 5000 * MS, &end) == -EAGAIN) {
		proc_kill(pid);
		proc_wait(pid, 0, &end);
		return -1000;
	}
	return end.status;
}

static void sleep_until(uint64_t t)
{
	uint64_t now = clock_ns();
	if (now < t)
		thread_sleep(t - now);
}

/* The probe's thread gets the role's name, for ps and a trace's lanes. */
static void name_probe(int pid, const char *role)
{
	struct thread *t = pid > 0 ? proc_first_thread(pid) : NULL;
	if (t) {
		strlcpy(t->name, role, sizeof(t->name));
		thread_rele(t);
	}
}

static bool on_time(int status)
{
	return status >= 0 && !(status & (FPUPROBE_LATE | FPUPROBE_USAGE));
}

bool fpu_xen_scenario(bool bug, struct xen_result *r)
{
	*r = (struct xen_result){ 0 };
	int cpu = cpu_count() - 1;
	thread_bind(cpu);
	bool was = bug_on(fpu_nm_sleep_ts_clear);
	enum fpu_policy old_policy = fpu_set_policy(FPU_LAZY);
	uint64_t old_sleep = fpu_set_nm_sleep_ns(NM_SLEEP);
	bug_set("fpu_nm_sleep_ts_clear", bug);
	uint64_t t = clock_ns() + 40 * MS;	/* time to start all three */
	enum fpu_alloc old_alloc = fpu_set_alloc(FPU_ALLOC_EAGER);
	trace_mark(bug ? 11 : 1);		/* the round begins, T - 40 ms (make trace) */
	int holder = fpuprobe_start_at("hold", FPUPROBE_TAG_FIRST + 1, cpu, t, t + 35 * MS,
				       t + 80 * MS);
	name_probe(holder, "holder");
	fpu_set_alloc(FPU_ALLOC_LAZY);
	int sleeper = fpuprobe_start_at("hold", FPUPROBE_TAG_FIRST + 2, cpu, t + 10 * MS,
					t + 10 * MS, t + 80 * MS);
	name_probe(sleeper, "sleeper");
	fpu_set_alloc(FPU_ALLOC_EAGER);
	int newcomer = fpuprobe_start_at("fresh", FPUPROBE_TAG_FIRST + 3, cpu, t + 20 * MS,
					 t + 80 * MS, 0);
	name_probe(newcomer, "newcomer");
	fpu_set_alloc(old_alloc);

	sleep_until(t + 25 * MS);
	struct thread *s = sleeper > 0 ? proc_first_thread(sleeper) : NULL;
	if (s) {
		struct fpu_counters c;
		fpu_thread_counters(s, &c);
		r->sleeper_in_nm = c.nm_traps == 1 && !fpu_thread_has_area(s) &&
				   s->state == TS_SLEEPING;
		thread_rele(s);
	}
	sleep_until(t + 52 * MS);	/* the holder has checked, the sleeper woken */
	trace_mark(bug ? 12 : 2);	/* (a picture's window ends here: docs/trace.md) */
	r->holder = holder > 0 ? fpuprobe_end(holder) : holder;
	r->sleeper = sleeper > 0 ? fpuprobe_end(sleeper) : sleeper;
	r->newcomer = newcomer > 0 ? fpuprobe_end(newcomer) : newcomer;
	trace_mark(bug ? 13 : 3);		/* ... and ends */

	bug_set("fpu_nm_sleep_ts_clear", was);
	fpu_set_nm_sleep_ns(old_sleep);
	fpu_set_policy(old_policy);	/* also sets TS right for this CPU again */
	thread_bind(-1);
	return on_time(r->holder) && on_time(r->sleeper) && on_time(r->newcomer) &&
	       r->sleeper_in_nm;
}

/* ---- the demo ---- */

static void say(const char *who, int status, const char *clean)
{
	if (status < 0 || (status & (FPUPROBE_LATE | FPUPROBE_USAGE)))
		printk("    %-8s did not run as planned (status %d)\n", who, status);
	else if (!FPUPROBE_WRONG(status))
		printk("    %-8s %s\n", who, clean);
	else
		printk("    %-8s %d check%s found registers not its own, %d of them another "
		       "probe's%s\n", who, FPUPROBE_WRONG(status),
		       FPUPROBE_WRONG(status) == 1 ? "" : "s", FPUPROBE_FOREIGN(status),
		       FPUPROBE_WRONG(status) == 7 ? " (7: at least)" : "");
}

static void round_of(bool bug)
{
	struct xen_result r;
	bool planned = false;
	for (int attempt = 0; attempt < 3 && !planned; attempt++)
		planned = fpu_xen_scenario(bug, &r);
	if (!planned)
		printk("    (the host was too slow for the 80 ms timeline: try again)\n");
	say("holder", r.holder, "found its own registers each time");
	say("sleeper", r.sleeper, "found its own registers after its #NM");
	say("newcomer", r.newcomer, "started from the init state, then kept its own");
	bool leak = FPUPROBE_FOREIGN(r.holder) || FPUPROBE_FOREIGN(r.sleeper) ||
		    FPUPROBE_FOREIGN(r.newcomer);
	printk("    => %s\n", leak ? "one process's registers reached another: the leak"
			  : "no process saw another's registers");
}

/* Runs in a kernel thread of its own: the scenario binds its thread to a
 * CPU, which a caller in a system call (the shell) should not be. */
static void demo_thread(void *arg)
{
	printk("three processes on CPU %d, lazy FPU switching (docs/fpu.md, the Xen PV #NM bug):\n"
	       "  holder loads its registers and sleeps; sleeper's first FPU use traps (#NM)\n"
	       "  and its area's allocation sleeps 40 ms; newcomer's first FPU use comes in\n"
	       "  that sleep\n", cpu_count() - 1);
	const char *which = arg;
	if (strcmp(which, "bug")) {
		printk("  the rule: #NM that may sleep keeps CR0.TS set across the sleep\n");
		round_of(false);
	}
	if (strcmp(which, "rule")) {
		printk("  bug=fpu_nm_sleep_ts_clear: TS cleared before the sleep, the holder's\n"
		       "  registers still loaded\n");
		round_of(true);
	}
}

static void cmd_fpudemo(const char *args)
{
	if (*args && strcmp(args, "rule") && strcmp(args, "bug")) {
		printk("usage: fpudemo [rule|bug] (no word: both rounds)\n");
		return;
	}
	struct thread *t = thread_create("fpudemo", demo_thread, (void *)args, 0);
	thread_join(t);
}
MONITOR_COMMAND("fpudemo", "the Xen PV #NM leak between processes: with the rule, and with the bug "
		"([rule|bug]: one round)",
		cmd_fpudemo);
