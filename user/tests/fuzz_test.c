/*
 * user/tests/fuzz_test.c - a system-call fuzzer, after Trinity.
 *
 * Several child processes make system calls with random numbers (every
 * valid one, some just past the table, huge and negative ones) and
 * arguments drawn from pools that a careless or hostile program would
 * pass: valid pointers (a stack buffer, a heap block), freed memory (heap
 * given back with sbrk), kernel addresses, addresses just below the end
 * of user space, non-canonical and wild ones, and lengths at powers of two
 * plus or minus one. On four CPUs they run for 10 s (1 s on fewer). The
 * kernel must survive, every child must end the way the rules say, and
 * the counters of sysinfo must come back to where they were. (A write to
 * the console goes only through pointers outside user space, which fail:
 * bytes of ours there could break a line of the test report.)
 *
 * What is left out, and why: exit and thread_exit end the fuzzer itself
 * (the children do call exit, at the end); kill only goes to pids that
 * cannot be anyone's here (a random kill could end the test runner's
 * process); a new thread gets a real function to start in (a wild one
 * would kill the child for a fault: a fine outcome, but then it stops
 * fuzzing); sleep is bounded (a random one could last a year); sbrk moves
 * by at most a MiB either way (four processes taking a GiB each would only
 * test the page allocator's patience); the IPC calls that may wait never do
 * (IPC_NONBLOCK: a receive on an endpoint nobody sends to would wait for
 * ever), as the IPC fuzzer below bounds its waits.
 */
#include "helpers.h"
#include <uvm.h>

#define FUZZERS 4

static uint64_t pool_pointer(uint64_t *rng, void *stack_buf, void *heap_buf, void *freed)
{
	static const uint64_t fixed[] = {
		0, 1, 0x100000,			/* NULL, almost, the kernel image */
		0xFFFFFFFF80000000ULL,		/* where other kernels live */
		0x8000000000000000ULL,		/* non-canonical */
		0x0000800000000000ULL,		/* the first non-canonical address */
		0x00007FFFFFFFF000ULL - 3,	/* runs off the end of user space */
		0x0000008000000000ULL,		/* user space's first page (unmapped) */
		0x0000008000400000ULL,		/* the program's text (read-only) */
	};
	switch (rand64(rng) % 5) {
	case 0: return (uint64_t)stack_buf;
	case 1: return (uint64_t)heap_buf;
	case 2: return (uint64_t)freed;
	case 3: return fixed[rand64(rng) % (sizeof(fixed) / sizeof(fixed[0]))];
	default: return rand64(rng);		/* wild */
	}
}

static uint64_t pool_length(uint64_t *rng)
{
	uint64_t p = 1ULL << (rand64(rng) % 40);
	return p + (rand64(rng) % 3) - 1;	/* 2^k - 1, 2^k, 2^k + 1 */
}

static long pool_number(uint64_t *rng)
{
	switch (rand64(rng) % 8) {
	case 0: return -1 - (long)(rand64(rng) % 1000);
	case 1: return (long)(rand64(rng) >> 1);
	case 2: return SYS_COUNT + (long)(rand64(rng) % 4);
	default: return (long)(rand64(rng) % SYS_COUNT);
	}
}

/* Threads a fuzzer started may outlive it a moment: waits (up to a second)
 * for the reaper, then fills *after. */
static void settle(const struct sysinfo *before, struct sysinfo *after)
{
	for (int tries = 0; tries < 100; tries++) {
		UT_ASSERT_EQ(sysinfo(after), 0);
		if (after->procs == before->procs && after->free_pages == before->free_pages)
			return;
		sleep_ns(10000000);
	}
}

static long pool_arg(uint64_t *rng, void *stack_buf, void *heap_buf, void *freed)
{
	switch (rand64(rng) % 3) {
	case 0: return (long)pool_pointer(rng, stack_buf, heap_buf, freed);
	case 1: return (long)pool_length(rng);
	default: return (long)(rand64(rng) % 64) - 8;	/* small numbers, some negative */
	}
}

/* A thread's first instruction: a raw SYS_thread_create starts it with
 * nothing on its stack to return to, so it must end by uthread_exit. */
