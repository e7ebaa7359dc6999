/*
 * tests/fpu/first_use_test.c - a thread's first FPU use with fpu.alloc=lazy,
 * and the rule the Xen PV bug broke (docs/fpu.md, "First use and the Xen
 * PV bug"): nothing may sleep between "TS cleared" and "this thread's state
 * loaded and recorded as the owner".
 *
 * A first use where the thread may not sleep (preemption off) allocates
 * without sleeping; if that fails the thread cannot be killed there
 * either, and the panic used to be a bare "unexpected trap: device not
 * available (#NM)": it now says why.
 */
#include "fpu_test.h"
#include <ktest.h>
#include <arch.h>
#include <bugs.h>
#include <fpu.h>
#include <mm.h>
#include <sched.h>
#include <thread.h>

/* ---- first use allocates the save area ---- */

struct first_use {
	volatile bool go;		/* set by the case: make the first use */
	bool had_area_before;		/* an area before the first FPU instruction */
	bool has_area_after;		/* an area after it, and the init state in it */
	struct fpu_counters counters;	/* the thread's, at its end */
};

static void first_user(void *arg)
{
	struct first_use *f = arg;
	while (!f->go)
		thread_yield();
	f->had_area_before = fpu_thread_has_area(curthread);
	struct fpu_image init, got;
	fpt_image_init_state(&init);
	fpt_image_read(&got);			/* the first FPU instructions */
	f->has_area_after = fpu_thread_has_area(curthread) && !fpt_image_diff(&init, &got);
	for (int i = 0; i < 5; i++)
		thread_yield();
	fpu_thread_counters(curthread, &f->counters);
}

KTEST(fpu, first_use_allocates_the_save_area)
{
	struct first_use f = { .go = false };
	enum fpu_alloc old = fpu_set_alloc(FPU_ALLOC_LAZY);
	struct thread *t = thread_create("first-user", first_user, &f, THREAD_FPU);
	fpu_set_alloc(old);
	KT_EXPECT(!fpu_thread_has_area(t));
	f.go = true;
	thread_join(t);
	KT_EXPECT(!f.had_area_before);
	KT_EXPECT(f.has_area_after);
	KT_EXPECT_EQ(f.counters.first_uses, 1);
	KT_EXPECT(f.counters.nm_traps >= 1);	/* the first use traps in either policy */
	if (fpu_policy() == FPU_EAGER)
		KT_EXPECT_EQ(f.counters.nm_traps, 1);
}

/* ---- a first use with no memory, where the thread may not sleep ---- */

static void first_use_with_preemption_off(void *arg)
{
	while (!*(volatile bool *)arg)
		thread_yield();
	kpreempt_disable();
	fpu_test_touch();		/* #NM: the area, without sleeping: none left */
	kpreempt_enable();
}

KTEST_EXPECT_PANIC(fpu, first_use_without_memory_where_it_cannot_sleep_says_why,
		   "no memory for its FPU save area")
{
	volatile bool go = false;
	enum fpu_alloc old = fpu_set_alloc(FPU_ALLOC_LAZY);
	struct thread *t = thread_create("no-room", first_use_with_preemption_off, (void *)&go,
					 THREAD_FPU);
	fpu_set_alloc(old);
	/* all of memory taken, and every slot an area could have: the boot
	 * ends with this case, so nothing is given back */
	for (int order = PMM_MAX_ORDER; order >= 0; order--)
		while (pmm_alloc_pages((unsigned)order))
			;
	while (kmem_alloc_aligned(arch_fpu_area_size(), ARCH_FPU_AREA_ALIGN, KM_NOSLEEP))
		;
	go = true;
	thread_join(t);
}

/* ---- the Xen rule ---- */

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
struct xen_run {
	struct fpt_keeper holder;	/* its bad checks are leaks too */
	struct thread *volatile sleeper;	/* set once created */
	volatile uint64_t leaks;	/* wrong registers seen by sleeper or newcomer */
	volatile bool window;		/* the newcomer came while the sleeper slept in
					 * its #NM, without an area: the scenario happened */
};

/* Is the sleeper inside its first #NM (counted on entry, before it sleeps)? */
static bool sleeper_in_nm(struct xen_run *x)
{
	struct fpu_counters c;
	if (!x->sleeper)
		return false;
	fpu_thread_counters(x->sleeper, &c);
	return c.nm_traps > 0;
}

/* Yields 20 times, each time checking the caller's registers against
 * `want`: a difference is a leak, counted and repaired. */
static void check_for_leaks(struct xen_run *x, const struct fpu_image *want)
{
	struct fpu_image got;
	for (int i = 0; i < 20; i++) {
		thread_yield();
		fpt_image_read(&got);
		if (fpt_image_diff(want, &got)) {
			x->leaks++;
			fpt_image_load(want);
		}
	}
}

