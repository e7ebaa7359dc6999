/*
 * tests/user/robust_kernel_test.c - the robustness cases that need the
 * kernel's side of a process (user/tests/robust_test.c has the rest).
 *
 *   - A fault's kill line: the stack-overflow cases of the robust suite,
 *     run again, must say "stack overflow" and whose guard it was; the
 *     runner only learns that their process died of a fault.
 *   - CVE-2012-0217: SYSRET to a non-canonical RIP raises #GP in ring 0,
 *     with the user's RSP loaded, on Intel CPUs; IRET to one faults in
 *     ring 0 too. No frame a user can build holds such a RIP (the last
 *     page below the hole is never mapped, thread entry points are
 *     checked), so this case builds one: it catches a user thread asleep
 *     in the kernel, pinned to this CPU, and writes a non-canonical RIP
 *     into its frame. proc_return_to_user must kill the process (status
 *     -11, one line) before the way out sees the frame; otherwise the
 *     IRETQ faults in ring 0 and the boot panics.
 *   - A fault's line names an address only where there is one.
 *   - A thread on its way out (left its process, not yet switched out for
 *     the last time) never loads the space the last thread destroyed.
 *   - An NMI in ring 0 or ring 3 harms nothing.
 *   - A kill that lands while fork, thread_create or spawn is on its way
 *     into the kernel: the call must give up (-EINTR, which the dying
 *     thread never sees) and make nothing, or the process's kill leaves a
 *     live child, program or thread behind. A hook (proc_create_hook)
 *     kills the process there, each call in turn; no user thread may be
 *     made after it.
 */
#include <ktest.h>
#include <arch.h>
#include <percpu.h>
#include <printf.h>
#include <proc.h>
#include <sched.h>
#include <smp.h>
#include <string.h>
#include <thread.h>
#include <uapi/errno.h>

#define CASE_TIMEOUT_NS 5000000000ULL

/* Runs user case `name` (utests suite.name) to its end. */
static void run_user_case(const char *name, struct proc_end *end)
{
	const char *argv[] = { "utests", name };
	int pid = proc_spawn("utests", 2, argv, NULL);
	KT_ASSERT(pid > 0);
	KT_ASSERT_EQ(proc_wait(pid, CASE_TIMEOUT_NS, end), 0);
}

KTEST(robust, stack_overflow_kill_line_names_the_guard)
{
	struct proc_end end;
	run_user_case("robust.main_stack_overflow_faults_at_the_guard", &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, "stack overflow (the guard below the first thread's stack)"));
	run_user_case("robust.thread_stack_overflow_faults_at_the_guard", &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, "stack overflow (the guard below a thread's stack)"));
	/* and a fault elsewhere does not say it */
	run_user_case("robust.reading_kernel_memory_kills", &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(end.fault[0] && !strstr(end.fault, "stack overflow"));
}

/* The kill line gives an address where the fault has one (a page fault's
 * CR2) and none where it has not: "at 0x0" after a #UD would send a
 * student looking for a NULL pointer. */
KTEST(robust, kill_line_gives_an_address_only_for_a_fault_that_has_one)
{
	struct proc_end end;
	run_user_case("robust.reading_kernel_memory_kills", &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, "page fault (#PF) (read outside user space, protection violation) "
				    "at 0x100000, rip 0x"));
	run_user_case("robust.an_invalid_opcode_kills", &end);
	KT_EXPECT_EQ(end.status, WAIT_ILL);
	KT_EXPECT(strstr(end.fault, "invalid opcode"));
	KT_EXPECT(strstr(end.fault, "rip 0x"));
	KT_EXPECT(!strstr(end.fault, " at 0x"));
	if (strstr(end.fault, " at 0x"))
		KT_LOG("the line: %s", end.fault);
}

/* #MF and #XM from ring 3: one line, proc_fault's, with the FPU registers
 * that say why folded in (there used to be an "fpu:" line before it). */
