/*
 * user/lib/ipc.c - the IPC calls (uapi/ipc.h): one SYSCALL each, the
 * message in registers both ways.
 *
 * In: RDI = handle | flags, RSI = label, RDX, R10, R8 = words 0..2, R9 =
 * word 3 or, with IPC_EXT, the ext's address. Out (a call that receives):
 * RDI = badge and IPC_FROM_CALL, RSI = label, RDX, R10, R8, R9 = words.
 */
#include <ulib.h>

static long ipc_trap(long nr, unsigned long hf, struct ipc_msg *m, const struct ipc_msg *in,
		     struct ipc_ext *ext)
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
	if (ret == 0 && m) {
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

static unsigned long hf_of(int h, unsigned long flags)
{
	return (unsigned long)(unsigned int)h | (flags & ~IPC_HANDLE_MASK);
}

int ipc_send(int h, unsigned long flags, const struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_send, hf_of(h, flags), NULL, m, ext);
}

int ipc_recv(int h, unsigned long flags, struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_recv, hf_of(h, flags), m, NULL, ext);
}

int ipc_call(int h, unsigned long flags, struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_call, hf_of(h, flags), m, m, ext);
}

int ipc_reply(unsigned long flags, const struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_reply, IPC_REPLY_SLOT | (flags & ~IPC_HANDLE_MASK), NULL, m,
			     ext);
}

int ipc_reply_to(int reply_handle, const struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_reply, hf_of(reply_handle, 0), NULL, m, ext);
}

int ipc_reply_recv(int h, unsigned long flags, struct ipc_msg *m, struct ipc_ext *ext)
{
	return (int)ipc_trap(SYS_ipc_reply_recv, hf_of(h, flags), m, m, ext);
}

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
	return syscall6(SYS_notify_wait, (long)hf_of(h, flags), (long)timeout_ns, 0, 0, 0, 0);
}
int ipc_stats(struct ipc_stats *s) { return (int)syscall6(SYS_ipc_stats, (long)s, 0, 0, 0, 0, 0); }
