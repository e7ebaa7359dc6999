/*
 * lib/string.c - freestanding string and memory routines.
 *
 * Written to be read: byte loops, but for memset and memcpy, which move
 * whole words where they can. Those two are on every path that clears or
 * copies a structure (kmem_zalloc, a fork's frame, an exit record), and a
 * byte loop costs about three instructions a byte there, which make bench
 * counts. Their result is the byte loop's: the bytes up to a word
 * boundary of dst one at a time, then a word at a time while src is on a
 * word boundary too, then the rest. memcpy/memset are called by gcc for
 * struct copies, so they must not themselves be turned into calls to
 * memcpy (-fno-builtin and -ffreestanding in the Makefile see to that).
 */
#include <string.h>
#include <stdint.h>

typedef uint64_t __attribute__((may_alias)) word_t;	/* any memory, as a word */
#define WORD sizeof(word_t)
#define ALIGNED(p) (((uintptr_t)(p) & (WORD - 1)) == 0)

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	for (; n && !ALIGNED(d); n--)
		*d++ = (unsigned char)c;
	word_t w = (unsigned char)c * 0x0101010101010101ULL;	/* c in every byte */
	for (; n >= WORD; n -= WORD, d += WORD)
		*(word_t *)d = w;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	for (; n && !ALIGNED(d); n--)
		*d++ = *s++;
	if (ALIGNED(s)) {
		/* each word read before it is written: memmove's forward copy
		 * (dst below src) stays right when the two overlap */
		for (; n >= WORD; n -= WORD, d += WORD, s += WORD)
			*(word_t *)d = *(const word_t *)s;
	}
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d == s || n == 0)
		return dst;
	if (d < s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)		/* overlapping, dst above src: copy backwards */
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *strstr(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);
	for (; *haystack; haystack++)
		if (strncmp(haystack, needle, n) == 0)
			return (char *)haystack;
	return n == 0 ? (char *)haystack : NULL;
}

size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

/* Shell-style match (the test runners' globs, kernel and user): '*' any run, '?' one character, '[abc]' '[a-z]' '[!x]'. */
bool glob_match(const char *g, const char *s)
{
	for (; *g; g++, s++) {
		if (*g == '*') {
			while (g[1] == '*')
				g++;
			for (const char *t = s;; t++) {
				if (glob_match(g + 1, t))
					return true;
				if (!*t)
					return false;
			}
		}
		if (!*s)
			return false;
		if (*g == '[') {
			const char *p = g + 1;
			bool neg = *p == '!', hit = false;
			if (neg)
				p++;
			for (; *p && *p != ']'; p++) {
				if (p[1] == '-' && p[2] && p[2] != ']') {
					hit |= *s >= p[0] && *s <= p[2];
					p += 2;
				} else {
					hit |= *s == *p;
				}
			}
			if (!*p || hit == neg)
				return false;	/* unterminated class never matches */
			g = p;
		} else if (*g != '?' && *g != *s) {
			return false;
		}
	}
	return !*s;
}
