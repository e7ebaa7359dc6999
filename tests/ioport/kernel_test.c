/*
 * tests/ioport/kernel_test.c - the kernel's side of I/O ports: the TSS and
 * its bitmap (arch/tss.h), the switch in aspace_activate, the kernel's
 * grants, and the kill line of a port a process may not use.
 *
 *   - The TSS limit covers the bitmap and the byte of ones after it, and
 *     on every CPU that byte is ones and the bitmap is off unless the CPU
 *     records ports.
 *   - Loading a space on this CPU opens exactly its ports, ranges that
 *     start and end inside a byte and the last port of all included, and
 *     loading one without ports (the kernel's) opens none.
 *   - proc_grant_ports gives a running process ports, refuses a bad range
 *     or a ninth range, and proc_spawn_ports a bad range, leaving nothing.
 *   - The kill line of IN/OUT/INS/OUTS says which instruction and port,
 *     that of another #GP does not (user/tests/ioport_test.c has the
 *     cases, and the rest of the suite).
 */
#include <ktest.h>
#include <arch.h>
#include <arch/tss.h>
#include <ioport.h>
#include <mm.h>
#include <percpu.h>
#include <proc.h>
#include <smp.h>
#include <thread.h>
#include <string.h>
#include <uapi/errno.h>

#define COM1 0x3F8
#define CASE_TIMEOUT_NS 5000000000ULL

/* Does the bitmap of TSS t let ring 3 use port p? */
static bool allows(const struct arch_tss *t, unsigned p)
{
	return t->iomap_base == TSS_IOMAP_ON && !(t->iomap[p / 8] & (1u << (p % 8)));
}

static uint32_t tss_limit(void)
{
	uint16_t tr;
	uint32_t limit = 0;
	__asm__ volatile("str %0" : "=r"(tr));
	__asm__ volatile("lsl %1, %0" : "+r"(limit) : "r"((uint32_t)tr));
	return limit;
}

KTEST(ioport, the_tss_limit_covers_the_bitmap_and_its_end_byte)
{
	kpreempt_disable();
	struct arch_tss *t = this_cpu()->arch.tss;
	uint32_t limit = tss_limit();
	kpreempt_enable();
	KT_EXPECT_EQ(limit, TSS_LIMIT);
	KT_EXPECT_EQ(offsetof(struct arch_tss, iomap_end), TSS_LIMIT);	/* the last byte in it */
	KT_EXPECT_EQ(TSS_IOMAP_ON + TSS_IOMAP_BYTES, offsetof(struct arch_tss, iomap_end));
	KT_EXPECT(TSS_IOMAP_OFF > TSS_LIMIT);
	KT_EXPECT_EQ(t->iomap_end, 0xFF);
}

/* On each CPU (an IPI's work, interrupts off: its record and its TSS
 * agree then): the end byte is ones, the bitmap on or off, and off where
 * the CPU records no ports. (A kernel thread runs in ring 0 on whatever
 * space is loaded, so a CPU may well have a process's ports on.) */
