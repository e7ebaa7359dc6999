/*
 * vmm.h - virtual machines: VMs, vCPUs and their threads, guest memory,
 * exits, suspend/resume and the vCPU rendezvous (kernel/vmm/, docs/vmm.md).
 *
 *   struct vm_config cfg = { .nvcpus = 2, .image = &vm_guest_hello };
 *   struct vm *vm;
 *   if (vm_create(&cfg, &vm) < 0) ...         // e.g. no SVM: says why
 *   vm_start(vm);
 *   vm_wait(vm, 5 * NS_PER_S);                // every vCPU stopped
 *   printk("%u\n", vm->vcpus[0].result);
 *   vm_destroy(vm);
 *
 * A VM is guest memory (pages behind nested page tables, so a guest
 * touches only its own), one or more vCPUs, and a lock. Each vCPU has a
 * kernel thread of its own (THREAD_FPU) that runs vm_run: handle a pending
 * rendezvous or suspend, enter the guest, handle the exit, repeat, until
 * the vCPU stops; or, in a VM driven from user space (vm_config.user,
 * uapi/vmm.h), a thread of the program's that calls vm_run_user. The portable core reaches the hardware only through the
 * backend ops of vmm_backend.h (AMD SVM on x86-64).
 *
 * The guest talks to the host through I/O ports and hypercalls, below; the
 * sample guests that use them are in vmm_guests.h.
 */
#ifndef VMM_H
#define VMM_H

#include <kernel.h>
#include <bitset.h>
#include <sync.h>

struct thread;
struct ctxop;

#define VM_MAX_VCPUS  512		/* vCPU sets are multi-word bitsets */
#define VM_NAME_MAX   16
#define VM_MAX_IO     4			/* I/O port handlers a config may add */

/* ---- the guest's view: memory layout, ports, hypercalls ----
 * (the guests' own copy is arch/x86_64/guests/abi.inc: keep them in step) */

#define VM_GUEST_CODE_GPA   0x1000	/* the image is copied here; the vCPUs start here */
#define VM_GUEST_CODE_MAX   0x7000
#define VM_GUEST_MBOX_GPA   0x8000	/* one 64-byte mailbox per vCPU, for the guest's */
#define VM_GUEST_MBOX_SIZE  64		/* counters, read by the host (vm_mailbox) */
#define VM_GUEST_STACK_GPA  0x10000	/* vCPU i's stack is the STACK_SIZE bytes */
#define VM_GUEST_STACK_SIZE 512		/* from STACK_GPA + i * STACK_SIZE */

#define VMM_PORT_CONSOLE 0xE9		/* out: a character; the host prints lines as [vm0.1] ... */
#define VMM_PORT_RESULT  0x600		/* out: a 32-bit result; the vCPU stops */
#define VMM_PORT_EVENT   0x601		/* in: the event posted to this vCPU, or 0; clears it */

/* Hypercall number in EAX; arguments in EBX, ECX, EDX; result in EAX. */
#define VMM_HC_EXIT       0		/* ebx: result; the vCPU stops, as with the result port */
#define VMM_HC_NOP        1		/* returns 0 at once (an exit round trip) */
#define VMM_HC_RENDEZVOUS 2		/* ebx: GPA of a vCPU set, ecx: its size in bits,
					   edx: an argument; runs a rendezvous over the set;
					   returns 0, or VMM_HC_EINVAL for a bad set */
#define VMM_HC_TIMER      3		/* ebx: period in microseconds (0: off), ecx: the
					   vector (32 .. 255) it raises at each period;
					   returns 0, or VMM_HC_EINVAL */
#define VMM_HC_IPI        4		/* ebx: VMM_IPI_*, ecx: the target vCPU, edx: the
					   vector (FIXED) or the start page (SIPI: it
					   starts at edx << 12); through the rendezvous,
					   as bhyve's vm_handle_ipi; returns 0, or EINVAL */
#define VMM_HC_BROADCAST  5		/* ebx: a vector raised on every active vCPU, the
					   caller's too, through the rendezvous (an I/O
					   APIC's broadcast); returns 0, or EINVAL */
