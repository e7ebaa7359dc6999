/*
 * tests/fpu/kfpu_test.c - kernel FPU sections (docs/fpu.md, "Kernel FPU
 * sections"): kfpu_begin gives the kernel the init state with preemption
 * off, and kfpu_end gives the thread back its own, whatever the section
 * did, after a switch, and in a thread without THREAD_FPU; memcpy_sse, the
 * kernel's one SIMD user, copies right inside one. Misuse panics.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <arch/fpu.h>
#include <fpu.h>
#include <sched.h>
#include <string.h>
#include <thread.h>

KTEST(fpu, kfpu_section_has_defaults_and_keeps_thread_state)
{
	struct fpu_image want, got, junk;
	fpt_image_make(&want, 99, 6);
	fpt_image_make(&junk, 100, 1);
	fpt_image_load(&want);
	int pc0 = curthread->preempt_count;
	kfpu_begin();
	uint32_t mx = fpu_get_mxcsr();
	uint16_t cw = fpu_get_fcw();
	int pc = curthread->preempt_count;
	fpt_image_load(&junk);			/* the section may do as it likes */
	kfpu_end();
	fpt_image_read(&got);
	KT_EXPECT_EQ(mx, MXCSR_DEFAULT);
	KT_EXPECT_EQ(cw, FCW_DEFAULT);
	KT_EXPECT_EQ(pc, pc0 + 1);		/* preemption disabled inside */
	KT_EXPECT_EQ(curthread->preempt_count, pc0);
	KT_EXPECT_EQ(fpt_image_diff(&want, &got), 0);
}

/* Under lazy switching a thread whose quantum has not used the FPU yet
 * has TS set and its state in its area: the section must leave it so. */
KTEST(fpu, kfpu_section_after_a_switch_keeps_thread_state)
{
	int cpu = fpt_test_cpu();
	thread_bind(cpu);
	volatile bool partner_stop = false;
	struct thread *p = thread_create_on("partner", fpt_yield_until, (void *)&partner_stop, 0,
					    cpu, PRIO_NORMAL);
	struct fpu_image want, got, junk;
	fpt_image_make(&want, 101, 3);
	fpt_image_make(&junk, 102, 0);
	fpt_image_load(&want);
	thread_yield();				/* off the CPU and back */
	bool live = fpu_thread_is_live(curthread);
	kfpu_begin();
	fpt_image_load(&junk);
	kfpu_end();
	fpt_image_read(&got);
	partner_stop = true;
	thread_join(p);
	thread_bind(-1);
	KT_EXPECT_EQ(live, fpu_policy() == FPU_EAGER);
	KT_EXPECT_EQ(fpt_image_diff(&want, &got), 0);
}

static uint8_t copy_src[5000], copy_dst[5000];

KTEST(fpu, memcpy_sse_copies_and_keeps_thread_state)
{
	struct fpu_image want, got;
	fpt_image_make(&want, 7, 1);
	fpt_image_load(&want);
	for (size_t i = 0; i < sizeof(copy_src); i++)
		copy_src[i] = (uint8_t)(i * 7 + 3);
	static const size_t sizes[] = { 0, 1, 63, 511, 512, 513, 1000, 4096, 4999 };
	static const size_t offs[] = { 0, 1, 15 };
	int bad = 0;
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (size_t o = 0; o < ARRAY_SIZE(offs); o++) {
			size_t n = MIN(sizes[s], sizeof(copy_src) - offs[o]);
			memset(copy_dst, 0xEE, sizeof(copy_dst));
			void *r = memcpy_sse(copy_dst + offs[o], copy_src + (offs[o] ^ 1), n);
			if (r != copy_dst + offs[o] ||
			    memcmp(copy_dst + offs[o], copy_src + (offs[o] ^ 1), n) ||
			    (offs[o] && copy_dst[offs[o] - 1] != 0xEE) ||
			    (offs[o] + n < sizeof(copy_dst) && copy_dst[offs[o] + n] != 0xEE))
				bad++;
		}
	}
	fpt_image_read(&got);
	KT_EXPECT_EQ(bad, 0);
	KT_EXPECT_EQ(fpt_image_diff(&want, &got), 0);
}

/* A thread without THREAD_FPU copies 4 KiB with memcpy_sse; `ok`: the copy
 * is right and the thread still has no live FPU state. */
struct plain_copy {
	int ok;
};

static void plain_copier(void *arg)
{
	struct plain_copy *c = arg;
	memcpy_sse(copy_dst, copy_src, 4096);
	c->ok = !memcmp(copy_dst, copy_src, 4096) && !fpu_thread_is_live(curthread);
}

KTEST(fpu, kfpu_section_works_in_a_thread_without_fpu)
{
	struct plain_copy c = { .ok = 0 };
	for (size_t i = 0; i < 4096; i++)
		copy_src[i] = (uint8_t)(i ^ 0x5A);
	struct thread *t = thread_create("plain-copier", plain_copier, &c, 0);
	const char *why = NULL;
	KT_EXPECT(!thread_join_status(t, &why));	/* not killed */
	KT_EXPECT_EQ(c.ok, 1);
}

KTEST_EXPECT_PANIC(fpu, kfpu_nested_panics, "kfpu_begin: nested kernel FPU section")
{
	kfpu_begin();
	kfpu_begin();
}

KTEST_EXPECT_PANIC(fpu, kfpu_end_without_begin_panics, "kfpu_end: no kernel FPU section")
{
	kfpu_end();
}