static void check_this_cpu(void *arg)
{
	const struct cpu *c = this_cpu();
	const struct arch_tss *t = c->arch.tss;
	bool ok = t->iomap_end == 0xFF &&
		  (t->iomap_base == TSS_IOMAP_ON || t->iomap_base == TSS_IOMAP_OFF) &&
		  (c->arch.io_key != 0 || t->iomap_base == TSS_IOMAP_OFF);
	if (!ok)
		__atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

KTEST(ioport, each_cpus_bitmap_is_off_unless_it_has_ports)
{
	int bad = 0;
	smp_call_each(check_this_cpu, &bad, true);
	KT_EXPECT_EQ(bad, 0);
}

/* The ports t allows, checked against s: the first wrong port, or -1. */
static int first_wrong(const struct arch_tss *t, const struct ioport_set *s)
{
	for (unsigned p = 0; p < IOPORT_COUNT; p++)
		if (allows(t, p) != ioport_set_holds(s, p, p))
			return (int)p;
	return -1;
}

KTEST(ioport, loading_a_space_opens_exactly_its_ports)
{
	struct ioport_set sa = { 0 }, sb = { 0 }, none = { 0 };
	KT_ASSERT_EQ(ioport_set_add(&sa, COM1, COM1 + 7), 0);
	KT_ASSERT_EQ(ioport_set_add(&sa, 0xFFF9, 0xFFFF), 0);	/* the last port of all */
	KT_ASSERT_EQ(ioport_set_add(&sb, 0x80, 0x80), 0);
	KT_ASSERT_EQ(ioport_set_add(&sb, COM1 + 3, COM1 + 12), 0);	/* across bytes */
	KT_ASSERT_EQ(ioport_set_add(&sb, 0x1000, 0x1FFF), 0);		/* whole bytes */
	struct aspace *a = aspace_create(), *b = aspace_create();
	KT_ASSERT(a && b);
	aspace_set_ports(a, &sa);
	aspace_set_ports(b, &sb);
	uint64_t r0, t0, r1, t1;
	arch_ioport_counters(-1, &r0, &t0);
	unsigned long irq = arch_irq_save();	/* on this CPU throughout */
	const struct arch_tss *t = this_cpu()->arch.tss;
	aspace_activate(a);
	int wrong_a = first_wrong(t, &sa);
	aspace_activate(b);
	int wrong_b = first_wrong(t, &sb);
	aspace_activate(a);
	int wrong_a2 = first_wrong(t, &sa);
	aspace_activate(aspace_kernel());
	int wrong_none = first_wrong(t, &none);
	bool off = t->iomap_base == TSS_IOMAP_OFF;
	arch_irq_restore(irq);
	arch_ioport_counters(-1, &r1, &t1);
	KT_EXPECT_EQ(wrong_a, -1);
	KT_EXPECT_EQ(wrong_b, -1);
	KT_EXPECT_EQ(wrong_a2, -1);
	KT_EXPECT_EQ(wrong_none, -1);
	KT_EXPECT(off);
	KT_EXPECT(r1 - r0 >= 3);	/* a, b, a: each differs from the last */
	KT_EXPECT(t1 - t0 >= 1);	/* and off at the end */
	aspace_destroy(a);
	aspace_destroy(b);
}

KTEST(ioport, the_kernel_grants_a_running_process_ports_within_the_limits)
{
	const char *argv[] = { "spin", "200" };
	int pid = proc_spawn("spin", 2, argv, NULL);
	KT_ASSERT(pid > 0);
	struct proc *p = proc_kernel_child(pid);
	KT_ASSERT(p != NULL);
	KT_EXPECT_EQ(proc_grant_ports(p, COM1, 8), 0);
	KT_EXPECT(ioport_set_holds(&p->ports, COM1, COM1 + 7));
	KT_EXPECT_EQ(proc_grant_ports(p, COM1, 0), -EINVAL);
	KT_EXPECT_EQ(proc_grant_ports(p, 0xFFFF, 2), -EINVAL);
	for (unsigned i = 1; i < IOPORT_RANGES_MAX; i++)
		KT_EXPECT_EQ(proc_grant_ports(p, 0x1000 * i, 1), 0);
	KT_EXPECT_EQ(proc_grant_ports(p, 0xF000, 1), -EINVAL);	/* a ninth range */
	KT_EXPECT_EQ(p->ports.n, IOPORT_RANGES_MAX);
	struct proc_end end;
	KT_ASSERT_EQ(proc_wait(pid, CASE_TIMEOUT_NS, &end), 0);
	KT_EXPECT_EQ(end.status, 0);
	KT_EXPECT(proc_kernel_child(pid) == NULL);	/* reaped */
}

KTEST(ioport, spawning_with_a_bad_range_is_einval_and_leaves_nothing)
{
	int before = proc_count();
	const char *argv[] = { "hello" };
	KT_EXPECT_EQ(proc_spawn_ports("hello", 1, argv, NULL, 0xFFFF, 2), -EINVAL);
	KT_EXPECT_EQ(proc_spawn_ports("hello", 1, argv, NULL, IOPORT_COUNT, 1), -EINVAL);
	KT_EXPECT_EQ(proc_count(), before);
	int pid = proc_spawn_ports("hello", 1, argv, NULL, COM1, 0);	/* count 0: none */
	KT_ASSERT(pid > 0);
	struct proc_end end;
	KT_ASSERT_EQ(proc_wait(pid, CASE_TIMEOUT_NS, &end), 0);
	KT_EXPECT_EQ(end.status, 0);
}

/* Runs user case `name` (utests suite.name) to its end, with ports
 * [base, base + count) (count 0: none). */
static void run_user_case_ports(const char *name, unsigned base, unsigned count,
				struct proc_end *end)
{
	const char *argv[] = { "utests", name };
	int pid = proc_spawn_ports("utests", 2, argv, NULL, base, count);
	KT_ASSERT(pid > 0);
	KT_ASSERT_EQ(proc_wait(pid, CASE_TIMEOUT_NS, end), 0);
}

static void run_user_case(const char *name, struct proc_end *end)
{
	run_user_case_ports(name, 0, 0, end);
}

static void expect_kill_line_ports(const char *name, unsigned base, unsigned count,
				   const char *words)
{
	struct proc_end end;
	run_user_case_ports(name, base, count, &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, words) != NULL);
	if (!strstr(end.fault, words))
		KT_LOG("%s: the line is '%s'", name, end.fault);
}

