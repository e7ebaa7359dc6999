/*
 * kernel/program.c - the table of program images: built in, or boot modules.
 *
 * The build links every program of user/bin and the test program into the
 * kernel's read-only data (tools/mkimages.py writes the assembly that does
 * it, build/user_images.asm) with a table, user_images, of name, start and
 * end. program_init copies that table and adds the loader's modules; the
 * images themselves are never written (elf.c copies what it loads).
 */
#include <program.h>
#include <bootinfo.h>
#include <printk.h>
#include <string.h>

#define PROGRAMS_MAX 48

/* build/user_images.asm: { name, start, end } per image, then a NULL name */
struct user_image {
	const char *name;
	const uint8_t *start, *end;
};
extern const struct user_image user_images[];

static struct program programs[PROGRAMS_MAX];
static int nprograms;

static struct program *find(const char *name)
{
	for (int i = 0; i < nprograms; i++)
		if (strcmp(programs[i].name, name) == 0)
			return &programs[i];
	return NULL;
}

/* A module's name: the last word of its command line, its file name part,
 * less ".elf". */
static void module_name(const char *cmdline, char *out, size_t size)
{
	const char *word = cmdline, *p = cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		if (*p)
			word = p;
		while (*p && *p != ' ')
			p++;
	}
	const char *base = word;
	for (const char *q = word; *q && *q != ' '; q++)
		if (*q == '/')
			base = q + 1;
	size_t n = 0;
	while (base[n] && base[n] != ' ')
		n++;
	if (n > 4 && memcmp(base + n - 4, ".elf", 4) == 0)
		n -= 4;
	n = MIN(n, size - 1);
	memcpy(out, base, n);
	out[n] = '\0';
}

void program_init(void)
{
	int builtin = 0;
	for (const struct user_image *u = user_images; u->name && nprograms < PROGRAMS_MAX; u++) {
		builtin++;
		struct program *p = &programs[nprograms++];
		strlcpy(p->name, u->name, sizeof(p->name));
		p->image = u->start;
		p->size = (size_t)(u->end - u->start);
	}
	for (int i = 0; i < bootinfo.nmodules; i++) {
		const struct boot_module *m = &bootinfo.modules[i];
		char name[PROGRAM_NAME_MAX];
		module_name(m->cmdline, name, sizeof(name));
		if (!name[0]) {
			printk("program: boot module %d has no name (command line '%s'); ignored\n", i,
			       m->cmdline);
			continue;
		}
		struct program *p = find(name);
		if (p) {
			printk("program: boot module '%s' replaces the built-in program\n", name);
		} else if (nprograms == PROGRAMS_MAX) {
			printk("program: more than %d programs; module '%s' ignored\n", PROGRAMS_MAX,
			       name);
			continue;
		} else {
			p = &programs[nprograms++];
			strlcpy(p->name, name, sizeof(p->name));
		}
		p->image = (const void *)m->start;
		p->size = (size_t)(m->end - m->start);
		p->module = true;
	}
	printk("program: %d programs: %d built in, %d boot modules\n", nprograms, builtin,
	       bootinfo.nmodules);
}

const struct program *program_find(const char *name)
{
	return find(name);
}

int program_count(void)
{
	return nprograms;
}

const struct program *program_at(int i)
{
	return i >= 0 && i < nprograms ? &programs[i] : NULL;
}
