/*
 * arch/x86_64/svm.c - the AMD SVM backend of the vmm (vmm_backend.h).
 *
 * Theory
 *   SVM runs a guest with one instruction, VMRUN, given the physical
 *   address of a VMCB: a page holding what the guest may do without the
 *   host (the intercepts) and the guest's registers. The guest runs until
 *   something it may not do happens; then the CPU writes the reason into
 *   the VMCB (EXITCODE, EXITINFO1/2) and returns to the host right after
 *   its VMRUN: a #VMEXIT. svm_vmrun.asm is that trip; this file sets up
 *   the VMCBs, the nested page tables and the CPUs, and turns each exit
 *   into the core's backend-neutral struct vm_exit.
 *
 * What a guest may not do (the intercepts)
 *   HLT, any I/O port (the I/O permission map has every bit set), any MSR
 *   (the MSR map likewise), VMMCALL (our hypercall), every SVM instruction
 *   and XSETBV, and shutdown (a triple fault). Physical interrupts, NMI,
 *   SMI and INIT exit too, with V_INTR_MASKING: the host's timer and IPIs
 *   always get the CPU back, however the guest sets its own IF. That is
 *   what lets a spinning guest be preempted, and a rendezvous kick (an
 *   IPI) force a running vCPU out.
 *
 * What the backend does for a guest
 *   Of the intercepted instructions, RDMSR/WRMSR of EFER (a guest's way
 *   into long mode sets LME) and XSETBV (a guest turning on AVX) are
 *   emulated here (svm_vcpu_emulate); the core handles the rest. Interrupts
 *   reach the guest through the virtual interrupt line (V_IRQ with
 *   V_IGN_TPR): one vector offered at a time, taken by the guest at an
 *   instruction boundary with its IF set; the core keeps the others raised
 *   in its IRR until the line is free (svm_vcpu_offer_irq). A SIPI resets
 *   the VMCB's save area to the start state (svm_vcpu_reset).
 *
 * Memory: nested paging
 *   The guest's "physical" addresses go through a second set of page
 *   tables (nCR3), in the host's 4-level format, that map guest-physical
 *   [0, mem_size) onto the VM's kernel pages and nothing else: any other
 *   access exits with #NPF (exit code 0x400), which the core reports as a
 *   fault and stops the VM. Nested-table entries need the U bit: the CPU
 *   checks every guest access against them as a user access.
 *
 * Per CPU
 *   EFER.SVME must be set and MSR VM_HSAVE_PA must point at a page for the
 *   host's state on each CPU that runs a guest. Both happen the first time
 *   a vCPU runs on that CPU (interrupts off), so CPUs brought up later need
 *   no hook. Each CPU also has a page for the host's VMSAVE state.
 *
 * ASIDs
 *   Guest TLB entries are tagged with the VMCB's ASID, so the host's and
 *   each guest's translations can coexist. There are few ASIDs (QEMU has
 *   16), so each CPU hands them out in generations, as Linux's KVM does:
 *   a vCPU that arrives on a CPU, or whose ASID is from an older generation
 *   there, takes the next free one; when they run out, a new generation
 *   starts with a full flush (TLB_CONTROL = 1) and numbering restarts at 1.
 *   An ASID given out within a generation has never been used on that CPU
 *   since the last flush, so it needs no flush of its own. The first run
 *   on each CPU starts its first generation, with a flush.
 *
 * QEMU 7.2's TCG, the platform here, has no next-RIP save: the exit does
 *   not say how long the instruction was. Our intercepted instructions
 *   have one encoding each (HLT 1 byte, VMMCALL 3 bytes), and for I/O the
 *   CPU gives the next RIP in EXITINFO2.
 *
 * QEMU's multi-threaded TCG can also leave CPU 0 in guest mode after a
 *   #VMEXIT when another CPU restores FPU state (svm_cpu0_hazard; docs/
 *   vmm.md, "The QEMU erratum"): the core keeps guests off CPU 0 there,
 *   and decode_exit names the symptom (svm_exit_holds_host_state).
 *
 * Invariants
 *   - A VMCB is touched by its vCPU's thread only, and never while that
 *     vCPU is in the guest.
 *   - vcpu_run runs with interrupts off from the ASID choice to the exit,
 *     so it stays on one CPU; a migration between two runs is seen as a
 *     CPU change and gets a fresh ASID.
 *   - The clean bits are always 0: the CPU may cache nothing of a VMCB
 *     between runs, so no field can go stale when a vCPU changes CPU.
 */
#include <vmm_backend.h>
#include <arch.h>
#include <mm.h>
#include <percpu.h>
#include <printf.h>
#include <printk.h>
#include <spinlock.h>
#include <string.h>
#include <arch/fpu.h>
#include <arch/insn.h>
#include <arch/mmu.h>
#include <arch/svm.h>
#include <arch/x86.h>

#define EFER_LMA        (1UL << 10)
#define CR0_ET          (1UL << 4)
#define DR6_INIT        0xFFFF0FF0UL
#define DR7_INIT        0x400UL
#define PAT_POWER_ON    0x0007040600070406UL	/* WB, WT, UC-, UC, twice */
#define GUEST_CS        0x08
#define GUEST_DS        0x10
#define TSS_LIMIT       0x67

