/*
 * arch/x86_64/bios.c - what a PC BIOS leaves where: the places the ACPI
 * root pointer (RSDP) may be.
 *
 * ACPI 6.5, 5.2.5.1: on a PC with a BIOS the RSDP lies on a 16-byte
 * boundary either in the first KiB of the Extended BIOS Data Area (EBDA),
 * whose real-mode segment is the 16-bit word at 0x40E of the BIOS data
 * area, or in the BIOS read-only area 0xE0000-0xFFFFF. The portable ACPI
 * code (kernel/acpi.c) searches the areas named here, in this order, for
 * the signature and checksums; a UEFI machine (no BIOS area) would name
 * the RSDP its configuration table gives instead.
 *
 * Page 0, which holds the BIOS data area, is not mapped (null pointers
 * fault): it is mapped read-only just for the one read of the EBDA
 * segment and unmapped again. An EBDA pointer that would reach past the
 * 1 MiB a real-mode address can name is not believed.
 */
#include <arch.h>
#include <mm.h>

#define BDA_EBDA_SEGMENT  0x40E		/* BIOS data area: EBDA segment (16 bits) */
#define REAL_MODE_SEG_SHIFT 4		/* physical = segment << 4 */
#define EBDA_SCAN_BYTES   1024		/* ACPI: the RSDP is in its first KiB */
#define BIOS_AREA_START   0xE0000
#define BIOS_AREA_END     0x100000
#define REAL_MODE_LIMIT   0x100000	/* a real-mode segment:offset stays below */

/* The EBDA's physical address from the BIOS data area, or 0. */
static uint64_t ebda_address(void)
{
	bool was_mapped = paging_is_mapped(0);
	if (!was_mapped)
		paging_map(0, 0, 0);
	/* gcc takes a constant pointer into page 0 for a null-pointer bug;
	 * passing the address through an empty asm hides the constant. */
	uint64_t bda = BDA_EBDA_SEGMENT;
	__asm__("" : "+r"(bda));
	uint64_t ebda = (uint64_t)*(volatile uint16_t *)bda << REAL_MODE_SEG_SHIFT;
	if (!was_mapped)
		paging_unmap(0);
	return ebda;
}

int arch_acpi_rsdp_areas(struct arch_phys_range *areas, int max)
{
	int n = 0;
	uint64_t ebda = ebda_address();
	if (n < max && ebda && ebda + EBDA_SCAN_BYTES <= REAL_MODE_LIMIT)
		areas[n++] = (struct arch_phys_range){ "the EBDA", ebda, ebda + EBDA_SCAN_BYTES };
	if (n < max)
		areas[n++] = (struct arch_phys_range){ "the BIOS area", BIOS_AREA_START,
						       BIOS_AREA_END };
	return n;
}
