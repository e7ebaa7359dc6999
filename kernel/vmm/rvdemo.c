/*
 * kernel/vmm/rvdemo.c - a rendezvous held in flight (FreeBSD D37390), and
 * the monitor's `rvdemo` (the shell's `demo rendezvous`) that shows it.
 *
 * A VM of six worker vCPUs (arch/x86_64/guests/worker.asm): vCPU 0 is held
 * in the host by a port handler (a slow device model), 1 computes, 2
 * sleeps in HLT: the targets. 3 and 4 compute and 5 sleeps: never
 * targets. A host thread starts a rendezvous over 0-2; 1 and 2 (woken)
 * run the function at once, 0 only when it is let go, after hold_ms.
 * Meanwhile 3 and 4 exit at every tick and look for a pending rendezvous.
 * bhyve's rule is that a vCPU takes part only if its own bit is in the
 * set: 3-5 never run the function and never wait in it. With
 * bug=rendezvous_spurious a vCPU stops at any rendezvous in flight, so each
 * computing non-target waits once, spuriously, until it completes.
 *
 * The function counts where it ran; rendezvous_held reports those counts,
 * the spurious exits and the work the computing non-targets did, and
 * whether the scenario could be set up. tests/vmm asserts on them.
 */
#include <vmm.h>
#include <vmm_guests.h>
#include <bugs.h>
#include <monitor.h>
#include <printk.h>
#include <sched.h>
#include <sync.h>
#include <thread.h>
#include <trace.h>
#include <bitset.h>
#include <timer.h>
#include <string.h>

#define MS 1000000ULL
#define NVCPUS 6
#define NTARGETS 3

void vm_port_blocker_init(struct vm_port_blocker *b)
{
	sem_init(&b->release, 0, "vm.port_block");
	b->blocked = false;
}

uint32_t vm_port_block(struct vcpu *v, uint16_t port, bool in, uint32_t value, void *arg)
{
	struct vm_port_blocker *b = arg;
	(void)v, (void)port, (void)in, (void)value;
	b->blocked = true;
	sem_wait(&b->release);
	return 0;
}

struct held {
	struct vm_port_blocker block;	/* vCPU 0's port (VM_GUEST_PORT_BLOCK) */
	struct vm *vm;
	struct rv_held *r;
};

/* The rendezvous function: with the VM's lock held, in the target's thread. */
static void count_run(struct vcpu *v, void *arg)
{
	struct rv_held *r = arg;
	r->runs[v->id]++;
}

static void initiator(void *arg)
{
	struct held *h = arg;
	struct vcpuset dest;
	bitset_fill(dest.bits, NTARGETS, VM_MAX_VCPUS);
	vm_smp_rendezvous_host(h->vm, &dest, count_run, h->r);
	h->r->completed = true;
}

int rendezvous_held(uint64_t hold_ms, struct rv_held *r)
{
	memset(r, 0, sizeof(*r));
	r->nvcpus = NVCPUS;
	r->ntargets = NTARGETS;
	uint64_t quantum = sched_quantum_us;
	sched_set_quantum_us(1000);		/* a tick's exit every millisecond */
	struct held h = { .r = r };
	vm_port_blocker_init(&h.block);
	struct vm_config cfg = { .name = "rvdemo", .nvcpus = NVCPUS, .image = &vm_guest_worker,
				 .quiet = true,
				 .io = { { VM_GUEST_PORT_BLOCK, vm_port_block, &h.block } } };
	int err = vm_create(&cfg, &h.vm);
	if (err) {
		sched_set_quantum_us(quantum);
		return err;
	}
	static const int modes[NVCPUS] = { WORKER_BLOCK, WORKER_COMPUTE, WORKER_HALT,
					   WORKER_COMPUTE, WORKER_COMPUTE, WORKER_HALT };
	for (int i = 0; i < NVCPUS; i++) {
		volatile uint32_t *mb = vm_mailbox(&h.vm->vcpus[i]);
		mb[MB_MODE] = (uint32_t)modes[i];
		mb[MB_FLAGS] = mb[MB_RV_COUNT] = mb[MB_PERIOD] = 0;
	}
	vm_start(h.vm);
	struct vcpu *sleeper = &h.vm->vcpus[5];
	uint64_t end = clock_ns() + 2000 * MS;
	while (!(h.block.blocked && sleeper->state == VCPU_SLEEPING) && clock_ns() < end)
		thread_sleep(MS / 4);
	r->set_up = h.block.blocked && sleeper->state == VCPU_SLEEPING;
	if (r->set_up) {
		struct thread *init = thread_create("rv-initiator", initiator, &h, 0);
		end = clock_ns() + 2000 * MS;
		while (!(r->runs[1] && r->runs[2]) && clock_ns() < end)
			thread_sleep(MS / 4);
		r->others_ran_first = r->runs[1] && r->runs[2];
		thread_sleep(hold_ms * MS);	/* in flight: 3 and 4 keep exiting */
		for (int i = NTARGETS; i < NVCPUS; i++)
			r->iterations += vm_mailbox(&h.vm->vcpus[i])[MB_ITER];
		sem_post(&h.block.release);
		thread_join(init);
	} else {
		sem_post(&h.block.release);		/* if 0 got there after all */
	}
	for (int i = 0; i < NVCPUS; i++) {
		r->spurious[i] = h.vm->vcpus[i].stats.spurious;
		r->funcs[i] = h.vm->vcpus[i].stats.rendezvous_funcs;
	}
	vm_destroy(h.vm);
	sched_set_quantum_us(quantum);
	return 0;
}

