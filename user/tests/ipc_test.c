/*
 * user/tests/ipc_test.c - synchronous IPC, handles and notifications as a
 * program sees them (uapi/ipc.h).
 *
 * What is asserted:
 *   - a message passes whole: label, four words, the sender's badge, the
 *     mark of a call; senders are served in the order they came; a send
 *     or a receive waits for its partner, or gives -EAGAIN with
 *     IPC_NONBLOCK and -ETIMEDOUT after its timeout;
 *   - call and reply, reply_recv as a server's loop, a reply saved and
 *     given later; a reply right is one-shot;
 *   - rights: receiving needs IPC_R_RECV, sending IPC_R_SEND, moving
 *     handles IPC_R_GRANT, copying a handle IPC_R_DUP and never more
 *     rights or another badge; handle numbers are the process's own;
 *   - data up to IPC_DATA_MAX bytes arrives intact; a message the
 *     receiver has no room for, a bad buffer or a bad handle fails for the
 *     side at fault only, and the other side gets the next good message;
 *   - handles move: gone from the sender, usable by the receiver;
 *   - dead peers in each position: a server gone before the call, after
 *     taking it (holding the reply right), a caller gone before the reply,
 *     a sender or receiver killed while it waits: nobody hangs, the
 *     survivors get -EPIPE or carry on;
 *   - notifications: bits gather, a wait takes them all or sleeps for
 *     them, with a timeout;
 *   - when everyone has gone, the kernel's objects, handles and heap are
 *     back where they were.
 */
#include "helpers.h"

#define MS 1000000UL

static struct ipc_msg msg(unsigned long label, unsigned long a, unsigned long b,
			  unsigned long c, unsigned long d)
{
	return (struct ipc_msg){ .label = label, .w = { a, b, c, d } };
}

/* Waits (at most a second) until h's object has this many threads queued
 * to send and to receive (handle_info: the kernel's own count), so that a
 * case knows its partner waits without guessing how long that takes. */
static void wait_queued(int h, unsigned senders, unsigned receivers)
{
	unsigned long deadline = clock_ns() + 1000 * MS;
	struct ipc_handle_info info;
	for (;;) {
		UT_ASSERT_EQ(handle_info(h, &info), 0);
		if (info.senders == senders && info.receivers == receivers)
			return;
		UT_ASSERT(clock_ns() < deadline);
		sched_yield();
	}
}

/* ---- the message itself ---- */

/* A fresh endpoint in ep_shared, and a thread started: each case's first
 * lines, which fail the case if the kernel says no. */
static int ep_shared;

static void fresh_endpoint(void)
{
	ep_shared = endpoint_create();
	UT_ASSERT(ep_shared >= 0);
}

static int start_thread(void (*fn)(void *), void *arg)
{
	int tid = uthread_create(fn, arg);
	UT_ASSERT(tid > 0);
	return tid;
}

static void send_words(void *arg)
{
	struct ipc_msg m = msg(7, 11, 22, 33, 44);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, NULL), 0);
}

UTEST(ipc, a_message_passes_whole_between_processes)
{
	fresh_endpoint();
	int pid = ut_fork(send_words, NULL);
	struct ipc_msg m = { 0 };
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(m.label, 7);
	UT_EXPECT_EQ(m.w[0], 11);
	UT_EXPECT_EQ(m.w[1], 22);
	UT_EXPECT_EQ(m.w[2], 33);
	UT_EXPECT_EQ(m.w[3], 44);
	UT_EXPECT_EQ(m.badge, 0);
	UT_EXPECT(!m.from_call);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

static void send_numbered(void *arg)
{
	struct ipc_msg m = msg((unsigned long)arg, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, NULL), 0);
}

UTEST(ipc, senders_are_served_in_the_order_they_came)
{
	fresh_endpoint();
	int tids[5];
	for (int i = 0; i < 5; i++) {
		/* one at a time, so the order they queue in is known */
		tids[i] = uthread_create(send_numbered, (void *)(long)(100 + i));
		UT_ASSERT(tids[i] > 0);
		wait_queued(ep_shared, (unsigned)i + 1, 0);
	}
	for (int i = 0; i < 5; i++) {
		struct ipc_msg m;
		UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
		UT_EXPECT_EQ(m.label, 100 + i);
	}
	for (int i = 0; i < 5; i++)
		UT_EXPECT_EQ(uthread_join(tids[i]), 0);
}

static void late_sender(void *arg)
{
	wait_queued(ep_shared, 0, 1);		/* the receive is waiting */
	struct ipc_msg m = msg(5, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, NULL), 0);
}

UTEST(ipc, a_receive_waits_for_its_sender_and_nonblock_does_not)
{
	fresh_endpoint();
	struct ipc_msg m;
	UT_EXPECT_EQ(ipc_recv(ep_shared, IPC_NONBLOCK, &m, NULL), -EAGAIN);
	UT_EXPECT_EQ(ipc_send(ep_shared, IPC_NONBLOCK, &m, NULL), -EAGAIN);
	int tid = start_thread(late_sender, NULL);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(m.label, 5);
	UT_EXPECT_EQ(uthread_join(tid), 0);
}

UTEST(ipc, waits_end_at_their_timeout)
{
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	struct ipc_ext ext = { .timeout_ns = 10 * MS };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	unsigned long t0 = clock_ns();
	UT_EXPECT_EQ(ipc_recv(ep, 0, &m, &ext), -ETIMEDOUT);
	UT_EXPECT(clock_ns() - t0 >= 10 * MS);
	t0 = clock_ns();
	UT_EXPECT_EQ(ipc_send(ep, 0, &m, &ext), -ETIMEDOUT);
	UT_EXPECT(clock_ns() - t0 >= 10 * MS);
	t0 = clock_ns();
	UT_EXPECT_EQ(ipc_call(ep, 0, &m, &ext), -ETIMEDOUT);
	UT_EXPECT(clock_ns() - t0 >= 10 * MS);
	/* a timed-out sender is not left in the queue */
	UT_EXPECT_EQ(ipc_recv(ep, IPC_NONBLOCK, &m, NULL), -EAGAIN);
}

