/*
 * user/tests/bench_test.c - benchmarks from ring 3 (suite bench: make bench
 * boots each under -icount and reads its BENCH lines, tests/harness/
 * bench.py; make test runs them to see that they work).
 *
 * Figures are instructions per operation: under -icount the TSC counts
 * instructions, and RDTSC is allowed in ring 3. Each loop runs long enough
 * that its setup does not show.
 */
#include "helpers.h"
#include <fpu_regs.h>		/* fpu_get_info: a thread's switch count */
#include <uvm.h>

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#define NULL_CALLS 20000

/* A system call that does nothing: the way in and out, from SYSCALL to the
 * instruction after it (SYSCALL inline: the figure is the kernel's, plus
 * the loop's own three instructions, not a library wrapper's). */
UTEST(bench, syscall_null)
{
	uint64_t t0 = rdtsc();
	for (int i = 0; i < NULL_CALLS; i++) {
		long r;
		__asm__ volatile("syscall" : "=a"(r) : "a"((long)SYS_null) : "rcx", "r11", "memory");
	}
	uint64_t per = (rdtsc() - t0) / NULL_CALLS;
	UT_EXPECT(per > 0);
	UT_LOG("BENCH name=syscall.null unit=insn value=%lu iters=%d", (unsigned long)per,
	       NULL_CALLS);
}

#define YIELDS 10000

struct pair {
	volatile int ready;
	bool fpu;			/* change the vector registers each turn */
	uint64_t start[2], end[2];
};

struct pair_arg {
	struct pair *p;
	int who;
};

/* Each turn: (with fpu) put a new value in every YMM register, then yield. */
static void yielder(void *arg)
{
	struct pair_arg *a = arg;
	struct pair *p = a->p;
	__atomic_add_fetch(&p->ready, 1, __ATOMIC_SEQ_CST);
	while (p->ready < 2)
		sched_yield();
	p->start[a->who] = rdtsc();
	for (int i = 0; i < YIELDS; i++) {
		if (p->fpu)
			__asm__ volatile("vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
					 "vmovdqa %%ymm0, %%ymm1\n\tvmovdqa %%ymm0, %%ymm2\n\t"
					 "vmovdqa %%ymm0, %%ymm3\n\tvmovdqa %%ymm0, %%ymm15"
					 ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm15");
		sched_yield();
	}
	p->end[a->who] = rdtsc();
}

/* Instructions per hand-off between two threads of this process on one CPU. */
static uint64_t run_pair(bool fpu)
{
	struct pair p = { .ready = 0, .fpu = fpu };
	struct pair_arg a0 = { &p, 0 }, a1 = { &p, 1 };
	UT_ASSERT_EQ(set_cpus(1), 0);
	int t0 = uthread_create(yielder, &a0), t1 = uthread_create(yielder, &a1);
	UT_ASSERT(t0 > 0 && t1 > 0);
	UT_ASSERT_EQ(uthread_join(t0), 0);
	UT_ASSERT_EQ(uthread_join(t1), 0);
	uint64_t start = p.start[0] < p.start[1] ? p.start[0] : p.start[1];
	uint64_t end = p.end[0] > p.end[1] ? p.end[0] : p.end[1];
	return (end - start) / (2 * YIELDS);
}

UTEST(bench, user_yield)
{
	uint64_t per = run_pair(false);
	UT_EXPECT(per > 0);
	UT_LOG("BENCH name=user.yield unit=insn value=%lu iters=%d", (unsigned long)per,
	       2 * YIELDS);
}

/* Instructions per hand-off between two processes on one CPU: user.yield
 * with an address-space switch (a CR3 load, and whatever else a change of
 * process costs: the I/O permission bitmap's test, docs/user.md) at each.
 * The partner is a fork that yields forever; the loop starts once three
 * yields in a row have each let another thread run (the partner is on this
 * CPU), and each of its yields is then two hand-offs. */
UTEST(bench, user_yield_procs)
{
	UT_ASSERT_EQ(set_cpus(1), 0);
	int partner = fork();
	UT_ASSERT(partner >= 0);
	if (partner == 0) {
		set_cpus(1);
		for (;;)
			sched_yield();
	}
	ut_wait_for_partner();
	struct fpu_info a, b;
	fpu_get_info(&a);
	uint64_t t0 = rdtsc();
	for (int i = 0; i < YIELDS; i++)
		sched_yield();
	uint64_t per = (rdtsc() - t0) / (2 * YIELDS);
	fpu_get_info(&b);
	kill(partner);
	waitpid(partner, NULL);
	set_cpus(~0u);
	UT_EXPECT(b.switches - a.switches >= YIELDS);	/* each yield went to the partner */
	UT_LOG("BENCH name=user.yield_procs unit=insn value=%lu iters=%d", (unsigned long)per,
	       2 * YIELDS);
}

static bool has_avx(void)
{
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 27)) || !(c & (1u << 28)))	/* OSXSAVE, AVX */
		return false;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;				/* SSE and AVX state on */
}

