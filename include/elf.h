/*
 * elf.h - ELF64 executables (the System V ABI's gABI, and its x86-64
 * supplement), and the loader that maps one into an address space
 * (kernel/elf.c).
 */
#ifndef ELF_H
#define ELF_H

#include <kernel.h>

#define EI_NIDENT   16
#define EI_CLASS    4
#define EI_DATA     5
#define EI_VERSION  6
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define EV_CURRENT  1
#define ET_EXEC     2
#define PT_LOAD     1
#define PF_X        1
#define PF_W        2
#define PF_R        4

struct elf64_ehdr {
	uint8_t e_ident[EI_NIDENT];
	uint16_t e_type, e_machine;
	uint32_t e_version;
	uint64_t e_entry, e_phoff, e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};

struct elf64_phdr {
	uint32_t p_type, p_flags;
	uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};

struct aspace;

/* What a loaded image tells the process: where to start, where its last
 * segment ends (the heap begins at the next page). */
struct elf_image {
	uint64_t entry;
	uint64_t end;
};

#define ELF_MAX_PHDRS 16
/* Highest address a segment may reach: below it come heap and stacks. */
#define ELF_LOAD_LIMIT (ARCH_USER_BASE + GiB(1))

/*
 * Checks image[0 .. size) and maps its PT_LOAD segments into as (the pages
 * are the space's). Returns 0, or -ENOEXEC with why[] saying what is wrong
 * (not ELF, not 64-bit little-endian x86-64, not an executable, a header
 * or segment outside the file, a segment outside user space or overlapping
 * another, writable and executable at once, an entry point outside the
 * executable segments), or -ENOMEM. What was mapped before a failure stays
 * in as: the caller destroys it.
 */
int elf_load(struct aspace *as, const void *image, size_t size, struct elf_image *out,
	     char *why, size_t whysize);

#endif
