/*
 * syscall.h - the system call table (kernel/syscall.c), which the
 * architecture's entry calls with the number and six arguments it took
 * from the registers (uapi/syscall.h has the convention and the numbers).
 */
#ifndef SYSCALL_H
#define SYSCALL_H

#include <kernel.h>
#include <uapi/syscall.h>

typedef long (*syscall_fn)(long, long, long, long, long, long);
extern const syscall_fn syscall_table[SYS_COUNT];
/* For an unknown number: -ENOSYS (and a count, for tests). */
long syscall_unknown(uint64_t nr);
uint64_t syscall_unknown_count(void);

#endif
