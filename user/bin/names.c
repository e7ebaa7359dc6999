/*
 * user/bin/names.c - the name server (protocol: user/include/names.h).
 *
 * It receives on handle 0 (given by whoever spawns it: init, a test) and
 * keeps a table of names and the handles registered under them, in its own
 * handle table. A lookup answers with a copy (handle_dup) moved in the
 * reply. An entry whose endpoint has died (nobody can receive on it: its
 * service ended) is dropped when a register or lookup meets it, so a name
 * is never handed out for a service that is gone and a restarted service
 * may take its name again.
 *
 * Replies carry the result in the label: 0, or -errno.
 */
#include <names.h>

static struct entry {
	char name[NAMES_NAME_MAX];
	int h;				/* -1: a free entry */
} entries[NAMES_MAX];

static bool valid_name(const char *s, unsigned len)
{
	if (len < 2 || len > NAMES_NAME_MAX || s[len - 1] != '\0')
		return false;
	for (unsigned i = 0; i + 1 < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7E)
			return false;
	return true;
}

/* The entry of `name`, after dropping it if its service has died. */
static struct entry *find(const char *name)
{
	for (int i = 0; i < NAMES_MAX; i++) {
		struct entry *e = &entries[i];
		if (e->h < 0 || strcmp(e->name, name))
			continue;
		struct ipc_handle_info info;
		if (handle_info(e->h, &info) == 0 && !(info.flags & IPC_INFO_DEAD))
			return e;
		handle_close(e->h);		/* its service has gone */
		e->h = -1;
	}
	return NULL;
}

static long do_register(const char *name, struct ipc_ext *ext)
{
	if (ext->nhandles != 1)
		return -EINVAL;
	int h = ext->handles[0];
	struct ipc_handle_info info;
	long err = 0;
	if (handle_info(h, &info) || info.type != IPC_OBJ_ENDPOINT)
		err = -EINVAL;
	else if (!(info.rights & IPC_R_DUP))
		err = -EPERM;
	else if (find(name))
		err = -EEXIST;
	for (int i = 0; !err && i < NAMES_MAX; i++) {
		if (entries[i].h < 0) {
			/* kept without the right to receive: clients get copies,
			 * and the service's endpoint must die with the service */
			int kept = handle_dup(h, info.rights & ~(unsigned)IPC_R_RECV, 0);
			if (kept < 0) {
				err = kept;
				break;
			}
			handle_close(h);
			strlcpy(entries[i].name, name, NAMES_NAME_MAX);
			entries[i].h = kept;
			return 0;
		}
	}
	if (!err)
		err = -ENOSPC;
	handle_close(h);			/* refused: not kept */
	return err;
}

int main(int argc, char **argv)
{
	for (int i = 0; i < NAMES_MAX; i++)
		entries[i].h = -1;
	char buf[4096];
	struct ipc_msg m;
	struct ipc_ext ext;
	for (;;) {
		ext = (struct ipc_ext){ .data = buf, .room = sizeof(buf) - 1, .handle_room = 1 };
		int err = ipc_recv(0, 0, &m, &ext);
		if (err == -EBADF) {
			printf("names: no endpoint at handle 0 (spawn it with one)\n");
			return 1;
		}
		if (err)
			continue;
		buf[ext.len] = '\0';
		struct ipc_ext out = { .data = buf, .len = 0 };
		long result = 0;
		if (m.label == NAMES_LIST) {
			unsigned n = 0;
			for (int i = 0; i < NAMES_MAX; i++) {
				if (entries[i].h >= 0 && find(entries[i].name)) {
					n += (unsigned)snprintf(buf + n, sizeof(buf) - n, "%s\n",
								entries[i].name);
				}
			}
			out.len = n;
		} else if (!valid_name(buf, ext.len)) {
			result = -EINVAL;
			for (unsigned i = 0; i < ext.nhandles; i++)
				handle_close(ext.handles[i]);
		} else if (m.label == NAMES_REGISTER) {
			result = do_register(buf, &ext);
		} else if (m.label == NAMES_LOOKUP) {
			struct entry *e = find(buf);
			struct ipc_handle_info info;
			int copy = -ENOENT;
			if (e && handle_info(e->h, &info) == 0)
				copy = handle_dup(e->h, info.rights, 0);
			if (copy < 0) {
				result = copy;
			} else {
				out.nhandles = 1;
				out.handles[0] = copy;
			}
		} else {
			result = -EINVAL;
		}
		if (!m.from_call) {
			if (out.nhandles)
				handle_close(out.handles[0]);	/* a send: nobody to answer */
			continue;
		}
		m = (struct ipc_msg){ .label = (unsigned long)result };
		/* The reply, then the next receive: two traps, not reply_recv, so
		 * that a reply that fails leaves its handle here to close. */
		err = ipc_reply(0, &m, &out);
		if (err && out.nhandles)
			handle_close(out.handles[0]);	/* the caller left: not ours to keep */
	}
}
