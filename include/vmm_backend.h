/*
 * vmm_backend.h - the seam between the portable vmm core (kernel/vmm/) and
 * the hardware virtualization of an architecture (arch/x86_64/svm.c).
 *
 * The core never touches a VMCB, a nested page table or an instruction: it
 * calls these ops, which arch_vmm_backend() returns once. The backend sees
 * struct vm and struct vcpu (vmm.h) and keeps its own state behind their
 * `backend` pointers. Unless said otherwise an op is called from the vCPU's
 * own thread (vcpu ops) or from vm_create/vm_destroy (vm ops), may sleep,
 * and returns 0 or a negative VM_E* error. vm_init and vcpu_init take
 * their memory as vm_kmflags and vm_pages_for say.
 */
#ifndef VMM_BACKEND_H
#define VMM_BACKEND_H

#include <mm.h>
#include <vmm.h>

/*
 * Where a VM's kernel structures come from. Those of a VM driven from user
 * space (vm_config.user) are the kernel side of a user request: they may
 * take the kernel's pools only down to half the reserve (KM_USER,
 * PMM_KERNEL_FOR_USER; docs/mm.md "The reserve"), and get NULL there,
 * which vm_create returns as -VM_ENOMEM. A kernel VM's are the kernel's
 * own (KM_SLEEP, PMM_KERNEL).
 */
static inline int vm_kmflags(const struct vm *vm)
{
	return vm->cfg.user ? KM_USER : KM_SLEEP;
}

static inline enum pmm_for vm_pages_for(const struct vm *vm)
{
	return vm->cfg.user ? PMM_KERNEL_FOR_USER : PMM_KERNEL;
}

/* Where and how a vCPU starts (the guest's registers at reset). */
struct vcpu_boot {
	uint64_t entry;		/* first instruction (guest-physical) */
	uint64_t stack;		/* initial stack pointer */
	uint64_t bx, cx, dx, si, di;
};

struct vmm_backend {
	const char *name;
	/* NULL if the machine can run guests, else one line saying why not. */
	const char *(*probe)(void);
	/* Maps guest-physical [0, vm->mem_size) onto vm->mem_pa (and nothing else). */
	int (*vm_init)(struct vm *vm);
	void (*vm_fini)(struct vm *vm);
	int (*vcpu_init)(struct vcpu *v, const struct vcpu_boot *boot);
	void (*vcpu_fini)(struct vcpu *v);
	/*
	 * Enters the guest once and describes the exit in *exit. Called and
	 * returns with interrupts off: a host interrupt that arrives meanwhile
	 * ends the guest's turn (VM_EXIT_INTR) and is taken when the caller
	 * enables interrupts again. Never sleeps.
	 */
	void (*vcpu_run)(struct vcpu *v, struct vm_exit *exit);
	/* Finishes an exit: the guest resumes at exit->next_rip, and an IN or
	 * a hypercall returns `value` in the accumulator, an MMIO load in its
	 * register. */
	void (*vcpu_complete)(struct vcpu *v, const struct vm_exit *exit, uint64_t value);
	/*
	 * An exit of reason VM_EXIT_ARCH: an instruction of the architecture's
	 * own that the backend emulates (on x86: RDMSR/WRMSR of EFER, which a
	 * guest's way into long mode writes, and XSETBV). Returns 0 with the
	 * instruction done (the guest resumes after it), or -1 with why into
	 * why[len] (the core stops the VM with it).
	 */
	int (*vcpu_emulate)(struct vcpu *v, const struct vm_exit *exit, char *why, size_t len);
	/*
	 * An NPF exit of a VM driven from user space, outside its memory:
	 * fetches and decodes the instruction at the guest's RIP (x86: a MOV,
	 * arch/insn.h) and makes the exit a VM_EXIT_MMIO with the access and
	 * next_rip. Returns 0, or -1 with why into why[len] (not such an
	 * instruction, or one it cannot fetch).
	 */
	int (*vcpu_decode_mmio)(struct vcpu *v, struct vm_exit *exit, char *why, size_t len);
	/*
	 * The virtual interrupt line (x86: V_IRQ): offers `vector` to the
	 * guest, which takes it at its next instruction with interrupts
	 * enabled. Returns false, changing nothing, while an offered one has
	 * not been taken yet. From the vCPU's thread, between two entries.
	 */
	bool (*vcpu_offer_irq)(struct vcpu *v, int vector);
	/* Whether an offered vector is still on the line, not taken (a guest
	 * that halts with it there, as `sti; hlt` does, is woken by it). */
	bool (*vcpu_irq_waiting)(struct vcpu *v);
	/* Whether the guest takes interrupts now (x86: RFLAGS.IF): a HLT with
	 * them off waits for none (bhyve's vm_handle_hlt, intr_disabled). */
	bool (*vcpu_irq_enabled)(struct vcpu *v);
	/* Puts v back in its reset state with boot's registers (a SIPI's
	 * start: bhyve's vcpu_reset + the start at the SIPI's page). */
	void (*vcpu_reset)(struct vcpu *v, const struct vcpu_boot *boot);
	/* The guest's instruction pointer (for messages and the monitor). */
	uint64_t (*vcpu_rip)(struct vcpu *v);
	/* NULL, or one line naming the emulator fault that makes entering a
	 * guest on CPU 0 unsafe while other CPUs run (vmm_keep_off_cpu0). */
	const char *(*cpu0_hazard)(void);
};

/* The architecture's backend (never NULL; its probe says if it works). */
const struct vmm_backend *arch_vmm_backend(void);

#endif