/* ---- call and reply ---- */

static void serve_n(void *arg)
{
	long n = (long)arg;
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	for (long i = 0; i < n; i++) {
		UT_EXPECT(m.from_call);
		m = msg(m.label + 1, m.w[0] * 2, m.badge, 0, 0);
		int err = ipc_reply_recv(ep_shared, i + 1 < n ? 0 : IPC_NONBLOCK, &m, NULL);
		if (i + 1 < n)
			UT_ASSERT_EQ(err, 0);
		else
			UT_EXPECT_EQ(err, -EAGAIN);	/* the last reply went, nobody waits */
	}
}

UTEST(ipc, call_gets_the_reply_and_reply_recv_serves_the_next)
{
	fresh_endpoint();
	int badged = handle_dup(ep_shared, IPC_R_SEND, 0xB0B);
	UT_ASSERT(badged >= 0);
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	int pid = ut_fork(serve_n, (void *)20L);
	for (int i = 0; i < 20; i++) {
		struct ipc_msg m = msg((unsigned long)i, (unsigned long)i + 1000, 0, 0, 0);
		UT_ASSERT_EQ(ipc_call(i % 2 ? badged : ep_shared, 0, &m, NULL), 0);
		UT_EXPECT_EQ(m.label, i + 1);
		UT_EXPECT_EQ(m.w[0], 2 * (i + 1000));
		UT_EXPECT_EQ(m.w[1], i % 2 ? 0xB0B : 0);	/* the server saw the badge */
		UT_EXPECT(!m.from_call);
	}
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	/* 20 calls and 20 replies; those that found the partner waiting went
	 * by the fast path (docs/ipc.md), and some did: after the first call
	 * the server always waits in reply_recv when the next one comes */
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT(s1.messages - s0.messages >= 40);
	UT_EXPECT(s1.fast - s0.fast >= 19);
}

UTEST(ipc, a_reply_right_is_one_shot_and_needs_a_call)
{
	fresh_endpoint();
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), -EBADF);	/* nothing received */
	int tid = uthread_create(send_words, NULL);	/* a send, not a call */
	UT_ASSERT(tid > 0);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT(!m.from_call);
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), -EBADF);
	UT_EXPECT_EQ(uthread_join(tid), 0);
}

static void call_once(void *arg)
{
	struct ipc_msg m = msg((unsigned long)arg, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(m.label, (unsigned long)arg + 1);
}

UTEST(ipc, a_saved_reply_is_given_later_and_once)
{
	fresh_endpoint();
	int t1 = start_thread(call_once, (void *)10L);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	int saved = ipc_reply_save();
	UT_ASSERT(saved >= 0);
	struct ipc_handle_info info;
	UT_ASSERT_EQ(handle_info(saved, &info), 0);
	UT_EXPECT_EQ(info.type, IPC_OBJ_REPLY);
	UT_EXPECT_EQ(handle_dup(saved, 0, 0), -EPERM);	/* one-shot: not copied */
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), -EBADF);	/* the slot is empty now */
	/* another call is served meanwhile */
	int t2 = start_thread(call_once, (void *)20L);
	struct ipc_msg m2;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m2, NULL), 0);
	m2.label++;
	UT_EXPECT_EQ(ipc_reply(0, &m2, NULL), 0);
	UT_EXPECT_EQ(uthread_join(t2), 0);
	m.label++;
	UT_EXPECT_EQ(ipc_reply_to(saved, &m, NULL), 0);
	UT_EXPECT_EQ(ipc_reply_to(saved, &m, NULL), -EBADF);	/* used up, and closed */
	UT_EXPECT_EQ(uthread_join(t1), 0);
}

/* ---- rights and handles ---- */

UTEST(ipc, each_call_needs_its_right)
{
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	int send_only = handle_dup(ep, IPC_R_SEND, 0);
	int recv_only = handle_dup(ep, IPC_R_RECV | IPC_R_DUP, 0);
	UT_ASSERT(send_only >= 0 && recv_only >= 0);
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_recv(send_only, IPC_NONBLOCK, &m, NULL), -EPERM);
	UT_EXPECT_EQ(ipc_send(recv_only, IPC_NONBLOCK, &m, NULL), -EPERM);
	UT_EXPECT_EQ(ipc_call(recv_only, IPC_NONBLOCK, &m, NULL), -EPERM);
	/* no DUP right: no copy; never more rights than the source */
	UT_EXPECT_EQ(handle_dup(send_only, IPC_R_SEND, 0), -EPERM);
	UT_EXPECT_EQ(handle_dup(recv_only, IPC_R_RECV | IPC_R_SEND, 0), -EPERM);
	UT_EXPECT_EQ(handle_dup(ep, 0x100, 0), -EINVAL);
	/* a badge, once set, stays */
	int b1 = handle_dup(ep, IPC_R_SEND | IPC_R_DUP, 5);
	UT_ASSERT(b1 >= 0);
	UT_EXPECT_EQ(handle_dup(b1, IPC_R_SEND, 6), -EPERM);
	int b2 = handle_dup(b1, IPC_R_SEND, 0);
	UT_ASSERT(b2 >= 0);
	struct ipc_handle_info info;
	UT_ASSERT_EQ(handle_info(b2, &info), 0);
	UT_EXPECT_EQ(info.badge, 5);
	UT_EXPECT_EQ(info.rights, IPC_R_SEND);
	UT_EXPECT_EQ(info.type, IPC_OBJ_ENDPOINT);
	struct ipc_handle_info orig;
	UT_ASSERT_EQ(handle_info(ep, &orig), 0);
	UT_EXPECT_EQ(info.object, orig.object);
	/* a notification is not an endpoint */
	int n = notify_create();
	UT_ASSERT(n >= 0);
	UT_EXPECT_EQ(ipc_send(n, IPC_NONBLOCK, &m, NULL), -EBADF);
	UT_EXPECT_EQ(notify_signal(ep, 1), -EBADF);
}

