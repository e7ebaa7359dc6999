/*
 * tests/ufpu/ufpu_test.c - the kernel's side of user FPU state and of a
 * user thread's context-op chain: what a user test cannot do alone.
 *
 *   ufpu.xen_*   the Xen PV scenario (docs/fpu.md, "First use and the Xen
 *                PV bug") between user processes: the bug switch can only
 *                be thrown from the kernel, so the case starts three probe
 *                processes (user/bin/fpuprobe.c) on one CPU under lazy
 *                switching and counts what each found in its registers.
 *   uchain.*     a user thread's chain: the segment-base op over the FPU
 *                op, newest first, as the monitor shows it; what a process
 *                gives back when it ends; the monitor's `ps`.
 *
 * The ring-3 side of both (registers across switches, forks, new threads
 * and processes, FPU exceptions; the bases across fork) is in
 * user/tests/ufpu_test.c and user/tests/uchain_test.c.
 */
#include <ktest.h>
#include <bugs.h>
#include <ctxop.h>
#include <fpu.h>
#include <ksyms.h>
#include <mm.h>
#include <monitor.h>
#include <printf.h>
#include <proc.h>
#include <sched.h>
#include <string.h>
#include <thread.h>
#include <uapi/errno.h>
#include <uapi/fpuprobe.h>

#define MS 1000000ULL

/* ---- processes from the kernel ---- */

/* Starts `fpuprobe` with words[] (argv[0] is added); its pid. */
static int probe(int argc, const char *const words[])
{
	const char *argv[PROC_ARGV_MAX] = { "fpuprobe" };
	for (int i = 0; i < argc; i++)
		argv[i + 1] = words[i];
	return proc_spawn("fpuprobe", argc + 1, argv, NULL);
}

/* How process pid (one the kernel started) ended: its status, or -1000 if
 * it did not end within 5 s. */
static int probe_end(int pid)
{
	struct proc_end end;
	if (proc_wait(pid, 5000 * MS, &end) == -EAGAIN) {
		proc_kill(pid);
		proc_wait(pid, 0, &end);
		return -1000;
	}
	return end.status;
}

struct find {
	int pid;
	uint64_t id;
};

static void find_thread(struct thread *t, void *arg)
{
	struct find *f = arg;
	if (t->proc && t->proc->pid == f->pid && !t->exited && !f->id)
		f->id = t->id;
}

/* The first live thread of process pid, held (thread_rele it), or NULL. */
static struct thread *thread_of(int pid)
{
	struct find f = { pid, 0 };
	thread_foreach(find_thread, &f);
	if (!f.id)
		return NULL;
	char id[24];
	snprintf(id, sizeof(id), "%lu", f.id);
	return thread_find(id);
}

static void sleep_until(uint64_t t)
{
	uint64_t now = clock_ns();
	if (now < t)
		thread_sleep(t - now);
}

/* ---- the Xen scenario between processes ---- */

/*
 * Three probes on one CPU, lazy switching, the first-use allocation made
 * to sleep NM_SLEEP in #NM:
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
 */
#define NM_SLEEP (40 * MS)

struct xen_result {
	int holder, sleeper, newcomer;	/* exit statuses (uapi/fpuprobe.h) */
	bool sleeper_in_nm;		/* at T + 25 ms: in its first #NM, asleep, no area */
};

static int probe_at(const char *mode, int tag, int cpu, uint64_t a, uint64_t b, uint64_t c)
{
	char w[5][24];
	snprintf(w[0], sizeof(w[0]), "%d", tag);
	snprintf(w[1], sizeof(w[1]), "%d", cpu);
	snprintf(w[2], sizeof(w[2]), "%lu", a);
	snprintf(w[3], sizeof(w[3]), "%lu", b);
	snprintf(w[4], sizeof(w[4]), "%lu", c);
	const char *words[] = { mode, w[0], w[1], w[2], w[3], w[4] };
	return probe(c ? 6 : 5, words);
}

