/*
 * tests/fpu/window_test.c - the registers hold exactly the state the CPU's
 * owner record says, across switches to threads that never use the FPU.
 *
 * Two defects of issue 10 live here. A switch that also moved the control
 * words loaded a new thread's MXCSR and FCW into registers that still held
 * the previous thread's state and named it as their owner, so that owner,
 * coming back, skipped its restore and ran with the new thread's words
 * (eager switching with fpu.alloc=lazy: 0x1F80 / 0x037F instead of its
 * 0x7F80 / 0x0F7F). And under eager switching a thread with no FPU state
 * yet ran with the previous owner's registers loaded, guarded by TS alone:
 * the LazyFP window eager switching exists to close. Each case runs under
 * both allocation policies (fpu_set_alloc), so every row of the matrix
 * (eager and lazy, FXSAVE and XSAVE, one CPU and four) covers the pair.
 *
 * The window had two more doors, both for an FPU thread with no state yet
 * (fpu.alloc=lazy): a kernel FPU section left the kernel's values in the
 * registers (kfpu_end set TS and no more), and vm_run left the guest's
 * (fpu_ctx_unload loaded the thread's own state only if it had one). The
 * idler now opens a kernel FPU section each turn, and a vCPU thread looks
 * after its vm_run.
 *
 * fpu_ctx_load, put and unload need their caller to keep its CPU; their
 * check of that ran after their own arch_irq_save, so it could never fire.
 */
#include <ktest.h>
#include <arch/fpu.h>
#include <ctxop.h>
#include <fpu.h>
#include <string.h>
#include <thread.h>
#include "fpu_test.h"
#include "../vmm/vmm_test.h"

#define COPY_BYTES 1024			/* memcpy_sse takes the SSE path from 512 */

struct window {
	int yields;			/* how often the idler yields */
	bool saw_foreign;		/* the idler ran with another context loaded */
	char src[COPY_BYTES], dst[COPY_BYTES];	/* the idler's kernel FPU copies */
};

/* An FPU thread that never executes an FPU instruction of its own: it
 * yields, and has the kernel copy through the SSE registers (a kernel FPU
 * section), and looks whether the registers hold someone else's state
 * after either. */
static void idler(void *arg)
{
	struct window *w = arg;
	for (int i = 0; i < w->yields; i++) {
		if (fpu_debug_foreign_registers())
			w->saw_foreign = true;
		memset(w->src, i + 1, sizeof(w->src));
		memcpy_sse(w->dst, w->src, sizeof(w->dst));
		if (fpu_debug_foreign_registers())
			w->saw_foreign = true;
		thread_yield();
	}
}

/* The caller's whole image (rounding modes other than the default in both
 * MXCSR and FCW: variant 1) across yields to a new FPU thread on its CPU
 * that never uses the FPU; returns whether it survived. */
static bool state_survives_an_idler(enum fpu_alloc alloc, struct window *w)
{
	enum fpu_alloc was = fpu_set_alloc(alloc);
	struct fpu_image mine, got, saved;
	fpt_image_read(&saved);
	fpt_image_make(&mine, 0x40 + (uint64_t)alloc, 1);
	fpt_image_load(&mine);
	struct thread *t = thread_create_on("idler", idler, w, THREAD_FPU, cpu_id(), PRIO_NORMAL);
	for (int i = 0; i < w->yields; i++)
		thread_yield();
	fpt_image_read(&got);
	thread_join(t);
	fpt_image_load(&saved);
	fpu_set_alloc(was);
	KT_EXPECT_EQ(got.mxcsr, mine.mxcsr);
	KT_EXPECT_EQ(got.fcw, mine.fcw);
	KT_EXPECT_EQ(fpt_image_diff(&mine, &got), 0);
	return fpt_image_diff(&mine, &got) == 0;
}

KTEST(fpu, state_survives_switches_to_a_thread_that_never_uses_the_fpu)
{
	thread_bind(cpu_count() - 1);
	for (int a = FPU_ALLOC_EAGER; a <= FPU_ALLOC_LAZY; a++) {
		struct window w = { .yields = 10 };
		if (!state_survives_an_idler((enum fpu_alloc)a, &w))
			KT_LOG("lost with fpu.alloc=%s", a == FPU_ALLOC_LAZY ? "lazy" : "eager");
	}
	thread_bind(-1);
}

