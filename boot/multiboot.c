/*
 * boot/multiboot.c - reads the Multiboot 1 or 2 information block.
 *
 * The boot protocol's C half: boot.asm passes the loader's magic (EAX) and
 * the block's physical address (EBX) to kmain, which hands both here. The
 * block lives in memory the page allocator will hand out, so everything
 * the kernel needs is copied into `bootinfo` (include/bootinfo.h) first;
 * the portable kernel reads only that, never a Multiboot structure. What
 * the block says about the machine's own devices is passed on here too: a
 * graphics mode switches the PC console's VGA text output off. Both formats
 * are documented in the GNU Multiboot specifications (0.6.96 and 2.0).
 */
#include <bootinfo.h>
#include <arch.h>
#include <printk.h>
#include <string.h>

#define MB1_LOADER_MAGIC 0x2BADB002
#define MB2_LOADER_MAGIC 0x36D76289

/* Multiboot 1 info flags */
#define MB1_INFO_MEM     (1 << 0)
#define MB1_INFO_CMDLINE (1 << 2)
#define MB1_INFO_MODS    (1 << 3)
#define MB1_INFO_MMAP    (1 << 6)
#define MB1_INFO_LOADER  (1 << 9)
#define MB1_INFO_FB      (1 << 12)

struct mb1_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe[4];
	uint64_t fb_addr;
	uint32_t fb_pitch, fb_width, fb_height;
	uint8_t fb_bpp, fb_type;
} __packed;

struct mb1_mmap {
	uint32_t size;		/* of the rest of this entry */
	uint64_t base, len;
	uint32_t type;
} __packed;

struct mb1_module {
	uint32_t start, end, string, reserved;
};

/* Multiboot 2 tags */
#define MB2_TAG_END     0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_LOADER  2
#define MB2_TAG_MODULE  3
#define MB2_TAG_MMAP    6
#define MB2_TAG_FB      8
#define MB2_FB_TYPE_EGA_TEXT 2

struct mb2_tag {
	uint32_t type, size;
};

struct mb2_mmap {
	uint32_t type, size, entry_size, entry_version;
	/* entries follow */
};

struct mb2_mmap_entry {
	uint64_t base, len;
	uint32_t type, reserved;
};

struct bootinfo bootinfo;
static char loader_name[64];

static void add_mmap(uint64_t base, uint64_t len, uint32_t type)
{
	if (bootinfo.nmmap == BOOT_MAX_MMAP) {
		printk("multiboot: more than %d memory map entries; ignoring the rest\n",
		       BOOT_MAX_MMAP);
		return;
	}
	bootinfo.mmap[bootinfo.nmmap++] = (struct boot_mmap_entry){ base, len, type };
}

/* A module and its command line (GRUB's `module2 FILE ARGS`, QEMU's
 * `-initrd "FILE ARGS,..."`), which names it: the first word, or the
 * file's base name when there are no words. */
static void add_module(uint64_t start, uint64_t end, const char *cmdline)
{
	if (bootinfo.nmodules == BOOT_MAX_MODULES) {
		printk("multiboot: more than %d modules; ignoring the rest\n", BOOT_MAX_MODULES);
		return;
	}
	struct boot_module *m = &bootinfo.modules[bootinfo.nmodules++];
	*m = (struct boot_module){ start, end, "" };
	if (cmdline)
		strlcpy(m->cmdline, cmdline, sizeof(m->cmdline));
}

static void parse_mb1(const struct mb1_info *mi)
{
	bootinfo.multiboot_version = 1;
	bootinfo.info_start = (uint64_t)mi;
	bootinfo.info_end = (uint64_t)mi + sizeof(*mi);
	if (mi->flags & MB1_INFO_CMDLINE)
		strlcpy(bootinfo.cmdline, (const char *)(uint64_t)mi->cmdline, BOOT_CMDLINE_MAX);
	if (mi->flags & MB1_INFO_LOADER)
		strlcpy(loader_name, (const char *)(uint64_t)mi->boot_loader_name,
			sizeof(loader_name));
	if (mi->flags & MB1_INFO_MMAP) {
		uint64_t p = mi->mmap_addr, end = p + mi->mmap_length;
		while (p < end) {
			const struct mb1_mmap *e = (const void *)p;
			add_mmap(e->base, e->len, e->type);
			p += e->size + sizeof(e->size);
		}
	} else if (mi->flags & MB1_INFO_MEM) {
		add_mmap(0, (uint64_t)mi->mem_lower * 1024, MMAP_USABLE);
		add_mmap(MiB(1), (uint64_t)mi->mem_upper * 1024, MMAP_USABLE);
	}
	if (mi->flags & MB1_INFO_MODS) {
		const struct mb1_module *m = (const void *)(uint64_t)mi->mods_addr;
		for (uint32_t i = 0; i < mi->mods_count; i++)
			add_module(m[i].start, m[i].end,
				   m[i].string ? (const char *)(uint64_t)m[i].string : NULL);
	}
	bootinfo.vga_text = !(mi->flags & MB1_INFO_FB) || mi->fb_type == MB2_FB_TYPE_EGA_TEXT;
}

static void parse_mb2(uint64_t info)
{
	uint32_t total = *(const uint32_t *)info;
	bootinfo.multiboot_version = 2;
	bootinfo.info_start = info;
	bootinfo.info_end = info + total;
	bootinfo.vga_text = true;

	for (uint64_t p = info + 8; p < info + total;) {
		const struct mb2_tag *t = (const void *)p;
		if (t->type == MB2_TAG_END)
			break;
		switch (t->type) {
		case MB2_TAG_CMDLINE:
			strlcpy(bootinfo.cmdline, (const char *)(t + 1), BOOT_CMDLINE_MAX);
			break;
		case MB2_TAG_LOADER:
			strlcpy(loader_name, (const char *)(t + 1), sizeof(loader_name));
			break;
		case MB2_TAG_MODULE: {
			const uint32_t *m = (const uint32_t *)(t + 1);
			add_module(m[0], m[1], (const char *)&m[2]);
			break;
		}
		case MB2_TAG_MMAP: {
			const struct mb2_mmap *mm = (const void *)t;
			for (uint64_t e = p + sizeof(*mm); e + mm->entry_size <= p + t->size;
			     e += mm->entry_size) {
				const struct mb2_mmap_entry *me = (const void *)e;
				add_mmap(me->base, me->len, me->type);
			}
			break;
		}
		case MB2_TAG_FB: {
			/* type byte: after addr(8), pitch(4), width(4), height(4), bpp(1) */
			uint8_t type = *((const uint8_t *)(t + 1) + 21);
			bootinfo.vga_text = type == MB2_FB_TYPE_EGA_TEXT;
			break;
		}
		}
		p += ALIGN_UP(t->size, 8);
	}
}

void bootinfo_parse(uint32_t magic, uint64_t info)
{
	if (magic == MB1_LOADER_MAGIC)
		parse_mb1((const struct mb1_info *)info);
	else if (magic == MB2_LOADER_MAGIC)
		parse_mb2(info);
	else
		panic("bootinfo_parse: unknown loader magic 0x%x", magic);
	bootinfo.loader = loader_name;
	if (!bootinfo.vga_text)
		arch_console_vga_disable();
}