UTEST(bench, user_fpu_switch)
{
	if (!has_avx())
		UT_SKIP("no AVX here (-cpu max has it)");
	uint64_t per = run_pair(true);
	UT_EXPECT(per > 0);
	UT_LOG("BENCH name=user.fpu_switch unit=insn value=%lu iters=%d", (unsigned long)per,
	       2 * YIELDS);
}

#define FORKS 50

UTEST(bench, user_fork_exit_wait)
{
	uint64_t t0 = rdtsc();
	for (int i = 0; i < FORKS; i++) {
		int pid = fork();
		if (pid == 0)
			exit(0);
		UT_ASSERT(pid > 0);
		int status;
		UT_ASSERT_EQ(waitpid(pid, &status), pid);
	}
	uint64_t per = (rdtsc() - t0) / FORKS;
	UT_LOG("BENCH name=user.fork_exit_wait unit=insn value=%lu iters=%d", (unsigned long)per,
	       FORKS);
}

#define NM_TRAPS 5000

/* #NM from ring 3: the state is put away and TS set (SYS_fpu_release), the
 * next FPU instruction traps, and the kernel finds the state still loaded:
 * it clears TS and returns. The figure is the loop with the trap less the
 * same loop without it (release, then an FPU instruction with TS clear). */
static uint64_t release_loop(bool trap)
{
	uint64_t t0 = rdtsc();
	for (int i = 0; i < NM_TRAPS; i++) {
		syscall6(trap ? SYS_fpu_release : SYS_null, 0, 0, 0, 0, 0, 0);
		__asm__ volatile("xorps %%xmm7, %%xmm7" ::: "xmm7");
	}
	return (rdtsc() - t0) / NM_TRAPS;
}

UTEST(bench, user_nm_trap)
{
	__asm__ volatile("xorps %%xmm7, %%xmm7" ::: "xmm7");	/* the state is live */
	uint64_t with = release_loop(true), without = release_loop(false);
	UT_EXPECT(with > without);
	UT_LOG("BENCH name=user.nm_trap unit=insn value=%lu iters=%d", (unsigned long)(with - without),
	       NM_TRAPS);
}

/* ---- IPC (uapi/ipc.h) ---- */

#define IPC_ROUNDS 5000

/* A server: receives, then answers each call and takes the next in one
 * trap, until told to stop (label 0). */
static void ipc_server(int ep, unsigned cpus)
{
	UT_ASSERT_EQ(set_cpus(cpus), 0);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep, 0, &m, NULL), 0);
	int err = 0;
	while (m.label && !err) {
		m.w[0]++;
		err = ipc_reply_recv(ep, 0, &m, NULL);	/* no check's call in the loop */
	}
	UT_ASSERT_EQ(err, 0);
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
	exit(utest_failed() ? 1 : 0);
}

/* Instructions per call and reply between two processes, the server on
 * server_cpus, the client on client_cpus. */
