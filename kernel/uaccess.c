/*
 * kernel/uaccess.c - copyin, copyout, copyinstr: the range check here, the
 * access in the architecture's routines (arch_copy_user, uaccess.asm),
 * which recover from a fault. See uaccess.h for the rules.
 */
#include <uaccess.h>
#include <arch.h>
#include <uapi/errno.h>

bool user_range_ok(uint64_t uaddr, size_t len)
{
	if (uaddr < ARCH_USER_BASE || uaddr >= ARCH_USER_TOP)
		return false;
	return len <= ARCH_USER_TOP - uaddr;	/* no wrap, no running off the end */
}

int copyin(void *dst, uint64_t usrc, size_t len)
{
	if (!len)
		return 0;
	if (!user_range_ok(usrc, len))
		return -EFAULT;
	return arch_copy_user(dst, (const void *)usrc, len) ? -EFAULT : 0;
}

int copyout(uint64_t udst, const void *src, size_t len)
{
	if (!len)
		return 0;
	if (!user_range_ok(udst, len))
		return -EFAULT;
	return arch_copy_user((void *)udst, src, len) ? -EFAULT : 0;
}

long copyinstr(char *dst, uint64_t usrc, size_t max)
{
	if (!max || !user_range_ok(usrc, 1))
		return -EFAULT;
	/* only as far as user space goes: the last page is the string's end */
	size_t room = MIN(max, (size_t)(ARCH_USER_TOP - usrc));
	long n = arch_copy_str_user(dst, (const char *)usrc, room);
	if (n < 0)
		return -EFAULT;
	if ((size_t)n == room)
		return room < max ? -EFAULT : -ENAMETOOLONG;	/* ran off user space */
	return n;
}
