/*
 * uaccess.h - moving data between the kernel and user memory
 * (kernel/uaccess.c over the architecture's copy routines).
 *
 * The only way the kernel touches user memory. A user pointer is checked
 * to lie wholly inside user space [ARCH_USER_BASE, ARCH_USER_TOP), without
 * wrapping, before anything is read: NULL, a kernel address, a
 * non-canonical one, a buffer that runs off the end of user space all give
 * -EFAULT without a single access. Inside the range, a page that is not
 * mapped (or not writable, for copyout) faults in the copy routine, which
 * recovers through its exception table: -EFAULT again, never a panic.
 * Strings are bounded: copyinstr never reads more than its limit.
 */
#ifndef UACCESS_H
#define UACCESS_H

#include <kernel.h>

/* Does [uaddr, uaddr + len) lie inside user space? (len 0: uaddr must.) */
bool user_range_ok(uint64_t uaddr, size_t len);
/* 0, or -EFAULT. */
int copyin(void *dst, uint64_t usrc, size_t len);
int copyout(uint64_t udst, const void *src, size_t len);
/* Copies a NUL-terminated string of at most max bytes (NUL included):
 * its length, or -EFAULT, or -ENAMETOOLONG if no NUL came within max. */
long copyinstr(char *dst, uint64_t usrc, size_t max);

#endif
