/*
 * tests/fpu/pointers_test.c - the x87 error pointers do not travel from
 * one context to the next (the AMD FXSAVE leak, arch/fpu.h).
 *
 * On AMD CPUs without XSAVEERPTR, FXSAVE/XSAVE skip FIP, FDP and FOP
 * unless an x87 exception is pending, and FXRSTOR/XRSTOR then do not load
 * them: a thread could read where another last did x87 work. The kernel
 * clears them before every restore on such CPUs. QEMU 7.2's TCG does not
 * record the pointers at all (FXSAVE stores zeros) and reports no
 * XSAVEERPTR: there the leak cannot be seen, the workaround runs anyway,
 * and the last case skips, saying so. The first two check the rule and
 * that the workaround runs.
 */
#include <ktest.h>
#include <arch/fpu.h>
#include <fpu.h>
#include <thread.h>

KTEST(fpu, pointer_clear_rule_over_described_cpus)
{
	struct fpu_features f = { .fxsr = true, .amd = true, .family = 0x17 };
	KT_EXPECT(fpu_needs_pointer_clear(&f));		/* Zen 1 */
	f.xsaveerptr = true;
	KT_EXPECT(!fpu_needs_pointer_clear(&f));	/* Zen 2 and later */
	f = (struct fpu_features){ .fxsr = true, .amd = true, .family = 0xF };
	KT_EXPECT(fpu_needs_pointer_clear(&f));		/* K8 */
	f.family = 5;
	KT_EXPECT(!fpu_needs_pointer_clear(&f));	/* before the K7: no FXSAVE */
	f = (struct fpu_features){ .fxsr = true, .amd = false, .family = 6 };
	KT_EXPECT(!fpu_needs_pointer_clear(&f));	/* Intel stores them always */
}

KTEST(fpu, boot_clears_pointers_where_the_rule_says)
{
	const struct fpu_boot_info *b = fpu_boot_info();
	KT_EXPECT_EQ(b->clear_pointers, fpu_needs_pointer_clear(&b->features));
	/* a kernel FPU section in an FPU thread ends with a restore */
	fpu_set_mxcsr(fpu_get_mxcsr());		/* the caller's state live */
	uint64_t before = fpu_pointer_clears();
	kfpu_begin();
	kfpu_end();
	uint64_t after = fpu_pointer_clears();
	if (b->clear_pointers)
		KT_EXPECT(after > before);
	else
		KT_EXPECT_EQ(after, before);
}

/* FIP and FDP as FXSAVE stores them (the 64-bit layout). */
struct x87_pointers {
	uint64_t fip, fdp;
};

static struct x87_pointers read_pointers(void)
{
	uint8_t area[512] __attribute__((aligned(16)));
	__asm__ volatile("fxsave64 %0" : "=m"(area));
	return (struct x87_pointers){ *(uint64_t *)(area + 8), *(uint64_t *)(area + 16) };
}

struct pointer_leak {
	struct x87_pointers a;		/* after an x87 load in thread A */
	struct x87_pointers b;		/* in thread B, which did no x87 work */
	volatile int step;
};

static void x87_worker(void *arg)
{
	struct pointer_leak *p = arg;
	static const uint32_t operand = 42;
	__asm__ volatile("fildl %0" ::"m"(operand));	/* FIP, FDP: here */
	p->a = read_pointers();
	p->step = 1;
	while (p->step != 2)
		thread_yield();
}

static void x87_reader(void *arg)
{
	struct pointer_leak *p = arg;
	p->b = read_pointers();
}

KTEST(fpu, x87_pointers_do_not_leak_between_threads)
{
	int cpu = cpu_count() - 1;
	thread_bind(cpu);
	struct pointer_leak p = { .step = 0 };
	struct thread *a = thread_create_on("x87-a", x87_worker, &p, THREAD_FPU, cpu, PRIO_NORMAL);
	while (p.step != 1)
		thread_yield();
	thread_join(thread_create_on("x87-b", x87_reader, &p, THREAD_FPU, cpu, PRIO_NORMAL));
	p.step = 2;
	thread_join(a);
	thread_bind(-1);
	if (p.a.fip == 0 && p.a.fdp == 0)
		KT_SKIP("this CPU does not record the x87 pointers (QEMU's TCG stores zeros): "
			"nothing to leak");
	KT_EXPECT(p.b.fip != p.a.fip);
	KT_EXPECT(p.b.fdp != p.a.fdp);
}