/* Nested page tables a VM may need: PML4, PDPT, PD and up to 8 page tables
 * of 2 MiB each, so 16 MiB of guest memory at most (vm.c's limit too). */
#define NPT_MAX_PTS     8
#define NPT_MAX_TABLES  (3 + NPT_MAX_PTS)
#define VM_MEM_MAX      (NPT_MAX_PTS * PT_LEVEL_SIZE(PT_LEVEL_PD))
#define NPT_ENTRY_BITS  (PTE_P | PTE_W | PTE_U)

struct svm_cpu {
	bool enabled;			/* EFER.SVME and VM_HSAVE_PA set on it */
	uint64_t hsave_pa;		/* VMRUN's host save area */
	uint64_t host_vmcb_pa;		/* the host's VMSAVE/VMLOAD state */
	uint32_t next_asid;		/* the next ASID of this generation */
	uint64_t generation;		/* starts at 0: nothing handed out yet */
};

struct svm_vm {
	enum pmm_for pages_for;		/* the VM's (vm_pages_for) */
	uint64_t pml4;			/* nCR3 */
	uint64_t tables[NPT_MAX_TABLES];
	int ntables;
};

struct svm_vcpu {
	struct vmcb *vmcb;		/* identity-mapped: also its physical address */
	struct svm_gprs gprs;
	int asid_cpu;			/* the CPU its ASID belongs to, -1 for none */
	uint64_t asid_generation;
	uint64_t reinject;		/* an event whose delivery an exit cut short
					 * (EXITINTINFO), for the next entry's EVENTINJ */
};

static struct svm_cpu svm_cpus[MAX_CPUS];
static uint32_t svm_nasid;		/* ASIDs 1 .. svm_nasid - 1 are usable */
static uint64_t iopm_pa, msrpm_pa;	/* shared by all VMCBs: every bit set */
static bool svm_ready;
static struct spinlock svm_init_lock = SPINLOCK_INIT("svm.init");

/* ---- can this machine do it? ---- */

/* svm_probe: NULL if SVM with nested paging is usable, else why not. */
static const char *svm_probe(void)
{
	if (cpuid(0x80000000, 0).eax < CPUID_SVM_FEATURES)
		return "the CPU has no CPUID leaf 8000_000Ah, so no AMD SVM (QEMU: use -cpu max)";
	if (!(cpuid(CPUID_EXT_FEATURES, 0).ecx & CPUID_EXT_ECX_SVM))
		return "the CPU has no AMD SVM (CPUID 8000_0001h ECX.SVM = 0; QEMU: use -cpu max)";
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS)
		return "SVM is disabled by the firmware (MSR VM_CR.SVMDIS = 1)";
	struct cpuid_regs r = cpuid(CPUID_SVM_FEATURES, 0);
	if (!(r.edx & CPUID_SVM_EDX_NP))
		return "SVM without nested paging (CPUID 8000_000Ah EDX.NP = 0; QEMU's "
		       "-cpu qemu64 lacks it: use -cpu max)";
	if (r.ebx < 2)
		return "SVM reports no usable ASID (CPUID 8000_000Ah EBX < 2)";
	return NULL;
}

/* Frees what a failed svm_global_init took. */
static void svm_global_undo(void)
{
	if (iopm_pa)
		pmm_free_pages(iopm_pa, 2);
	if (msrpm_pa)
		pmm_free_pages(msrpm_pa, 1);
	iopm_pa = msrpm_pa = 0;
	for (int c = 0; c < MAX_CPUS; c++) {
		if (svm_cpus[c].hsave_pa)
			pmm_free_page(svm_cpus[c].hsave_pa);
		if (svm_cpus[c].host_vmcb_pa)
			pmm_free_page(svm_cpus[c].host_vmcb_pa);
		svm_cpus[c].hsave_pa = svm_cpus[c].host_vmcb_pa = 0;
	}
}

/* Allocates what every VM shares, once: the permission maps and the per-
 * CPU pages, as the first VM's (vm_pages_for: a user's first VM takes
 * them as a user request, and gets -VM_ENOMEM, nothing kept, where that
 * would go into the kernel's half of the reserve). From vm_init (process
 * context); never sleeps. */
static int svm_global_init(enum pmm_for who)
{
	spin_lock(&svm_init_lock);
	if (svm_ready) {
		spin_unlock(&svm_init_lock);
		return 0;
	}
	svm_nasid = cpuid(CPUID_SVM_FEATURES, 0).ebx;
	iopm_pa = pmm_alloc_pages_for(2, who);	/* 16 KiB block for the 12 KiB map */
	msrpm_pa = pmm_alloc_pages_for(1, who);
	bool ok = iopm_pa && msrpm_pa;
	for (int c = 0; c < MAX_CPUS && ok; c++) {
		svm_cpus[c].hsave_pa = pmm_alloc_pages_for(0, who);
		svm_cpus[c].host_vmcb_pa = pmm_alloc_pages_for(0, who);
		ok = svm_cpus[c].hsave_pa && svm_cpus[c].host_vmcb_pa;
	}
	if (!ok) {
		svm_global_undo();
		spin_unlock(&svm_init_lock);
		return -VM_ENOMEM;
	}
	/* A set bit intercepts: every port and every MSR. */
	memset((void *)iopm_pa, 0xFF, SVM_IOPM_SIZE);
	memset((void *)msrpm_pa, 0xFF, SVM_MSRPM_SIZE);
	svm_ready = true;
	spin_unlock(&svm_init_lock);
	return 0;
}