UTEST(ipc, bad_handles_flags_and_pointers_are_errors)
{
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	static const int bad[] = { -1, IPC_HANDLES_MAX, 1 << 30, 37 };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		UT_EXPECT_EQ(ipc_send(bad[i], IPC_NONBLOCK, &m, NULL), -EBADF);
		UT_EXPECT_EQ(ipc_recv(bad[i], IPC_NONBLOCK, &m, NULL), -EBADF);
		UT_EXPECT_EQ(handle_close(bad[i]), -EBADF);
		UT_EXPECT_EQ(handle_dup(bad[i], 0, 0), -EBADF);
	}
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	UT_EXPECT_EQ(ipc_send(ep, 1UL << 40, &m, NULL), -EINVAL);	/* unknown flag */
	UT_EXPECT_EQ(ipc_recv(ep, 0, &m, (struct ipc_ext *)8), -EFAULT);
	UT_EXPECT_EQ(ipc_recv(ep, 0, &m, (struct ipc_ext *)0xFFFF800000001000UL), -EFAULT);
	struct ipc_ext ext = { .data = (void *)0xFFFF800000100000UL, .room = 64 };
	UT_EXPECT_EQ(ipc_recv(ep, IPC_NONBLOCK, &m, &ext), -EFAULT);
	ext = (struct ipc_ext){ .len = IPC_DATA_MAX + 1 };
	UT_EXPECT_EQ(ipc_send(ep, IPC_NONBLOCK, &m, &ext), -EMSGSIZE);
	UT_EXPECT_EQ(handle_info(ep, NULL), -EFAULT);
	UT_EXPECT_EQ(notify_wait(ep, 1UL << 40, 0), -EINVAL);
	UT_EXPECT_EQ(handle_close(ep), 0);
	UT_EXPECT_EQ(handle_close(ep), -EBADF);		/* closed is closed */
}

UTEST(ipc, the_table_fills_then_says_enospc)
{
	/* handles it was started with (the shell's test passes its two) */
	int given = 0;
	struct ipc_handle_info info;
	for (int h = 0; h < IPC_HANDLES_MAX; h++)
		given += handle_info(h, &info) == 0;
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	int n = 1;
	while (handle_dup(ep, IPC_R_SEND, 0) >= 0)
		n++;
	UT_EXPECT_EQ(given + n, IPC_HANDLES_MAX);
	UT_EXPECT_EQ(handle_dup(ep, IPC_R_SEND, 0), -ENOSPC);
	UT_EXPECT_EQ(endpoint_create(), -ENOSPC);
	UT_EXPECT_EQ(handle_close(IPC_HANDLES_MAX - 1), 0);
	UT_EXPECT_EQ(notify_create(), IPC_HANDLES_MAX - 1);	/* the lowest free slot */
}

static void take_moved_handle(void *arg)
{
	int got[IPC_MSG_HANDLES];
	struct ipc_ext ext = { .handles = { 0 }, .handle_room = IPC_MSG_HANDLES };
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
	UT_ASSERT_EQ(ext.nhandles, 1);
	got[0] = ext.handles[0];
	/* a new slot, not the copy fork gave this process at the same number */
	UT_EXPECT(got[0] != (int)(long)arg);
	struct ipc_handle_info moved, inherited;
	UT_ASSERT_EQ(handle_info(got[0], &moved), 0);
	UT_ASSERT_EQ(handle_info((int)(long)arg, &inherited), 0);
	UT_EXPECT_EQ(moved.object, inherited.object);
	UT_EXPECT_EQ(moved.badge, 0x77);
	/* it works here: a call through it reaches the parent */
	struct ipc_msg c = msg(99, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_call(got[0], 0, &c, NULL), 0);
	UT_EXPECT_EQ(c.label, 100);
}

UTEST(ipc, a_handle_moves_from_sender_to_receiver)
{
	ep_shared = endpoint_create();
	int other = endpoint_create();
	UT_ASSERT(ep_shared >= 0 && other >= 0);
	int moving = handle_dup(other, IPC_R_SEND, 0x77);
	UT_ASSERT(moving >= 0);
	int pid = ut_fork(take_moved_handle, (void *)(long)moving);
	/* without GRANT on the endpoint it goes through, no handle moves */
	int no_grant = handle_dup(ep_shared, IPC_R_SEND, 0);
	struct ipc_ext ext = { .nhandles = 1, .handles = { moving } };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_send(no_grant, 0, &m, &ext), -EPERM);
	UT_ASSERT_EQ(ipc_send(ep_shared, 0, &m, &ext), 0);
	struct ipc_handle_info info;
	UT_EXPECT_EQ(handle_info(moving, &info), -EBADF);	/* gone from here */
	UT_ASSERT_EQ(ipc_recv(other, 0, &m, NULL), 0);
	UT_EXPECT_EQ(m.label, 99);
	UT_EXPECT_EQ(m.badge, 0x77);			/* the badge moved with it */
	m.label = 100;
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

/* ---- data ---- */

static unsigned char big_area[2 * IPC_DATA_MAX] __attribute__((aligned(4096)));

static void send_pattern(void *arg)
{
	unsigned seed = (unsigned)(long)arg;
	unsigned char *big = big_area + 100;	/* across two pages, as the receiver's */
	if (seed == 3)
		wait_queued(ep_shared, 0, 1);	/* round 0: the receiver waits, we copy */
	for (int i = 0; i < IPC_DATA_MAX; i++)
		big[i] = (unsigned char)(i * 7 + seed);
	struct ipc_ext ext = { .data = big, .len = IPC_DATA_MAX };
	struct ipc_msg m = msg(seed, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), 0);
}

