/*
 * user/lib/syscall.c - the system calls, one SYSCALL instruction each.
 *
 * The convention (uapi/syscall.h): number in RAX, arguments in RDI, RSI,
 * RDX, R10, R8, R9, result in RAX; SYSCALL itself overwrites RCX and R11.
 */
#include <ulib.h>
#include <console.h>

long syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Up to three arguments: the SYSCALL inline, only the registers it uses. */
static inline long sc3(long nr, long a0, long a1, long a2)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
			 : "rcx", "r11", "memory");
	return ret;
}

#define SC0(n) sc3(n, 0, 0, 0)
#define SC1(n, a) sc3(n, (long)(a), 0, 0)
#define SC2(n, a, b) sc3(n, (long)(a), (long)(b), 0)
#define SC3(n, a, b, c) sc3(n, (long)(a), (long)(b), (long)(c))

int getpid(void) { return (int)SC0(SYS_getpid); }
int getppid(void) { return (int)SC0(SYS_getppid); }
int gettid(void) { return (int)SC0(SYS_gettid); }
int fork(void) { return (int)SC0(SYS_fork); }
int waitpid(int pid, int *status) { return (int)SC2(SYS_waitpid, pid, status); }
/* Where fd 1 and 2 go: handle 0 if it is the console (console.h's
 * CONSOLE_BADGE), asked once, at the first write; else the kernel. */
static int console = -2;

static int console_handle(void)
{
	if (console == -2) {
		struct ipc_handle_info info;
		console = handle_info(0, &info) == 0 && info.type == IPC_OBJ_ENDPOINT &&
				  info.badge == CONSOLE_BADGE && (info.rights & IPC_R_SEND)
			  ? 0 : -1;
	}
	return console;
}

long write(int fd, const void *buf, unsigned long n)
{
	if ((fd != 1 && fd != 2) || console_handle() < 0)
		return SC3(SYS_write, fd, buf, n);
	const char *p = buf;
	unsigned long done = 0;
	while (done < n) {
		long r = console_write(console, p + done, n - done);
		if (r <= 0)
			return done ? (long)done : r;
		done += (unsigned long)r;
	}
	return (long)done;
}
void sched_yield(void) { SC0(SYS_yield); }
void *sbrk(long increment) { return (void *)SC1(SYS_sbrk, increment); }
int kill(int pid) { return (int)SC2(SYS_kill, pid, 0); }
int kill_tree(int pid) { return (int)SC2(SYS_kill, pid, KILL_TREE); }
int setname(const char *name) { return (int)SC1(SYS_setname, name); }
long getname(int pid, char *buf, unsigned long len) { return sc3(SYS_getname, pid, (long)buf, (long)len); }
int spawn(const char *name, const char *const argv[]) { return (int)SC2(SYS_spawn, name, argv); }
int spawn_handles(const char *name, const char *const argv[], const int *handles, int n)
{
	return (int)syscall6(SYS_spawn_handles, (long)name, (long)argv, (long)handles, n, 0, 0);
}
int sleep_ns(unsigned long ns) { return (int)SC1(SYS_sleep, ns); }
unsigned long clock_ns(void) { return (unsigned long)SC0(SYS_clock); }
int cpu_id(void) { return (int)SC0(SYS_cpu); }
int set_cpus(unsigned mask) { return (int)SC1(SYS_set_cpus, mask); }
int sysinfo(struct sysinfo *info) { return (int)SC1(SYS_sysinfo, info); }
int ioport_query(unsigned base, unsigned count) { return (int)SC3(SYS_ioport, IOPORT_QUERY, base, count); }
int ioport_drop(unsigned base, unsigned count) { return (int)SC3(SYS_ioport, IOPORT_DROP, base, count); }
int ioport_give(int pid, unsigned base, unsigned count)
{
	return (int)syscall6(SYS_ioport, IOPORT_GIVE, pid, base, count, 0, 0);
}
long set_fs_base(unsigned long base) { return SC2(SYS_segbase, SEGBASE_SET_FS, base); }
long set_gs_base(unsigned long base) { return SC2(SYS_segbase, SEGBASE_SET_GS, base); }
unsigned long get_fs_base(void) { return (unsigned long)SC2(SYS_segbase, SEGBASE_GET_FS, 0); }
unsigned long get_gs_base(void) { return (unsigned long)SC2(SYS_segbase, SEGBASE_GET_GS, 0); }

void exit(int code)
{
	SC1(SYS_exit, code);
	for (;;)
		;			/* not reached */
}

void uthread_exit(void)
{
	SC0(SYS_thread_exit);
	for (;;)
		;
}

/* Where a new thread starts (kernel/proc.c sets RDI = fn, RSI = arg). */
static void __attribute__((noreturn)) uthread_start(void (*fn)(void *), void *arg)
{
	fn(arg);
	uthread_exit();
}

int uthread_create(void (*fn)(void *), void *arg)
{
	return (int)SC3(SYS_thread_create, uthread_start, fn, arg);
}

int uthread_join(int tid)
{
	return (int)SC1(SYS_thread_join, tid);
}

/* ---- virtual machines ---- */
int vm_create(const struct uvm_config *cfg) { return (int)SC1(SYS_vm_create, cfg); }
int vm_memory(int vm, int op, unsigned long gpa, void *buf, unsigned long len)
{
	return (int)syscall6(SYS_vm_memory, vm, op, (long)gpa, (long)buf, (long)len, 0);
}
int vm_run(int vm, int vcpu, struct uvm_run *run) { return (int)SC3(SYS_vm_run, vm, vcpu, run); }
int vm_event(int vm, int vcpu, unsigned value)
{
	return (int)syscall6(SYS_vm_ctl, vm, UVM_CTL_EVENT, vcpu, value, 0, 0);
}
int vm_deactivate(int vm, int vcpu)
{
	return (int)syscall6(SYS_vm_ctl, vm, UVM_CTL_DEACTIVATE, vcpu, 0, 0, 0);
}
int vm_info(int vm, int vcpu, struct uvm_info *info)
{
	return (int)syscall6(SYS_vm_ctl, vm, UVM_CTL_INFO, vcpu, 0, (long)info, 0);
}
