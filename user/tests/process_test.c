/*
 * user/tests/process_test.c - processes and threads as a program sees
 * them: fork, waitpid, the tree, threads, their limit and how a process
 * with several threads ends, and the per-thread segment bases.
 *
 * What is asserted:
 *   - fork copies memory (globals, heap, stack): after it, neither side
 *     sees the other's writes; it works with other threads running, and
 *     from a thread that is not the first;
 *   - waitpid takes any child (-1) or one by pid, each exactly once, and
 *     says -ECHILD for a process that is not a child; getppid names the
 *     parent, 0 once it is gone; orphans, live or zombie, are reaped;
 *   - threads: many at once, joined in any order; joining an unknown
 *     thread, or one twice, is -ESRCH; UTHREADS_MAX at once, then -EAGAIN;
 *     a thread may end while others run; exit() from any thread, or a
 *     fault in any thread, ends the whole process;
 *   - FS and GS bases are per thread: set, read back, in effect (a %fs
 *     load sees them), kept across switches and moves between CPUs; a new
 *     thread starts with 0, a fork's child with its forker's.
 */
#include "helpers.h"

#define MS 1000000UL

/* ---- fork ---- */

static int global_word = 1;

UTEST(process, fork_copies_memory_and_each_side_keeps_its_own)
{
	int *heap = malloc(sizeof(int));
	UT_ASSERT(heap != NULL);
	volatile int stack_word = 100;
	*heap = 10;
	global_word = 1;
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		/* the parent's writes after the fork must not show here */
		sleep_ns(5 * MS);
		int bad = (global_word != 1) + (*heap != 10) + (stack_word != 100);
		global_word = 2;
		*heap = 20;
		stack_word = 200;
		exit(bad);
	}
	global_word = 3;
	*heap = 30;
	stack_word = 300;
	int st = -1;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	/* and the child's writes do not show here */
	UT_EXPECT_EQ(global_word, 3);
	UT_EXPECT_EQ(*heap, 30);
	UT_EXPECT_EQ(stack_word, 300);
	free(heap);
}

struct flag {
	volatile int stop;
	volatile int count;
};

static void spin_until_stopped(void *arg)
{
	struct flag *f = arg;
	__atomic_add_fetch(&f->count, 1, __ATOMIC_RELAXED);
	while (!f->stop)
		sched_yield();
}

static void nothing(void *arg) { }

/* In a fork's child: make and join threads (their stack slots may be the
 * ones the parent's other threads use). */
static int child_makes_threads(void)
{
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		int tid = uthread_create(nothing, NULL);
		bad += tid <= 0 || uthread_join(tid) != 0;
	}
	struct sysinfo si;
	bad += sysinfo(&si) != 0;
	return bad;
}

UTEST(process, fork_with_threads_running_copies_only_the_caller)
{
	struct flag f = { 0, 0 };
	int tids[3];
	for (int i = 0; i < 3; i++) {
		tids[i] = uthread_create(spin_until_stopped, &f);
		UT_ASSERT(tids[i] > 0);
	}
	while (f.count < 3)
		sched_yield();
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		/* only this thread came along: nobody stops the spinners here */
		exit(child_makes_threads());
	}
	int st = -1;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	f.stop = 1;
	for (int i = 0; i < 3; i++)
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
}

static void fork_here(void *arg)
{
	volatile int on_my_stack = 77;
	int pid = fork();
	if (pid == 0)
		exit(on_my_stack == 77 ? child_makes_threads() : 100);
	int st = -1;
	*(int *)arg = waitpid(pid, &st) == pid ? st : -1000;
}

UTEST(process, fork_from_a_second_thread)
{
	int st = -2000;
	int tid = uthread_create(fork_here, &st);
	UT_ASSERT(tid > 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(st, 0);
}

/* ---- waitpid and the tree ---- */

UTEST(process, waitpid_takes_each_child_once_any_or_by_pid)
{
	int pids[4];
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		UT_ASSERT(pids[i] >= 0);
		if (pids[i] == 0)
			exit(10 + i);
	}
	int st = -1;
	UT_EXPECT_EQ(waitpid(pids[2], &st), pids[2]);
	UT_EXPECT_EQ(st, 12);
	UT_EXPECT_EQ(waitpid(pids[2], &st), -ECHILD);	/* reaped already */
	int seen = 1 << 2;
	for (int k = 0; k < 3; k++) {
		int pid = waitpid(-1, &st);
		for (int i = 0; i < 4; i++)
			if (pid == pids[i]) {
				UT_EXPECT_EQ(seen & (1 << i), 0);
				UT_EXPECT_EQ(st, 10 + i);
				seen |= 1 << i;
			}
	}
	UT_EXPECT_EQ(seen, 0xF);
	UT_EXPECT_EQ(waitpid(-1, &st), -ECHILD);
	UT_EXPECT_EQ(waitpid(-1, NULL), -ECHILD);
}

