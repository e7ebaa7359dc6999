/*
 * bitset.h - sets of small integers as arrays of 64-bit words (lib/bitset.c).
 *
 * A set of `nbits` members is BITSET_WORDS(nbits) uint64_t words; member i
 * is bit i % 64 of word i / 64. The caller owns the storage (on the stack,
 * in a struct) and passes its size in bits to every call, so one set of
 * functions serves a 4-vCPU VM and a 512-vCPU one alike: nothing here
 * assumes a set fits in one machine word (FreeBSD's CPU_SET_ATOMIC, which
 * touched only one word, is the cautionary tale in docs/vmm.md).
 *
 *   uint64_t s[BITSET_WORDS(256)];
 *   bitset_zero(s, 256);
 *   bitset_set(s, 130);
 *   BITSET_FOR_EACH(i, s, 256)
 *           printk("%d\n", i);
 *
 * Locking is the caller's. bitset_test reads its word with one relaxed
 * atomic load, and the calls that write store whole words atomically, so
 * a reader that takes no lock (a vCPU asking "is my bit set?") sees each
 * word either before or after a change, never torn; that is all it gets.
 */
#ifndef BITSET_H
#define BITSET_H

#include <kernel.h>

#define BITSET_WORD_BITS 64
#define BITSET_WORDS(nbits) (((nbits) + BITSET_WORD_BITS - 1) / BITSET_WORD_BITS)

void bitset_zero(uint64_t *s, unsigned nbits);
/* Members 0 .. n-1 set, the rest of the nbits clear. */
void bitset_fill(uint64_t *s, unsigned n, unsigned nbits);
void bitset_copy(uint64_t *dst, const uint64_t *src, unsigned nbits);
void bitset_set(uint64_t *s, unsigned bit);
void bitset_clear(uint64_t *s, unsigned bit);
bool bitset_test(const uint64_t *s, unsigned bit);
/* dst = a & b (dst may be a or b). */
void bitset_and(uint64_t *dst, const uint64_t *a, const uint64_t *b, unsigned nbits);
/* dst = a | b (dst may be a or b). */
void bitset_or(uint64_t *dst, const uint64_t *a, const uint64_t *b, unsigned nbits);
bool bitset_equal(const uint64_t *a, const uint64_t *b, unsigned nbits);
/* True if a is a subset of b. */
bool bitset_subset(const uint64_t *a, const uint64_t *b, unsigned nbits);
bool bitset_empty(const uint64_t *s, unsigned nbits);
unsigned bitset_popcount(const uint64_t *s, unsigned nbits);
/* The smallest member >= from, or nbits if there is none. */
unsigned bitset_next(const uint64_t *s, unsigned from, unsigned nbits);

/* Visits the members of s in increasing order; `i` is declared here. */
#define BITSET_FOR_EACH(i, s, nbits)                                          \
	for (unsigned i = bitset_next((s), 0, (nbits)); i < (nbits);          \
	     i = bitset_next((s), i + 1, (nbits)))

#endif
