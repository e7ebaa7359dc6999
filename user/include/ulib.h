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
int spawn(const char *name, const char *const argv[]);	/* a new process; its pid */
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

/* A negative system-call result is an error (as a pointer too, for sbrk). */
#define IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-4095)

/* ---- the C library ---- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
size_t strlcpy(char *dst, const char *src, size_t size);
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
