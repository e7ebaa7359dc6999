/*
 * ulib.h - the user library: system calls and a little C library for the
 * programs and tests under user/ (user/lib/).
 *
 * Every call that can fail returns a negative error number (<errno.h>) in
 * place of a result: -EFAULT for a bad pointer, -ENOSYS for an unknown
 * system call, -EINVAL for a bad argument. There is no errno variable.
 * A program's main(argc, argv) runs in the process's first thread; when it
 * returns, the process exits with its value.
 */
#ifndef ULIB_H
#define ULIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <uapi/syscall.h>
#include <uapi/ipc.h>
#include <uapi/vmm.h>

/* ---- system calls (CONTRACT.md names these) ---- */
int getpid(void);
int getppid(void);
int gettid(void);
int fork(void);				/* the child gets 0 */
int waitpid(int pid, int *status);	/* pid or -1 (any child); returns the pid. *status:
					 * the exit code, or negative if it was killed */
__attribute__((noreturn)) void exit(int code);
long write(int fd, const void *buf, unsigned long n);	/* fd 1 and 2: the console */
void sched_yield(void);
int uthread_create(void (*fn)(void *), void *arg);	/* a thread; its id */
int uthread_join(int tid);
__attribute__((noreturn)) void uthread_exit(void);
void *sbrk(long increment);		/* new memory reads as zeros; (void *)-ENOMEM etc. */
long syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5);	/* raw */

int kill(int pid);	/* itself or a descendant (status -9); else -EPERM, -ESRCH */
int kill_tree(int pid);	/* the same, and every live process below it */
/* The caller's process name, as ps shows it: at most 23 characters (else
 * -ENAMETOOLONG), not empty (-EINVAL). A process's name (pid 0: the
 * caller's) into buf: its length, or -ERANGE if buf cannot hold it and
 * its NUL, -ESRCH for no such process. (labs/syscall.md builds both.) */
int setname(const char *name);
long getname(int pid, char *buf, unsigned long len);
int spawn(const char *name, const char *const argv[]);	/* a new process; its pid */
/* spawn, the new process's handles 0 .. n-1 copies of handles[] (n <= 8) */
int spawn_handles(const char *name, const char *const argv[], const int *handles, int n);
int sleep_ns(unsigned long ns);
unsigned long clock_ns(void);
int cpu_id(void);
int set_cpus(unsigned mask);		/* the CPUs the calling thread may run on */
int sysinfo(struct sysinfo *info);
/* The calling thread's FS and GS bases. A base must lie below
 * USER_SPACE_TOP (else -EINVAL). A new thread starts with both 0; a fork's
 * child has its forking thread's. */
long set_fs_base(unsigned long base);
long set_gs_base(unsigned long base);
unsigned long get_fs_base(void);
unsigned long get_gs_base(void);

/* I/O ports (uapi/syscall.h's IOPORT_*, docs/user.md "I/O ports"): may
 * the caller use every port of [base, base + count) (1, or 0)? Give up
 * those of them it holds; let child pid use some it holds. A process gets
 * ports only from the kernel or its parent; inb/outb on any other port
 * kill it (#GP). */
int ioport_query(unsigned base, unsigned count);
int ioport_drop(unsigned base, unsigned count);
int ioport_give(int pid, unsigned base, unsigned count);
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

/* A lock for the threads of one process: an atomic exchange, and a yield
 * while another holds it (the holder may be on this CPU). Never held
 * across a call that waits for another thread of the same process. */
struct ulock {
	volatile int held;
};
static inline void ulock_take(struct ulock *l)
{
	while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}
