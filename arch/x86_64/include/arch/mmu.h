/*
 * arch/mmu.h - x86-64 4-level paging: entry bits, table geometry, helpers.
 *
 * A virtual address is split into four 9-bit table indices and a 12-bit
 * offset:
 *
 *   63      48 47    39 38    30 29    21 20    12 11         0
 *   [ sign   ][ PML4  ][ PDPT  ][  PD   ][  PT   ][  offset   ]
 *
 * Each table is one 4 KiB page of 512 eight-byte entries. An entry holds
 * the physical address of the next table (or of the page itself) in bits
 * 12..51 and permission bits around it. In a PDPT or PD entry, PS=1 stops
 * the walk early: the entry maps a 1 GiB or 2 MiB page directly.
 *
 * Names follow the Intel SDM vol. 3, section 4.5 ("4-level paging").
 */
#ifndef ARCH_MMU_H
#define ARCH_MMU_H

#include <kernel.h>

/* ---- entry bits (all levels unless noted) ---- */
#define PTE_P        (1UL << 0)	/* present */
#define PTE_W        (1UL << 1)	/* writable (with CR0.WP, for the kernel too) */
#define PTE_U        (1UL << 2)	/* user-accessible */
#define PTE_PWT      (1UL << 3)	/* page-level write-through */
#define PTE_PCD      (1UL << 4)	/* page-level cache disable */
#define PTE_A        (1UL << 5)	/* accessed (set by the CPU) */
#define PTE_D        (1UL << 6)	/* dirty (set by the CPU; leaf entries) */
#define PTE_PS       (1UL << 7)	/* PDPT/PD entry: maps a 1 GiB / 2 MiB page */
#define PTE_PAT      (1UL << 7)	/* PT entry (4 KiB page): PAT index bit 2 */
#define PTE_G        (1UL << 8)	/* global: survives CR3 reloads (needs CR4.PGE) */
#define PTE_PAT_LARGE (1UL << 12) /* PAT index bit 2 in a 2 MiB / 1 GiB entry */
#define PTE_NX       (1UL << 63)	/* no-execute (needs EFER.NXE) */

/* "uncached": PCD and PWT together select PAT entry 3, UC, with the default PAT. */
#define PTE_UNCACHED (PTE_PCD | PTE_PWT)

/* Physical address bits of an entry: 12..51 for a table or 4 KiB page;
 * a large page's address starts at bit 21 (2 MiB) or 30 (1 GiB). */
#define PTE_ADDR_MASK     0x000FFFFFFFFFF000UL
#define PTE_ADDR_MASK_2M  0x000FFFFFFFE00000UL
#define PTE_ADDR_MASK_1G  0x000FFFFFC0000000UL

/* ---- geometry ---- */
#define PT_ENTRIES    512		/* entries per table */
#define PT_INDEX_BITS 9
#define PT_INDEX_MASK (PT_ENTRIES - 1)

/* Levels, counted from the leaf: 1 = PT, 2 = PD, 3 = PDPT, 4 = PML4. */
#define PT_LEVEL_PT   1
#define PT_LEVEL_PD   2
#define PT_LEVEL_PDPT 3
#define PT_LEVEL_PML4 4

/* The shift of the address bits one entry at `level` covers. */
#define PT_LEVEL_SHIFT(level) (PAGE_SHIFT + PT_INDEX_BITS * ((level) - 1))
/* How many bytes one entry at `level` maps: 4 KiB, 2 MiB, 1 GiB, 512 GiB. */
#define PT_LEVEL_SIZE(level)  (1UL << PT_LEVEL_SHIFT(level))
/* The index of va in the table at `level`. */
#define PT_INDEX(va, level)   (((va) >> PT_LEVEL_SHIFT(level)) & PT_INDEX_MASK)

#define LARGE_PAGE_SIZE PT_LEVEL_SIZE(PT_LEVEL_PD)	/* 2 MiB */
#define HUGE_PAGE_SIZE  PT_LEVEL_SIZE(PT_LEVEL_PDPT)	/* 1 GiB */

/* Virtual addresses are 48 bits, sign-extended to 64 ("canonical"). */
#define VA_BITS 48
static inline bool va_is_canonical(uint64_t va)
{
	int64_t s = (int64_t)va >> (VA_BITS - 1);
	return s == 0 || s == -1;
}

/* CR3 holds the physical address of the PML4 (low bits: PCID/PWT/PCD). */
#define CR3_ADDR_MASK PTE_ADDR_MASK

/* CPUID bits paging cares about. */
#define CPUID_LEAF_FEATURES   0x1
#define CPUID_1_EDX_PGE       (1u << 13)	/* global pages */

/* What boot/boot.asm leaves behind: whether the CPU has NX (1, with
 * EFER.NXE on; else 0), and the boot stack with the page below it, which
 * paging.c leaves unmapped as its guard. */
extern int boot_has_nx;
extern char boot_stack_guard[], boot_stack_bottom[];

#endif
