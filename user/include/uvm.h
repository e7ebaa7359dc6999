/*
 * uvm.h - what user programs that drive VMs share (user/lib/uvm.c): the
 * sample guests as images to load, and what their results mean. The VM
 * calls themselves are in ulib.h, the model in uapi/vmm.h.
 */
#ifndef UVM_H
#define UVM_H

#include <ulib.h>

struct uvm_image {
	const char *name;
	const unsigned char *start, *end;
	const char *what;		/* one line for vmrun's list */
	bool halts;			/* halts until events (vm_event) */
	unsigned long mem;		/* the memory it needs (0: the least) */
	unsigned flags;			/* the uvm_config.flags it needs */
};

extern const struct uvm_image uvm_images[];
extern const int uvm_nimages;
/* The image called name, or NULL. */
const struct uvm_image *uvm_image_find(const char *name);
/* Copies img into vm's memory at UVM_CODE_GPA: 0 or a negative errno. */
int uvm_load(int vm, const struct uvm_image *img);

/* Results (| the vCPU's id) the guests give through port 0x600 */
#define UVM_HELLO_OK   0x600D0000u	/* hello: its SSE sum came out right */
#define UVM_SERIAL_OK  0x5E100000u	/* serial: said all it had to */
#define UVM_FPUHOLD_OK 0xF00D0000u	/* fpuhold: XMM4-7 intact across the HLT */
#define UVM_GUEST_BAD  0xBAD00000u	/* hello, fpuhold: registers found wrong */
#define UVM_AVX_OK     0xA7C00000u	/* avx: YMM4-7 intact in every round */
#define UVM_SMP_OK     0x5A000000u	/* smp: the BSP | the vCPUs that started; an AP | its id */
#define UVM_MMIO_OK    0x4D100000u	/* mmio: every load read what was stored (else BAD |
					 * the number of the check that failed) */
#define UVM_RESULT_KIND(r) ((r) & 0xFFFF0000u)

/* The ports the programs emulate */
#define UVM_PORT_CONSOLE 0xE9		/* the debug console: OUT a character */
#define UVM_PORT_COM1    0x3F8		/* a 16550 UART: 0x3F8 .. 0x3FF */
#define UVM_PORT_PIO     0x610		/* pio, smp's APs: a device's port */
#define UVM_MMIO_SCRATCH 0xF00000UL	/* mmio: eight 8-byte registers that keep what
					 * is stored (guest-physical, past its memory) */
#define UVM_MMIO_SCRATCH_SIZE 64
/* smp's mailbox (guest-physical 0x8000 + id * 64), in dwords */
#define UVM_MBOX_GPA     0x8000
#define UVM_MBOX_SIZE    64
enum { SM_STARTED, SM_TICKS, SM_BCAST, SM_OUTS, SM_LONG, SM_IPIS, SM_START_TSC /* a qword */,
       SM_READY = 8, SM_SENT, SM_SHADOW };
#define UVM_SMP_IPIS 20		/* fixed IPIs the BSP sends AP 1 */

#endif
