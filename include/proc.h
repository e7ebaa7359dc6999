/*
 * proc.h - processes (kernel/proc.c): an address space, its threads, its
 * place in the tree of parents and children, and how it ends.
 *
 * A process is made from a program image (kernel/elf.c) by proc_spawn, or
 * by fork from another. Its threads are kernel threads with THREAD_USER
 * and THREAD_FPU that spend their time in ring 3; each has its own kernel
 * stack and a context-op chain whose oldest op is the FPU's and whose next
 * is the segment bases' (docs/user.md). A process ends when its last
 * thread does: by exit, by a fault, or killed; it is then a zombie until
 * its parent's waitpid (or, for one the kernel started, proc_wait) reaps
 * it. Its status is its exit code (0..255) or -signal (uapi/syscall.h).
 *
 * It may hold I/O ports (docs/user.md, "I/O ports"): the kernel grants
 * them (proc_grant_ports; proc_spawn_ports for a driver it starts), a
 * fork's child has its parent's, a holder may give them to a child of its
 * own and may drop them (SYS_ioport); none takes ports it was not given.
 * Its threads share them, as they share its address space, which carries
 * them to the CPU.
 */
#ifndef PROC_H
#define PROC_H

#include <kernel.h>
#include <bitset.h>
#include <ioport.h>
#include <list.h>
#include <spinlock.h>
#include <uapi/syscall.h>

struct thread;
struct trap_frame;
struct aspace;

#define PROC_NAME_MAX    24
#define PROC_ARGV_MAX    16	/* arguments of a program, argv[0] included */
#define PROC_ARG_MAX     128	/* bytes of one argument, NUL included */
#define PROC_THREADS_MAX 160	/* threads of one process (stack slots): a VM's
				 * vCPUs each want one (uapi/vmm.h) */
#define PROC_STACK_SLOT_BITS 192
#define PROC_FAULT_MAX   256	/* bytes of the line a fault prints, NUL included */

/* Why a fault killed a process, as waitpid reports it. */
#define PROC_SIG_SEGV (-WAIT_SEGV)
#define PROC_SIG_ILL  (-WAIT_ILL)
#define PROC_SIG_FPE  (-WAIT_FPE)
#define PROC_SIG_TRAP (-WAIT_TRAP)
#define PROC_SIG_KILL (-WAIT_KILLED)

enum proc_state {
	PROC_LIVE,		/* has threads */
	PROC_ZOMBIE,		/* every thread ended: waiting to be reaped */
};

struct proc {
	int pid;
	char name[PROC_NAME_MAX];
	struct aspace *as;
	struct proc *parent;		/* NULL: the kernel started it, or orphaned */
	bool kernel_waits;		/* proc_wait reaps it (the kernel started it) */
	struct list children;		/* struct proc, by sibling */
	struct list sibling;
	struct list all_link;		/* on the list of every process */
	int state;			/* enum proc_state; under the tree's lock */

	/* threads: under tlock (interrupts off; a fault walks them) */
	struct spinlock tlock;
	struct list threads;		/* struct thread, by proc_link: live and ended */
	int nlive;			/* threads that have not ended */
	uint64_t stack_slots[BITSET_WORDS(PROC_STACK_SLOT_BITS)];	/* bit i: thread stack
							 * slot i in use */

	/* ending: `dying` goes 0 -> 1 once; status is set by whoever does it */
	volatile int dying;
	int status;

	uint64_t brk_base, brk;		/* the heap: [brk_base, brk) */
	struct ioport_set ports;	/* the I/O ports it may use (tree_lock); its
					 * space has them too (aspace_set_ports) */

	/* the test runner's (SYS_utest_result) */
	int utest_verdict;		/* -1: none reported */
	char utest_why[128];

	char fault[PROC_FAULT_MAX];	/* the line of the fault that killed it, or "" */

	struct ipc_space *ipc;		/* its handles (kernel/ipc.c), from its first IPC call */
};

/* The calling thread's process, or NULL for a kernel thread. */
struct proc *curproc_get(void);
#define curproc (curproc_get())

void proc_init(void);

/*
 * Starts program `name` (an image built into the kernel or a boot module,
 * kernel/program.c) with argv[0 .. argc-1]; parent is the caller's process
 * or NULL when the kernel starts it (then proc_wait reaps it). Returns the
 * new pid, or -ENOENT (no such program), -ENOEXEC (not an image the kernel
 * takes: the console says why), -EAGAIN (the process limit), -ENOMEM
 * (no memory for it: the kernel's side or the image's pages; nothing is
 * left behind), -E2BIG (argv), -EINTR (parent is dying). May sleep; never
 * waits for memory.
 */
int proc_spawn(const char *name, int argc, const char *const argv[], struct proc *parent);
/* As proc_spawn, and the new process may use I/O ports [port_base,
 * port_base + port_count) from its first instruction (port_count 0: none):
 * how the kernel starts a driver, a console server with COM1's 0x3F8 ..
 * 0x3FF. -EINVAL for a range that is not one (ioport.h). */
