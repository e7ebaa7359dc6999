/*
 * console.h - the console server's protocol (user/bin/console.c) and the
 * client's calls (user/lib/console.c).
 *
 * The console server owns COM1: it alone holds the UART's ports, and its
 * receive interrupt is bound to the server's notification (irq_bind). Every
 * other process prints and reads through it, with calls on the endpoint
 * it is spawned with at handle 0:
 *
 *   CONSOLE_WRITE  data: the bytes (up to IPC_DATA_MAX). Written to the
 *                  UART whole, before any other client's: a line written
 *                  in one call is never cut by another's. Reply label: the
 *                  bytes written, or -errno.
 *   CONSOLE_READ   w[0]: the most bytes wanted (1 .. IPC_DATA_MAX). The
 *                  reply comes when input has: data, the bytes (at least
 *                  one); label, how many. One reader waits at a time;
 *                  another gets -EBUSY.
 *   CONSOLE_TAP    w[0]: 1 starts a record of everything written from now
 *                  on, 0 stops it; with w[0] = 2 the reply's data is what
 *                  has been recorded (up to a page, oldest first, taken).
 *                  For tests: what reached the wire, in the order it did.
 *
 * The server must be given COM1's ports by its parent (ioport_give) after
 * the spawn: it waits for them (up to a second) before it starts.
 */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <ulib.h>

enum { CONSOLE_WRITE = 1, CONSOLE_READ, CONSOLE_TAP };

#define CONSOLE_PORT 0x3F8
#define CONSOLE_IRQ  4

/* The badge of the console handle init gives the shell and the shell its
 * programs, at handle 0: the library's write (fd 1 and 2) goes through the
 * console server when handle 0 carries it (user/lib/syscall.c), through the
 * kernel's SYS_write otherwise (the tests, the servers themselves). */
#define CONSOLE_BADGE 0xC0A5

/* Through the server's handle `con`: the bytes written or read, or -errno. */
long console_write(int con, const void *buf, unsigned long n);
long console_read(int con, void *buf, unsigned long n);

#endif