#define VMM_HC_YIELD      6		/* ebx: 0 the vCPU's thread gives up its host CPU
					   once, 1 it moves to the next host CPU it may
					   use (a host switch, a migration, inside the
					   run, for tests); returns 0 */
#define VMM_IPI_INIT      0		/* the target waits for a SIPI */
#define VMM_IPI_SIPI      1		/* a target waiting for one starts at edx << 12 */
#define VMM_IPI_FIXED     2		/* raises vector edx on the target */
#define VMM_IRQ_MIN       32		/* vectors below are the CPU's exceptions */
#define VMM_VECTORS       256		/* a vCPU's IRR: a bit per vector */
#define VMM_HC_EINVAL     0xFFFFFFEAu	/* -22 */
#define VMM_HC_ENOSYS     0xFFFFFFDAu	/* -38: no such hypercall */

/* ---- exits: one backend-neutral record per exit ---- */

enum vm_exit_reason {
	VM_EXIT_INTR,		/* a host interrupt (timer, IPI, kick) forced it */
	VM_EXIT_HLT,
	VM_EXIT_IO,
	VM_EXIT_HYPERCALL,
	VM_EXIT_NPF,		/* guest-physical access outside the guest's memory */
	VM_EXIT_SHUTDOWN,	/* the guest triple-faulted */
	VM_EXIT_INVALID,	/* the CPU refused to enter the guest: bad guest state */
	VM_EXIT_OTHER,		/* an exit the backend did not ask for */
	VM_EXIT_HOST_STATE,	/* the exit held the host's own state: an emulator
				 * fault (docs/vmm.md, "The QEMU erratum") */
	VM_EXIT_ARCH,		/* an instruction the backend emulates (EFER, XSETBV) */
	VM_EXIT_MMIO,		/* a user VM's NPF, decoded: an access for the program */
	VM_EXIT_NR
};

struct vm_exit {
	enum vm_exit_reason reason;
	uint64_t rip;		/* guest RIP of the instruction that exited */
	uint64_t next_rip;	/* where the guest goes on once the exit is handled */
	uint64_t code;		/* the backend's own exit code, for messages */
	/* The exit came in the middle of delivering an event to the guest
	 * (x86: EXITINTINFO): the backend delivers it again at the next entry
	 * unless the exit stops the vCPU. */
	bool delivering;
	uint32_t delivery_vector;
	union {
		struct {
			uint16_t port;
			uint8_t bytes;	/* 1, 2 or 4 */
			bool in;
			bool string;	/* INS/OUTS (not supported: a fault) */
			uint32_t value;	/* OUT: what the guest wrote */
		} io;
		struct {
			uint64_t nr, a0, a1, a2;
		} hc;
		struct {
			uint64_t gpa;
			uint64_t error;	/* the backend's own error code, for messages */
			bool write;	/* the access was a write, */
			bool fetch;	/* ... an instruction fetch, */
			bool walk;	/* ... the guest's own page-table walk's */
		} npf;
		struct {		/* vcpu_decode_mmio's, from an NPF */
			uint64_t gpa;
			uint8_t bytes;	/* 1, 2, 4 or 8 */
			bool write;
			uint64_t value;	/* a store's */
			uint8_t reg;	/* the backend's: where a load's value goes */
			bool high8;
		} mmio;
	};
};

/* ---- vCPUs ---- */

/*
 * The vCPU state machine (after bhyve). Changes happen under the vCPU's
 * lock (vcpu->wq.lock); vcpu_set_state panics on any other transition.
 *
 *   IDLE ──vm_run──> FROZEN ──enter──> RUNNING ──exit──> FROZEN ──> IDLE
 *                      │  ^                                  (vm_run returns)
 *                 halt │  │ event, kick
 *                      v  │
 *                    SLEEPING
 */