static void __attribute__((noreturn)) thread_noop(void)
{
	uthread_exit();
}

/* One fuzzing child: returns the number of calls made. */
static unsigned long fuzz(uint64_t seed, unsigned long ns)
{
	uint64_t rng = seed;
	char stack_buf[256];
	memset(stack_buf, 0, sizeof(stack_buf));
	char *heap_buf = malloc(4096);
	char *freed = sbrk(8192);
	sbrk(-8192);				/* now unmapped: "freed" */
	unsigned long calls = 0, end = clock_ns() + ns;
	while (clock_ns() < end) {
		long nr = pool_number(&rng);
		long a[6];
		for (int i = 0; i < 6; i++)
			a[i] = pool_arg(&rng, stack_buf, heap_buf, freed);
		switch (nr) {
		case SYS_exit:
		case SYS_thread_exit:
		case SYS_utest_result:
			continue;
		case SYS_kill:
			a[0] = 100000 + (long)(rand64(&rng) % 1000);	/* nobody's */
			break;
		case SYS_thread_create:
			a[0] = (long)(rand64(&rng) % 2 ? (uint64_t)thread_noop : (uint64_t)a[0]);
			if ((uint64_t)a[0] != (uint64_t)thread_noop)
				a[0] = 0;	/* a bad entry, refused (-EFAULT) */
			break;
		case SYS_sleep:
			a[0] = (long)(rand64(&rng) % 100000);
			break;
		case SYS_sbrk:
			a[0] = (long)(rand64(&rng) % (2 << 20)) - (1 << 20);
			break;
		case SYS_write:
			/* to the console only through bad pointers (-EFAULT): bytes
			 * of ours there could break a line of the test report */
			if ((a[0] == 1 || a[0] == 2) && (uint64_t)a[1] >= 0x0000008000000000ULL &&
			    (uint64_t)a[1] < 0x00007FFFFFFFF000ULL)
				a[2] = 0;
			break;
		case SYS_set_cpus:
			break;
		case SYS_vm_run:
			/* a guest made of random bytes could spin or halt for
			 * ever: the vCPU is taken out first, so the run goes
			 * through its checks and its way in and out, and stops */
			syscall6(SYS_vm_ctl, a[0], UVM_CTL_DEACTIVATE, a[1], 0, 0, 0);
			break;
		case SYS_ipc_send:
		case SYS_ipc_recv:
		case SYS_ipc_call:
		case SYS_ipc_reply_recv:
		case SYS_notify_wait:
			/* a wait on an endpoint of its own could last for ever:
			 * never wait (fuzz.ipc_* fuzzes the waits, bounded) */
			a[0] |= (long)IPC_NONBLOCK;
			a[0] &= ~(long)IPC_EXT;	/* an ext from random memory could
						 * receive over this fuzzer's stack */
			break;
		default:
			break;
		}
		long r = syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		calls++;
		if (nr == SYS_fork && r == 0)
			exit(0);		/* a child of the fuzzer: gone at once */
		if (nr == SYS_spawn || nr == SYS_fork || nr == SYS_thread_create) {
			int status;		/* reap what was made */
			while (waitpid(-1, &status) > 0)
				;
		}
	}
	set_cpus(~0u);
	return calls;
}

/* The fuzzing children, each fuzzing for ns; their pids into pids[]. */
static void start_syscall_fuzzers(unsigned long ns, int *pids)
{
	for (int i = 0; i < FUZZERS; i++) {
		pids[i] = fork();
		UT_ASSERT(pids[i] >= 0);
		if (pids[i] == 0) {
			unsigned long calls = fuzz(0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1), ns);
			UT_LOG("fuzzer %d: %lu calls", i, calls);
			exit(calls > 0 ? 0 : 1);
		}
	}
}

/* Each of n children must end with status 0. */
static void reap_fuzzers(const int *pids, int n)
{
	for (int i = 0; i < n; i++) {
		int status = -1;
		UT_EXPECT_EQ(waitpid(pids[i], &status), pids[i]);
		UT_EXPECT_EQ(status, 0);
	}
}

/* Four CPUs: the two fuzzers share one 10-second window, in the IPC case
 * below (both fuzz for 10 s on four CPUs, each against the other's load,
 * and the matrix spends 10 s of four busy CPUs on them rather than 20). */
