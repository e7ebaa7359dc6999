/*
 * user/tests/ioport_test.c - I/O ports from ring 3 (docs/user.md, "I/O
 * ports"): the TSS I/O permission bitmap, switched with the process.
 *
 * What is asserted:
 *   - without a grant every IN, OUT, INS and OUTS kills the process, and
 *     IOPL stays 0 (CLI faults, POPF cannot raise it), so the bitmap is
 *     the only way to a port;
 *   - a process the kernel grants ports (UTEST_PORTS: the runner starts it
 *     as it would a driver) can use exactly those: COM1's scratch register
 *     keeps what it writes, one port past either end kills;
 *   - a fork inherits them, a thread shares them, a drop takes them away
 *     from every thread, a spawned program starts with none, a holder
 *     gives them to its own child only, and a process never gives itself
 *     any; bad ranges are -EINVAL, a caller without the right -EPERM;
 *   - on one CPU, a process with ports and one without take turns: the
 *     one keeps its ports at every turn, the other never has them, and a
 *     new process never finds a dead one's; with several CPUs, a drop or
 *     a give reaches a thread running on another CPU before it returns;
 *   - the bitmap costs nothing between processes without ports, is turned
 *     on and off (not rewritten) between a process with ports and one
 *     without, and rewritten only when the ports differ (sysinfo's
 *     counters).
 * The kill line's words are tests/ioport/kernel_test.c's.
 */
#include "helpers.h"
#include <fpu_regs.h>		/* fpu_get_info: the calling thread's switches */

#define MS 1000000UL

#define POST        0x80	/* the POST code port: safe to read and write */
#define COM1        0x3F8	/* the console's UART, eight ports */
#define COM1_PORTS  8
#define COM1_SCR    (COM1 + 7)	/* its scratch register: holds a byte, does nothing */
#define UNUSED_PORT 0xBEE0	/* nothing of QEMU's PC answers there */

#define RFLAGS_IOPL (3UL << 12)

static unsigned long rflags(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

static int ncpus(void)
{
	struct sysinfo si;
	ut_sysinfo(&si);
	return (int)si.ncpus;
}

static void iobitmap_counts(unsigned long *rewrites, unsigned long *toggles)
{
	struct sysinfo si;
	ut_sysinfo(&si);
	*rewrites = si.iobitmap_rewrites;
	*toggles = si.iobitmap_toggles;
}

/* ---- without a grant ---- */

UTEST_EXPECT_FAULT(ioport, inb_from_the_post_port_without_a_grant_kills)
{
	(void)inb(POST);
}

UTEST_EXPECT_FAULT(ioport, outb_to_com1_without_a_grant_kills)
{
	outb(COM1, '!');
}

UTEST_EXPECT_FAULT(ioport, inw_from_an_unused_port_without_a_grant_kills)
{
	uint16_t v;
	__asm__ volatile("inw %%dx, %%ax" : "=a"(v) : "d"(UNUSED_PORT));
}

UTEST_EXPECT_FAULT(ioport, rep_outsb_without_a_grant_kills)
{
	static const char bytes[4] = "abc";
	const char *p = bytes;
	unsigned long n = sizeof(bytes);
	__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(POST) : "memory");
}

/* Run by tests/ioport/kernel_test.c with COM1's eight ports as well (its
 * kill line): a word from the last of them needs one port more. */
UTEST_EXPECT_FAULT(ioport, inw_at_the_last_port_of_com1_kills)
{
	uint16_t v;
	__asm__ volatile("inw %%dx, %%ax" : "=a"(v) : "d"(COM1 + 7));
}

/* The same: with the port held, the #GP is the memory operand's (a
 * non-canonical RSI), and the kill line must not blame the port. */
UTEST_EXPECT_FAULT(ioport, outsb_from_a_bad_address_kills)
{
	const char *p = (const char *)0x8000000000000000UL;
	unsigned long n = 1;
	__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(COM1 + 7) : "memory");
}

/* CLI in ring 3 is allowed only with IOPL 3, which would open every port
 * as well: it must fault. */
UTEST_EXPECT_FAULT(ioport, cli_faults_iopl_is_0)
{
	__asm__ volatile("cli");
}

static void iopl_in_a_thread(void *arg)
{
	*(unsigned long *)arg = rflags();
}

