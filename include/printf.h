/*
 * printf.h - freestanding formatted output (lib/printf.c).
 *
 * Conversions: %d %i %u %x %X %o %p %s %c %%; length modifiers hh h l ll z;
 * flags '-' (left-align) '0' (zero-pad) '+' ' ' '#'; width and precision,
 * either may be '*'. An unknown conversion is printed as it stands.
 */
#ifndef PRINTF_H
#define PRINTF_H

#include <kernel.h>

/* One character out; ctx is whatever the caller passed to fmt_vformat. */
typedef void (*fmt_putc_fn)(char c, void *ctx);

/* Formats through putc; returns the number of characters produced. */
int fmt_vformat(fmt_putc_fn putc, void *ctx, const char *fmt, va_list ap);

/* C99 semantics: always terminates if size > 0, returns the full length. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

#endif
