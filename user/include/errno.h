/*
 * errno.h - the user library's error numbers: system calls return them
 * negated (-EFAULT, -ENOSYS, ...). The values are the kernel's own
 * (include/uapi/errno.h).
 */
#ifndef ULIB_ERRNO_H
#define ULIB_ERRNO_H

#include <uapi/errno.h>

#endif
