/*
 * tests/sched/storm_test.c - sleeps, wakeups, joins, exits and ticks, all
 * at once, on every CPU, for seconds.
 *
 * What it catches: cycles of waiting between the tick (which wakes timed
 * sleepers under the timeout lock), schedule() (which waits for a picked
 * thread to leave its old CPU while holding its run-queue lock) and the
 * sleep paths (thread_sleep, thread_join, the wait queues). The review
 * that found one (docs/sched.md, "The wakeup protocol") saw a 4-CPU boot
 * stop within seconds with interrupts off everywhere: this is its recipe,
 * 16 threads doing short sleeps, created and joined in rounds, plus
 * semaphore ping-pong between pairs and threads that create and join
 * children of their own.
 *
 * A hang shows up as the case's watchdog (or the harness's timeout); the
 * case also checks that every thread did all its work and that the
 * kernel heap and page counts return to where they started.
 */
#include <ktest.h>
#include <mm.h>
#include <sched.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>

#define US 1000ULL
#define MS 1000000ULL
#define STORM_THREADS 16
#define STORM_ITERS   12

struct storm {
	struct semaphore ping[STORM_THREADS / 2], pong[STORM_THREADS / 2];
	volatile uint64_t done;		/* iterations finished, all threads */
	volatile uint64_t children;	/* grandchildren created and joined */
};

struct storm_arg {
	struct storm *s;
	int idx;
	uint64_t seed;
};

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void grandchild(void *arg)
{
	thread_sleep(((uintptr_t)arg % 5 + 1) * 20 * US);
}

/* One storm thread: each iteration sleeps a few tens of microseconds (so
 * the tick wakes it), yields, and by turns plays semaphore ping-pong with
 * its partner or creates and joins a child; odd threads leave early by
 * thread_exit() from inside a helper, not by returning. */