static bool fuzzers_together(const struct sysinfo *si)
{
	return si->ncpus >= 4;
}

UTEST_TIMEOUT(fuzz, random_syscalls_from_several_processes, 40)
{
	struct sysinfo before, after;
	UT_ASSERT_EQ(sysinfo(&before), 0);
	if (fuzzers_together(&before))
		UT_SKIP("on four CPUs this fuzzer runs for its 10 s in "
			"fuzz.ipc_random_operations_from_several_processes, beside the IPC fuzzer");
	int pids[FUZZERS];
	start_syscall_fuzzers(1000000000UL, pids);
	reap_fuzzers(pids, FUZZERS);
	/* threads a fuzzer started may outlive it a moment: let the reaper in */
	settle(&before, &after);
	ut_expect_baseline(&before, &after);
}

/*
 * The IPC fuzzer. Four processes, two threads each, share a few endpoints
 * and notifications (made before the fork, so every table starts with
 * them) and make random IPC calls on random handle numbers, with random
 * rights, badges, flags, sizes, buffers (the pools above) and handles to
 * move, while others close, copy and make handles under them; and make,
 * run and take apart VMs driven from user space, whose handles travel with
 * the rest (vm_fuzz, below). Every wait is bounded: IPC_NONBLOCK, or an
 * ext with a timeout of at most 2 ms (a call's covers its wait for the
 * reply); a vCPU's run, by a third thread (vm_fuzz_watch). On four CPUs for 10 s, with
 * the system-call fuzzers beside it (1 s on fewer, alone), and, in a boot
 * that runs the kernel's random rendezvous too, inside that case's storm
 * of guests (tests/vmm/rendezvous_test.c starts it); then every
 * object, handle and byte of kernel heap the kernel counts must be back
 * where it was.
 */
#define IPC_FUZZERS 4

static long ipc_handle(uint64_t *rng)
{
	switch (rand64(rng) % 8) {
	case 0: return (long)(rand64(rng) % 80) - 8;	/* out of range, some */
	default: return (long)(rand64(rng) % 12);	/* the low slots, where handles are */
	}
}

static void ipc_fuzz_ext(uint64_t *rng, struct ipc_ext *e, void *stack_buf, void *heap_buf,
			 void *freed)
{
	memset(e, 0, sizeof(*e));
	e->timeout_ns = rand64(rng) % 2000000 + 1;
	if (rand64(rng) % 2) {
		e->data = (void *)pool_pointer(rng, stack_buf, heap_buf, freed);
		/* mostly lengths the buffers hold (so data really moves) */
		e->len = rand64(rng) % 4 ? (unsigned)(rand64(rng) % 257)
					 : (unsigned)(pool_length(rng) % 5000);
		e->room = rand64(rng) % 4 ? 256 : (unsigned)(pool_length(rng) % 5000);
	}
	if (rand64(rng) % 3 == 0) {
		e->nhandles = (unsigned)(rand64(rng) % 6);	/* 5: one too many */
		for (int i = 0; i < IPC_MSG_HANDLES; i++)
			e->handles[i] = (int)ipc_handle(rng);
	}
	e->handle_room = (unsigned)(rand64(rng) % 5);
}

/* The IPC fuzzer's buffers (below): what a receive or a read of guest
 * memory writes must stay inside them. */
#define IPC_FUZZ_BUF 8192

/*
 * VM handles (uapi/vmm.h) are handles like the others here: made, run,
 * closed, duplicated and moved in messages at random, so that the vCPUs of
 * one VM are run by threads of several processes, a handle's last close
 * comes from any of them in the middle of others' runs, and a process
 * ends with runs in progress. A VM gets one of the sample guests, or
 * random bytes over it (which may spin or halt for ever: a run ends when
 * the VM's last handle goes, as the end of ipc_fuzz makes sure).
 */
