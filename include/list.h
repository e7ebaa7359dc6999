/*
 * list.h - intrusive circular doubly linked lists (as in Linux and xv6's
 * successors). A struct list is both the head and the link; an empty head
 * points at itself. No allocation: the node lives in the object.
 */
#ifndef LIST_H
#define LIST_H

#include <kernel.h>

struct list {
	struct list *next, *prev;
};

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(struct list *l) { l->next = l->prev = l; }
static inline bool list_empty(const struct list *l) { return l->next == l; }

static inline void list__insert(struct list *n, struct list *prev, struct list *next)
{
	n->next = next;
	n->prev = prev;
	prev->next = n;
	next->prev = n;
}
/* Adds n at the tail of the list (before the head). */
static inline void list_add_tail(struct list *head, struct list *n) { list__insert(n, head->prev, head); }
/* Adds n at the front of the list. */
static inline void list_add_head(struct list *head, struct list *n) { list__insert(n, head, head->next); }
/* Unlinks n and makes it an empty list, so a second remove is harmless. */
static inline void list_remove(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}
static inline bool list_linked(const struct list *n) { return n->next != n; }
/* Counts the nodes: a walk, for reports and tests, not for hot paths. */
static inline size_t list_length(const struct list *head)
{
	size_t n = 0;
	for (const struct list *p = head->next; p != head; p = p->next)
		n++;
	return n;
}

#define list_entry(p, type, member) container_of(p, type, member)
#define list_first(head, type, member) \
	(list_empty(head) ? NULL : list_entry((head)->next, type, member))
#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif
