/*
 * kernel/vmm/uvm.c - virtual machines driven from user space: the system
 * calls of uapi/vmm.h, after bhyve's /dev/vmm ioctls (VM_RUN and friends).
 *
 * Design
 *   A VM made here is a vm_config.user VM of the core (vm.c): no kernel
 *   threads, user memory for the guest's, and every port the kernel does
 *   not emulate is an exit to the program (vcpu.c, handle_io). Its handle
 *   is an IPC_OBJ_VM in the process's handle table (kernel/ipc.c), so it
 *   is reached like any other object: only through a handle the process
 *   holds, never by a number it could guess.
 *
 *   SYS_vm_run is bhyve's VM_RUN: the calling user thread becomes the
 *   vCPU's thread for the call (vm_run_user): the guest's FPU op is
 *   attached on top of the thread's own chain (its segment bases over its
 *   FPU, kernel/proc.c) for the run and detached on the way out, the op
 *   itself made once with the vCPU (illumos 13917). While the run is in
 *   the kernel (a HLT asleep, a rendezvous, a preemption) the chain is the
 *   three ops of illumos 12477's report, newest first.
 *
 * References and lifetime
 *   The handle's object holds one reference to the VM, each SYS_vm_run
 *   and SYS_vm_memory one more for the call (ipc_vm_get). The last put
 *   destroys the VM; a handle closed under ipc_lock is reaped after it
 *   (ipc_reap). A process that dies mid-VM_RUN: its kill sets the thread's
 *   user_work and kicks it (vmm_kick_thread), the run loop leaves with
 *   -EINTR, the thread ends, its process's handles close, the VM goes.
 *
 * Every argument is checked here, before the core sees it: a bad one is
 * an error, never a message on the console or a panic.
 */
#include "vmm_impl.h"
#include <ipc.h>
#include <mm.h>
#include <proc.h>
#include <string.h>
#include <syscall.h>
#include <thread.h>
#include <uaccess.h>
#include <uapi/errno.h>
#include <uapi/vmm.h>

_Static_assert(UVM_MAX_VCPUS == VM_MAX_VCPUS, "uapi/vmm.h and vmm.h disagree");
_Static_assert(UVM_CODE_GPA == VM_GUEST_CODE_GPA, "uapi/vmm.h and vmm.h disagree");
_Static_assert(UVM_STOP_RESULT == VCPU_STOP_RESULT && UVM_STOP_FAULT == VCPU_STOP_FAULT &&
	       UVM_STOP_DEACTIVATED == VCPU_STOP_DEACTIVATED, "uapi/vmm.h and vmm.h disagree");

static struct mutex uvm_lock = { WAITQ_INIT(uvm_lock.wq, "uvm"), NULL, "uvm" };

long sys_vm_create(long ucfg)
{
	struct uvm_config cfg;
	if (copyin(&cfg, (uint64_t)ucfg, sizeof(cfg)))
		return -EFAULT;
	if (cfg.nvcpus < 1 || cfg.nvcpus > UVM_MAX_VCPUS || (cfg.flags & ~UVM_F_APS_WAIT_SIPI) ||
	    cfg.mem_size % PAGE_SIZE || cfg.mem_size > UVM_MEM_MAX)
		return -EINVAL;
	size_t least = ALIGN_UP(VM_GUEST_STACK_GPA + (uint64_t)cfg.nvcpus * VM_GUEST_STACK_SIZE,
				PAGE_SIZE);
	if (cfg.mem_size && cfg.mem_size < least)
		return -EINVAL;
	if (vmm_unavailable())
		return -ENOTSUP;
	ipc_reap();			/* VMs whose last handle went under ipc_lock */
	struct vm_config vc = {
		.nvcpus = (int)cfg.nvcpus,
		.mem_size = cfg.mem_size,
		.args = { cfg.args[0], cfg.args[1], cfg.args[2] },
		.user = true,
		.aps_wait_sipi = cfg.flags & UVM_F_APS_WAIT_SIPI,
	};
	/* the limit: counted and created under one lock, so two callers
	 * cannot both pass it */
	mutex_lock(&uvm_lock);
	if (vm_user_count() >= UVM_VMS_MAX) {
		mutex_unlock(&uvm_lock);
		return -EAGAIN;
	}
	/* The kernel's side of it (a VMCB page, an FPU area and an op per
	 * vCPU, the nested tables: about two pages a vCPU and a few more) is
	 * taken from the kernel's pools, which a user request may use only
	 * down to half the reserve: refused here, before any is taken, if it
	 * plainly would go below. That is a courtesy, not the guarantee:
	 * another process may take memory meanwhile, and every allocation of
	 * vm_create is a user request's itself (vm_kmflags), -ENOMEM there. */
	if (pmm_available(PMM_KERNEL_FOR_USER) < 2 * (uint64_t)cfg.nvcpus + 32) {
		mutex_unlock(&uvm_lock);
		return -ENOMEM;
	}
	struct vm *vm;
	int err = vm_create(&vc, &vm);
	mutex_unlock(&uvm_lock);
	if (err)
		return err == -VM_ENOMEM ? -ENOMEM : -EINVAL;
	vm->owner_pid = curthread->proc ? (uint64_t)curthread->proc->pid : 0;
	long h = ipc_vm_install(vm);
	if (h < 0)
		vm_put(vm);
	return h;
}