KTEST(fpu, eager_fpu_thread_never_runs_with_another_contexts_registers)
{
	if (fpu_policy() != FPU_EAGER)
		KT_SKIP("fpu=lazy leaves the previous owner's registers under TS by design "
			"(the LazyFP window, docs/fpu.md)");
	thread_bind(cpu_count() - 1);
	for (int a = FPU_ALLOC_EAGER; a <= FPU_ALLOC_LAZY; a++) {
		struct window w = { .yields = 10 };
		state_survives_an_idler((enum fpu_alloc)a, &w);
		KT_EXPECT(!w.saw_foreign);
		KT_EXPECT(!fpu_debug_foreign_registers());
	}
	thread_bind(-1);
}

/* ---- vm_run: the guest's registers do not stay behind ---- */

struct after_vm_run {
	bool foreign;			/* the vCPU thread found another context loaded */
	bool had_area;			/* ... and had state of its own */
};

static void look_after_vm_run(struct vcpu *v)
{
	struct after_vm_run *r = v->vm->cfg.priv;
	vm_run(v);
	r->foreign = fpu_debug_foreign_registers();
	r->had_area = fpu_thread_has_area(curthread);
}

KTEST(fpu, eager_vcpu_thread_never_runs_with_the_guests_registers_after_vm_run)
{
	if (fpu_policy() != FPU_EAGER)
		KT_SKIP("fpu=lazy leaves the previous owner's registers under TS by design "
			"(the LazyFP window, docs/fpu.md)");
	vmt_require();
	for (int a = FPU_ALLOC_EAGER; a <= FPU_ALLOC_LAZY; a++) {
		struct after_vm_run r = { .foreign = true };
		struct vm_config cfg = { .nvcpus = 1, .image = &vm_guest_hello, .quiet = true,
					 .vcpu_main = look_after_vm_run, .priv = &r };
		enum fpu_alloc was = fpu_set_alloc((enum fpu_alloc)a);
		struct vm *vm = vmt_create(&cfg);	/* its vCPU thread, under this policy */
		fpu_set_alloc(was);
		vm_start(vm);
		KT_EXPECT(vm_wait(vm, 5 * NS_PER_S));
		vm_destroy(vm);
		KT_EXPECT_EQ(r.had_area, a == FPU_ALLOC_EAGER);
		KT_EXPECT(!r.foreign);
		if (r.foreign)
			KT_LOG("the guest's registers stayed after vm_run with fpu.alloc=%s",
			       a == FPU_ALLOC_LAZY ? "lazy" : "eager");
	}
}

/* ---- no #NM inside a context op ---- */

static void save_touches_fpu(void *arg)
{
	(void)arg;
	(void)fpu_get_fcw();		/* with TS set: #NM, in the middle of a switch */
}

static const struct ctxop_template fpu_touching_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = save_touches_fpu,
};

/* A thread without THREAD_FPU runs with TS set; its op's save executes an
 * FPU instruction as it leaves. */
static void yields_with_fpu_touching_op(void *arg)
{
	(void)arg;
	ctxop_install(curthread, &fpu_touching_tpl, NULL);
	thread_yield();
}

KTEST_EXPECT_PANIC(fpu, nm_inside_a_context_op_panics, "#NM in a context op's handler")
{
	thread_bind(0);
	struct thread *t = thread_create_on("nm-in-op", yields_with_fpu_touching_op, NULL, 0, 0,
					    PRIO_NORMAL);
	thread_yield();
	thread_join(t);
}

/* ---- a layered context is moved only by a caller that keeps its CPU ---- */

KTEST_EXPECT_PANIC(fpu, layered_load_from_a_preemptible_thread_panics,
		   "fpu_ctx_load: call with preemption or interrupts disabled")
{
	struct fpu_ctx *g = fpu_ctx_create();
	fpu_ctx_load(g);		/* preemption and interrupts on: it could move */
	fpu_ctx_unload(g);
	fpu_ctx_destroy(g);
}
