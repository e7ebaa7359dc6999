/*
 * tests/fpu/fpu_test.c - the FPU: state kept across switches, the init
 * state, eager and lazy trap counts, kernel FPU sections, FPU exceptions,
 * the first use and the Xen rule, and the choice of save mechanism.
 *
 * The vector registers are loaded and read by tests/fpu/fpu_regs.asm (the
 * kernel's C never touches them: -mgeneral-regs-only), so a value put in
 * XMM3 is still there after any amount of C, unless a switch loses it.
 * An "image" is everything a thread checks: XMM0-15, the upper halves of
 * YMM0-15 when AVX is on, MXCSR and the x87 control word.
 *
 * The harness runs this suite on -cpu qemu64 (FXSAVE) and -cpu max
 * (XSAVEOPT, AVX), eager and lazy, one CPU and -smp 4 (configs.py).
 * Tests whose subject is one policy (the Xen rule is lazy's) switch to it
 * for their duration with fpu_set_policy.
 */
#include <ktest.h>
#include <arch.h>
#include <arch/fpu.h>
#include <arch/trap.h>
#include <arch/x86.h>
#include <bugs.h>
#include <ctxop.h>
#include <fpu.h>
#include <monitor.h>
#include <percpu.h>
#include <sched.h>
#include <string.h>
#include <thread.h>

#define MS 1000000ULL
#define NREGS 16
#define VBYTES (NREGS * 16)

extern void fpu_test_put_xmm(const void *src);
extern void fpu_test_get_xmm(void *dst);
extern void fpu_test_put_ymm_hi(const void *src);
extern void fpu_test_get_ymm_hi(void *dst);
extern void fpu_test_touch(void);
extern void fpu_test_sse_divide_by_zero(void);
extern void fpu_test_x87_divide_by_zero(void);

static bool avx_on(void)
{
	return fpu_boot_info()->xcr0 & XCR0_AVX;
}


/* The x87 tag word from FNSTENV: 0xFFFF when the register stack is empty. */
static uint16_t get_x87_tags(void)
{
	struct {
		uint16_t fcw, r0, fsw, r1, ftw, r2;
		uint32_t rest[4];
	} env;
	__asm__ volatile("fnstenv %0" : "=m"(env));
	fpu_set_fcw(env.fcw);		/* fnstenv masks every exception: undo */
	return env.ftw;
}

/* ---- images ---- */

struct fpu_image {
	uint64_t xmm[NREGS * 2];
	uint64_t ymm_hi[NREGS * 2];
	uint32_t mxcsr;
	uint16_t fcw;
};

#define IMG_XMM    (1 << 0)
#define IMG_YMM_HI (1 << 1)
#define IMG_MXCSR  (1 << 2)
#define IMG_FCW    (1 << 3)

/* A distinct image per seed; `variant` picks the rounding modes (all four
 * of MXCSR's, all four of the x87's) and the x87 precision. */
static void image_make(struct fpu_image *im, uint64_t seed, int variant)
{
	for (int i = 0; i < NREGS * 2; i++) {
		im->xmm[i] = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) << 40;
		im->ymm_hi[i] = ~im->xmm[i] ^ 0x5A5A5A5AULL;
	}
	unsigned rc = (unsigned)variant & 3, pc = (variant >> 2) & 1 ? 2 : 3;
	im->mxcsr = MXCSR_DEFAULT | rc << MXCSR_RC_SHIFT;
	im->fcw = (uint16_t)((FCW_DEFAULT & ~(3u << FCW_RC_SHIFT) & ~(3u << FCW_PC_SHIFT)) |
			     ((3 - rc) << FCW_RC_SHIFT) | (pc << FCW_PC_SHIFT));
}

static void image_load(const struct fpu_image *im)
{
	fpu_test_put_xmm(im->xmm);
	if (avx_on())
		fpu_test_put_ymm_hi(im->ymm_hi);
	fpu_set_mxcsr(im->mxcsr);
	fpu_set_fcw(im->fcw);
}

static void image_read(struct fpu_image *im)
{
	memset(im, 0, sizeof(*im));
	fpu_test_get_xmm(im->xmm);
	if (avx_on())
		fpu_test_get_ymm_hi(im->ymm_hi);
	im->mxcsr = fpu_get_mxcsr();
	im->fcw = fpu_get_fcw();
}

/* Which parts differ (IMG_* bits); 0 if none. */
static int image_diff(const struct fpu_image *a, const struct fpu_image *b)
{
	int d = 0;
	if (memcmp(a->xmm, b->xmm, sizeof(a->xmm)))
		d |= IMG_XMM;
	if (avx_on() && memcmp(a->ymm_hi, b->ymm_hi, sizeof(a->ymm_hi)))
		d |= IMG_YMM_HI;
	if (a->mxcsr != b->mxcsr)
		d |= IMG_MXCSR;
	if (a->fcw != b->fcw)
		d |= IMG_FCW;
	return d;
}

/* The architectural init state, as a new FPU thread must see it. */
static void image_init_state(struct fpu_image *im)
{
	memset(im, 0, sizeof(*im));
	im->mxcsr = MXCSR_DEFAULT;
	im->fcw = FCW_DEFAULT;
}

static int test_cpu(void)
{
	return cpu_count() - 1;
}