enum vcpu_state {
	VCPU_IDLE,		/* its thread is not in vm_run */
	VCPU_FROZEN,		/* in vm_run, in the host: handling an exit, parked, ... */
	VCPU_RUNNING,		/* in the guest, or entering it with interrupts off */
	VCPU_SLEEPING,		/* halted in the guest; sleeps until an event */
};

enum vcpu_stop {
	VCPU_STOP_NONE,		/* not stopped */
	VCPU_STOP_RESULT,	/* the guest gave its result (port or hypercall) */
	VCPU_STOP_DEACTIVATED,	/* vcpu_deactivate or vm_destroy took it out */
	VCPU_STOP_FAULT,	/* the VM stopped on a fault (vm->fault says which) */
};

struct vcpu_stats {
	uint64_t exits[VM_EXIT_NR];	/* by reason */
	uint64_t rendezvous;		/* times the run loop found a rendezvous pending
					   (one visit may take part in several) */
	uint64_t spurious;		/* ... of which this vCPU was not a target */
	uint64_t rendezvous_funcs;	/* rendezvous functions run on this vCPU */
	uint64_t rendezvous_helps;	/* as initiator, found one in flight and helped */
	uint64_t sleeps;		/* HLTs that went to sleep */
	uint64_t kicks;			/* IPIs sent to force it out of the guest */
	uint64_t fpu_saves;		/* vmm_savectx runs: switches inside vm_run */
	uint64_t fpu_moves;		/* ... whose restore was on another host CPU */
	uint64_t irqs;			/* interrupts offered to the guest (taken or coalesced) */
	uint64_t timer_fires;		/* periods of its virtual timer that raised its vector */
	uint64_t sipis;			/* SIPIs that started it */
};

struct vcpu {
	struct vm *vm;
	int id;				/* 0 .. vm->nvcpus - 1 */
	char name[VM_NAME_MAX];		/* "vm0.1": also its thread's name */
	struct thread *thread;

	/* Under wq.lock (taken with interrupts off); the vCPU sleeps on wq. */
	struct waitq wq;
	volatile int state;		/* enum vcpu_state */
	int hostcpu;			/* the CPU it runs guest code on, while RUNNING */
	bool event_pending;
	uint32_t event;

	/* A VM driven from user space (vm_config.user): the exit handed to
	 * the user program, which the next vm_run_user completes; and the
	 * thread in vm_run_user now (one at a time, claimed by CAS). */
	bool user_exit;
	bool gone_counted;		/* counted in vm->nstopped */
	struct thread *volatile runner;

	/* The vCPU's own thread only (a rendezvous function runs there too):
	 * the interrupts raised and not yet offered (a bit per vector, an
	 * APIC's IRR), its virtual timer, and INIT's wait for a SIPI. */
	uint64_t irr[BITSET_WORDS(VMM_VECTORS)];
	uint64_t timer_period_ns, timer_deadline;
	int timer_vector;
	volatile bool wait_sipi;
	bool sipi_pending;		/* a SIPI came while waiting: start at sipi_page */
	uint64_t sipi_page;
	bool irq_work;			/* a timer on or a vector raised: offer_irq's */
	bool hlt_pending;		/* a HLT left in place for the loop's work: */
	struct vm_exit hlt_exit;	/* completed if an interrupt is due by the entry */
	int fpu_save_cpu;		/* the host CPU of its op's last save */

	/* The vCPU's own thread only. */
	void *backend;			/* the backend's per-vCPU state (VMCB, ...) */
	struct vm_exit exit;		/* the last exit */
	struct ctxop *fpu_op;		/* guest FPU context op, attached for each vm_run */
	struct fpu_ctx *guest_fpu;	/* the guest's FPU state (kernel/fpu.c) */
	char con[120];			/* console line being built */
	int con_len;

	/* Set once, when it stops (vm_wait, vcpu_wait). */
	volatile int stop;		/* enum vcpu_stop */
	uint32_t result;		/* with VCPU_STOP_RESULT */
	struct vcpu_stats stats;	/* its own thread writes it (kicks: others, under wq.lock) */
};

/* ---- VMs ---- */

