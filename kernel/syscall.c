/*
 * kernel/syscall.c - the system call table.
 *
 * One handler per number of uapi/syscall.h, each taking the six argument
 * registers as longs and returning a long: the result, or a negative
 * errno. The architecture's entry (arch/x86_64/user.c, syscall_dispatch)
 * indexes the table and calls; an unknown number gets -ENOSYS. A handler
 * trusts no argument: pointers go through copyin/copyout (uaccess.h),
 * numbers are range-checked, and a bad one is an error, never a panic.
 * Most handlers live with their subsystem (kernel/proc.c); the small ones
 * are here.
 */
#include <syscall.h>
#include <arch.h>
#include <fpu.h>
#include <ipc.h>
#include <monitor.h>
#include <string.h>
#include <percpu.h>
#include <printk.h>
#include <proc.h>
#include <sched.h>
#include <thread.h>
#include <uaccess.h>
#include <uapi/errno.h>
#include <vmm.h>

#define WRITE_CHUNK 256			/* bytes copied in and printed at a time */

static uint64_t unknown_calls;

long syscall_unknown(uint64_t nr)
{
	(void)nr;
	__atomic_fetch_add(&unknown_calls, 1, __ATOMIC_RELAXED);
	return -ENOSYS;
}

uint64_t syscall_unknown_count(void)
{
	return __atomic_load_n(&unknown_calls, __ATOMIC_RELAXED);
}

static long s_null(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return 0;
}

/* The console: fd 1 and 2. Each chunk is printed whole (printk's lock). */
static long s_write(long fd, long ubuf, long n, long a3, long a4, long a5)
{
	if (fd != 1 && fd != 2)
		return -EBADF;
	if (n < 0)
		return -EINVAL;
	if (n && !user_range_ok((uint64_t)ubuf, (size_t)n))
		return -EFAULT;
	char buf[WRITE_CHUNK];
	long done = 0;
	while (done < n) {
		size_t len = MIN((size_t)(n - done), sizeof(buf));
		if (copyin(buf, (uint64_t)ubuf + (uint64_t)done, len))
			return done ? done : -EFAULT;
		printk("%.*s", (int)len, buf);
		done += (long)len;
	}
	return done;
}

/* (thread_yield's checks cannot fail here: a system call holds no lock) */
static long s_yield(long a0, long a1, long a2, long a3, long a4, long a5)
{
	schedule();
	return 0;
}

static long s_clock(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return (long)clock_ns();
}

static long s_gettid(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return (long)curthread->id;
}

static long s_cpu(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return cpu_id();
}

static long s_set_cpus(long mask, long a1, long a2, long a3, long a4, long a5)
{
	if (!((uint64_t)mask & cpu_online_mask()) || (uint64_t)mask >> 32)
		return -EINVAL;
	thread_set_cpus((uint32_t)mask);
	return 0;
}

/* proc.c's, adapted to the table's shape */
static long s_exit(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_exit(a0); }
static long s_getpid(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_getpid(); }
static long s_getppid(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_getppid(); }
static long s_fork(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_fork(arch_user_frame(curthread));
}
static long s_waitpid(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_waitpid(a0, a1); }
static long s_kill(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_kill(a0, a1); }
static long s_sbrk(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_sbrk(a0); }
static long s_thread_create(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_thread_create(a0, a1, a2);
}
static long s_thread_join(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_thread_join(a0); }
static long s_thread_exit(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_thread_exit(); }
static long s_spawn(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_spawn(a0, a1); }
static long s_sleep(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_sleep(a0); }
static long s_segbase(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_segbase(a0, a1); }
static long s_sysinfo(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_sysinfo(a0); }
/* For the #NM benchmark (and anyone curious): fpu.h's fpu_release. */
static long s_fpu_release(long a0, long a1, long a2, long a3, long a4, long a5)
{
	fpu_release();
	return 0;
}

static long s_fpu(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_fpu(a0, a1); }
static long s_ioport(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_ioport(a0, a1, a2, a3);
}
static long s_utest_result(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_utest_result(a0, a1);
}

