/*
 * tests/sched/frame_test.c - a new thread starts on a stack aligned as the
 * System V ABI says (arch/x86_64/frame.c): every function is entered with
 * RSP = 8 (mod 16), so its frame pointer, once pushed, is 16-byte aligned,
 * and so are the aligned(16) locals the compiler places from it.
 */
#include <ktest.h>
#include <thread.h>

struct frame_probe {
	uint64_t frame_mod16;		/* this function's frame pointer, mod 16 */
	uint64_t local_mod16;		/* an aligned(16) local's address, mod 16 */
	bool movaps_done;		/* an SSE store to that local went through */
};

static void probe_frame(void *arg)
{
	struct frame_probe *p = arg;
	uint8_t buf[16] __attribute__((aligned(16)));
	p->frame_mod16 = (uint64_t)__builtin_frame_address(0) % 16;
	p->local_mod16 = (uint64_t)buf % 16;
}

/* In a THREAD_FPU thread: movaps faults (#GP) on a misaligned operand,
 * which kills the thread. (The kernel is built -mgeneral-regs-only, so the
 * compiler keeps nothing in XMM0 and needs no clobber.) */
static void probe_movaps(void *arg)
{
	struct frame_probe *p = arg;
	uint8_t buf[16] __attribute__((aligned(16)));
	probe_frame(p);
	__asm__ volatile("xorps %%xmm0, %%xmm0; movaps %%xmm0, %0" : "=m"(buf));
	p->movaps_done = true;
}

KTEST(sched, new_thread_stack_is_abi_aligned)
{
	struct frame_probe p = { 99, 99, false };
	thread_join(thread_create("frame", probe_frame, &p, 0));
	KT_EXPECT_EQ(p.frame_mod16, 0);
	KT_EXPECT_EQ(p.local_mod16, 0);

	struct frame_probe q = { 99, 99, false };
	const char *why = NULL;
	bool killed = thread_join_status(thread_create("frame-fpu", probe_movaps, &q, THREAD_FPU),
					 &why);
	if (killed)
		KT_LOG("the FPU thread was killed: %s", why);
	KT_EXPECT(!killed);
	KT_EXPECT(q.movaps_done);
	KT_EXPECT_EQ(q.frame_mod16, 0);
	KT_EXPECT_EQ(q.local_mod16, 0);
}