static void xen_between_processes(bool bug, struct xen_result *r)
{
	int cpu = cpu_count() - 1;
	thread_bind(cpu);
	bool was = bug_on(fpu_nm_sleep_ts_clear);
	enum fpu_policy old_policy = fpu_set_policy(FPU_LAZY);
	uint64_t old_sleep = fpu_set_nm_sleep_ns(NM_SLEEP);
	bug_set("fpu_nm_sleep_ts_clear", bug);
	uint64_t t = clock_ns() + 40 * MS;	/* time to start all three */
	enum fpu_alloc old_alloc = fpu_set_alloc(FPU_ALLOC_EAGER);
	int holder = probe_at("hold", FPUPROBE_TAG_FIRST + 1, cpu, t, t + 35 * MS, t + 80 * MS);
	fpu_set_alloc(FPU_ALLOC_LAZY);
	int sleeper = probe_at("hold", FPUPROBE_TAG_FIRST + 2, cpu, t + 10 * MS, t + 10 * MS,
			       t + 80 * MS);
	fpu_set_alloc(FPU_ALLOC_EAGER);
	int newcomer = probe_at("fresh", FPUPROBE_TAG_FIRST + 3, cpu, t + 20 * MS, t + 80 * MS, 0);
	fpu_set_alloc(old_alloc);

	sleep_until(t + 25 * MS);
	struct thread *s = sleeper > 0 ? thread_of(sleeper) : NULL;
	if (s) {
		struct fpu_counters c;
		fpu_thread_counters(s, &c);
		r->sleeper_in_nm = c.nm_traps == 1 && !fpu_thread_has_area(s) &&
				   s->state == TS_SLEEPING;
		thread_rele(s);
	}
	r->holder = holder > 0 ? probe_end(holder) : holder;
	r->sleeper = sleeper > 0 ? probe_end(sleeper) : sleeper;
	r->newcomer = newcomer > 0 ? probe_end(newcomer) : newcomer;

	bug_set("fpu_nm_sleep_ts_clear", was);
	fpu_set_nm_sleep_ns(old_sleep);
	fpu_set_policy(old_policy);	/* also sets TS right for this CPU again */
	thread_bind(-1);
}

static void xen_log(const char *what, const struct xen_result *r)
{
	KT_LOG("%s: holder %d wrong (%d another's), sleeper %d (%d), newcomer %d (%d); sleeper "
	       "%s asleep in #NM from ring 3", what, FPUPROBE_WRONG(r->holder),
	       FPUPROBE_FOREIGN(r->holder), FPUPROBE_WRONG(r->sleeper),
	       FPUPROBE_FOREIGN(r->sleeper), FPUPROBE_WRONG(r->newcomer),
	       FPUPROBE_FOREIGN(r->newcomer), r->sleeper_in_nm ? "was" : "was NOT");
}

static bool on_time(const struct xen_result *r)
{
	return r->holder >= 0 && !(r->holder & (FPUPROBE_LATE | FPUPROBE_USAGE)) &&
	       r->sleeper >= 0 && !(r->sleeper & (FPUPROBE_LATE | FPUPROBE_USAGE)) &&
	       r->newcomer >= 0 && !(r->newcomer & (FPUPROBE_LATE | FPUPROBE_USAGE)) &&
	       r->sleeper_in_nm;
}

/*
 * The scenario runs on a timeline of milliseconds; on a loaded host a
 * probe can start late, and then the scenario did not happen as planned
 * (the sleeper was not yet in its #NM at T + 25 ms): what the case asserts
 * about leaks says nothing then. Up to three tries for one that happened;
 * the asserts then judge that one (a late run on every try still fails).
 */
static void xen_scenario(bool bug, struct xen_result *r, const char *what)
{
	for (int attempt = 1; attempt <= 3; attempt++) {
		*r = (struct xen_result){ 0 };
		xen_between_processes(bug, r);
		xen_log(what, r);
		if (on_time(r))
			return;
		KT_LOG("the scenario did not happen as planned (try %d of 3)", attempt);
	}
}

static void expect_on_time(const struct xen_result *r)
{
	KT_EXPECT(r->holder >= 0 && !(r->holder & (FPUPROBE_LATE | FPUPROBE_USAGE)));
	KT_EXPECT(r->sleeper >= 0 && !(r->sleeper & (FPUPROBE_LATE | FPUPROBE_USAGE)));
	KT_EXPECT(r->newcomer >= 0 && !(r->newcomer & (FPUPROBE_LATE | FPUPROBE_USAGE)));
	KT_EXPECT(r->sleeper_in_nm);	/* else the scenario did not happen as planned */
}

KTEST(ufpu, xen_nm_sleep_from_ring3_keeps_ts_set_between_processes)
{
	struct xen_result r;
	xen_scenario(false, &r, "TS kept set");
	expect_on_time(&r);
	KT_EXPECT_EQ(r.holder, 0);
	KT_EXPECT_EQ(r.sleeper, 0);
	KT_EXPECT_EQ(r.newcomer, 0);
}

KTEST(ufpu, xen_nm_sleep_bug_leaks_registers_between_processes)
{
	struct xen_result r;
	xen_scenario(true, &r, "bug=fpu_nm_sleep_ts_clear");
	expect_on_time(&r);
	/* the newcomer's first read found the holder's registers, and the
	 * holder then found the newcomer's */
	KT_EXPECT(FPUPROBE_FOREIGN(r.newcomer) >= 1);
	KT_EXPECT(FPUPROBE_FOREIGN(r.holder) >= 1);
}