static long vm_fuzz_create(uint64_t *rng, void *stack_buf, void *heap_buf, void *freed)
{
	struct uvm_config cfg = { 0 };
	cfg.nvcpus = rand64(rng) % 8 ? 1 + (unsigned)(rand64(rng) % 4) : (unsigned)pool_number(rng);
	if (rand64(rng) % 3 == 0)
		cfg.flags = rand64(rng) % 4 ? UVM_F_APS_WAIT_SIPI : (unsigned)rand64(rng);
	switch (rand64(rng) % 4) {
	case 0: cfg.mem_size = 0x80000; break;	/* what the smp guest needs */
	case 1: cfg.mem_size = pool_length(rng); break;
	default: break;				/* the least */
	}
	for (int i = 0; i < 3; i++)
		cfg.args[i] = (unsigned)(rand64(rng) % 24);
	long vm = rand64(rng) % 16 ? vm_create(&cfg)
				   : vm_create((struct uvm_config *)pool_pointer(rng, stack_buf,
									      heap_buf, freed));
	if (vm >= 0 && rand64(rng) % 4)
		uvm_load((int)vm, &uvm_images[rand64(rng) % (uint64_t)uvm_nimages]);
	return vm;
}

/* One random VM call on handle h; counts into made and ran the VMs made
 * and the runs that entered a guest (and came back with an exit). */
static void vm_fuzz(uint64_t *rng, long h, void *stack_buf, void *heap_buf, void *freed,
		    unsigned long *made, unsigned long *ran)
{
	int id = rand64(rng) % 8 ? (int)(rand64(rng) % 4) : (int)pool_number(rng);
	struct uvm_run run = { .in_value = (unsigned)rand64(rng) };
	struct uvm_info info;
	switch (rand64(rng) % 8) {
	case 0:
		*made += vm_fuzz_create(rng, stack_buf, heap_buf, freed) >= 0;
		break;
	case 1: case 2: case 3:
		*ran += vm_run((int)h, id, rand64(rng) % 8 ? &run
			       : (struct uvm_run *)pool_pointer(rng, stack_buf, heap_buf,
								freed)) == 0;
		break;
	case 4: {
		int op = (int)(rand64(rng) % 3);
		uint64_t len = rand64(rng) % 4 ? rand64(rng) % 64 : pool_length(rng);
		if (op == UVM_MEM_READ && len > IPC_FUZZ_BUF)
			len = IPC_FUZZ_BUF;	/* what it writes stays inside our buffers */
		vm_memory((int)h, op,
			  rand64(rng) % 4 ? UVM_CODE_GPA + rand64(rng) % 256 : (uint64_t)pool_length(rng),
			  (void *)pool_pointer(rng, stack_buf, heap_buf, freed), len);
		break;
	}
	case 5:
		vm_event((int)h, id, (unsigned)rand64(rng));
		break;
	case 6:
		if (rand64(rng) % 4 == 0)
			vm_deactivate((int)h, id);
		break;
	default:
		vm_info((int)h, id, rand64(rng) % 4 ? &info
			: (struct uvm_info *)pool_pointer(rng, stack_buf, heap_buf, freed));
		break;
	}
}

/* Closes every VM handle of this process's table. */
static void vm_fuzz_close_all(void)
{
	struct ipc_handle_info info;
	for (int h = 0; h < IPC_HANDLES_MAX; h++)
		if (handle_info(h, &info) == 0 && info.type == IPC_OBJ_VM)
			handle_close(h);
}

/* The valid buffers are larger than any message (IPC_DATA_MAX), so what a
 * receive writes stays inside them; they and the freed range are made by
 * the process's first thread before the second starts (two threads moving
 * the break at once would free each other's memory). */

struct ipc_fuzz_arg {
	uint64_t seed;
	unsigned long ns;
	unsigned long calls, vm_calls, vms_made, vm_runs;
	char *buf_a, *buf_b, *freed;
	int *finished;			/* the process's threads that are done */
};

