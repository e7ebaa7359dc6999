/*
 * arch/x86_64/fpu.c - the FPU's machine side: which registers exist, which
 * instructions save them, the traps they raise.
 *
 * Theory
 *   An x86-64 thread's FPU state is the x87 stack and its control/status
 *   words, the 16 XMM registers and MXCSR (SSE), and where AVX is on, the
 *   upper halves of the YMM registers (and AVX-512's ZMM and k registers).
 *   Four generations of instructions copy it to memory and back:
 *
 *     fxsave/fxrstor   x87 + SSE, a fixed 512-byte area (16-byte aligned)
 *     xsave/xrstor     every component enabled in XCR0, in a "standard"
 *                      layout sized by CPUID leaf 0xD (64-byte aligned):
 *                      the same 512-byte legacy region, a 64-byte header
 *                      whose XSTATE_BV says which components the area
 *                      holds, then AVX and the rest at fixed offsets
 *     xsaveopt         xsave that skips components still in their init
 *                      state, or not modified since this CPU's last xrstor
 *                      of this same area (the "modified optimization")
 *     xsavec           xsave into a "compacted" layout (no holes for
 *                      components that are off); XCOMP_BV says so
 *
 *   The mechanism is chosen once, at boot (fpu.save=, default auto: the
 *   best the CPU has), and the policy calls it through one pair of pointers,
 *   arch_fpu.save / .restore: no CPUID test at a switch (Linux's rule).
 *   For the usual pair, XSAVEOPT and XRSTOR, arch/arch.h also has the
 *   copies inline (arch_fpu_save_inline, arch_fpu_restore_inline), which
 *   the FPU op's handlers use when arch_fpu_inline says the boot chose it.
 *   A request the CPU cannot honour is refused with a message and auto is
 *   used. fpu.save=fxsave on a CPU with AVX leaves AVX out of XCR0: FXSAVE
 *   could not save the upper halves of the YMM registers, so rather than
 *   lose them silently at a switch, AVX instructions then raise #UD.
 *
 *   The choice and XCR0 are pure functions of a described feature set
 *   (fpu_choose_mech, fpu_choose_xcr0), so tests check the rules for CPUs
 *   QEMU cannot emulate (XSAVEC, AVX-512) as well as the real boot's pick.
 *
 * Set-up order (SDM vol. 3 13.1, vol. 1 13.3): CR4.OSFXSR and OSXMMEXCPT
 * let SSE run and report its exceptions as #XM; CR4.OSXSAVE makes XSETBV
 * and XCR0 usable; XCR0 is written; only then does CPUID.(0xD,0):EBX give
 * the size of a standard area for those components.
 *
 * Invariants
 *   - Every save area is ARCH_FPU_AREA_ALIGN (64) aligned and
 *     arch_fpu_area_size() long; XSAVE faults (#GP) on a misaligned one.
 *   - CR0.TS is written only through arch_fpu_set_ts/arch_fpu_clear_ts
 *     (after boot), so the policy's per-CPU copy stays true.
 *   - The XSAVEOPT trap (docs/fpu.md): its modified optimization trusts
 *     that an area is not edited between an xrstor from it and the next
 *     save into it, and that no other context uses that buffer. The policy
 *     keeps both; arch_fpu_area_set_xmm0 (for tests) edits a saved area
 *     only while its thread is off the CPU, before its next restore.
 *
 * Traps: #NM (an FPU instruction with TS set) asks the policy
 * (fpu_nm_trap); #MF (x87) and #XM (SIMD) exceptions are decoded and kill
 * the thread that raised them, through trap_kill_thread.
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/fpu.h>
#include <arch/trap.h>
#include <cmdline.h>
#include <fpu.h>
#include <ksyms.h>
#include <mm.h>
#include <percpu.h>
#include <printf.h>
#include <printk.h>
#include <string.h>
#include <thread.h>

static int save_opt;	/* enum fpu_mech, from fpu.save= */
CMDLINE_ENUM("fpu.save", save_opt,
	     "FPU save mechanism (one the CPU lacks is refused and auto used)", "auto",
	     "fxsave", "xsave", "xsaveopt", "xsavec");

static struct fpu_boot_info boot;
static void *init_area;		/* the init state, in the chosen format */

/* ---- the choice, as pure functions ---- */

