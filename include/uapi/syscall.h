/*
 * uapi/syscall.h - the system call interface: numbers, and the structures
 * some calls fill (shared by the kernel and the user library).
 *
 * A call: SYSCALL with the number in RAX and up to six arguments in RDI,
 * RSI, RDX, R10, R8, R9; the result comes back in RAX, a negative errno
 * (uapi/errno.h) on failure. RCX and R11 are clobbered (SYSCALL's own use).
 * kernel/syscall.c has the table and docs/user.md the story.
 */
#ifndef UAPI_SYSCALL_H
#define UAPI_SYSCALL_H

enum {
	SYS_null = 0,		/* () -> 0: does nothing (the benchmark's) */
	SYS_exit,		/* (int code): ends the process */
	SYS_write,		/* (int fd, const void *buf, unsigned long n) -> n */
	SYS_getpid,		/* () -> pid */
	SYS_getppid,		/* () -> the parent's pid, 0 if none */
	SYS_fork,		/* () -> the child's pid; 0 in the child */
				/* fork, thread_create, spawn: -ENOMEM when memory
				 * for it (the kernel's side or user pages) cannot
				 * be had, with nothing made; -EAGAIN at a limit
				 * (processes, threads); -EINTR when the caller's
				 * process is being killed */
	SYS_waitpid,		/* (int pid or -1, int *status) -> pid */
	SYS_kill,		/* (int pid, flags) -> 0; itself or a descendant, else
				 * -EPERM; flags KILL_TREE: its descendants too */
	SYS_yield,		/* () -> 0 */
	SYS_sbrk,		/* (long increment) -> the old break */
	SYS_thread_create,	/* (entry, arg) -> tid: entry(arg) in a new thread */
	SYS_thread_join,	/* (int tid) -> 0 */
	SYS_thread_exit,	/* (): ends the calling thread */
	SYS_spawn,		/* (const char *name, const char *const argv[]) -> pid */
	SYS_sleep,		/* (unsigned long ns) -> 0 */
	SYS_clock,		/* () -> nanoseconds since boot */
	SYS_gettid,		/* () -> the calling thread's id */
	SYS_segbase,		/* (int op, unsigned long value) -> 0 or the base */
	SYS_cpu,		/* () -> the CPU the caller runs on */
	SYS_set_cpus,		/* (unsigned mask) -> 0: the CPUs this thread may use */
	SYS_sysinfo,		/* (struct sysinfo *) -> 0 */
	SYS_utest_result,	/* (int verdict, const char *why) -> 0: the test runner's */
	SYS_fpu_release,	/* () -> 0: state saved, the next FPU instruction traps */
	SYS_fpu,		/* (int op, void *arg) -> 0: the FPU as the caller sees it (FPU_OP_*) */
	SYS_ioport,		/* (int op, ...): the I/O ports the caller may use (IOPORT_*) */
	/* IPC, handles, notifications (uapi/ipc.h has the registers) */
	SYS_endpoint_create,	/* () -> a handle with every right */
	SYS_notify_create,	/* () -> a handle with every right */
	SYS_handle_close,	/* (int h) -> 0 */
	SYS_handle_dup,		/* (int h, unsigned rights, unsigned long badge) -> a new handle */
	SYS_handle_info,	/* (int h, struct ipc_handle_info *) -> 0 */
	SYS_ipc_send,		/* (h | flags, label, w0, w1, w2, w3 or ext) -> 0 */
	SYS_ipc_recv,		/* (h | flags, -, -, -, -, ext) -> 0, the message in registers */
	SYS_ipc_call,		/* (h | flags, label, w0, w1, w2, w3 or ext) -> 0, the reply */
	SYS_ipc_reply,		/* (IPC_REPLY_SLOT or a saved right | flags, label, w...) -> 0 */
	SYS_ipc_reply_recv,	/* (h | flags, label, w...) -> 0, the next message */
	SYS_ipc_reply_save,	/* () -> a handle to the reply right held */
	SYS_notify_signal,	/* (int h, unsigned long bits) -> 0 */
	SYS_notify_wait,	/* (h | flags, unsigned long timeout_ns) -> the bits */
	SYS_ipc_stats,		/* (struct ipc_stats *) -> 0 */
	SYS_spawn_handles,	/* (name, argv, const int *handles, int n) -> pid: spawn,
				 * the child's handles 0 .. n-1 copies of these */
	SYS_irq_bind,		/* (notification h or -1, int irq, unsigned long bits) -> 0:
				 * a device's interrupt signals bits there (uapi/ipc.h) */
	SYS_monitor,		/* (const char *line) -> 0: runs a command of the kernel's
				 * monitor, which prints; -ENOENT if there is none */
	SYS_setname,		/* (const char *name) -> 0: the caller's process name,
				 * as ps shows it (labs/syscall.md) */
	SYS_getname,		/* (int pid or 0, char *buf, unsigned long len) -> the
				 * name's length: a process's name, NUL-terminated */
	/* virtual machines (uapi/vmm.h) */
	SYS_vm_create,		/* (const struct uvm_config *) -> a VM handle; -EAGAIN at
				 * UVM_VMS_MAX, -ENOTSUP where the machine cannot run
				 * guests, -ENOMEM */
	SYS_vm_memory,		/* (int h, int op, unsigned long gpa, void *buf,
				 * unsigned long len) -> 0; -EINVAL outside its memory */
	SYS_vm_run,		/* (int h, int vcpu, struct uvm_run *) -> 0, run filled;
				 * -EBUSY while another thread runs that vCPU */
	SYS_vm_ctl,		/* (int h, int op, int vcpu, unsigned long arg, void *ptr) */
	SYS_COUNT
};

