/*
 * user/lib/console.c - a client's calls to the console server (console.h).
 */
#include <console.h>

long console_write(int con, const void *buf, unsigned long n)
{
	if (n > IPC_DATA_MAX)
		n = IPC_DATA_MAX;
	struct ipc_ext ext = { .data = (void *)buf, .len = (unsigned)n };
	struct ipc_msg m = { .label = CONSOLE_WRITE };
	int err = ipc_call(con, 0, &m, &ext);
	return err ? err : (long)m.label;
}

long console_read(int con, void *buf, unsigned long n)
{
	if (n > IPC_DATA_MAX)
		n = IPC_DATA_MAX;
	struct ipc_ext ext = { .data = buf, .room = (unsigned)n };
	struct ipc_msg m = { .label = CONSOLE_READ, .w = { n } };
	int err = ipc_call(con, 0, &m, &ext);
	return err ? err : (long)m.label;
}