static const char *const mech_names[FPU_MECH_COUNT] = {
	[FPU_MECH_AUTO] = "auto",
	[FPU_MECH_FXSAVE] = "fxsave",
	[FPU_MECH_XSAVE] = "xsave",
	[FPU_MECH_XSAVEOPT] = "xsaveopt",
	[FPU_MECH_XSAVEC] = "xsavec",
};

const char *fpu_mech_name(enum fpu_mech m)
{
	return m < FPU_MECH_COUNT ? mech_names[m] : "?";
}

bool fpu_mech_available(const struct fpu_features *f, enum fpu_mech m)
{
	switch (m) {
	case FPU_MECH_AUTO:
		return true;
	case FPU_MECH_FXSAVE:
		return f->fxsr;
	case FPU_MECH_XSAVE:
		return f->xsave;
	case FPU_MECH_XSAVEOPT:
		return f->xsave && f->xsaveopt;
	case FPU_MECH_XSAVEC:
		return f->xsave && f->xsavec;
	default:
		return false;
	}
}

/* What the CPU lacks for m, for the refusal message. */
static const char *missing_for(const struct fpu_features *f, enum fpu_mech m)
{
	if (m != FPU_MECH_FXSAVE && !f->xsave)
		return "XSAVE";
	switch (m) {
	case FPU_MECH_FXSAVE:
		return "FXSR";
	case FPU_MECH_XSAVEOPT:
		return "XSAVEOPT";
	case FPU_MECH_XSAVEC:
		return "XSAVEC";
	default:
		return "it";
	}
}

/*
 * auto: XSAVEC (smallest area, skips components in their init state),
 * then XSAVEOPT (skips what is unmodified since the last restore), XSAVE,
 * FXSAVE. Every x86-64 CPU has FXSR, so FXSAVE is the floor.
 */
static enum fpu_mech best(const struct fpu_features *f)
{
	static const enum fpu_mech order[] = { FPU_MECH_XSAVEC, FPU_MECH_XSAVEOPT, FPU_MECH_XSAVE };
	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (fpu_mech_available(f, order[i]))
			return order[i];
	return FPU_MECH_FXSAVE;
}

enum fpu_mech fpu_choose_mech(const struct fpu_features *f, enum fpu_mech req, char *why,
			      size_t size)
{
	if (size)
		why[0] = '\0';
	if (req != FPU_MECH_AUTO && req < FPU_MECH_COUNT && fpu_mech_available(f, req))
		return req;
	enum fpu_mech m = best(f);
	if (req != FPU_MECH_AUTO && size)
		snprintf(why, size, "fpu.save=%s refused: this CPU has no %s; using auto (%s)",
			 fpu_mech_name(req), missing_for(f, req), fpu_mech_name(m));
	return m;
}

uint64_t fpu_choose_xcr0(const struct fpu_features *f, enum fpu_mech m)
{
	if (!f->xsave)
		return 0;
	uint64_t x = XCR0_X87 | XCR0_SSE;
	if (m != FPU_MECH_FXSAVE) {
		if (f->avx && (f->xcr0_supported & XCR0_AVX))
			x |= XCR0_AVX;
		/* AVX-512's three components go together, and need AVX's */
		if ((x & XCR0_AVX) && f->avx512f &&
		    (f->xcr0_supported & XCR0_AVX512) == XCR0_AVX512)
			x |= XCR0_AVX512;
	}
	return x & (f->xcr0_supported | XCR0_X87 | XCR0_SSE);
}

const struct fpu_boot_info *fpu_boot_info(void)
{
	return &boot;
}

/* ---- the CPU's features ---- */