UTEST(ipc, a_page_of_data_arrives_intact_across_spaces)
{
	fresh_endpoint();
	/* receiver first (the sender copies), then sender first (the receiver does) */
	for (int round = 0; round < 2; round++) {
		int pid = ut_fork(send_pattern, (void *)(long)(round + 3));
		if (round == 1)
			wait_queued(ep_shared, 1, 0);	/* it waits in the queue */
		unsigned char *buf = malloc(IPC_DATA_MAX + 100);
		UT_ASSERT(buf != NULL);
		unsigned char *at = buf + 37;		/* not page-aligned: two pages */
		memset(buf, 0xEE, IPC_DATA_MAX + 100);
		struct ipc_ext ext = { .data = at, .room = IPC_DATA_MAX };
		struct ipc_msg m;
		UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
		UT_EXPECT_EQ(ext.len, IPC_DATA_MAX);
		int bad = 0;
		for (int i = 0; i < IPC_DATA_MAX; i++)
			bad += at[i] != (unsigned char)(i * 7 + round + 3);
		UT_EXPECT_EQ(bad, 0);
		UT_EXPECT_EQ(buf[36], 0xEE);			/* nothing around it */
		UT_EXPECT_EQ(at[IPC_DATA_MAX], 0xEE);
		free(buf);
		int st;
		UT_ASSERT_EQ(waitpid(pid, &st), pid);
		UT_EXPECT_EQ(st, 0);
	}
}

static void send_too_much_then_right(void *arg)
{
	static char data[200];
	struct ipc_ext ext = { .data = data, .len = 200 };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), -EMSGSIZE);
	/* a buffer that is not there is the sender's fault too */
	ext = (struct ipc_ext){ .data = (void *)USER_SPACE_BASE /* never mapped */, .len = 16 };
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), -EFAULT);
	ext = (struct ipc_ext){ .nhandles = 1, .handles = { 50 } };
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), -EBADF);	/* no such handle */
	int two = handle_dup(ep_shared, IPC_R_SEND, 0);
	ext = (struct ipc_ext){ .nhandles = 2, .handles = { two, ep_shared } };
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), -EMSGSIZE);	/* room for one */
	m.label = 2;
	ext = (struct ipc_ext){ .data = data, .len = 100 };
	memset(data, 'x', 100);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), 0);
}

UTEST(ipc, a_message_that_cannot_pass_fails_only_the_side_at_fault)
{
	fresh_endpoint();
	int pid = ut_fork(send_too_much_then_right, NULL);
	char room[100];
	struct ipc_ext ext = { .data = room, .room = sizeof(room), .handle_room = 1 };
	struct ipc_msg m;
	/* the bad messages leave this receive waiting for the good one */
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT_EQ(m.label, 2);
	UT_EXPECT_EQ(ext.len, 100);
	UT_EXPECT_EQ(ext.nhandles, 0);
	UT_EXPECT_EQ(room[99], 'x');
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

static void send_to_bad_receiver(void *arg)
{
	static char data[64] = "hello";
	wait_queued(ep_shared, 0, 2);		/* both receivers wait */
	struct ipc_ext ext = { .data = data, .len = 64 };
	struct ipc_msg m = msg(3, 0, 0, 0, 0);
	/* the first receiver's buffer is bad: it fails, this goes to the next */
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), 0);
}

static volatile int bad_recv_result = 1;

static void receive_into_nothing(void *arg)
{
	struct ipc_ext ext = { .data = (void *)USER_SPACE_BASE /* never mapped */, .room = 64 };
	struct ipc_msg m;
	bad_recv_result = ipc_recv(ep_shared, 0, &m, &ext);
}

UTEST(ipc, a_bad_receive_buffer_fails_that_receiver_and_the_sender_goes_on)
{
	fresh_endpoint();
	int tid = start_thread(receive_into_nothing, NULL);
	wait_queued(ep_shared, 0, 1);		/* first in the queue of receivers */
	int pid = ut_fork(send_to_bad_receiver, NULL);
	char room[64];
	struct ipc_ext ext = { .data = room, .room = 64 };
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT_EQ(m.label, 3);
	UT_EXPECT_EQ(strcmp(room, "hello"), 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(bad_recv_result, -EFAULT);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

/* ---- dead peers ---- */

static void serve_one_then_exit(void *arg)
{
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	if ((long)arg)
		exit(0);			/* holding the reply right */
	m.label = 1;
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
}

UTEST(ipc, a_server_that_ends_holding_the_reply_right_fails_the_call)
{
	fresh_endpoint();
	/* the server must be the only receiver: this process gives up its
	 * right to receive (its copy in the child keeps the endpoint alive) */
	int send = handle_dup(ep_shared, IPC_R_SEND, 0);
	UT_ASSERT(send >= 0);
	int pid = ut_fork(serve_one_then_exit, (void *)1L);
	UT_ASSERT_EQ(handle_close(ep_shared), 0);
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_call(send, 0, &m, NULL), -EPIPE);
	/* The right went with the server's thread; the endpoint dies with the
	 * last handle to receive on it, when the server's process is torn down,
	 * which waitpid waits for (on four CPUs the call above can return
	 * before it). Then every call and send fails at once, no wait (one
	 * that would wait says -EAGAIN with IPC_NONBLOCK). */
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	UT_EXPECT_EQ(ipc_call(send, IPC_NONBLOCK, &m, NULL), -EPIPE);
	UT_EXPECT_EQ(ipc_call(send, 0, &m, NULL), -EPIPE);
	UT_EXPECT_EQ(ipc_send(send, 0, &m, NULL), -EPIPE);
}

static void exit_once_called(void *arg)
{
	wait_queued(ep_shared, 1, 0);		/* the parent's call waits */
}

UTEST(ipc, callers_waiting_when_the_last_receiver_goes_get_epipe)
{
	fresh_endpoint();
	int send = handle_dup(ep_shared, IPC_R_SEND, 0);
	UT_ASSERT(send >= 0);
	/* the child holds a receive right, never receives, and ends once
	 * the call is queued */
	int pid = ut_fork(exit_once_called, NULL);
	UT_ASSERT_EQ(handle_close(ep_shared), 0);
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_call(send, 0, &m, NULL), -EPIPE);	/* queued, then told */
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

static void call_and_wait(void *arg)
{
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	ipc_call(ep_shared, 0, &m, NULL);	/* killed while it waits */
	exit(3);
}

/* Kills the caller whose call m is, which waits for its reply: it dies,
 * its reply right finds nobody (-EPIPE), and the server goes on: the next
 * caller is served. */
static void kill_the_caller_and_serve_the_next(int pid, struct ipc_msg *m)
{
	UT_EXPECT(m->from_call);
	UT_ASSERT_EQ(kill(pid), 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, WAIT_KILLED);
	UT_EXPECT_EQ(ipc_reply(0, m, NULL), -EPIPE);
	pid = ut_fork(call_once, (void *)40L);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, m, NULL), 0);
	m->label++;
	UT_EXPECT_EQ(ipc_reply(0, m, NULL), 0);
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

