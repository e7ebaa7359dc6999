/*
 * user/tests/helpers.h - what several user test files share: running a
 * piece of a case in a child process and learning how it ended, the
 * system's counters at rest, and the layout facts a robustness case aims
 * at (uapi/syscall.h has the bounds of user space).
 *
 * A child is a fork of the case's process: it sees the case's memory as it
 * was at the fork, and what it does to memory stays its own. The kernel
 * reports how it ended as waitpid does: the exit code, or -signal (WAIT_*).
 */
#ifndef UT_HELPERS_H
#define UT_HELPERS_H

#include <utest.h>

/* Forks; the child runs fn(arg) and exits 0 if it returns with none of
 * its checks failed (1 if one did). Returns the child's waitpid status; a
 * failed fork or wait fails the case. */
int ut_child(void (*fn)(void *), void *arg);
/* Forks a child that runs fn(arg) and then exits 0 (1 if a check of its
 * failed); returns its pid (a failed fork fails the case). The caller
 * waits for it. */
int ut_fork(void (*fn)(void *), void *arg);
/* Makes n threads (n <= UTHREADS_MAX - 1) that each add one to a counter,
 * joins them, and returns the counter: n when all ran; a failed create or
 * join fails the case. */
int ut_run_threads(int n);
/* sysinfo, which must succeed. */
void ut_sysinfo(struct sysinfo *si);
/* Waits (at most timeout_ns) until as many processes exist as `procs`
 * (orphans are reaped by the kernel, a moment after they end); then
 * fills *si. Returns whether the count came down. */
bool ut_settle(unsigned long procs, unsigned long timeout_ns, struct sysinfo *si);
/* Checks that the counters of *after are back at *before's: pages,
 * kernel heap, processes, threads, user pages. */
void ut_expect_baseline(const struct sysinfo *before, const struct sysinfo *after);
/* Runs fn(arg) in a child (ut_child), which must exit 0; then, once the
 * processes are as many as before, expects every counter back at its
 * baseline (the child's page tables went with it). */
void ut_child_leaves_nothing(void (*fn)(void *), void *arg);
/* Takes all the heap sbrk will give: asks for 256 MiB, halving the
 * request at each refusal down to a page. Returns the bytes taken (the
 * caller gives them back with sbrk(-bytes)). */
long ut_fill_heap(void);
/* Yields until three yields in a row have each let another thread run
 * (its switch count, SYS_fpu's): a partner the caller started on its own
 * CPU has got there, and yields back. Gives up after 10000 yields. */
void ut_wait_for_partner(void);
/* Spins in ring 3 for ns nanoseconds (reading the clock now and then). */
void ut_spin_ns(unsigned long ns);
/* How many rounds a stress should do: `n` with several CPUs, n / 4 (at
 * least 1) on one, where nothing runs in parallel anyway. */
int ut_rounds(int n);

/* ---- pointers no system call may follow (robust_test.c, procname_test.c) ---- */

/* A buffer this far below the end of user space runs off it. */
#define UT_NEAR_TOP (USER_SPACE_TOP - 4)

struct ut_bad_ptr {
	const char *what;
	unsigned long p;
};
/* NULL, the kernel's image and top half, non-canonical addresses, user
 * space where nothing is mapped (its page 0: the program starts 4 MiB
 * above it), the last page below the hole. */
extern const struct ut_bad_ptr ut_bad_ptrs[];
#define UT_BAD_PTRS 7

/* A call that must give -EFAULT, and what was passed if it did not. */
#define EXPECT_EFAULT(call, what)                                           \
	do {                                                                \
		long r_ = (long)(call);                                     \
		if (r_ != -EFAULT) {                                        \
			UT_EXPECT_EQ(r_, -EFAULT);                          \
			UT_LOG("    with %s", (what));                      \
		}                                                           \
	} while (0)

/* 8 mapped bytes with nothing mapped after them: the heap grown to the
 * next page boundary above the break. */
char *ut_heap_edge(void);
/* An address in the program's text (read and execute only), and the word
 * there (to see that a call did not write it). */
void *ut_program_text(void);
int ut_text_word(void);

/* ---- VMs driven from user space (uvm_test.c, bench_test.c) ---- */

/* One vCPU for a thread of the test's to run (uthread_create(ut_run_vcpu,
 * &x)): vm_run until it stops, the UART's LSR (COM1 + 5) reading "empty"
 * and any other IN 0; exits counts the exits to the program; with
 * pio_only, any exit but an OUT to port 0x610 ends it with err -1000 -
 * the port. r is the last run (how it stopped), err vm_run's error. */
struct ut_vcpu {
	int vm, id;
	bool pio_only;
	unsigned long exits;
	struct uvm_run r;
	int err;
};
/* (hidden: passed by address to uthread_create, from code built -fpie and
 * linked above 4 GiB, where a GOT entry for it cannot be relaxed away) */
__attribute__((visibility("hidden"))) void ut_run_vcpu(void *arg);

#endif
