/*
 * user/bin/spin.c - spins in ring 3 for a while, then exits 0: a process
 * that is almost always in user mode, for watching preemption, ps and the
 * scheduler (and for tests that need to interrupt ring 3).
 *
 *   spin [MS]    spin MS milliseconds (default 1000)
 */
#include <ulib.h>

int main(int argc, char **argv)
{
	unsigned long ms = 1000;
	if (argc > 1) {
		ms = 0;
		for (const char *s = argv[1]; *s; s++) {
			if (*s < '0' || *s > '9') {
				printf("spin: '%s' is not a number of milliseconds\n", argv[1]);
				return 2;
			}
			ms = ms * 10 + (unsigned long)(*s - '0');
		}
	}
	unsigned long end = clock_ns() + ms * 1000000UL;
	volatile unsigned long n = 0;
	do {
		for (int i = 0; i < 100000; i++)	/* ring 3 only: no system call */
			n++;
	} while (clock_ns() < end);
	return 0;
}
