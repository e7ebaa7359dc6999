/*
 * tests/lib/string_test.c - the freestanding string and memory routines.
 */
#include <ktest.h>
#include <string.h>

KTEST(lib, string_length_and_compare)
{
	KT_EXPECT_EQ(strlen(""), 0);
	KT_EXPECT_EQ(strlen("kernel"), 6);
	KT_EXPECT_EQ(strnlen("kernel", 3), 3);
	KT_EXPECT_EQ(strnlen("ab", 10), 2);
	KT_EXPECT(strcmp("abc", "abc") == 0);
	KT_EXPECT(strcmp("abc", "abd") < 0);
	KT_EXPECT(strcmp("abd", "abc") > 0);
	KT_EXPECT(strcmp("ab", "abc") < 0);
	KT_EXPECT(strncmp("abcX", "abcY", 3) == 0);
	KT_EXPECT(strncmp("abcX", "abcY", 4) < 0);
	/* bytes compare as unsigned: 0xff sorts after 'a' */
	KT_EXPECT(strcmp("\xff", "a") > 0);
}

KTEST(lib, string_search)
{
	const char *s = "ctx ops and fpu";
	KT_EXPECT(strchr(s, 'o') == s + 4);
	KT_EXPECT(strchr(s, 'z') == NULL);
	KT_EXPECT(strchr(s, '\0') == s + strlen(s));
	KT_EXPECT(strstr(s, "fpu") == s + 12);
	KT_EXPECT(strstr(s, "vmm") == NULL);
	KT_EXPECT(strstr(s, "") == s);
}

KTEST(lib, string_copy_bounded)
{
	char d[8];
	KT_EXPECT_EQ(strlcpy(d, "short", sizeof(d)), 5);
	KT_EXPECT(strcmp(d, "short") == 0);
	KT_EXPECT_EQ(strlcpy(d, "much too long", sizeof(d)), 13);
	KT_EXPECT(strcmp(d, "much to") == 0);
}

KTEST(lib, memory_set_copy_compare)
{
	unsigned char a[32], b[32];
	memset(a, 0xab, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		KT_ASSERT_EQ(a[i], 0xab);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)i;
	memcpy(a, b, sizeof(a));
	KT_EXPECT(memcmp(a, b, sizeof(a)) == 0);
	a[31] = 0;
	b[31] = 1;
	KT_EXPECT(memcmp(a, b, sizeof(a)) < 0);
}

/*
 * memset and memcpy move words where they can (lib/string.c): at every
 * alignment of dst and src (0-15) and every length up to 40, the bytes
 * inside the range are what a byte loop gives and none outside it moves;
 * memmove's forward copy (dst below src, overlapping) too, which goes
 * through memcpy.
 */
KTEST(lib, memset_memcpy_and_memmove_at_every_alignment_and_length)
{
	static unsigned char buf[96], src[96], want[96];
	int bad = 0;
	for (int da = 0; da < 16; da++) {
		for (int n = 0; n <= 40; n++) {
			for (int i = 0; i < 96; i++)
				buf[i] = want[i] = (unsigned char)(i * 7 + 1);
			memset(buf + da, 0xC5, (size_t)n);
			for (int i = 0; i < n; i++)
				want[da + i] = 0xC5;
			bad += memcmp(buf, want, sizeof(buf)) != 0;
			for (int sa = 0; sa < 16; sa++) {
				for (int i = 0; i < 96; i++) {
					buf[i] = want[i] = (unsigned char)(i * 7 + 1);
					src[i] = (unsigned char)(i * 13 + 5);
				}
				memcpy(buf + da, src + sa, (size_t)n);
				for (int i = 0; i < n; i++)
					want[da + i] = src[sa + i];
				bad += memcmp(buf, want, sizeof(buf)) != 0;
				if (sa > da) {		/* overlapping, dst below src */
					for (int i = 0; i < 96; i++)
						buf[i] = want[i] = (unsigned char)(i * 7 + 1);
					memmove(buf + da, buf + sa, (size_t)n);
					for (int i = 0; i < n; i++)
						want[da + i] = (unsigned char)((sa + i) * 7 + 1);
					bad += memcmp(buf, want, sizeof(buf)) != 0;
				}
			}
		}
	}
	KT_EXPECT_EQ(bad, 0);
}

KTEST(lib, memmove_overlapping)
{
	char s[16] = "abcdefgh";
	memmove(s + 2, s, 6);		/* forward overlap: must copy backwards */
	KT_EXPECT(memcmp(s, "ababcdef", 8) == 0);
	char t[16] = "abcdefgh";
	memmove(t, t + 2, 6);		/* backward overlap */
	KT_EXPECT(memcmp(t, "cdefghgh", 8) == 0);
}