static void detect(struct fpu_features *f)
{
	memset(f, 0, sizeof(*f));
	struct cpuid_regs l1 = cpuid(1, 0);
	uint32_t max_leaf = cpuid(0, 0).eax;
	f->fxsr = l1.edx & CPUID_1_EDX_FXSR;
	f->xsave = l1.ecx & CPUID_1_ECX_XSAVE;
	f->avx = l1.ecx & CPUID_1_ECX_AVX;
	if (max_leaf >= 7) {
		struct cpuid_regs l7 = cpuid(7, 0);
		f->avx2 = l7.ebx & CPUID_7_EBX_AVX2;
		f->avx512f = l7.ebx & CPUID_7_EBX_AVX512F;
	}
	struct cpuid_regs l0 = cpuid(0, 0);
	f->amd = l0.ebx == 0x68747541 && l0.edx == 0x69746e65 && l0.ecx == 0x444d4163;
	unsigned base = (l1.eax >> 8) & 0xF;	/* "AuthenticAMD" above, in EBX EDX ECX */
	f->family = base == 0xF ? base + ((l1.eax >> 20) & 0xFF) : base;
	if (cpuid(0x80000000u, 0).eax >= CPUID_EXT_ADDR_SIZES)
		f->xsaveerptr = cpuid(CPUID_EXT_ADDR_SIZES, 0).ebx & CPUID_80000008_EBX_XSAVEERPTR;
	if (f->xsave && max_leaf >= CPUID_LEAF_XSTATE) {
		struct cpuid_regs d0 = cpuid(CPUID_LEAF_XSTATE, 0);
		struct cpuid_regs d1 = cpuid(CPUID_LEAF_XSTATE, 1);
		f->xcr0_supported = ((uint64_t)d0.edx << 32) | d0.eax;
		f->xsaveopt = d1.eax & CPUID_D1_EAX_XSAVEOPT;
		f->xsavec = d1.eax & CPUID_D1_EAX_XSAVEC;
		f->xsaves = d1.eax & CPUID_D1_EAX_XSAVES;
	}
}

/* ---- the mechanisms: one instruction each ----
 *
 * The 64 forms (fxsave64, xsave64, ...) store the x87 instruction and data
 * pointers as 64-bit addresses. For the XSAVE family EDX:EAX is the
 * requested-feature bitmap, ANDed with XCR0 by the CPU: all ones means
 * "every component the kernel enabled".
 */

static void fxsave_save(void *a) { __asm__ volatile("fxsave64 (%0)" ::"r"(a) : "memory"); }
static void fxsave_restore(void *a) { __asm__ volatile("fxrstor64 (%0)" ::"r"(a) : "memory"); }

static void xsave_save(void *a)
{
	__asm__ volatile("xsave64 (%0)" ::"r"(a), "a"(-1), "d"(-1) : "memory");
}

static void xsaveopt_save(void *a)
{
	__asm__ volatile("xsaveopt64 (%0)" ::"r"(a), "a"(-1), "d"(-1) : "memory");
}

static void xsavec_save(void *a)
{
	__asm__ volatile("xsavec64 (%0)" ::"r"(a), "a"(-1), "d"(-1) : "memory");
}

/* XRSTOR reads the format (standard or compacted) from the area's header. */
static void xrstor_restore(void *a)
{
	__asm__ volatile("xrstor64 (%0)" ::"r"(a), "a"(-1), "d"(-1) : "memory");
}

static const struct arch_fpu_mech mechs[FPU_MECH_COUNT] = {
	[FPU_MECH_FXSAVE] = { "fxsave", fxsave_save, fxsave_restore },
	[FPU_MECH_XSAVE] = { "xsave", xsave_save, xrstor_restore },
	[FPU_MECH_XSAVEOPT] = { "xsaveopt", xsaveopt_save, xrstor_restore },
	[FPU_MECH_XSAVEC] = { "xsavec", xsavec_save, xrstor_restore },
};

/*
 * The AMD pointer leak (fpu_needs_pointer_clear, arch/fpu.h): before the
 * restore, FNCLEX drops any pending x87 exception, EMMS marks every x87
 * register empty, and FILD of a constant pushes one value, which sets FIP
 * to this instruction and FDP to the constant's address (FOP to FILD's
 * opcode): fixed values, nobody's. The restore then replaces the register
 * stack and, where the area has an exception pending, the pointers too.
 * QEMU 7.2's TCG records no x87 pointers at all (FXSAVE stores zeros), so
 * there is no leak to see there (the counter below shows the workaround
 * runs); on the hardware that needs it, it closes one.
 */
static uint64_t pointer_clears;

static void clear_x87_pointers(void)
{
	static const uint32_t zero;
	__asm__ volatile("fnclex; emms; fildl %0" ::"m"(zero));
	__atomic_fetch_add(&pointer_clears, 1, __ATOMIC_RELAXED);
}

static void fxsave_restore_clearing(void *a)
{
	clear_x87_pointers();
	fxsave_restore(a);
}

static void xrstor_restore_clearing(void *a)
{
	clear_x87_pointers();
	xrstor_restore(a);
}

/* The out-of-line restores' count and the inline one's per-CPU counts
 * (arch_fpu_restore, arch/arch.h). */