/* ---- a user thread's chain ---- */

struct walk {
	int n;
	char save[4][48];		/* each op's save handler, newest first */
};

static struct walk *walk_rec;

static void record_op(struct thread *t, struct ctxop *op)
{
	(void)t;
	if (walk_rec->n < 4)
		ksym_format((uint64_t)op->tpl.ct_save, walk_rec->save[walk_rec->n], 48);
	walk_rec->n++;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A probe that holds its image (on any CPU) for `ms`. */
static int long_probe(uint64_t ms)
{
	return probe_at("hold", FPUPROBE_TAG_FIRST, -1, 0, 0, clock_ns() + ms * MS);
}

KTEST(uchain, user_thread_has_the_segment_base_op_over_the_fpu_op)
{
	int pid = long_probe(40);
	KT_ASSERT(pid > 0);
	struct thread *t = NULL;
	for (int i = 0; i < 50 && !(t = thread_of(pid)); i++)
		thread_sleep(MS);
	KT_ASSERT(t != NULL);
	struct walk count = { 0 }, shown = { 0 };
	walk_rec = &count;
	ctxop_walk_hook = record_op;
	int n = ctxop_count(t);
	/* the monitor's command, on a thread that runs in ring 3 meanwhile */
	char cmd[32];
	snprintf(cmd, sizeof(cmd), "ctxops %lu", t->id);
	walk_rec = &shown;
	bool ran = monitor_run(cmd);
	ctxop_walk_hook = NULL;
	KT_EXPECT_EQ(n, 2);
	KT_EXPECT_EQ(count.n, 2);
	KT_EXPECT(starts_with(count.save[0], "segbase_save"));	/* newest */
	KT_EXPECT(starts_with(count.save[1], "fpu_ctx_save"));	/* oldest: made with the thread */
	KT_EXPECT(ran);
	KT_EXPECT_EQ(shown.n, 2);
	KT_EXPECT(starts_with(shown.save[0], "segbase_save"));
	KT_EXPECT(starts_with(shown.save[1], "fpu_ctx_save"));
	KT_EXPECT((t->flags & (THREAD_USER | THREAD_FPU)) == (THREAD_USER | THREAD_FPU));
	thread_rele(t);
	KT_EXPECT_EQ(probe_end(pid), 0);
}

/*
 * A process that ends gives back its chain: both ops (ctxop_live), the
 * FPU state and its save area (the heap's counters), whether the area
 * came with the thread or at its first FPU use. A first round warms the
 * caches the heap keeps.
 */
KTEST(uchain, ended_process_gives_back_its_ops_and_fpu_state)
{
	static const char *const words[] = { "init", "-1" };
	enum fpu_alloc old = fpu_alloc_policy();
	KT_EXPECT_EQ(probe_end(probe(2, words)), 0);
	struct kmem_stats before, during, after;
	long ops_before = ctxop_live();
	kmem_stats(&before);
	for (int round = 0; round < 2; round++) {
		fpu_set_alloc(round ? FPU_ALLOC_LAZY : FPU_ALLOC_EAGER);
		int pid = probe(2, words);
		fpu_set_alloc(old);
		KT_EXPECT_EQ(probe_end(pid), 0);
	}
	int pid = long_probe(30);
	KT_ASSERT(pid > 0);
	thread_sleep(10 * MS);
	long ops_during = ctxop_live();
	kmem_stats(&during);
	KT_EXPECT_EQ(probe_end(pid), 0);
	long ops_after = ctxop_live();
	kmem_stats(&after);
	KT_LOG("context ops %ld, %ld with a process, %ld after; heap objects %lu, %lu, %lu",
	       ops_before, ops_during, ops_after, before.objects_in_use, during.objects_in_use,
	       after.objects_in_use);
	KT_EXPECT_EQ(ops_during, ops_before + 2);	/* its thread's two */
	KT_EXPECT_EQ(ops_after, ops_before);
	KT_EXPECT_EQ(after.objects_in_use, before.objects_in_use);
	KT_EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

KTEST(uchain, monitor_ps_lists_the_threads_of_each_process)
{
	int before = monitor_ps();
	int pid = long_probe(30);
	KT_ASSERT(pid > 0);
	thread_sleep(10 * MS);
	int during = monitor_ps();
	KT_EXPECT_EQ(probe_end(pid), 0);
	int after = monitor_ps();
	KT_EXPECT_EQ(during, before + 1);
	KT_EXPECT_EQ(after, before);
	KT_EXPECT(monitor_run("ps"));
}
