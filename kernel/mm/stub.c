/* TEMPORARY stand-in until pmm.c/paging.c/kmem.c land; delete then. */
#include <mm.h>
#include <arch.h>
void pmm_init(void) {}
void paging_init(void) {}
void kmem_init(void) {}
void pmm_print_summary(void) {}
bool paging_is_mapped(uint64_t va) { return va >= 0x1000 && va < GiB(4); }
bool arch_stack_guard_hit(uint64_t addr) { (void)addr; return false; }
