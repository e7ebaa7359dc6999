/*
 * cmdline.h - the kernel command line, parsed once into typed options.
 *
 * A subsystem declares its own options next to the variable they set:
 *
 *   static int fpu_mode;   // index into the choices
 *   CMDLINE_ENUM("fpu", fpu_mode, "FPU switching policy", "eager", "lazy");
 *   static uint64_t quantum_us = 10000;
 *   CMDLINE_UINT("sched.quantum_us", quantum_us, 100, 1000000, "time slice");
 *
 * The linker gathers the declarations (section .cmdline_opts); cmdline_init
 * applies the boot command line to them. An unknown key or a bad value is
 * reported on the console and ignored: the variable keeps its default.
 */
#ifndef CMDLINE_H
#define CMDLINE_H

#include <kernel.h>

enum cmdline_type {
	CMDLINE_T_BOOL,		/* key, key=1/0/on/off/yes/no/true/false */
	CMDLINE_T_UINT,		/* decimal or 0x hex, within [min, max] */
	CMDLINE_T_ENUM,		/* one of choices[]; the variable is an int index */
	CMDLINE_T_STRING,	/* copied into a char[size] */
	CMDLINE_T_LIST,		/* comma-separated names, each one of choices[];
				   the variable is a uint64_t bit set */
};

struct cmdline_opt {
	const char *key;
	enum cmdline_type type;
	void *var;
	const char *const *choices;	/* NULL-terminated, for ENUM and LIST */
	uint64_t min, max;		/* UINT bounds; STRING: max = buffer size */
	const char *help;
};

#define CMDLINE__OPT(k, t, v, ch, lo, hi, h)                                  \
	static const struct cmdline_opt cmdline_opt_##v                       \
		__used __attribute__((section(".cmdline_opts"), aligned(8))) = { \
			k, t, &v, ch, lo, hi, h                                \
		}
#define CMDLINE_BOOL(k, v, h) CMDLINE__OPT(k, CMDLINE_T_BOOL, v, NULL, 0, 1, h)
#define CMDLINE_UINT(k, v, lo, hi, h) CMDLINE__OPT(k, CMDLINE_T_UINT, v, NULL, lo, hi, h)
#define CMDLINE_STRING(k, v, h) CMDLINE__OPT(k, CMDLINE_T_STRING, v, NULL, 0, sizeof(v), h)
#define CMDLINE_ENUM(k, v, h, ...)                                             \
	static const char *const cmdline_choices_##v[] = { __VA_ARGS__, NULL }; \
	CMDLINE__OPT(k, CMDLINE_T_ENUM, v, cmdline_choices_##v, 0, 0, h)

/*
 * Parses `line` against the options [opts, opts + n): sets the variables of
 * the keys it finds, and calls report(msg) once for each problem (unknown
 * key, bad value). Returns the number of problems. A first word without '='
 * that contains '/' is the loader's kernel path and is skipped.
 */
int cmdline_parse(const char *line, const struct cmdline_opt *opts, size_t n,
		  void (*report)(const char *msg));

/* Applies the boot command line to every registered option. */
void cmdline_init(const char *line);
/* Prints every registered option with its help text (the monitor's `help`). */
void cmdline_print_options(void);

#endif
