/*
 * tests/vmm/helpers.c - helpers for the vmm tests (vmm_test.h).
 */
#include "vmm_test.h"
#include <mm.h>
#include <sched.h>
#include <string.h>
#include <sync.h>
#include <thread.h>
#include <timer.h>

void vmt_require(void)
{
	const char *why = vmm_unavailable();
	if (why)
		KT_SKIP(why);
}

struct vm *vmt_create(const struct vm_config *cfg)
{
	struct vm *vm = NULL;
	KT_ASSERT_EQ(vm_create(cfg, &vm), 0);
	return vm;
}

bool vmt_wait_state(struct vcpu *v, int state, uint64_t timeout_ns)
{
	return VMT_WAIT_UNTIL(v->state == state, timeout_ns);
}

uint64_t vmt_rng(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

uint64_t vmt_spare_gpa(int nvcpus)
{
	return ALIGN_UP(VM_GUEST_STACK_GPA + (uint64_t)nvcpus * VM_GUEST_STACK_SIZE, PAGE_SIZE);
}

void vmt_worker(struct vcpu *v, int mode, uint32_t flags, uint32_t rv_count, uint32_t period)
{
	volatile uint32_t *mb = vm_mailbox(v);
	mb[MB_MODE] = (uint32_t)mode;
	mb[MB_FLAGS] = flags;
	mb[MB_RV_COUNT] = rv_count;
	mb[MB_PERIOD] = period;
}

void vmt_worker_dest(struct vcpu *v, uint64_t gpa, const struct vcpuset *s)
{
	size_t bytes = BITSET_WORDS(v->vm->nvcpus) * sizeof(uint64_t);
	void *p = vm_gpa_ptr(v->vm, gpa, bytes);
	KT_ASSERT(p != NULL);
	memcpy(p, s->bits, bytes);
	volatile uint32_t *mb = vm_mailbox(v);
	mb[MB_DEST_GPA] = (uint32_t)gpa;
	mb[MB_DEST_BITS] = (uint32_t)v->vm->nvcpus;
}

uint64_t vmt_mbox_sum(struct vm *vm, int from, int to, int word)
{
	uint64_t n = 0;
	for (int i = from; i < to; i++)
		n += vm_mailbox(&vm->vcpus[i])[word];
	return n;
}

/* ---- checked rendezvous ---- */

struct vmt_rv_totals vmt_totals;

void vmt_rv_reset(void)
{
	memset((void *)&vmt_totals, 0, sizeof(vmt_totals));
}

/* Runs with the VM's lock held, in the target's thread. */
void vmt_rv_fn(struct vcpu *v, void *arg)
{
	struct vmt_rv *rv = arg;
	unsigned id = (unsigned)v->id;
	if (!bitset_test(rv->dest.bits, id))
		rv->strays++;
	if (bitset_test(rv->ran.bits, id))
		rv->dups++;
	bitset_set(rv->ran.bits, id);
	vmt_totals.runs[id]++;
	if (rv->initiator >= 0 && rv->initiator < 16)
		vmt_totals.pair[rv->initiator][id]++;
}

void vmt_rv_end(struct vm *vm, struct vmt_rv *rv)
{
	/* every target still active must have run it; the ones taken out
	 * meanwhile may or may not have */
	struct vcpuset must;
	bitset_and(must.bits, rv->dest.bits, vm->active.bits, VM_MAX_VCPUS);
	bool missed = !bitset_subset(must.bits, rv->ran.bits, VM_MAX_VCPUS);
	if (rv->dups || rv->strays || missed)
		__atomic_fetch_add(&vmt_totals.errors, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&vmt_totals.rendezvous, 1, __ATOMIC_RELAXED);
}

void vmt_hc_checked(struct vcpu *v, const struct vcpuset *dest, uint32_t arg)
{
	(void)arg;
	struct vmt_rv rv = { .dest = *dest, .initiator = v->id };
	bitset_zero(rv.ran.bits, VM_MAX_VCPUS);
	vm_smp_rendezvous(v, dest, vmt_rv_fn, &rv);
	vmt_rv_end(v->vm, &rv);
}

void vmt_host_rendezvous(struct vm *vm, const struct vcpuset *dest)
{
	struct vmt_rv rv = { .dest = *dest, .initiator = -1 };
	bitset_zero(rv.ran.bits, VM_MAX_VCPUS);
	vm_smp_rendezvous_host(vm, dest, vmt_rv_fn, &rv);
	vmt_rv_end(vm, &rv);
}

struct rv_job {
	struct vm *vm;
	struct vcpuset dest;
};

static void rv_job_main(void *arg)
{
	struct rv_job *job = arg;
	vmt_host_rendezvous(job->vm, &job->dest);
	kmem_free(job);
}

struct thread *vmt_host_rendezvous_thread(struct vm *vm, const struct vcpuset *dest)
{
	struct rv_job *job = kmem_alloc(sizeof(*job), KM_SLEEP);
	job->vm = vm;
	job->dest = *dest;
	return thread_create("initiator", rv_job_main, job, 0);
}

/* ---- spurious exits (FreeBSD D37390) ---- */

/* The stream: vCPU 0 of 8 asks for `count` rendezvous over vCPUs 0-3 (3
 * asleep in HLT); 4-6 compute and 7 sleeps, never targets. */
uint64_t vmt_spurious_stream(int count)
{
	const int n = 8;
	uint64_t quantum = vmt_quantum_set(1000);
	struct vm_config cfg = { .nvcpus = n, .image = &vm_guest_worker, .quiet = true,
				 .mem_size = vmt_spare_gpa(n) + PAGE_SIZE,
				 .hc_rendezvous = vmt_hc_checked };
	struct vm *vm = vmt_create(&cfg);
	struct vcpuset targets;
	bitset_fill(targets.bits, 4, VM_MAX_VCPUS);		/* vCPUs 0-3 */
	vmt_worker(&vm->vcpus[0], WORKER_COMPUTE, 0, (uint32_t)count, 1);
	vmt_worker_dest(&vm->vcpus[0], vmt_spare_gpa(n), &targets);
	for (int i = 1; i < n; i++)
		vmt_worker(&vm->vcpus[i], i == 3 || i == 7 ? WORKER_HALT : WORKER_COMPUTE, 0, 0, 0);
	vmt_rv_reset();
	vm_start(vm);
	KT_EXPECT(vcpu_wait(&vm->vcpus[0], 30 * NS_PER_S));
	KT_EXPECT_EQ(vm->vcpus[0].result, 0);
	KT_EXPECT_EQ(vmt_totals.errors, 0);			/* correct either way */
	KT_EXPECT_EQ(vmt_totals.rendezvous, (uint64_t)count);
	uint64_t spurious = 0, target_spurious = 0;
	for (int i = 0; i < n; i++) {
		const struct vcpu_stats *st = &vm->vcpus[i].stats;
		if (i < 4) {
			target_spurious += st->spurious;
		} else {
			KT_EXPECT_EQ(st->rendezvous_funcs, 0);	/* never on a non-target */
			spurious += st->spurious;
		}
	}
	KT_EXPECT_EQ(target_spurious, 0);		/* a target is never spurious */
	KT_LOG("a stream of %d rendezvous over vCPUs 0-3: non-targets 4-7 took %lu spurious "
	       "exits", count, spurious);
	vm_destroy(vm);
	vmt_quantum_set(quantum);
	return spurious;
}

/* The held rendezvous (rendezvous_held, kernel/vmm/rvdemo.c, which the
 * shell's `demo rendezvous` shows): checked here. */
uint64_t vmt_spurious_held(uint64_t hold_ms)
{
	struct rv_held r;
	KT_ASSERT_EQ(rendezvous_held(hold_ms, &r), 0);
	KT_ASSERT(r.set_up);			/* vCPU 0 held, 5 asleep */
	KT_EXPECT(r.others_ran_first);		/* 1 and 2 did not wait for 0 */
	KT_EXPECT(r.completed);
	for (int i = 0; i < r.nvcpus; i++) {
		/* once on each target, never on the others */
		KT_EXPECT_EQ(r.runs[i], i < r.ntargets ? 1 : 0);
		KT_EXPECT_EQ(r.funcs[i], r.runs[i]);
	}
	uint64_t spurious = 0;
	for (int i = r.ntargets; i < r.nvcpus; i++)
		spurious += r.spurious[i];
	for (int i = 0; i < r.ntargets; i++)
		KT_EXPECT_EQ(r.spurious[i], 0);	/* a target is never spurious */
	KT_LOG("one rendezvous over vCPUs 0-2 held in flight %lu ms: non-targets took %lu "
	       "spurious exits (computing ones had done %lu iterations)", hold_ms, spurious,
	       r.iterations);
	return spurious;
}

/* ---- FPU ---- */

void vmt_xmm_pattern(uint32_t seed, uint32_t out[64])
{
	uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (int i = 0; i < 64; i++)
		out[i] = (uint32_t)vmt_rng(&state);
}

uint64_t vmt_quantum_set(uint64_t us)
{
	uint64_t old = sched_quantum_us;
	sched_set_quantum_us(us);
	return old;
}
