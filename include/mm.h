/*
 * mm.h - physical pages, kernel page tables and the kernel heap.
 *
 * Physical memory is identity-mapped (virtual address == physical address),
 * so a physical page can be used through its address directly. The page
 * allocator and the heap are portable (kernel/mm/); the page tables are the
 * machine's (arch/x86_64/paging.c), reached only through the paging_* calls
 * and PAGE_* flags below.
 */
#ifndef MM_H
#define MM_H

#include <kernel.h>

/* ---- physical page allocator (kernel/mm/pmm.c) ---- */

/* Builds the free page set from bootinfo's memory map, minus the kernel image,
 * the loader's modules and info block, and the first MiB. */
void pmm_init(void);
/* One zero-filled 4 KiB page, or 0 when memory is exhausted. */
uint64_t pmm_alloc_page(void);
/* 2^order contiguous pages aligned to their size, or 0. */
uint64_t pmm_alloc_pages(unsigned order);
/*
 * Who pages are for, and so how much of the kernel's reserve they leave
 * (docs/mm.md, "The reserve"): the kernel's own may take every page; the
 * kernel memory a user request needs leaves half the reserve; user memory
 * (and the tables that map it) the whole of it.
 */
enum pmm_for {
	PMM_KERNEL,
	PMM_KERNEL_FOR_USER,
	PMM_USER,
};
/* As pmm_alloc_pages, for `who`: 0 also when the reserve would be broken. */
uint64_t pmm_alloc_pages_for(unsigned order, enum pmm_for who);
/* A page of user memory, or 0: pmm_alloc_pages_for(0, PMM_USER). */
uint64_t pmm_alloc_user_page(void);
/* Pages an allocation for `who` could take now; the reserve's size. */
uint64_t pmm_available(enum pmm_for who);
uint64_t pmm_reserve_pages(void);
/* The fewest free pages since the last reset (or the boot), and the reset:
 * did something take pages its kind must leave, even for a moment? */
uint64_t pmm_low_water(void);
void pmm_low_water_reset(void);
#define PMM_MAX_ORDER 18	/* the largest block: 2^18 pages, 1 GiB */
/* Panics on a page that is not allocated (double free) or not RAM. */
void pmm_free_page(uint64_t pa);
void pmm_free_pages(uint64_t pa, unsigned order);
/* True if pa's page is managed RAM and allocated right now (kmem's sanity
 * check before it trusts memory a pointer leads to). */
bool pmm_page_allocated(uint64_t pa);
uint64_t pmm_free_count(void);		/* pages */
uint64_t pmm_total_count(void);		/* usable pages the allocator manages */
/* Prints the memory map summary (the boot line and the monitor's `mem`). */
void pmm_print_summary(void);

/* ---- kernel page tables (the architecture's: arch/x86_64/paging.c) ---- */

#define PAGE_WRITE  (1u << 0)
#define PAGE_EXEC   (1u << 1)
#define PAGE_NOCACHE (1u << 2)

/* Replaces the boot tables: RAM and MMIO identity-mapped NX, kernel text RX,
 * rodata R, data/bss RW, the page under the boot stack left unmapped. */
void paging_init(void);
/* Maps or unmaps one 4 KiB page of the kernel's address space. */
void paging_map(uint64_t va, uint64_t pa, unsigned flags);
void paging_unmap(uint64_t va);
/* How many TLB shootdowns (IPIs to every other CPU) paging has sent. */
uint64_t paging_shootdowns(void);
/* Pages taken for page tables since boot (tables are never freed). */
uint64_t paging_table_pages(void);
/* For tests: when set, paging_map/paging_unmap call it between their change
 * and its shootdown, where the caller may be preempted and moved to another
 * CPU; a test moves it there on purpose. */
extern void (*paging_shootdown_hook)(uint64_t va);
/* True if va is mapped (reading it will not fault). */
bool paging_is_mapped(uint64_t va);
/* Flags of the mapping of va (PAGE_*), or -1 if not mapped. */
int paging_flags(uint64_t va);

/*
 * Address spaces (arch/x86_64/paging.c). Each process has one: the kernel's
 * part shared (supervisor only), a user part of its own in
 * [ARCH_USER_BASE, ARCH_USER_TOP) (include/arch.h) whose pages and tables
 * belong to the space. A CPU runs on one space at a time (cpu->aspace).
 */
struct aspace;
struct aspace *aspace_kernel(void);
/* A new space with nothing in its user part; NULL when out of memory (its
 * struct and PML4 are kernel memory for a user request: KM_USER,
 * PMM_KERNEL_FOR_USER). Its user pages and the tables that map them are
 * user memory (pmm_alloc_user_page), which leaves the whole reserve. */