static void expect_kill_line(const char *name, const char *words)
{
	struct proc_end end;
	run_user_case(name, &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, words) != NULL);
	if (!strstr(end.fault, words))
		KT_LOG("%s: the line is '%s'", name, end.fault);
}

KTEST(ioport, the_kill_line_names_the_instruction_and_the_port)
{
	expect_kill_line("ioport.inb_from_the_post_port_without_a_grant_kills",
			 "general protection fault (#GP) (inb, I/O port 0x80: not one this "
			 "process may use), rip 0x");
	expect_kill_line("ioport.outb_to_com1_without_a_grant_kills", "(outb, I/O port 0x3f8:");
	expect_kill_line("ioport.inw_from_an_unused_port_without_a_grant_kills",
			 "(inw, I/O ports 0xbee0-0xbee1: not all this process's)");
	expect_kill_line("ioport.rep_outsb_without_a_grant_kills", "(outsb, I/O port 0x80:");
	/* with COM1's ports: a word at its last port is one port short; a
	 * string instruction on a port it holds faults for its memory operand,
	 * which is no port's fault (both said 'port ...: not one this process
	 * may use' of a port it held, before) */
	expect_kill_line_ports("ioport.inw_at_the_last_port_of_com1_kills", COM1, 8,
			       "(inw, I/O ports 0x3ff-0x400: not all this process's)");
	struct proc_end held;
	run_user_case_ports("ioport.outsb_from_a_bad_address_kills", COM1, 8, &held);
	KT_EXPECT_EQ(held.status, WAIT_SEGV);
	KT_EXPECT(!strstr(held.fault, "I/O port"));
	if (strstr(held.fault, "I/O port"))
		KT_LOG("the line is '%s'", held.fault);
	/* another #GP(0) says nothing of ports */
	struct proc_end end;
	run_user_case("ioport.cli_faults_iopl_is_0", &end);
	KT_EXPECT_EQ(end.status, WAIT_SEGV);
	KT_EXPECT(strstr(end.fault, "general protection fault (#GP), rip 0x") != NULL);
	KT_EXPECT(!strstr(end.fault, "I/O port"));
}
