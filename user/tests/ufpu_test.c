/*
 * user/tests/ufpu_test.c - the FPU in ring 3: a process's x87/SSE/AVX
 * registers are its own across switches, migrations and forks; a new
 * process or thread starts in the init state; lazy switching takes its
 * #NM from ring 3; an FPU exception kills only the process that raised it.
 * (After Linux's tools/testing/selftests/x86/xstate.c and OSv's tst-fpu.)
 *
 * Every check goes through fpu_regs_hold (user/lib/fpu_regs.asm): the
 * image is loaded, a system call switches (a yield, a move to another
 * CPU, a fork), and the registers are read back, all in assembly, so that
 * nothing but the kernel can have changed them. Images are tagged with
 * their process, so a register found in the wrong process says whose it
 * was. The kernel's side (the Xen scenario between processes, which needs
 * a bug switch only the kernel can throw, and the user thread's context
 * ops) is in tests/ufpu/; docs/fpu.md, "User space", tells the story.
 */
#include <fpu_regs.h>
#include <utest.h>

#define MS 1000000UL
#define TAG_FIRST 0xF1A0		/* tags of this file's images */
#define TAGS 16
#define MXCSR_ZM (1u << 9)		/* divide-by-zero masked (SSE) */
#define FCW_ZM (1u << 2)		/* divide-by-zero masked (x87) */

static int ncpus(void)
{
	struct sysinfo si;
	return sysinfo(&si) == 0 ? (int)si.ncpus : 1;
}

static bool eager(void)
{
	struct fpu_info fi;
	return fpu_get_info(&fi) == 0 && fi.policy == 0;
}

/* ---- many processes, yielding and migrating ---- */

struct juggle {
	uint16_t tag;
	unsigned long ns;		/* how long */
	int checks, wrong, foreign;	/* foreign: another image's lanes seen */
	int eager_foreign;		/* eager: the kernel saw another context loaded */
};

/*
 * Holds a random image, a new one every 16 checks, across yields and,
 * every 8th, a move to a random CPU; counts the checks that came back
 * different. Under eager switching also asks the kernel, each time,
 * whether this CPU's registers held another context's state.
 */
static void juggle(struct juggle *j)
{
	struct fpu_regs want, got;
	struct fpu_info fi;
	uint64_t rng = clock_ns() ^ (uint64_t)gettid() << 40 ^ j->tag;
	int n = ncpus();
	bool is_eager = eager();
	unsigned long end = clock_ns() + j->ns;
	while (clock_ns() < end || j->checks < 64) {
		if (j->checks % 16 == 0)
			fpu_regs_make(&want, &rng, j->tag);
		long nr = SYS_yield, mask = 0;
		if (j->checks % 8 == 7 && n > 1) {
			nr = SYS_set_cpus;
			mask = 1L << (rand64(&rng) % (uint64_t)n);
		}
		fpu_regs_hold(&want, &got, nr, mask, 0, 0);
		j->checks++;
		if (fpu_regs_diff(&want, &got)) {
			j->wrong++;
			if (fpu_regs_foreign(&got, j->tag, TAG_FIRST, TAGS))
				j->foreign++;
		}
		if (is_eager && fpu_get_info(&fi) == 0 && fi.foreign)
			j->eager_foreign++;
	}
	set_cpus(~0u);
}

/* A child's exit status for a juggle: 0 if all was well. */
static int juggle_status(const struct juggle *j)
{
	if (j->wrong || j->eager_foreign)
		UT_LOG("process %d (tag 0x%x): %d of %d checks wrong, %d with another's registers; "
		       "%d times another context loaded under eager", getpid(), j->tag, j->wrong,
		       j->checks, j->foreign, j->eager_foreign);
	return (j->wrong ? 1 : 0) | (j->foreign ? 2 : 0) | (j->eager_foreign ? 4 : 0);
}

