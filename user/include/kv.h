/*
 * kv.h - the key-value server's protocol (user/bin/kv.c, labs/ipc.md).
 *
 * The server receives on the endpoint it is spawned with at handle 0.
 * Each request is a call; the request and the answer travel in registers
 * (the label and up to four words), so one round trip is two traps: the
 * client's call, the server's reply_recv. The reply's label is 0 or
 * -errno.
 *
 *   KV_PUT    w[0] key, w[1] value: stores it (a new key or a new value);
 *             -ENOSPC when KV_MAX keys are stored and the key is new
 *   KV_GET    w[0] key: reply w[0] = the value; -ENOENT if there is none
 *   KV_DEL    w[0] key: forgets it; -ENOENT if there is none
 *   KV_COUNT  reply w[0] = the keys the caller has stored
 *   KV_WAIT   w[0] milliseconds (at most 1000): the server waits that long,
 *             then answers 0 (the tests' way to have a client die while
 *             the server holds its call: the reply then fails, -EPIPE,
 *             and the server must go on)
 *   other     -EINVAL, and the server goes on
 *
 * Keys belong to the caller's badge: whoever gave out the handles to the
 * server badged each client's differently (handle_dup), and a client sees
 * and changes only the keys stored under its own badge. A message sent
 * rather than called gets no answer and changes nothing.
 */
#ifndef KV_H
#define KV_H

#include <ulib.h>

#define KV_MAX 64			/* keys the server stores, all badges together */

enum { KV_PUT = 1, KV_GET, KV_DEL, KV_COUNT, KV_WAIT };

#endif