UTEST(process, waitpid_of_a_process_that_is_not_a_child_is_echild)
{
	UT_EXPECT_EQ(waitpid(getpid(), NULL), -ECHILD);
	UT_EXPECT_EQ(waitpid(1 << 30, NULL), -ECHILD);
	/* a sibling: the child's parent is this process, not the child */
	int a = fork();
	UT_ASSERT(a >= 0);
	if (a == 0) {
		sleep_ns(20 * MS);
		exit(0);
	}
	int b = fork();
	UT_ASSERT(b >= 0);
	if (b == 0)
		exit(waitpid(a, NULL) == -ECHILD ? 0 : 1);
	int st = -1;
	UT_EXPECT_EQ(waitpid(b, &st), b);
	UT_EXPECT_EQ(st, 0);
	UT_EXPECT_EQ(waitpid(a, NULL), a);
}

UTEST(process, exit_codes_are_the_low_eight_bits)
{
	static const int codes[][2] = { { 0, 0 }, { 255, 255 }, { 256, 0 }, { -1, 255 }, { 0x1234, 0x34 } };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		int pid = fork();
		UT_ASSERT(pid >= 0);
		if (pid == 0)
			exit(codes[i][0]);
		int st = -1;
		UT_EXPECT_EQ(waitpid(pid, &st), pid);
		UT_EXPECT_EQ(st, codes[i][1]);
	}
}

struct race {
	int pid;
	volatile int got;		/* waits that reaped the child */
	volatile int echild;		/* waits that found it gone */
};

static void wait_for_it(void *arg)
{
	struct race *r = arg;
	int ret = waitpid(r->pid, NULL);
	if (ret == r->pid)
		__atomic_add_fetch(&r->got, 1, __ATOMIC_RELAXED);
	else if (ret == -ECHILD)
		__atomic_add_fetch(&r->echild, 1, __ATOMIC_RELAXED);
}

UTEST(process, two_threads_waiting_for_one_child_reap_it_once)
{
	struct race r = { 0, 0, 0 };
	r.pid = fork();
	UT_ASSERT(r.pid >= 0);
	if (r.pid == 0) {
		sleep_ns(5 * MS);
		exit(0);
	}
	int t1 = uthread_create(wait_for_it, &r), t2 = uthread_create(wait_for_it, &r);
	UT_ASSERT(t1 > 0 && t2 > 0);
	UT_EXPECT_EQ(uthread_join(t1), 0);
	UT_EXPECT_EQ(uthread_join(t2), 0);
	UT_EXPECT_EQ(r.got, 1);
	UT_EXPECT_EQ(r.echild, 1);
}

UTEST(process, getppid_names_the_parent)
{
	if (utest_standalone())
		UT_EXPECT(getppid() > 0);	/* the shell's test runner started it */
	else
		UT_EXPECT_EQ(getppid(), 0);	/* the kernel's runner did */
	int me = getpid();
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0)
		exit(getppid() == me ? 0 : 1);
	int st = -1;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

static void sleep_forever(void *arg)
{
	for (;;)
		sleep_ns(1000 * MS);
}

struct kill_targets {
	int parent, sibling;
};

/* In the second child: neither its parent nor its sibling is its to kill;
 * its own child is, and (found by pid, which only grows) so is that one's. */
static void kill_around(void *arg)
{
	struct kill_targets *k = arg;
	if (kill(k->parent) != -EPERM || kill(k->sibling) != -EPERM)
		exit(1);
	int child = ut_fork(sleep_forever, NULL);
	if (kill(child) != 0 || waitpid(child, NULL) != child)
		exit(2);
	ut_fork(sleep_forever, NULL);	/* left for the case to kill */
	sleep_forever(NULL);
}

