/*
 * user/bin/kv.c - a key-value server (protocol: user/include/kv.h), the
 * server of labs/ipc.md.
 *
 * One table of KV_MAX entries, each a (badge, key, value); the loop takes
 * a request, answers it and takes the next in one trap (ipc_reply_recv),
 * the way an L4 or seL4 server runs. A reply that cannot be delivered (the
 * client died while it waited) is dropped by the kernel, which receives
 * on: the server never hears of it.
 */
#include <kv.h>

/* LAB ipc BEGIN: the table, its operations and the server's loop */
static struct entry {
	bool used;
	unsigned long badge, key, value;
} table[KV_MAX];

static struct entry *find(unsigned long badge, unsigned long key)
{
	for (int i = 0; i < KV_MAX; i++)
		if (table[i].used && table[i].badge == badge && table[i].key == key)
			return &table[i];
	return NULL;
}

/* Answers request m in place: the label becomes 0 or -errno. */
static void handle(struct ipc_msg *m)
{
	struct entry *e = find(m->badge, m->w[0]);
	long result = 0;
	unsigned long out = 0;
	switch (m->label) {
	case KV_PUT:
		for (int i = 0; !e && i < KV_MAX; i++)
			if (!table[i].used)
				e = &table[i];
		if (!e) {
			result = -ENOSPC;
			break;
		}
		*e = (struct entry){ true, m->badge, m->w[0], m->w[1] };
		break;
	case KV_GET:
		if (e)
			out = e->value;
		else
			result = -ENOENT;
		break;
	case KV_DEL:
		if (e)
			e->used = false;
		else
			result = -ENOENT;
		break;
	case KV_COUNT:
		for (int i = 0; i < KV_MAX; i++)
			out += table[i].used && table[i].badge == m->badge;
		break;
	case KV_WAIT:
		sleep_ns((m->w[0] < 1000 ? m->w[0] : 1000) * 1000000UL);
		break;
	default:
		result = -EINVAL;
	}
	*m = (struct ipc_msg){ .label = (unsigned long)result, .w = { out } };
}

int main(int argc, char **argv)
{
	struct ipc_msg m;
	int err = ipc_recv(0, 0, &m, NULL);
	for (;;) {
		if (err == -EBADF) {
			printf("kv: no endpoint at handle 0 (spawn it with one)\n");
			return 1;
		}
		if (err || !m.from_call) {	/* a send: no answer, nothing changes */
			err = ipc_recv(0, 0, &m, NULL);
			continue;
		}
		handle(&m);
		/* answer, and take the next: a reply to a client that has gone
		 * is dropped and the receive goes on (docs/ipc.md, "Dead peers") */
		err = ipc_reply_recv(0, 0, &m, NULL);
	}
}
/* LAB ipc STUB
int main(int argc, char **argv)
{
	printf("kv: not written yet (labs/ipc.md)\n");
	return 1;
}
LAB ipc END */