KTEST(robust, fpu_exception_kill_line_carries_the_registers)
{
	struct proc_end end;
	run_user_case("ufpu.an_x87_divide_by_zero_kills", &end);
	KT_EXPECT_EQ(end.status, WAIT_FPE);
	KT_EXPECT(strstr(end.fault, "(#MF) (x87 floating-point exception: divide by zero; FSW 0x"));
	KT_EXPECT(strstr(end.fault, "FCW 0x"));
	run_user_case("ufpu.an_sse_divide_by_zero_kills", &end);
	KT_EXPECT_EQ(end.status, WAIT_FPE);
	KT_EXPECT(strstr(end.fault, "(#XM) (SIMD floating-point exception: divide by zero; MXCSR 0x"));
	KT_LOG("%s", end.fault);
}

/*
 * A thread that has left its process (no longer counted live) may still be
 * switched in and out before its thread_exit, a tick's preemption say,
 * while the last thread destroys the space. If it still named the space,
 * schedule() would load freed page tables. The hook holds that window
 * open for 20 ms: with the space left before the count drops, the process
 * ends with its code; without, aspace_activate panics (or, before that
 * check, the CPU hung on a poisoned CR3).
 */
KTEST(robust, a_thread_on_its_way_out_never_loads_a_destroyed_space)
{
	struct proc_end end;
	proc_test_leave_delay_ns = 20000000;
	run_user_case("process.a_thread_leaving_as_the_last_ends_the_process", &end);
	proc_test_leave_delay_ns = 0;
	KT_EXPECT_EQ(end.status, 0);
	KT_EXPECT_EQ(end.utest_verdict, UTEST_PASS);	/* its child ended with 7 */
	KT_EXPECT_EQ(end.fault[0], '\0');
}

#define NONCANONICAL_RIP 0x0000800000000000UL	/* the first address of the hole */

/* Starts the pinning case and, while its thread is pinned to this CPU
 * and off it, gives its frame a non-canonical RIP. Returns whether it
 * caught the thread (it may miss it: the case pins itself for 10 ms);
 * *end says how the process ended. */
static bool catch_and_patch(struct proc_end *end)
{
	const char *argv[] = { "utests", "process.set_cpus_keeps_a_thread_on_its_cpu" };
	int pid = proc_spawn("utests", 2, argv, NULL);
	KT_ASSERT(pid > 0);
	struct thread *t = NULL;
	bool patched = false;
	uint64_t deadline = clock_ns() + CASE_TIMEOUT_NS;
	while (!patched && clock_ns() < deadline) {
		if (!t)
			t = proc_first_thread(pid);
		kpreempt_disable();
		/* pinned here and off its CPU: it cannot run until we let it */
		if (t && !t->exited && t->cpus_allowed == 1u && !t->on_cpu) {
			struct trap_frame *tf = arch_user_frame(t);
			KT_EXPECT(arch_uregs_pc_canonical(tf));
			arch_uregs_set_pc(tf, NONCANONICAL_RIP);
			patched = true;
		}
		kpreempt_enable();
		if (t && t->exited)
			break;		/* missed: the case ran to its end */
		thread_yield();
	}
	if (t)
		thread_rele(t);
	KT_ASSERT_EQ(proc_wait(pid, CASE_TIMEOUT_NS, end), 0);
	return patched;
}

KTEST(robust, noncanonical_return_address_kills_before_sysret)
{
	thread_bind(0);
	struct proc_end end;
	bool patched = false;
	for (int tries = 0; tries < 3 && !patched; tries++)
		patched = catch_and_patch(&end);
	thread_bind(-1);
	KT_ASSERT(patched);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, "return to a non-canonical address at 0x800000000000"));
}

/*
 * NMIs: nothing in the kernel sends one but these tests, and whatever the
 * ring they land in, they must harm nothing (trap.c, ist_dispatch: they
 * never sleep or schedule on the NMI's stack).
 */