UTEST(process, kill_reaches_only_the_caller_s_descendants)
{
	struct kill_targets k = { getpid(), 0 };
	k.sibling = ut_fork(sleep_forever, NULL);
	int c = ut_fork(kill_around, &k);
	/* its sleeping grandchild is the process after c's first child */
	int grandchild = -1;
	for (unsigned long t = 0; grandchild < 0 && t < 2000; t++) {
		if (kill(c + 2) == 0)
			grandchild = c + 2;
		else
			sleep_ns(MS);
	}
	UT_EXPECT_EQ(grandchild, c + 2);
	UT_EXPECT_EQ(kill(c), 0);
	int st = 0;
	UT_EXPECT_EQ(waitpid(c, &st), c);
	UT_EXPECT_EQ(st, WAIT_KILLED);	/* not 1 or 2: its kills went as they should */
	UT_EXPECT_EQ(kill(k.sibling), 0);
	UT_EXPECT_EQ(waitpid(k.sibling, &st), k.sibling);
	UT_EXPECT_EQ(st, WAIT_KILLED);
	UT_EXPECT_EQ(kill(getpid() + 100000), -ESRCH);
}

/* A tree under the case: c, its two children, and one grandchild. */
static void sleeper_with_child(void *arg)
{
	ut_fork(sleep_forever, NULL);
	sleep_forever(NULL);
}

static void tree_root(void *arg)
{
	ut_fork(sleep_forever, NULL);
	ut_fork(sleeper_with_child, NULL);
	sleep_forever(NULL);
}

/* What a shell's Ctrl-C does: the program in front and everything it
 * started. kill alone would leave the three below c running, orphaned. */
UTEST(process, kill_tree_ends_the_process_and_every_descendant)
{
	struct sysinfo before, si;
	ut_sysinfo(&before);
	int c = ut_fork(tree_root, NULL);
	UT_EXPECT(ut_settle(before.procs + 4, 2000 * MS, &si));	/* all four up */
	UT_EXPECT_EQ(syscall6(SYS_kill, c, 2, 0, 0, 0, 0), -EINVAL);	/* an unknown flag */
	UT_EXPECT_EQ(kill_tree(c), 0);
	int st = 0;
	UT_EXPECT_EQ(waitpid(c, &st), c);
	UT_EXPECT_EQ(st, WAIT_KILLED);
	UT_EXPECT(ut_settle(before.procs, 2000 * MS, &si));	/* the orphans too */
	UT_EXPECT_EQ(kill_tree(getpid() + 100000), -ESRCH);
}

static void leave_now(void *arg)
{
	uthread_exit();
}

/* A thread leaves, then the last one ends the process: the space goes
 * while the first may still be on its way out (robust_kernel_test.c runs
 * this with that way out held open). */
static void leave_then_end(void *arg)
{
	if (uthread_create(leave_now, NULL) <= 0)
		exit(1);
	sleep_ns(5 * MS);		/* it has left by now */
	exit(7);
}

UTEST(process, a_thread_leaving_as_the_last_ends_the_process)
{
	UT_EXPECT_EQ(ut_child(leave_then_end, NULL), 7);
}

static void until_orphaned(void *arg)
{
	while (getppid() != 0)
		sleep_ns(MS);
}

/* Leaves a live grandchild (which ends once it sees itself orphaned) and
 * a zombie one (which nobody waits for). */
static void leave_orphans(void *arg)
{
	ut_fork(until_orphaned, NULL);
	ut_fork(nothing, NULL);
	sleep_ns(5 * MS);		/* the second is a zombie by now */
}

UTEST(process, orphans_are_reaped)
{
	struct sysinfo before, after;
	ut_sysinfo(&before);
	for (int i = 0; i < 3; i++)
		UT_EXPECT_EQ(ut_child(leave_orphans, NULL), 0);
	UT_EXPECT(ut_settle(before.procs, 2000 * MS, &after));
	ut_expect_baseline(&before, &after);
}

/* ---- threads ---- */

struct slot {
	volatile int ran;
	int tid;
};

static void mark(void *arg) { ((struct slot *)arg)->ran = 1; }

UTEST(process, many_threads_joined_in_any_order)
{
	enum { N = 24 };
	struct slot s[N] = { 0 };
	for (int i = 0; i < N; i++) {
		s[i].tid = uthread_create(mark, &s[i]);
		UT_ASSERT(s[i].tid > 0);
	}
	/* odd ones from the end, then even ones from the start */
	for (int i = N - 1; i >= 0; i -= 2)
		UT_EXPECT_EQ(uthread_join(s[i].tid), 0);
	for (int i = 0; i < N; i += 2)
		UT_EXPECT_EQ(uthread_join(s[i].tid), 0);
	int ran = 0;
	for (int i = 0; i < N; i++)
		ran += s[i].ran;
	UT_EXPECT_EQ(ran, N);
}