UTEST(ufpu, registers_stay_with_their_process_8_processes_yield_and_move)
{
	enum { N = 8 };
	int pids[N];
	fpu_regs_init();
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		UT_ASSERT(pids[i] >= 0);
		if (pids[i] == 0) {
			struct juggle j = { .tag = (uint16_t)(TAG_FIRST + i), .ns = 100 * MS };
			juggle(&j);
			exit(juggle_status(&j));
		}
	}
	int bad = 0;
	for (int i = 0; i < N; i++) {
		int status = -1;
		UT_EXPECT_EQ(waitpid(pids[i], &status), pids[i]);
		bad += status != 0;
		UT_EXPECT_EQ(status, 0);	/* bits: 1 wrong, 2 another's, 4 eager saw foreign */
	}
	UT_LOG("%d processes on %d CPUs, %s registers%s: %d saw anything but their own", N,
	       ncpus(), fpu_regs_avx() ? "XMM, YMM, MMX" : "XMM, MMX (no AVX)",
	       eager() ? ", eager" : ", lazy", bad);
}

static void juggle_thread(void *arg)
{
	juggle(arg);
}

UTEST(ufpu, registers_stay_with_their_thread_4_threads_of_one_process)
{
	enum { N = 4 };
	struct juggle js[N];
	int tids[N];
	fpu_regs_init();
	for (int i = 0; i < N; i++) {
		js[i] = (struct juggle){ .tag = (uint16_t)(TAG_FIRST + 8 + i), .ns = 60 * MS };
		tids[i] = uthread_create(juggle_thread, &js[i]);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < N; i++) {
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
		UT_EXPECT_EQ(js[i].wrong, 0);
		UT_EXPECT_EQ(js[i].foreign, 0);
		UT_EXPECT_EQ(js[i].eager_foreign, 0);
		UT_EXPECT(js[i].checks >= 64);
	}
}

/* ---- what a new process, thread or fork starts with ---- */

UTEST(ufpu, fork_child_starts_with_the_parents_registers_then_diverges)
{
	struct fpu_regs parent, got, child, cgot;
	uint64_t rng = clock_ns();
	fpu_regs_init();
	fpu_regs_make(&parent, &rng, TAG_FIRST);
	fpu_regs_make(&child, &rng, TAG_FIRST + 1);
	long pid = fpu_regs_hold(&parent, &got, SYS_fork, 0, 0, 0);
	UT_ASSERT(pid >= 0);
	int diff = fpu_regs_diff(&parent, &got);
	if (pid == 0) {
		/* the child: the parent's registers as they were at the fork */
		int wrong = 0;
		for (int i = 0; i < 40; i++) {
			fpu_regs_hold(&child, &cgot, SYS_yield, 0, 0, 0);
			wrong += fpu_regs_diff(&child, &cgot) != 0;
		}
		exit((diff ? 1 : 0) | (wrong ? 2 : 0));
	}
	UT_EXPECT_EQ(diff, 0);
	int wrong = 0, foreign = 0;
	for (int i = 0; i < 40; i++) {
		fpu_regs_hold(&parent, &got, SYS_yield, 0, 0, 0);
		if (fpu_regs_diff(&parent, &got)) {
			wrong++;
			foreign += fpu_regs_foreign(&got, TAG_FIRST, TAG_FIRST, 2) != 0;
		}
	}
	int status = -1;
	fpu_regs_hold(&parent, &got, SYS_waitpid, pid, (long)&status, 0);
	UT_EXPECT_EQ(fpu_regs_diff(&parent, &got), 0);
	UT_EXPECT_EQ(status, 0);	/* 1: the child did not start with ours; 2: it lost its own */
	UT_EXPECT_EQ(wrong, 0);
	UT_EXPECT_EQ(foreign, 0);	/* the child's registers never reached us */
}

UTEST(ufpu, new_thread_starts_in_the_init_state)
{
	struct fpu_regs mine, got, init, seen[4];
	uint64_t rng = clock_ns();
	fpu_regs_init();
	fpu_regs_init_state(&init);
	for (int i = 0; i < 4; i++) {
		/* the creator's registers hold an image as it creates the thread */
		fpu_regs_make(&mine, &rng, TAG_FIRST);
		long tid = fpu_regs_hold(&mine, &got, SYS_thread_create, (long)fpu_regs_probe_thread,
					 (long)&seen[i], SYS_thread_exit);
		UT_ASSERT(tid > 0);
		UT_EXPECT_EQ(uthread_join((int)tid), 0);
		UT_EXPECT_EQ(fpu_regs_diff(&init, &seen[i]), 0);	/* FPU_REGS_DIFF_* bits */
		UT_EXPECT_EQ(fpu_regs_diff(&mine, &got), 0);
	}
}