static void ipc_fuzz(void *argp)
{
	struct ipc_fuzz_arg *arg = argp;
	uint64_t rng = arg->seed;
	char *stack_buf = arg->buf_a, *heap_buf = arg->buf_b, *freed = arg->freed;
	unsigned long end = clock_ns() + arg->ns;
	while (clock_ns() < end) {
		struct ipc_msg m = { rand64(&rng), { rand64(&rng), rand64(&rng), 0, 0 }, 0, false };
		struct ipc_ext ext;
		ipc_fuzz_ext(&rng, &ext, stack_buf, heap_buf, freed);
		struct ipc_ext *e = rand64(&rng) % 3 ? &ext : NULL;
		unsigned long flags = e ? (rand64(&rng) % 4 ? 0 : IPC_NONBLOCK) : IPC_NONBLOCK;
		if (rand64(&rng) % 50 == 0)
			flags |= 1UL << (34 + rand64(&rng) % 20);	/* an unknown flag */
		long h = ipc_handle(&rng);
		struct ipc_handle_info info;
		switch (rand64(&rng) % 18) {
		case 0: ipc_send((int)h, flags, &m, e); break;
		case 1: case 2: ipc_recv((int)h, flags, &m, e); break;
		case 3: case 4: ipc_call((int)h, flags, &m, e ? e : &ext); break;
		case 5: ipc_reply(0, &m, e); break;
		case 6: ipc_reply_recv((int)h, flags, &m, e ? e : &ext); break;
		case 7: ipc_reply_to((int)h, &m, e); break;
		case 8: ipc_reply_save(); break;
		case 9:
			if (rand64(&rng) % 2)
				endpoint_create();
			else
				notify_create();
			break;
		case 10: handle_close((int)h); break;
		case 11:
			handle_dup((int)h, (unsigned)(rand64(&rng) % 32),
				   rand64(&rng) % 2 ? 0 : rand64(&rng) % 100);
			break;
		case 12:
			handle_info((int)h, rand64(&rng) % 4 ? &info
							    : (struct ipc_handle_info *)pool_pointer(
								      &rng, stack_buf, heap_buf, freed));
			break;
		case 13: notify_signal((int)h, rand64(&rng) % 4 ? 1UL << (rand64(&rng) % 64) : 0); break;
		case 14:
			notify_wait((int)h, rand64(&rng) % 2 ? IPC_NONBLOCK : 0,
				    rand64(&rng) % 2000000 + 1);
			break;
		case 15: {
			struct ipc_stats st;
			ipc_stats(rand64(&rng) % 4 ? &st : (struct ipc_stats *)8);
			break;
		}
		default:
			vm_fuzz(&rng, h, stack_buf, heap_buf, freed, &arg->vms_made, &arg->vm_runs);
			arg->vm_calls++;
			break;
		}
		arg->calls++;
	}
	__atomic_add_fetch(arg->finished, 1, __ATOMIC_ACQ_REL);
}

/* A run may go on for ever (a guest of random bytes), as long as its VM
 * has a handle, in this process or another. So a third thread of each
 * fuzzer, every 5 ms of the time, takes a random vCPU out of each VM it
 * holds (half the time) or closes the handle (an eighth), ending runs of
 * its own threads' or others' in the middle: a guest spins for some
 * milliseconds, not for the rest of the time, which the kernel's storm
 * beside it needs (its host rendezvous wait for each of its vCPU threads
 * to get a CPU). Once the time is up it keeps its table free of VM
 * handles until both fuzzing threads are done (none comes back: a done
 * thread receives nothing), so that every run ends. */
static void vm_fuzz_watch(void *argp)
{
	struct ipc_fuzz_arg *arg = argp;
	uint64_t rng = arg->seed ^ 0x5851F42D4C957F2DULL;
	unsigned long end = clock_ns() + arg->ns;
	struct ipc_handle_info info;
	while (clock_ns() < end) {
		sleep_ns(5000000);
		for (int h = 0; h < IPC_HANDLES_MAX; h++) {
			if (handle_info(h, &info) != 0 || info.type != IPC_OBJ_VM)
				continue;
			uint64_t r = rand64(&rng) % 8;
			if (r == 0)
				handle_close(h);
			else if (r < 5)
				vm_deactivate(h, (int)(rand64(&rng) % 4));
		}
	}
	do {
		vm_fuzz_close_all();
		sleep_ns(1000000);
	} while (__atomic_load_n(arg->finished, __ATOMIC_ACQUIRE) < 2);
}

