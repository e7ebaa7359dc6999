/*
 * arch/svm.h - AMD SVM (Secure Virtual Machine): the VMCB and the names of
 * its fields and bits, from the AMD64 Architecture Programmer's Manual,
 * Volume 2, chapter 15 and appendix B ("Layout of VMCB"). Every offset
 * below is checked against the manual's table by a _Static_assert, so a
 * typo in the struct cannot go unnoticed.
 */
#ifndef ARCH_SVM_H
#define ARCH_SVM_H

#include <kernel.h>

/* CPUID (APM vol. 3, appendix E) */
#define CPUID_EXT_FEATURES     0x80000001	/* ECX bit 2: SVM */
#define CPUID_EXT_ECX_SVM      (1u << 2)
#define CPUID_SVM_FEATURES     0x8000000A	/* EBX: number of ASIDs; EDX: features */
#define CPUID_SVM_EDX_NP       (1u << 0)	/* nested paging */
#define CPUID_SVM_EDX_NRIPS    (1u << 3)	/* next-RIP save on exits */
#define CPUID_ECX_HYPERVISOR   (1u << 31)	/* leaf 1: running under a hypervisor */
#define CPUID_HV_BASE          0x40000000	/* EBX-ECX-EDX: the hypervisor's name */

/* MSRs (APM vol. 2, 15.30) */
#define MSR_VM_CR              0xC0010114
#define VM_CR_SVMDIS           (1u << 4)	/* SVM disabled by the firmware */
#define MSR_VM_HSAVE_PA        0xC0010117	/* the CPU's host save area */

/* VMCB control area: the intercept vectors at 0x00C and 0x010 (table B-1) */
#define SVM_INTERCEPT_INTR     (1u << 0)	/* physical interrupts */
#define SVM_INTERCEPT_NMI      (1u << 1)
#define SVM_INTERCEPT_SMI      (1u << 2)
#define SVM_INTERCEPT_INIT     (1u << 3)
#define SVM_INTERCEPT_INVD     (1u << 22)
#define SVM_INTERCEPT_HLT      (1u << 24)
#define SVM_INTERCEPT_INVLPGA  (1u << 26)
#define SVM_INTERCEPT_IOIO     (1u << 27)	/* I/O ports, through the IOPM */
#define SVM_INTERCEPT_MSR      (1u << 28)	/* MSRs, through the MSRPM */
#define SVM_INTERCEPT_SHUTDOWN (1u << 31)
#define SVM_INTERCEPT2_VMRUN   (1u << 0)	/* must be set, or VMRUN fails */
#define SVM_INTERCEPT2_VMMCALL (1u << 1)
#define SVM_INTERCEPT2_VMLOAD  (1u << 2)
#define SVM_INTERCEPT2_VMSAVE  (1u << 3)
#define SVM_INTERCEPT2_STGI    (1u << 4)
#define SVM_INTERCEPT2_CLGI    (1u << 5)
#define SVM_INTERCEPT2_SKINIT  (1u << 6)
#define SVM_INTERCEPT2_XSETBV  (1u << 13)

/* TLB_CONTROL (byte at 0x05C) */
#define SVM_TLB_DO_NOTHING     0
#define SVM_TLB_FLUSH_ALL      1	/* every ASID: valid on every SVM CPU */

/* V_INTR (0x060): with V_INTR_MASKING, the guest's RFLAGS.IF masks only
 * virtual interrupts, and physical ones follow the host's IF as it was at
 * VMRUN; so a guest running with IF clear cannot keep the host's timer out. */
#define SVM_V_INTR_MASKING     (1u << 24)
/* The virtual interrupt line (APM vol. 2, 15.21.4): V_IRQ offers the vector
 * in V_INTR_VECTOR (0x064) to the guest, which takes it at an instruction
 * boundary with its RFLAGS.IF set; the CPU clears V_IRQ as it does. With
 * V_IGN_TPR the guest's task priority does not hold it back. */
#define SVM_V_IRQ              (1u << 8)
#define SVM_V_INTR_PRIO_SHIFT  16
#define SVM_V_IGN_TPR          (1u << 20)