/* ---- the choice of mechanism, over described CPUs ---- */

static const struct fpu_features cpu_qemu64 = { .fxsr = true };
static const struct fpu_features cpu_xsave_only = {
	.fxsr = true, .xsave = true, .xcr0_supported = XCR0_X87 | XCR0_SSE,
};
static const struct fpu_features cpu_qemu_max = {	/* QEMU 7.2 TCG -cpu max */
	.fxsr = true, .xsave = true, .xsaveopt = true, .avx = true, .avx2 = true,
	.xcr0_supported = XCR0_X87 | XCR0_SSE | XCR0_AVX,
};
static const struct fpu_features cpu_skylake_sp = {	/* with AVX-512, MPX, PKRU */
	.fxsr = true, .xsave = true, .xsaveopt = true, .xsavec = true, .xsaves = true,
	.avx = true, .avx2 = true, .avx512f = true, .xcr0_supported = 0x2FF,
};
static const struct fpu_features cpu_avx_no_opt = {	/* XSAVE and AVX, no XSAVEOPT */
	.fxsr = true, .xsave = true, .avx = true,
	.xcr0_supported = XCR0_X87 | XCR0_SSE | XCR0_AVX,
};

struct choice_case {
	const struct fpu_features *cpu;
	enum fpu_mech req, want;
	bool refused;
	uint64_t xcr0;
	const char *missing;	/* named in the refusal */
};

KTEST(fpu, choice_of_mechanism_over_described_cpus)
{
	const uint64_t X = XCR0_X87 | XCR0_SSE, XA = X | XCR0_AVX, XAZ = XA | XCR0_AVX512;
	static const struct choice_case cases[] = {
		/* qemu64: FXSAVE only; everything else refused */
		{ &cpu_qemu64, FPU_MECH_AUTO, FPU_MECH_FXSAVE, false, 0, NULL },
		{ &cpu_qemu64, FPU_MECH_FXSAVE, FPU_MECH_FXSAVE, false, 0, NULL },
		{ &cpu_qemu64, FPU_MECH_XSAVE, FPU_MECH_FXSAVE, true, 0, "XSAVE" },
		{ &cpu_qemu64, FPU_MECH_XSAVEOPT, FPU_MECH_FXSAVE, true, 0, "XSAVE" },
		{ &cpu_qemu64, FPU_MECH_XSAVEC, FPU_MECH_FXSAVE, true, 0, "XSAVE" },
		/* XSAVE without XSAVEOPT */
		{ &cpu_xsave_only, FPU_MECH_AUTO, FPU_MECH_XSAVE, false, 0, NULL },
		{ &cpu_xsave_only, FPU_MECH_XSAVEOPT, FPU_MECH_XSAVE, true, 0, "XSAVEOPT" },
		{ &cpu_avx_no_opt, FPU_MECH_AUTO, FPU_MECH_XSAVE, false, 0, NULL },
		/* QEMU's max: XSAVEOPT best; XSAVEC refused */
		{ &cpu_qemu_max, FPU_MECH_AUTO, FPU_MECH_XSAVEOPT, false, 0, NULL },
		{ &cpu_qemu_max, FPU_MECH_FXSAVE, FPU_MECH_FXSAVE, false, 0, NULL },
		{ &cpu_qemu_max, FPU_MECH_XSAVE, FPU_MECH_XSAVE, false, 0, NULL },
		{ &cpu_qemu_max, FPU_MECH_XSAVEOPT, FPU_MECH_XSAVEOPT, false, 0, NULL },
		{ &cpu_qemu_max, FPU_MECH_XSAVEC, FPU_MECH_XSAVEOPT, true, 0, "XSAVEC" },
		/* a server part: XSAVEC best, every one available */
		{ &cpu_skylake_sp, FPU_MECH_AUTO, FPU_MECH_XSAVEC, false, 0, NULL },
		{ &cpu_skylake_sp, FPU_MECH_XSAVE, FPU_MECH_XSAVE, false, 0, NULL },
		{ &cpu_skylake_sp, FPU_MECH_XSAVEOPT, FPU_MECH_XSAVEOPT, false, 0, NULL },
		{ &cpu_skylake_sp, FPU_MECH_FXSAVE, FPU_MECH_FXSAVE, false, 0, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct choice_case *c = &cases[i];
		char why[128];
		enum fpu_mech m = fpu_choose_mech(c->cpu, c->req, why, sizeof(why));
		if (m != c->want || (why[0] != '\0') != c->refused)
			KT_LOG("case %zu: fpu.save=%s gave %s (%s)", i, fpu_mech_name(c->req),
			       fpu_mech_name(m), why[0] ? why : "accepted");
		KT_EXPECT_EQ(m, c->want);
		KT_EXPECT_EQ(why[0] != '\0', c->refused);
		if (c->refused) {
			KT_EXPECT(strstr(why, "refused") != NULL);
			KT_EXPECT(strstr(why, c->missing) != NULL);
			KT_EXPECT(strstr(why, fpu_mech_name(c->want)) != NULL);
		}
		KT_EXPECT(fpu_mech_available(c->cpu, m));
	}
	/* XCR0: what the kernel saves, and no more */
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_qemu64, FPU_MECH_FXSAVE), 0);
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_xsave_only, FPU_MECH_XSAVE), X);
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_qemu_max, FPU_MECH_XSAVEOPT), XA);
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_skylake_sp, FPU_MECH_XSAVEC), XAZ);	/* no MPX, PKRU */
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_skylake_sp, FPU_MECH_XSAVE), XAZ);
	/* fxsave cannot hold the YMM upper halves: AVX stays out of XCR0 */
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_qemu_max, FPU_MECH_FXSAVE), X);
	KT_EXPECT_EQ(fpu_choose_xcr0(&cpu_skylake_sp, FPU_MECH_FXSAVE), X);
	/* AVX-512 only with all three of its components */
	struct fpu_features partial = cpu_skylake_sp;
	partial.xcr0_supported &= ~XCR0_HI16_ZMM;
	KT_EXPECT_EQ(fpu_choose_xcr0(&partial, FPU_MECH_XSAVEOPT), XA);
}