/* Turns SVM on for the calling CPU. Interrupts off. */
static void svm_enable_this_cpu(struct svm_cpu *pc)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, pc->hsave_pa);
	pc->enabled = true;
}

/* ---- nested page tables ---- */

static uint64_t npt_table(struct svm_vm *sv)
{
	if (sv->ntables == NPT_MAX_TABLES)
		return 0;
	uint64_t pa = pmm_alloc_pages_for(0, sv->pages_for);	/* zeroed: nothing present */
	if (pa)
		sv->tables[sv->ntables++] = pa;
	return pa;
}

/* Maps guest-physical page gpa to host page hpa. */
static int npt_map(struct svm_vm *sv, uint64_t gpa, uint64_t hpa)
{
	uint64_t *table = (uint64_t *)sv->pml4;
	for (int level = PT_LEVEL_PML4; level > PT_LEVEL_PT; level--) {
		uint64_t *e = &table[PT_INDEX(gpa, level)];
		if (!(*e & PTE_P)) {
			uint64_t next = npt_table(sv);
			if (!next)
				return -VM_ENOMEM;
			*e = next | NPT_ENTRY_BITS;
		}
		table = (uint64_t *)(*e & PTE_ADDR_MASK);
	}
	table[PT_INDEX(gpa, PT_LEVEL_PT)] = hpa | NPT_ENTRY_BITS;
	return 0;
}

static void svm_vm_fini(struct vm *vm)
{
	struct svm_vm *sv = vm->backend;
	if (!sv)
		return;
	for (int i = 0; i < sv->ntables; i++)
		pmm_free_page(sv->tables[i]);
	kmem_free(sv);
	vm->backend = NULL;
}

/* svm_vm_init: nested page tables mapping guest-physical [0, mem_size)
 * onto the VM's pages, 4 KiB at a time. */
static int svm_vm_init(struct vm *vm)
{
	int err = svm_global_init(vm_pages_for(vm));
	if (err)
		return err;
	if (vm->mem_size > VM_MEM_MAX)
		return -VM_EINVAL;
	struct svm_vm *sv = kmem_zalloc(sizeof(*sv), vm_kmflags(vm));
	if (!sv)
		return -VM_ENOMEM;
	vm->backend = sv;
	sv->pages_for = vm_pages_for(vm);
	sv->pml4 = npt_table(sv);
	if (!sv->pml4) {
		svm_vm_fini(vm);
		return -VM_ENOMEM;
	}
	for (uint64_t off = 0; off < vm->mem_size; off += PAGE_SIZE) {
		err = npt_map(sv, off, vm->mem_pa + off);
		if (err) {
			svm_vm_fini(vm);
			return err;
		}
	}
	return 0;
}

/* ---- vCPUs ---- */

static void set_seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit)
{
	s->selector = sel;
	s->attrib = attrib;
	s->limit = limit;
	s->base = 0;
}

/*
 * The reset state of every vCPU: 32-bit protected mode with paging off
 * and flat 4 GiB segments, set straight in the save area (a guest needs no
 * GDT of its own until it reloads a segment register, as its way into
 * long mode does), SSE enabled (CR4.OSFXSR), no IDT (an exception becomes
 * a triple fault, which exits as SHUTDOWN), no interrupt offered.
 */
static void set_boot_state(struct svm_vcpu *sv, const struct vcpu_boot *boot)
{
	struct vmcb_save *s = &sv->vmcb->save;
	memset(s, 0, sizeof(*s));
	set_seg(&s->cs, GUEST_CS, SVM_ATTR_CODE32, 0xFFFFFFFF);
	set_seg(&s->ds, GUEST_DS, SVM_ATTR_DATA32, 0xFFFFFFFF);
	set_seg(&s->es, GUEST_DS, SVM_ATTR_DATA32, 0xFFFFFFFF);
	set_seg(&s->ss, GUEST_DS, SVM_ATTR_DATA32, 0xFFFFFFFF);
	set_seg(&s->fs, GUEST_DS, SVM_ATTR_DATA32, 0xFFFFFFFF);
	set_seg(&s->gs, GUEST_DS, SVM_ATTR_DATA32, 0xFFFFFFFF);
	set_seg(&s->tr, 0, SVM_ATTR_TSS32_BUSY, TSS_LIMIT);
	set_seg(&s->ldtr, 0, 0, 0);		/* no LDT */
	set_seg(&s->gdtr, 0, 0, 0);
	set_seg(&s->idtr, 0, 0, 0);
	s->cpl = 0;
	s->efer = EFER_SVME;		/* VMRUN refuses a guest EFER without it */
	s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
	s->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->cr3 = 0;
	s->dr6 = DR6_INIT;
	s->dr7 = DR7_INIT;
	s->g_pat = PAT_POWER_ON;
	s->rflags = RFLAGS_FIXED;
	s->rip = boot->entry;
	s->rsp = boot->stack;
	s->rax = 0;
	sv->gprs = (struct svm_gprs){ 0 };
	sv->gprs.rbx = boot->bx;
	sv->gprs.rcx = boot->cx;
	sv->gprs.rdx = boot->dx;
	sv->gprs.rsi = boot->si;
	sv->gprs.rdi = boot->di;
	sv->vmcb->control.v_intr = SVM_V_INTR_MASKING;
	sv->vmcb->control.event_inject = 0;
	sv->vmcb->control.interrupt_shadow = 0;
}

