/*
 * printk.h - console output, panic and assertions (kernel/printk.c).
 *
 * printk may be called from any context, interrupts and traps included; a
 * lock keeps lines from different CPUs from interleaving mid-line. panic
 * prints its message, a backtrace, and ends the run.
 */
#ifndef PRINTK_H
#define PRINTK_H

#include <kernel.h>

int printk(const char *fmt, ...) __printf(1, 2);
int vprintk(const char *fmt, va_list ap);

/* Prints "panic: <message>" and a backtrace, then stops the machine. */
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

/* A panic hook: the test runner uses it to judge KTEST_EXPECT_PANIC cases. */
void panic_set_hook(void (*hook)(const char *msg));
/* Whether a panic is in progress (on any CPU). */
bool panic_in_progress(void);

/* Checks a kernel invariant; a failure panics naming the expression. */
#define KASSERT(cond)                                                        \
	do {                                                                 \
		if (unlikely(!(cond)))                                       \
			panic("assertion failed: %s (%s:%d, %s)", #cond,    \
			      __FILE__, __LINE__, __func__);                 \
	} while (0)

#endif
