/*
 * arch/x86_64/console.c - the 16550 UART on COM1 and the VGA text screen.
 *
 * Output is polled: each character waits for the transmitter to be empty,
 * so a message printed just before a crash is on the wire when the crash
 * happens. Every character also goes to the VGA text buffer at 0xB8000
 * when the loader left the screen in text mode (it scrolls; no cursor).
 * A '\n' becomes "\r\n" on the serial line.
 */
#include <arch.h>
#include <arch/x86.h>
#include <string.h>
#include <arch/trap.h>
#include <arch/ioapic.h>
#include <arch/lapic.h>

#define COM1            0x3F8
#define UART_DATA       0	/* DLAB=0: transmit/receive */
#define UART_IER        1	/* DLAB=0: interrupt enable */
#define UART_DLL        0	/* DLAB=1: divisor low */
#define UART_DLM        1	/* DLAB=1: divisor high */
#define UART_FCR        2
#define UART_LCR        3
#define UART_MCR        4
#define UART_LSR        5
#define LCR_8N1         0x03
#define LCR_DLAB        0x80
#define FCR_ENABLE_FIFO 0x07	/* enable and clear both FIFOs */
#define MCR_DTR_RTS_OUT2 0x0B
#define LSR_THRE        0x20	/* transmit holding register empty */
#define UART_DIVISOR_115200 1

#define VGA_TEXT   ((volatile uint16_t *)0xB8000)
#define VGA_COLS   80
#define VGA_ROWS   25
#define VGA_ATTR   0x0700	/* light grey on black */

static bool vga_enabled = true;
static int vga_row, vga_col;

void arch_console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, UART_DIVISOR_115200);
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_FIFO);
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);

	if (vga_enabled) {
		for (int i = 0; i < VGA_COLS * VGA_ROWS; i++)
			VGA_TEXT[i] = VGA_ATTR | ' ';
	}
}

/* The loader set a graphics mode: no VGA text from here on. */
void arch_console_vga_disable(void)
{
	vga_enabled = false;
}

static bool vga_paused;		/* arch_console_vga_set(false) */

bool arch_console_vga_set(bool on)
{
	bool was = !vga_paused;
	vga_paused = !on;
	return was;
}

static void uart_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		;
	outb(COM1 + UART_DATA, (uint8_t)c);
}

static void vga_scroll(void)
{
	for (int i = 0; i < VGA_COLS * (VGA_ROWS - 1); i++)
		VGA_TEXT[i] = VGA_TEXT[i + VGA_COLS];
	for (int i = 0; i < VGA_COLS; i++)
		VGA_TEXT[VGA_COLS * (VGA_ROWS - 1) + i] = VGA_ATTR | ' ';
	vga_row = VGA_ROWS - 1;
}

static void vga_putc(char c)
{
	if (c == '\n') {
		vga_col = 0;
		if (++vga_row == VGA_ROWS)
			vga_scroll();
		return;
	}
	if (c == '\r')
		return;
	VGA_TEXT[vga_row * VGA_COLS + vga_col] = VGA_ATTR | (uint8_t)c;
	if (++vga_col == VGA_COLS) {
		vga_col = 0;
		if (++vga_row == VGA_ROWS)
			vga_scroll();
	}
}

#define LSR_DATA_READY 0x01
#define IER_RX_AVAILABLE 0x01
#define COM1_ISA_IRQ 4

static void (*rx_callback)(char c);
static void (*volatile user_hook)(void);	/* a driver in user space has the UART */
static bool routed;

static bool uart_interrupt(struct trap_frame *tf)
{
	(void)tf;
	void (*hook)(void) = user_hook;
	if (hook) {
		hook();			/* the driver reads it, through its ports */
		return true;
	}
	while (inb(COM1 + UART_LSR) & LSR_DATA_READY) {
		char c = (char)inb(COM1 + UART_DATA);
		if (rx_callback)
			rx_callback(c);
	}
	return true;
}

static void route(void)
{
	if (routed)
		return;
	routed = true;
	trap_register(VEC_UART, uart_interrupt);
	ioapic_route(COM1_ISA_IRQ, VEC_UART, lapic_id(), false, false);
	outb(COM1 + UART_IER, IER_RX_AVAILABLE);
}

void arch_console_rx_enable(void (*cb)(char c))
{
	rx_callback = cb;
	route();
	while (inb(COM1 + UART_LSR) & LSR_DATA_READY)	/* typed before: no edge comes */
		cb((char)inb(COM1 + UART_DATA));
}

void arch_console_irq_hook(void (*hook)(void))
{
	user_hook = hook;
	if (hook) {
		route();
		return;
	}
	/* given back: what the driver left unread raised its edge already and
	 * will raise no other, so the kernel's reader (if any) takes it now */
	while (rx_callback && (inb(COM1 + UART_LSR) & LSR_DATA_READY))
		rx_callback((char)inb(COM1 + UART_DATA));
}

void arch_console_putc(char c)
{
	if (c == '\n')
		uart_putc('\r');
	uart_putc(c);
	if (vga_enabled && !vga_paused)
		vga_putc(c);
}
