/*
 * tests/fpu/choice_test.c - the choice of save mechanism and of XCR0, made
 * once at boot (docs/fpu.md, "Boot: detection and the choice, once").
 *
 * The choice is two pure functions, fpu_choose_mech and fpu_choose_xcr0,
 * so the rules are checked over described CPUs QEMU cannot be (XSAVEC,
 * AVX-512) as well as against the pick the boot made on this one.
 */
#include <ktest.h>
#include <arch.h>
#include <arch/fpu.h>
#include <arch/x86.h>
#include <fpu.h>
#include <string.h>

/* ---- the rules, over described CPUs ---- */

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

/* ---- the pick this boot made ---- */

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
	KT_EXPECT(strcmp(arch_fpu.name, fpu_mech_name(b->chosen)) == 0);
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
