/*
 * user/tests/names_test.c - the name server (user/bin/names.c) as its
 * clients see it: spawned with an endpoint (spawn_handles), it registers
 * services' handles under names and hands out copies.
 *
 * What is asserted: spawn_handles gives the child exactly the handles
 * asked for, at 0 .. n-1, and refuses bad ones; a registered service is
 * found and reached through the copy, from another process; a name is held
 * once, and free again when its service dies; bad names and registrations
 * without a usable handle are refused; the table fills; a lookup of a dead
 * or unknown name is -ENOENT; when the name server itself dies, its
 * clients' calls fail with -EPIPE, and nothing is left behind.
 */
#include "helpers.h"
#include <names.h>

/* The name server, spawned with a receive handle to a new endpoint; *ep
 * gets this process's handle to it (send, receive: the test keeps both). */
static int start_names(int *ep)
{
	*ep = endpoint_create();
	UT_ASSERT(*ep >= 0);
	const char *argv[] = { "names", NULL };
	int pid = spawn_handles("names", argv, ep, 1);
	UT_ASSERT(pid > 0);
	return pid;
}

static void stop(int pid)
{
	UT_EXPECT_EQ(kill(pid), 0);
	int st;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
}

UTEST(names, spawn_handles_gives_exactly_the_handles_asked_for)
{
	int ep = endpoint_create(), n = notify_create();
	UT_ASSERT(ep >= 0 && n >= 0);
	const char *argv[] = { "hello", NULL };
	static const int bad[] = { 50 };
	UT_EXPECT_EQ(spawn_handles("hello", argv, bad, 1), -EBADF);
	UT_EXPECT_EQ(spawn_handles("hello", argv, &ep, 9), -EINVAL);
	UT_EXPECT_EQ(spawn_handles("hello", argv, (const int *)8, 1), -EFAULT);
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	int both[] = { n, ep };
	int pid = spawn_handles("hello", argv, both, 2);
	UT_ASSERT(pid > 0);
	int st;
	UT_ASSERT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(st, 0);
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT_EQ(s1.handles, s0.handles);		/* its two copies went with it */
	/* with a name server: it must find its endpoint at 0, and serve */
	int names;
	pid = start_names(&names);
	int svc = endpoint_create();
	UT_ASSERT(svc >= 0);
	UT_EXPECT_EQ(names_register(names, "svc", svc), 0);
	stop(pid);
}

static int names_h;

static void client_calls_echo(void *arg)
{
	int h = names_lookup(names_h, "echo");
	UT_ASSERT(h >= 0);
	struct ipc_msg m = { .label = 41 };
	UT_ASSERT_EQ(ipc_call(h, 0, &m, NULL), 0);
	UT_EXPECT_EQ(m.label, 42);
}

UTEST(names, a_registered_service_is_found_and_reached_from_another_process)
{
	int pid = start_names(&names_h);
	int svc = endpoint_create();
	UT_ASSERT(svc >= 0);
	int reg = handle_dup(svc, IPC_R_SEND | IPC_R_DUP, 0);
	UT_ASSERT(reg >= 0);
	UT_ASSERT_EQ(names_register(names_h, "echo", reg), 0);
	struct ipc_handle_info info;
	UT_EXPECT_EQ(handle_info(reg, &info), -EBADF);		/* moved to the server */
	int client = ut_fork(client_calls_echo, NULL);
	struct ipc_msg m;
	UT_ASSERT_EQ(ipc_recv(svc, 0, &m, NULL), 0);
	m.label++;
	UT_EXPECT_EQ(ipc_reply(0, &m, NULL), 0);
	int st;
	UT_ASSERT_EQ(waitpid(client, &st), client);
	UT_EXPECT_EQ(st, 0);
	UT_EXPECT_EQ(names_lookup(names_h, "nothing"), -ENOENT);
	stop(pid);
}

static void register_and_exit(void *arg)
{
	int svc = endpoint_create();
	UT_ASSERT(svc >= 0);
	UT_EXPECT_EQ(names_register(names_h, (const char *)arg, svc), 0);
	/* ends: its endpoint has no receiver left */
}

