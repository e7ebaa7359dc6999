/*
 * kernel/ioport.c - sets of I/O port ranges (include/ioport.h).
 *
 * Every change builds the new ranges in a scratch array, sorted by their
 * first port, and normalize() makes a set of them: overlapping and
 * touching ranges become one, and a result with more than
 * IOPORT_RANGES_MAX ranges is refused before the set is written. So a set
 * is always in its one normal form, which is what ioport_set_equal and
 * ioport_set_holds rely on. Who may change which process's set is
 * kernel/proc.c's business (proc_grant_ports, SYS_ioport).
 */
#include <ioport.h>
#include <printf.h>
#include <uapi/errno.h>

bool ioport_range_ok(uint64_t base, uint64_t count)
{
	return count >= 1 && base < IOPORT_COUNT && count <= IOPORT_COUNT - base;
}

/* Makes s the normal form of in[0 .. k-1], which is sorted by first port;
 * -EINVAL, s unchanged, if that takes more than IOPORT_RANGES_MAX ranges. */
static int normalize(struct ioport_set *s, const struct ioport_range *in, uint32_t k)
{
	struct ioport_set out = { 0 };
	for (uint32_t i = 0; i < k; i++) {
		struct ioport_range *top = out.n ? &out.r[out.n - 1] : NULL;
		if (top && in[i].first <= (unsigned)top->last + 1) {
			top->last = MAX(top->last, in[i].last);
			continue;
		}
		/* sorted: a range that does not join the last one starts a
		 * new one, and the count never comes down again */
		if (out.n == IOPORT_RANGES_MAX)
			return -EINVAL;
		out.r[out.n++] = in[i];
	}
	*s = out;
	return 0;
}

int ioport_set_add(struct ioport_set *s, unsigned first, unsigned last)
{
	struct ioport_range tmp[IOPORT_RANGES_MAX + 1];
	uint32_t i = 0, k = 0;
	while (i < s->n && s->r[i].first < first)
		tmp[k++] = s->r[i++];
	tmp[k++] = (struct ioport_range){ (uint16_t)first, (uint16_t)last };
	while (i < s->n)
		tmp[k++] = s->r[i++];
	return normalize(s, tmp, k);
}

int ioport_set_remove(struct ioport_set *s, unsigned first, unsigned last)
{
	struct ioport_range tmp[2 * IOPORT_RANGES_MAX];	/* each range may split in two */
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		struct ioport_range r = s->r[i];
		if (r.last < first || r.first > last) {
			tmp[k++] = r;
			continue;
		}
		if (r.first < first)
			tmp[k++] = (struct ioport_range){ r.first, (uint16_t)(first - 1) };
		if (r.last > last)
			tmp[k++] = (struct ioport_range){ (uint16_t)(last + 1), r.last };
	}
	return normalize(s, tmp, k);
}

bool ioport_set_holds(const struct ioport_set *s, unsigned first, unsigned last)
{
	/* apart, so a run of held ports lies inside one range */
	for (uint32_t i = 0; i < s->n; i++)
		if (s->r[i].first <= first && last <= s->r[i].last)
			return true;
	return false;
}

bool ioport_set_equal(const struct ioport_set *a, const struct ioport_set *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->r[i].first != b->r[i].first || a->r[i].last != b->r[i].last)
			return false;
	return true;
}

void ioport_set_format(const struct ioport_set *s, char *buf, size_t size)
{
	size_t at = 0;
	if (size)
		buf[0] = '\0';
	if (!s->n) {
		snprintf(buf, size, "-");
		return;
	}
	for (uint32_t i = 0; i < s->n && at < size; i++) {
		const struct ioport_range *r = &s->r[i];
		int w = r->first == r->last
				? snprintf(buf + at, size - at, "%s0x%x", i ? "," : "", r->first)
				: snprintf(buf + at, size - at, "%s0x%x-0x%x", i ? "," : "", r->first,
					   r->last);
		at += (size_t)w;
	}
}