static inline void ulock_give(struct ulock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

/* A negative system-call result is an error (as a pointer too, for sbrk). */
#define IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-4095)

/* ---- IPC (uapi/ipc.h has the model and the errors) ---- */

/* A message as the library passes it: the label and four words go in
 * registers; with an ext (data, handles, a timeout) the fourth word is not
 * sent. On receipt: the sender's badge and whether it came by call. */
struct ipc_msg {
	unsigned long label;
	unsigned long w[IPC_MSG_WORDS];
	unsigned long badge;		/* received: the sender's handle's badge */
	bool from_call;			/* received: by call, so a reply is owed */
};

int endpoint_create(void);		/* a handle with every right */
int notify_create(void);
int handle_close(int h);
int handle_dup(int h, unsigned rights, unsigned long badge);	/* fewer rights, a badge */
int handle_info(int h, struct ipc_handle_info *info);
/*
 * One SYSCALL (uapi/ipc.h): in, RDI = handle | flags, RSI = label, RDX,
 * R10, R8 = words 0..2, R9 = word 3 or, with IPC_EXT, the ext's address;
 * out (a call that receives), RDI = badge and IPC_FROM_CALL, RSI = label,
 * RDX, R10, R8, R9 = words. Inline, so the words go from the caller's
 * registers to the trap's without a trip through memory. A failed call
 * leaves *m as it was (call, reply_recv) or zeroed (recv).
 */
static inline long ipc_trap(long nr, unsigned long hf, struct ipc_msg *m,
			    const struct ipc_msg *in, struct ipc_ext *ext)
{
	register unsigned long rdi __asm__("rdi") = hf | (ext ? IPC_EXT : 0);
	register unsigned long rsi __asm__("rsi") = in ? in->label : 0;
	register unsigned long rdx __asm__("rdx") = in ? in->w[0] : 0;
	register unsigned long r10 __asm__("r10") = in ? in->w[1] : 0;
	register unsigned long r8 __asm__("r8") = in ? in->w[2] : 0;
	register unsigned long r9 __asm__("r9") = ext ? (unsigned long)ext : in ? in->w[3] : 0;
	long ret = nr;
	__asm__ volatile("syscall"
			 : "+a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), "+r"(r8), "+r"(r9)
			 :
			 : "rcx", "r11", "memory");
	if (ret != 0 && m && m != in) {
		*m = (struct ipc_msg){ 0 };	/* a receive that failed: nothing came */
	} else if (ret == 0 && m) {
		m->badge = rdi & ~IPC_FROM_CALL;
		m->from_call = rdi & IPC_FROM_CALL;
		m->label = rsi;
		m->w[0] = rdx;
		m->w[1] = r10;
		m->w[2] = r8;
		m->w[3] = r9;
	}
	return ret;
}

static inline unsigned long ipc_hf(int h, unsigned long flags)
{
	return (unsigned long)(unsigned int)h | (flags & ~(unsigned long)IPC_HANDLE_MASK);
}

/* flags: IPC_NONBLOCK; ext may be NULL. call and reply_recv put what came
 * back in *m (the reply, the next message). */
static inline int ipc_send(int h, unsigned long flags, const struct ipc_msg *m,
			   struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_send, ipc_hf(h, flags), NULL, m, ext);
}

static inline int ipc_recv(int h, unsigned long flags, struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_recv, ipc_hf(h, flags), m, NULL, ext);
}

static inline int ipc_call(int h, unsigned long flags, struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_call, ipc_hf(h, flags), m, m, ext);
}

static inline int ipc_reply(unsigned long flags, const struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_reply, IPC_REPLY_SLOT | (flags & ~(unsigned long)IPC_HANDLE_MASK),
			     NULL, m, ext);
}

static inline int ipc_reply_to(int reply_handle, const struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_reply, ipc_hf(reply_handle, 0), NULL, m, ext);
}

static inline int ipc_reply_recv(int h, unsigned long flags, struct ipc_msg *m,
				 struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_reply_recv, ipc_hf(h, flags), m, m, ext);
}

int ipc_reply_save(void);		/* the reply right held, as a handle */
int notify_signal(int h, unsigned long bits);
long notify_wait(int h, unsigned long flags, unsigned long timeout_ns);	/* the bits */
int ipc_stats(struct ipc_stats *s);
/* A device's interrupt (only the console's, IRQ 4, so far; the caller must
 * hold its ports) signals `bits` on notification h from now on; h = -1
 * gives it back. -EBUSY if another process has it. */
int irq_bind(int h, int irq, unsigned long bits);
/* Runs a command of the kernel's monitor (`help` lists them); it prints. */
int monitor_cmd(const char *line);

/* ---- virtual machines (uapi/vmm.h has the model) ---- */
int vm_create(const struct uvm_config *cfg);	/* a VM handle; close it with handle_close */
int vm_memory(int vm, int op, unsigned long gpa, void *buf, unsigned long len);
/* Runs vCPU `vcpu` in the calling thread until an exit for the program
 * (*run filled; run->in_value answers an IN at the next call). */
int vm_run(int vm, int vcpu, struct uvm_run *run);
int vm_event(int vm, int vcpu, unsigned value);	/* UVM_CTL_EVENT */
int vm_deactivate(int vm, int vcpu);		/* UVM_CTL_DEACTIVATE */
int vm_info(int vm, int vcpu, struct uvm_info *info);	/* UVM_CTL_INFO */

/* ---- the C library ---- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
long atol(const char *s);		/* decimal, an optional '-'; stops at a non-digit */
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
size_t strlcpy(char *dst, const char *src, size_t size);
bool glob_match(const char *glob, const char *s);	/* '*', '?', '[a-z]', '[!x]' */
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* Formats into a buffer and writes it to fd 1 in one write (a line at a
 * time stays whole): at most 1 KiB per call. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int puts(const char *s);		/* s and a newline */
void *malloc(size_t n);			/* from sbrk; 16-byte aligned */
void free(void *p);
void *calloc(size_t n, size_t size);
/* A small pseudo-random generator (xorshift64*), for tests. */
uint64_t rand64(uint64_t *state);

#endif
