/*
 * tests/fpu/switch_test.c - a thread's FPU state across switches and
 * migrations (docs/fpu.md, "Who holds the registers", "Eager and lazy").
 *
 *   - a new thread starts in the init state, whatever another thread left
 *     in the registers;
 *   - every part of an image survives preemption on one CPU and moves
 *     between CPUs;
 *   - the per-CPU owner: coming back to a CPU where nothing else was
 *     loaded costs no restore; having run elsewhere always forces one;
 *   - #NM: lazy switching takes one per quantum that uses the FPU, eager
 *     none.
 *
 * New cases about switching and migration go here.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <arch.h>
#include <fpu.h>
#include <sched.h>
#include <thread.h>

/* ---- the init state ---- */

struct init_run {
	struct fpu_image held;		/* the holder's image */
	volatile bool holder_loaded, newcomer_done;
	bool holder_kept;		/* the holder read its image back intact */
	struct fpu_image newcomer_saw;	/* what the newcomer's first reads gave */
	uint16_t newcomer_tags;
};

static void holder_main(void *arg)
{
	struct init_run *r = arg;
	struct fpu_image got;
	fpt_image_load(&r->held);
	uint32_t one = 1;
	__asm__ volatile("fildl %0" ::"m"(one));	/* a value on the x87 stack */
	r->holder_loaded = true;
	while (!r->newcomer_done)
		thread_yield();
	fpt_image_read(&got);
	r->holder_kept = !fpt_image_diff(&r->held, &got);
	__asm__ volatile("fstp %%st(0)" ::: "memory");
}

static void newcomer_main(void *arg)
{
	struct init_run *r = arg;
	fpt_image_read(&r->newcomer_saw);	/* its first FPU instructions */
	r->newcomer_tags = fpt_x87_tags();
	r->newcomer_done = true;
}

