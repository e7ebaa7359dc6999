/*
 * user/lib/stdio.c - printf and puts over write(1), and the start of main.
 *
 * printf formats into a buffer on the stack (the kernel's formatter,
 * lib/printf.c, built again for user space) and hands it to one write, so
 * a line printed with one call reaches the console whole.
 */
#include <ulib.h>

#define PRINTF_MAX 1024

int printf(const char *fmt, ...)
{
	char buf[PRINTF_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	return (int)write(1, buf, (unsigned long)n);
}

int puts(const char *s)
{
	char buf[PRINTF_MAX];
	size_t n = strlcpy(buf, s, sizeof(buf) - 1);
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	return (int)write(1, buf, n);
}

uint64_t rand64(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

int main(int argc, char **argv);

void __attribute__((noreturn)) ulib_start(int argc, char **argv)
{
	exit(main(argc, argv));
}

long atol(const char *s)
{
	long v = 0;
	bool neg = *s == '-';
	if (neg)
		s++;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return neg ? -v : v;
}
