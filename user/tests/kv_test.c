/*
 * user/tests/kv_test.c - the key-value server (user/bin/kv.c, <kv.h>),
 * the server of labs/ipc.md, driven as its clients would: each case
 * spawns a server of its own with an endpoint at its handle 0 and keeps
 * handles that may only send, badged per client.
 */
#include "helpers.h"
#include <kv.h>

#define MS 1000000UL

struct server {
	int pid;
	int ep;			/* ours: every right (closed once the server has it) */
};

/* A kv server; h[i] for i < n: send-only handles to it, badged i + 1. */
static struct server start(int *h, int n)
{
	struct server s;
	s.ep = endpoint_create();
	UT_ASSERT(s.ep >= 0);
	for (int i = 0; i < n; i++) {
		h[i] = handle_dup(s.ep, IPC_R_SEND, (unsigned long)(i + 1));
		UT_ASSERT(h[i] >= 0);
	}
	const char *argv[] = { "kv", NULL };
	s.pid = spawn_handles("kv", argv, &s.ep, 1);
	UT_ASSERT(s.pid > 0);
	handle_close(s.ep);	/* the server holds the only right to receive */
	return s;
}

static void stop(struct server *s)
{
	UT_EXPECT_EQ(kill(s->pid), 0);
	int st;
	UT_EXPECT_EQ(waitpid(s->pid, &st), s->pid);
}

/* One request: the reply's label (0 or -errno); *out: its w[0]. */
static long req(int h, unsigned long op, unsigned long key, unsigned long value,
		unsigned long *out)
{
	struct ipc_msg m = { .label = op, .w = { key, value } };
	int err = ipc_call(h, 0, &m, NULL);
	if (err)
		return err;
	if (out)
		*out = m.w[0];
	return (long)m.label;
}

UTEST(kv, put_then_get_returns_the_value)
{
	int h;
	struct server s = start(&h, 1);
	unsigned long v = 0;
	UT_EXPECT_EQ(req(h, KV_PUT, 7, 700, NULL), 0);
	UT_EXPECT_EQ(req(h, KV_GET, 7, 0, &v), 0);
	UT_EXPECT_EQ(v, 700);
	UT_EXPECT_EQ(req(h, KV_PUT, 7, 701, NULL), 0);		/* a new value */
	UT_EXPECT_EQ(req(h, KV_GET, 7, 0, &v), 0);
	UT_EXPECT_EQ(v, 701);
	UT_EXPECT_EQ(req(h, KV_COUNT, 0, 0, &v), 0);
	UT_EXPECT_EQ(v, 1);
	stop(&s);
}

UTEST(kv, a_missing_or_deleted_key_is_enoent)
{
	int h;
	struct server s = start(&h, 1);
	UT_EXPECT_EQ(req(h, KV_GET, 1, 0, NULL), -ENOENT);
	UT_EXPECT_EQ(req(h, KV_DEL, 1, 0, NULL), -ENOENT);
	UT_EXPECT_EQ(req(h, KV_PUT, 1, 10, NULL), 0);
	UT_EXPECT_EQ(req(h, KV_DEL, 1, 0, NULL), 0);
	UT_EXPECT_EQ(req(h, KV_GET, 1, 0, NULL), -ENOENT);
	unsigned long n = 99;
	UT_EXPECT_EQ(req(h, KV_COUNT, 0, 0, &n), 0);
	UT_EXPECT_EQ(n, 0);
	stop(&s);
}

UTEST(kv, each_badge_has_keys_of_its_own)
{
	int h[2];
	struct server s = start(h, 2);
	unsigned long v = 0;
	UT_EXPECT_EQ(req(h[0], KV_PUT, 5, 111, NULL), 0);
	UT_EXPECT_EQ(req(h[1], KV_GET, 5, 0, NULL), -ENOENT);	/* not its key */
	UT_EXPECT_EQ(req(h[1], KV_PUT, 5, 222, NULL), 0);
	UT_EXPECT_EQ(req(h[0], KV_GET, 5, 0, &v), 0);
	UT_EXPECT_EQ(v, 111);
	UT_EXPECT_EQ(req(h[1], KV_GET, 5, 0, &v), 0);
	UT_EXPECT_EQ(v, 222);
	UT_EXPECT_EQ(req(h[1], KV_DEL, 5, 0, NULL), 0);
	UT_EXPECT_EQ(req(h[0], KV_GET, 5, 0, &v), 0);		/* the other's stays */
	UT_EXPECT_EQ(v, 111);
	stop(&s);
}

UTEST(kv, a_full_table_says_enospc_and_frees_on_delete)
{
	int h;
	struct server s = start(&h, 1);
	for (unsigned long k = 0; k < KV_MAX; k++)
		UT_ASSERT_EQ(req(h, KV_PUT, k, k * 3, NULL), 0);
	UT_EXPECT_EQ(req(h, KV_PUT, 1000, 1, NULL), -ENOSPC);
	UT_EXPECT_EQ(req(h, KV_PUT, 3, 4, NULL), 0);		/* an old key: room enough */
	UT_EXPECT_EQ(req(h, KV_DEL, 10, 0, NULL), 0);
	UT_EXPECT_EQ(req(h, KV_PUT, 1000, 1, NULL), 0);
	unsigned long v = 0;
	UT_EXPECT_EQ(req(h, KV_GET, 63, 0, &v), 0);
	UT_EXPECT_EQ(v, 189);
	stop(&s);
}

