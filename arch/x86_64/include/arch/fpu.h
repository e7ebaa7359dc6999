/*
 * arch/fpu.h - the x86 FPU as the manuals describe it: CPUID bits, XCR0
 * components, the layout of a save area, the control and status words.
 * And the part of arch/x86_64/fpu.c that tests need to reach: the choice
 * of a save mechanism as a pure function of a CPU's features.
 *
 * References: Intel SDM vol. 1 ch. 10 (FXSAVE), ch. 13 (XSAVE-managed
 * state), vol. 2 (CPUID leaves 1, 7 and 0xD), vol. 3 2.5 (CR0, CR4).
 */
#ifndef ARCH_FPU_H
#define ARCH_FPU_H

#include <kernel.h>

/* CPUID leaf 1 */
#define CPUID_1_EDX_FXSR    (1u << 24)	/* FXSAVE/FXRSTOR */
#define CPUID_1_EDX_SSE     (1u << 25)
#define CPUID_1_EDX_SSE2    (1u << 26)
#define CPUID_1_ECX_XSAVE   (1u << 26)	/* XSAVE/XRSTOR, XSETBV/XGETBV, XCR0 */
#define CPUID_1_ECX_OSXSAVE (1u << 27)	/* CR4.OSXSAVE is set (read back) */
#define CPUID_1_ECX_AVX     (1u << 28)
/* CPUID leaf 7, subleaf 0 */
#define CPUID_7_EBX_AVX2    (1u << 5)
#define CPUID_7_EBX_AVX512F (1u << 16)
/* CPUID leaf 0x80000008 EBX: XSAVE/FXSAVE always store the x87 error
 * pointers (AMD; without it they are stored only with an exception pending) */
#define CPUID_EXT_ADDR_SIZES       0x80000008u
#define CPUID_80000008_EBX_XSAVEERPTR (1u << 2)
/* CPUID leaf 0xD: subleaf 0 (EDX:EAX supported XCR0 bits, EBX size for the
 * XCR0 now set, ECX size for every supported component), subleaf 1 (EAX
 * features below), subleaf i >= 2 (EAX size, EBX standard offset of
 * component i; ECX bit 1: 64-byte aligned in the compacted format). */
#define CPUID_LEAF_XSTATE   0xD
#define CPUID_D1_EAX_XSAVEOPT (1u << 0)
#define CPUID_D1_EAX_XSAVEC   (1u << 1)
#define CPUID_D1_EAX_XGETBV1  (1u << 2)
#define CPUID_D1_EAX_XSAVES   (1u << 3)
#define CPUID_DI_ECX_ALIGN64  (1u << 1)

/* XCR0: which state components XSAVE and XRSTOR manage (SDM vol. 1, 13.3). */
#define XCR0_X87       (1ULL << 0)	/* must always be 1 */
#define XCR0_SSE       (1ULL << 1)	/* XMM0-15 and MXCSR */
#define XCR0_AVX       (1ULL << 2)	/* upper halves of YMM0-15; needs SSE */
#define XCR0_OPMASK    (1ULL << 5)	/* AVX-512 k0-k7 */
#define XCR0_ZMM_HI256 (1ULL << 6)	/* upper halves of ZMM0-15 */
#define XCR0_HI16_ZMM  (1ULL << 7)	/* ZMM16-31 */
#define XCR0_AVX512    (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM)	/* all or none */
#define XCR0_FIRST_EXTENDED 2		/* components 0 and 1 live in the legacy region */
#define XCR0_MAX_COMPONENT  7		/* the highest component this kernel saves */

/* The save area (SDM vol. 1, 10.5.1 and 13.4). */
#define FXSAVE_SIZE          512	/* the legacy region, FXSAVE's whole area */
#define FXSAVE_FCW           0		/* x87 control word (16 bits) */
#define FXSAVE_FSW           2		/* x87 status word */
#define FXSAVE_FTW           4		/* abridged tag word: 0 = all registers empty */
#define FXSAVE_MXCSR         24
#define FXSAVE_MXCSR_MASK    28
#define FXSAVE_ST0           32		/* ST0-7 / MM0-7, 16 bytes apiece */
#define FXSAVE_XMM0          160	/* XMM0-15, 16 bytes apiece */
#define XSAVE_HEADER         512	/* 64-byte header after the legacy region */
#define XSAVE_HEADER_SIZE    64
#define XSAVE_HDR_XSTATE_BV  (XSAVE_HEADER + 0)	/* components present in the area */
#define XSAVE_HDR_XCOMP_BV   (XSAVE_HEADER + 8)	/* compacted format: its components */
#define XSAVE_EXTENDED       (XSAVE_HEADER + XSAVE_HEADER_SIZE)	/* 576 */
#define XCOMP_BV_COMPACTED   (1ULL << 63)
#define FPU_AREA_ALIGN       64		/* XSAVE's alignment (FXSAVE needs 16) */

/* MXCSR (SDM vol. 1, 10.2.3). */
#define MXCSR_IE   (1u << 0)		/* flags: invalid operation */
#define MXCSR_DE   (1u << 1)		/* denormal operand */
#define MXCSR_ZE   (1u << 2)		/* divide by zero */
#define MXCSR_OE   (1u << 3)		/* overflow */
#define MXCSR_UE   (1u << 4)		/* underflow */
#define MXCSR_PE   (1u << 5)		/* precision (inexact) */
#define MXCSR_FLAGS 0x3Fu
#define MXCSR_MASK_SHIFT 7		/* IM..PM sit 7 bits above IE..PE */
#define MXCSR_ZM   (MXCSR_ZE << MXCSR_MASK_SHIFT)
#define MXCSR_RC_SHIFT 13		/* rounding control, 2 bits */
#define MXCSR_RC_MASK  (3u << MXCSR_RC_SHIFT)
#define MXCSR_DEFAULT 0x1F80		/* every exception masked, round to nearest */

