/*
 * bootinfo.h - what the loader told us, copied out of its structures.
 *
 * boot/multiboot.c reads either a Multiboot 1 or a Multiboot 2 info block
 * into this one form before anything can overwrite it; the rest of the
 * kernel reads only this.
 */
#ifndef BOOTINFO_H
#define BOOTINFO_H

#include <kernel.h>

#define BOOT_MAX_MMAP    64
#define BOOT_MAX_MODULES 8
#define BOOT_CMDLINE_MAX 1024

enum mmap_type {
	MMAP_USABLE = 1,
	MMAP_RESERVED = 2,
	MMAP_ACPI_RECLAIMABLE = 3,
	MMAP_ACPI_NVS = 4,
	MMAP_BAD = 5,
};

struct boot_mmap_entry {
	uint64_t base;
	uint64_t len;
	uint32_t type;		/* enum mmap_type; anything else is reserved */
};

#define BOOT_MODULE_CMDLINE_MAX 64

struct boot_module {
	uint64_t start, end;	/* physical, end exclusive */
	char cmdline[BOOT_MODULE_CMDLINE_MAX];	/* as the loader gave it, or "" */
};

struct bootinfo {
	int multiboot_version;	/* 1 or 2 */
	const char *loader;	/* boot loader name, or "" */
	char cmdline[BOOT_CMDLINE_MAX];
	int nmmap;
	struct boot_mmap_entry mmap[BOOT_MAX_MMAP];
	int nmodules;
	struct boot_module modules[BOOT_MAX_MODULES];
	uint64_t info_start, info_end;	/* the loader's info block, physical */
	bool vga_text;		/* the screen is in 80x25 text mode */
};

extern struct bootinfo bootinfo;

/* Parses the loader's block: `magic` says which protocol, `info` is the
 * block's physical address, both as the boot code got them from the loader.
 * Also tells the console if there is no text screen. */
void bootinfo_parse(uint32_t magic, uint64_t info);

#endif
