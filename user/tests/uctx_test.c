/*
 * user/tests/uctx_test.c - user contexts (<uctx.h>): the switch of
 * labs/switch.md. Every case runs at -O2 and, on the O0 row, at -O0: what
 * the compiler keeps in callee-saved registers across the call to
 * uctx_switch changes with the level (OSv's aarch64 switch worked at -O2
 * and broke at -O0), and the switch must not care.
 */
#include "helpers.h"
#include <uctx.h>

#define STACK 16384

void uctx_switch_probe(struct uctx *from, struct uctx *to, uint64_t out[6]);
void uctx_switch_trash(struct uctx *from, struct uctx *to);

static struct uctx main_ctx, ctx[8];
static char stacks[8][STACK] __attribute__((aligned(16)));

/* ---- two contexts taking turns ---- */

static volatile int turns[2000], nturns;

static void ping(void *arg)
{
	int me = (int)(long)arg;
	for (int i = 0; i < 1000; i++) {
		turns[nturns++] = me;
		uctx_switch(&ctx[me], me ? &ctx[0] : &ctx[1]);
	}
	uctx_switch(&ctx[me], &main_ctx);		/* done: for good */
}

UTEST(uctx, two_contexts_take_turns)
{
	nturns = 0;
	uctx_make(&ctx[0], stacks[0], STACK, ping, (void *)0L);
	uctx_make(&ctx[1], stacks[1], STACK, ping, (void *)1L);
	uctx_switch(&main_ctx, &ctx[0]);
	UT_ASSERT_EQ(nturns, 2000);
	int wrong = 0;
	for (int i = 0; i < 2000; i++)
		wrong += turns[i] != i % 2;
	UT_EXPECT_EQ(wrong, 0);
}

/* ---- the registers a switch must keep ---- */

static void trasher(void *arg)
{
	for (;;)
		uctx_switch_trash(&ctx[0], &main_ctx);	/* every callee-saved register garbage */
}

UTEST(uctx, callee_saved_registers_survive_a_switch)
{
	uctx_make(&ctx[0], stacks[0], STACK, trasher, NULL);
	for (int round = 0; round < 3; round++) {
		uint64_t out[6] = { 0 };
		uctx_switch_probe(&main_ctx, &ctx[0], out);
		static const char *const names[] = { "rbx", "rbp", "r12", "r13", "r14", "r15" };
		for (int i = 0; i < 6; i++) {
			uint64_t want = 0x5A5A000000000000ULL + (uint64_t)(i + 1) * 0x1111;
			if (out[i] != want)
				UT_LOG("round %d: %s came back 0x%lx, not 0x%lx", round, names[i],
				       (unsigned long)out[i], (unsigned long)want);
			UT_EXPECT_EQ(out[i], want);
		}
	}
}

/* C's own locals across switches, at whatever level this is built:
 * values the compiler may keep in callee-saved registers over the call. */
static void churn(void *arg)
{
	int me = (int)(long)arg;
	uint64_t a = 0xA000 + (uint64_t)me, b = (uint64_t)me * 7, c = ~(uint64_t)me;
	for (int i = 0; i < 200; i++) {
		a += 3;
		b ^= a;
		c -= b;
		uctx_switch(&ctx[me], &ctx[(me + 1) % 8]);
	}
	uint64_t wa = 0xA000 + (uint64_t)me, wb = (uint64_t)me * 7, wc = ~(uint64_t)me;
	for (int i = 0; i < 200; i++) {
		wa += 3;
		wb ^= wa;
		wc -= wb;
	}
	if (a != wa || b != wb || c != wc)
		turns[me] = 1;				/* lost its locals */
	else
		turns[me] = 2;
	uctx_switch(&ctx[me], &main_ctx);
}

UTEST(uctx, eight_contexts_round_robin_keep_their_locals)
{
	for (int i = 0; i < 8; i++) {
		turns[i] = 0;
		uctx_make(&ctx[i], stacks[i], STACK, churn, (void *)(long)i);
	}
	uctx_switch(&main_ctx, &ctx[0]);
	/* the first to finish comes back here; the others are still going */
	int done = 0;
	for (int round = 0; round < 8 && done < 8; round++) {
		done = 0;
		for (int i = 0; i < 8; i++)
			done += turns[i] != 0;
		for (int i = 0; i < 8 && done < 8; i++) {
			if (!turns[i]) {
				uctx_switch(&main_ctx, &ctx[i]);
				break;
			}
		}
	}
	for (int i = 0; i < 8; i++)
		UT_EXPECT_EQ(turns[i], 2);
}

