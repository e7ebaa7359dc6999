/*
 * tests/sync/sync_test.c - mutexes, condition variables, semaphores and
 * wait queues, under contention across CPUs.
 */
#include <ktest.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>

#define MS 1000000ULL
#define WORKERS 4

/* ---- mutex: a non-atomic counter stays exact under contention ---- */

static struct mutex counter_lock;
static volatile uint64_t counter;
#define INCREMENTS 20000

static void mutex_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < INCREMENTS; i++) {
		mutex_lock(&counter_lock);
		uint64_t v = counter;	/* read, pause, write: loses updates unless locked */
		if (i % 64 == 0)
			thread_yield();	/* sleep-holding: others must block on the mutex */
		counter = v + 1;
		mutex_unlock(&counter_lock);
	}
}

KTEST_TIMEOUT(sync, mutex_keeps_counter_exact_on_4_cpus, 60)
{
	struct thread *t[WORKERS];
	mutex_init(&counter_lock, "test.counter");
	counter = 0;
	for (int i = 0; i < WORKERS; i++)
		t[i] = thread_create_on("mutexer", mutex_worker, NULL, 0, i % cpu_count(),
					PRIO_NORMAL);
	for (int i = 0; i < WORKERS; i++)
		thread_join(t[i]);
	KT_EXPECT_EQ(counter, (uint64_t)WORKERS * INCREMENTS);
}

KTEST(sync, mutex_trylock_and_held)
{
	struct mutex m;
	mutex_init(&m, "test.try");
	KT_EXPECT(!mutex_held(&m));
	KT_EXPECT(mutex_trylock(&m));
	KT_EXPECT(mutex_held(&m));
	KT_EXPECT(!mutex_trylock(&m));
	mutex_unlock(&m);
	KT_EXPECT(!mutex_held(&m));
}

KTEST_EXPECT_PANIC(sync, mutex_unlock_by_non_owner_panics, "mutex_unlock: mutex 'test.unowned'")
{
	struct mutex m;
	mutex_init(&m, "test.unowned");
	mutex_unlock(&m);
}

KTEST_EXPECT_PANIC(sync, mutex_relock_panics, "already holds mutex 'test.twice'")
{
	static struct mutex m;
	mutex_init(&m, "test.twice");
	mutex_lock(&m);
	mutex_lock(&m);
}

/* ---- condition variable: a bounded buffer, producers and consumers ---- */

#define SLOTS 4
#define ITEMS 5000

static struct mutex buf_lock;
static struct condvar not_full, not_empty;
static int buf[SLOTS], head, tail, used;
static volatile uint64_t consumed_sum;

static void producer(void *arg)
{
	int base = (int)(uintptr_t)arg;
	for (int i = 1; i <= ITEMS; i++) {
		mutex_lock(&buf_lock);
		while (used == SLOTS)
			cv_wait(&not_full, &buf_lock);
		buf[head] = base + i;
		head = (head + 1) % SLOTS;
		used++;
		cv_signal(&not_empty);
		mutex_unlock(&buf_lock);
	}
}

static void consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITEMS; i++) {
		mutex_lock(&buf_lock);
		while (used == 0)
			cv_wait(&not_empty, &buf_lock);
		consumed_sum += (uint64_t)buf[tail];
		tail = (tail + 1) % SLOTS;
		used--;
		cv_signal(&not_full);
		mutex_unlock(&buf_lock);
	}
}

KTEST_TIMEOUT(sync, condvar_bounded_buffer_on_4_cpus, 60)
{
	mutex_init(&buf_lock, "test.buf");
	cv_init(&not_full, "test.not_full");
	cv_init(&not_empty, "test.not_empty");
	head = tail = used = 0;
	consumed_sum = 0;
	int n = cpu_count();
	struct thread *p0 = thread_create_on("prod0", producer, (void *)0, 0, 0, PRIO_NORMAL);
	struct thread *p1 = thread_create_on("prod1", producer, (void *)100000, 0, 1 % n, PRIO_NORMAL);
	struct thread *c0 = thread_create_on("cons0", consumer, NULL, 0, 2 % n, PRIO_NORMAL);
	struct thread *c1 = thread_create_on("cons1", consumer, NULL, 0, 3 % n, PRIO_NORMAL);
	thread_join(p0);
	thread_join(p1);
	thread_join(c0);
	thread_join(c1);
	/* each producer sends base+1 .. base+ITEMS */
	uint64_t expect = 2 * ((uint64_t)ITEMS * (ITEMS + 1) / 2) + 100000ULL * ITEMS;
	KT_EXPECT_EQ(consumed_sum, expect);
	KT_EXPECT_EQ(used, 0);
}

