/*
 * kernel/elf.c - the ELF64 loader: an executable's PT_LOAD segments,
 * copied page by page into fresh pages of an address space.
 *
 * Trust nothing in the file: every offset and size is checked against the
 * file's length, every address against user space, before it is used, and
 * additions are done so that they cannot wrap. Segments are copied, never
 * shared with the image (which is read-only kernel data or a boot module),
 * so a process may write its data without touching anyone else's. A
 * segment that is both writable and executable is refused (W^X): nothing
 * this kernel builds needs one, and a student's loader should say no.
 */
#include <elf.h>
#include <arch.h>
#include <mm.h>
#include <printf.h>
#include <string.h>
#include <uapi/errno.h>

#define REFUSE(...)                                 \
	do {                                        \
		snprintf(why, whysize, __VA_ARGS__); \
		return -ENOEXEC;                    \
	} while (0)

/* Is [off, off + len) inside a file of size bytes? */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static int load_segment(struct aspace *as, const uint8_t *image, const struct elf64_phdr *ph,
			char *why, size_t whysize)
{
	unsigned flags = (ph->p_flags & PF_W ? PAGE_WRITE : 0) | (ph->p_flags & PF_X ? PAGE_EXEC : 0);
	uint64_t first = ALIGN_DOWN(ph->p_vaddr, PAGE_SIZE);
	uint64_t last = ALIGN_UP(ph->p_vaddr + ph->p_memsz, PAGE_SIZE);
	for (uint64_t va = first; va < last; va += PAGE_SIZE) {
		if (aspace_lookup(as, va, NULL))
			REFUSE("segments overlap at 0x%lx", va);
		uint64_t page = pmm_alloc_user_page();	/* zeroed: the bss is */
		if (!page)
			return -ENOMEM;
		/* the part of the file's bytes that falls in this page */
		uint64_t lo = MAX(va, ph->p_vaddr), hi = MIN(va + PAGE_SIZE, ph->p_vaddr + ph->p_filesz);
		if (lo < hi)
			memcpy((void *)(page + (lo - va)), image + ph->p_offset + (lo - ph->p_vaddr),
			       hi - lo);
		if (aspace_map(as, va, page, flags) < 0) {
			pmm_free_page(page);
			return -ENOMEM;
		}
	}
	return 0;
}

int elf_load(struct aspace *as, const void *image, size_t size, struct elf_image *out,
	     char *why, size_t whysize)
{
	const uint8_t *img = image;
	const struct elf64_ehdr *eh = image;
	why[0] = '\0';
	if (size < sizeof(*eh) || memcmp(eh->e_ident, "\177ELF", 4) != 0)
		REFUSE("not an ELF file (no \\177ELF at its start)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		REFUSE("not a 64-bit little-endian ELF file");
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		REFUSE("unknown ELF version %u", eh->e_version);
	if (eh->e_machine != ARCH_ELF_MACHINE)
		REFUSE("built for machine %u, not this one (%u)", eh->e_machine, ARCH_ELF_MACHINE);
	if (eh->e_type != ET_EXEC)
		REFUSE("not an executable (ELF type %u; a static ET_EXEC is needed)", eh->e_type);
	if (eh->e_phentsize != sizeof(struct elf64_phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > ELF_MAX_PHDRS)
		REFUSE("%u program headers of %u bytes (1 to %d of %zu wanted)", eh->e_phnum,
		       eh->e_phentsize, ELF_MAX_PHDRS, sizeof(struct elf64_phdr));
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(struct elf64_phdr), size))
		REFUSE("program headers outside the file");
	const struct elf64_phdr *ph = (const void *)(img + eh->e_phoff);
	if (!IS_ALIGNED(eh->e_phoff, 8))
		REFUSE("program headers misaligned");

	int nload = 0;
	bool entry_ok = false;
	uint64_t end = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		const struct elf64_phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;		/* an empty segment (no data) maps nothing */
		if (p->p_filesz > p->p_memsz)
			REFUSE("segment %d: file size 0x%lx above memory size 0x%lx", i, p->p_filesz,
			       p->p_memsz);
		if (!in_file(p->p_offset, p->p_filesz, size))
			REFUSE("segment %d: bytes outside the file", i);
		if (p->p_vaddr < ARCH_USER_BASE || p->p_memsz > ELF_LOAD_LIMIT - ARCH_USER_BASE ||
		    p->p_vaddr > ELF_LOAD_LIMIT - p->p_memsz)
			REFUSE("segment %d: 0x%lx..+0x%lx outside [0x%lx, 0x%lx)", i, p->p_vaddr,
			       p->p_memsz, (uint64_t)ARCH_USER_BASE, (uint64_t)ELF_LOAD_LIMIT);
		if ((p->p_flags & PF_W) && (p->p_flags & PF_X))
			REFUSE("segment %d is writable and executable", i);
		if ((p->p_flags & PF_X) && eh->e_entry >= p->p_vaddr &&
		    eh->e_entry - p->p_vaddr < p->p_memsz)
			entry_ok = true;
		nload++;
	}
	if (!nload)
		REFUSE("no loadable segment");
	if (!entry_ok)
		REFUSE("entry point 0x%lx is not in an executable segment", eh->e_entry);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		int err = load_segment(as, img, &ph[i], why, whysize);
		if (err)
			return err;
		end = MAX(end, ph[i].p_vaddr + ph[i].p_memsz);
	}
	out->entry = eh->e_entry;
	out->end = end;
	return 0;
}