/* NP_ENABLE (0x090) */
#define SVM_NP_ENABLE          (1u << 0)

/* Exit codes (EXITCODE at 0x070; appendix C) */
#define SVM_EXIT_EXCP_BASE     0x040	/* + vector */
#define SVM_EXIT_INTR          0x060
#define SVM_EXIT_NMI           0x061
#define SVM_EXIT_SMI           0x062
#define SVM_EXIT_INIT          0x063
#define SVM_EXIT_CPUID         0x072
#define SVM_EXIT_HLT           0x078
#define SVM_EXIT_IOIO          0x07B
#define SVM_EXIT_MSR           0x07C
#define SVM_EXIT_SHUTDOWN      0x07F
#define SVM_EXIT_VMRUN         0x080
#define SVM_EXIT_VMMCALL       0x081
#define SVM_EXIT_XSETBV        0x08D
#define SVM_EXIT_NPF           0x400
#define SVM_EXIT_INVALID       ((uint64_t)-1)	/* VMRUN refused the guest state */

/* IOIO exit: EXITINFO1 (15.10.2); EXITINFO2 holds the RIP of the next
 * instruction even without the next-RIP feature. */
#define SVM_IOIO_TYPE_IN       (1u << 0)
#define SVM_IOIO_STR           (1u << 2)
#define SVM_IOIO_REP           (1u << 3)
#define SVM_IOIO_SZ8           (1u << 4)
#define SVM_IOIO_SZ16          (1u << 5)
#define SVM_IOIO_SZ32          (1u << 6)
#define SVM_IOIO_PORT_SHIFT    16

/* NPF exit: EXITINFO1 is a page-fault error code, EXITINFO2 the guest-
 * physical address (15.25.6). */
#define SVM_NPF_P              (1u << 0)
#define SVM_NPF_WRITE          (1u << 1)
#define SVM_NPF_FETCH          (1u << 4)
#define SVM_NPF_GPA            (1UL << 32)	/* the fault was the access's own address */
#define SVM_NPF_GPT            (1UL << 33)	/* ... the guest's page-table walk's */

/* Instruction lengths the backend must know itself: QEMU's TCG has no
 * next-RIP save (ARCHITECTURE.md), and these are the only encodings. */
#define SVM_HLT_LEN            1	/* F4 */
#define SVM_VMMCALL_LEN        3	/* 0F 01 D9 */
#define SVM_MSR_LEN            2	/* RDMSR 0F 32, WRMSR 0F 30 */
#define SVM_XSETBV_LEN         3	/* 0F 01 D1 */

/* Segment attributes in the VMCB's compressed form: descriptor bits 40-47
 * (type, S, DPL, P) in attrib 0-7 and bits 52-55 (AVL, L, D/B, G) in 8-11. */
#define SVM_ATTR_CODE32        0x0C9B	/* G, D, P, S, execute/read, accessed */
#define SVM_ATTR_DATA32        0x0C93	/* G, B, P, S, read/write, accessed */
#define SVM_ATTR_TSS32_BUSY    0x008B	/* P, 32-bit busy TSS */
#define SVM_ATTR_LDT           0x0082	/* P, LDT */
#define SVM_ATTR_L             0x0200	/* a 64-bit code segment */
#define SVM_ATTR_DB            0x0400	/* a 32-bit one (D), outside long mode */

/* EVENTINJ and EXITINTINFO: vector 7:0, type 10:8, error code valid 11,
 * valid 31, the error code in 63:32 (APM vol. 2, 15.20 and 15.7.2). */
#define SVM_EVENT_VALID        (1UL << 31)
#define SVM_EVENT_VECTOR(e)    ((uint32_t)(e) & 0xFF)
#define SVM_EVENT_TYPE(e)      (((uint32_t)(e) >> 8) & 7)
#define SVM_EVENT_TYPE_EXCEPTION 3
#define SVM_EVENT_TYPE_SOFT      4	/* INT n */