KTEST(sync, cv_timedwait_times_out)
{
	struct mutex m;
	struct condvar cv;
	mutex_init(&m, "test.cvm");
	cv_init(&cv, "test.cv");
	mutex_lock(&m);
	uint64_t t0 = clock_ns();
	bool woken = cv_timedwait(&cv, &m, 5 * MS);
	uint64_t took = clock_ns() - t0;
	KT_EXPECT(!woken);
	KT_EXPECT(mutex_held(&m));
	KT_EXPECT(took >= 5 * MS);
	mutex_unlock(&m);
}

/* ---- no lost wakeup: ping-pong across CPUs ---- */

#define PINGPONGS 100000

static struct semaphore ping, pong;

static void ponger(void *arg)
{
	(void)arg;
	for (int i = 0; i < PINGPONGS; i++) {
		sem_wait(&ping);
		sem_post(&pong);
	}
}

static volatile int lost_wakeups;

static void pinger(void *arg)
{
	(void)arg;
	for (int i = 0; i < PINGPONGS; i++) {
		sem_post(&ping);
		/* a lost wakeup leaves us waiting for ever: time out and count it */
		if (!sem_timedwait(&pong, 1000 * MS)) {
			lost_wakeups++;
			sem_post(&ping);	/* let the ponger finish its loop */
		}
	}
}

/* Both sides are threads without THREAD_FPU, so the round trip is the
 * scheduler's alone (the case's own thread is an FPU thread). */
KTEST_TIMEOUT(sync, no_lost_wakeup_in_100000_ping_pongs, 300)
{
	sem_init(&ping, 0, "test.ping");
	sem_init(&pong, 0, "test.pong");
	lost_wakeups = 0;
	int n = cpu_count();
	struct thread *a = thread_create_on("pinger", pinger, NULL, 0, 0, PRIO_NORMAL);
	struct thread *b = thread_create_on("ponger", ponger, NULL, 0, n > 1 ? 1 : 0, PRIO_NORMAL);
	thread_join(a);
	thread_join(b);
	KT_EXPECT_EQ(lost_wakeups, 0);
}

/* ---- semaphores ---- */

KTEST(sync, semaphore_counts_and_times_out)
{
	struct semaphore s;
	sem_init(&s, 2, "test.sem");
	KT_EXPECT(sem_trywait(&s));
	KT_EXPECT(sem_trywait(&s));
	KT_EXPECT(!sem_trywait(&s));
	uint64_t t0 = clock_ns();
	KT_EXPECT(!sem_timedwait(&s, 3 * MS));
	KT_EXPECT(clock_ns() - t0 >= 3 * MS);
	sem_post(&s);
	KT_EXPECT(sem_timedwait(&s, 3 * MS));
}

/* ---- wait queue: wake_all wakes every sleeper ---- */

static struct waitq wq;
static volatile int awake;

static void sleeper(void *arg)
{
	(void)arg;
	unsigned long flags = spin_lock_irqsave(&wq.lock);
	waitq_wait_locked(&wq, &flags, 0, "test.sleeper");
	spin_unlock_irqrestore(&wq.lock, flags);
	__atomic_fetch_add(&awake, 1, __ATOMIC_SEQ_CST);
}

KTEST(sync, waitq_wake_all_wakes_every_sleeper)
{
	struct thread *t[WORKERS];
	waitq_init(&wq, "test.wq");
	awake = 0;
	for (int i = 0; i < WORKERS; i++)
		t[i] = thread_create("sleeper", sleeper, NULL, 0);
	/* wait until all four are queued */
	int queued = 0;
	for (int tries = 0; tries < 1000 && queued < WORKERS; tries++) {
		thread_sleep(1 * MS);
		unsigned long flags = spin_lock_irqsave(&wq.lock);
		queued = 0;
		struct list *pos;
		list_for_each(pos, &wq.waiters)
			queued++;
		spin_unlock_irqrestore(&wq.lock, flags);
	}
	KT_ASSERT_EQ(queued, WORKERS);
	KT_EXPECT_EQ(awake, 0);
	KT_EXPECT_EQ(waitq_wake_all(&wq), WORKERS);
	for (int i = 0; i < WORKERS; i++)
		thread_join(t[i]);
	KT_EXPECT_EQ(awake, WORKERS);
}
