/*
 * uapi/errno.h - the error numbers system calls return, negated (shared by
 * the kernel and the user library, whose <errno.h> includes this). The
 * values are Linux's, so a student's intuition carries over.
 */
#ifndef UAPI_ERRNO_H
#define UAPI_ERRNO_H

#define EPERM         1		/* not allowed */
#define ENOENT        2		/* no such program */
#define ESRCH         3		/* no such process or thread */
#define EINTR         4		/* the process is being killed: the call gave up */
#define E2BIG         7		/* too many or too long arguments */
#define ENOEXEC       8		/* not an executable the kernel takes */
#define EBADF         9		/* no such handle (or not that kind), no such descriptor */
#define ECHILD       10		/* no such child to wait for */
#define EAGAIN       11		/* a limit is reached: try again later */
#define ENOMEM       12		/* out of memory: user memory may not take the
				 * kernel's reserve (docs/user.md) */
#define EFAULT       14		/* a bad user pointer */
#define EBUSY        16		/* taken by another (an interrupt bound already) */
#define EINVAL       22		/* a bad argument */
#define ENOSPC       28		/* no room: a full handle table */
#define EPIPE        32		/* the peer is gone (IPC: no receiver left, the
				 * server or the caller ended) */
#define ERANGE       34		/* a result larger than the buffer given for it */
#define ENAMETOOLONG 36		/* a string longer than its limit */
#define ENOSYS       38		/* no such system call */
#define EMSGSIZE     90		/* a message larger than the receiver has room for */
#define ENOTSUP      95		/* the machine cannot do it (no SVM for a VM) */
#define ETIMEDOUT   110		/* a wait's time ran out */

#endif
