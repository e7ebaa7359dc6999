/*
 * vmm_guests.h - the sample guest programs, and what each one does.
 *
 * The programs are the architecture's (arch/x86_64/guests/NAME.asm, built
 * into the kernel); their behaviour, below, is the contract tests and
 * benchmarks rely on. Every guest starts with ESI = its vCPU id, EDI = the
 * number of vCPUs and EBX, ECX, EDX = vm_config.args[0..2].
 */
#ifndef VMM_GUESTS_H
#define VMM_GUESTS_H

#include <vmm.h>

/* Prints "hello from vCPU <id>" and "sse ok" (one I/O exit per character),
 * checks an SSE sum, makes three NOP hypercalls, then gives the result
 * VM_HELLO_OK | id (or VM_HELLO_BAD | id) and stops. */
extern const struct vm_image vm_guest_hello;
#define VM_HELLO_OK  0x600D0000u
#define VM_HELLO_BAD 0xBAD00000u

/* Halts; after each HLT reads the event port. After args[0] non-zero
 * events (0: never) it gives their sum as the result and stops. */
extern const struct vm_image vm_guest_halt;

/* Reads guest-physical args[0]; then gives the result 0 and stops. */
extern const struct vm_image vm_guest_fault;

/* Jumps to guest-physical args[0] (a test's way to put a chosen RIP into
 * an exit: outside the guest's memory the fetch is a nested page fault). */
extern const struct vm_image vm_guest_jump;

/* Makes args[0] (> 0) NOP hypercalls in a row, then gives args[0] as the
 * result and stops. */
extern const struct vm_image vm_guest_nops;

/* The worker: a role per vCPU, read from its mailbox (see worker.asm). */
extern const struct vm_image vm_guest_worker;

#define VM_GUEST_PORT_CHECK 0x700	/* worker: an OUT where the host may check its FPU */
#define VM_GUEST_PORT_BLOCK 0x701	/* worker (MODE_BLOCK): one OUT at the start */

/* The worker's mailbox, in 32-bit words (vm_mailbox(v)[MB_...]). */
enum vm_worker_mbox {
	MB_ITER = 0,		/* out: main-loop iterations */
	MB_FPU_ERR = 1,		/* out: times XMM4-7 had lost the vCPU's pattern */
	MB_SUM_ERR = 2,		/* out: SSE sums that came out wrong */
	MB_RV_DONE = 3,		/* out: rendezvous hypercalls that returned 0 */
	MB_EVENTS = 4,		/* out: non-zero events read after HLT */
	MB_RV_ERR = 5,		/* out: rendezvous hypercalls that failed */
	MB_CHECKS = 6,		/* out: OUTs to VM_GUEST_PORT_CHECK */
	MB_MODE = 8,		/* in: WORKER_COMPUTE, WORKER_HALT, WORKER_BLOCK */
	MB_FLAGS = 9,		/* in: WORKER_FPU_CHECK | WORKER_HOST_CHECK */
	MB_RV_COUNT = 10,	/* in: rendezvous to ask for, then the result (0: none, never stop) */
	MB_PERIOD = 11,		/* in: iterations between periodic work (0: none) */
	MB_DEST_GPA = 12,	/* in: guest-physical vCPU set (0: random each time) */
	MB_DEST_BITS = 13,	/* in: its size in bits */
	MB_RV_ARG = 14,		/* in: the rendezvous hypercall's argument */
	MB_RNG = 15,		/* random state (0: seeded from the id) */
};

enum { WORKER_COMPUTE = 0, WORKER_HALT = 1, WORKER_BLOCK = 2 };
#define WORKER_FPU_CHECK  1u	/* check XMM4-7 after every 1024 additions */
#define WORKER_HOST_CHECK 2u	/* OUT to VM_GUEST_PORT_CHECK every MB_PERIOD */
#define WORKER_STAY       4u	/* after the last rendezvous, compute on (no result) */

/* XMM4-7 of worker vCPU `id` hold 16 dwords, dword k = VM_WORKER_PATTERN(id, k). */
#define VM_WORKER_PATTERN(id, k) (((uint32_t)(id) << 16) | 0xA500u | (uint32_t)(k))

#endif
