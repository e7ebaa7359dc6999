/*
 * user/lib/uvm.c - the sample guests as images for VMs driven from user
 * space (their bytes: user/lib/guest_images.asm; their code and what each
 * does: arch/x86_64/guests/NAME.asm and include/vmm_guests.h).
 */
#include <uvm.h>

#define IMAGE(n, w, h)                                                         \
	{ #n, uvm_guest_##n##_start, uvm_guest_##n##_end, w, h, 0, 0 }
#define DECLARE(n) extern const unsigned char uvm_guest_##n##_start[], uvm_guest_##n##_end[]

DECLARE(hello);
DECLARE(halt);
DECLARE(fault);
DECLARE(nops);
DECLARE(worker);
DECLARE(serial);
DECLARE(fpuhold);
DECLARE(pio);
DECLARE(smp);
DECLARE(avx);
DECLARE(mmio);

const struct uvm_image uvm_images[] = {
	{ "smp", uvm_guest_smp_start, uvm_guest_smp_end,
	  "64-bit SMP: the BSP starts the APs by INIT/SIPI; timer and broadcast interrupts, "
	  "ARG ticks each (0: 10); ARG2 1: the APs halt between them", false, 0x80000, UVM_F_APS_WAIT_SIPI },
	IMAGE(serial, "hello over a 16550 UART at COM1 (the program is the UART), ARG more lines", false),
	{ "mmio", uvm_guest_mmio_start, uvm_guest_mmio_end,
	  "MOVs to and from a device at guest-physical 0xF00000 (the program is the device); "
	  "ARG 1: an INT whose stack is there, 2: a MOVZX there (both stop the VM)", false, 0x80000, 0 },
	IMAGE(avx, "keeps a pattern in YMM4-7 while it computes with AVX, ARG rounds (0: 200), "
	      "an OUT to port 0x610 each", false),
	IMAGE(hello, "hello over the debug console 0xE9, an SSE sum, three hypercalls", false),
	IMAGE(halt, "sleeps in HLT until ARG events (0: for ever)", true),
	IMAGE(fpuhold, "keeps a pattern in XMM4-7 across a HLT, until an event", true),
	IMAGE(pio, "ARG OUTs to port 0x610, each an exit to the program", false),
	IMAGE(nops, "ARG NOP hypercalls, each handled in the kernel", false),
	IMAGE(fault, "reads guest-physical ARG (outside its memory: a fault)", false),
	IMAGE(worker, "the kernel tests' worker (a role per vCPU in its mailbox)", false),
};
const int uvm_nimages = sizeof(uvm_images) / sizeof(uvm_images[0]);

const struct uvm_image *uvm_image_find(const char *name)
{
	for (int i = 0; i < uvm_nimages; i++)
		if (strcmp(uvm_images[i].name, name) == 0)
			return &uvm_images[i];
	return NULL;
}

int uvm_load(int vm, const struct uvm_image *img)
{
	return vm_memory(vm, UVM_MEM_WRITE, UVM_CODE_GPA, (void *)img->start,
			 (unsigned long)(img->end - img->start));
}