uint64_t fpu_pointer_clears(void)
{
	uint64_t n = __atomic_load_n(&pointer_clears, __ATOMIC_RELAXED);
	for (int i = 0; i < MAX_CPUS; i++)
		n += __atomic_load_n(&cpus[i].arch.fpu_pointer_clears, __ATOMIC_RELAXED);
	return n;
}

bool fpu_needs_pointer_clear(const struct fpu_features *f)
{
	return f->amd && f->family >= 6 && !f->xsaveerptr;
}

/* The chosen mechanism, with the clearing restore where the CPU needs it;
 * and whether arch_fpu_save/arch_fpu_restore (arch/arch.h) have it inline. */
struct arch_fpu_mech arch_fpu = { "fxsave", fxsave_save, fxsave_restore };
uint8_t arch_fpu_inline = ARCH_FPU_CALL;
const uint32_t arch_fpu_zero;		/* the inline clearing's FILD operand */

const struct arch_fpu_mech *fpu_mech_ops(enum fpu_mech m)
{
	return m > FPU_MECH_AUTO && m < FPU_MECH_COUNT ? &mechs[m] : NULL;
}

size_t arch_fpu_area_size(void)
{
	return boot.area_size;
}

/* ---- CR0.TS and the per-CPU set-up ---- */

void arch_fpu_set_ts(void)
{
	write_cr0(read_cr0() | CR0_TS);
}

void arch_fpu_clear_ts(void)
{
	__asm__ volatile("clts" ::: "memory");
}

void arch_fpu_load_defaults(void)
{
	uint32_t mxcsr = MXCSR_DEFAULT;
	__asm__ volatile("fninit; ldmxcsr %0" ::"m"(mxcsr));
}

/*
 * Early, every CPU: the FPU present and native (EM clear, MP and NE set:
 * x87 errors raise #MF, not the old IRQ 13), SSE enabled with its
 * exceptions as #XM, TS clear, the x87 reset and MXCSR at its default.
 */
void arch_fpu_cpu_init(void)
{
	write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	arch_fpu_load_defaults();
}

/* CR4.OSXSAVE and XCR0, as chosen on the boot CPU. */
static void setup_xcr0(void)
{
	if (!boot.features.xsave)
		return;
	write_cr4(read_cr4() | CR4_OSXSAVE);
	xsetbv(XCR_XFEATURE_ENABLED_MASK, boot.xcr0);
}

void arch_fpu_init_ap(void)
{
	arch_fpu_cpu_init();
	setup_xcr0();
}

/* ---- the save area ---- */

/* Bytes a compacted (XSAVEC) area takes for the components in xcr0. */
static size_t compacted_size(uint64_t xcr0)
{
	size_t size = XSAVE_EXTENDED;
	for (int i = XCR0_FIRST_EXTENDED; i <= XCR0_MAX_COMPONENT; i++) {
		if (!(xcr0 & (1ULL << i)))
			continue;
		struct cpuid_regs r = cpuid(CPUID_LEAF_XSTATE, (uint32_t)i);
		if (r.ecx & CPUID_DI_ECX_ALIGN64)
			size = ALIGN_UP(size, FPU_AREA_ALIGN);
		size += r.eax;
	}
	return size;
}

static size_t area_size(enum fpu_mech m)
{
	if (m == FPU_MECH_FXSAVE)
		return FXSAVE_SIZE;
	if (m == FPU_MECH_XSAVEC)
		return compacted_size(boot.xcr0);
	return cpuid(CPUID_LEAF_XSTATE, 0).ebx;	/* valid now that XCR0 is set */
}

/*
 * The init state, spelled out: the legacy region holds FNINIT's x87 state
 * (FCW 0x037F, status 0, abridged tag 0 = every register empty) and MXCSR
 * 0x1F80 with zero XMM registers; the header says x87 and SSE are in the
 * area (XSTATE_BV), so XRSTOR loads them from it, and every other
 * component is absent, so XRSTOR puts it in its init state (zeros). A
 * compacted area also says so in XCOMP_BV. FXRSTOR reads the legacy region
 * alone.
 */
static void build_init_area(void *a)
{
	uint8_t *p = a;
	memset(p, 0, boot.area_size);
	*(uint16_t *)(p + FXSAVE_FCW) = FCW_DEFAULT;
	*(uint32_t *)(p + FXSAVE_MXCSR) = MXCSR_DEFAULT;
	if (boot.chosen == FPU_MECH_FXSAVE)
		return;
	*(uint64_t *)(p + XSAVE_HDR_XSTATE_BV) = XCR0_X87 | XCR0_SSE;
	if (boot.chosen == FPU_MECH_XSAVEC)
		*(uint64_t *)(p + XSAVE_HDR_XCOMP_BV) = XCOMP_BV_COMPACTED | boot.xcr0;
}

