/*
 * tests/user/program_test.c - program images: the built-in ones, boot
 * modules, and the loader's refusals of bad ELF files.
 *
 * The loader cases build small images in memory, each wrong in one way,
 * and check that elf_load refuses it and says why (the words a student
 * reads on the console). The module case runs on the rows that boot with
 * modules (tests/harness/configs.py: max with -initrd, grub with module2):
 * a copy of hello named "modhello", and a text file named "notelf".
 */
#include <ktest.h>
#include <bootinfo.h>
#include <elf.h>
#include <arch.h>
#include <mm.h>
#include <proc.h>
#include <program.h>
#include <string.h>
#include <uapi/errno.h>

KTEST(program, builtins_are_listed)
{
	const struct program *hello = program_find("hello");
	const struct program *utests = program_find("utests");
	KT_ASSERT(hello && utests);
	KT_EXPECT(hello->size > sizeof(struct elf64_ehdr));
	KT_EXPECT(!program_find("no-such-program"));
}

KTEST(program, boot_modules_are_named_and_run)
{
	if (bootinfo.nmodules == 0)
		KT_SKIP("this boot has no modules (the max and grub rows bring two)");
	const struct program *m = program_find("modhello");
	KT_ASSERT(m != NULL);
	KT_EXPECT(m->module);
	const char *argv[] = { "modhello", "as-a-module" };
	int pid = proc_spawn("modhello", 2, argv, NULL);
	KT_ASSERT(pid > 0);
	struct proc_end end;
	KT_ASSERT_EQ(proc_wait(pid, 0, &end), 0);
	KT_EXPECT_EQ(end.status, 0);
	const char *bad[] = { "notelf" };
	KT_EXPECT(program_find("notelf") != NULL);
	KT_EXPECT_EQ(proc_spawn("notelf", 1, bad, NULL), -ENOEXEC);
}

/* ---- the loader ---- */

#define IMG_SIZE 8192
#define VBASE (ARCH_USER_BASE + MiB(4))

/* A valid image: one R X segment holding the entry point, one R W. */
static void good_image(uint8_t *img)
{
	memset(img, 0, IMG_SIZE);
	struct elf64_ehdr *eh = (void *)img;
	memcpy(eh->e_ident, "\177ELF", 4);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_version = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = ARCH_ELF_MACHINE;
	eh->e_entry = VBASE + 16;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(struct elf64_phdr);
	eh->e_phnum = 2;
	struct elf64_phdr *ph = (void *)(img + eh->e_phoff);
	ph[0] = (struct elf64_phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				     .p_offset = 4096, .p_vaddr = VBASE, .p_filesz = 64,
				     .p_memsz = 64 };
	ph[1] = (struct elf64_phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
				     .p_offset = 4096 + 64, .p_vaddr = VBASE + 4096,
				     .p_filesz = 32, .p_memsz = 8192 };
}

/* Loads img into a fresh space: the error, and why in why[]. */
static int try_load(const uint8_t *img, size_t size, char *why, size_t whysize)
{
	struct aspace *as = aspace_create();
	KT_ASSERT(as != NULL);
	struct elf_image out;
	int err = elf_load(as, img, size, &out, why, whysize);
	aspace_destroy(as);
	return err;
}

struct bad_elf {
	const char *what;		/* in the refusal's words */
	void (*spoil)(uint8_t *img);
};

static struct elf64_ehdr *eh_of(uint8_t *img) { return (void *)img; }
static struct elf64_phdr *ph_of(uint8_t *img) { return (void *)(img + sizeof(struct elf64_ehdr)); }

static void spoil_magic(uint8_t *img) { img[1] = 'X'; }
static void spoil_class(uint8_t *img) { img[EI_CLASS] = 1; }
static void spoil_machine(uint8_t *img) { eh_of(img)->e_machine = 3; }
static void spoil_type(uint8_t *img) { eh_of(img)->e_type = 3; }
static void spoil_phoff(uint8_t *img) { eh_of(img)->e_phoff = IMG_SIZE - 8; }
static void spoil_phnum(uint8_t *img) { eh_of(img)->e_phnum = 0; }
static void spoil_file_range(uint8_t *img) { ph_of(img)[0].p_offset = IMG_SIZE; }
static void spoil_filesz(uint8_t *img) { ph_of(img)[1].p_filesz = 9000; }
static void spoil_kernel_vaddr(uint8_t *img) { ph_of(img)[1].p_vaddr = 0x100000; }
static void spoil_wrap(uint8_t *img) { ph_of(img)[1].p_memsz = UINT64_MAX - 4096; }
static void spoil_wx(uint8_t *img) { ph_of(img)[1].p_flags = PF_R | PF_W | PF_X; }
static void spoil_entry(uint8_t *img) { eh_of(img)->e_entry = VBASE + 4096; }
static void spoil_overlap(uint8_t *img) { ph_of(img)[1].p_vaddr = VBASE + 32; }

KTEST(program, bad_elf_images_are_refused_with_a_reason)
{
	static const struct bad_elf cases[] = {
		{ "not an ELF file", spoil_magic },
		{ "not a 64-bit little-endian", spoil_class },
		{ "built for machine 3", spoil_machine },
		{ "not an executable", spoil_type },
		{ "program headers outside the file", spoil_phoff },
		{ "program headers of", spoil_phnum },
		{ "bytes outside the file", spoil_file_range },
		{ "file size", spoil_filesz },
		{ "outside [", spoil_kernel_vaddr },
		{ "outside [", spoil_wrap },
		{ "writable and executable", spoil_wx },
		{ "entry point", spoil_entry },
		{ "segments overlap", spoil_overlap },
	};
	uint8_t *img = kmem_alloc(IMG_SIZE, KM_SLEEP);
	char why[128];
	good_image(img);
	KT_EXPECT_EQ(try_load(img, IMG_SIZE, why, sizeof(why)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		good_image(img);
		cases[i].spoil(img);
		int err = try_load(img, IMG_SIZE, why, sizeof(why));
		KT_EXPECT_EQ(err, -ENOEXEC);
		if (!strstr(why, cases[i].what))
			KT_LOG("case %zu: refusal '%s' does not say '%s'", i, why, cases[i].what);
		KT_EXPECT(strstr(why, cases[i].what) != NULL);
	}
	good_image(img);
	KT_EXPECT_EQ(try_load(img, 40, why, sizeof(why)), -ENOEXEC);	/* truncated */
	kmem_free(img);
}