/* svm_vcpu_init: a VMCB with the intercepts below and the reset state. */
static int svm_vcpu_init(struct vcpu *v, const struct vcpu_boot *boot)
{
	struct svm_vcpu *sv = kmem_zalloc(sizeof(*sv), vm_kmflags(v->vm));
	if (!sv)
		return -VM_ENOMEM;
	uint64_t page = pmm_alloc_pages_for(0, vm_pages_for(v->vm));
	if (!page) {
		kmem_free(sv);
		return -VM_ENOMEM;
	}
	sv->vmcb = (struct vmcb *)page;
	sv->asid_cpu = -1;
	v->backend = sv;

	struct vmcb_control *c = &sv->vmcb->control;
	c->intercept1 = SVM_INTERCEPT_INTR | SVM_INTERCEPT_NMI | SVM_INTERCEPT_SMI |
			SVM_INTERCEPT_INIT | SVM_INTERCEPT_HLT | SVM_INTERCEPT_IOIO |
			SVM_INTERCEPT_MSR | SVM_INTERCEPT_SHUTDOWN | SVM_INTERCEPT_INVLPGA;
	c->intercept2 = SVM_INTERCEPT2_VMRUN | SVM_INTERCEPT2_VMMCALL | SVM_INTERCEPT2_VMLOAD |
			SVM_INTERCEPT2_VMSAVE | SVM_INTERCEPT2_STGI | SVM_INTERCEPT2_CLGI |
			SVM_INTERCEPT2_SKINIT | SVM_INTERCEPT2_XSETBV;
	c->iopm_base_pa = iopm_pa;
	c->msrpm_base_pa = msrpm_pa;
	c->np_enable = SVM_NP_ENABLE;
	c->n_cr3 = ((struct svm_vm *)v->vm->backend)->pml4;
	c->clean_bits = 0;

	set_boot_state(sv, boot);
	return 0;
}

static void svm_vcpu_reset(struct vcpu *v, const struct vcpu_boot *boot)
{
	struct svm_vcpu *sv = v->backend;
	set_boot_state(sv, boot);
	sv->reinject = 0;
	sv->asid_cpu = -1;		/* a fresh ASID: no translation of before the reset */
}

static void svm_vcpu_fini(struct vcpu *v)
{
	struct svm_vcpu *sv = v->backend;
	if (!sv)
		return;
	pmm_free_page((uint64_t)sv->vmcb);
	kmem_free(sv);
	v->backend = NULL;
}

/* Gives sv an ASID valid on this CPU (see "ASIDs" above). Interrupts off. */
static void assign_asid(struct svm_vcpu *sv, struct svm_cpu *pc, int cpu)
{
	struct vmcb_control *c = &sv->vmcb->control;
	if (sv->asid_cpu == cpu && sv->asid_generation == pc->generation) {
		c->tlb_control = SVM_TLB_DO_NOTHING;
		return;
	}
	c->tlb_control = SVM_TLB_DO_NOTHING;
	if (pc->generation == 0 || pc->next_asid >= svm_nasid) {
		pc->generation++;
		pc->next_asid = 1;
		c->tlb_control = SVM_TLB_FLUSH_ALL;
	}
	c->asid = pc->next_asid++;
	sv->asid_cpu = cpu;
	sv->asid_generation = pc->generation;
}

static uint32_t io_bytes(uint64_t info1)
{
	if (info1 & SVM_IOIO_SZ32)
		return 4;
	if (info1 & SVM_IOIO_SZ16)
		return 2;
	return 1;
}

/*
 * What QEMU's race leaves in a VMCB (svm_cpu0_hazard): the host's own
 * state, saved there by a second #VMEXIT taken while the host ran with
 * nested paging still on. Its signature: the RIP of our resume point after
 * VMRUN, long mode, and the host's own page tables in CR3 (the thread's,
 * unchanged since its VMRUN: interrupts are off). A guest that merely
 * executes at that address (it is low enough to be guest-physical memory
 * too) does not match, in long mode or not: its CR3 is its own.
 */
bool svm_exit_holds_host_state(const struct vmcb *vmcb)
{
	return vmcb->save.rip == (uint64_t)svm_vmrun_host_rip && (vmcb->save.efer & EFER_LMA) &&
	       vmcb->save.cr3 == read_cr3();
}

