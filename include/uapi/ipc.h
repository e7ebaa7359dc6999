/*
 * uapi/ipc.h - synchronous IPC, handles and notifications: what the kernel
 * (kernel/ipc.c) and the user library (user/lib/ipc.c) share.
 *
 * Objects. An endpoint is a rendezvous point: a sender and a receiver meet
 * there and a message passes from one to the other, neither buffered nor
 * queued in the kernel (L4, seL4). A notification is a word of bits that
 * signals OR into and a waiter takes (and clears) all at once: events and
 * device interrupts. A process reaches an object only through a handle, a
 * small number that indexes its own table (IPC_HANDLES_MAX entries); the
 * same number in another process means nothing, so there is no global name
 * to guess. A handle carries rights and a badge, a number the holder cannot
 * change which the receiver of its messages is told (seL4's badges: how a
 * server tells its clients apart).
 *
 * Messages. A label (a word the two sides agree on: an operation, a status)
 * and up to four words travel in registers. A message may also carry up to
 * IPC_DATA_MAX bytes, copied once from the sender's memory to the
 * receiver's, and up to IPC_MSG_HANDLES handles, moved from the sender's
 * table to the receiver's; those need struct ipc_ext, whose address then
 * takes the place of the fourth word.
 *
 * The calls (SYS_ipc_*, one trap each):
 *   send(h, msg)            waits until a receiver on h takes msg
 *   recv(h) -> msg          waits for a message on h
 *   call(h, msg) -> reply   send, then wait for the reply, in one trap; the
 *                           receiver is given a one-shot right to reply
 *   reply(msg)              answers the call this thread received last
 *   reply_recv(h, msg)      reply, then recv on h: a server's loop, one trap
 *
 * Registers (SYSCALL; uapi/syscall.h):
 *   in:  RDI = handle | flags << 32, RSI = label, RDX, R10, R8, R9 = words
 *        0..3 (with IPC_EXT, R9 = struct ipc_ext *, and word 3 is 0)
 *   out: RAX = 0 or -errno; for a receiving call RSI = label, RDX, R10, R8,
 *        R9 = words 0..3, RDI = the sender's badge and IPC_FROM_CALL in its
 *        top bit if the message came by call (a reply is owed)
 *
 * Errors. -EBADF: no such handle, or not that kind of object; -EPERM: the
 * handle lacks the right; -EPIPE: the peer is gone (no receiver left on the
 * endpoint; the server died holding the reply right; the caller died before
 * the reply); -ETIMEDOUT: ext->timeout_ns passed; -EAGAIN: IPC_NONBLOCK
 * and nobody was there; -EINTR: the caller's process is being killed;
 * -EMSGSIZE: more data or handles than the receiver offered room for;
 * -ENOSPC: the receiver's handle table is full; -EFAULT: a bad pointer. A
 * message that cannot be delivered fails for the side at fault only (a bad
 * buffer for its owner, too much for the sender) and the other side waits
 * on as if the message had not come.
 */
#ifndef UAPI_IPC_H
#define UAPI_IPC_H

#define IPC_HANDLES_MAX  64	/* handles in one process's table */
#define IPC_MSG_WORDS    4	/* words in registers */
#define IPC_MSG_HANDLES  4	/* handles one message may move */
#define IPC_DATA_MAX     4096	/* bytes one message may copy */

/* Rights of a handle. */
#define IPC_R_SEND   0x1	/* endpoint: send and call; notification: signal */
#define IPC_R_RECV   0x2	/* endpoint: receive; notification: wait */
#define IPC_R_GRANT  0x4	/* endpoint: messages sent through it may move handles */
#define IPC_R_DUP    0x8	/* may be duplicated (with the same or fewer rights) */
#define IPC_R_ALL    0xF

/* Flags: bits 32..63 of RDI. */
#define IPC_EXT       (1UL << 32)	/* R9 is a struct ipc_ext * */
#define IPC_NONBLOCK  (1UL << 33)	/* -EAGAIN rather than wait for a partner */
#define IPC_HANDLE_MASK 0xFFFFFFFFUL

/* In the badge register of a received message: it came by call. */
#define IPC_FROM_CALL (1UL << 63)

/* The reply right a thread holds, for SYS_ipc_reply's RDI: the one of the
 * last call it received (or a saved one: SYS_ipc_reply_save). */
#define IPC_REPLY_SLOT 0xFFFFFFFFUL

/* The rest of a message. */
struct ipc_ext {
	unsigned long timeout_ns;	/* waiting: 0 for ever */
	void *data;			/* the bytes: sent from, or received into */
	unsigned int len;		/* send: bytes to send; receive: bytes that came */
	unsigned int room;		/* receive: bytes data can hold */
	unsigned int nhandles;		/* send: handles to move; receive: moved in */
	unsigned int handle_room;	/* receive: slots in handles[] to fill */
	int handles[IPC_MSG_HANDLES];	/* send: handles to move; receive: their
					 * numbers in the receiver's table */
};

/* What kind of object a handle names (SYS_handle_info). */
#define IPC_OBJ_ENDPOINT     1
#define IPC_OBJ_NOTIFICATION 2
#define IPC_OBJ_REPLY        3
#define IPC_OBJ_VM           4	/* a virtual machine (uapi/vmm.h) */

struct ipc_handle_info {
	unsigned int type;		/* IPC_OBJ_* */
	unsigned int rights;		/* IPC_R_* */
	unsigned long badge;
	unsigned long object;		/* an id of the object, the same in every
					 * table that holds it (tests) */
	unsigned int senders;		/* endpoint: threads waiting to send or call */
	unsigned int receivers;		/* endpoint: waiting to receive; notification:
					 * waiting for bits */
	unsigned int flags;		/* IPC_INFO_* */
};

/* ipc_handle_info.flags */
#define IPC_INFO_DEAD 0x1	/* endpoint: nobody can receive on it any more;
				 * notification: nobody can signal it */

/* SYS_ipc_stats: the kernel's counts, for tests and the shell. */
struct ipc_stats {
	unsigned long endpoints, notifications, replies;	/* objects alive */
	unsigned long handles;		/* handles in every table */
	unsigned long messages;		/* delivered since boot */
	unsigned long bytes;		/* copied since boot */
	unsigned long fast;		/* messages that went by the direct switch */
	unsigned long irqs;		/* device interrupts delivered as signals */
};

#endif
