/*
 * program.h - the program images processes are made from (kernel/program.c).
 *
 * Two sources: the programs under user/bin (and the test program utests)
 * that the build links into the kernel image, and the boot modules the
 * loader brings (GRUB's `module2 FILE NAME`, QEMU's `-initrd 'FILE NAME'`),
 * named by the last word of their command line (a path's file name, less
 * ".elf"). A module of the same name as a built-in program replaces it.
 */
#ifndef PROGRAM_H
#define PROGRAM_H

#include <kernel.h>

#define PROGRAM_NAME_MAX 24

struct program {
	char name[PROGRAM_NAME_MAX];
	const void *image;
	size_t size;
	bool module;			/* from the loader, not built in */
};

/* Collects the built-in programs and the boot modules. Once, at boot. */
void program_init(void);
const struct program *program_find(const char *name);
int program_count(void);
const struct program *program_at(int i);

#endif