static uint64_t call_reply(unsigned client_cpus, unsigned server_cpus)
{
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0)
		ipc_server(ep, server_cpus);
	UT_ASSERT_EQ(set_cpus(client_cpus), 0);
	struct ipc_msg m = { .label = 1 };
	UT_ASSERT_EQ(ipc_call(ep, 0, &m, NULL), 0);	/* the server is up */
	uint64_t t0 = rdtsc();
	for (int i = 0; i < IPC_ROUNDS; i++) {
		m.label = 1;
		if (ipc_call(ep, 0, &m, NULL))
			break;
	}
	uint64_t per = (rdtsc() - t0) / IPC_ROUNDS;
	UT_EXPECT_EQ(m.w[0], IPC_ROUNDS + 1);		/* each call was answered */
	m.label = 0;
	UT_EXPECT_EQ(ipc_call(ep, 0, &m, NULL), 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	return per;
}

UTEST(bench, ipc_call_reply)
{
	uint64_t per = call_reply(1, 1);
	UT_LOG("BENCH name=ipc.call_reply unit=insn value=%lu iters=%d", (unsigned long)per,
	       IPC_ROUNDS);
}

UTEST_CPUS(bench, ipc_call_reply_cross_cpu, 2)
{
	uint64_t per = call_reply(1, 2);
	UT_LOG("BENCH name=ipc.call_reply_cross_cpu unit=insn value=%lu iters=%d",
	       (unsigned long)per, IPC_ROUNDS);
}

/* From a signal to the woken waiter's return, one way: two processes on
 * one CPU signal each other's notification and wait on their own, and a
 * round is two such hops. */
UTEST(bench, ipc_notify_latency)
{
	int mine = notify_create(), theirs = notify_create();
	UT_ASSERT(mine >= 0 && theirs >= 0);
	UT_ASSERT_EQ(set_cpus(1), 0);
	int pid = fork();
	UT_ASSERT(pid >= 0);
	if (pid == 0) {
		UT_ASSERT_EQ(set_cpus(1), 0);
		for (int i = 0; i <= IPC_ROUNDS; i++) {
			UT_ASSERT(notify_wait(theirs, 0, 0) > 0);
			UT_ASSERT_EQ(notify_signal(mine, 1), 0);
		}
		exit(utest_failed() ? 1 : 0);
	}
	UT_ASSERT_EQ(notify_signal(theirs, 1), 0);	/* the first round, untimed */
	UT_ASSERT(notify_wait(mine, 0, 0) > 0);
	uint64_t t0 = rdtsc();
	for (int i = 0; i < IPC_ROUNDS; i++) {
		notify_signal(theirs, 1);
		notify_wait(mine, 0, 0);
	}
	uint64_t per = (rdtsc() - t0) / (2 * IPC_ROUNDS);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	UT_LOG("BENCH name=ipc.notify_latency unit=insn value=%lu iters=%d", (unsigned long)per,
	       2 * IPC_ROUNDS);
}

/* ---- VMs driven from user space (uapi/vmm.h) ---- */

#define UVM_ROUNDS 5000

/* UVM_ROUNDS exits of `reason` to this program and back into the guest,
 * timed from the first to the last: `image` in a VM of cfg (its
 * arguments ask for the rounds and one more), which then stops with
 * `result`. */
static void user_exit_rounds(const char *name, const char *image, struct uvm_config cfg,
			     unsigned reason, unsigned result)
{
	const struct uvm_image *img = uvm_image_find(image);
	cfg.mem_size = img->mem;
	int vm = vm_create(&cfg);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests");
	UT_ASSERT(vm >= 0);
	UT_ASSERT_EQ(uvm_load(vm, img), 0);
	struct uvm_run r = { 0 };
	UT_ASSERT_EQ(vm_run(vm, 0, &r), 0);		/* the first exit */
	UT_ASSERT_EQ(r.reason, reason);
	if (reason == UVM_EXIT_IO)
		UT_ASSERT_EQ(r.port, UVM_PORT_PIO);
	uint64_t t0 = rdtsc();
	int n = 0;
	while (vm_run(vm, 0, &r) == 0 && r.reason == reason)
		n++;
	uint64_t per = (rdtsc() - t0) / UVM_ROUNDS;
	UT_EXPECT_EQ(n, UVM_ROUNDS);
	UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
	UT_EXPECT_EQ(r.result, result);
	UT_EXPECT_EQ(handle_close(vm), 0);
	UT_LOG("BENCH name=%s unit=insn value=%lu iters=%d", name, (unsigned long)per,
	       UVM_ROUNDS);
}

