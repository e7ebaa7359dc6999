/*
 * user/bin/fpuprobe.c - a process whose every FPU instruction is a test's:
 * its first FPU use at a given moment, on a given CPU, and what its
 * registers held then (uapi/fpuprobe.h has the arguments and the exit
 * status).
 *
 * The FPU tests start it to see what a process that has just been made
 * finds in its registers (the init state, never another's), and for the
 * Xen scenario between processes (tests/ufpu): a holder with its image
 * loaded, a sleeper whose first FPU use sleeps in #NM, a newcomer whose
 * first FPU use comes during that sleep. The file is compiled
 * -mgeneral-regs-only (Makefile, USER_NOSIMD), so the compiler never
 * touches an FPU register: only user/lib/fpu_regs.asm does, when the
 * probe means it to. (No printf either: a variadic call may save XMM
 * registers.)
 */
#include <fpu_regs.h>
#include <ulib.h>
#include <uapi/fpuprobe.h>

static long number(const char *s)
{
	long sign = 1, v = 0;
	if (*s == '-')
		sign = -1, s++;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return sign * v;
}

static void go_to(long cpu)
{
	if (cpu >= 0)
		set_cpus(1u << cpu);
}

/* Sleeps until clock_ns() reaches t; false if it already had (t = 0:
 * at once, and never late). */
static bool until(unsigned long t)
{
	unsigned long now = clock_ns();
	if (!t)
		return true;
	if (now >= t)
		return false;
	sleep_ns(t - now);
	return true;
}

struct tally {
	uint16_t tag;
	int wrong, foreign;
	bool late;
};

/* One check of `got` against `want`. */
static void check(struct tally *t, const struct fpu_regs *want, const struct fpu_regs *got)
{
	if (!fpu_regs_diff(want, got))
		return;
	t->wrong++;
	if (fpu_regs_foreign(got, t->tag, FPUPROBE_TAG_FIRST, FPUPROBE_TAGS))
		t->foreign++;
}

/* Holds an image tagged t->tag: loaded now, then, until t_check, asleep
 * (no FPU use); then checked between yields until t_end. */
static void hold(struct tally *t, unsigned long t_check, unsigned long t_end)
{
	static struct fpu_regs want, got;
	uint64_t rng = t->tag * 0x9E3779B97F4A7C15ULL;
	fpu_regs_make(&want, &rng, t->tag);
	unsigned long now = clock_ns();
	fpu_regs_hold(&want, &got, SYS_sleep, now < t_check ? (long)(t_check - now) : 0, 0, 0);
	check(t, &want, &got);
	while (clock_ns() < t_end) {
		fpu_regs_hold(&want, &got, SYS_yield, 0, 0, 0);
		check(t, &want, &got);
	}
}

static int status(const struct tally *t)
{
	int wrong = t->wrong < 7 ? t->wrong : 7, foreign = t->foreign < 7 ? t->foreign : 7;
	return wrong | foreign << 3 | (t->late ? FPUPROBE_LATE : 0);
}

int main(int argc, char **argv)
{
	static struct fpu_regs init, got;
	fpu_regs_init();
	fpu_regs_init_state(&init);
	if (argc == 3 && strcmp(argv[1], "init") == 0) {
		go_to(number(argv[2]));
		fpu_regs_read(&got);		/* the process's first FPU instruction */
		return fpu_regs_diff(&init, &got);
	}
	struct tally t = { .tag = 0 };
	if (argc == 7 && strcmp(argv[1], "hold") == 0) {
		t.tag = (uint16_t)number(argv[2]);
		go_to(number(argv[3]));
		t.late = !until((unsigned long)number(argv[4]));
		hold(&t, (unsigned long)number(argv[5]), (unsigned long)number(argv[6]));
		return status(&t);
	}
	if (argc == 6 && strcmp(argv[1], "fresh") == 0) {
		t.tag = (uint16_t)number(argv[2]);
		go_to(number(argv[3]));
		t.late = !until((unsigned long)number(argv[4]));
		fpu_regs_read(&got);		/* the first FPU use */
		check(&t, &init, &got);
		hold(&t, 0, (unsigned long)number(argv[5]));
		return status(&t);
	}
	return FPUPROBE_USAGE;
}