KTEST(fpu, boot_choice_follows_the_rules)
{
	const struct fpu_boot_info *b = fpu_boot_info();
	char why[128];
	enum fpu_mech want = fpu_choose_mech(&b->features, b->requested, why, sizeof(why));
	KT_LOG("fpu.save=%s on this CPU: %s%s%s, XCR0 0x%lx, area %zu bytes",
	       fpu_mech_name(b->requested), fpu_mech_name(b->chosen), why[0] ? "; " : "", why,
	       b->xcr0, b->area_size);
	KT_EXPECT_EQ(b->chosen, want);
	KT_EXPECT_EQ(b->refused, why[0] != '\0');
	KT_EXPECT(strcmp(arch_fpu->name, fpu_mech_name(b->chosen)) == 0);
	KT_EXPECT_EQ(b->xcr0, fpu_choose_xcr0(&b->features, b->chosen));
	KT_EXPECT_EQ(arch_fpu_area_size(), b->area_size);
	/* what the CPU itself says */
	KT_EXPECT_EQ(!!(read_cr4() & CR4_OSFXSR), 1);
	KT_EXPECT_EQ(!!(read_cr4() & CR4_OSXMMEXCPT), 1);
	KT_EXPECT_EQ(!!(read_cr4() & CR4_OSXSAVE), b->features.xsave);
	if (b->features.xsave) {
		KT_EXPECT_EQ(xgetbv(XCR_XFEATURE_ENABLED_MASK), b->xcr0);
		KT_EXPECT(cpuid(1, 0).ecx & CPUID_1_ECX_OSXSAVE);
	}
	switch (b->chosen) {
	case FPU_MECH_FXSAVE:
		KT_EXPECT_EQ(b->area_size, FXSAVE_SIZE);
		break;
	case FPU_MECH_XSAVEC:
		KT_EXPECT(b->area_size >= XSAVE_EXTENDED);
		break;
	default:
		KT_EXPECT_EQ(b->area_size, cpuid(CPUID_LEAF_XSTATE, 0).ebx);
		if (b->xcr0 & XCR0_AVX)
			KT_EXPECT(b->area_size >= XSAVE_EXTENDED + 256);
		break;
	}
	/* auto takes the best the CPU has */
	if (b->requested == FPU_MECH_AUTO) {
		if (b->features.xsavec)
			KT_EXPECT_EQ(b->chosen, FPU_MECH_XSAVEC);
		else if (b->features.xsaveopt)
			KT_EXPECT_EQ(b->chosen, FPU_MECH_XSAVEOPT);
		else if (b->features.xsave)
			KT_EXPECT_EQ(b->chosen, FPU_MECH_XSAVE);
		else
			KT_EXPECT_EQ(b->chosen, FPU_MECH_FXSAVE);
	}
}

/* ---- the init state ---- */

static volatile bool holder_loaded, newcomer_done, holder_stop;
static struct fpu_image newcomer_saw;
static uint16_t newcomer_tags;

static void holder_main(void *arg)
{
	struct fpu_image *want = arg, got;
	image_load(want);
	uint32_t one = 1;
	__asm__ volatile("fildl %0" ::"m"(one));	/* a value on the x87 stack */
	holder_loaded = true;
	while (!newcomer_done)
		thread_yield();
	image_read(&got);
	if (image_diff(want, &got))
		want->mxcsr = 0;	/* tells the case the holder lost its state */
	__asm__ volatile("fstp %%st(0)" ::: "memory");
}

static void newcomer_main(void *arg)
{
	(void)arg;
	image_read(&newcomer_saw);	/* its first FPU instructions */
	newcomer_tags = get_x87_tags();
	newcomer_done = true;
}