UTEST(kv, bad_requests_and_sends_leave_the_server_going)
{
	int h;
	struct server s = start(&h, 1);
	UT_EXPECT_EQ(req(h, 0, 0, 0, NULL), -EINVAL);
	UT_EXPECT_EQ(req(h, 99, 0, 0, NULL), -EINVAL);
	struct ipc_msg m = { .label = KV_PUT, .w = { 9, 9 } };
	UT_EXPECT_EQ(ipc_send(h, 0, &m, NULL), 0);		/* a send: ignored */
	UT_EXPECT_EQ(req(h, KV_GET, 9, 0, NULL), -ENOENT);
	UT_EXPECT_EQ(req(h, KV_PUT, 9, 1, NULL), 0);
	stop(&s);
}

struct client {
	int h, id, bad;
};

static void client_thread(void *arg)
{
	struct client *c = arg;
	for (unsigned long i = 0; i < 100; i++) {
		unsigned long key = i % 8, v = 0;
		if (req(c->h, KV_PUT, key, (unsigned long)c->id * 1000 + i, NULL) != 0 ||
		    req(c->h, KV_GET, key, 0, &v) != 0 || v != (unsigned long)c->id * 1000 + i)
			c->bad++;
	}
}

/* Four clients (threads, each with its own badge) at once: each gets its
 * own answers, and its keys are its own. */
UTEST(kv, four_clients_at_once_get_their_own_answers)
{
	int h[4];
	struct server s = start(h, 4);
	struct client c[4];
	int tid[4];
	for (int i = 0; i < 4; i++) {
		c[i] = (struct client){ h[i], i + 1, 0 };
		tid[i] = uthread_create(client_thread, &c[i]);
		UT_ASSERT(tid[i] > 0);
	}
	for (int i = 0; i < 4; i++) {
		UT_EXPECT_EQ(uthread_join(tid[i]), 0);
		UT_EXPECT_EQ(c[i].bad, 0);
		unsigned long n = 0;
		UT_EXPECT_EQ(req(h[i], KV_COUNT, 0, 0, &n), 0);
		UT_EXPECT_EQ(n, 8);
	}
	stop(&s);
}

static void call_and_die(void *arg)
{
	int h = *(int *)arg;
	req(h, KV_PUT, 1, 1, NULL);
	exit(0);				/* gone before anything else */
}

/* Clients that call and die at once: the server answers the next one. */
UTEST(kv, clients_that_die_do_not_stop_the_server)
{
	int h;
	struct server s = start(&h, 1);
	for (int i = 0; i < 3; i++)
		UT_EXPECT_EQ(ut_child(call_and_die, &h), 0);
	unsigned long v = 0;
	UT_EXPECT_EQ(req(h, KV_GET, 1, 0, &v), 0);
	UT_EXPECT_EQ(v, 1);
	stop(&s);
}

static void wait_in_the_server(void *arg)
{
	int h = *(int *)arg;
	req(h, KV_WAIT, 200, 0, NULL);		/* killed before the answer */
}

/* A client killed while the server holds its call (KV_WAIT): the reply
 * fails with -EPIPE, and the server must take the next call. */
UTEST(kv, a_client_killed_while_its_call_is_held_is_skipped)
{
	int h;
	struct server s = start(&h, 1);
	UT_EXPECT_EQ(req(h, KV_WAIT, 1, 0, NULL), 0);		/* it waits, then answers */
	int pid = ut_fork(wait_in_the_server, &h);
	sleep_ns(50 * MS);				/* its call is in the server now */
	UT_EXPECT_EQ(kill(pid), 0);
	int st;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, WAIT_KILLED);
	UT_EXPECT_EQ(req(h, KV_PUT, 4, 44, NULL), 0);		/* answered after the wait */
	unsigned long v = 0;
	UT_EXPECT_EQ(req(h, KV_GET, 4, 0, &v), 0);
	UT_EXPECT_EQ(v, 44);
	stop(&s);
}

UTEST(kv, when_the_server_dies_its_clients_get_epipe)
{
	int h;
	struct server s = start(&h, 1);
	UT_EXPECT_EQ(req(h, KV_PUT, 2, 2, NULL), 0);
	stop(&s);
	UT_EXPECT_EQ(req(h, KV_GET, 2, 0, NULL), -EPIPE);
}
UTEST_POINTS(kv, put_then_get_returns_the_value, 2);
UTEST_POINTS(kv, each_badge_has_keys_of_its_own, 2);
UTEST_POINTS(kv, four_clients_at_once_get_their_own_answers, 2);
UTEST_POINTS(kv, a_client_killed_while_its_call_is_held_is_skipped, 2);
