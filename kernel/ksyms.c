/*
 * kernel/ksyms.c - address-to-name lookups in the built-in symbol table.
 *
 * The table (generated into the .ksyms section) is sorted by address; a
 * lookup is a binary search for the last symbol at or below the address,
 * then a check that the address is inside that symbol's size.
 */
#include <ksyms.h>
#include <printf.h>
#include <string.h>

struct ksym {
	uint64_t addr;
	uint64_t size;
	const char *name;
};

/* Defined by the generated build/ksyms.S. */
extern const uint64_t ksym_count;
extern const struct ksym ksym_table[];

const char *ksym_lookup(uint64_t addr, uint64_t *offset)
{
	uint64_t lo = 0, hi = ksym_count;
	while (lo < hi) {		/* first symbol above addr */
		uint64_t mid = (lo + hi) / 2;
		if (ksym_table[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct ksym *s = &ksym_table[lo - 1];
	/* A symbol of unknown size (assembly labels) owns up to the next one. */
	if (s->size && addr >= s->addr + s->size)
		return NULL;
	if (offset)
		*offset = addr - s->addr;
	return s->name;
}

int ksym_format(uint64_t addr, char *buf, size_t size)
{
	uint64_t off;
	const char *name = ksym_lookup(addr, &off);
	if (name)
		return snprintf(buf, size, "%s+0x%lx", name, off);
	return snprintf(buf, size, "0x%lx", addr);
}

uint64_t ksym_address(const char *name)
{
	for (uint64_t i = 0; i < ksym_count; i++)
		if (strcmp(ksym_table[i].name, name) == 0)
			return ksym_table[i].addr;
	return 0;
}