/* x87 control and status words (SDM vol. 1, 8.1.3 and 8.1.5). */
#define FCW_DEFAULT 0x037F		/* FNINIT's: all masked, 64-bit precision, nearest */
#define FCW_RC_SHIFT 10
#define FCW_PC_SHIFT 8
#define FCW_ZM (1u << 2)		/* divide-by-zero mask (IM DM ZM OM UM PM: bits 0-5) */
#define FSW_EXCEPTIONS 0x3Fu		/* IE DE ZE OE UE PE, same order as MXCSR */
#define FSW_IE (1u << 0)		/* invalid operation */
#define FSW_SF (1u << 6)		/* stack fault (with IE) */
#define FSW_ES (1u << 7)		/* exception summary: a #MF is pending */

/* The save mechanisms, in the order of fpu.save='s choices. */
enum fpu_mech {
	FPU_MECH_AUTO = 0,
	FPU_MECH_FXSAVE,
	FPU_MECH_XSAVE,
	FPU_MECH_XSAVEOPT,
	FPU_MECH_XSAVEC,
	FPU_MECH_COUNT,
};

/* What a CPU offers, as CPUID reports it. */
struct fpu_features {
	bool fxsr, xsave, xsaveopt, xsavec, xsaves, avx, avx2, avx512f;
	uint64_t xcr0_supported;	/* CPUID.(0xD,0):EDX:EAX; 0 without XSAVE */
	bool amd;			/* vendor AuthenticAMD */
	unsigned family;		/* CPUID.1 family, extended family added */
	bool xsaveerptr;		/* CPUID.80000008h:EBX[2] */
};

/*
 * AMD's FXSAVE/FXRSTOR (and XSAVE/XRSTOR) skip the x87 last-instruction
 * and last-operand pointers (FIP, FDP) and the last opcode (FOP) unless an
 * x87 exception is pending, on every family from the K7 up to the CPUs that
 * report XSAVEERPTR (Zen 2). A restore then leaves the previous context's
 * pointers in place for the next one to read with FNSTENV or FXSAVE: a
 * leak of where another task last did x87 work (Linux X86_BUG_FXSAVE_LEAK,
 * CVE-2006-1056). The cure is to set them to fixed values before every
 * restore. A pure function of the features, like the choices below.
 */
bool fpu_needs_pointer_clear(const struct fpu_features *f);

/* The name of a mechanism as fpu.save= spells it. */
const char *fpu_mech_name(enum fpu_mech m);
/* Does a CPU with features f have mechanism m? (AUTO: always.) */
bool fpu_mech_available(const struct fpu_features *f, enum fpu_mech m);
/*
 * The mechanism for a CPU with features f when fpu.save= asked for `req`:
 * `req` itself if f has it; otherwise the best f has (XSAVEC, XSAVEOPT,
 * XSAVE, FXSAVE, in that order), and if `req` was not AUTO, a sentence
 * saying why it was refused is written into why[size] (else why[0] = 0).
 * A pure function: the boot calls it with the real CPU's features, tests
 * with described ones.
 */
enum fpu_mech fpu_choose_mech(const struct fpu_features *f, enum fpu_mech req, char *why,
			      size_t size);
/*
 * The XCR0 the kernel sets for mechanism m on a CPU with features f: x87
 * and SSE always, AVX and AVX-512 where f has them, but only x87 and SSE
 * when m is FXSAVE, which could not save the rest (so AVX instructions
 * raise #UD rather than lose their upper halves at a switch). 0 when f
 * has no XSAVE (XCR0 does not exist).
 */
uint64_t fpu_choose_xcr0(const struct fpu_features *f, enum fpu_mech m);

/* The save/restore pair of mechanism m (not AUTO), whether or not it is
 * the one chosen: for benchmarks that time each on a buffer of their own. */
struct arch_fpu_mech;
const struct arch_fpu_mech *fpu_mech_ops(enum fpu_mech m);

/* The boot's view, for tests: the features CPUID reported, the request,
 * whether it was refused, and what was chosen. */
struct fpu_boot_info {
	struct fpu_features features;
	enum fpu_mech requested, chosen;
	bool refused;
	uint64_t xcr0;			/* as written with XSETBV (0: none) */
	size_t area_size;
	bool clear_pointers;		/* each restore first clears FIP/FDP/FOP */
};
/* How many restores cleared the x87 pointers first, on every CPU. */
uint64_t fpu_pointer_clears(void);
const struct fpu_boot_info *fpu_boot_info(void);

/* XCR0 as the CPU holds it now (XGETBV; only with CR4.OSXSAVE set). */
static inline uint64_t xgetbv(uint32_t reg)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(reg));
	return ((uint64_t)hi << 32) | lo;
}

static inline void xsetbv(uint32_t reg, uint64_t v)
{
	__asm__ volatile("xsetbv" ::"c"(reg), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

#define XCR_XFEATURE_ENABLED_MASK 0	/* XCR0's number for XGETBV/XSETBV */

/* The SSE and x87 control words of this CPU (CR0.TS must be clear). */
static inline uint32_t fpu_get_mxcsr(void)
{
	uint32_t v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static inline void fpu_set_mxcsr(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" ::"m"(v));
}

static inline uint16_t fpu_get_fcw(void)
{
	uint16_t v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static inline void fpu_set_fcw(uint16_t v)
{
	__asm__ volatile("fldcw %0" ::"m"(v));
}

#endif