/* Turns the VMCB's exit fields into the core's record. */
static void decode_exit(struct svm_vcpu *sv, struct vm_exit *exit)
{
	struct vmcb_control *c = &sv->vmcb->control;
	struct vmcb_save *s = &sv->vmcb->save;
	/* a guest outside long mode sees only the low halves of registers */
	uint64_t mask = s->efer & EFER_LMA ? ~0UL : 0xFFFFFFFFUL;
	*exit = (struct vm_exit){ 0 };	/* a few stores: memset is a byte loop (-fno-builtin) */
	exit->code = c->exit_code;
	exit->rip = s->rip;
	exit->next_rip = s->rip;
	/* An exit in the middle of an event's delivery (the CPU's EXITINTINFO:
	 * QEMU's TCG fills it when the delivery itself exits, as a #NPF on the
	 * guest's stack does): the event is the guest's still, and the next
	 * entry delivers it again, as KVM's svm_complete_interrupts does. */
	uint64_t info = c->exit_int_info;
	exit->delivering = info & SVM_EVENT_VALID;
	exit->delivery_vector = SVM_EVENT_VECTOR(info);
	/* An INT n, INT3 or INTO is not delivered again but done again: RIP
	 * is still at it, and an event injected as a software one would push
	 * the return address the VMCB's next_rip says (with NRIPS), which
	 * nothing here sets (KVM sets it, svm_update_soft_interrupt_rip). */
	bool soft = SVM_EVENT_TYPE(info) == SVM_EVENT_TYPE_SOFT ||
		    (SVM_EVENT_TYPE(info) == SVM_EVENT_TYPE_EXCEPTION &&
		     (exit->delivery_vector == 3 || exit->delivery_vector == 4));
	sv->reinject = exit->delivering && !soft ? info : 0;
	if (svm_exit_holds_host_state(sv->vmcb)) {
		exit->reason = VM_EXIT_HOST_STATE;	/* see svm_cpu0_hazard */
		return;
	}
	switch (c->exit_code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
	case SVM_EXIT_INIT:
		exit->reason = VM_EXIT_INTR;	/* the guest resumes where it was */
		break;
	case SVM_EXIT_HLT:
		exit->reason = VM_EXIT_HLT;
		exit->next_rip = s->rip + SVM_HLT_LEN;
		break;
	case SVM_EXIT_IOIO: {
		uint64_t info = c->exit_info1;
		uint32_t bytes = io_bytes(info);
		exit->reason = VM_EXIT_IO;
		exit->next_rip = c->exit_info2;
		exit->io.port = (uint16_t)(info >> SVM_IOIO_PORT_SHIFT);
		exit->io.bytes = (uint8_t)bytes;
		exit->io.in = info & SVM_IOIO_TYPE_IN;
		exit->io.string = info & SVM_IOIO_STR;
		exit->io.value = (uint32_t)(s->rax & (bytes == 4 ? 0xFFFFFFFFu : (1u << (8 * bytes)) - 1));
		break;
	}
	case SVM_EXIT_VMMCALL:
		exit->reason = VM_EXIT_HYPERCALL;
		exit->next_rip = s->rip + SVM_VMMCALL_LEN;
		exit->hc.nr = s->rax & mask;
		exit->hc.a0 = sv->gprs.rbx & mask;
		exit->hc.a1 = sv->gprs.rcx & mask;
		exit->hc.a2 = sv->gprs.rdx & mask;
		break;
	case SVM_EXIT_MSR:
		exit->reason = VM_EXIT_ARCH;
		exit->next_rip = s->rip + SVM_MSR_LEN;
		break;
	case SVM_EXIT_XSETBV:
		exit->reason = VM_EXIT_ARCH;
		exit->next_rip = s->rip + SVM_XSETBV_LEN;
		break;
	case SVM_EXIT_NPF:
		exit->reason = VM_EXIT_NPF;
		exit->npf.gpa = c->exit_info2;
		exit->npf.error = c->exit_info1;
		exit->npf.write = c->exit_info1 & SVM_NPF_WRITE;
		exit->npf.fetch = c->exit_info1 & SVM_NPF_FETCH;
		exit->npf.walk = c->exit_info1 & SVM_NPF_GPT;
		break;
	case SVM_EXIT_SHUTDOWN:
		exit->reason = VM_EXIT_SHUTDOWN;
		break;
	case SVM_EXIT_INVALID:
		exit->reason = VM_EXIT_INVALID;
		break;
	default:
		exit->reason = VM_EXIT_OTHER;
		break;
	}
}

/* svm_vcpu_run: one trip into the guest (interrupts off throughout). */
static void svm_vcpu_run(struct vcpu *v, struct vm_exit *exit)
{
	struct svm_vcpu *sv = v->backend;
	int cpu = cpu_id();
	struct svm_cpu *pc = &svm_cpus[cpu];
	if (arch_irq_enabled())
		panic("svm_vcpu_run: %s: called with interrupts on", v->name);
	if (!pc->enabled)
		svm_enable_this_cpu(pc);
	assign_asid(sv, pc, cpu);
	if (sv->reinject) {
		sv->vmcb->control.event_inject = sv->reinject;
		sv->reinject = 0;
	}
	svm_vmrun(&sv->gprs, (uint64_t)sv->vmcb, pc->host_vmcb_pa);
	decode_exit(sv, exit);
}