long sys_vm_memory(long h, long op, long gpa, long ubuf, long len)
{
	if (op != UVM_MEM_WRITE && op != UVM_MEM_READ)
		return -EINVAL;
	if (len < 0 || gpa < 0)
		return -EINVAL;
	if (len && !user_range_ok((uint64_t)ubuf, (size_t)len))
		return -EFAULT;
	int err;
	struct vm *vm = ipc_vm_get(h, &err);
	if (!vm)
		return err;
	void *p = vm_gpa_ptr(vm, (uint64_t)gpa, (size_t)len);
	if (!p)
		err = -EINVAL;
	else if (op == UVM_MEM_WRITE)
		err = copyin(p, (uint64_t)ubuf, (size_t)len) ? -EFAULT : 0;
	else
		err = copyout((uint64_t)ubuf, p, (size_t)len) ? -EFAULT : 0;
	vm_put(vm);
	return err;
}

/* vCPU id of the VM handle h names, with a reference to the VM for the
 * call (vm_put it), or NULL with *err: -EBADF, -EINVAL for no such vCPU. */
static struct vcpu *vcpu_get(long h, long id, int *err)
{
	struct vm *vm = ipc_vm_get(h, err);
	if (!vm)
		return NULL;
	if (id < 0 || id >= vm->nvcpus) {
		vm_put(vm);
		*err = -EINVAL;
		return NULL;
	}
	return &vm->vcpus[id];
}

long sys_vm_run(long h, long id, long urun)
{
	/* all of it, though a run reads only its first 16 bytes: a struct that
	 * could not be written back would lose the exit the run takes */
	struct uvm_run run;
	if (copyin(&run, (uint64_t)urun, sizeof(run)))
		return -EFAULT;
	int err;
	struct vcpu *v = vcpu_get(h, id, &err);
	if (!v)
		return err;
	struct vm *vm = v->vm;
	struct vm_exit e;
	int r = vm_run_user(v, run.in_value, run.data, &e);
	if (r == 0 && e.reason == VM_EXIT_MMIO) {
		run.reason = UVM_EXIT_MMIO;
		run.stop = run.result = 0;
		run.rip = e.rip;
		run.port = 0;
		run.value = 0;
		run.bytes = e.mmio.bytes;
		run.in = !e.mmio.write;
		run.gpa = e.mmio.gpa;
		run.data = e.mmio.write ? e.mmio.value : 0;
	} else if (r == 0) {
		run.reason = UVM_EXIT_IO;
		run.stop = run.result = 0;
		run.rip = e.rip;
		run.port = e.io.port;
		run.bytes = e.io.bytes;
		run.in = e.io.in;
		run.value = e.io.in ? 0 : e.io.value;
		run.gpa = run.data = 0;
	} else if (r > 0) {
		run.gpa = run.data = 0;
		run.reason = UVM_EXIT_STOPPED;
		run.port = 0;
		run.bytes = run.in = 0;
		run.value = 0;
		run.stop = (unsigned)r;
		run.result = r == VCPU_STOP_RESULT ? v->result : 0;
	}
	vm_put(vm);
	if (r < 0)
		return r;
	return copyout((uint64_t)urun, &run, sizeof(run)) ? -EFAULT : 0;
}

long sys_vm_ctl(long h, long op, long id, long arg, long uptr)
{
	if (op < UVM_CTL_EVENT || op > UVM_CTL_INFO)
		return -EINVAL;
	int err;
	struct vcpu *v = vcpu_get(h, id, &err);
	if (!v)
		return err;
	struct vm *vm = v->vm;
	err = 0;
	if (op == UVM_CTL_EVENT) {
		vcpu_post_event(v, (uint32_t)arg);
	} else if (op == UVM_CTL_DEACTIVATE) {
		vcpu_deactivate(v);
	} else {
		struct uvm_info in = {
			.id = (unsigned)vm->id,
			.nvcpus = (unsigned)vm->nvcpus,
			.mem_size = vm->mem_size,
			.state = (unsigned)v->state,
			.stop = (unsigned)v->stop,
			.exits_io = v->stats.exits[VM_EXIT_IO],
			.exits_hlt = v->stats.exits[VM_EXIT_HLT],
			.exits_hypercall = v->stats.exits[VM_EXIT_HYPERCALL],
			.exits_intr = v->stats.exits[VM_EXIT_INTR],
			.rendezvous = v->stats.rendezvous,
			.spurious = v->stats.spurious,
			.fpu_saves = v->stats.fpu_saves,
			.fpu_moves = v->stats.fpu_moves,
			.irqs = v->stats.irqs,
			.timer_fires = v->stats.timer_fires,
			.sipis = v->stats.sipis,
			.vms = (unsigned long)vm_user_count(),
			.exits_mmio = v->stats.exits[VM_EXIT_MMIO],
		};
		mutex_lock(&vm->lock);
		if (vm->faulted)
			strlcpy(in.fault, vm->fault, sizeof(in.fault));
		mutex_unlock(&vm->lock);
		err = copyout((uint64_t)uptr, &in, sizeof(in)) ? -EFAULT : 0;
	}
	vm_put(vm);
	return err;
}