struct vcpuset {
	uint64_t bits[BITSET_WORDS(VM_MAX_VCPUS)];
};

/* A rendezvous function: runs once on each target vCPU, in that vCPU's own
 * thread, with the VM's lock held (it must not sleep or take it). */
typedef void (*vm_rendezvous_fn)(struct vcpu *v, void *arg);

/* An I/O port handler: returns the value of an IN (ignored for OUT). It
 * runs in the vCPU's thread and may sleep. */
typedef uint32_t (*vm_io_fn)(struct vcpu *v, uint16_t port, bool in, uint32_t value, void *arg);

/* A guest program (vmm_guests.h): its bytes, copied to VM_GUEST_CODE_GPA. */
struct vm_image {
	const char *name;
	const uint8_t *start, *end;
};

struct vm_config {
	const char *name;		/* NULL: "vm<N>" */
	int nvcpus;			/* 1 .. VM_MAX_VCPUS */
	size_t mem_size;		/* bytes; 0: code, mailboxes and the stacks */
	const struct vm_image *image;
	uint32_t args[3];		/* every vCPU starts with EBX, ECX, EDX = these, */
					/* ESI = its id, EDI = nvcpus, ESP = its stack top */
	struct {
		uint16_t port;
		vm_io_fn fn;
		void *arg;
	} io[VM_MAX_IO];		/* extra ports (port 0 ends the list) */
	/* The body of each vCPU thread; NULL runs vm_run until the vCPU stops.
	 * One that is given must call vm_run itself (tests wrap it). */
	void (*vcpu_main)(struct vcpu *v);
	/* VMM_HC_RENDEZVOUS: NULL runs vm_smp_rendezvous with a function that
	 * only counts; a test gives its own to check each rendezvous. */
	void (*hc_rendezvous)(struct vcpu *v, const struct vcpuset *dest, uint32_t arg);
	bool quiet;			/* do not print the guests' console lines */
	/* Driven from user space (kernel/vmm/uvm.c): no kernel threads; a user
	 * thread runs a vCPU by calling vm_run_user, and every port the kernel
	 * does not emulate (all but VMM_PORT_RESULT and VMM_PORT_EVENT; the
	 * console included) is an exit to it. Memory is user memory. */
	bool user;
	/* vCPUs 1 .. nvcpus-1 start waiting for INIT and SIPI (VMM_HC_IPI),
	 * as a machine's APs do; vCPU 0 starts at once. */
	bool aps_wait_sipi;
	void *priv;			/* for the creator */
	/* Tests only: called in vm_create once the guest's memory is taken,
	 * before the kernel side, where another user request could take
	 * what is left (tests/vmm/uvm_test.c); NULL otherwise. */
	void (*after_memory)(struct vm *vm);
};

struct vm {
	int id;
	char name[VM_NAME_MAX];
	int nvcpus;
	struct vcpu *vcpus;
	struct vm_config cfg;

	uint64_t mem_pa;		/* guest memory: contiguous kernel pages */
	size_t mem_size;		/* guest-physical 0 .. mem_size-1 is mapped */
	unsigned mem_order;
	void *backend;			/* the backend's per-VM state (nested page tables) */

	/* The VM's lock, and what it guards. */
	struct mutex lock;
	struct condvar rendezvous_cv;	/* rendezvous participants wait here */
	struct condvar state_cv;	/* suspend, resume, stops */
	struct vcpuset active;		/* vCPUs that may still run */
	struct vcpuset rv_req;		/* rendezvous: targets (read unlocked: own bit) */
	struct vcpuset rv_done;		/* rendezvous: those that ran func */
	vm_rendezvous_fn volatile rv_func;	/* non-NULL while one is in flight */
	void *rv_arg;
	uint64_t rv_count;		/* rendezvous completed */
	volatile bool started;		/* vm_start opened the gate */
	volatile bool suspended;	/* vm_suspend: vCPUs park in the host */
	int nrun;			/* vCPUs inside vm_run */
	int nparked;			/* ... of which parked by a suspend */
	int nstopped;			/* vCPUs stopped for good and out of vm_run */
	volatile bool dying;		/* vm_destroy has begun */
	int refs;			/* user VMs: the handle's, and each vm_run_user's */
	uint64_t owner_pid;		/* user VMs: the process that made it */

