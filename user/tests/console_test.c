/*
 * user/tests/console_test.c - the console server (user/bin/console.c) as
 * its clients see it. Each case is a process granted COM1's ports
 * (UTEST_PORTS), which starts a server, gives it the ports and talks to
 * it; the case keeps the ports too, to put the UART in loopback (MCR bit
 * 4: what it sends it receives, and nothing reaches the wire), so that
 * neither the load nor the input it makes up lands in the test report.
 *
 * What is asserted: a write reaches the UART whole; eight processes
 * writing lines at once lose none and cut none (the server's record of
 * what it put on the wire, CONSOLE_TAP); a read waits for input and gets
 * it (input made by the loopback); one reader at a time; when the server
 * dies, its clients get -EPIPE and the interrupt can be bound again.
 */
#include "helpers.h"
#include <console.h>

#define MS 1000000UL
#define UART_MCR 4
#define MCR_LOOP 0x10

static int con;

/* A console server on a new endpoint, with the ports; con is our handle
 * to it, a client's (send only: the server alone receives there). */
static int start_console(void)
{
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);
	const char *argv[] = { "console", NULL };
	int pid = spawn_handles("console", argv, &ep, 1);
	UT_ASSERT(pid > 0);
	UT_ASSERT_EQ(ioport_give(pid, CONSOLE_PORT, 8), 0);
	con = handle_dup(ep, IPC_R_SEND | IPC_R_DUP, 0);
	UT_ASSERT(con >= 0);
	UT_ASSERT_EQ(handle_close(ep), 0);
	return pid;
}

static void loopback_off(void);

static void loopback(bool on)
{
	unsigned char mcr = inb(CONSOLE_PORT + UART_MCR);
	outb(CONSOLE_PORT + UART_MCR, on ? mcr | MCR_LOOP : mcr & ~MCR_LOOP);
	utest_on_failure = on ? loopback_off : NULL;
}

/* A case that fails in loopback would leave the UART so: the report of
 * the failure, and everything after it, would never reach the wire. */
static void loopback_off(void)
{
	loopback(false);
}

static void stop(int pid)
{
	loopback(false);
	UT_EXPECT_EQ(kill(pid), 0);
	int st;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
}

static long tap(unsigned long op, char *buf)
{
	struct ipc_ext ext = { .data = buf, .room = buf ? IPC_DATA_MAX : 0 };
	struct ipc_msg m = { .label = CONSOLE_TAP, .w = { op } };
	int err = ipc_call(con, 0, &m, &ext);
	return err ? err : (long)m.label;
}

static char got[IPC_DATA_MAX + 1];

UTEST_PORTS(console, a_write_reaches_the_uart_whole, CONSOLE_PORT, 8)
{
	int pid = start_console();
	loopback(true);
	UT_ASSERT_EQ(tap(1, NULL), 0);
	UT_EXPECT_EQ(console_write(con, "hello, console\n", 15), 15);
	long n = tap(2, got);
	UT_EXPECT_EQ(n, 15);
	got[n > 0 ? n : 0] = '\0';
	UT_EXPECT_EQ(strcmp(got, "hello, console\n"), 0);
	/* and on the UART itself: the loopback brings the bytes back as input,
	 * the newline sent as CR LF */
	char back[32];
	long have = 0;
	while (have < 16) {
		long r = console_read(con, back + have, sizeof(back) - 1 - (unsigned long)have);
		if (r <= 0)
			break;
		have += r;
	}
	back[have] = '\0';
	UT_EXPECT_EQ(have, 16);
	UT_EXPECT_EQ(strcmp(back, "hello, console\r\n"), 0);
	stop(pid);
}

#define WRITERS 8
#define LINES   16

static void write_lines(void *arg)
{
	int w = (int)(long)arg;
	char line[40];
	for (int j = 0; j < LINES; j++) {
		int n = snprintf(line, sizeof(line), "w%d line %02d %s\n", w, j, "abcdefghij");
		UT_ASSERT_EQ(console_write(con, line, (unsigned long)n), n);
		if (j % 4 == 0)
			sched_yield();			/* mix them up */
	}
}

UTEST_PORTS(console, eight_writers_at_once_lose_no_line_and_cut_none, CONSOLE_PORT, 8)
{
	int pid = start_console();
	loopback(true);
	UT_ASSERT_EQ(tap(1, NULL), 0);
	int pids[WRITERS];
	for (int w = 0; w < WRITERS; w++)
		pids[w] = ut_fork(write_lines, (void *)(long)w);
	for (int w = 0; w < WRITERS; w++) {
		int st;
		UT_ASSERT_EQ(waitpid(pids[w], &st), pids[w]);
		UT_EXPECT_EQ(st, 0);
	}
	long n = tap(2, got);
	UT_ASSERT(n > 0);
	got[n] = '\0';
	/* every line whole, each writer's in its order, none missing */
	int next[WRITERS] = { 0 }, bad = 0, lines = 0;
	for (char *p = got; *p;) {
		char *nl = strchr(p, '\n');
		if (!nl) {
			bad++;
			break;
		}
		*nl = '\0';
		int w = -1, j = -1;
		char expect[40];
		if (p[0] == 'w' && p[1] >= '0' && p[1] < '0' + WRITERS) {
			w = p[1] - '0';
			j = next[w];
		}
		snprintf(expect, sizeof(expect), "w%d line %02d %s", w, j, "abcdefghij");
		if (w < 0 || strcmp(p, expect))
			bad++;
		else
			next[w]++;
		lines++;
		p = nl + 1;
	}
	UT_EXPECT_EQ(bad, 0);
	UT_EXPECT_EQ(lines, WRITERS * LINES);
	for (int w = 0; w < WRITERS; w++)
		UT_EXPECT_EQ(next[w], LINES);
	stop(pid);
}