void arch_fpu_area_init(void *area)
{
	memcpy(area, init_area, boot.area_size);
}

bool arch_fpu_area_set_xmm0(void *area, uint64_t lo)
{
	uint8_t *p = area;
	if (boot.chosen != FPU_MECH_FXSAVE &&
	    !(*(uint64_t *)(p + XSAVE_HDR_XSTATE_BV) & XCR0_SSE))
		return false;		/* XMM registers not stored: init state */
	*(uint64_t *)(p + FXSAVE_XMM0) = lo;
	return true;
}

/* ---- FPU exceptions: #MF (x87), #XM (SIMD) ---- */

static const char *const cause_names[6] = {
	"invalid operation", "denormal operand", "divide by zero",
	"overflow", "underflow", "precision (inexact result)",
};
/* Kill reasons must outlive the trap (thread_join_status returns them). */
static const char *const xm_reasons[6] = {
	"SIMD floating-point exception: invalid operation",
	"SIMD floating-point exception: denormal operand",
	"SIMD floating-point exception: divide by zero",
	"SIMD floating-point exception: overflow",
	"SIMD floating-point exception: underflow",
	"SIMD floating-point exception: precision (inexact result)",
};
static const char *const mf_reasons[6] = {
	"x87 floating-point exception: invalid operation",
	"x87 floating-point exception: denormal operand",
	"x87 floating-point exception: divide by zero",
	"x87 floating-point exception: overflow",
	"x87 floating-point exception: underflow",
	"x87 floating-point exception: precision (inexact result)",
};

/* "divide by zero, overflow" for the set bits of the 6-bit `flags`. */
static void describe(uint32_t flags, char *buf, size_t size)
{
	size_t pos = 0;
	buf[0] = '\0';
	for (int i = 0; i < 6 && pos < size; i++)
		if (flags & (1u << i))
			pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", pos ? ", " : "",
						cause_names[i]);
	if (!flags)
		snprintf(buf, size, "none (a spurious trap?)");
}

static int first_cause(uint32_t flags)
{
	return flags ? __builtin_ctz(flags) : -1;
}

/*
 * The end of #XM and #MF: a kernel thread gets an "fpu:" line with the
 * registers and then trap_kill_thread's own (its reason must be a string
 * that lasts); a process gets one line, proc_fault's, with the registers
 * folded into its reason (copied there at once).
 */
static bool fpu_exception_kill(struct trap_frame *tf, const char *reason, const char *regs,
			       const char *what, const char *note)
{
	if (!(tf->cs & 3)) {
		printk("fpu: %s in thread '%s': %s, unmasked: %s%s\n", tf->vector == T_XM ? "#XM" : "#MF",
		       curthread ? curthread->name : "?", regs, what, note);
		return trap_kill_thread(tf, reason);
	}
	char why[192];			/* the reason names the first cause */
	snprintf(why, sizeof(why), "%s; %s%s", reason, regs, note);
	return trap_kill_thread(tf, why);
}

/* #XM: an SSE/AVX instruction met an exception that MXCSR leaves unmasked.
 * by_kernel: raised by arch_fpu_deliver_simd_exception, not the CPU. */
static bool simd_exception(struct trap_frame *tf, bool by_kernel)
{
	uint32_t mxcsr;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	uint32_t unmasked = mxcsr & MXCSR_FLAGS & ~(mxcsr >> MXCSR_MASK_SHIFT);
	char what[128], regs[32];
	describe(unmasked, what, sizeof(what));
	snprintf(regs, sizeof(regs), "MXCSR 0x%04x", mxcsr);
	uint32_t cleared = mxcsr & ~MXCSR_FLAGS;	/* the sticky flags, answered */
	__asm__ volatile("ldmxcsr %0" ::"m"(cleared));
	int c = first_cause(unmasked);
	return fpu_exception_kill(tf, c >= 0 ? xm_reasons[c] : "SIMD floating-point exception",
				  regs, what,
				  by_kernel ? " (delivered by the kernel: this CPU set MXCSR's "
					      "flags without raising #XM)" : "");
}