/* ---- the demo ---- */

static void show(const struct rv_held *r, uint64_t hold_ms)
{
	if (!r->set_up || !r->completed) {
		printk("    (the VM did not reach the starting position: try again)\n");
		return;
	}
	printk("    the function ran on vCPUs 0-2: %lu, %lu, %lu times; on 3-5: %lu, %lu, %lu\n",
	       r->runs[0], r->runs[1], r->runs[2], r->runs[3], r->runs[4], r->runs[5]);
	uint64_t spurious = r->spurious[3] + r->spurious[4] + r->spurious[5];
	printk("    while it was held %lu ms, the non-targets computed %lu iterations and took\n"
	       "    %lu spurious exits (3: %lu, 4: %lu, 5: %lu)\n", hold_ms, r->iterations,
	       spurious, r->spurious[3], r->spurious[4], r->spurious[5]);
	printk("    => %s\n", spurious ? "vCPUs outside the set stopped for it: D37390's bug"
				   : "vCPUs outside the set never stopped for it");
}

static void cmd_rvdemo(const char *args)
{
	(void)args;
	const char *why = vmm_unavailable();
	if (why) {
		printk("no guests on this machine: %s\n", why);
		return;
	}
	const uint64_t hold_ms = 20;
	struct rv_held r;
	printk("a rendezvous (bhyve's vm_smp_rendezvous) over vCPUs 0-2 of a 6-vCPU VM, held in\n"
	       "flight by vCPU 0 (stuck in a device model); 1 computes, 2 sleeps in HLT; 3 and 4\n"
	       "compute, 5 sleeps, and are not in the set (FreeBSD D37390)\n");
	printk("  the rule: a vCPU joins only a rendezvous with its own bit set\n");
	if (rendezvous_held(hold_ms, &r) == 0)
		show(&r, hold_ms);
	bool was = bug_on(rendezvous_spurious);	/* (bug_set says only if it exists) */
	bug_set("rendezvous_spurious", true);
	printk("  bug=rendezvous_spurious: a vCPU joins any rendezvous in flight\n");
	if (rendezvous_held(hold_ms, &r) == 0)
		show(&r, hold_ms);
	bug_set("rendezvous_spurious", was);
}
MONITOR_COMMAND("rvdemo", "a rendezvous held in flight: non-targets' spurious exits, and the bug's",
		cmd_rvdemo);

/* ---- rvall: one rendezvous of N vCPUs, for a picture ----
 * A VM of N computing worker vCPUs; once all have entered their guests, a
 * host thread makes one rendezvous over all of them, then a second after
 * 5 ms, and the VM goes. Traced (make trace CMDLINE='trace.run=rvall,16'),
 * it shows each vCPU leave its guest, run the function and go back, and
 * the initiator's wait (docs/trace.md). Marks 1 and 2 bracket the two. */
static void rv_nothing(struct vcpu *v, void *arg)
{
	(void)v, (void)arg;
}

static void cmd_rvall(const char *args)
{
	const char *why = vmm_unavailable();
	if (why) {
		printk("no guests on this machine: %s\n", why);
		return;
	}
	int n = 0;
	for (const char *p = args; *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	if (n < 1 || n > VM_MAX_VCPUS) {
		printk("usage: rvall N (1..%d vCPUs)\n", VM_MAX_VCPUS);
		return;
	}
	struct vm_config cfg = { .name = "rvall", .nvcpus = n, .image = &vm_guest_worker,
				 .quiet = true };
	struct vm *vm;
	if (vm_create(&cfg, &vm))
		return;
	for (int i = 0; i < n; i++) {
		volatile uint32_t *mb = vm_mailbox(&vm->vcpus[i]);
		mb[MB_MODE] = WORKER_COMPUTE;
		mb[MB_FLAGS] = mb[MB_RV_COUNT] = mb[MB_PERIOD] = 0;
	}
	vm_start(vm);
	uint64_t end = clock_ns() + 2000 * MS;
	bool all = false;
	while (!all && clock_ns() < end) {
		all = true;
		for (int i = 0; i < n; i++)
			all &= vm_mailbox(&vm->vcpus[i])[MB_ITER] > 0;
		if (!all)
			thread_sleep(MS / 4);
	}
	struct vcpuset dest;
	bitset_fill(dest.bits, (unsigned)n, VM_MAX_VCPUS);
	trace_mark(1);
	vm_smp_rendezvous_host(vm, &dest, rv_nothing, NULL);
	thread_sleep(5 * MS);
	vm_smp_rendezvous_host(vm, &dest, rv_nothing, NULL);
	trace_mark(2);
	printk("rvall: %d vCPUs%s, two rendezvous over all of them: %lu completed\n", n,
	       all ? "" : " (not all reached their guests in 2 s)", vm->rv_count);
	vm_destroy(vm);
}
MONITOR_COMMAND("rvall", "N: two rendezvous over all N vCPUs of a computing VM (for make trace)",
		cmd_rvall);
