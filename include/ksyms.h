/*
 * ksyms.h - the kernel's own symbol table, for backtraces and the monitor.
 *
 * The build links the kernel twice: the second link carries the function
 * symbols of the first (tools/mksyms.py), placed last in rodata so that no
 * function moves between the two links.
 */
#ifndef KSYMS_H
#define KSYMS_H

#include <kernel.h>

/* The function containing addr, and addr's offset into it; NULL if none. */
const char *ksym_lookup(uint64_t addr, uint64_t *offset);
/* Writes "name+0xoff" (or the bare address) into buf; returns its length. */
int ksym_format(uint64_t addr, char *buf, size_t size);
/* The address of a function by name, or 0. */
uint64_t ksym_address(const char *name);

#endif