#define SVM_IOPM_SIZE          (3 * PAGE_SIZE)	/* 12 KiB: a bit per port (+1 page) */
#define SVM_MSRPM_SIZE         (2 * PAGE_SIZE)	/* 8 KiB: two bits per MSR */

struct vmcb_seg {
	uint16_t selector;
	uint16_t attrib;
	uint32_t limit;
	uint64_t base;
} __packed;

/* Table B-1: the control area, offsets 0x000-0x3FF. */
struct vmcb_control {
	uint16_t intercept_cr_read;	/* 0x000 */
	uint16_t intercept_cr_write;	/* 0x002 */
	uint16_t intercept_dr_read;	/* 0x004 */
	uint16_t intercept_dr_write;	/* 0x006 */
	uint32_t intercept_exceptions;	/* 0x008 */
	uint32_t intercept1;		/* 0x00C: SVM_INTERCEPT_* */
	uint32_t intercept2;		/* 0x010: SVM_INTERCEPT2_* */
	uint8_t reserved1[0x03C - 0x014];
	uint16_t pause_filter_thresh;	/* 0x03C */
	uint16_t pause_filter_count;	/* 0x03E */
	uint64_t iopm_base_pa;		/* 0x040 */
	uint64_t msrpm_base_pa;		/* 0x048 */
	uint64_t tsc_offset;		/* 0x050 */
	uint32_t asid;			/* 0x058 */
	uint8_t tlb_control;		/* 0x05C */
	uint8_t reserved2[3];
	uint32_t v_intr;		/* 0x060: V_TPR, V_IRQ, V_INTR_MASKING, ... */
	uint32_t v_intr_vector;		/* 0x064 */
	uint64_t interrupt_shadow;	/* 0x068 */
	uint64_t exit_code;		/* 0x070 */
	uint64_t exit_info1;		/* 0x078 */
	uint64_t exit_info2;		/* 0x080 */
	uint64_t exit_int_info;		/* 0x088 */
	uint64_t np_enable;		/* 0x090 */
	uint8_t reserved3[0x0A8 - 0x098];
	uint64_t event_inject;		/* 0x0A8 */
	uint64_t n_cr3;			/* 0x0B0: the nested page tables */
	uint64_t lbr_virt_enable;	/* 0x0B8 */
	uint32_t clean_bits;		/* 0x0C0 */
	uint32_t reserved4;
	uint64_t next_rip;		/* 0x0C8: only with NRIPS */
	uint8_t insn_len;		/* 0x0D0 */
	uint8_t insn_bytes[15];
	uint8_t reserved5[0x400 - 0x0E0];
} __packed;

/* Table B-2: the state save area, at 0x400 in the VMCB. */
struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs;	/* 0x000 - 0x05F */
	struct vmcb_seg gdtr, ldtr, idtr, tr;	/* 0x060 - 0x09F */
	uint8_t reserved1[0x0CB - 0x0A0];
	uint8_t cpl;			/* 0x0CB */
	uint32_t reserved2;
	uint64_t efer;			/* 0x0D0 */
	uint8_t reserved3[0x148 - 0x0D8];
	uint64_t cr4;			/* 0x148 */
	uint64_t cr3;			/* 0x150 */
	uint64_t cr0;			/* 0x158 */
	uint64_t dr7;			/* 0x160 */
	uint64_t dr6;			/* 0x168 */
	uint64_t rflags;		/* 0x170 */
	uint64_t rip;			/* 0x178 */
	uint8_t reserved4[0x1D8 - 0x180];
	uint64_t rsp;			/* 0x1D8 */
	uint8_t reserved5[0x1F8 - 0x1E0];
	uint64_t rax;			/* 0x1F8 */
	uint64_t star;			/* 0x200 */
	uint64_t lstar;			/* 0x208 */
	uint64_t cstar;			/* 0x210 */
	uint64_t sfmask;		/* 0x218 */
	uint64_t kernel_gs_base;	/* 0x220 */
	uint64_t sysenter_cs;		/* 0x228 */
	uint64_t sysenter_esp;		/* 0x230 */
	uint64_t sysenter_eip;		/* 0x238 */
	uint64_t cr2;			/* 0x240 */
	uint8_t reserved6[0x268 - 0x248];
	uint64_t g_pat;			/* 0x268 */
} __packed;

