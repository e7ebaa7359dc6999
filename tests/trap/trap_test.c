/*
 * tests/trap/trap_test.c - an unexpected exception is reported, by name.
 *
 * Each case provokes one exception on purpose. The kernel has no handler for
 * it, so the trap report (name, error code, registers, backtrace) ends in a
 * panic whose message names the exception: that is what the cases check.
 * Each runs in a boot of its own.
 */
#include <ktest.h>
#include <arch.h>
#include <printk.h>
#include <string.h>

/* An address no page table maps: far above the identity map of RAM. */
#define UNMAPPED_ADDR 0x00007ead00000000UL

KTEST_EXPECT_PANIC(trap, invalid_opcode_reported, "invalid opcode (#UD)")
{
	__asm__ volatile("ud2");
}

KTEST_EXPECT_PANIC(trap, page_fault_reported, "page fault (#PF)")
{
	volatile uint64_t *p = (volatile uint64_t *)UNMAPPED_ADDR;
	*p = 1;
}

KTEST_EXPECT_PANIC(trap, divide_error_reported, "divide error (#DE)")
{
	volatile uint64_t zero = 0, one = 1;
	volatile uint64_t r = one / zero;
	(void)r;
}

KTEST_EXPECT_PANIC(trap, breakpoint_reported, "breakpoint (#BP)")
{
	__asm__ volatile("int3");
}

KTEST_EXPECT_PANIC(trap, general_protection_reported, "general protection fault (#GP)")
{
	/* a non-canonical address: bits 63..47 are not all equal */
	volatile uint64_t *p = (volatile uint64_t *)0x8000000000000000UL;
	*p = 1;
}

/* Recurses until the stack runs into its guard page (the limit is only
 * there to tell gcc the recursion ends: no kernel stack is that deep). */
static __attribute__((noinline)) uint64_t recurse(volatile uint64_t depth)
{
	volatile char pad[256];
	pad[0] = (char)depth;
	if (depth > (1UL << 40))
		return 0;
	return recurse(depth + 1) + pad[0];
}

KTEST_EXPECT_PANIC(trap, stack_overflow_is_double_fault, "double fault (#DF)")
{
	recurse(0);
}

/* The trap report names the function the fault happened in. */
static __attribute__((noinline)) void faulting_function(void)
{
	__asm__ volatile("ud2");
}

KTEST_EXPECT_PANIC(trap, report_names_faulting_function, "at faulting_function+0x")
{
	faulting_function();
}

/* A fault inside printk, with the console lock held: the report must
 * still name the fault, not the lock it finds taken (it used to panic with
 * "spin_lock: lock 'console' already held by this CPU (0)"). */
KTEST_EXPECT_PANIC(trap, fault_inside_printk_is_reported, "page fault (#PF)")
{
	printk("%s\n", (const char *)UNMAPPED_ADDR);
}

KTEST(trap, interrupts_on_while_tests_run)
{
	KT_EXPECT(arch_irq_enabled());
}

/* ---- a fault can end just the thread that caused it ---- */

#include <arch/trap.h>
#include <thread.h>

static bool kill_on_breakpoint(struct trap_frame *tf)
{
	return trap_kill_thread(tf, "test: breakpoint kills the thread");
}

static volatile bool after_int3;

static void hits_breakpoint(void *arg)
{
	(void)arg;
	__asm__ volatile("int3");
	after_int3 = true;		/* never reached: the thread was killed */
}

static void exits_normally(void *arg)
{
	(void)arg;
}

KTEST(trap, fault_kills_only_its_thread)
{
	after_int3 = false;
	trap_register(T_BP, kill_on_breakpoint);
	const char *why = NULL;
	struct thread *t = thread_create("int3er", hits_breakpoint, NULL, 0);
	bool killed = thread_join_status(t, &why);
	trap_register(T_BP, NULL);
	KT_EXPECT(killed);
	KT_EXPECT(!after_int3);
	KT_EXPECT(why && strstr(why, "breakpoint kills"));
	/* the kernel goes on: threads still run and exit normally */
	KT_EXPECT(!thread_join_status(thread_create("normal", exits_normally, NULL, 0), NULL));
}
