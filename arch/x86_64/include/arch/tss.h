/*
 * arch/tss.h - the 64-bit Task State Segment (cpu.c makes one per CPU) and
 * its I/O permission bitmap (iobitmap.c switches it; docs/user.md, "I/O
 * ports").
 *
 * An IN, OUT, INS or OUTS in ring 3 with RFLAGS.IOPL 0 (always, here) is
 * allowed only if every bit for its ports is 0 in the bitmap at
 * iomap_base (SDM vol. 1, "I/O Permission Bit Map"); otherwise it raises
 * #GP(0). The CPU reads two bytes there, so the bitmap of 65536 bits is
 * followed by a byte of ones, and the TSS limit covers that byte. An
 * iomap_base beyond the limit (TSS_IOMAP_OFF) means no bitmap: every port
 * faults, whatever the bytes say. That is how a CPU runs a process
 * without ports: one 16-bit store, and the bytes keep the last process's
 * ports for the next time it runs there (Linux's
 * tss_invalidate_io_bitmap).
 */
#ifndef ARCH_TSS_H
#define ARCH_TSS_H

#include <kernel.h>
#include <ioport.h>

#define TSS_IOMAP_BYTES (IOPORT_COUNT / 8)

struct arch_tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	uint8_t iomap[TSS_IOMAP_BYTES];	/* bit p set: port p faults */
	uint8_t iomap_end;		/* 0xFF: the byte after the last (see above) */
} __packed;

#define TSS_IOMAP_ON  offsetof(struct arch_tss, iomap)
#define TSS_IOMAP_OFF sizeof(struct arch_tss)	/* past the limit: no bitmap */
#define TSS_LIMIT     (sizeof(struct arch_tss) - 1)	/* the descriptor's */
_Static_assert(TSS_IOMAP_OFF <= 0xFFFF, "iomap_base is 16 bits");

/*
 * The ports of one address space (struct aspace, paging.c), as the
 * switch reads them. key is 0 when the set is empty, otherwise a number
 * that no other set, before or after, ever has: a new one at each change.
 * A CPU whose arch.io_key (written by that CPU only, interrupts off)
 * equals it has exactly these ports in its bitmap and the bitmap on, so
 * a switch compares two words and does nothing more in the usual case.
 * Numbers are never reused, so a CPU's record cannot name a freed space's
 * ports as a new space's.
 */
struct aspace_ports {
	uint64_t key;
	struct ioport_set set;
};

/* This CPU's bitmap: all ones, off (boot). */
void iobitmap_init(struct arch_tss *t);
/* Makes this CPU's bitmap allow exactly ap's ports (none: off), rewriting
 * only the bytes of the ranges it had and the ranges it gets, and only if
 * they differ. Interrupts off; takes iobitmap's lock. */
void iobitmap_switch(const struct aspace_ports *ap);
/* Gives ap the ports of set, under a new key; the caller then brings
 * every CPU that runs on the space up to date (aspace_set_ports). */
void iobitmap_set(struct aspace_ports *ap, const struct ioport_set *set);

#endif