/* User space (docs/user.md, "Address space"): a pointer a system call
 * takes is followed only inside [USER_SPACE_BASE, USER_SPACE_TOP); the
 * kernel's ARCH_USER_BASE and ARCH_USER_TOP, which it checks against. */
#define USER_SPACE_BASE 0x0000008000000000UL
#define USER_SPACE_TOP  0x00007FFFFFFFF000UL

/* Threads a process may have at once, its first included (then
 * SYS_thread_create says -EAGAIN): enough for a VM of 130 vCPUs driven
 * from user space, a thread each, and a few more. */
#define UTHREADS_MAX 160

/* SYS_segbase's op (the codes of Linux's arch_prctl) */
#define SEGBASE_SET_GS 0x1001
#define SEGBASE_SET_FS 0x1002
#define SEGBASE_GET_FS 0x1003
#define SEGBASE_GET_GS 0x1004

/* SYS_utest_result's verdict */
#define UTEST_PASS 0
#define UTEST_FAIL 1
#define UTEST_SKIP 2

/* SYS_fpu's op. The FPU tests' window into the kernel (kernel/fpu.c). */
#define FPU_OP_INFO       0	/* arg: struct fpu_info *, filled in */
#define FPU_OP_DELIVER_XM 1	/* an unmasked SIMD exception MXCSR shows pending is
				 * delivered as #XM would have (for CPUs that set the
				 * flag and raise nothing: QEMU's TCG); 0 if none is */

struct fpu_info {
	unsigned long policy;		/* 0: eager switching, 1: lazy (fpu=) */
	unsigned long alloc;		/* 0: save areas at thread creation, 1: at first use */
	unsigned long area_size;	/* bytes of one save area */
	unsigned long has_area;		/* the calling thread has its save area */
	unsigned long foreign;		/* at the call, this CPU's registers held a context
					 * other than the caller's own or the init state */
	unsigned long saves, restores;	/* the calling thread's counters */
	unsigned long nm_traps, first_uses;
	unsigned long switches;		/* times the calling thread was switched in */
};

/* SYS_ioport's op (docs/user.md, "I/O ports"). The ports are [base,
 * base + count): count at least 1 and base + count at most IOPORT_LIMIT,
 * else -EINVAL, as is an unknown op. A process gets ports from the kernel
 * (a driver it starts) or from its parent (fork copies them; GIVE), never
 * from itself. */
#define IOPORT_QUERY 0	/* (op, base, count) -> 1 if the caller may use every one
			 * of them, else 0 */
#define IOPORT_DROP  1	/* (op, base, count) -> 0: gives up those of them it holds,
			 * in every thread, on every CPU, before the call returns;
			 * -EINVAL if the hole would leave more than IOPORT_RANGES
			 * ranges */
#define IOPORT_GIVE  2	/* (op, pid, base, count) -> 0: child pid may use them too;
			 * -EPERM if the caller does not hold all of them or pid is
			 * not its child (itself neither), -ESRCH if there is no
			 * such process or it has ended, -EINVAL if the child would
			 * hold more than IOPORT_RANGES ranges */
#define IOPORT_LIMIT  0x10000	/* ports 0 .. 0xFFFF */
#define IOPORT_RANGES 8		/* ranges of ports a process may hold at once */

/* What a killed process's status says (waitpid): -signal, as a shell would
 * report it. A process that exits gives its code, 0 .. 255. */
#define WAIT_KILLED  (-9)	/* by kill() */
#define KILL_TREE    1		/* SYS_kill: the process and every live descendant */
#define WAIT_SEGV   (-11)	/* a bad memory access, #GP */
#define WAIT_ILL     (-4)	/* an invalid instruction */
#define WAIT_FPE     (-8)	/* divide error, x87 or SIMD exception */
#define WAIT_TRAP    (-5)	/* a breakpoint or debug trap */

struct sysinfo {
	unsigned long free_pages;	/* the page allocator's free pages */
	unsigned long kmem_bytes;	/* the kernel heap's bytes in use */
	unsigned long kmem_objects;
	unsigned long procs;		/* processes that exist (zombies too) */
	unsigned long threads;		/* threads of every process */
	unsigned long user_pages;	/* pages mapped in user space, all processes */
	unsigned long proc_max;		/* the process limit */
	unsigned long ncpus;
	/* traps taken inside the ring-0 stretches of the way into and out
	 * of ring 3 that run with interrupts off (docs/user.md, "Entry and
	 * exit"): always 0 in a correct kernel */
	unsigned long window_traps;
	/* the page allocator's reserve (docs/mm.md, "The reserve"): pages
	 * user memory may never take; and the pages it may take now */
	unsigned long reserve_pages;
	unsigned long user_free_pages;
	/* fork and spawn refused at the process limit (-EAGAIN), since boot */
	unsigned long proc_limit_refusals;
	/* the CPUs' I/O permission bitmaps, summed (docs/user.md, "I/O
	 * ports"): bytes rewritten for another process's ports, and the
	 * bitmap turned on (a process with ports) or off (one without) */
	unsigned long iobitmap_rewrites;
	unsigned long iobitmap_toggles;
	/* VMs made from user space that exist (uapi/vmm.h), every process's */
	unsigned long vms;
};

#endif