static void iopl_in_a_child(void *arg)
{
	(void)arg;
	UT_EXPECT_EQ(rflags() & RFLAGS_IOPL, 0);
}

UTEST(ioport, iopl_is_0_at_every_way_back_to_ring3_and_popf_cannot_raise_it)
{
	UT_EXPECT_EQ(rflags() & RFLAGS_IOPL, 0);
	(void)getpid();				/* SYSRET */
	UT_EXPECT_EQ(rflags() & RFLAGS_IOPL, 0);
	ut_spin_ns(30 * MS);			/* ticks: IRET from an interrupt */
	UT_EXPECT_EQ(rflags() & RFLAGS_IOPL, 0);
	sched_yield();
	UT_EXPECT_EQ(rflags() & RFLAGS_IOPL, 0);
	unsigned long f = ~0UL;
	int tid = uthread_create(iopl_in_a_thread, &f);
	UT_ASSERT(tid > 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(f & RFLAGS_IOPL, 0);
	UT_EXPECT_EQ(ut_child(iopl_in_a_child, NULL), 0);
	/* POPF at CPL 3 leaves IOPL as it was (SDM vol. 2, POPF) */
	unsigned long want = rflags() | RFLAGS_IOPL;
	__asm__ volatile("pushq %0; popfq" ::"r"(want) : "cc");
	UT_EXPECT_EQ(rflags() & RFLAGS_IOPL, 0);
}

UTEST(ioport, a_process_without_a_grant_holds_no_ports)
{
	UT_EXPECT_EQ(ioport_query(POST, 1), 0);
	UT_EXPECT_EQ(ioport_query(COM1, COM1_PORTS), 0);
	UT_EXPECT_EQ(ioport_query(0, IOPORT_LIMIT), 0);
	UT_EXPECT_EQ(ioport_drop(0, IOPORT_LIMIT), 0);	/* nothing to give up */
}

UTEST(ioport, bad_ranges_and_ops_are_einval)
{
	UT_EXPECT_EQ(ioport_query(POST, 0), -EINVAL);
	UT_EXPECT_EQ(ioport_query(IOPORT_LIMIT, 1), -EINVAL);
	UT_EXPECT_EQ(ioport_query(IOPORT_LIMIT - 1, 2), -EINVAL);
	UT_EXPECT_EQ(ioport_query(1, IOPORT_LIMIT), -EINVAL);
	UT_EXPECT_EQ(ioport_drop(POST, 0), -EINVAL);
	UT_EXPECT_EQ(ioport_drop(IOPORT_LIMIT, 1), -EINVAL);
	UT_EXPECT_EQ(ioport_give(getpid(), POST, 0), -EINVAL);	/* the range first */
	/* as the raw call sees them: 64-bit values, negative ones */
	UT_EXPECT_EQ(syscall6(SYS_ioport, IOPORT_QUERY, -1, 1, 0, 0, 0), -EINVAL);
	UT_EXPECT_EQ(syscall6(SYS_ioport, IOPORT_QUERY, POST, -1, 0, 0, 0), -EINVAL);
	UT_EXPECT_EQ(syscall6(SYS_ioport, IOPORT_DROP, 1L << 40, 1, 0, 0, 0), -EINVAL);
	UT_EXPECT_EQ(syscall6(SYS_ioport, IOPORT_QUERY, POST, (1L << 32) + 1, 0, 0, 0), -EINVAL);
	UT_EXPECT_EQ(syscall6(SYS_ioport, IOPORT_GIVE, 1, POST, 1L << 33, 0, 0), -EINVAL);
	UT_EXPECT_EQ(syscall6(SYS_ioport, 3, POST, 1, 0, 0, 0), -EINVAL);
	UT_EXPECT_EQ(syscall6(SYS_ioport, -1, POST, 1, 0, 0, 0), -EINVAL);
}

static void yield_forever(void *arg)
{
	(void)arg;
	for (;;)
		sched_yield();
}

UTEST(ioport, a_process_without_the_ports_may_not_give_them)
{
	int child = ut_fork(yield_forever, NULL);
	UT_EXPECT_EQ(ioport_give(child, POST, 1), -EPERM);
	UT_EXPECT_EQ(ioport_give(getpid(), POST, 1), -EPERM);
	UT_EXPECT_EQ(ioport_give(1 << 30, POST, 1), -EPERM);	/* lacking them comes first */
	kill(child);
	waitpid(child, NULL);
}

/* ---- with a grant ---- */

UTEST_PORTS(ioport, the_granted_post_port_can_be_written_and_read, POST, 1)
{
	UT_EXPECT_EQ(ioport_query(POST, 1), 1);
	UT_EXPECT_EQ(ioport_query(POST, 2), 0);
	UT_EXPECT_EQ(ioport_query(POST - 1, 1), 0);
	outb(POST, 0x42);
	(void)inb(POST);
}

UTEST_PORTS(ioport, the_com1_scratch_register_keeps_what_is_written, COM1, COM1_PORTS)
{
	UT_EXPECT_EQ(ioport_query(COM1, COM1_PORTS), 1);
	static const uint8_t values[] = { 0x00, 0x5A, 0xA5, 0xFF, 0x3C };
	for (unsigned i = 0; i < sizeof(values); i++) {
		outb(COM1_SCR, values[i]);
		UT_EXPECT_EQ(inb(COM1_SCR), values[i]);
	}
}

static void touch(void *arg)
{
	(void)inb((uint16_t)(unsigned long)arg);
}

static void touch_word(void *arg)
{
	uint16_t v;
	__asm__ volatile("inw %%dx, %%ax" : "=a"(v) : "d"((uint16_t)(unsigned long)arg));
}

UTEST_PORTS(ioport, one_port_past_either_end_of_the_grant_kills, COM1, COM1_PORTS)
{
	UT_EXPECT_EQ(ut_child(touch, (void *)(unsigned long)COM1_SCR), 0);	/* the last: fine */
	UT_EXPECT_EQ(ut_child(touch, (void *)(unsigned long)COM1), 0);		/* the first */
	UT_EXPECT_EQ(ut_child(touch, (void *)(unsigned long)(COM1 + COM1_PORTS)), WAIT_SEGV);
	UT_EXPECT_EQ(ut_child(touch, (void *)(unsigned long)(COM1 - 1)), WAIT_SEGV);
	/* a word at the last port is the last port and the one after it */
	UT_EXPECT_EQ(ut_child(touch_word, (void *)(unsigned long)COM1_SCR), WAIT_SEGV);
	UT_EXPECT_EQ(ut_child(touch_word, (void *)(unsigned long)(COM1 + 6)), 0);
}

static void child_drops_its_own(void *arg)
{
	(void)arg;
	UT_EXPECT_EQ(ioport_query(POST, 1), 1);	/* inherited */
	outb(POST, 1);
	UT_EXPECT_EQ(ioport_drop(POST, 1), 0);
	UT_EXPECT_EQ(ioport_query(POST, 1), 0);
}

static void child_drops_then_touches(void *arg)
{
	(void)arg;
	outb(POST, 2);
	ioport_drop(POST, 1);
	outb(POST, 3);			/* must not come back */
}

UTEST_PORTS(ioport, a_fork_inherits_the_ports_and_its_drop_is_its_own, POST, 1)
{
	UT_EXPECT_EQ(ut_child(child_drops_its_own, NULL), 0);
	UT_EXPECT_EQ(ut_child(child_drops_then_touches, NULL), WAIT_SEGV);
	UT_EXPECT_EQ(ioport_query(POST, 1), 1);	/* the parent's are its own */
	outb(POST, 4);
}

struct thread_touch {
	volatile int dropped;
};

static void touch_after_the_drop(void *arg)
{
	struct thread_touch *t = arg;
	while (!t->dropped)
		sched_yield();
	UT_EXPECT_EQ(ioport_query(COM1_SCR, 1), 0);	/* the process's, not the thread's */
	(void)inb(COM1_SCR);				/* kills the process */
}

static void drop_under_a_thread(void *arg)
{
	(void)arg;
	struct thread_touch t = { 0 };
	int tid = uthread_create(touch_after_the_drop, &t);
	UT_ASSERT(tid > 0);
	UT_ASSERT_EQ(ioport_drop(COM1_SCR, 1), 0);
	t.dropped = 1;
	uthread_join(tid);
	exit(0);			/* the thread's inb should have ended us */
}

static void shared_scratch(void *arg)
{
	volatile uint8_t *got = arg;
	*got = inb(COM1_SCR);
}

UTEST_PORTS(ioport, threads_share_the_ports_and_a_drop, COM1, COM1_PORTS)
{
	outb(COM1_SCR, 0x77);
	volatile uint8_t got = 0;
	int tid = uthread_create(shared_scratch, (void *)&got);
	UT_ASSERT(tid > 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(got, 0x77);
	UT_EXPECT_EQ(ut_child(drop_under_a_thread, NULL), WAIT_SEGV);
	/* a hole: two ranges left */
	UT_ASSERT_EQ(ioport_drop(COM1 + 3, 1), 0);
	UT_EXPECT_EQ(ioport_query(COM1, 3), 1);
	UT_EXPECT_EQ(ioport_query(COM1 + 4, 4), 1);
	UT_EXPECT_EQ(ioport_query(COM1, COM1_PORTS), 0);
	outb(COM1_SCR, 0x11);
	UT_EXPECT_EQ(inb(COM1_SCR), 0x11);
}

UTEST_PORTS(ioport, a_spawned_program_starts_without_ports, COM1, COM1_PORTS)
{
	/* the case runs outb(COM1) and must be killed for it */
	const char *argv[] = { "utests", "ioport.outb_to_com1_without_a_grant_kills", NULL };
	int pid = spawn("utests", argv);
	UT_ASSERT(pid > 0);
	int status = 0;
	UT_ASSERT_EQ(waitpid(pid, &status), pid);
	UT_EXPECT_EQ(status, WAIT_SEGV);
}

/* A child says "done" to its parent, which shares no memory with it, by
 * making two threads (that sleep until the child ends): the parent sees
 * the threads counted go up by three, the child's first and these two,
 * more than the child and one child of its own make. */
#define READY_THREADS 3

static void nap(void *arg)
{
	(void)arg;
	sleep_ns(60000 * MS);
}

static void say_ready(void)
{
	UT_ASSERT(uthread_create(nap, NULL) > 0);
	UT_ASSERT(uthread_create(nap, NULL) > 0);
}

static unsigned long count_threads(void)
{
	struct sysinfo si;
	ut_sysinfo(&si);
	return si.threads;
}

static void wait_ready(unsigned long threads_before)
{
	unsigned long deadline = clock_ns() + 2000 * MS;
	while (count_threads() < threads_before + READY_THREADS && clock_ns() < deadline)
		sleep_ns(MS);
	UT_ASSERT(count_threads() >= threads_before + READY_THREADS);
}

static void wait_for_ports(void *arg)
{
	(void)arg;
	UT_ASSERT_EQ(ioport_drop(0, IOPORT_LIMIT), 0);
	say_ready();
	unsigned long deadline = clock_ns() + 2000 * MS;
	while (ioport_query(COM1_SCR, 1) != 1 && clock_ns() < deadline)
		sched_yield();
	/* the give has reached this CPU by the time the kernel says so */
	outb(COM1_SCR, 0x99);
	UT_EXPECT_EQ(inb(COM1_SCR), 0x99);
	UT_EXPECT_EQ(ioport_query(COM1, 1), 0);		/* only what was given */
}

/* A child of the case's: holds COM1's ports too (a fork), makes a child
 * of its own and passes on only what it holds. */
static void pass_on(void *arg)
{
	(void)arg;
	int grandchild = ut_fork(yield_forever, NULL);
	UT_ASSERT_EQ(ioport_drop(COM1, COM1_PORTS - 1), 0);	/* the scratch register only */
	UT_EXPECT_EQ(ioport_give(grandchild, COM1, COM1_PORTS), -EPERM);
	UT_EXPECT_EQ(ioport_give(grandchild, COM1_SCR, 1), 0);
	kill(grandchild);
	waitpid(grandchild, NULL);
}

/* Two generations below the caller, the second yielding until killed. */
static void child_and_grandchild(void *arg)
{
	(void)arg;
	ut_fork(yield_forever, NULL);
	yield_forever(NULL);
}

UTEST_PORTS(ioport, a_holder_gives_ports_to_its_own_child_only, COM1, COM1_PORTS)
{
	struct sysinfo si;
	unsigned long threads = count_threads();
	int child = ut_fork(wait_for_ports, NULL);
	wait_ready(threads);		/* it has dropped its own */
	UT_EXPECT_EQ(ioport_give(child, POST, 1), -EPERM);	/* not the caller's */
	UT_EXPECT_EQ(ioport_give(getpid(), COM1, 1), -EPERM);	/* itself */
	UT_EXPECT_EQ(ioport_give(1 << 30, COM1, 1), -ESRCH);
	UT_EXPECT_EQ(ioport_give(child, COM1_SCR, 1), 0);
	int status = -1;
	UT_ASSERT_EQ(waitpid(child, &status), child);
	UT_EXPECT_EQ(status, 0);

	/* an ended child (a zombie until the wait) takes none */
	threads = count_threads();
	int zombie = fork();
	if (zombie == 0)
		exit(0);
	UT_ASSERT(zombie > 0);
	for (unsigned long deadline = clock_ns() + 2000 * MS; clock_ns() < deadline;) {
		if (count_threads() == threads)
			break;		/* its thread has ended */
		sleep_ns(MS);
	}
	UT_EXPECT_EQ(ioport_give(zombie, COM1, 1), -ESRCH);
	waitpid(zombie, NULL);

	/* a grandchild is not the caller's child (pids come in order: it is
	 * the one after its parent, once both exist) */
	ut_sysinfo(&si);
	unsigned long procs = si.procs;
	child = ut_fork(child_and_grandchild, NULL);
	UT_ASSERT(ut_settle(procs + 2, 2000 * MS, &si));
	UT_EXPECT_EQ(ioport_give(child + 1, COM1, 1), -EPERM);
	UT_EXPECT_EQ(kill(child + 1), 0);
	UT_EXPECT_EQ(kill(child), 0);
	waitpid(child, NULL);
	/* and its parent may give it what it holds */
	UT_EXPECT_EQ(ut_child(pass_on, NULL), 0);
}

/* ---- the switch, on one CPU ---- */

struct partner {
	int cpu;
	unsigned drop_base, drop_count;	/* what it gives up first (count 0: nothing) */
};

static void partner_main(void *arg)
{
	struct partner *p = arg;
	set_cpus(1u << p->cpu);
	if (p->drop_count)
		UT_ASSERT_EQ(ioport_drop(p->drop_base, p->drop_count), 0);
	yield_forever(NULL);
}

/* A child on `cpu` (as the caller must be) that drops ports first and
 * then yields until it is killed; returns once it takes turns with the
 * caller. */
static int start_partner(int cpu, unsigned drop_base, unsigned drop_count)
{
	struct partner p = { cpu, drop_base, drop_count };
	int pid = ut_fork(partner_main, &p);
	ut_wait_for_partner();
	return pid;
}

static void stop_partner(int pid)
{
	kill(pid);
	waitpid(pid, NULL);
}

#define TURNS 100

/* TURNS yields to a partner; *switches: how many let it run. */
static void take_turns(unsigned long *rewrites, unsigned long *toggles, unsigned long *switches)
{
	struct fpu_info a, b;
	unsigned long r0, t0;
	fpu_get_info(&a);
	iobitmap_counts(&r0, &t0);
	for (int i = 0; i < TURNS; i++)
		sched_yield();
	iobitmap_counts(rewrites, toggles);
	fpu_get_info(&b);
	*rewrites -= r0;
	*toggles -= t0;
	*switches = b.switches - a.switches;
}

UTEST(ioport, processes_without_ports_switch_without_touching_the_bitmap)
{
	int cpu = ncpus() - 1;
	set_cpus(1u << cpu);
	int partner = start_partner(cpu, 0, 0);
	unsigned long rewrites, toggles, switches;
	take_turns(&rewrites, &toggles, &switches);
	stop_partner(partner);
	set_cpus(~0u);
	UT_EXPECT(switches >= TURNS);
	UT_EXPECT_EQ(rewrites, 0);
	UT_EXPECT_EQ(toggles, 0);
}

UTEST_PORTS(ioport, the_bitmap_is_switched_only_as_far_as_the_ports_differ, COM1, COM1_PORTS)
{
	int cpu = ncpus() - 1;
	set_cpus(1u << cpu);
	unsigned long rewrites, toggles, switches;

	/* with one that has none: turned off and on at each turn, never rewritten */
	int partner = start_partner(cpu, 0, IOPORT_LIMIT);
	take_turns(&rewrites, &toggles, &switches);
	stop_partner(partner);
	UT_EXPECT(switches >= TURNS);
	UT_EXPECT(toggles >= 2 * TURNS - 2);
	UT_EXPECT(rewrites <= 1);
	UT_LOG("no ports: %lu switches, %lu toggles, %lu rewrites", switches, toggles, rewrites);

	/* with one that has other ports: rewritten at each turn, always on */
	partner = start_partner(cpu, COM1_SCR, 1);
	take_turns(&rewrites, &toggles, &switches);
	stop_partner(partner);
	UT_EXPECT(switches >= TURNS);
	UT_EXPECT(rewrites >= 2 * TURNS - 2);
	UT_EXPECT_EQ(toggles, 0);
	UT_LOG("other ports: %lu switches, %lu toggles, %lu rewrites", switches, toggles, rewrites);

	/* with a fork that has the same ports: nothing to do */
	partner = start_partner(cpu, 0, 0);
	take_turns(&rewrites, &toggles, &switches);
	stop_partner(partner);
	UT_EXPECT(switches >= TURNS);
	UT_EXPECT(rewrites <= 1);
	UT_EXPECT_EQ(toggles, 0);
	set_cpus(~0u);
}

struct prober {
	int cpu;
	int yields;			/* turns before it tries the port */
};

static void prober_main(void *arg)
{
	struct prober *p = arg;
	set_cpus(1u << p->cpu);
	UT_ASSERT_EQ(ioport_drop(0, IOPORT_LIMIT), 0);
	for (int i = 0; i < 3 + p->yields; i++)	/* 3: the holder's ut_wait_for_partner */
		sched_yield();
	(void)inb(COM1_SCR);		/* right after the holder's turn: must fault */
}

#define PROBERS 6

/*
 * A holder and a process without ports on one CPU: the holder writes and
 * reads the scratch register at every turn (its bitmap came back), the
 * other tries it after 0, 1, 3, ... turns, each time just after the
 * holder's turn (a bitmap left on would let it through).
 */
UTEST_PORTS(ioport, a_holder_and_a_process_without_ports_take_turns_on_one_cpu, COM1,
	    COM1_PORTS)
{
	int cpu = ncpus() - 1;
	set_cpus(1u << cpu);
	int wrong = 0, turns = 0;
	struct fpu_info a, b;
	fpu_get_info(&a);
	for (int n = 0; n < PROBERS; n++) {
		struct prober p = { cpu, n * n };
		int pid = ut_fork(prober_main, &p);
		ut_wait_for_partner();
		for (int i = 0; i < n * n + 4; i++, turns++) {
			outb(COM1_SCR, (uint8_t)turns);
			sched_yield();
			wrong += inb(COM1_SCR) != (uint8_t)turns;
		}
		int status = 0;
		UT_ASSERT_EQ(waitpid(pid, &status), pid);
		UT_EXPECT_EQ(status, WAIT_SEGV);
	}
	fpu_get_info(&b);
	set_cpus(~0u);
	UT_EXPECT_EQ(wrong, 0);
	UT_EXPECT(b.switches - a.switches >= 20);	/* they did take turns */
}

struct probe {
	int cpu;
	uint16_t port;
};

#define COM1_LSR (COM1 + 5)	/* line status: reading it changes nothing we use */

/* On the CPU, with the ports it had from its first instruction (a
 * fork's): uses the port and ends, or is killed for it. */
static void use_port(void *arg)
{
	struct probe *p = arg;
	set_cpus(1u << p->cpu);
	if (p->port == COM1_SCR) {
		outb(p->port, 0xAB);
		UT_EXPECT_EQ(inb(p->port), 0xAB);
	} else {
		(void)inb(p->port);
	}
}

static void holder_then_newcomers(void *arg)
{
	int cpu = *(int *)arg;
	struct probe scr = { cpu, COM1_SCR }, lsr = { cpu, COM1_LSR };
	UT_EXPECT_EQ(ut_child(use_port, &scr), 0);		/* holds all eight */
	UT_ASSERT_EQ(ioport_drop(COM1_SCR, 1), 0);		/* its children start without it */
	UT_EXPECT_EQ(ut_child(use_port, &scr), WAIT_SEGV);	/* other ports than the dead one's */
	UT_EXPECT_EQ(ut_child(use_port, &lsr), 0);		/* which it may use */
	UT_ASSERT_EQ(ioport_drop(0, IOPORT_LIMIT), 0);
	UT_EXPECT_EQ(ut_child(use_port, &lsr), WAIT_SEGV);	/* none */
}

/* A process that held ports ends; the next on that CPU, one with other
 * ports (its space may well be the dead one's memory) and one with none,
 * must not find the dead one's open. */
UTEST_PORTS(ioport, a_new_process_never_finds_a_dead_ones_ports, COM1, COM1_PORTS)
{
	int cpu = ncpus() - 1;
	for (int round = 0; round < 4; round++)
		UT_EXPECT_EQ(ut_child(holder_then_newcomers, &cpu), 0);
}

/* ---- across CPUs ---- */

struct spinner {
	int cpu;
	volatile unsigned long writes;
};

static void spin_on_the_port(void *arg)
{
	struct spinner *s = arg;
	set_cpus(1u << s->cpu);
	for (;;) {
		outb(COM1_SCR, (uint8_t)s->writes);
		s->writes++;
	}
}

static void drop_while_another_cpu_uses_it(void *arg)
{
	(void)arg;
	struct spinner s = { 0, 0 };
	set_cpus(1u << 1);
	UT_ASSERT(uthread_create(spin_on_the_port, &s) > 0);
	unsigned long deadline = clock_ns() + 2000 * MS;
	while (s.writes < 1000 && clock_ns() < deadline)
		;
	UT_ASSERT(s.writes >= 1000);	/* it runs, on CPU 0, in ring 3 */
	UT_ASSERT_EQ(ioport_drop(COM1_SCR, 1), 0);
	/* CPU 0's bitmap changed before the drop returned: the spinner's
	 * next OUT faults (one may have been done, not yet counted), and the
	 * process dies while this waits. Any more writes, or no death in 2 s,
	 * and it exits 0: the case fails. */
	unsigned long seen = s.writes;
	deadline = clock_ns() + 2000 * MS;
	while (s.writes <= seen + 1 && clock_ns() < deadline)
		;
	exit(0);
}

UTEST_PORTS(ioport, a_drop_reaches_a_thread_running_on_another_cpu, COM1, COM1_PORTS)
{
	if (ncpus() < 2)
		UT_SKIP("needs two CPUs (the smp4 row has four)");
	UT_EXPECT_EQ(ut_child(drop_while_another_cpu_uses_it, NULL), WAIT_SEGV);
}

static void use_when_given(void *arg)
{
	(void)arg;
	set_cpus(1u << 0);
	UT_ASSERT_EQ(ioport_drop(0, IOPORT_LIMIT), 0);
	/* CPU 0's bitmap is off now, by any way there is: a process without
	 * ports has just been killed there for trying (and this one came
	 * back to CPU 0 after it, with no ports either) */
	struct probe p = { 0, COM1_SCR };
	UT_ASSERT_EQ(ut_child(use_port, &p), WAIT_SEGV);
	say_ready();
	unsigned long deadline = clock_ns() + 2000 * MS;
	/* system calls only: nothing here makes this CPU load another space
	 * (the napping thread is this process's, and it sleeps) */
	while (ioport_query(COM1_SCR, 1) != 1 && clock_ns() < deadline)
		;
	outb(COM1_SCR, 0x5C);
	UT_EXPECT_EQ(inb(COM1_SCR), 0x5C);
}

UTEST_PORTS(ioport, a_give_reaches_a_child_running_on_another_cpu, COM1, COM1_PORTS)
{
	if (ncpus() < 2)
		UT_SKIP("needs two CPUs (the smp4 row has four)");
	set_cpus(1u << 1);
	unsigned long threads = count_threads();
	int child = ut_fork(use_when_given, NULL);
	wait_ready(threads);		/* it is on CPU 0, without ports, polling */
	UT_EXPECT_EQ(ioport_give(child, COM1_SCR, 1), 0);
	int status = -1;
	UT_ASSERT_EQ(waitpid(child, &status), child);
	UT_EXPECT_EQ(status, 0);
	set_cpus(~0u);
}
