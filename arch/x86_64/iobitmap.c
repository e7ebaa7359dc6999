/*
 * arch/x86_64/iobitmap.c - the TSS's I/O permission bitmap: the ports
 * ring 3 may use on this CPU, switched with the address space.
 *
 * Design (docs/user.md, "I/O ports"; Linux 5.5 and later do the same in
 * arch/x86/kernel/ioport.c and process.c, there per thread and on the way
 * out to user mode):
 *   - A process's ports are kept with its address space (struct aspace's
 *     `ports`, paging.c), because the space is what a CPU changes when it
 *     changes process: ring 3 on a CPU always runs on the space that CPU
 *     has loaded. So aspace_activate is where the bitmap follows, and a
 *     switch between threads of one process, or to and from a kernel
 *     thread, never looks at it.
 *   - aspace_activate compares the space's key with the CPU's io_key; equal
 *     (the usual case: neither has ports, or the same process comes back)
 *     is all it costs. Different: iobitmap_switch. For a space without
 *     ports it turns the bitmap off (iomap_base past the TSS limit, one
 *     store; arch/tss.h); for one with ports it rewrites the bytes, if the
 *     ports they hold are not those already (the bits of the old ranges
 *     set, the new ones' cleared: for COM1's eight ports, one byte), and
 *     turns it on.
 *   - A change to the ports of a space in use (a grant, a drop) takes a new
 *     key and goes to every CPU (aspace_set_ports, paging.c), which runs
 *     the switch again if it runs on that space. Like a TLB shootdown, the
 *     change has reached every CPU when the call returns: a dropped port
 *     faults on all of them from then on.
 *   - Keys are never reused, so a CPU whose io_key names a process that
 *     has since died can never take a new process's space for it.
 *
 * Counters, per CPU, for the tests and the monitor: rewrites (the bytes
 * were changed) and toggles (the bitmap was turned on or off).
 *
 * Locking: iob_lock (raw, interrupts off, a leaf) makes a space's key and
 * set one consistent read against iobitmap_set; the switch copies them
 * under it and rewrites the bytes after, and takes it only for a space
 * with ports. Each CPU's bitmap and record are its own, written with
 * interrupts off.
 */
#include <arch/tss.h>
#include <arch.h>
#include <percpu.h>
#include <spinlock.h>
#include <string.h>

struct iobitmap_cpu {
	struct ioport_set loaded;	/* the ports whose bits are 0 in the bytes */
	uint64_t rewrites, toggles;
};

static struct iobitmap_cpu iob[MAX_CPUS];
static struct spinlock iob_lock = SPINLOCK_INIT("iobitmap");
static uint64_t last_key;		/* iob_lock */

void iobitmap_init(struct arch_tss *t)
{
	memset(t->iomap, 0xFF, sizeof(t->iomap));
	t->iomap_end = 0xFF;
	t->iomap_base = TSS_IOMAP_OFF;
}

static void mark_bit(uint8_t *map, unsigned port, bool deny)
{
	uint8_t bit = (uint8_t)(1u << (port % 8));
	map[port / 8] = deny ? map[port / 8] | bit : map[port / 8] & (uint8_t)~bit;
}

/* n bytes of v with rep stosb: lib's memset is a byte loop, and a range of
 * all 65536 ports is 8 KiB of bitmap. */
static void fill_bytes(uint8_t *dst, uint8_t v, size_t n)
{
	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(v) : "memory");
}

/* Sets (deny) or clears (allow) the bits of ports first..last: the bits
 * of a partial byte at each end, whole bytes between. */
static void mark(uint8_t *map, unsigned first, unsigned last, bool deny)
{
	unsigned p = first;
	for (; p <= last && p % 8; p++)
		mark_bit(map, p, deny);
	unsigned whole = (last + 1 - p) / 8;
	fill_bytes(&map[p / 8], deny ? 0xFF : 0, whole);
	for (p += whole * 8; p <= last; p++)
		mark_bit(map, p, deny);
}

void iobitmap_switch(const struct aspace_ports *ap)
{
	struct cpu *c = this_cpu();
	struct iobitmap_cpu *b = &iob[c->id];
	struct arch_tss *t = c->arch.tss;
	/* A space without ports needs no lock: a grant racing this gives it a
	 * key and reaches this CPU by IPI after. One with ports: its key and
	 * set read as one under the lock, the bytes rewritten after it, so no
	 * other CPU waits while they are (aspace_set_ports's IPI again covers
	 * a change made meanwhile). */
	uint64_t key = __atomic_load_n(&ap->key, __ATOMIC_ACQUIRE);
	if (key) {
		struct ioport_set set;
		spin_lock_raw(&iob_lock);
		key = ap->key;
		set = ap->set;
		spin_unlock_raw(&iob_lock);
		if (key && !ioport_set_equal(&b->loaded, &set)) {
			for (uint32_t i = 0; i < b->loaded.n; i++)
				mark(t->iomap, b->loaded.r[i].first, b->loaded.r[i].last, true);
			for (uint32_t i = 0; i < set.n; i++)
				mark(t->iomap, set.r[i].first, set.r[i].last, false);
			b->loaded = set;
			b->rewrites++;
		}
	}
	uint16_t base = key ? TSS_IOMAP_ON : TSS_IOMAP_OFF;
	if (t->iomap_base != base) {
		t->iomap_base = base;
		b->toggles++;
	}
	c->arch.io_key = key;
}

void iobitmap_set(struct aspace_ports *ap, const struct ioport_set *set)
{
	unsigned long irq = arch_irq_save();
	spin_lock_raw(&iob_lock);
	ap->set = *set;
	__atomic_store_n(&ap->key, set->n ? ++last_key : 0, __ATOMIC_RELEASE);
	spin_unlock_raw(&iob_lock);
	arch_irq_restore(irq);
}

void arch_ioport_counters(int cpu, uint64_t *rewrites, uint64_t *toggles)
{
	*rewrites = *toggles = 0;
	for (int i = 0; i < cpu_count(); i++) {
		if (cpu >= 0 && i != cpu)
			continue;
		*rewrites += __atomic_load_n(&iob[i].rewrites, __ATOMIC_RELAXED);
		*toggles += __atomic_load_n(&iob[i].toggles, __ATOMIC_RELAXED);
	}
}