KTEST(fpu, new_thread_sees_init_state_while_another_holds_state)
{
	int cpu = test_cpu();
	struct fpu_image held, init;
	image_make(&held, 77, 5);
	image_init_state(&init);
	holder_loaded = newcomer_done = holder_stop = false;
	struct thread *h = thread_create_on("holder", holder_main, &held, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	while (!holder_loaded)
		thread_sleep(1 * MS);
	/* the holder's state is in the CPU's registers (or its area): now a
	 * thread that never used the FPU looks at them */
	struct thread *n = thread_create_on("newcomer", newcomer_main, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	thread_join(n);
	thread_join(h);
	int d = image_diff(&init, &newcomer_saw);
	if (d)
		KT_LOG("the newcomer saw MXCSR 0x%x FCW 0x%x XMM0 0x%lx (diff 0x%x)",
		       newcomer_saw.mxcsr, newcomer_saw.fcw, newcomer_saw.xmm[0], d);
	KT_EXPECT_EQ(d, 0);
	KT_EXPECT_EQ(newcomer_tags, 0xFFFF);		/* x87 stack empty */
	KT_EXPECT(held.mxcsr != 0);			/* the holder kept its own */
}

/* ---- state kept by 8 threads preempted on one CPU ---- */

#define SPINNERS 8

struct spinner {
	int idx;
	int cpu;		/* -1: move from CPU to CPU */
	uint64_t checks, bad, moves, preempted;
	int bad_parts;
};

static volatile bool spin_stop;

static void spinner_main(void *arg)
{
	struct spinner *s = arg;
	struct fpu_image want, got;
	image_make(&want, 1000 + (uint64_t)s->idx, s->idx);
	image_load(&want);
	uint32_t x87_in = 0x1234 + (uint32_t)s->idx, x87_out = 0;
	__asm__ volatile("fildl %0" ::"m"(x87_in));
	uint64_t preempt0 = curthread->preemptions;
	int n = cpu_count(), target = s->idx % n;
	while (!spin_stop) {
		image_read(&got);
		int d = image_diff(&want, &got);
		if (d) {
			s->bad++;
			s->bad_parts |= d;
			image_load(&want);	/* repair, keep counting */
		}
		s->checks++;
		if (s->cpu < 0 && n > 1 && (s->checks & 63) == 0) {
			target = (target + 1) % n;
			thread_bind(target);
			s->moves++;
		}
	}
	__asm__ volatile("fistpl %0" : "=m"(x87_out));
	if (x87_out != x87_in)
		s->bad_parts |= 0x10;
	s->preempted = curthread->preemptions - preempt0;
}

/* Runs SPINNERS threads for `ms` at a 1 ms quantum; returns the total of
 * bad checks, 0x10 in *parts if an x87 stack entry was lost. */
static uint64_t run_spinners(int cpu, uint64_t ms, struct spinner *sp)
{
	uint64_t old_q = sched_quantum_us;
	sched_set_quantum_us(1000);
	spin_stop = false;
	struct thread *t[SPINNERS];
	for (int i = 0; i < SPINNERS; i++) {
		sp[i] = (struct spinner){ .idx = i, .cpu = cpu };
		t[i] = thread_create_on("spinner", spinner_main, &sp[i], THREAD_FPU,
					cpu < 0 ? -1 : cpu, PRIO_NORMAL);
	}
	thread_sleep(ms * MS);
	spin_stop = true;
	uint64_t bad = 0;
	for (int i = 0; i < SPINNERS; i++) {
		thread_join(t[i]);
		bad += sp[i].bad + (sp[i].bad_parts ? 1 : 0);
	}
	sched_set_quantum_us(old_q);
	return bad;
}

KTEST(fpu, registers_survive_preemption_8_threads_one_cpu)
{
	struct spinner sp[SPINNERS];
	int cpu = test_cpu();
	thread_bind(cpu);
	uint64_t bad = run_spinners(cpu, cpu_count() > 1 ? 300 : 400, sp);
	thread_bind(-1);
	uint64_t checks = 0, preempted = 0;
	for (int i = 0; i < SPINNERS; i++) {
		checks += sp[i].checks;
		preempted += sp[i].preempted;
		if (sp[i].bad || sp[i].bad_parts)
			KT_LOG("spinner %d: %lu of %lu checks bad (parts 0x%x)", i, sp[i].bad,
			       sp[i].checks, sp[i].bad_parts);
		KT_EXPECT(sp[i].preempted > 0);
	}
	KT_LOG("%s, %s: %lu checks, %lu preemptions, %lu bad (XMM%s, MXCSR, FCW, x87)",
	       arch_fpu->name, fpu_policy_name(fpu_policy()), checks, preempted, bad,
	       avx_on() ? ", YMM upper halves" : "");
	KT_EXPECT_EQ(bad, 0);
}

/* On one CPU, fpu.moved_thread_is_reloaded checks the owner rule instead. */
KTEST_CPUS(fpu, registers_survive_migration_8_threads, 2)
{
	struct spinner sp[SPINNERS];
	uint64_t bad = run_spinners(-1, 400, sp);
	uint64_t moves = 0;
	for (int i = 0; i < SPINNERS; i++)
		moves += sp[i].moves;
	KT_LOG("%lu migrations, %lu bad checks", moves, bad);
	KT_EXPECT(moves > 0);
	KT_EXPECT_EQ(bad, 0);
}

/* ---- the per-CPU owner: no restore when nothing else was loaded, a
 * reload when the thread ran elsewhere ---- */

static volatile bool w_loaded, w_may_finish, forged, forge_ok;
static struct fpu_image w_want, w_after;
static struct fpu_counters w_before, w_end;

/* The worker: loads its image, then yields to a thread that never loads
 * any FPU state (so this CPU's registers stay the worker's). */
static void worker_main(void *arg)
{
	(void)arg;
	image_load(&w_want);
	w_loaded = true;
	fpu_thread_counters(curthread, &w_before);
	while (!w_may_finish)
		thread_yield();
	image_read(&w_after);
	fpu_thread_counters(curthread, &w_end);
}

/* A thread without THREAD_FPU: it cannot load FPU state. */
static void idler_main(void *arg)
{
	struct thread *w = arg;
	while (!w_loaded)
		thread_yield();
	for (int i = 0; i < 5; i++)
		thread_yield();
	if (forged) {
		forge_ok = fpu_debug_forge_migration(w, 0xF0F0F0F0F0F0F0F0ULL);
	}
	w_may_finish = true;
}

static void run_worker_and_idler(bool forge)
{
	int cpu = test_cpu();
	image_make(&w_want, 4242, 2);
	w_loaded = w_may_finish = forge_ok = false;
	forged = forge;
	struct thread *w = thread_create_on("worker", worker_main, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	struct thread *i = thread_create_on("idler", idler_main, w, 0, cpu, PRIO_NORMAL);
	thread_join(i);
	thread_join(w);
}

KTEST(fpu, return_to_same_cpu_pays_no_restore)
{
	run_worker_and_idler(false);
	KT_EXPECT_EQ(image_diff(&w_want, &w_after), 0);
	KT_LOG("worker, %s: restores %lu -> %lu, saves %lu -> %lu, #NM %lu -> %lu",
	       fpu_policy_name(fpu_policy()), w_before.restores, w_end.restores, w_before.saves,
	       w_end.saves, w_before.nm_traps, w_end.nm_traps);
	/* it left the CPU at least 6 times, only for a thread without FPU
	 * state: its registers were still there every time */
	KT_EXPECT_EQ(w_end.restores, w_before.restores);
	KT_EXPECT(w_end.saves >= w_before.saves + 6 || fpu_policy() == FPU_LAZY);
}

KTEST(fpu, moved_thread_is_reloaded)
{
	/* The idler makes the worker look as if it had run on another CPU
	 * and changed XMM0 there (in its save area), while this CPU's
	 * registers still hold its old values and this CPU still names it
	 * as their owner. It must come back with the new value. */
	run_worker_and_idler(true);
	KT_ASSERT(forge_ok);
	KT_EXPECT_EQ(w_after.xmm[0], 0xF0F0F0F0F0F0F0F0ULL);
	w_after.xmm[0] = w_want.xmm[0];
	KT_EXPECT_EQ(image_diff(&w_want, &w_after), 0);	/* the rest as it was */
	KT_EXPECT_EQ(w_end.restores, w_before.restores + 1);
}

/* ---- #NM counts: lazy one per quantum that uses the FPU, eager none ---- */

#define NM_ROUNDS 50

struct nm_run {
	bool use_fpu;
	struct fpu_counters c;
	uint64_t preempted;
};

static void nm_thread(void *arg)
{
	struct nm_run *r = arg;
	struct fpu_counters before;
	uint64_t p0 = curthread->preemptions;
	if (r->use_fpu)
		fpu_test_touch();	/* the first use, not counted below */
	thread_yield();
	fpu_thread_counters(curthread, &before);
	for (int i = 0; i < NM_ROUNDS; i++) {
		if (r->use_fpu) {
			fpu_test_touch();	/* three FPU instructions per quantum */
			fpu_test_touch();
			fpu_test_touch();
		}
		thread_yield();
	}
	fpu_thread_counters(curthread, &r->c);
	r->c.nm_traps -= before.nm_traps;
	r->c.restores -= before.restores;
	r->preempted = curthread->preemptions - p0;
}

KTEST(fpu, nm_traps_lazy_one_per_quantum_eager_none)
{
	int cpu = test_cpu();
	struct nm_run user = { .use_fpu = true }, abstainer = { .use_fpu = false };
	/* Both must exist before either runs, or on another CPU the first one
	 * could yield its rounds away alone, with no switch and so no #NM:
	 * create them from their CPU, at a higher priority than theirs. */
	thread_bind(cpu);
	thread_set_priority(curthread, PRIO_HIGH);
	struct thread *u = thread_create_on("fpu-user", nm_thread, &user, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	struct thread *a = thread_create_on("fpu-abstainer", nm_thread, &abstainer, THREAD_FPU,
					    cpu, PRIO_NORMAL);
	thread_set_priority(curthread, PRIO_NORMAL);
	thread_join(u);
	thread_join(a);
	thread_bind(-1);
	KT_LOG("%s: user %lu #NM, %lu restores in %d quanta (+%lu preemptions); "
	       "abstainer %lu #NM", fpu_policy_name(fpu_policy()), user.c.nm_traps,
	       user.c.restores, NM_ROUNDS, user.preempted, abstainer.c.nm_traps);
	KT_EXPECT_EQ(abstainer.c.nm_traps, 0);
	if (fpu_policy() == FPU_LAZY) {
		/* one per quantum; a preemption inside a round adds a quantum */
		KT_EXPECT(user.c.nm_traps >= NM_ROUNDS);
		KT_EXPECT(user.c.nm_traps <= NM_ROUNDS + user.preempted);
		/* the abstainer never loads anything: the user's registers stay */
		KT_EXPECT_EQ(user.c.restores, 0);
	} else {
		KT_EXPECT_EQ(user.c.nm_traps, 0);
	}
}

/* ---- kernel FPU sections ---- */

KTEST(fpu, kfpu_section_has_defaults_and_keeps_thread_state)
{
	struct fpu_image want, got, junk;
	image_make(&want, 99, 6);
	image_make(&junk, 100, 1);
	image_load(&want);
	int pc0 = curthread->preempt_count;
	kfpu_begin();
	uint32_t mx = fpu_get_mxcsr();
	uint16_t cw = fpu_get_fcw();
	int pc = curthread->preempt_count;
	image_load(&junk);			/* the section may do as it likes */
	kfpu_end();
	image_read(&got);
	KT_EXPECT_EQ(mx, MXCSR_DEFAULT);
	KT_EXPECT_EQ(cw, FCW_DEFAULT);
	KT_EXPECT_EQ(pc, pc0 + 1);		/* preemption disabled inside */
	KT_EXPECT_EQ(curthread->preempt_count, pc0);
	KT_EXPECT_EQ(image_diff(&want, &got), 0);
}

static volatile bool partner_stop;

static void partner_main(void *arg)
{
	(void)arg;
	while (!partner_stop)
		thread_yield();
}

/* Under lazy switching a thread whose quantum has not used the FPU yet
 * has TS set and its state in its area: the section must leave it so. */
KTEST(fpu, kfpu_section_after_a_switch_keeps_thread_state)
{
	int cpu = test_cpu();
	thread_bind(cpu);
	partner_stop = false;
	struct thread *p = thread_create_on("partner", partner_main, NULL, 0, cpu, PRIO_NORMAL);
	struct fpu_image want, got, junk;
	image_make(&want, 101, 3);
	image_make(&junk, 102, 0);
	image_load(&want);
	thread_yield();				/* off the CPU and back */
	bool live = fpu_thread_is_live(curthread);
	kfpu_begin();
	image_load(&junk);
	kfpu_end();
	image_read(&got);
	partner_stop = true;
	thread_join(p);
	thread_bind(-1);
	KT_EXPECT_EQ(live, fpu_policy() == FPU_EAGER);
	KT_EXPECT_EQ(image_diff(&want, &got), 0);
}

static uint8_t copy_src[5000], copy_dst[5000];

KTEST(fpu, memcpy_sse_copies_and_keeps_thread_state)
{
	struct fpu_image want, got;
	image_make(&want, 7, 1);
	image_load(&want);
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
	image_read(&got);
	KT_EXPECT_EQ(bad, 0);
	KT_EXPECT_EQ(image_diff(&want, &got), 0);
}

static volatile int plain_copy_ok;

static void plain_copier(void *arg)
{
	(void)arg;
	memcpy_sse(copy_dst, copy_src, 4096);
	plain_copy_ok = !memcmp(copy_dst, copy_src, 4096) && !fpu_thread_is_live(curthread);
}

KTEST(fpu, kfpu_section_works_in_a_thread_without_fpu)
{
	plain_copy_ok = 0;
	for (size_t i = 0; i < 4096; i++)
		copy_src[i] = (uint8_t)(i ^ 0x5A);
	struct thread *t = thread_create("plain-copier", plain_copier, NULL, 0);
	const char *why = NULL;
	KT_EXPECT(!thread_join_status(t, &why));	/* not killed */
	KT_EXPECT_EQ(plain_copy_ok, 1);
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

/* ---- faults: the thread that caused it dies, the rest goes on ---- */

static volatile bool victim_ready, victim_stop, after_fault, xm_by_int;
static volatile uint64_t victim_bad;

/* Loads a pattern of its own into the registers, says so through *ready,
 * then yields until *stop, counting in *bad (and repairing) every time
 * the registers came back different: another thread's state got in. */
struct keeper {
	uint64_t seed;
	int variant;
	volatile bool *ready, *stop;
	volatile uint64_t *bad;
};

static void keep_state(const struct keeper *k)
{
	struct fpu_image want, got;
	image_make(&want, k->seed, k->variant);
	image_load(&want);
	*k->ready = true;
	while (!*k->stop) {
		thread_yield();
		image_read(&got);
		if (image_diff(&want, &got)) {
			(*k->bad)++;
			image_load(&want);
		}
	}
}

static void victim_main(void *arg)
{
	(void)arg;
	struct keeper k = { 555, 7, &victim_ready, &victim_stop, &victim_bad };
	keep_state(&k);
}

static void non_fpu_toucher(void *arg)
{
	(void)arg;
	fpu_test_touch();
	after_fault = true;
}

static void sse_divider(void *arg)
{
	(void)arg;
	while (!victim_ready)
		thread_yield();
	fpu_set_mxcsr(MXCSR_DEFAULT & ~MXCSR_ZM);	/* divide by zero unmasked */
	fpu_test_sse_divide_by_zero();
	/* Still here: QEMU 7.2's TCG records SIMD exceptions in MXCSR's flags
	 * but never raises #XM. Deliver it as the hardware would have (the
	 * flag set, unmasked), through the same IDT vector, so the handler's
	 * decoding and the kill are still what runs. */
	if (fpu_get_mxcsr() & MXCSR_ZE) {
		xm_by_int = true;
		__asm__ volatile("int %0" ::"i"(T_XM));
	}
	after_fault = true;
}

static void x87_divider(void *arg)
{
	(void)arg;
	while (!victim_ready)
		thread_yield();
	fpu_set_fcw(FCW_DEFAULT & ~FCW_ZM);		/* divide by zero unmasked */
	fpu_test_x87_divide_by_zero();
	after_fault = true;
}

/* Runs `fn` in a thread (FPU or not) next to a victim that checks its own
 * image; the thread must be killed for `reason`, the victim untouched. */
static void expect_killed(void (*fn)(void *), unsigned flags, const char *reason)
{
	int cpu = test_cpu();
	struct fpu_image mine, got;
	image_make(&mine, 31337, 4);
	image_load(&mine);
	victim_ready = victim_stop = after_fault = false;
	victim_bad = 0;
	struct thread *v = thread_create_on("victim", victim_main, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	struct thread *k = thread_create_on("culprit", fn, NULL, flags, cpu, PRIO_NORMAL);
	const char *why = NULL;
	bool killed = thread_join_status(k, &why);
	for (int i = 0; i < 10; i++)
		thread_yield();
	victim_stop = true;
	thread_join(v);
	image_read(&got);
	KT_EXPECT(killed);
	KT_EXPECT(!after_fault);
	KT_EXPECT(why && strstr(why, reason));
	if (why)
		KT_LOG("killed: %s", why);
	KT_EXPECT_EQ(victim_bad, 0);
	KT_EXPECT_EQ(image_diff(&mine, &got), 0);
	/* and the kernel goes on making FPU threads */
	struct thread *after = thread_create("after", partner_main, NULL, THREAD_FPU);
	partner_stop = true;
	KT_EXPECT(!thread_join_status(after, NULL));
	partner_stop = false;
}

KTEST(fpu, fpu_use_without_thread_fpu_kills_the_thread)
{
	expect_killed(non_fpu_toucher, 0, "without THREAD_FPU");
}

KTEST(fpu, simd_exception_kills_only_its_thread)
{
	xm_by_int = false;
	expect_killed(sse_divider, THREAD_FPU, "SIMD floating-point exception: divide by zero");
	if (xm_by_int)
		KT_LOG("this CPU set MXCSR.ZE without raising #XM (QEMU TCG): delivered by INT 19");
}

KTEST(fpu, x87_exception_kills_only_its_thread)
{
	expect_killed(x87_divider, THREAD_FPU, "x87 floating-point exception: divide by zero");
}

/* An interrupt or trap handler's FPU instruction (outside a kfpu section)
 * would use the registers of the thread it interrupted: fatal, not a kill. */
static bool touching_breakpoint(struct trap_frame *tf)
{
	(void)tf;
	fpu_test_touch();
	return true;
}

static void breakpoint_in_plain_thread(void *arg)
{
	(void)arg;
	__asm__ volatile("int3");
}

KTEST_EXPECT_PANIC(fpu, fpu_use_in_a_trap_handler_panics,
		   "unexpected trap: device not available (#NM)")
{
	trap_register(T_BP, touching_breakpoint);
	thread_join(thread_create("int3er", breakpoint_in_plain_thread, NULL, 0));
	trap_register(T_BP, NULL);
}

/* ---- first use (fpu.alloc=lazy) and the Xen rule ---- */

static volatile bool first_go;
static volatile bool first_had_area_before, first_has_area_after;
static struct fpu_counters first_counters;

static void first_user(void *arg)
{
	(void)arg;
	while (!first_go)
		thread_yield();
	first_had_area_before = fpu_thread_has_area(curthread);
	struct fpu_image init, got;
	image_init_state(&init);
	image_read(&got);			/* the first FPU instructions */
	first_has_area_after = fpu_thread_has_area(curthread) && !image_diff(&init, &got);
	for (int i = 0; i < 5; i++)
		thread_yield();
	fpu_thread_counters(curthread, &first_counters);
}

KTEST(fpu, first_use_allocates_the_save_area)
{
	enum fpu_alloc old = fpu_set_alloc(FPU_ALLOC_LAZY);
	first_go = false;
	struct thread *t = thread_create("first-user", first_user, NULL, THREAD_FPU);
	fpu_set_alloc(old);
	KT_EXPECT(!fpu_thread_has_area(t));
	first_go = true;
	thread_join(t);
	KT_EXPECT(!first_had_area_before);
	KT_EXPECT(first_has_area_after);
	KT_EXPECT_EQ(first_counters.first_uses, 1);
	KT_EXPECT(first_counters.nm_traps >= 1);	/* the first use traps in either policy */
	if (fpu_policy() == FPU_EAGER)
		KT_EXPECT_EQ(first_counters.nm_traps, 1);
}

/*
 * The Xen PV scenario, on one CPU, under lazy switching:
 *   holder    loads its image, then keeps checking it between yields;
 *   sleeper   created with fpu.alloc=lazy: its first FPU instruction traps
 *             and the save-area allocation sleeps (fault injection);
 *   newcomer  waits until the sleeper is in #NM (its #NM counter moved),
 *             then makes its own first FPU use: it must see the init
 *             state, then keeps its image.
 * With TS set during the sleep every one of them traps on its own first
 * FPU instruction after a switch. With bug=fpu_nm_sleep_ts_clear, TS is
 * clear: the newcomer reads the holder's registers, and what it writes is
 * never saved and shows up in the holder's.
 */
static volatile bool xen_holder_ready, xen_stop;
static struct thread *volatile xen_sleeper_thread;

/* Is the sleeper inside its first #NM (counted on entry, before it sleeps)? */
static bool sleeper_in_nm(void)
{
	struct fpu_counters c;
	if (!xen_sleeper_thread)
		return false;
	fpu_thread_counters(xen_sleeper_thread, &c);
	return c.nm_traps > 0;
}
static volatile uint64_t xen_leaks;

static void xen_holder(void *arg)
{
	(void)arg;
	struct keeper k = { 0xA11CE, 1, &xen_holder_ready, &xen_stop, &xen_leaks };
	keep_state(&k);
}

static void xen_sleeper(void *arg)
{
	(void)arg;
	struct fpu_image want, got;
	image_make(&want, 0x5EE9, 2);
	while (!xen_holder_ready)
		thread_yield();
	image_load(&want);			/* #NM: allocates, sleeps */
	for (int i = 0; i < 20; i++) {
		thread_yield();
		image_read(&got);
		if (image_diff(&want, &got)) {
			xen_leaks++;
			image_load(&want);
		}
	}
}

static void xen_newcomer(void *arg)
{
	(void)arg;
	struct fpu_image init, want, got;
	image_init_state(&init);
	image_make(&want, 0xC0FFEE, 3);
	while (!sleeper_in_nm())
		thread_yield();
	image_read(&got);			/* first FPU use, while the sleeper sleeps */
	if (image_diff(&init, &got))
		xen_leaks++;
	image_load(&want);
	for (int i = 0; i < 20; i++) {
		thread_yield();
		image_read(&got);
		if (image_diff(&want, &got)) {
			xen_leaks++;
			image_load(&want);
		}
	}
}

static uint64_t xen_scenario(bool bug)
{
	int cpu = test_cpu();
	thread_bind(cpu);
	bool was = bug_on(fpu_nm_sleep_ts_clear);
	enum fpu_policy old_policy = fpu_set_policy(FPU_LAZY);
	uint64_t old_sleep = fpu_set_nm_sleep_ns(20 * MS);
	xen_holder_ready = xen_stop = false;
	xen_sleeper_thread = NULL;
	xen_leaks = 0;
	/* only the sleeper allocates at first use, whatever fpu.alloc= says */
	enum fpu_alloc old_alloc = fpu_set_alloc(FPU_ALLOC_EAGER);
	struct thread *h = thread_create_on("holder", xen_holder, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	fpu_set_alloc(FPU_ALLOC_LAZY);
	struct thread *s = thread_create_on("sleeper", xen_sleeper, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	xen_sleeper_thread = s;
	fpu_set_alloc(FPU_ALLOC_EAGER);
	struct thread *n = thread_create_on("newcomer", xen_newcomer, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	fpu_set_alloc(old_alloc);
	bug_set("fpu_nm_sleep_ts_clear", bug);
	thread_join(s);
	xen_sleeper_thread = NULL;
	thread_join(n);
	xen_stop = true;
	thread_join(h);
	bug_set("fpu_nm_sleep_ts_clear", was);
	fpu_set_nm_sleep_ns(old_sleep);
	fpu_set_policy(old_policy);	/* also sets TS right for this thread again */
	thread_bind(-1);
	return xen_leaks;
}

KTEST(fpu, nm_sleep_keeps_ts_set)
{
	uint64_t leaks = xen_scenario(false);
	KT_LOG("first-use allocation slept 20 ms in #NM with TS set: %lu leaks", leaks);
	KT_EXPECT_EQ(leaks, 0);
}

KTEST(fpu, nm_sleep_bug_detector_trips)
{
	uint64_t leaks = xen_scenario(true);
	KT_LOG("with bug=fpu_nm_sleep_ts_clear: %lu leaks (register contents seen by the "
	       "wrong thread)", leaks);
	KT_EXPECT(leaks > 0);
}

/* ---- life cycle and counters ---- */

static void brief_user(void *arg)
{
	(void)arg;
	fpu_test_touch();
}

KTEST(fpu, freed_thread_owns_no_cpu)
{
	int cpu = test_cpu();
	struct thread *t = thread_create_on("brief", brief_user, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	const struct fpu_ctx *ctx = t->fpu;
	KT_EXPECT(ctx != NULL);
	KT_EXPECT_EQ(ctxop_count(t), 1);	/* the FPU op, first and alone */
	thread_join(t);
	for (int i = 0; i < MAX_CPUS; i++)
		KT_EXPECT(cpus[i].fpu_owner != ctx);
}

KTEST(fpu, counters_move_and_monitor_shows_them)
{
	struct fpu_counters c0, c1, t0, t1;
	int cpu = cpu_id();
	fpu_cpu_counters(cpu, &c0);
	fpu_thread_counters(curthread, &t0);
	struct thread *t = thread_create_on("brief", brief_user, NULL, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	thread_join(t);
	fpu_test_touch();
	fpu_cpu_counters(cpu, &c1);
	fpu_thread_counters(curthread, &t1);
	KT_EXPECT(c1.restores > c0.restores);
	KT_EXPECT(c1.first_uses > c0.first_uses);
	KT_EXPECT(c1.saves >= c0.saves);
	KT_EXPECT(t1.restores >= t0.restores);
	KT_EXPECT(monitor_run("fpu"));
}
