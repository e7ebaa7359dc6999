/*
 * tests/lib/printf_test.c - the formatter behind printk and snprintf.
 * Each case formats into a buffer and compares with what C's printf gives.
 */
#include <ktest.h>
#include <printf.h>
#include <string.h>

static char buf[128];

/* Formats, then checks the text; KT_EXPECT prints the expression on failure. */
#define CHECK_FMT(expect, ...)                                          \
	do {                                                            \
		int n_ = snprintf(buf, sizeof(buf), __VA_ARGS__);       \
		if (strcmp(buf, expect) != 0)                           \
			KT_LOG("got \"%s\", expected \"%s\"", buf, expect); \
		KT_EXPECT(strcmp(buf, expect) == 0);                    \
		KT_EXPECT_EQ(n_, strlen(expect));                       \
	} while (0)

KTEST(lib, printf_signed)
{
	CHECK_FMT("0", "%d", 0);
	CHECK_FMT("-42", "%d", -42);
	CHECK_FMT("2147483647", "%i", 2147483647);
	CHECK_FMT("-2147483648", "%d", (int)(-2147483647 - 1));
	CHECK_FMT("-9223372036854775808", "%lld", (long long)INT64_MIN);
	CHECK_FMT("+5", "%+d", 5);
	CHECK_FMT(" 5", "% d", 5);
}

KTEST(lib, printf_unsigned_and_hex)
{
	CHECK_FMT("4294967295", "%u", 4294967295u);
	CHECK_FMT("18446744073709551615", "%lu", (unsigned long)UINT64_MAX);
	CHECK_FMT("deadbeef", "%x", 0xdeadbeefu);
	CHECK_FMT("DEADBEEF", "%X", 0xdeadbeefu);
	CHECK_FMT("0x1f", "%#x", 0x1f);
	CHECK_FMT("ffffffffffffffff", "%llx", (unsigned long long)-1);
	CHECK_FMT("17", "%o", 15);
	CHECK_FMT("12345", "%zu", (size_t)12345);
}

KTEST(lib, printf_length_modifiers)
{
	CHECK_FMT("-1", "%hhd", 255);		/* converted to signed char */
	CHECK_FMT("255", "%hhu", 255);
	CHECK_FMT("-1", "%hd", 65535);
	CHECK_FMT("1", "%hu", 65537);
	CHECK_FMT("-1", "%ld", -1L);
}

KTEST(lib, printf_width_and_padding)
{
	CHECK_FMT("   42", "%5d", 42);
	CHECK_FMT("42   |", "%-5d|", 42);
	CHECK_FMT("00042", "%05d", 42);
	CHECK_FMT("-0042", "%05d", -42);
	CHECK_FMT("0x00ff", "%#06x", 0xff);
	CHECK_FMT("   ab", "%5s", "ab");
	CHECK_FMT("ab   |", "%-5s|", "ab");
	CHECK_FMT("   42", "%*d", 5, 42);
	CHECK_FMT("42   |", "%*d|", -5, 42);
	CHECK_FMT("  007", "%5.3d", 7);
	CHECK_FMT("abc", "%.3s", "abcdef");
	CHECK_FMT("ab", "%.*s", 2, "abcdef");
}

KTEST(lib, printf_pointer_char_string_percent)
{
	CHECK_FMT("0x00000000deadbeef", "%p", (void *)0xdeadbeefUL);
	CHECK_FMT("x", "%c", 'x');
	CHECK_FMT("  x", "%3c", 'x');
	CHECK_FMT("hello, world", "%s, %s", "hello", "world");
	const char *volatile null_str = NULL;	/* hidden from gcc's format check */
	CHECK_FMT("(null)", "%s", null_str);
	CHECK_FMT("100%", "%d%%", 100);
}

KTEST(lib, printf_unknown_conversion_printed_as_is)
{
	const char *volatile fmt = "a %y b";	/* hidden from gcc's format check */
	CHECK_FMT("a %y b", fmt);
}

KTEST(lib, snprintf_truncates_and_terminates)
{
	char small[6];
	memset(small, 'X', sizeof(small));
	int n = snprintf(small, sizeof(small), "%s", "0123456789");
	KT_EXPECT_EQ(n, 10);		/* the length it would have had */
	KT_EXPECT(strcmp(small, "01234") == 0);
	KT_EXPECT_EQ(snprintf(NULL, 0, "%d", 12345), 5);
	KT_EXPECT_EQ(snprintf(small, 1, "abc"), 3);
	KT_EXPECT_EQ(small[0], '\0');
}