UTEST(ufpu, new_process_starts_in_the_init_state)
{
	struct fpu_regs mine, got;
	uint64_t rng = clock_ns();
	fpu_regs_init();
	int cpu = ncpus() - 1;
	char cpus[4];
	snprintf(cpus, sizeof(cpus), "%d", cpu);
	const char *argv[] = { "fpuprobe", "init", cpus, NULL };
	set_cpus(1u << cpu);		/* the probe comes to this CPU before it looks */
	fpu_regs_make(&mine, &rng, TAG_FIRST);
	long pid = fpu_regs_hold(&mine, &got, SYS_spawn, (long)"fpuprobe", (long)argv, 0);
	UT_ASSERT(pid > 0);
	int status = -1;
	fpu_regs_hold(&mine, &got, SYS_waitpid, pid, (long)&status, 0);
	UT_EXPECT_EQ(status, 0);	/* FPU_REGS_DIFF_* bits of what differed from init */
	UT_EXPECT_EQ(fpu_regs_diff(&mine, &got), 0);
	set_cpus(~0u);
}

/* ---- #NM from ring 3 ---- */

struct first_use {
	struct fpu_info before, after;
	struct fpu_regs got;
};

/* A thread's first FPU instruction is fpu_regs_read's first move. */
FPU_REGS_NOSIMD static void first_use_main(void *arg)
{
	struct first_use *f = arg;
	fpu_get_info(&f->before);
	fpu_regs_read(&f->got);
	fpu_get_info(&f->after);
}

