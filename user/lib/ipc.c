/*
 * user/lib/ipc.c - the IPC calls that make and manage handles (uapi/ipc.h).
 * Those that pass a message are inline in ulib.h (ipc_trap): the words go
 * from the caller's registers to the SYSCALL's without a trip through
 * memory.
 */
#include <ulib.h>

int endpoint_create(void) { return (int)syscall6(SYS_endpoint_create, 0, 0, 0, 0, 0, 0); }
int notify_create(void) { return (int)syscall6(SYS_notify_create, 0, 0, 0, 0, 0, 0); }
int handle_close(int h) { return (int)syscall6(SYS_handle_close, h, 0, 0, 0, 0, 0); }
int handle_dup(int h, unsigned rights, unsigned long badge)
{
	return (int)syscall6(SYS_handle_dup, h, rights, (long)badge, 0, 0, 0);
}
int handle_info(int h, struct ipc_handle_info *info)
{
	return (int)syscall6(SYS_handle_info, h, (long)info, 0, 0, 0, 0);
}
int ipc_reply_save(void) { return (int)syscall6(SYS_ipc_reply_save, 0, 0, 0, 0, 0, 0); }
int notify_signal(int h, unsigned long bits)
{
	return (int)syscall6(SYS_notify_signal, h, (long)bits, 0, 0, 0, 0);
}
long notify_wait(int h, unsigned long flags, unsigned long timeout_ns)
{
	return syscall6(SYS_notify_wait, (long)ipc_hf(h, flags), (long)timeout_ns, 0, 0, 0, 0);
}
int monitor_cmd(const char *line) { return (int)syscall6(SYS_monitor, (long)line, 0, 0, 0, 0, 0); }
int irq_bind(int h, int irq, unsigned long bits)
{
	return (int)syscall6(SYS_irq_bind, h, irq, (long)bits, 0, 0, 0);
}
int ipc_stats(struct ipc_stats *s) { return (int)syscall6(SYS_ipc_stats, (long)s, 0, 0, 0, 0, 0); }
