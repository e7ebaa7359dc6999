/*
 * tests/lib/bitset_test.c - multi-word bit sets (lib/bitset.c): members on
 * both sides of every word boundary, sizes that end mid-word, iteration.
 */
#include <ktest.h>
#include <bitset.h>

#define NB 300			/* five words, the last one partly used */

KTEST(lib, bitset_set_clear_test_across_words)
{
	uint64_t s[BITSET_WORDS(NB)];
	KT_EXPECT_EQ(BITSET_WORDS(NB), 5);
	KT_EXPECT_EQ(BITSET_WORDS(64), 1);
	KT_EXPECT_EQ(BITSET_WORDS(65), 2);
	bitset_zero(s, NB);
	KT_EXPECT(bitset_empty(s, NB));
	static const unsigned members[] = { 0, 63, 64, 127, 128, 255, 256, 299 };
	for (unsigned i = 0; i < ARRAY_SIZE(members); i++)
		bitset_set(s, members[i]);
	KT_EXPECT_EQ(bitset_popcount(s, NB), ARRAY_SIZE(members));
	for (unsigned i = 0; i < ARRAY_SIZE(members); i++)
		KT_EXPECT(bitset_test(s, members[i]));
	KT_EXPECT(!bitset_test(s, 1));
	KT_EXPECT(!bitset_test(s, 62));
	KT_EXPECT(!bitset_test(s, 65));
	KT_EXPECT(!bitset_test(s, 298));
	bitset_clear(s, 64);
	bitset_clear(s, 64);		/* clearing a clear bit is harmless */
	KT_EXPECT(!bitset_test(s, 64));
	KT_EXPECT(bitset_test(s, 63));
	KT_EXPECT_EQ(bitset_popcount(s, NB), ARRAY_SIZE(members) - 1);
	KT_EXPECT(!bitset_empty(s, NB));
}

KTEST(lib, bitset_fill_masks_the_tail)
{
	uint64_t s[BITSET_WORDS(NB)];
	bitset_fill(s, 130, NB);
	KT_EXPECT_EQ(bitset_popcount(s, NB), 130);
	KT_EXPECT(bitset_test(s, 129));
	KT_EXPECT(!bitset_test(s, 130));
	KT_EXPECT_EQ(s[2], 0x3);
	KT_EXPECT_EQ(s[3], 0);
	bitset_fill(s, 1000, NB);		/* more than nbits: all of them */
	KT_EXPECT_EQ(bitset_popcount(s, NB), NB);
	KT_EXPECT_EQ(s[4], (1ULL << (NB - 256)) - 1);	/* nothing past member 299 */
	bitset_fill(s, 0, NB);
	KT_EXPECT(bitset_empty(s, NB));
	bitset_fill(s, 64, NB);			/* exactly one word */
	KT_EXPECT_EQ(s[0], ~0ULL);
	KT_EXPECT_EQ(s[1], 0);
}

KTEST(lib, bitset_and_or_equal_subset)
{
	uint64_t a[BITSET_WORDS(NB)], b[BITSET_WORDS(NB)], c[BITSET_WORDS(NB)];
	bitset_zero(a, NB);
	bitset_zero(b, NB);
	bitset_set(a, 5);
	bitset_set(a, 70);
	bitset_set(a, 290);
	bitset_set(b, 70);
	bitset_set(b, 200);
	bitset_set(b, 290);
	bitset_and(c, a, b, NB);
	KT_EXPECT_EQ(bitset_popcount(c, NB), 2);
	KT_EXPECT(bitset_test(c, 70) && bitset_test(c, 290));
	KT_EXPECT(bitset_subset(c, a, NB));
	KT_EXPECT(bitset_subset(c, b, NB));
	KT_EXPECT(!bitset_subset(a, b, NB));
	bitset_or(c, a, b, NB);
	KT_EXPECT_EQ(bitset_popcount(c, NB), 4);
	KT_EXPECT(!bitset_equal(a, b, NB));
	bitset_copy(c, a, NB);
	KT_EXPECT(bitset_equal(a, c, NB));
	bitset_and(a, a, b, NB);		/* in place */
	KT_EXPECT_EQ(bitset_popcount(a, NB), 2);
	bitset_clear(c, 290);			/* a difference in the last word only */
	bitset_set(c, 70);
	bitset_clear(c, 5);
	KT_EXPECT(!bitset_equal(a, c, NB));
	bitset_set(c, 290);
	KT_EXPECT(bitset_equal(a, c, NB));
	uint64_t e[BITSET_WORDS(NB)];
	bitset_zero(e, NB);
	KT_EXPECT(bitset_subset(e, a, NB));	/* the empty set is in every set */
}

KTEST(lib, bitset_iterate_in_order)
{
	uint64_t s[BITSET_WORDS(NB)];
	bitset_zero(s, NB);
	static const unsigned members[] = { 1, 63, 64, 65, 191, 192, 299 };
	for (unsigned i = 0; i < ARRAY_SIZE(members); i++)
		bitset_set(s, members[i]);
	unsigned k = 0;
	bool in_order = true;
	BITSET_FOR_EACH(i, s, NB) {
		if (k >= ARRAY_SIZE(members) || members[k] != i)
			in_order = false;
		k++;
	}
	KT_EXPECT(in_order);
	KT_EXPECT_EQ(k, ARRAY_SIZE(members));
	KT_EXPECT_EQ(bitset_next(s, 0, NB), 1);
	KT_EXPECT_EQ(bitset_next(s, 66, NB), 191);
	KT_EXPECT_EQ(bitset_next(s, 193, NB), 299);
	KT_EXPECT_EQ(bitset_next(s, 300, NB), NB);
	/* a smaller nbits hides the members beyond it */
	KT_EXPECT_EQ(bitset_next(s, 193, 250), 250);
	bitset_zero(s, NB);
	unsigned visits = 0;
	BITSET_FOR_EACH(i, s, NB)
		visits += i + 1;
	KT_EXPECT_EQ(visits, 0);
}