static bool simd_exception_trap(struct trap_frame *tf)
{
	return simd_exception(tf, false);
}

/* What simd_exception will find in MXCSR: the flags its masks leave unmasked. */
static uint32_t simd_unmasked(void)
{
	uint32_t mxcsr;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	return mxcsr & MXCSR_FLAGS & ~(mxcsr >> MXCSR_MASK_SHIFT);
}

/*
 * QEMU 7.2's TCG sets MXCSR's flags for an unmasked SIMD exception but
 * raises no #XM, so a user test asks for it (SYS_fpu): the same handler,
 * with the user's frame as the CPU would have pushed it. The STMXCSR may
 * take #NM under lazy switching; that loads the thread's own state.
 */
bool arch_fpu_deliver_simd_exception(struct trap_frame *utf)
{
	if (!simd_unmasked())
		return false;
	struct trap_frame tf = *utf;
	tf.vector = T_XM;
	tf.error = 0;
	return simd_exception(&tf, true);
}

/* #MF: an x87 instruction found an unmasked exception pending (FSW.ES). */
static bool x87_exception(struct trap_frame *tf)
{
	uint16_t fsw, fcw;
	__asm__ volatile("fnstsw %0; fnstcw %1" : "=m"(fsw), "=m"(fcw));
	uint32_t unmasked = fsw & FSW_EXCEPTIONS & ~fcw;
	char what[128], regs[32];
	describe(unmasked, what, sizeof(what));
	snprintf(regs, sizeof(regs), "FSW 0x%04x FCW 0x%04x", fsw, fcw);
	__asm__ volatile("fnclex");	/* else the next x87 instruction traps again */
	int c = first_cause(unmasked);
	return fpu_exception_kill(tf, c >= 0 ? mf_reasons[c] : "x87 floating-point exception",
				  regs, what,
				  (unmasked & FSW_IE) && (fsw & FSW_SF) ? " (x87 stack overflow/underflow)"
									: "");
}

/* #NM: an FPU instruction with CR0.TS set. The policy decides. */
static bool device_not_available(struct trap_frame *tf)
{
	struct thread *t = curthread;
	struct cpu *c = this_cpu();
	char where[96];
	if (c->trap_depth > 1) {
		/* an interrupt or trap handler: the registers belong to the
		 * thread it interrupted, whose state must not be loaded here */
		ksym_format(tf->rip, where, sizeof(where));
		printk("fpu: FPU/SIMD instruction at %s in an interrupt or trap handler, outside "
		       "kfpu_begin/kfpu_end\n", where);
		return false;
	}
	if (c->in_ctxop) {
		/* a save or restore op met TS set: #NM would load some thread's
		 * state in the middle of a switch. An op that touches the FPU
		 * does it through fpu_ctx_load/put/unload, which take no #NM. */
		ksym_format(tf->rip, where, sizeof(where));
		panic("fpu: #NM in a context op's handler at %s (thread %s): context ops must "
		      "not execute FPU instructions with CR0.TS set", where, t ? t->name : "?");
	}
	bool may_sleep = t && (tf->rflags & RFLAGS_IF) && t->preempt_count == 0 &&
			 !(t->flags & THREAD_IDLE);
	switch (fpu_nm_trap(may_sleep)) {
	case FPU_NM_HANDLED:
		return true;
	case FPU_NM_NO_MEMORY:
		/* a user thread the kernel refused memory for (KM_USER) is
		 * killed; otherwise may_sleep was false, so trap_kill_thread
		 * refuses too (the thread holds preemption or interrupts
		 * off): say why here, not with a bare "unexpected trap" */
		if (trap_kill_thread(tf, "no memory for its FPU save area at its first FPU use"))
			return true;
		ksym_format(tf->rip, where, sizeof(where));
		panic("fpu: no memory for its FPU save area at the first FPU use of thread %s, "
		      "at %s, where it may not sleep (preemption or interrupts off) and cannot "
		      "be killed", t ? t->name : "?", where);
	case FPU_NM_NOT_FPU_THREAD:
	default:
		break;
	}
	ksym_format(tf->rip, where, sizeof(where));
	printk("fpu: FPU/SIMD instruction at %s in thread '%s', which was created without "
	       "THREAD_FPU (and is not in a kfpu_begin/kfpu_end section)\n", where,
	       t ? t->name : "?");
	return trap_kill_thread(tf, "FPU/SIMD instruction in a thread created without THREAD_FPU");
}