static uint64_t nmis_from_user(void)
{
	uint64_t n = 0;
	for (int i = 0; i < cpu_count(); i++)
		n += __atomic_load_n(&cpus[i].nmis_from_user, __ATOMIC_RELAXED);
	return n;
}

/* One to this CPU, in ring 0: counted, logged, ignored (it used to be an
 * unexpected trap, and a panic). */
KTEST(robust, an_nmi_in_ring_0_is_counted_and_ignored)
{
	kpreempt_disable();
	uint64_t before = this_cpu()->nmis;
	smp_send_nmi(cpu_id());
	for (int i = 0; i < 1000000 && this_cpu()->nmis == before; i++)
		arch_cpu_relax();
	KT_EXPECT_EQ(this_cpu()->nmis, before + 1);
	kpreempt_enable();
}

/* NMIs to the CPU where `spin` runs, until one lands in ring 3: the
 * process must not be killed for it (it was, as a bad memory access). */
KTEST_CPUS(robust, an_nmi_in_ring_3_leaves_the_process_alone, 2)
{
	const char *argv[] = { "spin", "400" };
	int pid = proc_spawn("spin", 2, argv, NULL);
	KT_ASSERT(pid > 0);
	uint64_t base = nmis_from_user(), sent = 0;
	uint64_t deadline = clock_ns() + 300000000ULL;
	struct thread *t = NULL;
	while (nmis_from_user() == base && clock_ns() < deadline) {
		if (!t)
			t = proc_first_thread(pid);
		int cpu = t ? __atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE) : -1;
		if (t && t->on_cpu && cpu != cpu_id()) {
			smp_send_nmi(cpu);
			sent++;
		}
		thread_sleep(1000000);
	}
	if (t)
		thread_rele(t);
	uint64_t landed = nmis_from_user() - base;
	KT_LOG("%lu NMI(s) sent to spin's CPU; %lu landed in ring 3", sent, landed);
	KT_EXPECT(landed > 0);
	struct proc_end end;
	KT_ASSERT_EQ(proc_wait(pid, CASE_TIMEOUT_NS, &end), 0);
	KT_EXPECT_EQ(end.status, 0);
	KT_EXPECT_EQ(end.fault[0], '\0');
}

/* ---- a kill on the way into a call that makes things ---- */

static int kill_at;			/* the call (1: fork, 2: thread, 3: spawn) */
static int calls;
static volatile bool killed_on_the_way;
static int made_after_kill;

static void kill_on_the_way_in(void)
{
	if (++calls == kill_at) {
		KT_EXPECT_EQ(proc_kill(curproc->pid), 0);
		killed_on_the_way = true;
	}
}

static void count_user_threads(struct thread *t)
{
	if (killed_on_the_way && (t->flags & THREAD_USER))
		__atomic_add_fetch(&made_after_kill, 1, __ATOMIC_RELAXED);
}

KTEST(robust, a_kill_on_the_way_into_fork_thread_create_or_spawn_makes_nothing)
{
	static const char *const what[] = { "", "fork", "thread_create", "spawn" };
	for (kill_at = 1; kill_at <= 3; kill_at++) {
		int procs = proc_count();
		calls = 0;
		made_after_kill = 0;
		killed_on_the_way = false;
		thread_register_hook = count_user_threads;
		proc_create_hook = kill_on_the_way_in;
		struct proc_end end;
		run_user_case("robust.fork_thread_create_and_spawn_each_work", &end);
		proc_create_hook = NULL;
		thread_register_hook = NULL;
		KT_EXPECT(killed_on_the_way);
		KT_EXPECT_EQ(end.status, WAIT_KILLED);
		KT_EXPECT_EQ(made_after_kill, 0);
		if (made_after_kill)
			KT_LOG("a kill on the way into %s: %d user threads made after it",
			       what[kill_at], made_after_kill);
		/* and nothing outlives it (an orphan goes to the reaper) */
		for (int i = 0; i < 1000 && proc_count() != procs; i++)
			thread_sleep(1000000);
		KT_EXPECT_EQ(proc_count(), procs);
	}
}