static void storm_thread(void *p)
{
	struct storm_arg *a = p;
	struct storm *s = a->s;
	int pair = a->idx / 2;
	bool pinger = (a->idx & 1) == 0;
	for (int i = 0; i < STORM_ITERS; i++) {
		thread_sleep((next_rand(&a->seed) % 200 + 10) * US);
		if (next_rand(&a->seed) % 4 == 0)
			thread_yield();
		if (pinger) {
			sem_post(&s->ping[pair]);
			sem_wait(&s->pong[pair]);
		} else {
			sem_wait(&s->ping[pair]);
			sem_post(&s->pong[pair]);
		}
		if (i % 4 == 3) {
			struct thread *c = thread_create("storm-gc", grandchild,
							 (void *)(uintptr_t)next_rand(&a->seed), 0);
			thread_join(c);
			__atomic_add_fetch(&s->children, 1, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&s->done, 1, __ATOMIC_RELAXED);
	}
	if (!pinger)
		thread_exit();
}

/* Free pages, counting as free the stacks kept for reuse, the page tables
 * that new stacks' guard pages split for good, and the heap's pages (its
 * objects are counted apart; how many slabs hold them, and how many empty
 * ones it keeps, varies with the order of frees): none of these is a leak. */
static size_t free_pages(void)
{
	struct kmem_stats k;
	kmem_stats(&k);
	return pmm_free_count() + thread_stack_cache_pages() + paging_table_pages() + k.pages;
}

KTEST_TIMEOUT(sched, storm_of_sleeps_wakeups_joins_and_exits, 30)
{
	/* 3 s where there are CPUs to race; half a second on one CPU, where
	 * the same paths run but nothing runs beside them. */
	uint64_t length = cpu_count() > 1 ? 3000 * MS : 500 * MS;
	static struct storm s;
	struct storm_arg args[STORM_THREADS];
	struct thread *t[STORM_THREADS];
	struct kmem_stats k0, k1;
	size_t pages0 = 0;

	/* the baseline is taken after the first round, which may grow the
	 * kernel heap's caches for good */
	uint64_t rounds = 0, start = clock_ns();
	while (rounds < 2 || clock_ns() - start < length) {
		if (rounds == 1) {
			kmem_stats(&k0);
			pages0 = free_pages();
		}
		s.done = 0;
		s.children = 0;
		for (int i = 0; i < STORM_THREADS / 2; i++) {
			sem_init(&s.ping[i], 0, "storm.ping");
			sem_init(&s.pong[i], 0, "storm.pong");
		}
		for (int i = 0; i < STORM_THREADS; i++) {
			args[i] = (struct storm_arg){ &s, i, (rounds + 1) * 0x9E3779B97F4A7C15ULL + i };
			t[i] = thread_create("storm", storm_thread, &args[i], 0);
		}
		for (int i = 0; i < STORM_THREADS; i++)
			thread_join(t[i]);
		KT_ASSERT_EQ(s.done, (uint64_t)STORM_THREADS * STORM_ITERS);
		KT_ASSERT_EQ(s.children, (uint64_t)STORM_THREADS * (STORM_ITERS / 4));
		rounds++;
	}
	KT_LOG("%lu rounds of %d threads in %lu ms on %d CPUs", (unsigned long)rounds, STORM_THREADS,
	       (unsigned long)((clock_ns() - start) / MS), cpu_count());
	KT_EXPECT(rounds > 0);
	kmem_stats(&k1);
	KT_EXPECT_EQ(k1.objects_in_use, k0.objects_in_use);
	KT_EXPECT_EQ(k1.bytes_in_use, k0.bytes_in_use);
	KT_EXPECT_EQ(free_pages(), pages0);
}

/* ---- priority changes racing with wakeups and steals ---- */

#define HOPPERS  8
#define FLIPPERS 2

struct prio_race {
	struct thread *hoppers[HOPPERS];
	volatile bool stop;
	volatile uint64_t flips, checks, bad;
};

/* Sleeps and yields in a loop: each wakeup may queue it on another CPU,
 * and idle CPUs steal it. */
static void hopper(void *p)
{
	struct prio_race *r = p;
	uint64_t x = (uintptr_t)&x;
	while (!r->stop) {
		thread_sleep((next_rand(&x) % 50 + 5) * US);
		thread_yield();
	}
}

/* Changes the hoppers' priorities as fast as it can, and checks every run
 * queue now and then. */
static void flipper(void *p)
{
	struct prio_race *r = p;
	uint64_t x = (uintptr_t)&x | 1;
	for (uint64_t n = 0; !r->stop; n++) {
		struct thread *h = r->hoppers[next_rand(&x) % HOPPERS];
		thread_set_priority(h, next_rand(&x) % 2 ? PRIO_NORMAL : PRIO_LOW);
		__atomic_add_fetch(&r->flips, 1, __ATOMIC_RELAXED);
		if (n % 64 == 0) {
			__atomic_add_fetch(&r->bad, (uint64_t)sched_check_runqueues(),
					   __ATOMIC_RELAXED);
			__atomic_add_fetch(&r->checks, 1, __ATOMIC_RELAXED);
		}
	}
}

KTEST_TIMEOUT(sched, set_priority_races_with_wakeups_and_steals, 30)
{
	static struct prio_race r;
	struct thread *f[FLIPPERS];
	r.stop = false;
	r.flips = r.checks = r.bad = 0;
	for (int i = 0; i < HOPPERS; i++)
		r.hoppers[i] = thread_create("hopper", hopper, &r, 0);
	for (int i = 0; i < FLIPPERS; i++)
		f[i] = thread_create("flipper", flipper, &r, 0);
	thread_sleep(cpu_count() > 1 ? 1000 * MS : 300 * MS);
	r.stop = true;
	for (int i = 0; i < FLIPPERS; i++)
		thread_join(f[i]);
	for (int i = 0; i < HOPPERS; i++)
		thread_join(r.hoppers[i]);
	KT_LOG("%lu priority changes, %lu run-queue checks on %d CPUs", (unsigned long)r.flips,
	       (unsigned long)r.checks, cpu_count());
	KT_EXPECT(r.flips > 0 && r.checks > 0);
	KT_EXPECT_EQ(r.bad, 0);
	KT_EXPECT_EQ(sched_check_runqueues(), 0);
}
