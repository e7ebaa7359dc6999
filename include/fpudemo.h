/*
 * fpudemo.h - the FPU probe processes (user/bin/fpuprobe.c) started from
 * the kernel, and the Xen PV #NM scenario between them: the shell's
 * `demo fpu` (the monitor's fpudemo) shows it, tests/ufpu asserts it.
 */
#ifndef FPUDEMO_H
#define FPUDEMO_H

#include <stdbool.h>
#include <stdint.h>

/* Starts `fpuprobe WORDS...` (uapi/fpuprobe.h): its pid, or an error. */
int fpuprobe_start(int argc, const char *const words[]);
/* `fpuprobe MODE TAG CPU A B [C]` (C 0: left out), times in ns. */
int fpuprobe_start_at(const char *mode, int tag, int cpu, uint64_t a, uint64_t b, uint64_t c);
/* How a probe ended: its exit status, or -1000 if it did not end within
 * 5 s (it is killed then). */
int fpuprobe_end(int pid);

struct xen_result {
	int holder, sleeper, newcomer;	/* exit statuses (uapi/fpuprobe.h) */
	bool sleeper_in_nm;		/* at T + 25 ms: in its first #NM, asleep, no area */
};

/*
 * One run of the scenario (kernel/fpudemo.c says what happens when) on the
 * last CPU, under lazy switching, with bug=fpu_nm_sleep_ts_clear set to
 * `bug` for the run; the policy, allocation mode and switch are put back.
 * True if it happened as planned (every probe on time, the sleeper asleep
 * in #NM when the newcomer came): only then do *r's counts say anything.
 */
bool fpu_xen_scenario(bool bug, struct xen_result *r);

#endif