struct aspace *aspace_create(void);
/* Frees the space, its user pages and tables; no thread may run on it. */
void aspace_destroy(struct aspace *as);
/* Makes as this CPU's space (a CR3 load if it is not already). Interrupts
 * or preemption off. */
void aspace_activate(struct aspace *as);
/* Maps the user page va to physical page pa, which becomes the space's
 * (aspace_destroy frees it). PAGE_WRITE, PAGE_EXEC. Returns 0, or -1 when
 * there is no memory for a table; panics on a va outside user space or
 * mapped already. */
int aspace_map(struct aspace *as, uint64_t va, uint64_t pa, unsigned flags);
/* Unmaps user page va, shooting it down on every CPU that runs on as;
 * returns the physical page, which is the caller's now, or 0 if none. */
uint64_t aspace_unmap(struct aspace *as, uint64_t va);
/* The same for npages pages from va, with one shootdown for them all:
 * pages[i] gets the physical page of va + i pages, or 0. Returns how many
 * were mapped. It holds a spinlock across the range: keep it short. */
size_t aspace_unmap_range(struct aspace *as, uint64_t va, size_t npages, uint64_t *pages);
/* The physical address behind user address va (and the PAGE_* flags of its
 * page), or 0 if it is not mapped. */
uint64_t aspace_lookup(struct aspace *as, uint64_t va, unsigned *flags);
/* Copies every user page of src into fresh user pages of dst (empty), at the
 * same addresses with the same permissions: fork. 0, or -1 out of memory
 * (what was copied stays in dst, for aspace_destroy). src must not change
 * meanwhile (its process's threads are in the kernel or stopped). */
int aspace_copy(struct aspace *dst, struct aspace *src);
/* The I/O ports ring 3 may use while as is loaded (docs/user.md, "I/O
 * ports"): exactly those of set (<ioport.h>), none for an empty one. When
 * this returns, every CPU running on as has the new set: a port taken
 * away faults on all of them. Waits for the other CPUs (an IPI each, if
 * the space has ever been loaded): not with interrupts off or a spinlock
 * held. A new space has none. */
struct ioport_set;
void aspace_set_ports(struct aspace *as, const struct ioport_set *set);
/* Pages mapped in as's user part; tables of every user part (leak tests). */
uint64_t aspace_user_pages(const struct aspace *as);
uint64_t aspace_user_tables_total(void);

/* Stack guard pages: a registered page is unmapped, so running off the end of
 * a stack faults there, and the trap report can say "stack overflow".
 * Registering unmaps va's page; unregistering maps it back (identity, RW,
 * no-exec). At most PAGING_MAX_GUARDS at once; the boot stack's is one. */
#define PAGING_MAX_GUARDS 1024	/* one per thread: a VM of 512 vCPUs has 512 threads */
void paging_register_guard(uint64_t va);
void paging_unregister_guard(uint64_t va);
/* True if addr lies in a registered guard page (the trap code asks). */
bool arch_stack_guard_hit(uint64_t addr);

/* ---- kernel heap (kernel/mm/kmem.c) ---- */

#define KM_SLEEP   0x0	/* may wait for memory; never returns NULL */
#define KM_NOSLEEP 0x1	/* may return NULL; never waits */
#define KM_USER    0x2	/* for a user request: as KM_NOSLEEP, and leaves half the
			 * kernel's reserve (PMM_KERNEL_FOR_USER) */

/* Objects of up to KMEM_MAX_SMALL bytes come from size caches; larger ones
 * are whole pages. kmem_alloc(0) returns a unique pointer, to be freed. */
#define KMEM_MAX_SMALL 2048
#define KMEM_MAX_ALIGN PAGE_SIZE

void kmem_init(void);
void *kmem_alloc(size_t size, int flags);
void *kmem_zalloc(size_t size, int flags);
/* Panics, saying which, on a double free or a pointer never allocated. */
void kmem_free(void *p);
/* Aligned allocation (align a power of two up to 4096); free with kmem_free. */
void *kmem_alloc_aligned(size_t size, size_t align, int flags);

struct kmem_stats {
	uint64_t bytes_in_use;		/* requested bytes of live objects */
	uint64_t objects_in_use;
	uint64_t allocs, frees;		/* totals since boot */
	uint64_t pages;			/* held from the page allocator: slabs (empty
					 * ones kept included) and large allocations */
};
void kmem_stats(struct kmem_stats *st);
/* Prints per-cache figures (the monitor's `mem`). */
void kmem_print_stats(void);

#endif