UTEST(ufpu, first_use_in_ring3_loads_the_init_state_and_allocates_if_lazy)
{
	struct first_use f;
	struct fpu_regs init;
	fpu_regs_init();
	fpu_regs_init_state(&init);
	int tid = uthread_create(first_use_main, &f);
	UT_ASSERT(tid > 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	bool alloc_lazy = f.before.alloc == 1;
	UT_EXPECT_EQ(f.before.has_area, !alloc_lazy);	/* fpu.alloc=lazy: none yet */
	/* eager with an area: loaded as the thread first came in; otherwise
	 * by the #NM of its first move */
	bool trap = f.before.policy == 1 || alloc_lazy;
	UT_EXPECT_EQ(f.before.first_uses, !trap);
	UT_EXPECT_EQ(f.after.has_area, 1);
	UT_EXPECT_EQ(f.after.first_uses, 1);
	UT_EXPECT_EQ(f.after.nm_traps - f.before.nm_traps, trap);
	UT_EXPECT_EQ(fpu_regs_diff(&init, &f.got), 0);
	if (f.before.policy == 0) {
		/* eager: even before its first FPU use, with no state of its own
		 * yet, the thread ran with the init state loaded, not its creator's */
		UT_EXPECT_EQ(f.before.foreign, 0);
		UT_EXPECT_EQ(f.after.foreign, 0);
	}
	UT_LOG("%s switching, areas %s: #NM %lu -> %lu, area %lu bytes", f.before.policy ? "lazy" : "eager",
	       alloc_lazy ? "at first use" : "at creation", f.before.nm_traps, f.after.nm_traps,
	       f.after.area_size);
}

UTEST(ufpu, lazy_takes_one_nm_from_ring3_per_switch_eager_none)
{
	int cpu = ncpus() - 1;
	struct fpu_regs mine, got;
	uint64_t rng = clock_ns();
	fpu_regs_init();
	fpu_regs_make(&mine, &rng, TAG_FIRST);
	set_cpus(1u << cpu);
	int partner = fork();
	UT_ASSERT(partner >= 0);
	if (partner == 0) {
		set_cpus(1u << cpu);	/* a thread to switch to, which never uses the FPU */
		for (;;)
			sched_yield();
	}
	/* until it is here: three yields in a row that each let another run */
	struct fpu_info a, b;
	fpu_get_info(&a);
	for (int in_a_row = 0, i = 0; in_a_row < 3 && i < 10000; i++) {
		sched_yield();
		fpu_get_info(&b);
		in_a_row = b.switches > a.switches ? in_a_row + 1 : 0;
		a = b;
	}
	fpu_regs_hold(&mine, &got, SYS_yield, 0, 0, 0);	/* any first use behind us */
	fpu_get_info(&a);
	int wrong = 0;
	enum { SWITCHES = 20 };
	for (int i = 0; i < SWITCHES; i++) {
		fpu_regs_hold(&mine, &got, SYS_yield, 0, 0, 0);
		wrong += fpu_regs_diff(&mine, &got) != 0;
	}
	fpu_get_info(&b);
	kill(partner);
	waitpid(partner, NULL);
	set_cpus(~0u);
	UT_EXPECT_EQ(wrong, 0);
	uint64_t nm = b.nm_traps - a.nm_traps, restores = b.restores - a.restores;
	UT_LOG("%s: %lu #NM, %lu restores over %lu switches to a process that does not use the FPU",
	       a.policy ? "lazy" : "eager", nm, restores, b.switches - a.switches);
	UT_EXPECT(b.switches - a.switches >= SWITCHES);	/* each yield went to the partner */
	if (a.policy == 1) {
		UT_EXPECT(nm >= SWITCHES);	/* the first move after each switch */
		UT_EXPECT_EQ(restores, 0);	/* and the registers were still ours */
	} else {
		UT_EXPECT_EQ(nm, 0);
		UT_EXPECT(restores >= SWITCHES);	/* the partner's state went in between */
	}
}

/* ---- FPU exceptions kill their process only ---- */

/* A divide by zero with its exception unmasked: #MF (x87) or #XM (SSE). */
static int divide_by_zero(bool x87)
{
	if (x87) {
		uint16_t cw = FPU_FCW_DEFAULT & ~FCW_ZM;
		__asm__ volatile("fldcw %0; fld1; fldz; fdivrp; fwait" ::"m"(cw));
		return 99;		/* #MF did not come */
	}
	uint32_t mx = FPU_MXCSR_DEFAULT & ~MXCSR_ZM;
	float one = 1.0f, zero = 0.0f;
	__asm__ volatile("ldmxcsr %0" ::"m"(mx));
	__asm__ volatile("divss %1, %0" : "+x"(one) : "x"(zero));
	/* a CPU that raises #XM ended us above; QEMU's TCG only set the flag */
	fpu_deliver_xm();
	return 98;			/* no flag either */
}

/*
 * Three processes on one CPU: this one and a sibling hold images; the
 * culprit divides by zero. The culprit must end with -8 (WAIT_FPE) and
 * the other two go on with their registers intact.
 */
static void fpu_exception_kills_only_its_process(bool x87)
{
	int cpu = ncpus() - 1;
	struct fpu_regs mine, got;
	uint64_t rng = clock_ns();
	fpu_regs_init();
	set_cpus(1u << cpu);
	int sibling = fork();
	UT_ASSERT(sibling >= 0);
	if (sibling == 0) {
		set_cpus(1u << cpu);
		struct juggle j = { .tag = (uint16_t)(TAG_FIRST + 1), .ns = 40 * MS };
		juggle(&j);
		exit(juggle_status(&j));
	}
	int culprit = fork();
	UT_ASSERT(culprit >= 0);
	if (culprit == 0) {
		set_cpus(1u << cpu);
		exit(divide_by_zero(x87));
	}
	fpu_regs_make(&mine, &rng, TAG_FIRST);
	int status = 0;
	fpu_regs_hold(&mine, &got, SYS_waitpid, culprit, (long)&status, 0);
	UT_EXPECT_EQ(status, WAIT_FPE);
	UT_EXPECT_EQ(fpu_regs_diff(&mine, &got), 0);
	int sibling_status = -1;
	fpu_regs_hold(&mine, &got, SYS_waitpid, sibling, (long)&sibling_status, 0);
	UT_EXPECT_EQ(sibling_status, 0);
	UT_EXPECT_EQ(fpu_regs_diff(&mine, &got), 0);
	set_cpus(~0u);
}

/* The same, as the whole case: tests/user/robust_kernel_test.c reads the
 * kill line (the registers that say why are in it). */
UTEST_EXPECT_FAULT(ufpu, an_x87_divide_by_zero_kills)
{
	divide_by_zero(true);
}

UTEST_EXPECT_FAULT(ufpu, an_sse_divide_by_zero_kills)
{
	divide_by_zero(false);
}

UTEST(ufpu, simd_exception_kills_only_its_process)
{
	fpu_exception_kills_only_its_process(false);
}

UTEST(ufpu, x87_exception_kills_only_its_process)
{
	fpu_exception_kills_only_its_process(true);
}