/* kernel/ipc.c's; the message calls take the table's shape as they are */
static long s_endpoint_create(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_endpoint_create();
}
static long s_notify_create(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_notify_create();
}
static long s_handle_close(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_handle_close(a0); }
static long s_handle_dup(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_handle_dup(a0, a1, a2);
}
static long s_handle_info(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_handle_info(a0, a1); }
static long s_ipc_reply_save(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_ipc_reply_save(); }
static long s_notify_signal(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_notify_signal(a0, a1); }
static long s_notify_wait(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_notify_wait(a0, a1); }
static long s_ipc_stats(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_ipc_stats(a0); }
static long s_vm_create(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_vm_create(a0); }
static long s_vm_memory(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_vm_memory(a0, a1, a2, a3, a4); }
static long s_vm_run(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_vm_run(a0, a1, a2); }
static long s_vm_ctl(long a0, long a1, long a2, long a3, long a4, long a5) { return sys_vm_ctl(a0, a1, a2, a3, a4); }
/* The shell's window on the kernel (ps, ctxops, fpu, mem, ...): the
 * monitor's own commands, which only show; `trace` with an argument
 * (on, off, reset: for everyone) is refused. One at a time (monitor_run).
 * They print kernel addresses (ctxops): a teaching kernel's choice. */
static long s_setname(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_setname(a0);
}
static long s_getname(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_getname(a0, a1, a2);
}
static long s_monitor(long uline, long a1, long a2, long a3, long a4, long a5)
{
	char line[128];
	long n = copyinstr(line, (uint64_t)uline, sizeof(line));
	if (n < 0)
		return n;
	const char *w = line;
	while (*w == ' ')
		w++;
	if (!strncmp(w, "trace", 5) && w[5] == ' ') {
		const char *arg = w + 5;
		while (*arg == ' ')
			arg++;
		/* trace on/off/reset change it for everyone; trace run restores
		 * what it changes, as the demos do, and dump only reads */
		if (*arg && !(*arg >= '0' && *arg <= '9') && strncmp(arg, "run ", 4) &&
		    strcmp(arg, "dump"))
			return -EPERM;
	}
	return monitor_run(line) ? 0 : -ENOENT;
}
static long s_irq_bind(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_irq_bind(a0, a1, a2);
}
static long s_spawn_handles(long a0, long a1, long a2, long a3, long a4, long a5)
{
	return sys_spawn_handles(a0, a1, a2, a3);
}

const syscall_fn syscall_table[SYS_COUNT] = {
	[SYS_null] = s_null,
	[SYS_exit] = s_exit,
	[SYS_write] = s_write,
	[SYS_getpid] = s_getpid,
	[SYS_getppid] = s_getppid,
	[SYS_fork] = s_fork,
	[SYS_waitpid] = s_waitpid,
	[SYS_kill] = s_kill,
	[SYS_yield] = s_yield,
	[SYS_sbrk] = s_sbrk,
	[SYS_thread_create] = s_thread_create,
	[SYS_thread_join] = s_thread_join,
	[SYS_thread_exit] = s_thread_exit,
	[SYS_spawn] = s_spawn,
	[SYS_sleep] = s_sleep,
	[SYS_clock] = s_clock,
	[SYS_gettid] = s_gettid,
	[SYS_segbase] = s_segbase,
	[SYS_cpu] = s_cpu,
	[SYS_set_cpus] = s_set_cpus,
	[SYS_sysinfo] = s_sysinfo,
	[SYS_utest_result] = s_utest_result,
	[SYS_fpu_release] = s_fpu_release,
	[SYS_fpu] = s_fpu,
	[SYS_ioport] = s_ioport,
	[SYS_endpoint_create] = s_endpoint_create,
	[SYS_notify_create] = s_notify_create,
	[SYS_handle_close] = s_handle_close,
	[SYS_handle_dup] = s_handle_dup,
	[SYS_handle_info] = s_handle_info,
	[SYS_ipc_send] = sys_ipc_send,
	[SYS_ipc_recv] = sys_ipc_recv,
	[SYS_ipc_call] = sys_ipc_call,
	[SYS_ipc_reply] = sys_ipc_reply,
	[SYS_ipc_reply_recv] = sys_ipc_reply_recv,
	[SYS_ipc_reply_save] = s_ipc_reply_save,
	[SYS_notify_signal] = s_notify_signal,
	[SYS_notify_wait] = s_notify_wait,
	[SYS_ipc_stats] = s_ipc_stats,
	[SYS_spawn_handles] = s_spawn_handles,
	[SYS_irq_bind] = s_irq_bind,
	[SYS_monitor] = s_monitor,
	[SYS_setname] = s_setname,
	[SYS_getname] = s_getname,
	[SYS_vm_create] = s_vm_create,
	[SYS_vm_memory] = s_vm_memory,
	[SYS_vm_run] = s_vm_run,
	[SYS_vm_ctl] = s_vm_ctl,
};
