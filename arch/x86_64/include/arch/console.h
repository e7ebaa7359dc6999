/*
 * arch/console.h - the PC console (arch/x86_64/console.c) beyond what
 * <arch.h> declares: what the boot-protocol code tells it.
 */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

/* The loader left the screen in a graphics mode: stop writing to the VGA
 * text buffer (the serial line goes on). */
void console_vga_disable(void);

#endif