	bool faulted;
	char fault[160];		/* what stopped the VM, once faulted */

	struct list link;		/* on the list of all VMs (the monitor's vms) */
};

/* Errors of vm_create (negative). */
#define VM_ENOTSUP 1			/* the machine cannot run guests (vmm_unavailable) */
#define VM_EINVAL  2			/* a bad config */
#define VM_ENOMEM  3

/* NULL if this machine can run guests; else one line saying why not. */
const char *vmm_unavailable(void);
/*
 * Whether vm_run keeps vCPU threads off CPU 0 (vmm.cpu0=auto|use|avoid):
 * under QEMU's multi-threaded TCG, another CPU's FPU restore can undo
 * CPU 0's own switch out of a guest (docs/vmm.md, "The QEMU erratum").
 * If why is not NULL it gets one line saying why or why not.
 */
bool vmm_keep_off_cpu0(const char **why);
/* How many times a vCPU entered its guest on host CPU cpu, since boot. */
uint64_t vmm_guest_entries(int cpu);

/* Creates a VM and a thread per vCPU, which waits for vm_start (so the
 * creator may fill guest memory and mailboxes first); returns 0 and sets
 * *out, or a negative VM_E* after printing why. May sleep. */
int vm_create(const struct vm_config *cfg, struct vm **out);
/* Lets the vCPUs run. */
void vm_start(struct vm *vm);
/* Stops every vCPU, joins their threads and frees the VM. May sleep. */
void vm_destroy(struct vm *vm);
/* Waits until every vCPU has stopped and left vm_run (state IDLE); false
 * on timeout (0: no timeout). */
bool vm_wait(struct vm *vm, uint64_t timeout_ns);
/* The same for vCPU v alone. */
bool vcpu_wait(struct vcpu *v, uint64_t timeout_ns);
/* Parks every vCPU in the host (none runs guest code when it returns);
 * vm_resume lets them go on. May sleep. */
void vm_suspend(struct vm *vm);
void vm_resume(struct vm *vm);

/* Runs v in the calling thread, which must be v's own, until v stops;
 * returns why (enum vcpu_stop); at once if v had stopped already. A
 * vm_config.vcpu_main must call it, or vm_wait never returns. May sleep. */
int vm_run(struct vcpu *v);
/*
 * A VM driven from user space (vm_config.user, kernel/vmm/uvm.c). Runs v
 * in the calling thread (any thread; one at a time: -EBUSY otherwise)
 * until an exit for the user program (*out: a port the kernel does not
 * emulate, or MMIO; the next call completes it, an IN with `in_value`, a
 * load with `load_value`), or v stops, or the thread has work before ring
 * 3 (its process is dying). Returns 0 for an exit, VCPU_STOP_* (> 0) once
 * stopped, -EINTR, -EBUSY.
 */
int vm_run_user(struct vcpu *v, uint32_t in_value, uint64_t load_value, struct vm_exit *out);
/* References on a user VM: the last vm_put destroys it (may sleep). */
void vm_hold(struct vm *vm);
void vm_put(struct vm *vm);
/* The VM's last handle has gone (ipc_reap): every vCPU is taken out, so
 * that the runs still in progress stop, then the handle's reference is
 * put. May sleep. */
void vm_user_close(struct vm *vm);
/* The first VM process pid made from user space, held (vm_put it), or
 * NULL: for tests that read a user VM's counters. */
struct vm *vm_user_find(uint64_t pid);
/* User VMs that exist (a leak test's count). */
int vm_user_count(void);
/* The vCPU thread t runs (kernel/proc.c's kill, with t's process's tlock
 * held): makes it leave vm_run_user at once, out of its guest or a wait. */
void vmm_kick_thread(struct thread *t);