UTEST(process, join_of_an_unknown_thread_or_twice_is_esrch)
{
	UT_EXPECT_EQ(uthread_join(1 << 30), -ESRCH);
	struct slot s = { 0 };
	int tid = uthread_create(mark, &s);
	UT_ASSERT(tid > 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(uthread_join(tid), -ESRCH);
	UT_EXPECT_EQ(s.ran, 1);
}

UTEST(process, threads_up_to_the_limit_then_eagain)
{
	struct flag f = { 0, 0 };
	int tids[UTHREADS_MAX];
	int n = 0, r;
	while ((r = uthread_create(spin_until_stopped, &f)) > 0 && n < UTHREADS_MAX)
		tids[n++] = r;
	UT_EXPECT_EQ(r, -EAGAIN);
	UT_EXPECT_EQ(n, UTHREADS_MAX - 1);	/* and this one makes the limit */
	/* one joined frees its place */
	f.stop = 1;
	if (n > 0) {
		UT_EXPECT_EQ(uthread_join(tids[n - 1]), 0);
		f.stop = 0;
		r = uthread_create(spin_until_stopped, &f);
		UT_EXPECT(r > 0);
		if (r > 0)
			tids[n - 1] = r;
		f.stop = 1;
	}
	for (int i = 0; i < n; i++)
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
}

struct counter {
	volatile int stop;
	volatile long n;
};

static void count_until_stopped(void *arg)
{
	struct counter *c = arg;
	while (!c->stop) {
		c->n++;
		sched_yield();
	}
}

static void exit_at_once(void *arg) { uthread_exit(); }

UTEST(process, a_thread_ends_while_others_run)
{
	struct counter c = { 0, 0 };
	int runner = uthread_create(count_until_stopped, &c);
	UT_ASSERT(runner > 0);
	for (int i = 0; i < 8; i++) {
		int tid = uthread_create(exit_at_once, NULL);
		UT_ASSERT(tid > 0);
		UT_EXPECT_EQ(uthread_join(tid), 0);
	}
	long n0 = c.n;
	while (c.n == n0)
		sched_yield();		/* the runner goes on */
	c.stop = 1;
	UT_EXPECT_EQ(uthread_join(runner), 0);
}

static void exit_seven(void *arg)
{
	sleep_ns(2 * MS);
	exit(7);
}

static void thread_exits_process(void *arg)
{
	uthread_create(exit_seven, NULL);
	uthread_create(spin_until_stopped, &(struct flag){ 0, 0 });
	sleep_ns(60000 * MS);		/* ended by the exit meanwhile */
	exit(100);
}

UTEST(process, exit_from_any_thread_ends_the_whole_process)
{
	unsigned long t0 = clock_ns();
	UT_EXPECT_EQ(ut_child(thread_exits_process, NULL), 7);
	UT_EXPECT(clock_ns() - t0 < 5000 * MS);
}

static void exit_nine_later(void *arg)
{
	sleep_ns(5 * MS);
	exit(9);
}

static void main_thread_leaves(void *arg)
{
	uthread_create(exit_nine_later, NULL);
	uthread_exit();			/* the process goes on without it */
}

UTEST(process, the_first_thread_may_end_before_the_others)
{
	UT_EXPECT_EQ(ut_child(main_thread_leaves, NULL), 9);
}

static void fault_later(void *arg)
{
	sleep_ns(2 * MS);
	(void)*(volatile int *)0;
}

static void thread_faults(void *arg)
{
	uthread_create(fault_later, NULL);
	uthread_create(spin_until_stopped, &(struct flag){ 0, 0 });
	sleep_ns(60000 * MS);
	exit(100);
}

UTEST(process, a_fault_in_one_thread_kills_the_whole_process)
{
	unsigned long t0 = clock_ns();
	UT_EXPECT_EQ(ut_child(thread_faults, NULL), WAIT_SEGV);
	UT_EXPECT(clock_ns() - t0 < 5000 * MS);
}

/* ---- CPUs ---- */

/* (tests/user/robust_kernel_test.c also runs this case: it catches the
 * thread while it is pinned to CPU 0, to give it a frame to die of.) */
UTEST(process, set_cpus_keeps_a_thread_on_its_cpu)
{
	struct sysinfo si;
	ut_sysinfo(&si);
	int wrong = 0, yields = 0;
	for (int cpu = 0; cpu < (int)si.ncpus; cpu++) {
		UT_ASSERT_EQ(set_cpus(1u << cpu), 0);
		unsigned long end = clock_ns() + 10 * MS;
		do {		/* once at least: a loaded host can take the 10 ms */
			wrong += cpu_id() != cpu;
			sched_yield();
			yields++;
		} while (clock_ns() < end);
	}
	UT_EXPECT_EQ(set_cpus(0xFFFFFFFFu), 0);
	UT_EXPECT_EQ(wrong, 0);
	UT_EXPECT(yields > 0);
}

/* ---- segment bases ---- */

static bool has_fsgsbase(void)
{
	unsigned a = 7, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b & 1;
}

static long fs_word(void)
{
	long v;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(v));
	return v;
}

