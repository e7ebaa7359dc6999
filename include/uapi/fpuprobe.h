/*
 * uapi/fpuprobe.h - how the FPU probe program (user/bin/fpuprobe.c) is
 * started and what its exit status says; the FPU tests that start it, in
 * the kernel (tests/ufpu) and in ring 3 (user/tests/ufpu_test.c), read it.
 *
 *   fpuprobe init CPU
 *       moves to CPU (-1: stays), then reads its registers before any other
 *       FPU instruction; exits with the parts that differ from the init
 *       state (FPU_REGS_DIFF_* of user/include/fpu_regs.h), 0 if none.
 *   fpuprobe hold TAG CPU T_LOAD T_CHECK T_END
 *       moves to CPU; at T_LOAD loads an image tagged TAG (its first FPU
 *       use), sleeps until T_CHECK and then, until T_END, checks between
 *       yields that its registers are still that image.
 *   fpuprobe fresh TAG CPU T_READ T_END
 *       moves to CPU; at T_READ makes its first FPU use by reading its
 *       registers, which must be the init state; then holds an image
 *       tagged TAG as above until T_END.
 *
 * Times are clock_ns() values (the kernel's clock), in decimal (0 for
 * T_LOAD or T_READ: at once); tags are
 * decimal too, between FPUPROBE_TAG_FIRST and FPUPROBE_TAG_FIRST +
 * FPUPROBE_TAGS. For hold and fresh the exit status counts the checks
 * that found registers other than expected, and among them those that
 * found another probe's registers (lanes tagged with another's tag).
 */
#ifndef UAPI_FPUPROBE_H
#define UAPI_FPUPROBE_H

#define FPUPROBE_TAG_FIRST 0xF0A0
#define FPUPROBE_TAGS      16

#define FPUPROBE_WRONG(status)   ((status) & 0x7)	 /* checks that failed (at most 7) */
#define FPUPROBE_FOREIGN(status) (((status) >> 3) & 0x7) /* ... seeing another's registers */
#define FPUPROBE_LATE            0x40	/* a deadline had passed when the probe got there */
#define FPUPROBE_USAGE           0x80	/* bad arguments */

#endif