/* The guest goes on at rip, past an instruction the host did for it: an
 * interrupt shadow that instruction was in (STI; HLT exits inside STI's)
 * ends with it, or the guest's next instruction would run with interrupts
 * blocked (bhyve and KVM clear it whenever they move RIP). */
static void set_rip(struct svm_vcpu *sv, uint64_t rip)
{
	sv->vmcb->save.rip = rip;
	sv->vmcb->control.interrupt_shadow = 0;
}

/* General register n (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI,
 * 7 RDI, 8-15 R8-R15: the ModRM order) of the guest, read and written
 * where it is kept: RAX and RSP in the VMCB, the rest in gprs. */
static uint64_t *gpr_slot(struct svm_vcpu *sv, unsigned n)
{
	struct svm_gprs *g = &sv->gprs;
	uint64_t *const regs[16] = { NULL, &g->rcx, &g->rdx, &g->rbx, NULL, &g->rbp, &g->rsi,
				     &g->rdi, &g->r8, &g->r9, &g->r10, &g->r11, &g->r12, &g->r13,
				     &g->r14, &g->r15 };
	return regs[n & 15];
}

static uint64_t gpr_get(struct svm_vcpu *sv, unsigned n)
{
	uint64_t *r = gpr_slot(sv, n);
	return r ? *r : (n & 15) == 0 ? sv->vmcb->save.rax : sv->vmcb->save.rsp;
}

static void gpr_set(struct svm_vcpu *sv, unsigned n, uint64_t value)
{
	uint64_t *r = gpr_slot(sv, n);
	if (r)
		*r = value;
	else if ((n & 15) == 0)
		sv->vmcb->save.rax = value;
	else
		sv->vmcb->save.rsp = value;
}

static void svm_vcpu_complete(struct vcpu *v, const struct vm_exit *exit, uint64_t value)
{
	struct svm_vcpu *sv = v->backend;
	struct vmcb_save *s = &sv->vmcb->save;
	set_rip(sv, exit->next_rip);
	if (exit->reason == VM_EXIT_IO && exit->io.in) {
		uint64_t mask = exit->io.bytes == 4 ? 0xFFFFFFFFUL : (1UL << (8 * exit->io.bytes)) - 1;
		s->rax = (s->rax & ~mask) | (value & mask);
	} else if (exit->reason == VM_EXIT_HYPERCALL) {
		s->rax = value;
	} else if (exit->reason == VM_EXIT_MMIO && !exit->mmio.write) {
		struct x86_mov m = { .bytes = exit->mmio.bytes, .reg = exit->mmio.reg,
				     .high8 = exit->mmio.high8 };
		gpr_set(sv, m.reg, x86_mov_load(&m, gpr_get(sv, m.reg), value));
	}
}

/*
 * Guest-physical address of the guest's linear address `la`, through its
 * own page tables as they are now: none (paging off) or long mode's four
 * levels; false with *why for anything else or a page not present. (Reads
 * only: the guest's accessed bits are left alone.)
 */
static bool guest_translate(struct vcpu *v, const struct vmcb_save *s, uint64_t la,
			    uint64_t *gpa, const char **why)
{
	if (!(s->cr0 & CR0_PG)) {
		*gpa = la & 0xFFFFFFFFUL;
		return true;
	}
	if (!(s->efer & EFER_LMA) || (s->cr4 & CR4_LA57)) {
		*why = "the guest pages other than with long mode's four levels, which this "
		       "decoder does not walk";
		return false;
	}
	uint64_t table = s->cr3 & PTE_ADDR_MASK;
	for (int level = PT_LEVEL_PML4; level >= PT_LEVEL_PT; level--) {
		const volatile uint64_t *p = vm_gpa_ptr(v->vm, table + 8 * PT_INDEX(la, level), 8);
		/* read once: another vCPU may write it meanwhile */
		uint64_t e = p ? *p : 0;
		if (!(e & PTE_P) || (level == PT_LEVEL_PML4 && (e & PTE_PS))) {
			*why = "the instruction's page is not mapped in the guest";
			return false;
		}
		if (level == PT_LEVEL_PT || (e & PTE_PS)) {
			uint64_t size = 1UL << (12 + 9 * (level - PT_LEVEL_PT));
			*gpa = (e & PTE_ADDR_MASK & ~(size - 1)) | (la & (size - 1));
			return true;
		}
		table = e & PTE_ADDR_MASK;
	}
	return false;			/* not reached */
}

static uint64_t gpr_read(void *sv, unsigned n)
{
	return gpr_get(sv, n);
}

/* The base of the segment m's operand is in: in 64-bit code only FS and GS
 * have one; elsewhere the prefix's, or DS (SS with RSP or RBP as base). */
static uint64_t segment_base(const struct vmcb_save *s, const struct x86_mov *m, bool long_mode)
{
	switch (m->segment) {
	case 0x64: return s->fs.base;
	case 0x65: return s->gs.base;
	}
	if (long_mode)
		return 0;
	switch (m->segment) {
	case 0x26: return s->es.base;
	case 0x2E: return s->cs.base;
	case 0x36: return s->ss.base;
	case 0x3E: return s->ds.base;
	}
	return m->base == 4 || m->base == 5 ? s->ss.base : s->ds.base;
}