UTEST(ipc, a_caller_killed_before_the_reply_leaves_the_server_going)
{
	fresh_endpoint();
	int pid = ut_fork(call_and_wait, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	kill_the_caller_and_serve_the_next(pid, &m);
}

/* The same by the fast path for certain: the call comes once the server
 * waits in its receive (ipc_stats counts it), so the caller sleeps in the
 * fast path's own wait, and the kill wakes it there without a reply. */
static void call_when_served(void *arg)
{
	(void)arg;
	wait_queued(ep_shared, 0, 1);		/* the server's receive waits */
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	ipc_call(ep_shared, 0, &m, NULL);	/* killed while it waits */
	exit(3);
}

UTEST(ipc, a_caller_killed_in_the_fast_path_wait_leaves_the_server_going)
{
	fresh_endpoint();
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	int pid = ut_fork(call_when_served, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT(s1.fast > s0.fast);		/* the call went by the fast path */
	kill_the_caller_and_serve_the_next(pid, &m);
}

static void wait_forever_in(void *arg)
{
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	if ((long)arg)
		ipc_recv(ep_shared, 0, &m, NULL);
	else
		ipc_send(ep_shared, 0, &m, NULL);
	exit(3);
}

UTEST(ipc, a_waiter_killed_in_send_or_receive_is_gone_from_the_queue)
{
	fresh_endpoint();
	for (long recv = 0; recv < 2; recv++) {
		int pid = ut_fork(wait_forever_in, (void *)recv);
		wait_queued(ep_shared, recv ? 0 : 1, recv ? 1 : 0);	/* it waits */
		UT_ASSERT_EQ(kill(pid), 0);
		int st;
		UT_ASSERT_EQ(waitpid(pid, &st), pid);
		UT_EXPECT_EQ(st, WAIT_KILLED);
		struct ipc_msg m = msg(1, 0, 0, 0, 0);
		if (recv)
			UT_EXPECT_EQ(ipc_send(ep_shared, IPC_NONBLOCK, &m, NULL), -EAGAIN);
		else
			UT_EXPECT_EQ(ipc_recv(ep_shared, IPC_NONBLOCK, &m, NULL), -EAGAIN);
	}
}

/* ---- notifications ---- */

static int note_shared;

static void signal_later(void *arg)
{
	wait_queued(note_shared, 0, 1);		/* the wait sleeps */
	UT_EXPECT_EQ(notify_signal(note_shared, 0x40), 0);
}

UTEST(ipc, notification_bits_gather_and_a_wait_takes_them_all)
{
	note_shared = notify_create();
	UT_ASSERT(note_shared >= 0);
	UT_EXPECT_EQ(notify_wait(note_shared, IPC_NONBLOCK, 0), -EAGAIN);
	UT_EXPECT_EQ(notify_signal(note_shared, 0x1), 0);
	UT_EXPECT_EQ(notify_signal(note_shared, 0x4), 0);
	UT_EXPECT_EQ(notify_signal(note_shared, 0x1), 0);
	UT_EXPECT_EQ(notify_wait(note_shared, 0, 0), 0x5);
	UT_EXPECT_EQ(notify_wait(note_shared, IPC_NONBLOCK, 0), -EAGAIN);	/* taken */
	unsigned long t0 = clock_ns();
	UT_EXPECT_EQ(notify_wait(note_shared, 0, 10 * MS), -ETIMEDOUT);
	UT_EXPECT(clock_ns() - t0 >= 10 * MS);
	int pid = ut_fork(signal_later, NULL);
	UT_EXPECT_EQ(notify_wait(note_shared, 0, 0), 0x40);	/* slept for it */
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	UT_EXPECT_EQ(notify_signal(note_shared, 0), -EINVAL);
	UT_EXPECT_EQ(notify_signal(note_shared, 1UL << 63), -EINVAL);
	int wait_only = handle_dup(note_shared, IPC_R_RECV, 0);
	UT_EXPECT_EQ(notify_signal(wait_only, 1), -EPERM);
}

/* ---- nothing left ---- */

static void ipc_workout(void *arg)
{
	fresh_endpoint();
	int n = notify_create();
	UT_ASSERT(n >= 0);
	UT_ASSERT(handle_dup(ep_shared, IPC_R_SEND, 9) >= 0);
	int pid = ut_fork(serve_n, (void *)5L);
	for (int i = 0; i < 5; i++) {
		struct ipc_msg m = msg(1, 2, 3, 4, 5);
		UT_EXPECT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);
	}
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	/* a call left hanging on a server that is killed */
	pid = ut_fork(call_and_wait, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_ASSERT_EQ(kill(pid), 0);
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	int saved = ipc_reply_save();
	UT_EXPECT(saved >= 0);			/* closed with the process */
}

UTEST(ipc, objects_handles_and_heap_come_back_when_everyone_has_gone)
{
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	ut_child_leaves_nothing(ipc_workout, NULL);
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT_EQ(s1.endpoints, s0.endpoints);
	UT_EXPECT_EQ(s1.notifications, s0.notifications);
	UT_EXPECT_EQ(s1.handles, s0.handles);
	UT_EXPECT_EQ(s1.replies, s0.replies);
	UT_EXPECT(s1.messages >= s0.messages + 11);
}

/* ---- found in review: each of these failed before its fix ---- */

static void call_with_room_for_a_handle(void *arg)
{
	struct ipc_ext ext = { .handle_room = 1, .timeout_ns = 1000 * MS };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_call(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT_EQ(ext.nhandles, 1);		/* the reply brought it */
}

/* (A reply that moved the handle reply_recv then received on made the
 * receive follow an emptied slot: a kernel page fault.) */
UTEST(ipc, a_reply_that_moves_the_handle_received_on_ends_the_receive_with_ebadf)
{
	fresh_endpoint();
	int tid = start_thread(call_with_room_for_a_handle, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	struct ipc_ext ext = { .nhandles = 1, .handles = { ep_shared }, .timeout_ns = 10 * MS };
	UT_EXPECT_EQ(ipc_reply_recv(ep_shared, 0, &m, &ext), -EBADF);
	UT_EXPECT_EQ(uthread_join(tid), 0);
}

/* (A reply through a saved right that moved that same right wrote into
 * and closed the emptied slot: a kernel page fault.) */
UTEST(ipc, a_reply_that_moves_its_own_saved_right_leaves_the_table_whole)
{
	fresh_endpoint();
	int tid = start_thread(call_with_room_for_a_handle, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	int saved = ipc_reply_save();
	UT_ASSERT(saved >= 0);
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	struct ipc_ext ext = { .nhandles = 1, .handles = { saved } };
	UT_EXPECT_EQ(ipc_reply_to(saved, &m, &ext), 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	struct ipc_handle_info info;
	UT_EXPECT_EQ(handle_info(saved, &info), -EBADF);	/* it went with the reply */
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT_EQ(s1.handles, s0.handles);			/* moved, not lost or doubled */
}

static volatile unsigned long spins;
static volatile int stop_spinning;

static void spin_on_cpu0(void *arg)
{
	UT_ASSERT_EQ(set_cpus(1), 0);
	while (!stop_spinning)
		spins++;
}

static void serve_until_zero(void *arg)
{
	UT_ASSERT_EQ(set_cpus((unsigned)(long)arg), 0);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	int err = 0;
	while (m.label && !err)
		err = ipc_reply_recv(ep_shared, 0, &m, NULL);
	UT_EXPECT_EQ(err, 0);
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
}

/* (The hand-off gave the partner a fresh quantum each time and cleared the
 * request to reschedule: a call/reply pair never gave the CPU up, and a
 * thread of the same priority waiting there never ran.) */
UTEST(ipc, a_hand_off_pair_leaves_time_for_others_of_its_priority)
{
	UT_ASSERT_EQ(set_cpus(1), 0);
	fresh_endpoint();
	int pid = ut_fork(serve_until_zero, (void *)1L);
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_ASSERT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);	/* the server is up */
	int tid = start_thread(spin_on_cpu0, NULL);
	while (!spins)
		sched_yield();				/* it runs, and is queued here */
	unsigned long before = spins, t0 = clock_ns();
	while (clock_ns() - t0 < 100 * MS) {
		m.label = 1;
		UT_ASSERT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);
	}
	unsigned long during = spins - before;
	stop_spinning = 1;
	m.label = 0;
	UT_EXPECT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	UT_EXPECT(during > 0);
}

static volatile int senders_stop;

static void send_from(void *arg)
{
	UT_ASSERT_EQ(set_cpus((unsigned)(long)arg), 0);
	struct ipc_ext ext = { .timeout_ns = 20 * MS };
	while (!senders_stop) {
		struct ipc_msg m = msg(2, 0, 0, 0, 0);
		ipc_send(ep_shared, 0, &m, &ext);
	}
}

/* (A hand-off refused on the CPU it was tried on queued the partner on
 * another CPU after the caller had gone to sleep; that CPU, having picked
 * the caller meanwhile, spun on its on_cpu holding the lock the caller
 * spun for: both CPUs stopped for good.) Server on CPUs 0-1, client on 1,
 * senders on 2 and 3, for 2 s. */
UTEST_CPUS(ipc, hand_offs_between_threads_on_different_cpus_never_deadlock, 4)
{
	fresh_endpoint();
	senders_stop = 0;
	int pid = ut_fork(serve_until_zero, (void *)3L);
	int s1 = uthread_create(send_from, (void *)4L), s2 = uthread_create(send_from, (void *)8L);
	UT_ASSERT(s1 > 0 && s2 > 0);
	UT_ASSERT_EQ(set_cpus(2), 0);
	unsigned long calls = 0, t0 = clock_ns();
	struct ipc_msg m;
	while (clock_ns() - t0 < 2000 * MS) {
		m = msg(1, 0, 0, 0, 0);
		UT_ASSERT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);
		calls++;
	}
	senders_stop = 1;
	UT_EXPECT_EQ(uthread_join(s1), 0);
	UT_EXPECT_EQ(uthread_join(s2), 0);
	m = msg(0, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_call(ep_shared, 0, &m, NULL), 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	UT_EXPECT(calls > 0);
}

/* (A badge with bit 63 set came out as "by call" with badge 0.) */
UTEST(ipc, a_badge_cannot_use_the_bit_that_marks_a_call)
{
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	UT_EXPECT_EQ(handle_dup(ep, IPC_R_SEND, IPC_FROM_CALL | 5), -EINVAL);
	UT_EXPECT(handle_dup(ep, IPC_R_SEND, IPC_FROM_CALL - 1) >= 0);
}

static const struct ipc_ext read_only_ext = { .handle_room = 1 };	/* in .rodata */

/* (A receive whose ext could not be written back took the message, moved
 * its handles and then said -EFAULT: what came was lost.) */
UTEST(ipc, a_receive_with_an_ext_it_cannot_write_back_takes_nothing)
{
	fresh_endpoint();
	int tid = start_thread(send_words, NULL);
	wait_queued(ep_shared, 1, 0);
	struct ipc_msg m;
	UT_EXPECT_EQ(ipc_recv(ep_shared, 0, &m, (struct ipc_ext *)&read_only_ext), -EFAULT);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);	/* it is still there */
	UT_EXPECT_EQ(m.label, 7);
	UT_EXPECT_EQ(uthread_join(tid), 0);
}

static void send_off_the_heap_end(void *arg)
{
	char *end = sbrk(0);			/* the last mapped byte is end - 1 */
	struct ipc_ext ext = { .data = end - 100, .len = 200 };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	wait_queued(ep_shared, 0, 1);
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), -EFAULT);
	static char ten[10] = "0123456789";
	ext = (struct ipc_ext){ .data = ten, .len = 10 };
	m.label = 2;
	UT_EXPECT_EQ(ipc_send(ep_shared, 0, &m, &ext), 0);
}

/* (A sender's buffer that ran into an unmapped page was copied as far as
 * it went: the waiting receiver's buffer changed though no message came.) */
UTEST(ipc, a_message_that_faults_half_way_changes_nothing_of_the_receiver)
{
	fresh_endpoint();
	UT_ASSERT(!IS_ERR_VALUE(sbrk(4096 - ((unsigned long)sbrk(0) & 4095))));	/* a page end */
	int pid = ut_fork(send_off_the_heap_end, NULL);
	char room[256];
	memset(room, 'z', sizeof(room));
	struct ipc_ext ext = { .data = room, .room = sizeof(room) };
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT_EQ(m.label, 2);
	UT_EXPECT_EQ(ext.len, 10);
	int changed = 0;
	for (int i = 10; i < 256; i++)
		changed += room[i] != 'z';
	UT_EXPECT_EQ(changed, 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

static void send_words_when_one_waits(void *arg)
{
	wait_queued(ep_shared, 0, 1);
	send_words(arg);
}

/* (now + timeout wrapped: a timeout near ~0 ended the wait at once.) */
UTEST(ipc, a_huge_timeout_waits_rather_than_ending_at_once)
{
	fresh_endpoint();
	int tid = start_thread(send_words_when_one_waits, NULL);
	struct ipc_ext ext = { .timeout_ns = ~0UL - 5 };
	struct ipc_msg m;
	UT_EXPECT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT_EQ(m.label, 7);
	UT_EXPECT_EQ(uthread_join(tid), 0);
}

static volatile long note_result = 1;

static void wait_on_note(void *arg)
{
	note_result = notify_wait(note_shared, 0, 0);
}

/* (Its last handle closed, a notification kept its waiters asleep for
 * ever: nobody could signal it any more.) */
UTEST(ipc, waiters_on_a_notification_nobody_can_signal_get_epipe)
{
	note_shared = notify_create();
	UT_ASSERT(note_shared >= 0);
	int tid = start_thread(wait_on_note, NULL);
	wait_queued(note_shared, 0, 1);
	UT_ASSERT_EQ(handle_close(note_shared), 0);
	UT_EXPECT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(note_result, -EPIPE);
}

/* ---- promised, and now tested ---- */

static volatile long first_call_result = 1;

static void call_and_keep_result(void *arg)
{
	struct ipc_msg m = msg((unsigned long)arg, 0, 0, 0, 0);
	first_call_result = ipc_call(ep_shared, 0, &m, NULL);
}

UTEST(ipc, a_right_dropped_unused_fails_its_caller_and_the_server_goes_on)
{
	fresh_endpoint();
	/* a new call received over a held right drops it */
	int t1 = start_thread(call_and_keep_result, (void *)1L);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	int t2 = start_thread(call_once, (void *)10L);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);	/* t1's right goes */
	UT_EXPECT_EQ(uthread_join(t1), 0);
	UT_EXPECT_EQ(first_call_result, -EPIPE);
	m.label++;
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
	UT_EXPECT_EQ(uthread_join(t2), 0);
	/* a saved right closed unused */
	first_call_result = 1;
	t1 = start_thread(call_and_keep_result, (void *)1L);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	int saved = ipc_reply_save();
	UT_ASSERT(saved >= 0);
	UT_EXPECT_EQ(handle_close(saved), 0);
	UT_EXPECT_EQ(uthread_join(t1), 0);
	UT_EXPECT_EQ(first_call_result, -EPIPE);
}

static void call_with_timeout(void *arg)
{
	struct ipc_ext ext = { .timeout_ns = 10 * MS };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	first_call_result = ipc_call(ep_shared, 0, &m, &ext);
}

UTEST(ipc, a_reply_to_a_caller_that_timed_out_is_epipe_and_reply_recv_goes_on)
{
	fresh_endpoint();
	int t1 = start_thread(call_with_timeout, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(uthread_join(t1), 0);		/* it gave up waiting for us */
	UT_EXPECT_EQ(first_call_result, -ETIMEDOUT);
	struct ipc_msg r = m;
	UT_EXPECT_EQ(ipc_reply(0, &r, NULL), -EPIPE);
	/* reply_recv: the reply fails the same way, and the receive still
	 * happens (a server's loop does not stop for a caller that left) */
	t1 = start_thread(call_with_timeout, NULL);
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(uthread_join(t1), 0);
	int t2 = start_thread(call_once, (void *)30L);
	UT_ASSERT_EQ(ipc_reply_recv(ep_shared, 0, &m, NULL), 0);
	UT_EXPECT_EQ(m.label, 30);
	m.label++;
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
	UT_EXPECT_EQ(uthread_join(t2), 0);
}

static void serve_with_data_and_a_handle(void *arg)
{
	char in[64];
	struct ipc_ext ext = { .data = in, .room = sizeof(in), .handle_room = 1 };
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT(m.from_call);
	UT_EXPECT_EQ(ext.len, 6);
	UT_EXPECT_EQ(memcmp(in, "hello", 6), 0);
	UT_ASSERT_EQ(ext.nhandles, 1);
	/* the answer: data, and the handle back */
	static char out[] = "world!";
	struct ipc_ext rx = { .data = out, .len = 7, .nhandles = 1, .handles = { ext.handles[0] } };
	m.label = 77;
	UT_EXPECT_EQ(ipc_reply(0, &m, &rx), 0);
}

UTEST(ipc, a_call_and_its_reply_carry_data_and_handles)
{
	ep_shared = endpoint_create();
	int n = notify_create();
	UT_ASSERT(ep_shared >= 0 && n >= 0);
	struct ipc_handle_info before;
	UT_ASSERT_EQ(handle_info(n, &before), 0);
	int pid = ut_fork(serve_with_data_and_a_handle, NULL);
	char buf[64] = "hello";
	struct ipc_ext ext = { .data = buf, .len = 6, .room = sizeof(buf), .nhandles = 1,
			       .handles = { n }, .handle_room = 1 };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_ASSERT_EQ(ipc_call(ep_shared, 0, &m, &ext), 0);
	UT_EXPECT_EQ(m.label, 77);
	UT_EXPECT_EQ(ext.len, 7);
	UT_EXPECT_EQ(strcmp(buf, "world!"), 0);
	UT_ASSERT_EQ(ext.nhandles, 1);
	struct ipc_handle_info after;
	UT_ASSERT_EQ(handle_info(ext.handles[0], &after), 0);
	UT_EXPECT_EQ(after.object, before.object);	/* the same notification, back */
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

static void receive_without_room(void *arg)
{
	/* fill the table but one slot less than a message brings */
	while (handle_dup(ep_shared, IPC_R_SEND, 0) >= 0)
		;
	handle_close(IPC_HANDLES_MAX - 1);
	struct ipc_ext ext = { .handle_room = 2, .timeout_ns = 200 * MS };
	struct ipc_msg m;
	UT_EXPECT_EQ(ipc_recv(ep_shared, 0, &m, &ext), -ETIMEDOUT);	/* never came */
}

UTEST(ipc, a_move_into_a_full_table_fails_the_sender_with_enospc)
{
	ep_shared = endpoint_create();
	int a = notify_create(), b = notify_create();
	UT_ASSERT(ep_shared >= 0 && a >= 0 && b >= 0);
	int pid = ut_fork(receive_without_room, NULL);
	wait_queued(ep_shared, 0, 1);
	struct ipc_ext ext = { .nhandles = 2, .handles = { a, b } };
	struct ipc_msg m = msg(1, 0, 0, 0, 0);
	UT_EXPECT_EQ(ipc_send(ep_shared, IPC_NONBLOCK, &m, &ext), -ENOSPC);
	struct ipc_handle_info info;
	UT_EXPECT_EQ(handle_info(a, &info), 0);		/* still ours */
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
}

/* ---- the console's interrupt as a notification ---- */

#define COM1 0x3F8
#define UART_MCR 4
#define UART_LSR 5
#define MCR_LOOP 0x10
#define LSR_DATA_READY 0x01

/* One byte through the UART in loopback (MCR bit 4: what it sends it
 * receives, and nothing reaches the wire): its receive interrupt comes,
 * which the binding turns into bits on the notification. Returns what the
 * wait said, *got the byte read back. Nothing may print meanwhile: it
 * would loop back too. */
static long loop_one_byte(int n, unsigned char c, unsigned char *got)
{
	unsigned char mcr = inb(COM1 + UART_MCR);
	while (inb(COM1 + UART_LSR) & LSR_DATA_READY)
		inb(COM1);			/* anything typed before */
	notify_wait(n, IPC_NONBLOCK, 0);	/* and any bits of it */
	outb(COM1 + UART_MCR, mcr | MCR_LOOP);
	outb(COM1, c);
	long bits = notify_wait(n, 0, 500 * MS);
	*got = inb(COM1 + UART_LSR) & LSR_DATA_READY ? inb(COM1) : 0;
	outb(COM1 + UART_MCR, mcr);
	return bits;
}

static void try_to_bind(void *arg)
{
	int n = notify_create();
	UT_ASSERT(n >= 0);
	UT_EXPECT_EQ(irq_bind(n, 4, 1), (long)arg);
}

UTEST_PORTS(ipc, the_console_interrupt_signals_the_notification_bound_to_it, COM1, 8)
{
	int n = notify_create();
	UT_ASSERT(n >= 0);
	UT_EXPECT_EQ(irq_bind(n, 3, 1), -EINVAL);		/* not a device it can have */
	UT_EXPECT_EQ(irq_bind(n, 4, 0), -EINVAL);		/* no bits */
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	UT_ASSERT_EQ(irq_bind(n, 4, 0x20), 0);
	UT_EXPECT_EQ(ut_child(try_to_bind, (void *)(long)-EBUSY), 0);	/* one at a time */
	unsigned char got = 0;
	long bits = loop_one_byte(n, 'Z', &got);
	UT_EXPECT_EQ(bits, 0x20);
	UT_EXPECT_EQ(got, 'Z');
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT(s1.irqs > s0.irqs);
	UT_EXPECT_EQ(irq_bind(-1, 4, 0), 0);			/* given back */
	UT_EXPECT_EQ(irq_bind(-1, 4, 0), -EINVAL);		/* and not bound now */
	/* a process that ends bound gives it back too */
	UT_EXPECT_EQ(ut_child(try_to_bind, (void *)0L), 0);
	UT_EXPECT_EQ(irq_bind(n, 4, 1), 0);
	UT_EXPECT_EQ(irq_bind(-1, 4, 0), 0);
}

UTEST(ipc, the_console_interrupt_needs_the_console_s_ports)
{
	int n = notify_create();
	UT_ASSERT(n >= 0);
	UT_EXPECT_EQ(irq_bind(n, 4, 1), -EPERM);
}
