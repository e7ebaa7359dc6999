/*
 * tests/vmm/vmm_test.h - helpers shared by the vmm and rendezvous suites
 * and the vmm benchmarks (tests/vmm/helpers.c).
 */
#ifndef TESTS_VMM_TEST_H
#define TESTS_VMM_TEST_H

#include <ktest.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>
#include <vmm.h>
#include <vmm_guests.h>

#define MS 1000000ULL
#define NS_PER_S 1000000000ULL

/* KT_SKIP with vmm_unavailable()'s reason where guests cannot run. */
void vmt_require(void);
/* vm_create that must succeed (KT_ASSERT). */
struct vm *vmt_create(const struct vm_config *cfg);
/* Polls cond every 250 us until it holds or timeout_ns has passed; gives
 * cond's last value. */
#define VMT_WAIT_UNTIL(cond, timeout_ns)                                      \
	({                                                                    \
		uint64_t vmt_end_ = clock_ns() + (timeout_ns);                \
		while (!(cond) && clock_ns() < vmt_end_)                      \
			thread_sleep(MS / 4);                                 \
		(bool)(cond);                                                 \
	})
/* Polls until v is in `state`; false after timeout_ns. */
bool vmt_wait_state(struct vcpu *v, int state, uint64_t timeout_ns);
/* xorshift64: the next pseudo-random value of *state (never 0). */
uint64_t vmt_rng(uint64_t *state);
/* A page past the stacks of an n-vCPU VM, for vCPU sets; give the VM
 * mem_size = vmt_spare_gpa(n) + PAGE_SIZE. */
uint64_t vmt_spare_gpa(int nvcpus);
/* Sets a worker vCPU's role in its mailbox (before vm_start). */
void vmt_worker(struct vcpu *v, int mode, uint32_t flags, uint32_t rv_count, uint32_t period);
/* Gives worker v a fixed vCPU set: s, written at guest-physical gpa. */
void vmt_worker_dest(struct vcpu *v, uint64_t gpa, const struct vcpuset *s);
/* Sum of one mailbox word over vCPUs [from, to). */
uint64_t vmt_mbox_sum(struct vm *vm, int from, int to, int word);

/* ---- checked rendezvous ----
 * vmt_rv_fn records, for each rendezvous, where it ran; vmt_rv_end checks
 * "exactly once on each (active) target, never on a non-target" and adds
 * to the totals, which also count runs per (initiator, target). */
struct vmt_rv {
	struct vcpuset dest;
	struct vcpuset ran;
	int initiator;			/* vCPU id, or -1 for a host thread */
	int dups, strays;
};
struct vmt_rv_totals {
	volatile uint64_t rendezvous;	/* checked */
	volatile uint64_t errors;	/* a dup, a stray, or a target missed */
	volatile uint64_t runs[VM_MAX_VCPUS];		/* per target */
	volatile uint64_t pair[16][VM_MAX_VCPUS];	/* [initiator < 16][target] */
};
extern struct vmt_rv_totals vmt_totals;
void vmt_rv_reset(void);
void vmt_rv_fn(struct vcpu *v, void *arg);
/* Checks one finished rendezvous against the vCPUs active now. */
void vmt_rv_end(struct vm *vm, struct vmt_rv *rv);
/* vm_config.hc_rendezvous that runs vmt_rv_fn and checks each rendezvous. */
void vmt_hc_checked(struct vcpu *v, const struct vcpuset *dest, uint32_t arg);
/* A checked rendezvous from a host thread. */
void vmt_host_rendezvous(struct vm *vm, const struct vcpuset *dest);
/* The same in a new thread of its own (dest is copied); join it. */
struct thread *vmt_host_rendezvous_thread(struct vm *vm, const struct vcpuset *dest);

/* Spurious exits (FreeBSD D37390), counted on vCPUs that are never
 * targets; every rendezvous is checked on the way.
 * stream: vCPU 0 of 8 asks for `count` rendezvous over vCPUs 0-3 while
 *   4-6 compute and 7 sleeps in HLT.
 * held: one host rendezvous over vCPUs 0-2 of 6 stays in flight for
 *   hold_ms (vCPU 0 is held in a port handler) while 3 and 4 compute, so
 *   they exit at every tick and each look is made with one in flight. */
uint64_t vmt_spurious_stream(int count);
uint64_t vmt_spurious_held(uint64_t hold_ms);

/* ---- FPU ---- */
void test_xmm_load(const uint32_t in[64]);
void test_xmm_store(uint32_t out[64]);
/* 64 dwords unique to `seed`, for the sixteen XMM registers. */
void vmt_xmm_pattern(uint32_t seed, uint32_t out[64]);
/* The scheduler's quantum for a test (1 ms: many preemptions), and back. */
uint64_t vmt_quantum_set(uint64_t us);

#endif