/* As proc_spawn, the new process's handle table starting with copies of
 * parent's handles[0 .. n-1] at 0 .. n-1 (ipc_spawn_handles): -EBADF for
 * one it lacks, -EPERM for a reply right, -EINVAL for too many. */
#define PROC_SPAWN_HANDLES 8
int proc_spawn_handles(const char *name, int argc, const char *const argv[], struct proc *parent,
		       const int *handles, int nhandles);
int proc_spawn_ports(const char *name, int argc, const char *const argv[], struct proc *parent,
		     unsigned port_base, unsigned port_count);
/* For the kernel: lets p use I/O ports [base, base + count) from ring 3
 * as well as those it has, on every CPU by the time this returns (p's
 * threads may be running). 0; -EINVAL when that is not a range or p would
 * hold more than IOPORT_RANGES_MAX ranges; -ESRCH when p has ended. p must
 * not be freed meanwhile (a process the caller started and has not
 * reaped). May sleep. A process never reaches this for itself: SYS_ioport
 * only drops ports, or gives a child some it holds. */
int proc_grant_ports(struct proc *p, unsigned base, unsigned count);
/* For tests, NULL otherwise: called by fork, thread_create and spawn on
 * their way in, before they take the tree's lock, where a kill of the
 * caller's process may land at any moment; a test kills it there. */
extern void (*proc_create_hook)(void);
/* How a process the kernel started ended (proc_wait). */
struct proc_end {
	int status;			/* exit code 0..255, or -signal */
	int utest_verdict;		/* SYS_utest_result's, or -1 if none came */
	char utest_why[128];
	char fault[PROC_FAULT_MAX];	/* the line a fault that killed it printed
					 * (without "proc: "), or "" */
};
/* For the kernel: waits for process pid, which it started, to end, reaps
 * it and says how it ended: 0, or -ECHILD (no such process of the
 * kernel's), or -EAGAIN when timeout_ns (0: none) passes first. */
int proc_wait(int pid, uint64_t timeout_ns, struct proc_end *end);
/* For the test runner, between cases: waits up to timeout_ns for every
 * process to be gone (an orphan's reaping is asynchronous); if some are
 * still there, kills them and waits as long again. Returns 0 if none was
 * left, 1 if some had to be killed and went, -N if N remain even so. */
int proc_quiesce(uint64_t timeout_ns);
/* For the kernel: process pid, which it started (parent NULL) and has not
 * yet reaped, or NULL. The pointer stays good until proc_wait reaps it:
 * what proc_grant_ports takes for a driver already running. */
struct proc *proc_kernel_child(int pid);
/* Kills process pid (status -9): 0, or -ESRCH. Any context but a trap. */
int proc_kill(int pid);

/* For a test: a thread that leaves its process (not the last) sleeps this
 * long between leaving and its thread_exit, as a preemption there would
 * hold it; the last thread meanwhile tears the process down. 0: never. */
extern uint64_t proc_test_leave_delay_ns;

/* A fault in ring 3 (arch/x86_64/user.c): one line naming process, thread,
 * fault, the faulting address where the fault has one (has_addr: a page
 * fault's CR2, a bad return address) and RIP; the process dies with status
 * -sig. Trap context. */
void proc_fault(const char *what, const char *detail, bool has_addr, uint64_t addr, uint64_t pc,
		int sig);
/* Everything between the kernel and ring 3 (a system call's end, an
 * interrupt's or a fault's from ring 3): a pending reschedule, the process
 * dying. Returns with interrupts off, ready for SYSRET/IRET. */
void proc_return_to_user(struct trap_frame *tf);

/* Does p hold every port of first..last? Read without the tree's lock: for
 * a fault's message (trap context), not for a decision. */
bool proc_ports_held(const struct proc *p, unsigned first, unsigned last);

/* The system calls proc.c implements (kernel/syscall.c's table). */
long sys_exit(long code);
long sys_getpid(void);
long sys_getppid(void);
long sys_fork(struct trap_frame *tf);
long sys_waitpid(long pid, long ustatus);
long sys_kill(long pid, long flags);
long sys_setname(long uname);
long sys_getname(long pid, long ubuf, long len);
long sys_sbrk(long increment);
long sys_thread_create(long entry, long a0, long a1);
long sys_thread_join(long tid);
long sys_thread_exit(void);
long sys_spawn(long uname, long uargv);
long sys_spawn_handles(long uname, long uargv, long uhandles, long n);
long sys_sleep(long ns);
long sys_segbase(long op, long value);
long sys_sysinfo(long uinfo);
long sys_utest_result(long verdict, long uwhy);
long sys_ioport(long op, long a0, long a1, long a2);

/* For tests and the monitor: processes alive or zombie; pages mapped in
 * every user space; the process limit (proc.max). */
int proc_count(void);
int proc_max(void);
void proc_print_all(void);

/* The first live thread of process pid (by the thread list's order), held
 * (thread_rele it), or NULL: for tests and demos that watch a process. */
struct thread *proc_first_thread(int pid);

#endif
