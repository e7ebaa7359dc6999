/*
 * kernel/vmm/vm.c - virtual machines: creation, memory, vCPU threads,
 * suspend and resume, destruction, references, and the monitor's `vms`.
 *
 * Theory (the longer version, with figures, is docs/vmm.md)
 *
 *   A VM is guest memory, vCPUs and a lock. The memory is a block of
 *   contiguous pages (kernel pages; a user VM's are user memory, which
 *   leaves the reserve); the backend maps guest-physical [0, size) onto
 *   it with nested page tables and maps nothing else, so a guest can touch
 *   its own memory and no other, and any other access is an exit the core
 *   reports as a fault. Each vCPU of a kernel VM has a kernel thread
 *   (THREAD_FPU) that runs vm_run (vcpu.c): handle a pending rendezvous or
 *   suspend, enter the guest, handle the exit, repeat. A VM driven from
 *   user space (vm_config.user, uvm.c) has no kernel threads: the
 *   program's threads run its vCPUs (vm_run_user), and it lives as long as
 *   references to it: its handle's, and each system call's on it (vm_hold,
 *   vm_put); the last handle's going takes every vCPU out first
 *   (vm_user_close), so that no run keeps it.
 *
 *   The core is portable: everything that knows SVM, VMCBs or x86 is
 *   behind struct vmm_backend (vmm_backend.h), which arch_vmm_backend()
 *   gives; where the machine cannot run guests, its probe says why, and
 *   vm_create prints that and fails with -VM_ENOTSUP.
 *
 *   The VM's lock (vm->lock, a mutex) guards the active set, the
 *   rendezvous state (rendezvous.c), the suspend flag and the counts of
 *   vCPUs in vm_run, parked and stopped. Each vCPU has its own spinlock
 *   (vcpu->wq.lock) for its state and events (vcpu.c). Lock order: the
 *   VM's lock, then a vCPU's; never two vCPUs' locks at once.
 *
 * Life of a VM
 *   vm_create     memory, nested tables, a VMCB and FPU areas per vCPU, and
 *                 one thread per vCPU, which waits at the start gate;
 *   vm_start      opens the gate: the vCPUs enter their guests;
 *   vm_suspend    parks every vCPU in the host; vm_resume lets them go;
 *   vm_wait       waits until every vCPU has stopped (result, fault, or
 *                 taken out of the active set) and left vm_run;
 *   vm_destroy    takes every vCPU out, wakes them, joins the threads (a
 *                 user VM's last vm_put: no run is left), frees it all.
 *
 * Invariants
 *   - A vCPU not in the active set never enters its guest again; it leaves
 *     vm_run at its next look at the loop's top, and no rendezvous waits
 *     for it (the request is masked with the active set).
 *   - vm->nparked <= vm->nrun: a vCPU parks only inside vm_run.
 *   - Guest memory and the backend's structures live until vm_destroy has
 *     joined every vCPU thread.
 */
#include "vmm_impl.h"
#include <arch.h>
#include <ctxop.h>
#include <mm.h>
#include <monitor.h>
#include <printf.h>
#include <printk.h>
#include <string.h>
#include <thread.h>
#include <timer.h>

#define VM_MEM_LIMIT MiB(16)		/* what one VM may ask for */

const struct vmm_backend *vmm_be;

static struct mutex vms_lock = { WAITQ_INIT(vms_lock.wq, "vms"), NULL, "vms" };
static struct list all_vms = LIST_INIT(all_vms);
static int next_vm_id;
static int user_vms;			/* under vms_lock; read without */

/* ---- can we? ---- */

const char *vmm_unavailable(void)
{
	static const char *why;
	static volatile bool probed;
	if (!probed) {
		const struct vmm_backend *be = arch_vmm_backend();
		why = be->probe();
		if (!why)
			vmm_be = be;
		probed = true;
	}
	return why;
}

/* ---- guest memory ---- */

