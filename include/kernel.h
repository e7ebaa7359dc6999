/*
 * kernel.h - small things every file wants: fixed-width types, helpers for
 * alignment and arrays, and compiler attributes with readable names.
 */
#ifndef KERNEL_H
#define KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)      (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)     (((x) + ((a) - 1)) & ~((uint64_t)(a) - 1))
#define ALIGN_DOWN(x, a)   ((x) & ~((uint64_t)(a) - 1))
#define IS_ALIGNED(x, a)   (((x) & ((uint64_t)(a) - 1)) == 0)
#define MIN(a, b)          ((a) < (b) ? (a) : (b))
#define MAX(a, b)          ((a) > (b) ? (a) : (b))
#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

#define __noreturn         __attribute__((noreturn))
#define __packed           __attribute__((packed))
#define __aligned(n)       __attribute__((aligned(n)))
#define __used             __attribute__((used))
#define __unused           __attribute__((unused))
#define __printf(a, b)     __attribute__((format(printf, a, b)))
#define likely(x)          __builtin_expect(!!(x), 1)
#define unlikely(x)        __builtin_expect(!!(x), 0)

#define KiB(x)             ((uint64_t)(x) << 10)
#define MiB(x)             ((uint64_t)(x) << 20)
#define GiB(x)             ((uint64_t)(x) << 30)

#define PAGE_SIZE          4096UL
#define PAGE_SHIFT         12

/* Linker-script symbols (linker.ld). Only their addresses mean anything. */
extern char __kernel_start[], __kernel_end[];
extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_start[], __bss_end[];

#endif
