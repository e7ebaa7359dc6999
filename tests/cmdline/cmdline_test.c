/*
 * tests/cmdline/cmdline_test.c - the command-line parser.
 *
 * The cases parse their own strings against their own option table (not the
 * boot's), collecting the parser's messages, so they can check both what
 * was set and what was said.
 */
#include <ktest.h>
#include <cmdline.h>
#include <string.h>

static bool flag;
static uint64_t number;
static int mode;
static char name[16];
static uint64_t bugs;
static const char *const modes[] = { "eager", "lazy", NULL };
static const char *const bug_names[] = { "first", "second", "third", NULL };

static const struct cmdline_opt opts[] = {
	{ "flag", CMDLINE_T_BOOL, &flag, NULL, 0, 1, "a boolean" },
	{ "num", CMDLINE_T_UINT, &number, NULL, 10, 1000, "a number in [10, 1000]" },
	{ "fpu", CMDLINE_T_ENUM, &mode, modes, 0, 0, "an enum" },
	{ "name", CMDLINE_T_STRING, name, NULL, 0, sizeof(name), "a string" },
	{ "bug", CMDLINE_T_LIST, &bugs, bug_names, 0, 0, "a list" },
};

static char said[8][160];
static int nsaid;

static void report(const char *msg)
{
	if (nsaid < 8)
		strlcpy(said[nsaid], msg, sizeof(said[0]));
	nsaid++;
}

/* Resets every option to its default, then parses `line`. */
static int parse(const char *line)
{
	flag = false;
	number = 100;
	mode = 0;
	strlcpy(name, "default", sizeof(name));
	bugs = 0;
	nsaid = 0;
	return cmdline_parse(line, opts, ARRAY_SIZE(opts), report);
}

static bool said_contains(const char *text)
{
	for (int i = 0; i < nsaid && i < 8; i++)
		if (strstr(said[i], text))
			return true;
	return false;
}

KTEST(cmdline, good_values_are_applied)
{
	KT_ASSERT_EQ(parse("flag num=0x20 fpu=lazy name=abc bug=third,first"), 0);
	KT_EXPECT(flag);
	KT_EXPECT_EQ(number, 32);
	KT_EXPECT_EQ(mode, 1);
	KT_EXPECT(strcmp(name, "abc") == 0);
	KT_EXPECT_EQ(bugs, (1 << 0) | (1 << 2));
	KT_EXPECT_EQ(nsaid, 0);
}

KTEST(cmdline, loader_path_is_skipped)
{
	KT_EXPECT_EQ(parse("/boot/kernel.elf fpu=lazy"), 0);
	KT_EXPECT_EQ(mode, 1);
	/* only as the first word: later, a bare word with '/' is an unknown key */
	KT_EXPECT_EQ(parse("fpu=lazy /boot/x"), 1);
}

KTEST(cmdline, unknown_key_reported_and_ignored)
{
	KT_EXPECT_EQ(parse("nosuchkey=1 fpu=lazy"), 1);
	KT_EXPECT(said_contains("unknown key 'nosuchkey'"));
	KT_EXPECT_EQ(mode, 1);		/* the next option still applies */
}

KTEST(cmdline, bad_enum_keeps_default)
{
	KT_EXPECT_EQ(parse("fpu=sometimes"), 1);
	KT_EXPECT(said_contains("bad value 'sometimes' for fpu (expected eager|lazy)"));
	KT_EXPECT_EQ(mode, 0);
}

KTEST(cmdline, bad_numbers_keep_default)
{
	KT_EXPECT_EQ(parse("num=12abc"), 1);
	KT_EXPECT(said_contains("bad value '12abc' for num"));
	KT_EXPECT_EQ(number, 100);
	KT_EXPECT_EQ(parse("num=5"), 1);
	KT_EXPECT(said_contains("out of range [10, 1000]"));
	KT_EXPECT_EQ(number, 100);
	KT_EXPECT_EQ(parse("num=99999999999999999999999"), 1);	/* overflows 64 bits */
	KT_EXPECT_EQ(number, 100);
	KT_EXPECT_EQ(parse("num="), 1);
	KT_EXPECT_EQ(number, 100);
}

KTEST(cmdline, bad_bool_keeps_default)
{
	KT_EXPECT_EQ(parse("flag=maybe"), 1);
	KT_EXPECT(said_contains("bad value 'maybe' for flag"));
	KT_EXPECT(!flag);
	KT_EXPECT_EQ(parse("flag=off"), 0);
	KT_EXPECT(!flag);
}

KTEST(cmdline, list_with_unknown_name_changes_nothing)
{
	KT_EXPECT_EQ(parse("bug=first,nosuch"), 1);
	KT_EXPECT(said_contains("unknown name 'nosuch' in bug"));
	KT_EXPECT_EQ(bugs, 0);		/* all or nothing: 'first' is not set either */
}

KTEST(cmdline, too_long_string_keeps_default)
{
	KT_EXPECT_EQ(parse("name=0123456789abcdefXYZ"), 1);
	KT_EXPECT(strcmp(name, "default") == 0);
}

KTEST(cmdline, every_problem_reported_once)
{
	KT_EXPECT_EQ(parse("a=1 fpu=x num=1 b flag"), 4);
	KT_EXPECT_EQ(nsaid, 4);
	KT_EXPECT(flag);		/* the good word after four bad ones */
}

KTEST(cmdline, spaces_and_empty_line)
{
	KT_EXPECT_EQ(parse(""), 0);
	KT_EXPECT_EQ(parse("   \t  "), 0);
	KT_EXPECT_EQ(parse("  fpu=lazy    flag  "), 0);
	KT_EXPECT_EQ(mode, 1);
	KT_EXPECT(flag);
}
