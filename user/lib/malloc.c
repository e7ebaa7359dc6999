/*
 * user/lib/malloc.c - a first-fit allocator over sbrk.
 *
 * Each block has a 16-byte header (its size and whether it is free) and
 * is 16-byte aligned; free blocks are found by walking every block from
 * the first, and neighbours are merged when freed. Small and plain, like
 * K&R's: the programs here allocate little.
 */
#include <ulib.h>

struct block {
	size_t size;		/* bytes after the header */
	size_t free;
};

static struct block *first, *end_of_heap;

static struct block *next_of(struct block *b)
{
	return (struct block *)((char *)(b + 1) + b->size);
}

void *malloc(size_t n)
{
	if (n == 0)
		n = 1;
	n = (n + 15) & ~(size_t)15;
	for (struct block *b = first; b && b < end_of_heap; b = next_of(b)) {
		if (!b->free || b->size < n)
			continue;
		if (b->size >= n + sizeof(struct block) + 16) {	/* split */
			struct block *rest = (struct block *)((char *)(b + 1) + n);
			rest->size = b->size - n - sizeof(struct block);
			rest->free = 1;
			b->size = n;
		}
		b->free = 0;
		return b + 1;
	}
	struct block *b = sbrk((long)(n + sizeof(struct block)));
	if (IS_ERR_VALUE(b))
		return NULL;
	if (!first)
		first = b;
	b->size = n;
	b->free = 0;
	end_of_heap = next_of(b);
	return b + 1;
}

void free(void *p)
{
	if (!p)
		return;
	struct block *b = (struct block *)p - 1;
	b->free = 1;
	for (struct block *c = first; c && c < end_of_heap; c = next_of(c)) {
		while (c->free) {		/* merge free neighbours */
			struct block *n = next_of(c);
			if (n >= end_of_heap || !n->free)
				break;
			c->size += sizeof(struct block) + n->size;
		}
	}
}

void *calloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		return NULL;
	void *p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}