/* ---- boot ---- */

static void print_features(const struct fpu_features *f)
{
	static const struct {
		const char *name;
		size_t off;
	} bits[] = {
		{ "FXSR", offsetof(struct fpu_features, fxsr) },
		{ "XSAVE", offsetof(struct fpu_features, xsave) },
		{ "XSAVEOPT", offsetof(struct fpu_features, xsaveopt) },
		{ "XSAVEC", offsetof(struct fpu_features, xsavec) },
		{ "XSAVES", offsetof(struct fpu_features, xsaves) },
		{ "AVX", offsetof(struct fpu_features, avx) },
		{ "AVX2", offsetof(struct fpu_features, avx2) },
		{ "AVX-512F", offsetof(struct fpu_features, avx512f) },
	};
	char has[96] = "", lacks[96] = "";
	size_t hp = 0, lp = 0;
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++) {
		bool on = *(const bool *)((const char *)f + bits[i].off);
		if (on)
			hp += (size_t)snprintf(has + hp, sizeof(has) - hp, " %s", bits[i].name);
		else
			lp += (size_t)snprintf(lacks + lp, sizeof(lacks) - lp, " %s", bits[i].name);
	}
	printk("fpu: CPU has%s; lacks%s\n", has, lp ? lacks : " nothing we use");
}

static void xcr0_names(uint64_t x, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s", x & XCR0_X87 ? "x87" : "", x & XCR0_SSE ? " SSE" : "",
		 x & XCR0_AVX ? " AVX" : "", (x & XCR0_AVX512) == XCR0_AVX512 ? " AVX-512" : "");
}

void arch_fpu_init(void)
{
	detect(&boot.features);
	if (!boot.features.fxsr)
		panic("fpu: this CPU has no FXSR (FXSAVE/FXRSTOR); x86-64 requires it");
	print_features(&boot.features);

	char why[128];
	boot.requested = (enum fpu_mech)save_opt;
	boot.chosen = fpu_choose_mech(&boot.features, boot.requested, why, sizeof(why));
	boot.refused = why[0] != '\0';
	if (boot.refused)
		printk("fpu: %s\n", why);
	boot.xcr0 = fpu_choose_xcr0(&boot.features, boot.chosen);
	setup_xcr0();
	if (boot.xcr0 && xgetbv(XCR_XFEATURE_ENABLED_MASK) != boot.xcr0)
		panic("fpu: XCR0 reads 0x%lx after XSETBV of 0x%lx",
		      xgetbv(XCR_XFEATURE_ENABLED_MASK), boot.xcr0);
	boot.area_size = area_size(boot.chosen);
	struct arch_fpu_mech chosen = mechs[boot.chosen];
	boot.clear_pointers = fpu_needs_pointer_clear(&boot.features);
	if (boot.clear_pointers)
		chosen.restore = boot.chosen == FPU_MECH_FXSAVE ? fxsave_restore_clearing
								: xrstor_restore_clearing;
	arch_fpu = chosen;
	if (boot.chosen == FPU_MECH_XSAVEOPT)
		arch_fpu_inline = boot.clear_pointers ? ARCH_FPU_XSAVEOPT_CLEARING : ARCH_FPU_XSAVEOPT;

	init_area = kmem_alloc_aligned(boot.area_size, FPU_AREA_ALIGN, KM_SLEEP);
	build_init_area(init_area);

	trap_register(T_NM, device_not_available);
	trap_register(T_MF, x87_exception);
	trap_register(T_XM, simd_exception_trap);

	char names[48];
	xcr0_names(boot.xcr0, names, sizeof(names));
	if (boot.xcr0)
		printk("fpu: %s, XCR0 0x%lx (%s), save area %zu bytes\n", arch_fpu.name,
		       boot.xcr0, names, boot.area_size);
	else
		printk("fpu: %s, no XCR0 (no XSAVE: x87 and SSE), save area %zu bytes\n",
		       arch_fpu.name, boot.area_size);
	if (boot.clear_pointers)
		printk("fpu: AMD family 0x%x without XSAVEERPTR: x87 pointers cleared before each "
		       "restore (the FXSAVE leak)\n", boot.features.family);
	if (boot.chosen == FPU_MECH_FXSAVE && boot.features.avx)
		printk("fpu: fxsave cannot save AVX state: AVX is left out of XCR0, so AVX "
		       "instructions raise #UD\n");
}