void *vm_gpa_ptr(struct vm *vm, uint64_t gpa, size_t len)
{
	if (gpa >= vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return (void *)(vm->mem_pa + gpa);	/* RAM is identity-mapped (mm.h) */
}

volatile uint32_t *vm_mailbox(struct vcpu *v)
{
	return vm_gpa_ptr(v->vm, VM_GUEST_MBOX_GPA + (uint64_t)v->id * VM_GUEST_MBOX_SIZE,
			  VM_GUEST_MBOX_SIZE);
}

/* The smallest memory that holds the code, the mailboxes and every stack. */
static size_t min_mem_size(int nvcpus)
{
	return ALIGN_UP(VM_GUEST_STACK_GPA + (uint64_t)nvcpus * VM_GUEST_STACK_SIZE, PAGE_SIZE);
}

static unsigned order_for(size_t bytes)
{
	unsigned order = 0;
	while ((PAGE_SIZE << order) < bytes)
		order++;
	return order;
}

/* ---- creation ---- */

static int config_error(const char *what)
{
	printk("vm_create: %s\n", what);
	return -VM_EINVAL;
}

static int check_config(const struct vm_config *cfg)
{
	if (!cfg || cfg->nvcpus < 1 || cfg->nvcpus > VM_MAX_VCPUS)
		return config_error("the number of vCPUs must be 1 .. VM_MAX_VCPUS (512)");
	if (cfg->user && cfg->image)
		return config_error("a VM driven from user space gets its image from the user");
	if (!cfg->user && (!cfg->image || cfg->image->end <= cfg->image->start))
		return config_error("no guest image");
	if (cfg->image && (size_t)(cfg->image->end - cfg->image->start) > VM_GUEST_CODE_MAX)
		return config_error("the guest image is larger than VM_GUEST_CODE_MAX");
	if (cfg->mem_size && (!IS_ALIGNED(cfg->mem_size, PAGE_SIZE) ||
			      cfg->mem_size < min_mem_size(cfg->nvcpus) ||
			      cfg->mem_size > VM_MEM_LIMIT))
		return config_error("mem_size must be whole pages, hold the stacks, and be at "
				    "most 16 MiB");
	return 0;
}

/* Frees what vm_create built, in reverse; safe on a half-built VM whose
 * threads were never created. */
static void vm_free(struct vm *vm)
{
	for (int i = 0; vm->vcpus && i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		vcpu_fpu_fini(v);
		if (v->backend)
			vmm_be->vcpu_fini(v);
	}
	if (vm->backend)
		vmm_be->vm_fini(vm);
	if (vm->mem_pa)
		pmm_free_pages(vm->mem_pa, vm->mem_order);
	if (vm->vcpus)
		kmem_free(vm->vcpus);
	kmem_free(vm);
}

void vcpu_boot_regs(struct vcpu *v, uint64_t entry, struct vcpu_boot *boot)
{
	struct vm *vm = v->vm;
	*boot = (struct vcpu_boot){
		.entry = entry,
		.stack = VM_GUEST_STACK_GPA + (uint64_t)(v->id + 1) * VM_GUEST_STACK_SIZE,
		.bx = vm->cfg.args[0],
		.cx = vm->cfg.args[1],
		.dx = vm->cfg.args[2],
		.si = (uint64_t)v->id,
		.di = (uint64_t)vm->nvcpus,
	};
}

static int vcpu_setup(struct vm *vm, int id)
{
	struct vcpu *v = &vm->vcpus[id];
	v->vm = vm;
	v->id = id;
	snprintf(v->name, sizeof(v->name), "%s.%d", vm->name, id);
	waitq_init(&v->wq, "vcpu");
	v->state = VCPU_IDLE;
	v->hostcpu = -1;
	v->wait_sipi = vm->cfg.aps_wait_sipi && id > 0;
	struct vcpu_boot boot;
	vcpu_boot_regs(v, VM_GUEST_CODE_GPA, &boot);
	int err = vmm_be->vcpu_init(v, &boot);
	return err ? err : vcpu_fpu_init(v);
}

int vm_create(const struct vm_config *cfg, struct vm **out)
{
	const char *why = vmm_unavailable();
	if (why) {
		printk("vm_create: this machine cannot run virtual machines: %s\n", why);
		return -VM_ENOTSUP;
	}
	int err = check_config(cfg);
	if (err)
		return err;

	/* a user VM's kernel side is a user request's (vm_kmflags) */
	int kmflags = cfg->user ? KM_USER : KM_SLEEP;
	struct vm *vm = kmem_zalloc(sizeof(*vm), kmflags);
	if (!vm)
		return -VM_ENOMEM;
	vm->cfg = *cfg;
	vm->nvcpus = cfg->nvcpus;
	mutex_lock(&vms_lock);
	vm->id = next_vm_id++;
	mutex_unlock(&vms_lock);
	if (cfg->name)
		strlcpy(vm->name, cfg->name, sizeof(vm->name));
	else
		snprintf(vm->name, sizeof(vm->name), "vm%d", vm->id);
	mutex_init(&vm->lock, "vm");
	cv_init(&vm->rendezvous_cv, "vm.rendezvous");
	cv_init(&vm->state_cv, "vm.state");
	list_init(&vm->link);

	vm->mem_size = cfg->mem_size ? cfg->mem_size : min_mem_size(cfg->nvcpus);
	vm->mem_order = order_for(vm->mem_size);
	/* zero-filled; a user VM's is user memory, which leaves the reserve */
	vm->mem_pa = cfg->user ? pmm_alloc_pages_for(vm->mem_order, PMM_USER)
			       : pmm_alloc_pages(vm->mem_order);
	if (vm->mem_pa && cfg->after_memory)
		cfg->after_memory(vm);
	vm->vcpus = kmem_zalloc(sizeof(struct vcpu) * (size_t)vm->nvcpus, kmflags);
	vm->refs = 1;
	err = vm->mem_pa && vm->vcpus ? vmm_be->vm_init(vm) : -VM_ENOMEM;
	for (int i = 0; i < vm->nvcpus && !err; i++)
		err = vcpu_setup(vm, i);
	if (err) {
		if (!cfg->user)		/* a user request's -ENOMEM says enough */
			printk("vm_create: %s: out of memory (%lu KiB of guest memory, %d "
			       "vCPUs)\n", vm->name, vm->mem_size / 1024, vm->nvcpus);
		vm_free(vm);
		return err;
	}
	if (cfg->image)
		memcpy(vm_gpa_ptr(vm, VM_GUEST_CODE_GPA, VM_GUEST_CODE_MAX), cfg->image->start,
		       (size_t)(cfg->image->end - cfg->image->start));
	bitset_fill(vm->active.bits, (unsigned)vm->nvcpus, VM_MAX_VCPUS);

	mutex_lock(&vms_lock);
	list_add_tail(&all_vms, &vm->link);
	if (cfg->user)
		user_vms++;
	mutex_unlock(&vms_lock);
	if (cfg->user) {
		vm->started = true;		/* its threads are the user program's */
	} else {
		for (int i = 0; i < vm->nvcpus; i++)
			vm->vcpus[i].thread = thread_create(vm->vcpus[i].name, vcpu_thread_main,
							    &vm->vcpus[i], THREAD_FPU);
	}
	*out = vm;
	return 0;
}

/* Every vCPU out of the active set and told (woken, kicked): each stops
 * at its next look and no rendezvous waits for it. dying: vm_destroy's,
 * which also opens the start gate and ends a suspend. */
static void take_all_out(struct vm *vm, bool dying)
{
	mutex_lock(&vm->lock);
	if (dying) {
		vm->dying = true;
		vm->started = true;		/* let unstarted threads through the gate */
		vm->suspended = false;
	}
	bitset_zero(vm->active.bits, VM_MAX_VCPUS);
	vm_rendezvous_recheck_locked(vm);
	cv_broadcast(&vm->state_cv);
	mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_notify(&vm->vcpus[i]);
}

void vm_hold(struct vm *vm)
{
	__atomic_fetch_add(&vm->refs, 1, __ATOMIC_RELAXED);
}

void vm_put(struct vm *vm)
{
	if (__atomic_sub_fetch(&vm->refs, 1, __ATOMIC_ACQ_REL) == 0)
		vm_destroy(vm);
}

struct vm *vm_user_find(uint64_t pid)
{
	struct vm *found = NULL;
	mutex_lock(&vms_lock);
	struct list *pos;
	list_for_each(pos, &all_vms) {
		struct vm *vm = list_entry(pos, struct vm, link);
		if (!vm->cfg.user || vm->owner_pid != pid)
			continue;
		/* a reference only while it has one: its last put may be
		 * destroying it meanwhile (and waits for vms_lock to unlink) */
		int r = __atomic_load_n(&vm->refs, __ATOMIC_RELAXED);
		while (r > 0 && !__atomic_compare_exchange_n(&vm->refs, &r, r + 1, false,
							     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			;
		if (r > 0) {
			found = vm;
			break;
		}
	}
	mutex_unlock(&vms_lock);
	return found;
}

void vm_user_close(struct vm *vm)
{
	/* the program can reach it no more: every vCPU out, so that runs in
	 * progress stop (and give back their references) instead of keeping
	 * it, and its rendezvous, for good */
	take_all_out(vm, false);
	vm_put(vm);
}

int vm_user_count(void)
{
	return __atomic_load_n(&user_vms, __ATOMIC_RELAXED);
}

void vm_start(struct vm *vm)
{
	mutex_lock(&vm->lock);
	vm->started = true;
	cv_broadcast(&vm->state_cv);
	mutex_unlock(&vm->lock);
}

/* ---- waiting, suspending ---- */

/* Waits on vm->state_cv (lock held) until done(arg) or the deadline (0:
 * none); returns done(arg). */
static bool wait_state(struct vm *vm, bool (*done)(struct vm *, void *), void *arg,
		       uint64_t timeout_ns)
{
	uint64_t deadline = timeout_ns ? clock_ns() + timeout_ns : 0;
	while (!done(vm, arg)) {
		uint64_t now = clock_ns();
		if (deadline && now >= deadline)
			break;
		cv_timedwait(&vm->state_cv, &vm->lock, deadline ? deadline - now : 0);
	}
	return done(vm, arg);
}

static bool all_stopped(struct vm *vm, void *arg)
{
	(void)arg;
	return vm->nstopped == vm->nvcpus;
}

static bool vcpu_stopped(struct vm *vm, void *arg)
{
	(void)vm;
	struct vcpu *v = arg;
	return v->stop != VCPU_STOP_NONE && v->state == VCPU_IDLE;
}

static bool all_parked(struct vm *vm, void *arg)
{
	(void)arg;
	return vm->nparked == vm->nrun;
}

bool vm_wait(struct vm *vm, uint64_t timeout_ns)
{
	mutex_lock(&vm->lock);
	bool ok = wait_state(vm, all_stopped, NULL, timeout_ns);
	mutex_unlock(&vm->lock);
	return ok;
}

bool vcpu_wait(struct vcpu *v, uint64_t timeout_ns)
{
	mutex_lock(&v->vm->lock);
	bool ok = wait_state(v->vm, vcpu_stopped, v, timeout_ns);
	mutex_unlock(&v->vm->lock);
	return ok;
}

/*
 * vm_suspend: every vCPU in vm_run parks at the top of its loop (vcpu.c);
 * the kick gets those in the guest or asleep in HLT there at once. Returns
 * when all of them are parked. A parked vCPU still takes part in a
 * rendezvous, so a rendezvous in flight cannot keep a suspend waiting.
 */
void vm_suspend(struct vm *vm)
{
	mutex_lock(&vm->lock);
	vm->suspended = true;
	mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_notify(&vm->vcpus[i]);
	mutex_lock(&vm->lock);
	wait_state(vm, all_parked, NULL, 0);
	mutex_unlock(&vm->lock);
}

void vm_resume(struct vm *vm)
{
	mutex_lock(&vm->lock);
	vm->suspended = false;
	cv_broadcast(&vm->state_cv);
	mutex_unlock(&vm->lock);
}

void vcpu_deactivate(struct vcpu *v)
{
	struct vm *vm = v->vm;
	mutex_lock(&vm->lock);
	bitset_clear(vm->active.bits, (unsigned)v->id);
	vm_rendezvous_recheck_locked(vm);
	cv_broadcast(&vm->state_cv);		/* it may be parked */
	mutex_unlock(&vm->lock);
	vcpu_notify(v);				/* or in its guest, or asleep */
}

/* ---- destruction ---- */

void vm_destroy(struct vm *vm)
{
	take_all_out(vm, true);
	/* a user VM's runs each hold a reference: none is left */
	for (int i = 0; i < vm->nvcpus && !vm->cfg.user; i++)
		thread_join(vm->vcpus[i].thread);

	mutex_lock(&vms_lock);
	list_remove(&vm->link);
	if (vm->cfg.user)
		user_vms--;
	mutex_unlock(&vms_lock);
	vm_free(vm);
}

/* ---- counters and the monitor ---- */

uint64_t vm_exits(struct vm *vm, int reason)
{
	uint64_t n = 0;
	for (int i = 0; i < vm->nvcpus; i++)
		n += vm->vcpus[i].stats.exits[reason];
	return n;
}

static const char *const stop_names[] = { "-", "result", "deactivated", "fault" };

void vm_print_all(void)
{
	mutex_lock(&vms_lock);
	if (list_empty(&all_vms))
		printk("no virtual machines%s%s\n", vmm_unavailable() ? ": " : "",
		       vmm_unavailable() ? vmm_unavailable() : "");
	struct list *pos;
	list_for_each(pos, &all_vms) {
		struct vm *vm = list_entry(pos, struct vm, link);
		printk("%s: %d vCPU%s, %lu KiB at 0x%lx, %s%s, %lu rendezvous%s%s\n", vm->name,
		       vm->nvcpus, vm->nvcpus == 1 ? "" : "s", vm->mem_size / 1024, vm->mem_pa,
		       vm->started ? "started" : "not started", vm->suspended ? ", suspended" : "",
		       vm->rv_count, vm->faulted ? ", stopped on a fault: " : "",
		       vm->faulted ? vm->fault : "");
		printk("  %-10s %-8s %-11s %8s %8s %8s %8s %8s %6s %6s %8s %8s\n", "vcpu", "state",
		       "stop", "intr", "hlt", "io", "hcall", "faults", "rv", "spur", "sleeps",
		       "fpusave");
		for (int i = 0; i < vm->nvcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
			const struct vcpu_stats *s = &v->stats;
			uint64_t faults = s->exits[VM_EXIT_NPF] + s->exits[VM_EXIT_SHUTDOWN] +
					  s->exits[VM_EXIT_INVALID] + s->exits[VM_EXIT_OTHER] +
					  s->exits[VM_EXIT_HOST_STATE];
			printk("  %-10s %-8s %-11s %8lu %8lu %8lu %8lu %8lu %6lu %6lu %8lu %8lu\n",
			       v->name, vcpu_state_name(v->state), stop_names[v->stop],
			       s->exits[VM_EXIT_INTR], s->exits[VM_EXIT_HLT], s->exits[VM_EXIT_IO],
			       s->exits[VM_EXIT_HYPERCALL], faults, s->rendezvous, s->spurious,
			       s->sleeps, s->fpu_saves);
		}
	}
	mutex_unlock(&vms_lock);
	if (vmm_unavailable())
		return;
	const char *why;
	bool off = vmm_keep_off_cpu0(&why);
	printk("guests %s CPU 0 (%s); entries by host CPU:", off ? "kept off" : "allowed on", why);
	for (int c = 0; c < cpu_count(); c++)
		printk(" %d:%lu", c, vmm_guest_entries(c));
	printk("\n");
}

static void cmd_vms(const char *args)
{
	(void)args;
	vm_print_all();
}
MONITOR_COMMAND("vms", "virtual machines: vCPUs, states, exit counters", cmd_vms);