static int svm_vcpu_decode_mmio(struct vcpu *v, struct vm_exit *exit, char *why, size_t len)
{
	struct svm_vcpu *sv = v->backend;
	const struct vmcb_save *s = &sv->vmcb->save;
	bool long_mode = (s->efer & EFER_LMA) && (s->cs.attrib & SVM_ATTR_L);
	const char *w = NULL;
	if (!long_mode && (!(s->cr0 & CR0_PE) || !(s->cs.attrib & SVM_ATTR_DB))) {
		snprintf(why, len, "16-bit code, which this decoder does not read");
		return -1;
	}
	if (exit->npf.walk) {
		snprintf(why, len, "the guest's own page-table walk reached it, not an instruction's "
			 "access");
		return -1;
	}
	uint64_t gpa = exit->npf.gpa;
	/* The instruction's bytes, a page at a time (it may cross one): one
	 * walk of the guest's tables for each, and no byte past its memory. */
	uint8_t code[X86_INSN_MAX];
	unsigned n = 0;
	while (n < X86_INSN_MAX) {
		/* 64-bit code ignores CS's base; other code wraps at 4 GiB */
		uint64_t la = long_mode ? s->rip + n : (uint32_t)(s->cs.base + s->rip + n);
		uint64_t code_gpa;
		if (!guest_translate(v, s, la, &code_gpa, &w))
			break;
		unsigned chunk = MIN(X86_INSN_MAX - n, PAGE_SIZE - (unsigned)(la & (PAGE_SIZE - 1)));
		const uint8_t *p = vm_gpa_ptr(v->vm, code_gpa, 1);
		if (!p) {
			w = "the instruction is outside the guest's memory";
			break;
		}
		/* guest memory is contiguous: the chunk is, but the memory may
		 * end inside it */
		unsigned k = (unsigned)MIN(chunk, v->vm->mem_size - code_gpa);
		for (unsigned j = 0; j < k; j++)
			code[n + j] = p[j];
		n += k;
		if (k < chunk) {
			w = "the instruction is outside the guest's memory";
			break;
		}
	}
	struct x86_mov m;
	if (n == 0 || x86_decode_mov(code, n, long_mode, &m, &w) < 0) {
		snprintf(why, len, "%s", w);
		return -1;
	}
	if (m.write != exit->npf.write) {
		snprintf(why, len, "the instruction is a %s, the fault a %s", m.write ? "store" : "load",
			 m.write ? "read" : "write");
		return -1;
	}
	/* Where the access begins: the fault names the page it faulted on,
	 * which for an access across two pages, the first of them memory the
	 * guest has, is the second. Part of such an access is memory: one
	 * exit cannot say it, so it is refused, as is an operand the fault's
	 * address does not match. */
	uint64_t ea = x86_mov_address(&m, gpr_read, sv, s->rip + m.len, long_mode);
	uint64_t la = segment_base(s, &m, long_mode) + ea;
	if (!long_mode)
		la = (uint32_t)la;
	if ((la & (PAGE_SIZE - 1)) + m.bytes > PAGE_SIZE) {
		snprintf(why, len, "the %u-byte access at 0x%lx crosses a page", m.bytes, la);
		return -1;
	}
	if ((la & (PAGE_SIZE - 1)) != (gpa & (PAGE_SIZE - 1))) {
		snprintf(why, len, "the instruction's operand is at 0x%lx, not on that page", la);
		return -1;
	}
	exit->reason = VM_EXIT_MMIO;
	exit->next_rip = s->rip + m.len;
	exit->mmio.gpa = gpa;
	exit->mmio.bytes = (uint8_t)m.bytes;
	exit->mmio.write = m.write;
	exit->mmio.value = m.write ? x86_mov_source(&m, gpr_get(sv, m.reg)) : 0;
	exit->mmio.reg = (uint8_t)m.reg;
	exit->mmio.high8 = m.high8;
	return 0;
}

/*
 * svm_vcpu_emulate: the guest's RDMSR/WRMSR of EFER and its XSETBV.
 *
 * EFER: a guest's way into long mode sets LME (then CR0.PG, which the CPU
 * answers with LMA); it may also set SCE and NXE. SVME stays set under it
 * (VMRUN refuses a guest EFER without it) and reads back clear. Any other
 * MSR, or another EFER bit, is refused: the VM stops with a message.
 *
 * XSETBV: XCR0 is not switched between host and guest (SVM does not, and
 * the host's XSAVE area format follows it), so the guest runs with the
 * host's: it may set XCR0 to exactly that, which is what a guest that
 * wants x87, SSE and AVX asks for on this host.
 */