/* ---- the control words: the ABI's callee-saved FPU state ---- */

static uint32_t get_mxcsr(void)
{
	uint32_t v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void set_mxcsr(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" ::"m"(v));
}

static uint16_t get_fcw(void)
{
	uint16_t v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void set_fcw(uint16_t v)
{
	__asm__ volatile("fldcw %0" ::"m"(v));
}

#define MXCSR_CTRL 0xFFC0u		/* the control bits; 0-5 are the status flags */

static volatile uint32_t seen_mxcsr[2];
static volatile uint16_t seen_fcw[2];

static void own_words(void *arg)
{
	int me = (int)(long)arg;
	/* rounding: down (0x2000) or up (0x4000); precision: single or double */
	set_mxcsr(0x1F80u | (me ? 0x4000u : 0x2000u));
	set_fcw((uint16_t)(me ? 0x027F : 0x007F));
	for (int i = 0; i < 50; i++)
		uctx_switch(&ctx[me], &main_ctx);
	seen_mxcsr[me] = get_mxcsr() & MXCSR_CTRL;
	seen_fcw[me] = get_fcw();
	uctx_switch(&ctx[me], &main_ctx);		/* for good */
}

UTEST(uctx, each_context_keeps_its_mxcsr_and_x87_control_word)
{
	uint32_t mine = get_mxcsr();
	uint16_t my_fcw = get_fcw();
	uctx_make(&ctx[0], stacks[0], STACK, own_words, (void *)0L);
	uctx_make(&ctx[1], stacks[1], STACK, own_words, (void *)1L);
	/* main -> 0 -> main -> 1 -> main ..., 51 times each: the last time
	 * each records what it had after its 50 switches */
	for (int i = 0; i < 51; i++) {
		for (int k = 0; k < 2; k++) {
			uctx_switch(&main_ctx, &ctx[k]);
			UT_ASSERT_EQ(get_mxcsr() & MXCSR_CTRL, mine & MXCSR_CTRL);	/* ours */
			UT_ASSERT_EQ(get_fcw(), my_fcw);
		}
	}
	UT_EXPECT_EQ(seen_mxcsr[0], (0x1F80u | 0x2000u) & MXCSR_CTRL);
	UT_EXPECT_EQ(seen_fcw[0], 0x007F);
	UT_EXPECT_EQ(seen_mxcsr[1], (0x1F80u | 0x4000u) & MXCSR_CTRL);
	UT_EXPECT_EQ(seen_fcw[1], 0x027F);
}

static volatile uint32_t start_mxcsr;
static volatile uint16_t start_fcw;
static volatile uintptr_t start_frame;

static void report_start(void *arg)
{
	start_mxcsr = get_mxcsr();
	start_fcw = get_fcw();
	start_frame = (uintptr_t)__builtin_frame_address(0);
	uctx_switch(&ctx[0], &main_ctx);
}

/* A new context starts from the init state, whatever its maker had, and
 * on a stack aligned as the ABI wants (rbp, pushed at entry, 16-aligned). */
UTEST(uctx, a_new_context_starts_clean_and_aligned)
{
	uint32_t mine = get_mxcsr();
	uint16_t my_fcw = get_fcw();
	set_mxcsr(0x1F80u | 0x6000u);			/* round toward zero */
	set_fcw(0x0C7F);
	uctx_make(&ctx[0], stacks[0], STACK, report_start, NULL);
	uctx_switch(&main_ctx, &ctx[0]);
	uint32_t back = get_mxcsr();
	uint16_t back_fcw = get_fcw();
	set_mxcsr(mine);
	set_fcw(my_fcw);
	UT_EXPECT_EQ(start_mxcsr & MXCSR_CTRL, 0x1F80u);
	UT_EXPECT_EQ(start_fcw, 0x037F);
	UT_EXPECT_EQ(start_frame % 16, 0);
	UT_EXPECT_EQ(back & MXCSR_CTRL, (0x1F80u | 0x6000u) & MXCSR_CTRL);	/* ours again */
	UT_EXPECT_EQ(back_fcw, 0x0C7F);
}
UTEST_POINTS(uctx, callee_saved_registers_survive_a_switch, 3);
UTEST_POINTS(uctx, each_context_keeps_its_mxcsr_and_x87_control_word, 3);
UTEST_POINTS(uctx, eight_contexts_round_robin_keep_their_locals, 2);
UTEST_POINTS(uctx, a_new_context_starts_clean_and_aligned, 2);