UTEST(names, a_name_is_held_once_and_freed_when_its_service_dies)
{
	int pid = start_names(&names_h);
	int a = endpoint_create(), b = endpoint_create();
	UT_ASSERT(a >= 0 && b >= 0);
	UT_ASSERT_EQ(names_register(names_h, "disk", handle_dup(a, IPC_R_SEND | IPC_R_DUP, 0)), 0);
	UT_EXPECT_EQ(names_register(names_h, "disk", handle_dup(b, IPC_R_SEND | IPC_R_DUP, 0)),
		     -EEXIST);
	/* a service that ends: its name answers -ENOENT, and may be taken */
	UT_EXPECT_EQ(ut_child(register_and_exit, "gone"), 0);
	UT_EXPECT_EQ(names_lookup(names_h, "gone"), -ENOENT);
	UT_EXPECT_EQ(names_register(names_h, "gone", handle_dup(b, IPC_R_SEND | IPC_R_DUP, 0)), 0);
	int h = names_lookup(names_h, "gone");
	UT_ASSERT(h >= 0);
	struct ipc_handle_info got, want;
	UT_ASSERT_EQ(handle_info(h, &got), 0);
	UT_ASSERT_EQ(handle_info(b, &want), 0);
	UT_EXPECT_EQ(got.object, want.object);			/* the new one's */
	stop(pid);
}

UTEST(names, bad_names_and_unusable_handles_are_refused)
{
	int pid = start_names(&names_h);
	int ep = endpoint_create(), n = notify_create();
	UT_ASSERT(ep >= 0 && n >= 0);
	UT_EXPECT_EQ(names_register(names_h, "", handle_dup(ep, IPC_R_ALL, 0)), -EINVAL);
	UT_EXPECT_EQ(names_register(names_h, "has space", handle_dup(ep, IPC_R_ALL, 0)), -EINVAL);
	UT_EXPECT_EQ(names_register(names_h, "0123456789012345678901234567890123",
				    handle_dup(ep, IPC_R_ALL, 0)), -EINVAL);	/* too long */
	UT_EXPECT_EQ(names_register(names_h, "nodup", handle_dup(ep, IPC_R_SEND, 0)), -EPERM);
	UT_EXPECT_EQ(names_register(names_h, "note", n), -EINVAL);	/* not an endpoint */
	UT_EXPECT_EQ(names_register(names_h, "none", -1), -EINVAL);	/* no handle */
	struct ipc_stats s;
	UT_ASSERT_EQ(ipc_stats(&s), 0);
	/* the refused handles were closed by the server, not kept */
	UT_EXPECT_EQ(names_lookup(names_h, "nodup"), -ENOENT);
	stop(pid);
}

UTEST(names, the_table_fills_then_says_enospc)
{
	int pid = start_names(&names_h);
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	char name[16];
	for (int i = 0; i < NAMES_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		int h = handle_dup(ep, IPC_R_SEND | IPC_R_DUP, 0);
		UT_ASSERT(h >= 0);
		UT_ASSERT_EQ(names_register(names_h, name, h), 0);
	}
	UT_EXPECT_EQ(names_register(names_h, "one_more", handle_dup(ep, IPC_R_SEND | IPC_R_DUP, 0)),
		     -ENOSPC);
	stop(pid);
}

static void look_up_after_death(void *arg)
{
	int h = names_lookup(names_h, "x");
	UT_EXPECT_EQ(h, -EPIPE);		/* the server is gone */
}

UTEST(names, when_the_name_server_dies_its_clients_get_epipe_and_nothing_is_left)
{
	struct sysinfo before, after;
	struct ipc_stats s0, s1;
	UT_ASSERT_EQ(handle_close(endpoint_create()), 0);	/* our IPC state first */
	ut_sysinfo(&before);
	UT_ASSERT_EQ(ipc_stats(&s0), 0);
	int names;
	int pid = start_names(&names);
	names_h = handle_dup(names, IPC_R_SEND | IPC_R_GRANT, 0);	/* clients' copy */
	UT_ASSERT(names_h >= 0);
	UT_ASSERT_EQ(handle_close(names), 0);			/* only the server receives */
	int svc = endpoint_create();
	UT_ASSERT(svc >= 0);
	UT_ASSERT_EQ(names_register(names_h, "x", handle_dup(svc, IPC_R_ALL, 0)), 0);
	stop(pid);
	UT_EXPECT_EQ(ut_child(look_up_after_death, NULL), 0);
	UT_EXPECT_EQ(handle_close(svc), 0);
	UT_EXPECT_EQ(handle_close(names_h), 0);
	UT_EXPECT(ut_settle(before.procs, 1000000000UL, &after));
	ut_expect_baseline(&before, &after);
	UT_ASSERT_EQ(ipc_stats(&s1), 0);
	UT_EXPECT_EQ(s1.endpoints, s0.endpoints);
	UT_EXPECT_EQ(s1.handles, s0.handles);
}
