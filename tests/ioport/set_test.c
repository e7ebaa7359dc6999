/*
 * tests/ioport/set_test.c - sets of I/O port ranges (kernel/ioport.c): the
 * normal form every operation leaves (sorted, disjoint, apart), the limit
 * of IOPORT_RANGES_MAX ranges, and a refused change that leaves the set as
 * it was. The bitmap that carries a set to the CPU, and who may change
 * whose set, are the user suite's (user/tests/ioport_test.c).
 */
#include <ktest.h>
#include <ioport.h>
#include <string.h>
#include <uapi/errno.h>

#define COM1 0x3F8

static void expect_format(const struct ioport_set *s, const char *want)
{
	char buf[128];
	ioport_set_format(s, buf, sizeof(buf));
	KT_EXPECT(strcmp(buf, want) == 0);
	if (strcmp(buf, want) != 0)
		KT_LOG("the set reads '%s', expected '%s'", buf, want);
}

KTEST(ioport, a_range_is_one_port_or_more_below_0x10000)
{
	KT_EXPECT(ioport_range_ok(0, 1));
	KT_EXPECT(ioport_range_ok(0xFFFF, 1));
	KT_EXPECT(ioport_range_ok(0, IOPORT_COUNT));
	KT_EXPECT(!ioport_range_ok(0x80, 0));
	KT_EXPECT(!ioport_range_ok(IOPORT_COUNT, 1));
	KT_EXPECT(!ioport_range_ok(0xFFFF, 2));
	KT_EXPECT(!ioport_range_ok(1, IOPORT_COUNT));
	KT_EXPECT(!ioport_range_ok(0x80, ~0UL));	/* base + count wraps */
	KT_EXPECT(!ioport_range_ok(~0UL, 1));
}

KTEST(ioport, ranges_that_overlap_or_meet_become_one)
{
	struct ioport_set s = { 0 };
	KT_ASSERT_EQ(ioport_set_add(&s, COM1 + 4, COM1 + 7), 0);
	KT_ASSERT_EQ(ioport_set_add(&s, COM1, COM1 + 3), 0);	/* meets it */
	KT_EXPECT_EQ(s.n, 1);
	expect_format(&s, "0x3f8-0x3ff");
	KT_ASSERT_EQ(ioport_set_add(&s, 0x80, 0x80), 0);
	KT_ASSERT_EQ(ioport_set_add(&s, COM1 + 2, COM1 + 9), 0);	/* overlaps, grows it */
	expect_format(&s, "0x80,0x3f8-0x401");
	KT_ASSERT_EQ(ioport_set_add(&s, 0x81, COM1 - 1), 0);	/* fills the gap */
	expect_format(&s, "0x80-0x401");
	KT_ASSERT_EQ(ioport_set_add(&s, 0, 0xFFFF), 0);
	expect_format(&s, "0x0-0xffff");
}

KTEST(ioport, holds_means_every_port_of_the_range)
{
	struct ioport_set s = { 0 };
	KT_ASSERT_EQ(ioport_set_add(&s, COM1, COM1 + 7), 0);
	KT_ASSERT_EQ(ioport_set_add(&s, 0x80, 0x80), 0);
	KT_EXPECT(ioport_set_holds(&s, COM1, COM1 + 7));
	KT_EXPECT(ioport_set_holds(&s, COM1 + 7, COM1 + 7));
	KT_EXPECT(ioport_set_holds(&s, 0x80, 0x80));
	KT_EXPECT(!ioport_set_holds(&s, COM1, COM1 + 8));	/* one past the end */
	KT_EXPECT(!ioport_set_holds(&s, COM1 - 1, COM1));
	KT_EXPECT(!ioport_set_holds(&s, 0x80, COM1));		/* across the gap */
	struct ioport_set none = { 0 };
	KT_EXPECT(!ioport_set_holds(&none, 0, 0));
	expect_format(&none, "-");
}

KTEST(ioport, removing_cuts_holes_and_ends)
{
	struct ioport_set s = { 0 };
	KT_ASSERT_EQ(ioport_set_add(&s, COM1, COM1 + 7), 0);
	KT_ASSERT_EQ(ioport_set_remove(&s, COM1 + 3, COM1 + 3), 0);
	expect_format(&s, "0x3f8-0x3fa,0x3fc-0x3ff");
	KT_ASSERT_EQ(ioport_set_remove(&s, 0, COM1), 0);		/* an end, and ports it lacks */
	expect_format(&s, "0x3f9-0x3fa,0x3fc-0x3ff");
	KT_ASSERT_EQ(ioport_set_remove(&s, 0x1000, 0x2000), 0);	/* none of its ports */
	KT_EXPECT_EQ(s.n, 2);
	KT_ASSERT_EQ(ioport_set_remove(&s, 0, 0xFFFF), 0);
	KT_EXPECT_EQ(s.n, 0);
}

/* Eight ranges apart: the most a set holds. */
static void fill(struct ioport_set *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < IOPORT_RANGES_MAX; i++)
		KT_ASSERT_EQ(ioport_set_add(s, 0x100 * i, 0x100 * i + 7), 0);
	KT_ASSERT_EQ(s->n, IOPORT_RANGES_MAX);
}

KTEST(ioport, a_ninth_range_is_refused_and_the_set_stays)
{
	struct ioport_set s, before;
	fill(&s);
	before = s;
	KT_EXPECT_EQ(ioport_set_add(&s, 0x2000, 0x2000), -EINVAL);
	KT_EXPECT(ioport_set_equal(&s, &before));
	/* a hole in a range is one range more */
	KT_EXPECT_EQ(ioport_set_remove(&s, 0x102, 0x102), -EINVAL);
	KT_EXPECT(ioport_set_equal(&s, &before));
	/* one that joins a range it has needs none */
	KT_EXPECT_EQ(ioport_set_add(&s, 0x108, 0x10F), 0);
	KT_EXPECT_EQ(s.n, IOPORT_RANGES_MAX);
	/* nor does an end cut off */
	KT_EXPECT_EQ(ioport_set_remove(&s, 0x100, 0x101), 0);
	KT_EXPECT_EQ(s.n, IOPORT_RANGES_MAX);
	KT_EXPECT(ioport_set_holds(&s, 0x102, 0x10F));
}

KTEST(ioport, equal_sets_are_equal_however_they_were_made)
{
	struct ioport_set a = { 0 }, b = { 0 };
	KT_ASSERT_EQ(ioport_set_add(&a, COM1, COM1 + 7), 0);
	KT_ASSERT_EQ(ioport_set_add(&b, COM1 + 4, COM1 + 7), 0);
	KT_EXPECT(!ioport_set_equal(&a, &b));
	KT_ASSERT_EQ(ioport_set_add(&b, COM1, COM1 + 5), 0);
	KT_EXPECT(ioport_set_equal(&a, &b));
}