static int svm_vcpu_emulate(struct vcpu *v, const struct vm_exit *exit, char *why, size_t len)
{
	struct svm_vcpu *sv = v->backend;
	struct vmcb_save *s = &sv->vmcb->save;
	uint32_t ecx = (uint32_t)sv->gprs.rcx;
	uint64_t value = (sv->gprs.rdx & 0xFFFFFFFFUL) << 32 | (s->rax & 0xFFFFFFFFUL);
	const uint64_t efer_ok = EFER_LME | EFER_NXE | EFER_SCE;
	if (exit->code == SVM_EXIT_MSR && ecx == MSR_EFER) {
		if (sv->vmcb->control.exit_info1 == 0) {	/* RDMSR */
			uint64_t efer = s->efer & ~EFER_SVME;
			s->rax = efer & 0xFFFFFFFFUL;
			sv->gprs.rdx = efer >> 32;
		} else {
			if (value & ~(efer_ok | EFER_LMA)) {
				snprintf(why, len, "WRMSR EFER 0x%lx at rip 0x%lx: only LME, NXE and "
					 "SCE may be set", value, exit->rip);
				return -1;
			}
			s->efer = (s->efer & EFER_LMA) | (value & efer_ok) | EFER_SVME;
		}
		set_rip(sv, exit->next_rip);
		return 0;
	}
	if (exit->code == SVM_EXIT_MSR) {
		snprintf(why, len, "%s of MSR 0x%x, which the vmm does not emulate, at rip 0x%lx",
			 sv->vmcb->control.exit_info1 ? "WRMSR" : "RDMSR", ecx, exit->rip);
		return -1;
	}
	uint64_t host = read_cr4() & CR4_OSXSAVE ? xgetbv(XCR_XFEATURE_ENABLED_MASK) : 0;
	if (exit->code == SVM_EXIT_XSETBV && ecx == XCR_XFEATURE_ENABLED_MASK && host &&
	    value == host) {
		set_rip(sv, exit->next_rip);
		return 0;
	}
	snprintf(why, len, "XSETBV of XCR%u = 0x%lx at rip 0x%lx: a guest here may set XCR0 to "
		 "the host's, 0x%lx, and nothing else", ecx, value, exit->rip, host);
	return -1;
}

static bool svm_vcpu_offer_irq(struct vcpu *v, int vector)
{
	struct vmcb_control *c = &((struct svm_vcpu *)v->backend)->vmcb->control;
	if (c->v_intr & SVM_V_IRQ)
		return false;			/* the last one not taken yet */
	c->v_intr_vector = (uint32_t)vector & 0xFF;
	c->v_intr |= SVM_V_IRQ | SVM_V_IGN_TPR | 0xFu << SVM_V_INTR_PRIO_SHIFT;
	return true;
}

static bool svm_vcpu_irq_waiting(struct vcpu *v)
{
	return ((struct svm_vcpu *)v->backend)->vmcb->control.v_intr & SVM_V_IRQ;
}

static bool svm_vcpu_irq_enabled(struct vcpu *v)
{
	return ((struct svm_vcpu *)v->backend)->vmcb->save.rflags & RFLAGS_IF;
}

/*
 * QEMU's TCG, and only it, has the fault of docs/vmm.md ("The QEMU
 * erratum"): any CPU's FXRSTOR, XRSTOR, FRSTOR or FLDENV clears a bit in
 * CPU 0's hidden flags word with a plain read-modify-write from its own
 * host thread, and can write back a stale copy of the word over CPU 0's
 * switch into or out of a guest. QEMU says it is TCG in CPUID leaf
 * 4000_0000h.
 */
static const char *svm_cpu0_hazard(void)
{
	static const char *hazard;
	static bool looked;
	if (!looked) {
		if (cpuid(1, 0).ecx & CPUID_ECX_HYPERVISOR) {
			struct cpuid_regs r = cpuid(CPUID_HV_BASE, 0);
			const uint32_t name[3] = { r.ebx, r.ecx, r.edx };
			if (memcmp(name, "TCGTCGTCGTCG", sizeof(name)) == 0)
				hazard = "QEMU's TCG may leave CPU 0 in guest mode after a #VMEXIT "
					 "when another CPU restores FPU state";
		}
		looked = true;
	}
	return hazard;
}

static uint64_t svm_vcpu_rip(struct vcpu *v)
{
	struct svm_vcpu *sv = v->backend;
	return sv ? sv->vmcb->save.rip : 0;
}

static const struct vmm_backend svm_backend = {
	.name = "svm",
	.probe = svm_probe,
	.vm_init = svm_vm_init,
	.vm_fini = svm_vm_fini,
	.vcpu_init = svm_vcpu_init,
	.vcpu_fini = svm_vcpu_fini,
	.vcpu_run = svm_vcpu_run,
	.vcpu_complete = svm_vcpu_complete,
	.vcpu_emulate = svm_vcpu_emulate,
	.vcpu_decode_mmio = svm_vcpu_decode_mmio,
	.vcpu_offer_irq = svm_vcpu_offer_irq,
	.vcpu_irq_waiting = svm_vcpu_irq_waiting,
	.vcpu_irq_enabled = svm_vcpu_irq_enabled,
	.vcpu_reset = svm_vcpu_reset,
	.vcpu_rip = svm_vcpu_rip,
	.cpu0_hazard = svm_cpu0_hazard,
};

const struct vmm_backend *arch_vmm_backend(void)
{
	return &svm_backend;
}
