/*
 * string.h - the freestanding subset of <string.h> the kernel uses (lib/string.c).
 * gcc may turn struct copies into calls to memcpy/memset, so these must exist.
 */
#ifndef STRING_H
#define STRING_H

#include <stdbool.h>
#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
/* memcpy through the SSE registers in a kernel FPU section (lib/memcpy_sse.c)
 * for n >= 512; may not be called where kfpu_begin may not (inside another
 * section). Never sleeps. */
void *memcpy_sse(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t strlcpy(char *dst, const char *src, size_t size);
/* Does s match glob: '*' any run, '?' one character, '[abc]' '[a-z]' '[!x]'? */
bool glob_match(const char *glob, const char *s);

#endif