KTEST(fpu, new_thread_sees_init_state_while_another_holds_state)
{
	int cpu = fpt_test_cpu();
	struct init_run r = { .holder_loaded = false };
	struct fpu_image init;
	fpt_image_make(&r.held, 77, 5);
	fpt_image_init_state(&init);
	struct thread *h = thread_create_on("holder", holder_main, &r, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	while (!r.holder_loaded)
		thread_sleep(1 * MS);
	/* the holder's state is in the CPU's registers (or its area): a
	 * thread that never used the FPU looks at them */
	struct thread *n = thread_create_on("newcomer", newcomer_main, &r, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	thread_join(n);
	thread_join(h);
	int d = fpt_image_diff(&init, &r.newcomer_saw);
	if (d)
		KT_LOG("the newcomer saw MXCSR 0x%x FCW 0x%x XMM0 0x%lx (diff 0x%x)",
		       r.newcomer_saw.mxcsr, r.newcomer_saw.fcw, r.newcomer_saw.xmm[0], d);
	KT_EXPECT_EQ(d, 0);
	KT_EXPECT_EQ(r.newcomer_tags, 0xFFFF);		/* x87 stack empty */
	KT_EXPECT(r.holder_kept);			/* the holder kept its own */
}

/* ---- state kept by 8 threads preempted on one CPU, or moving ---- */

#define SPINNERS 8

struct spinner {
	int idx;
	int cpu;		/* -1: move from CPU to CPU */
	const volatile bool *stop;
	uint64_t checks, bad, moves, preempted;
	int bad_parts;		/* IMG_* bits, 0x10: an x87 stack entry lost */
};

static void spinner_main(void *arg)
{
	struct spinner *s = arg;
	struct fpu_image want, got;
	fpt_image_make(&want, 1000 + (uint64_t)s->idx, s->idx);
	fpt_image_load(&want);
	uint32_t x87_in = 0x1234 + (uint32_t)s->idx, x87_out = 0;
	__asm__ volatile("fildl %0" ::"m"(x87_in));
	uint64_t preempt0 = curthread->preemptions;
	int n = cpu_count(), target = s->idx % n;
	while (!*s->stop) {
		fpt_image_read(&got);
		int d = fpt_image_diff(&want, &got);
		if (d) {
			s->bad++;
			s->bad_parts |= d;
			fpt_image_load(&want);	/* repair, keep counting */
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

/* Runs SPINNERS threads for `ms` at a 1 ms quantum, on `cpu` (-1: each
 * moving from CPU to CPU); returns the total of bad checks, plus one per
 * spinner with a bad part. */
static uint64_t run_spinners(int cpu, uint64_t ms, struct spinner *sp)
{
	uint64_t old_q = sched_quantum_us;
	sched_set_quantum_us(1000);
	volatile bool stop = false;
	struct thread *t[SPINNERS];
	for (int i = 0; i < SPINNERS; i++) {
		sp[i] = (struct spinner){ .idx = i, .cpu = cpu, .stop = &stop };
		t[i] = thread_create_on("spinner", spinner_main, &sp[i], THREAD_FPU,
					cpu < 0 ? -1 : cpu, PRIO_NORMAL);
	}
	thread_sleep(ms * MS);
	stop = true;
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
	int cpu = fpt_test_cpu();
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
	       arch_fpu.name, fpu_policy_name(fpu_policy()), checks, preempted, bad,
	       fpt_avx_on() ? ", YMM upper halves" : "");
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

/*
 * A worker (an FPU thread) loads its image, then yields to an idler (a
 * thread without THREAD_FPU, which cannot load FPU state, so the CPU's
 * registers stay the worker's) until the idler lets it finish.
 */
struct owner_run {
	bool forge;			/* the idler forges a migration of the worker */
	struct thread *worker;
	volatile bool loaded, may_finish;
	bool forge_ok;			/* fpu_debug_forge_migration succeeded */
	struct fpu_image want, after;	/* the worker's image, loaded and read back */
	struct fpu_counters before, end;	/* the worker's, after loading and at the end */
};

static void worker_main(void *arg)
{
	struct owner_run *r = arg;
	fpt_image_load(&r->want);
	r->loaded = true;
	fpu_thread_counters(curthread, &r->before);
	while (!r->may_finish)
		thread_yield();
	fpt_image_read(&r->after);
	fpu_thread_counters(curthread, &r->end);
}

static void idler_main(void *arg)
{
	struct owner_run *r = arg;
	while (!r->loaded)
		thread_yield();
	for (int i = 0; i < 5; i++)
		thread_yield();
	if (r->forge)
		r->forge_ok = fpu_debug_forge_migration(r->worker, 0xF0F0F0F0F0F0F0F0ULL);
	r->may_finish = true;
}

static void run_worker_and_idler(struct owner_run *r, bool forge)
{
	int cpu = fpt_test_cpu();
	*r = (struct owner_run){ .forge = forge };
	fpt_image_make(&r->want, 4242, 2);
	r->worker = thread_create_on("worker", worker_main, r, THREAD_FPU, cpu, PRIO_NORMAL);
	struct thread *i = thread_create_on("idler", idler_main, r, 0, cpu, PRIO_NORMAL);
	thread_join(i);
	thread_join(r->worker);
}

KTEST(fpu, return_to_same_cpu_pays_no_restore)
{
	struct owner_run r;
	run_worker_and_idler(&r, false);
	KT_EXPECT_EQ(fpt_image_diff(&r.want, &r.after), 0);
	KT_LOG("worker, %s: restores %lu -> %lu, saves %lu -> %lu, #NM %lu -> %lu",
	       fpu_policy_name(fpu_policy()), r.before.restores, r.end.restores,
	       r.before.saves, r.end.saves, r.before.nm_traps, r.end.nm_traps);
	/* it left the CPU at least 6 times, only for a thread without FPU
	 * state: its registers were still there every time */
	KT_EXPECT_EQ(r.end.restores, r.before.restores);
	KT_EXPECT(r.end.saves >= r.before.saves + 6 || fpu_policy() == FPU_LAZY);
}

KTEST(fpu, moved_thread_is_reloaded)
{
	/* The idler makes the worker look as if it had run on another CPU
	 * and changed XMM0 there (in its save area), while this CPU's
	 * registers still hold its old values and this CPU still names it
	 * as their owner. It must come back with the new value. */
	struct owner_run r;
	run_worker_and_idler(&r, true);
	KT_ASSERT(r.forge_ok);
	KT_EXPECT_EQ(r.after.xmm[0], 0xF0F0F0F0F0F0F0F0ULL);
	r.after.xmm[0] = r.want.xmm[0];
	KT_EXPECT_EQ(fpt_image_diff(&r.want, &r.after), 0);	/* the rest as it was */
	KT_EXPECT_EQ(r.end.restores, r.before.restores + 1);
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
	int cpu = fpt_test_cpu();
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
