/*
 * user/lib/names.c - a client's calls to the name server (names.h).
 */
#include <names.h>

/* One call to the name server with the name as data; moves `give` (if >=
 * 0) to it and takes a handle back if one comes. The reply's label (0 or
 * -errno), or the call's own error. */
static long names_call(int names, unsigned long op, const char *name, int give, int *got)
{
	char buf[NAMES_NAME_MAX];
	size_t n = strlen(name) + 1;
	if (n > sizeof(buf))
		return -EINVAL;
	memcpy(buf, name, n);
	struct ipc_ext ext = { .data = buf, .len = (unsigned)n, .handle_room = 1 };
	if (give >= 0) {
		ext.nhandles = 1;
		ext.handles[0] = give;
	}
	struct ipc_msg m = { .label = op };
	int err = ipc_call(names, 0, &m, &ext);
	if (err)
		return err;
	if (got)
		*got = ext.nhandles ? ext.handles[0] : -1;
	return (long)m.label;
}

int names_register(int names, const char *name, int h)
{
	return (int)names_call(names, NAMES_REGISTER, name, h, NULL);
}

int names_lookup(int names, const char *name)
{
	int got = -1;
	long r = names_call(names, NAMES_LOOKUP, name, -1, &got);
	if (r)
		return (int)r;
	return got >= 0 ? got : -ENOENT;
}