/* One exit to this program and back into the guest: the pio guest's OUT
 * to a port the kernel does not emulate, vm_run's return with it, and the
 * next vm_run completing it and entering again (vmm.exit_roundtrip is the
 * same round handled in the kernel). */
UTEST(bench, vmm_user_exit_roundtrip)
{
	struct uvm_config cfg = { .nvcpus = 1, .args = { UVM_ROUNDS + 1 } };
	user_exit_rounds("vmm.user_exit_roundtrip", "pio", cfg, UVM_EXIT_IO, UVM_ROUNDS + 1);
}

/* The same round for an MMIO store (mmio's ARG 4): the exit is an NPF,
 * and the kernel fetches the instruction through the guest's tables and
 * decodes it before it goes out (arch/x86_64/insn.c). */
UTEST(bench, vmm_user_mmio_roundtrip)
{
	struct uvm_config cfg = { .nvcpus = 1, .args = { 4, UVM_ROUNDS + 1 } };
	user_exit_rounds("vmm.user_mmio_roundtrip", "mmio", cfg, UVM_EXIT_MMIO, UVM_MMIO_OK);
}

/* The start of N-1 APs by INIT and SIPI, two rendezvous each, as the smp
 * guest's BSP times it (its TSC, instructions under -icount, from its
 * first INIT to the last AP's start), the APs halting between their
 * ticks; per AP and in all. */
static void init_sipi_start(int n)
{
	const struct uvm_image *img = uvm_image_find("smp");
	struct uvm_config cfg = { .nvcpus = (unsigned)n, .flags = UVM_F_APS_WAIT_SIPI,
				  .mem_size = img->mem, .args = { 1, 1 } };
	int vm = vm_create(&cfg);
	UT_ASSERT(vm >= 0);
	UT_ASSERT_EQ(uvm_load(vm, img), 0);
	static int tids[64];
	static struct ut_vcpu x[64];
	UT_ASSERT(n <= 64);
	for (int i = 0; i < n; i++) {
		x[i] = (struct ut_vcpu){ .vm = vm, .id = i };
		tids[i] = uthread_create(ut_run_vcpu, &x[i]);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < n; i++) {
		UT_ASSERT_EQ(uthread_join(tids[i]), 0);
		UT_EXPECT_EQ(x[i].err, 0);
		UT_EXPECT_EQ(UVM_RESULT_KIND(x[i].r.result), UVM_SMP_OK);
	}
	uint64_t tsc;
	UT_ASSERT_EQ(vm_memory(vm, UVM_MEM_READ, UVM_MBOX_GPA + 4 * SM_START_TSC, &tsc,
			       sizeof(tsc)), 0);
	UT_EXPECT(tsc > 0);
	UT_EXPECT_EQ(handle_close(vm), 0);
	UT_LOG("BENCH name=vmm.init_sipi_start.%d unit=insn value=%lu iters=%d", n,
	       (unsigned long)tsc, n - 1);
	UT_LOG("BENCH name=vmm.init_sipi_start_per_ap.%d unit=insn value=%lu iters=%d", n,
	       (unsigned long)(tsc / (uint64_t)(n - 1)), n - 1);
}

UTEST_CPUS(bench, vmm_init_sipi_start, 4)
{
	struct uvm_config probe = { .nvcpus = 1 };
	int vm = vm_create(&probe);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests");
	UT_ASSERT(vm >= 0);
	handle_close(vm);
	init_sipi_start(4);
	init_sipi_start(16);
	init_sipi_start(64);
}