/* The VMCB: one 4 KiB page per vCPU, 4 KiB aligned. */
struct vmcb {
	struct vmcb_control control;
	struct vmcb_save save;
	uint8_t reserved[PAGE_SIZE - 0x400 - sizeof(struct vmcb_save)];
} __packed;

#define VMCB_CHECK(s, f, off) _Static_assert(offsetof(struct s, f) == (off), #s "." #f)
VMCB_CHECK(vmcb_control, intercept1, 0x00C);
VMCB_CHECK(vmcb_control, intercept2, 0x010);
VMCB_CHECK(vmcb_control, iopm_base_pa, 0x040);
VMCB_CHECK(vmcb_control, msrpm_base_pa, 0x048);
VMCB_CHECK(vmcb_control, asid, 0x058);
VMCB_CHECK(vmcb_control, tlb_control, 0x05C);
VMCB_CHECK(vmcb_control, v_intr, 0x060);
VMCB_CHECK(vmcb_control, exit_code, 0x070);
VMCB_CHECK(vmcb_control, exit_info1, 0x078);
VMCB_CHECK(vmcb_control, exit_info2, 0x080);
VMCB_CHECK(vmcb_control, exit_int_info, 0x088);
VMCB_CHECK(vmcb_control, np_enable, 0x090);
VMCB_CHECK(vmcb_control, event_inject, 0x0A8);
VMCB_CHECK(vmcb_control, n_cr3, 0x0B0);
VMCB_CHECK(vmcb_control, clean_bits, 0x0C0);
VMCB_CHECK(vmcb_control, next_rip, 0x0C8);
VMCB_CHECK(vmcb_save, cs, 0x010);
VMCB_CHECK(vmcb_save, gdtr, 0x060);
VMCB_CHECK(vmcb_save, tr, 0x090);
VMCB_CHECK(vmcb_save, cpl, 0x0CB);
VMCB_CHECK(vmcb_save, efer, 0x0D0);
VMCB_CHECK(vmcb_save, cr4, 0x148);
VMCB_CHECK(vmcb_save, cr0, 0x158);
VMCB_CHECK(vmcb_save, rflags, 0x170);
VMCB_CHECK(vmcb_save, rip, 0x178);
VMCB_CHECK(vmcb_save, rsp, 0x1D8);
VMCB_CHECK(vmcb_save, rax, 0x1F8);
VMCB_CHECK(vmcb_save, cr2, 0x240);
VMCB_CHECK(vmcb_save, g_pat, 0x268);
VMCB_CHECK(vmcb, save, 0x400);
_Static_assert(sizeof(struct vmcb) == PAGE_SIZE, "a VMCB is one page");
#undef VMCB_CHECK

/*
 * The guest's general registers that VMRUN does not switch (RAX and RSP
 * live in the VMCB). svm_vmrun.asm loads them before VMRUN and stores them
 * after #VMEXIT; the offsets there must match this order.
 */
struct svm_gprs {
	uint64_t rbx, rcx, rdx, rsi, rdi, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

/* svm_vmrun.asm: one trip into the guest. Interrupts off on entry and on
 * return; host_vmcb_pa is this CPU's area for the host's VMSAVE state. */
void svm_vmrun(struct svm_gprs *gprs, uint64_t guest_vmcb_pa, uint64_t host_vmcb_pa);
/* The instruction after svm_vmrun's VMRUN: where the host goes on after an
 * exit (svm_exit_holds_host_state). */
extern const char svm_vmrun_host_rip[];
/* True if vmcb's save area holds the host's own state after an exit, as
 * QEMU's TCG race leaves it (svm.c; docs/vmm.md, "The QEMU erratum"). */
bool svm_exit_holds_host_state(const struct vmcb *vmcb);

#endif
