/*
 * names.h - the name server's protocol (user/bin/names.c) and the client's
 * two calls (user/lib/names.c).
 *
 * A service registers a handle to its endpoint under a name; a client looks
 * the name up and gets a copy of that handle: the only way a process finds
 * a service it was not given at its start. The server receives on the
 * handle it is spawned with at 0; everyone else reaches it through a copy.
 *
 *   NAMES_REGISTER  data: the name, NUL included; one handle moved in (an
 *                   endpoint handle with IPC_R_DUP, so copies can be
 *                   made; the server keeps it without IPC_R_RECV, so
 *                   that clients can only send, and the endpoint dies
 *                   with its service). Reply label 0, or -EEXIST (the name is held by a
 *                   service that lives), -ENOSPC (full), -EINVAL (a bad
 *                   name, no handle, not an endpoint), -EPERM (no IPC_R_DUP)
 *   NAMES_LOOKUP    data: the name. Reply label 0 and one handle moved out
 *                   (a copy, with the rights registered), or -ENOENT
 *                   (none, or its service has died: the entry goes)
 *   NAMES_LIST      reply data: "name\n" for each live entry
 *
 * A name is 1 .. NAMES_NAME_MAX - 1 bytes of printable ASCII. Registering
 * moves a handle, so the caller's handle to the server needs IPC_R_GRANT
 * as well as IPC_R_SEND; looking up needs only IPC_R_SEND.
 */
#ifndef NAMES_H
#define NAMES_H

#include <ulib.h>

#define NAMES_NAME_MAX 32
#define NAMES_MAX      32		/* entries the server keeps */

enum { NAMES_REGISTER = 1, NAMES_LOOKUP, NAMES_LIST };

#ifndef EEXIST
#define EEXIST 17
#endif

/* Through the server's handle `names`: 0 or -errno. h is moved to the
 * server (the caller keeps nothing of it). */
int names_register(int names, const char *name, int h);
/* The handle registered under name (a new one in the caller's table), or
 * -errno. */
int names_lookup(int names, const char *name);

#endif
