/*
 * user/bin/console.c - the console server: COM1's only driver (protocol:
 * user/include/console.h).
 *
 * Design
 *   Two threads. The first serves the endpoint at handle 0: a WRITE is put
 *   on the wire whole (each byte when the transmitter is empty), so one
 *   call's bytes are never cut by another's; a READ with input waiting is
 *   answered at once, otherwise its reply right is saved (ipc_reply_save)
 *   to answer later. The second waits on the notification the UART's
 *   receive interrupt is bound to (irq_bind), drains the UART's receive
 *   FIFO into a ring, and answers the saved READ when bytes are there.
 *   Both touch the ring and the saved right under one lock of their own
 *   (an atomic exchange: the two threads share the process's memory).
 *
 * Invariants
 *   - Only this process writes the UART's ports in ring 3 (it alone holds
 *     them: docs/user.md, "I/O ports"), one call's bytes after another's,
 *     so no client's line is cut by another client's. The kernel still
 *     prints there too (its messages, the test reports), byte by byte like
 *     this server, and on another CPU at the same time: a kernel line can
 *     cut a client's.
 *   - The interrupt is edge-triggered: the interrupt thread reads until the
 *     data-ready bit is clear before it waits again, so no byte waits for
 *     an interrupt that will not come.
 */
#include <console.h>

#define UART_DATA 0
#define UART_LSR  5
#define LSR_DATA_READY 0x01
#define LSR_THRE  0x20

#define RING 4096

static struct ulock lock;
static unsigned char ring[RING];
static unsigned head, tail;		/* head: next write; tail: next read */
static int pending = -1;		/* a saved reply right: a READ that waits */
static unsigned long pending_max;
static bool tapping;
static unsigned char tap[IPC_DATA_MAX];
static unsigned tap_len;

static void put_byte(unsigned char c)
{
	while (!(inb(CONSOLE_PORT + UART_LSR) & LSR_THRE))
		;
	outb(CONSOLE_PORT + UART_DATA, c);
}

/* Answers a READ of at most max bytes from the ring (lock held): how many
 * went. A reader that has gone (its process ended while it waited: the
 * reply is -EPIPE) takes nothing: the bytes stay for the next reader. */
static long answer(int reply, unsigned long max)
{
	static unsigned char out[IPC_DATA_MAX];
	unsigned n = 0, t = tail;
	while (t != head && n < max && n < sizeof(out)) {
		out[n++] = ring[t];
		t = (t + 1) % RING;
	}
	struct ipc_ext ext = { .data = out, .len = n };
	struct ipc_msg m = { .label = n };
	int err = reply < 0 ? ipc_reply(0, &m, &ext) : ipc_reply_to(reply, &m, &ext);
	if (err)
		return 0;
	tail = t;
	return n;
}

/* What the UART has received, into the ring (lock held). */
static void drain(void)
{
	while (inb(CONSOLE_PORT + UART_LSR) & LSR_DATA_READY) {
		unsigned char c = inb(CONSOLE_PORT + UART_DATA);
		if ((head + 1) % RING != tail) {	/* full: the byte is dropped */
			ring[head] = c;
			head = (head + 1) % RING;
		}
	}
}

static void interrupts(void *arg)
{
	int note = (int)(long)arg;
	/* bytes that came before the interrupt was ours raised no edge we saw:
	 * read them first, then wait for more */
	for (bool first = true;; first = false) {
		if (!first)
			notify_wait(note, 0, 0);
		ulock_take(&lock);
		drain();
		if (pending >= 0 && tail != head) {
			answer(pending, pending_max);
			handle_close(pending);		/* used, or its reader has gone */
			pending = -1;
		}
		ulock_give(&lock);
	}
}

/* Only this (the first) thread writes the UART and the tap, so no lock:
 * the interrupt thread may drain the receive FIFO meanwhile. */
static long do_write(const unsigned char *buf, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (buf[i] == '\n')
			put_byte('\r');
		put_byte(buf[i]);
		if (tapping && tap_len < sizeof(tap))
			tap[tap_len++] = buf[i];
	}
	return n;
}

int main(int argc, char **argv)
{
	/* the ports come from the parent after the spawn */
	for (int i = 0; i < 1000 && ioport_query(CONSOLE_PORT, 8) != 1; i++)
		sleep_ns(1000000);
	if (ioport_query(CONSOLE_PORT, 8) != 1) {
		printf("console: COM1's ports were never given to me\n");
		return 1;
	}
	int note = notify_create();
	if (note < 0 || irq_bind(note, CONSOLE_IRQ, 1) < 0) {
		printf("console: cannot have COM1's interrupt\n");
		return 1;
	}
	if (uthread_create(interrupts, (void *)(long)note) < 0)
		return 1;
	static unsigned char buf[IPC_DATA_MAX];
	for (;;) {
		struct ipc_ext ext = { .data = buf, .room = sizeof(buf) };
		struct ipc_msg m;
		int err = ipc_recv(0, 0, &m, &ext);
		if (err == -EBADF) {
			printf("console: no endpoint at handle 0 (spawn it with one)\n");
			return 1;
		}
		if (err || !m.from_call)
			continue;
		long result;
		struct ipc_ext out = { .data = tap, .len = 0 };
		if (m.label == CONSOLE_WRITE) {
			result = do_write(buf, ext.len);
		} else if (m.label == CONSOLE_READ) {
			if (m.w[0] < 1 || m.w[0] > IPC_DATA_MAX) {
				result = -EINVAL;
			} else {
				ulock_take(&lock);
				if (pending >= 0) {
					result = -EBUSY;
				} else if (tail != head) {
					answer(-1, m.w[0]);
					ulock_give(&lock);
					continue;		/* answered */
				} else {
					pending = ipc_reply_save();
					pending_max = m.w[0];
					ulock_give(&lock);
					continue;		/* the interrupt thread answers */
				}
				ulock_give(&lock);
			}
		} else if (m.label == CONSOLE_TAP) {
			ulock_take(&lock);
			result = 0;
			if (m.w[0] == 2) {
				out.len = tap_len;	/* what was recorded, taken */
				result = tap_len;
				tap_len = 0;
			} else {
				tapping = m.w[0] == 1;
				tap_len = 0;
			}
			ulock_give(&lock);
		} else {
			result = -EINVAL;
		}
		m = (struct ipc_msg){ .label = (unsigned long)result };
		ipc_reply(0, &m, &out);
	}
}
