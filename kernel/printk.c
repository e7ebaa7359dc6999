/*
 * kernel/printk.c - console output and panic.
 *
 * printk formats straight to the console under one lock (interrupts off
 * while it is held), so lines from different CPUs and from interrupt
 * handlers do not interleave. panic formats its message into a buffer
 * first, so a hook (the test runner) can read it, prints it with a
 * backtrace, and ends the run. A panic while panicking does not recurse:
 * it prints one line and stops.
 *
 * A printk on a CPU that already holds the console lock can only come from
 * a trap taken inside printk (the lock is held with interrupts off): a
 * fault in the formatting, say, whose report trap_fatal prints before it
 * panics. It prints without the lock. Waiting for it would never end, and
 * the lock's own check used to panic with "lock 'console' already held by
 * this CPU", which hid the fault being reported.
 */
#include <printk.h>
#include <printf.h>
#include <spinlock.h>
#include <arch.h>
#include <percpu.h>
#include <thread.h>

static struct spinlock console_lock = SPINLOCK_INIT("console");
static volatile int panicking;		/* number of panics in progress */
static void (*panic_hook)(const char *msg);

bool panic_in_progress(void)
{
	return __atomic_load_n(&panicking, __ATOMIC_RELAXED) != 0;
}

static void console_out(char c, void *ctx)
{
	(void)ctx;
	arch_console_putc(c);
}

int vprintk(const char *fmt, va_list ap)
{
	unsigned long flags = arch_irq_save();
	/* A panicking CPU must be able to print even if the lock holder died;
	 * a trap inside printk prints over the line it interrupted. */
	bool locked = !panicking && !spin_held(&console_lock);
	if (locked)
		spin_lock(&console_lock);
	int n = fmt_vformat(console_out, NULL, fmt, ap);
	if (locked)
		spin_unlock(&console_lock);
	arch_irq_restore(flags);
	return n;
}

int printk(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintk(fmt, ap);
	va_end(ap);
	return n;
}

void panic_set_hook(void (*hook)(const char *msg))
{
	panic_hook = hook;
}

void panic(const char *fmt, ...)
{
	static char msg[512];
	arch_irq_disable();
	if (__atomic_fetch_add(&panicking, 1, __ATOMIC_SEQ_CST) != 0) {
		printk("\npanic: nested panic on CPU %d (", cpu_id());
		va_list ap;
		va_start(ap, fmt);
		vprintk(fmt, ap);
		va_end(ap);
		printk("); stopping\n");
		arch_poweroff(false);
	}

	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	printk("\npanic: %s\n", msg);
	struct thread *t = this_cpu()->thread;
	printk("  on CPU %d, thread %s\n", cpu_id(), t ? t->name : "(none yet)");
	arch_backtrace_here();
	if (panic_hook)
		panic_hook(msg);	/* the test runner: gives the verdict, never returns */
	printk("system halted.\n");
	arch_halt();
}