static long gs_word(void)
{
	long v;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(v));
	return v;
}

struct tls {
	long fs_id, gs_id;		/* what %fs:0 and %gs:0 must read */
	long bad;
	int rounds;
};

static void check_bases(struct tls *t, const char *when)
{
	bool ok = get_fs_base() == (unsigned long)&t->fs_id &&
		  get_gs_base() == (unsigned long)&t->gs_id && fs_word() == t->fs_id &&
		  gs_word() == t->gs_id;
	if (!ok && t->bad++ == 0)
		UT_LOG("thread %d: bases wrong %s", gettid(), when);
}

static void keep_bases(void *arg)
{
	struct tls *t = arg;
	struct sysinfo si;
	ut_sysinfo(&si);
	UT_EXPECT_EQ(get_fs_base(), 0);		/* a new thread starts with 0 */
	UT_EXPECT_EQ(get_gs_base(), 0);
	UT_ASSERT_EQ(set_fs_base((unsigned long)&t->fs_id), 0);
	UT_ASSERT_EQ(set_gs_base((unsigned long)&t->gs_id), 0);
	for (int r = 0; r < t->rounds; r++) {
		int cpu = r % (int)si.ncpus;
		UT_ASSERT_EQ(set_cpus(1u << cpu), 0);
		check_bases(t, "after a move");
		if (cpu_id() != cpu && t->bad++ == 0)
			UT_LOG("set_cpus(1 << %d) left the thread on CPU %d", cpu, cpu_id());
		sched_yield();
		check_bases(t, "after a yield");
		for (volatile int i = 0; i < 2000; i++)
			;		/* long enough for a tick now and then */
		check_bases(t, "after spinning");
	}
	set_cpus(0xFFFFFFFFu);
}

UTEST(process, segment_bases_are_per_thread_and_survive_moves)
{
	enum { N = 4 };
	struct tls t[N];
	int tids[N];
	for (int i = 0; i < N; i++) {
		t[i] = (struct tls){ 0x1000 + i, 0x2000 + i, 0, ut_rounds(64) };
		tids[i] = uthread_create(keep_bases, &t[i]);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < N; i++) {
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
		UT_EXPECT_EQ(t[i].bad, 0);
	}
	UT_EXPECT_EQ(get_fs_base(), 0);	/* theirs were never this thread's */
}

static void report_bases(void *arg)
{
	struct tls *t = arg;
	t->bad = (get_fs_base() != (unsigned long)&t->fs_id) + (fs_word() != t->fs_id) +
		 (get_gs_base() != (unsigned long)&t->gs_id) + (gs_word() != t->gs_id);
	exit((int)t->bad);
}

UTEST(process, a_fork_s_child_keeps_its_forker_s_bases)
{
	struct tls t = { 0x3000, 0x4000, 0, 0 };
	UT_ASSERT_EQ(set_fs_base((unsigned long)&t.fs_id), 0);
	UT_ASSERT_EQ(set_gs_base((unsigned long)&t.gs_id), 0);
	UT_EXPECT_EQ(ut_child(report_bases, &t), 0);
	UT_EXPECT_EQ(set_fs_base(0), 0);
	UT_EXPECT_EQ(set_gs_base(0), 0);
	UT_EXPECT_EQ(get_fs_base(), 0);
}

UTEST(process, bases_written_in_ring_3_are_kept)
{
	if (!has_fsgsbase())
		UT_SKIP("the CPU has no FSGSBASE: only the system call sets the bases");
	struct tls t = { 0x5000, 0x6000, 0, ut_rounds(32) };
	struct sysinfo si;
	ut_sysinfo(&si);
	__asm__ volatile("wrfsbase %0; wrgsbase %1" ::"r"(&t.fs_id), "r"(&t.gs_id));
	for (int r = 0; r < t.rounds; r++) {
		UT_ASSERT_EQ(set_cpus(1u << (r % (int)si.ncpus)), 0);
		sched_yield();
		unsigned long fs, gs;
		__asm__ volatile("rdfsbase %0; rdgsbase %1" : "=r"(fs), "=r"(gs));
		t.bad += fs != (unsigned long)&t.fs_id || gs != (unsigned long)&t.gs_id;
		check_bases(&t, "after a move");
	}
	set_cpus(0xFFFFFFFFu);
	UT_EXPECT_EQ(t.bad, 0);
}
