/*
 * ioport.h - sets of I/O port ranges (kernel/ioport.c): the ports a
 * process may reach with IN and OUT from ring 3 (docs/user.md, "I/O
 * ports").
 *
 * A set is at most IOPORT_RANGES_MAX ranges, kept sorted, disjoint and
 * apart (two ranges that overlap or meet are one). So "does the set hold
 * every port of [first, last]" is one range's test, two sets are equal
 * exactly when their arrays are, and the architecture's switch between
 * two sets (the TSS bitmap, arch/x86_64/iobitmap.c) touches only the
 * bytes of their ranges. The operations are pure: they change the set
 * they are given, or nothing when they fail, and know nothing of
 * processes or locks (the process's set is under proc.c's tree lock).
 */
#ifndef IOPORT_H
#define IOPORT_H

#include <kernel.h>

#define IOPORT_COUNT      0x10000	/* ports 0 .. 0xFFFF */
#define IOPORT_RANGES_MAX 8		/* ranges one process may hold */

struct ioport_range {
	uint16_t first, last;		/* inclusive: a range is never empty */
};

struct ioport_set {
	uint32_t n;			/* ranges in use, r[0 .. n-1], ascending */
	struct ioport_range r[IOPORT_RANGES_MAX];
};

/* Is [base, base + count) a range of ports: count at least 1, every port
 * below IOPORT_COUNT? (Taken as 64-bit values: a system call's arguments
 * are checked before they are cut to ports.) */
bool ioport_range_ok(uint64_t base, uint64_t count);
/* Adds ports first..last (first <= last < IOPORT_COUNT) to s. Returns 0,
 * or -EINVAL if the result would need more than IOPORT_RANGES_MAX ranges
 * (s is then unchanged). */
int ioport_set_add(struct ioport_set *s, unsigned first, unsigned last);
/* Takes ports first..last out of s (those it does not hold: nothing).
 * Returns 0, or -EINVAL if cutting a hole in a range would need more than
 * IOPORT_RANGES_MAX ranges (s is then unchanged). */
int ioport_set_remove(struct ioport_set *s, unsigned first, unsigned last);
/* Does s hold every port of first..last? */
bool ioport_set_holds(const struct ioport_set *s, unsigned first, unsigned last);
bool ioport_set_equal(const struct ioport_set *a, const struct ioport_set *b);
/* s as "0x80,0x3f8-0x3ff" ("-" when empty), for the monitor. */
void ioport_set_format(const struct ioport_set *s, char *buf, size_t size);

#endif
