/*
 * lib/bitset.c - sets of small integers as arrays of 64-bit words.
 *
 * Word w holds members 64w .. 64w+63. Bits beyond nbits in the last word
 * are kept clear by every call that writes (fill masks them off), so the
 * whole-word comparisons and counts below need no masking of their own.
 * Writes store whole words with relaxed atomic stores and bitset_test
 * loads with a relaxed atomic load: a lock-free reader of one bit sees a
 * word before or after a change, never half of one (bitset.h).
 */
#include <bitset.h>

static inline uint64_t word_load(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static inline void word_store(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

/* Bits set in v, the classic SWAR way (no libgcc for __builtin_popcount,
 * and POPCNT is not in every CPU model the tests run on). */
static unsigned popcount64(uint64_t v)
{
	v = v - ((v >> 1) & 0x5555555555555555ULL);
	v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
	v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
	return (unsigned)((v * 0x0101010101010101ULL) >> 56);
}

static inline uint64_t bit_mask(unsigned bit)
{
	return 1ULL << (bit % BITSET_WORD_BITS);
}

void bitset_zero(uint64_t *s, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		word_store(&s[w], 0);
}

void bitset_fill(uint64_t *s, unsigned n, unsigned nbits)
{
	if (n > nbits)
		n = nbits;
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++) {
		unsigned lo = w * BITSET_WORD_BITS;
		uint64_t v;
		if (n >= lo + BITSET_WORD_BITS)
			v = ~0ULL;
		else if (n > lo)
			v = (1ULL << (n - lo)) - 1;
		else
			v = 0;
		word_store(&s[w], v);
	}
}

void bitset_copy(uint64_t *dst, const uint64_t *src, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		word_store(&dst[w], word_load(&src[w]));
}

void bitset_set(uint64_t *s, unsigned bit)
{
	uint64_t *w = &s[bit / BITSET_WORD_BITS];
	word_store(w, word_load(w) | bit_mask(bit));
}

void bitset_clear(uint64_t *s, unsigned bit)
{
	uint64_t *w = &s[bit / BITSET_WORD_BITS];
	word_store(w, word_load(w) & ~bit_mask(bit));
}

bool bitset_test(const uint64_t *s, unsigned bit)
{
	return word_load(&s[bit / BITSET_WORD_BITS]) & bit_mask(bit);
}

void bitset_and(uint64_t *dst, const uint64_t *a, const uint64_t *b, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		word_store(&dst[w], word_load(&a[w]) & word_load(&b[w]));
}

void bitset_or(uint64_t *dst, const uint64_t *a, const uint64_t *b, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		word_store(&dst[w], word_load(&a[w]) | word_load(&b[w]));
}

bool bitset_equal(const uint64_t *a, const uint64_t *b, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		if (word_load(&a[w]) != word_load(&b[w]))
			return false;
	return true;
}

bool bitset_subset(const uint64_t *a, const uint64_t *b, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		if (word_load(&a[w]) & ~word_load(&b[w]))
			return false;
	return true;
}

bool bitset_empty(const uint64_t *s, unsigned nbits)
{
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		if (word_load(&s[w]))
			return false;
	return true;
}

unsigned bitset_popcount(const uint64_t *s, unsigned nbits)
{
	unsigned n = 0;
	for (unsigned w = 0; w < BITSET_WORDS(nbits); w++)
		n += popcount64(word_load(&s[w]));
	return n;
}

unsigned bitset_next(const uint64_t *s, unsigned from, unsigned nbits)
{
	while (from < nbits) {
		unsigned w = from / BITSET_WORD_BITS;
		/* the members of word w at or above `from` */
		uint64_t v = word_load(&s[w]) & (~0ULL << (from % BITSET_WORD_BITS));
		if (v) {
			unsigned bit = w * BITSET_WORD_BITS + (unsigned)__builtin_ctzll(v);
			return bit < nbits ? bit : nbits;
		}
		from = (w + 1) * BITSET_WORD_BITS;
	}
	return nbits;
}