/* The system calls of uapi/vmm.h (kernel/vmm/uvm.c). */
long sys_vm_create(long ucfg);
long sys_vm_memory(long h, long op, long gpa, long ubuf, long len);
long sys_vm_run(long h, long id, long urun);
long sys_vm_ctl(long h, long op, long id, long arg, long uptr);

/* Takes v out of the VM's active set: it stops at its next chance and no
 * rendezvous waits for it any more. Any thread; may sleep. */
void vcpu_deactivate(struct vcpu *v);
/* Gives a halted vCPU an event (the guest reads it from VMM_PORT_EVENT) and
 * wakes it. One slot: an event not yet read is replaced. Any thread. */
void vcpu_post_event(struct vcpu *v, uint32_t event);
/* Reads v's state without a lock (a snapshot). */
const char *vcpu_state_name(int state);
const char *vm_exit_name(int reason);

/*
 * Runs func(target, arg) once on every vCPU of dest that is still active,
 * each in its own thread, and returns when all have (after bhyve's
 * vm_smp_rendezvous). `vcpu` is the caller, from its own thread: it takes
 * part, running func itself if it is in dest. If another rendezvous is in
 * flight, the caller helps finish it and starts over. Returns 0; or, in a
 * VM driven from user space whose caller's process is dying, -EINTR
 * before starting one. Such a caller also leaves one it waits for early
 * (returning 0: the rendezvous stays in flight until its targets have
 * taken part or been taken out, and the VM's last handle takes every
 * vCPU out). May sleep; not with the VM's lock held.
 */
int vm_smp_rendezvous(struct vcpu *vcpu, const struct vcpuset *dest, vm_rendezvous_fn func,
		      void *arg);
/* The same, from a thread that is not one of vm's vCPUs. */
int vm_smp_rendezvous_host(struct vm *vm, const struct vcpuset *dest, vm_rendezvous_fn func,
			   void *arg);

/* A port handler (vm_config.io, arg = a struct vm_port_blocker) that holds
 * its vCPU in the host until release is posted, as a slow device model
 * would: `blocked` once a vCPU is in it (kernel/vmm/rvdemo.c; the vmm
 * tests use it too). */
struct vm_port_blocker {
	struct semaphore release;
	volatile bool blocked;
};
void vm_port_blocker_init(struct vm_port_blocker *b);
uint32_t vm_port_block(struct vcpu *v, uint16_t port, bool in, uint32_t value, void *arg);

/*
 * A rendezvous held in flight (kernel/vmm/rvdemo.c, FreeBSD D37390): over
 * vCPUs 0-2 of six, vCPU 0 held in a device model for hold_ms while 3 and
 * 4 compute and 5 sleeps. Returns 0 with *r filled, or vm_create's error.
 */
struct rv_held {
	int nvcpus, ntargets;		/* 6 and 3 (0-2) */
	bool set_up;			/* 0 held and 5 asleep before it began */
	bool others_ran_first;		/* 1 and 2 ran it while 0 was held */
	volatile bool completed;	/* the rendezvous returned */
	volatile uint64_t runs[6];	/* times the function ran, per vCPU */
	uint64_t funcs[6];		/* each vCPU's rendezvous_funcs counter */
	uint64_t spurious[6];		/* each vCPU's spurious counter */
	uint64_t iterations;		/* the non-targets' work while it was held */
};
int rendezvous_held(uint64_t hold_ms, struct rv_held *r);

/* Host pointer to guest-physical [gpa, gpa+len), or NULL if outside. */
void *vm_gpa_ptr(struct vm *vm, uint64_t gpa, size_t len);
/* vCPU v's 64-byte mailbox in guest memory (VM_GUEST_MBOX_GPA). */
volatile uint32_t *vm_mailbox(struct vcpu *v);
/* Sum of one exit counter over the VM's vCPUs. */
uint64_t vm_exits(struct vm *vm, int reason);
/* Prints every VM, its vCPUs, their states and exit counters (`vms`). */
void vm_print_all(void);

#endif