static volatile long read_result = 1;
static char read_buf[64];

static void read_some(void *arg)
{
	read_result = console_read(con, read_buf, sizeof(read_buf));
}

UTEST_PORTS(console, a_read_waits_for_input_and_gets_it, CONSOLE_PORT, 8)
{
	int pid = start_console();
	loopback(true);
	int tid = uthread_create(read_some, NULL);
	UT_ASSERT(tid > 0);
	sleep_ns(20 * MS);			/* it waits: nothing has come */
	UT_EXPECT_EQ(read_result, 1);
	char one[4];
	UT_EXPECT_EQ(console_read(con, one, sizeof(one)), -EBUSY);	/* one reader */
	UT_EXPECT_EQ(console_read(con, one, 0), -EINVAL);
	UT_EXPECT_EQ(console_write(con, "xyz", 3), 3);	/* comes back as input */
	UT_EXPECT_EQ(uthread_join(tid), 0);
	UT_EXPECT(read_result >= 1 && read_result <= 3);
	UT_EXPECT_EQ(read_buf[0], 'x');
	stop(pid);
}

UTEST_PORTS(console, when_the_server_dies_its_clients_get_epipe_and_the_interrupt_is_free,
	    CONSOLE_PORT, 8)
{
	int pid = start_console();
	UT_EXPECT_EQ(console_write(con, "", 0), 0);	/* it is up */
	int n = notify_create();
	UT_ASSERT(n >= 0);
	UT_EXPECT_EQ(irq_bind(n, CONSOLE_IRQ, 1), -EBUSY);	/* the server has it */
	UT_EXPECT_EQ(kill(pid), 0);
	int st;
	UT_EXPECT_EQ(waitpid(pid, &st), pid);
	UT_EXPECT_EQ(console_write(con, "x", 1), -EPIPE);	/* nobody receives */
	char c;
	UT_EXPECT_EQ(console_read(con, &c, 1), -EPIPE);
	UT_EXPECT_EQ(irq_bind(n, CONSOLE_IRQ, 1), 0);		/* given back with it */
	UT_EXPECT_EQ(irq_bind(-1, CONSOLE_IRQ, 0), 0);
}

/* A program started with the console handle at 0 (badged CONSOLE_BADGE, as
 * init gives the shell and the shell its programs) prints through the
 * server: its line is in the server's record of what it wrote. */
UTEST_PORTS(console, a_program_given_the_console_prints_through_it, CONSOLE_PORT, 8)
{
	int pid = start_console();
	loopback(true);
	UT_ASSERT_EQ(tap(1, NULL), 0);
	int badged = handle_dup(con, IPC_R_SEND, CONSOLE_BADGE);
	UT_ASSERT(badged >= 0);
	const char *argv[] = { "hello", "through", "the", "console", NULL };
	int child = spawn_handles("hello", argv, &badged, 1);
	UT_ASSERT(child > 0);
	int st;
	UT_ASSERT_EQ(waitpid(child, &st), child);
	UT_EXPECT_EQ(st, 0);
	long n = tap(2, got);
	UT_ASSERT(n > 0);
	got[n] = '\0';
	const char *want = "hello through the console\n";
	bool found = false;
	for (long i = 0; !found && i + (long)strlen(want) <= n; i++)
		found = !strncmp(got + i, want, strlen(want));
	UT_EXPECT(found);
	stop(pid);
}

static void read_and_wait(void *arg)
{
	char c;
	console_read(con, &c, 1);		/* killed while it waits */
	exit(3);
}

/* (A reader killed while it waited kept its place in the server: the next
 * input went to it and was lost, and the next reader was told -EBUSY until
 * then. Found in review: after the shell's `exit`, the first key typed to
 * the new shell was gone.) */
UTEST_PORTS(console, input_after_a_reader_dies_goes_to_the_next, CONSOLE_PORT, 8)
{
	int pid = start_console();
	loopback(true);
	int dead = ut_fork(read_and_wait, NULL);
	sleep_ns(20 * MS);			/* it waits in the server */
	UT_ASSERT_EQ(kill(dead), 0);
	int st;
	UT_ASSERT_EQ(waitpid(dead, &st), dead);
	UT_EXPECT_EQ(console_write(con, "k", 1), 1);	/* the input, by loopback */
	char c = 0;
	long r = -EBUSY;
	for (int tries = 0; tries < 100 && r == -EBUSY; tries++) {
		r = console_read(con, &c, 1);	/* -EBUSY while the dead one's right lingers */
		if (r == -EBUSY)
			sleep_ns(2 * MS);
	}
	UT_EXPECT_EQ(r, 1);
	UT_EXPECT_EQ(c, 'k');
	stop(pid);
}