UTEST_TIMEOUT(fuzz, ipc_random_operations_from_several_processes, 40)
{
	struct sysinfo before, after;
	struct ipc_stats s0, s1;
	/* this process's own IPC state and handle table, made by its first
	 * IPC call, stay until it ends: make them before the baseline */
	UT_ASSERT_EQ(handle_close(endpoint_create()), 0);
	/* and so does the kernel's SVM state (its per-CPU pages), made with
	 * the first VM of the boot */
	struct uvm_config vcfg = { .nvcpus = 4, .mem_size = 0x80000 };
	int warm = vm_create(&vcfg);
	if (warm >= 0)
		UT_ASSERT_EQ(handle_close(warm), 0);
	UT_ASSERT_EQ(sysinfo(&before), 0);
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	unsigned long ns = before.ncpus >= 4 ? 10000000000UL : 1000000000UL;
	/* the shared objects, in every fuzzer's table from the fork on; the
	 * case's own handles go when it closes them, after */
	int shared[6];
	for (int i = 0; i < 6; i++) {
		shared[i] = i % 3 == 2 ? notify_create() : endpoint_create();
		UT_ASSERT(shared[i] >= 0);
	}
	/* with four CPUs, the system-call fuzzers too, at the same time (their
	 * tables start with the shared objects as well) */
	bool together = fuzzers_together(&before);
	int spids[FUZZERS];
	if (together)
		start_syscall_fuzzers(ns, spids);
	int pids[IPC_FUZZERS];
	for (int i = 0; i < IPC_FUZZERS; i++) {
		pids[i] = fork();
		UT_ASSERT(pids[i] >= 0);
		if (pids[i] == 0) {
			char *freed = sbrk(8192);
			sbrk(-8192);			/* now unmapped: "freed" */
			static int finished;
			struct ipc_fuzz_arg a[2] = {
				{ 0xD1B54A32D192ED03ULL * (uint64_t)(i + 1), ns, 0, 0, 0, 0,
				  malloc(IPC_FUZZ_BUF), malloc(IPC_FUZZ_BUF), freed, &finished },
				{ 0x8CB92BA72F3D8DD7ULL * (uint64_t)(i + 1), ns, 0, 0, 0, 0,
				  malloc(IPC_FUZZ_BUF), malloc(IPC_FUZZ_BUF), freed, &finished },
			};
			UT_ASSERT(a[0].buf_a && a[0].buf_b && a[1].buf_a && a[1].buf_b);
			int watch = uthread_create(vm_fuzz_watch, &a[0]);
			int tid = uthread_create(ipc_fuzz, &a[1]);
			if (tid <= 0)	/* then a[1] is done before it began */
				__atomic_add_fetch(&finished, 1, __ATOMIC_ACQ_REL);
			ipc_fuzz(&a[0]);
			if (tid > 0)
				uthread_join(tid);
			if (watch > 0)
				uthread_join(watch);
			UT_LOG("ipc fuzzer %d: %lu + %lu calls, %lu of them on VMs (%lu made, %lu "
			       "runs that came back from a guest)", i, a[0].calls, a[1].calls,
			       a[0].vm_calls + a[1].vm_calls, a[0].vms_made + a[1].vms_made,
			       a[0].vm_runs + a[1].vm_runs);
			exit(watch > 0 && tid > 0 && a[0].calls > 0 && a[1].calls > 0 ? 0 : 1);
		}
	}
	reap_fuzzers(pids, IPC_FUZZERS);
	if (together)
		reap_fuzzers(spids, FUZZERS);
	for (int i = 0; i < 6; i++)
		UT_EXPECT_EQ(handle_close(shared[i]), 0);
	settle(&before, &after);
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT_EQ(s1.endpoints, s0.endpoints);
	UT_EXPECT_EQ(s1.notifications, s0.notifications);
	UT_EXPECT_EQ(s1.handles, s0.handles);
	UT_EXPECT_EQ(s1.replies, s0.replies);		/* threads' IPC states */
	UT_EXPECT(s1.messages > s0.messages);		/* messages did pass */
	UT_EXPECT_EQ(after.vms, before.vms);		/* every VM went with its handles */
	UT_LOG("messages %lu, bytes %lu, by the fast path %lu", s1.messages - s0.messages,
	       s1.bytes - s0.bytes, s1.fast - s0.fast);
	ut_expect_baseline(&before, &after);
}