static void xen_sleeper(void *arg)
{
	struct xen_run *x = arg;
	struct fpu_image want;
	fpt_image_make(&want, 0x5EE9, 2);
	while (!x->holder.ready)
		thread_yield();
	fpt_image_load(&want);			/* #NM: allocates, sleeps */
	check_for_leaks(x, &want);
}

static void xen_newcomer(void *arg)
{
	struct xen_run *x = arg;
	struct fpu_image init, want, got;
	fpt_image_init_state(&init);
	fpt_image_make(&want, 0xC0FFEE, 3);
	while (!sleeper_in_nm(x))
		thread_yield();
	x->window = x->sleeper->state == TS_SLEEPING && !fpu_thread_has_area(x->sleeper);
	fpt_image_read(&got);			/* first FPU use, while the sleeper sleeps */
	if (fpt_image_diff(&init, &got))
		x->leaks++;
	fpt_image_load(&want);
	check_for_leaks(x, &want);
}

/* Runs the scenario with bug=fpu_nm_sleep_ts_clear on or off; returns the
 * leaks all three threads saw; *window: whether it happened as planned
 * (an allocation that does not sleep leaves no window, and no leak to
 * find either way). */
static uint64_t xen_scenario(bool bug, bool *window)
{
	int cpu = fpt_test_cpu();
	thread_bind(cpu);
	bool was = bug_on(fpu_nm_sleep_ts_clear);
	enum fpu_policy old_policy = fpu_set_policy(FPU_LAZY);
	uint64_t old_sleep = fpu_set_nm_sleep_ns(20 * MS);
	struct xen_run x = { .holder = { .seed = 0xA11CE, .variant = 1 } };
	/* only the sleeper allocates at first use, whatever fpu.alloc= says */
	enum fpu_alloc old_alloc = fpu_set_alloc(FPU_ALLOC_EAGER);
	struct thread *h = thread_create_on("holder", fpt_keeper_main, &x.holder, THREAD_FPU,
					    cpu, PRIO_NORMAL);
	fpu_set_alloc(FPU_ALLOC_LAZY);
	struct thread *s = thread_create_on("sleeper", xen_sleeper, &x, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	x.sleeper = s;
	fpu_set_alloc(FPU_ALLOC_EAGER);
	struct thread *n = thread_create_on("newcomer", xen_newcomer, &x, THREAD_FPU, cpu,
					    PRIO_NORMAL);
	fpu_set_alloc(old_alloc);
	bug_set("fpu_nm_sleep_ts_clear", bug);
	thread_join(s);
	x.sleeper = NULL;
	thread_join(n);
	x.holder.stop = true;
	thread_join(h);
	bug_set("fpu_nm_sleep_ts_clear", was);
	fpu_set_nm_sleep_ns(old_sleep);
	fpu_set_policy(old_policy);	/* also sets TS right for this thread again */
	thread_bind(-1);
	*window = x.window;
	return x.leaks + x.holder.bad;
}

/* The scenario until its window opened (at most three runs): the newcomer
 * must find the sleeper still asleep in #NM, 20 ms of guest time that a
 * loaded host can take from the vCPU (seen once in CI, with the bug on:
 * 3 leaks found, but no window). Returns the leaks of every run. */
static uint64_t xen_scenario_with_window(bool bug, bool *window, int *runs)
{
	uint64_t leaks = 0;
	*window = false;
	for (*runs = 0; *runs < 3 && !*window; (*runs)++)
		leaks += xen_scenario(bug, window);
	return leaks;
}

KTEST(fpu, nm_sleep_keeps_ts_set)
{
	bool window;
	int runs;
	/* the switch as the boot set it: off unless a grade run turns it on
	 * to see the score drop (labs/lazyfpu.md) */
	uint64_t leaks = xen_scenario_with_window(bug_on(fpu_nm_sleep_ts_clear), &window, &runs);
	KT_LOG("first-use allocation slept 20 ms in #NM with TS set: %lu leaks (%d run%s)", leaks,
	       runs, runs == 1 ? "" : "s");
	KT_EXPECT(window);		/* the newcomer ran while the sleeper slept in #NM */
	KT_EXPECT_EQ(leaks, 0);
}

KTEST(fpu, nm_sleep_bug_detector_trips)
{
	bool window;
	int runs;
	uint64_t leaks = xen_scenario_with_window(true, &window, &runs);
	KT_LOG("with bug=fpu_nm_sleep_ts_clear: %lu leaks (register contents seen by the "
	       "wrong thread; %d run%s)", leaks, runs, runs == 1 ? "" : "s");
	KT_EXPECT(window);
	KT_EXPECT(leaks > 0);
}
