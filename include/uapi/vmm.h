/*
 * uapi/vmm.h - virtual machines driven from user space, as bhyve drives
 * them (kernel/vmm/uvm.c; docs/vmm.md, "VMs from user space").
 *
 *   struct uvm_config cfg = { .nvcpus = 2 };
 *   int vm = vm_create(&cfg);                     // a handle (IPC_OBJ_VM)
 *   vm_memory(vm, UVM_MEM_WRITE, 0x1000, image, size);
 *   // then, in one thread per vCPU:
 *   struct uvm_run run = { 0 };
 *   while (vm_run(vm, id, &run) == 0 && run.reason == UVM_EXIT_IO)
 *           run.in_value = emulate(run.port, run.in, run.value);
 *
 * A VM is a handle in the process's table, like an endpoint: it can be
 * duplicated, moved in a message, given to a child; IPC_R_SEND is the
 * right to use it (every call below; -EPERM without), IPC_R_DUP to copy
 * the handle. When its last handle closes, every vCPU is taken out (runs
 * in progress return UVM_STOP_DEACTIVATED) and the VM goes once they have
 * returned.
 *
 * Every vCPU needs a thread in vm_run, or to be taken out
 * (UVM_CTL_DEACTIVATE), for the VM's rendezvous to end: an IPI or a
 * broadcast waits for each of its targets to take part, as bhyve's do
 * for every active vCPU. A program that runs fewer vCPUs than it made
 * takes the others out. Its vCPUs are
 * run by the process's own threads: vm_run enters vCPU `id` in the calling
 * thread and returns at the first exit the kernel does not handle, which
 * is every port I/O but the result port (0x600) and the event port
 * (0x601): the console (0xE9), a serial port, any device the program
 * emulates. The next vm_run on that vCPU completes the instruction (an IN
 * reads run.in_value) and goes on. Hypercalls, HLT, the result and event
 * ports and the rendezvous stay in the kernel.
 *
 * The guest platform is the kernel's (include/vmm.h): guest-physical 0 ..
 * mem_size of zeroed memory, each vCPU starting in 32-bit protected mode
 * at 0x1000 with ESI = its id, EDI = nvcpus, EBX, ECX, EDX = args[0..2]
 * and ESP = the top of its stack at 0x10000 + (id + 1) * 512.
 */
#ifndef UAPI_VMM_H
#define UAPI_VMM_H

#define UVM_MAX_VCPUS   512		/* vCPUs of one VM */
#define UVM_MEM_MAX     (16UL << 20)	/* bytes of guest memory of one VM */
#define UVM_VMS_MAX     16		/* VMs from user space at once, in all (-EAGAIN) */
#define UVM_CODE_GPA    0x1000		/* where every vCPU starts */

/* struct uvm_config.flags */
#define UVM_F_APS_WAIT_SIPI 0x1		/* vCPUs 1 .. nvcpus-1 start waiting for INIT and
					 * SIPI (hypercall 4), as a machine's APs do */

struct uvm_config {
	unsigned int nvcpus;		/* 1 .. UVM_MAX_VCPUS */
	unsigned int flags;		/* UVM_F_* */
	unsigned long mem_size;		/* whole pages, at most UVM_MEM_MAX; 0: the least
					 * that holds the code, mailboxes and stacks */
	unsigned int args[3];		/* EBX, ECX, EDX of every vCPU at its start */
};

/* SYS_vm_memory's op */
#define UVM_MEM_WRITE 0			/* guest memory [gpa, gpa + len) = buf */
#define UVM_MEM_READ  1			/* buf = guest memory [gpa, gpa + len) */

/* What ended a vm_run (struct uvm_run.reason) */
#define UVM_EXIT_IO      1		/* port I/O for the program to emulate */
#define UVM_EXIT_STOPPED 2		/* the vCPU has stopped for good: stop, result */
#define UVM_EXIT_MMIO    3		/* a MOV to or from guest-physical memory the VM
					 * does not have (gpa, bytes, in, data), for the
					 * program to emulate */

/* struct uvm_run.stop */
#define UVM_STOP_RESULT      1		/* the guest gave its result (port 0x600, hypercall 0) */
#define UVM_STOP_DEACTIVATED 2		/* taken out (UVM_CTL_DEACTIVATE, the last handle closed) */
#define UVM_STOP_FAULT       3		/* the VM stopped on a fault: UVM_CTL_INFO says which */

struct uvm_run {
	unsigned int in_value;		/* in: what the last exit's IN reads (its low
					 * `bytes` bytes; ignored after an OUT). A run
					 * whose struct cannot be written back (-EFAULT)
					 * has taken its exit: the next run completes it */
	unsigned int reason;		/* out: UVM_EXIT_* */
	unsigned long data;		/* in: what the last exit's MMIO load reads (its
					 * low `bytes` bytes); out: UVM_EXIT_MMIO: a
					 * store's value */
	unsigned long rip;		/* out: guest RIP of the instruction that exited */
	unsigned long gpa;		/* UVM_EXIT_MMIO: the guest-physical address, */
	unsigned short port;		/* UVM_EXIT_IO: the port, */
	unsigned char bytes;		/* 1, 2 or 4 (MMIO: or 8), */
	unsigned char in;		/* 1 for IN (or an MMIO load), 0 for OUT (a store), */
	unsigned int value;		/* and what an OUT wrote */
	unsigned int stop;		/* UVM_EXIT_STOPPED: UVM_STOP_*, */
	unsigned int result;		/* and with UVM_STOP_RESULT, the result */
};

/* SYS_vm_ctl's op: (h, op, vcpu, arg, ptr) */
#define UVM_CTL_EVENT      0		/* post event `arg` to vCPU `vcpu` (port 0x601), waking
					 * it from HLT */
#define UVM_CTL_DEACTIVATE 1		/* take vCPU `vcpu` out: it stops at its next chance */
#define UVM_CTL_INFO       2		/* ptr: struct uvm_info of vCPU `vcpu`, filled in */

struct uvm_info {
	unsigned int id;		/* the VM's number (vm<id>, as `vms` shows it) */
	unsigned int nvcpus;
	unsigned long mem_size;
	unsigned int state;		/* the vCPU's: 0 idle, 1 frozen, 2 running, 3 sleeping */
	unsigned int stop;		/* 0, or UVM_STOP_* */
	unsigned long exits_io, exits_hlt, exits_hypercall, exits_intr;
	unsigned long rendezvous;	/* rendezvous it took part in (its run loop's visits) */
	unsigned long spurious;		/* ... of which it was not a target */
	unsigned long fpu_saves;	/* its guest FPU op's saves: switches inside vm_run */
	unsigned long fpu_moves;	/* ... after which it came back on another host CPU */
	unsigned long irqs;		/* interrupts offered to it (its timer's, IPIs, broadcasts) */
	unsigned long timer_fires;	/* periods of its virtual timer */
	unsigned long sipis;		/* SIPIs that started it */
	unsigned long vms;		/* VMs from user space that exist, in all */
	char fault[160];		/* what stopped the VM, or "" */
	unsigned long exits_mmio;	/* MMIO exits to the program (UVM_EXIT_MMIO) */
};

#endif
