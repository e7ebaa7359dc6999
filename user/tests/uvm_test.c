/*
 * user/tests/uvm_test.c - virtual machines driven from user space
 * (uapi/vmm.h), as a program sees them.
 *
 * What is asserted:
 *   - a guest's port I/O that the kernel does not emulate comes out of
 *     vm_run as an exit, port, size, direction and value exact; the
 *     program's answer to an IN is what the guest reads (a UART the guest
 *     polls); its result ends the run;
 *   - each vCPU runs in a thread of the program's own, one thread at a
 *     time per vCPU (-EBUSY for a second);
 *   - the guest's registers survive its vCPU thread sleeping in the
 *     kernel (HLT), the program's own survive vm_run;
 *   - every bad argument is an error: handles, vCPU numbers, sizes,
 *     memory ranges, pointers;
 *   - a VM ends with its last handle, and a process killed while its
 *     threads are in vm_run (in the guest, asleep in HLT, between exits)
 *     leaves no VM, page or byte of kernel heap behind.
 * The kernel's side (the chain of a vCPU thread during a run, the bug
 * switch that loses the guest's FPU) is tests/vmm/uvm_test.c.
 */
#include "helpers.h"
#include <fpu_regs.h>
#include <uvm.h>

#define MS 1000000UL

/* A VM of n vCPUs with img loaded (arg: its EBX), or a skip where the
 * machine cannot run guests. */
static int make_vm(const char *img, unsigned n, unsigned arg)
{
	struct uvm_config cfg = { .nvcpus = n, .args = { arg } };
	int vm = vm_create(&cfg);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests (SVM with nested paging: -cpu max)");
	UT_ASSERT(vm >= 0);
	UT_ASSERT_EQ(uvm_load(vm, uvm_image_find(img)), 0);
	return vm;
}

/* Waits (at most a second) until vCPU id is in `state` (uvm_info). */
static void wait_state(int vm, int id, unsigned state)
{
	unsigned long deadline = clock_ns() + 1000 * MS;
	struct uvm_info in;
	for (;;) {
		UT_ASSERT_EQ(vm_info(vm, id, &in), 0);
		if (in.state == state)
			return;
		UT_ASSERT(clock_ns() < deadline);
		sleep_ns(MS);
	}
}

enum { ST_IDLE, ST_FROZEN, ST_RUNNING, ST_SLEEPING };

/* Skips the case where the machine cannot run guests. The VM it makes and
 * closes also makes this thread's IPC state and its process's handle
 * table, which stay: a baseline taken after it counts them already. */
static void require_vms(void)
{
	struct uvm_config cfg = { .nvcpus = 1 };
	int vm = vm_create(&cfg);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests");
	UT_ASSERT(vm >= 0);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* Waits (at most a second) until the smp guest's BSP, vCPU 0 of vm, is
 * inside the rendezvous of its first INIT (its second hypercall; the host
 * side, FROZEN): one that waits for good when no thread runs the AP. */
static void wait_in_first_init(int vm)
{
	unsigned long deadline = clock_ns() + 1000 * MS;
	struct uvm_info in;
	for (;;) {
		UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
		if (in.exits_hypercall >= 2 && in.state == ST_FROZEN)
			return;
		UT_ASSERT(clock_ns() < deadline);
		sleep_ns(MS);
	}
}

/* ---- exits ---- */

UTEST(uvm, a_guest_talks_to_the_uart_the_program_emulates)
{
	int vm = make_vm("serial", 1, 1);
	char out[128];
	int len = 0, lsr_reads = 0, busy = 3;
	struct uvm_run r = { 0 };
	for (;;) {
		UT_ASSERT_EQ(vm_run(vm, 0, &r), 0);
		if (r.reason != UVM_EXIT_IO)
			break;
		UT_EXPECT_EQ(r.bytes, 1);
		UT_EXPECT(r.rip >= UVM_CODE_GPA && r.rip < UVM_CODE_GPA + 0x1000);
		if (r.port == UVM_PORT_COM1 + 5) {
			UT_ASSERT(r.in);
			lsr_reads++;
			/* "busy" for the first reads: the guest must poll */
			r.in_value = busy > 0 ? (busy--, 0) : 0x60;
		} else {
			UT_ASSERT_EQ(r.port, UVM_PORT_COM1);
			UT_ASSERT(!r.in);
			UT_ASSERT(len < (int)sizeof(out) - 1);
			out[len++] = (char)r.value;
		}
	}
	out[len] = 0;
	UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
	UT_EXPECT_EQ(r.stop, UVM_STOP_RESULT);
	UT_EXPECT_EQ(r.result, UVM_SERIAL_OK | 0);
	UT_EXPECT(strcmp(out, "hello from vCPU 0 over COM1\nline 1\n") == 0);
	/* every character waited for the LSR, and the three busy reads
	 * were read again */
	UT_EXPECT_EQ(lsr_reads, len + 3);
	struct uvm_info in;
	UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
	UT_EXPECT_EQ(in.exits_io, (unsigned long)(lsr_reads + len + 1));	/* + the result */
	UT_EXPECT_EQ(in.stop, UVM_STOP_RESULT);
	/* stopped for good: another run says so at once */
	UT_EXPECT_EQ(vm_run(vm, 0, &r), 0);
	UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* The mmio guest's device (arch/x86_64/guests/mmio.asm): eight 8-byte
 * registers at MMIO_GPA that keep what is stored, and every access seen. */
#define MMIO_GPA UVM_MMIO_SCRATCH
struct mmio_access {
	bool write;
	unsigned off, bytes;
	unsigned long data;
};

static int mmio_vm(unsigned arg)
{
	const struct uvm_image *img = uvm_image_find("mmio");
	UT_ASSERT(img != NULL);
	struct uvm_config cfg = { .nvcpus = 1, .mem_size = img->mem, .args = { arg } };
	int vm = vm_create(&cfg);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests (SVM with nested paging: -cpu max)");
	UT_ASSERT(vm >= 0);
	UT_ASSERT_EQ(uvm_load(vm, img), 0);
	return vm;
}

/* Runs vm's vCPU 0 as the device until it stops; the accesses into seen. */
static int mmio_device(int vm, struct uvm_run *r, struct mmio_access *seen, int max)
{
	unsigned char regs[64] = { 0 };
	int n = 0;
	memset(r, 0, sizeof(*r));
	for (;;) {
		UT_ASSERT_EQ(vm_run(vm, 0, r), 0);
		if (r->reason != UVM_EXIT_MMIO)
			return n;
		unsigned long off = r->gpa - MMIO_GPA;
		UT_ASSERT(r->gpa >= MMIO_GPA && off + r->bytes <= sizeof(regs));
		UT_ASSERT(r->bytes == 1 || r->bytes == 2 || r->bytes == 4 || r->bytes == 8);
		UT_ASSERT(n < max);
		seen[n++] = (struct mmio_access){ !r->in, (unsigned)off, r->bytes, r->data };
		if (r->in) {
			unsigned long v = 0;
			memcpy(&v, regs + off, r->bytes);
			r->data = v;
		} else {
			memcpy(regs + off, &r->data, r->bytes);
		}
	}
}

UTEST(uvm, a_guests_mmio_loads_and_stores_are_exits_the_program_emulates)
{
	static const struct mmio_access want[] = {
		{ true, 0, 4, 0x12345678 },		/* C7 imm32 */
		{ true, 8, 4, 0xCAFEF00D },		/* 89 from EAX */
		{ true, 16, 1, 0xAB },			/* C6 imm8 */
		{ true, 24, 2, 0xBEEF },		/* 66 89 from AX */
		{ false, 0, 4, 0 },			/* 8B into ECX */
		{ false, 16, 1, 0 },			/* 8A into DL */
		{ false, 16, 1, 0 },			/* 8A into AH */
		{ false, 24, 2, 0 },			/* 66 8B into DI */
		{ false, 8, 4, 0 },			/* SIB */
		{ false, 8, 4, 0 },			/* disp32 */
		{ true, 32, 8, 0x0123456789ABCDEFUL },	/* long mode: REX.W 89 */
		{ false, 32, 8, 0 },			/* into R9 */
		{ true, 40, 8, 0xFFFFFFFFFFFFFFFBUL },	/* REX.W C7, imm32 sign-extended */
		{ false, 40, 8, 0 },			/* into R10 */
		{ false, 0, 4, 0 },			/* into R11D, zero-extended */
		{ false, 16, 1, 0 },			/* into SIL */
		{ true, 48, 2, 0x5555 },		/* 66 REX.R 89 from R12W */
		{ true, 56, 2, 0x1234 },		/* 66 C7 imm16 */
		{ true, 60, 4, 0xCD77 },		/* REX.B: base R8 */
		{ true, 17, 1, 0xCD },			/* 88 from AH */
		{ false, 8, 4, 0 },			/* RIP-relative */
		{ false, 60, 4, 0 },			/* code through 4 KiB pages */
		{ false, 56, 2, 0 },			/* ... through a 1 GiB page */
		{ false, 17, 4, 0 },			/* an instruction across a page */
	};
	const int nwant = (int)(sizeof(want) / sizeof(want[0]));
	int vm = mmio_vm(0);
	struct mmio_access seen[40];
	struct uvm_run r;
	int n = mmio_device(vm, &r, seen, 40);
	UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
	UT_EXPECT_EQ(r.stop, UVM_STOP_RESULT);
	UT_EXPECT_EQ(r.result, UVM_MMIO_OK);	/* else BAD | the number of the check that failed */
	UT_EXPECT_EQ(n, nwant);
	for (int i = 0; i < n && i < nwant; i++) {
		if (seen[i].write != want[i].write || seen[i].off != want[i].off ||
		    seen[i].bytes != want[i].bytes || seen[i].data != want[i].data)
			UT_LOG("access %d: %s of %u at +%u (0x%lx), expected %s of %u at +%u (0x%lx)",
			       i, seen[i].write ? "store" : "load", seen[i].bytes, seen[i].off,
			       seen[i].data, want[i].write ? "store" : "load", want[i].bytes,
			       want[i].off, want[i].data);
		UT_EXPECT(seen[i].write == want[i].write && seen[i].off == want[i].off &&
			  seen[i].bytes == want[i].bytes && seen[i].data == want[i].data);
	}
	struct uvm_info in;
	UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
	UT_EXPECT_EQ(in.exits_mmio, (unsigned long)nwant);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

UTEST(uvm, mmio_the_kernel_cannot_decode_or_made_by_an_events_delivery_stops_the_vm)
{
	struct { unsigned arg; const char *says, *at; } c[] = {
		{ 1, "while delivering vector 48", "0xf000fc" },	/* INT 0x30, its stack there */
		{ 2, "not a MOV", "0xf00000" },				/* MOVZX */
		{ 3, "page-table walk", "0xf00000" },			/* a PD of the guest's there */
		{ 5, "crosses a page", "0x80000" },			/* half memory, half not */
	};
	for (int i = 0; i < 4; i++) {
		int vm = mmio_vm(c[i].arg);
		struct mmio_access seen[4];
		struct uvm_run r;
		int n = mmio_device(vm, &r, seen, 4);
		UT_EXPECT_EQ(n, 0);			/* nothing for the program */
		UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
		UT_EXPECT_EQ(r.stop, UVM_STOP_FAULT);
		struct uvm_info in;
		UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
		UT_LOG("ARG %u: %s", c[i].arg, in.fault);
		UT_EXPECT(strstr(in.fault, c[i].says) != NULL);
		UT_EXPECT(strstr(in.fault, c[i].at) != NULL);	/* the address */
		UT_EXPECT_EQ(handle_close(vm), 0);
	}
}

UTEST(uvm, each_vcpu_runs_in_a_thread_of_the_program)
{
	enum { N = 4 };
	int vm = make_vm("hello", N, 0);
	struct ut_vcpu x[N];
	int tids[N];
	for (int i = 0; i < N; i++) {
		x[i] = (struct ut_vcpu){ .vm = vm, .id = i };
		tids[i] = uthread_create(ut_run_vcpu, &x[i]);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < N; i++) {
		UT_ASSERT_EQ(uthread_join(tids[i]), 0);
		UT_EXPECT_EQ(x[i].err, 0);
		UT_EXPECT_EQ(x[i].r.stop, UVM_STOP_RESULT);
		UT_EXPECT_EQ(x[i].r.result, UVM_HELLO_OK | (unsigned)i);
		/* "hello from vCPU i\n" and "sse ok\n" on the console port */
		UT_EXPECT_EQ(x[i].exits, 18 + 7);
	}
	UT_EXPECT_EQ(handle_close(vm), 0);
}

UTEST(uvm, a_vcpu_runs_in_one_thread_at_a_time)
{
	int vm = make_vm("halt", 1, 1);		/* halts until one event */
	struct ut_vcpu x = { .vm = vm, .id = 0 };
	int tid = uthread_create(ut_run_vcpu, &x);
	UT_ASSERT(tid > 0);
	wait_state(vm, 0, ST_SLEEPING);
	struct uvm_run r = { 0 };
	UT_EXPECT_EQ(vm_run(vm, 0, &r), -EBUSY);
	UT_EXPECT_EQ(vm_event(vm, 0, 42), 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(x.err, 0);
	UT_EXPECT_EQ(x.r.stop, UVM_STOP_RESULT);
	UT_EXPECT_EQ(x.r.result, 42);		/* the sum of its events */
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* ---- a 64-bit SMP guest: INIT/SIPI, timer and broadcast interrupts ---- */

#define SMP_TICKS 3

/* An smp guest of n vCPUs (ticks, AP mode: its EBX and ECX), a thread of
 * this program's each, run to their stops: its handle, each vCPU's runner
 * and the mailboxes (n words of UVM_MBOX_SIZE / 4 each) into mbox. */
static int run_smp(int n, unsigned ticks, unsigned mode, struct ut_vcpu *x, unsigned *mbox)
{
	const struct uvm_image *img = uvm_image_find("smp");
	struct uvm_config cfg = { .nvcpus = (unsigned)n, .flags = UVM_F_APS_WAIT_SIPI,
				  .mem_size = img->mem, .args = { ticks, mode } };
	int vm = vm_create(&cfg);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests");
	UT_ASSERT(vm >= 0);
	UT_ASSERT_EQ(uvm_load(vm, img), 0);
	static int tids[UTHREADS_MAX];
	UT_ASSERT(n < UTHREADS_MAX);
	for (int i = 0; i < n; i++) {
		x[i] = (struct ut_vcpu){ .vm = vm, .id = i, .pio_only = true };
		tids[i] = uthread_create(ut_run_vcpu, &x[i]);
		UT_ASSERT(tids[i] > 0);
	}
	for (int i = 0; i < n; i++)
		UT_ASSERT_EQ(uthread_join(tids[i]), 0);
	UT_ASSERT_EQ(vm_memory(vm, UVM_MEM_READ, UVM_MBOX_GPA, mbox,
			       (unsigned long)n * UVM_MBOX_SIZE), 0);
	return vm;
}

UTEST(uvm, a_64_bit_guest_starts_its_aps_by_init_sipi_and_counts_timer_interrupts)
{
	enum { N = 4 };
	struct ut_vcpu x[N];
	unsigned mbox[N][UVM_MBOX_SIZE / 4];
	int vm = run_smp(N, SMP_TICKS, 0, x, &mbox[0][0]);
	for (int i = 0; i < N; i++) {
		struct uvm_info in;
		UT_ASSERT_EQ(vm_info(vm, i, &in), 0);
		UT_LOG("vCPU %d: result 0x%x, in long mode %u, %u ticks (%lu timer periods, %lu "
		       "interrupts offered), broadcast %u, IPIs %u, %lu OUTs, SIPIs %lu, "
		       "rendezvous %lu (%lu spurious)", i, x[i].r.result, mbox[i][SM_LONG],
		       mbox[i][SM_TICKS], in.timer_fires, in.irqs, mbox[i][SM_BCAST],
		       mbox[i][SM_IPIS], x[i].exits, in.sipis, in.rendezvous, in.spurious);
		UT_EXPECT_EQ(x[i].err, 0);
		UT_EXPECT_EQ(x[i].r.stop, UVM_STOP_RESULT);
		/* the BSP counts the vCPUs that started, each AP gives its id */
		UT_EXPECT_EQ(x[i].r.result, UVM_SMP_OK | (i ? (unsigned)i : N));
		UT_EXPECT_EQ(mbox[i][SM_STARTED], 1);
		UT_EXPECT_EQ(mbox[i][SM_LONG], 1);		/* EFER.LMA */
		UT_EXPECT(mbox[i][SM_TICKS] >= SMP_TICKS);
		UT_EXPECT(in.timer_fires >= mbox[i][SM_TICKS]);
		UT_EXPECT_EQ(mbox[i][SM_BCAST], 1);
		UT_EXPECT_EQ(in.sipis, i ? 1UL : 0UL);
		UT_EXPECT(in.irqs >= mbox[i][SM_TICKS] + mbox[i][SM_BCAST] + mbox[i][SM_IPIS]);
		UT_EXPECT_EQ(in.spurious, 0);	/* bug=rendezvous_spurious off */
		UT_EXPECT_EQ(mbox[i][SM_OUTS], i ? x[i].exits : 0);
		if (i)
			UT_EXPECT(x[i].exits > 0);	/* busy APs: each turn an exit here */
	}
	/* AP 1 took at least one of the IPIs meant for it, no other AP any */
	UT_EXPECT(mbox[1][SM_IPIS] >= 1 && mbox[1][SM_IPIS] <= UVM_SMP_IPIS);
	UT_EXPECT_EQ(mbox[2][SM_IPIS] + mbox[3][SM_IPIS], 0);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* Idle APs without a timer (the smp guest's ECX 2): each halts the
 * race-free way (CLI, look, STI; HLT) and only the BSP's fixed IPIs, sent
 * one at a time once the last was counted, and the broadcast wake it. A
 * HLT that an IPI's rendezvous interrupts must complete (the guest's IRET
 * returns after it), and a vector still on the line when the guest halts
 * in STI's shadow must wake it: otherwise an AP sleeps for good and the
 * BSP with it (the case's watchdog ends it). And that HLT's completion
 * must end STI's shadow: the AP's CLI right after it finds the IPI taken
 * (else SM_SHADOW, and the guest spins through HLT exits). QEMU's TCG ends
 * the shadow as the HLT begins, so there this last check cannot fail; on
 * a CPU that keeps it in the VMCB it can (the APM; bhyve and KVM clear it
 * whenever they move RIP, as svm.c's set_rip does). */
UTEST(uvm, idle_aps_are_woken_from_hlt_by_ipis_alone)
{
	enum { N = 3, IDLE_IPIS = 5 };
	struct ut_vcpu x[N];
	unsigned mbox[N][UVM_MBOX_SIZE / 4];
	int vm = run_smp(N, 2, 2, x, &mbox[0][0]);
	for (int i = 1; i < N; i++) {
		struct uvm_info in;
		UT_ASSERT_EQ(vm_info(vm, i, &in), 0);
		UT_EXPECT_EQ(x[i].r.result, UVM_SMP_OK | (unsigned)i);
		UT_EXPECT_EQ(mbox[i][SM_IPIS], IDLE_IPIS);
		UT_EXPECT_EQ(mbox[i][SM_SHADOW], 0);	/* taken at once after the HLT */
		UT_EXPECT_EQ(mbox[i][SM_BCAST], 1);
		UT_EXPECT_EQ(mbox[i][SM_TICKS], 0);		/* no timer */
		UT_EXPECT_EQ(in.timer_fires, 0);
		UT_EXPECT_EQ(in.irqs, IDLE_IPIS + 1);
		UT_EXPECT(in.exits_hlt >= IDLE_IPIS);	/* it slept for each */
	}
	UT_EXPECT_EQ(x[0].r.result, UVM_SMP_OK | N);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* 130 vCPUs, a thread of this program's each: the BSP starts 129 APs by
 * INIT and SIPI, one rendezvous each, and all count their timer's ticks
 * and take the broadcast; the APs halt between their interrupts. */
UTEST_TIMEOUT(uvm, a_130_vcpu_guest_driven_from_user_space_starts_every_ap, 60)
{
	enum { N = 130, TICKS = 3 };
	static struct ut_vcpu x[N];
	static unsigned mbox[N][UVM_MBOX_SIZE / 4];
	unsigned long t0 = clock_ns();
	int vm = run_smp(N, TICKS, 1, x, &mbox[0][0]);
	unsigned long ms = (clock_ns() - t0) / MS;
	int ok = 0, started = 0;
	unsigned long sipis = 0;
	for (int i = 0; i < N; i++) {
		struct uvm_info in;
		UT_ASSERT_EQ(vm_info(vm, i, &in), 0);
		ok += x[i].err == 0 && x[i].r.stop == UVM_STOP_RESULT &&
		      x[i].r.result == (UVM_SMP_OK | (i ? (unsigned)i : N)) &&
		      mbox[i][SM_LONG] == 1 && mbox[i][SM_TICKS] >= TICKS && mbox[i][SM_BCAST] == 1;
		started += (int)mbox[i][SM_STARTED];
		sipis += in.sipis;
	}
	UT_LOG("%d vCPUs: %d gave their result, %d started, %lu SIPIs, in %lu ms", N, ok, started,
	       sipis, ms);
	UT_EXPECT_EQ(ok, N);
	UT_EXPECT_EQ(started, N);
	UT_EXPECT_EQ(sipis, N - 1);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* ---- the FPU: the guest's and the program's ---- */

UTEST(uvm, the_guest_keeps_its_xmm_while_its_thread_sleeps_in_the_kernel)
{
	int vm = make_vm("fpuhold", 1, 0);
	struct ut_vcpu x = { .vm = vm, .id = 0 };
	int tid = uthread_create(ut_run_vcpu, &x);
	UT_ASSERT(tid > 0);
	wait_state(vm, 0, ST_SLEEPING);
	/* meanwhile this thread uses the FPU on the same CPUs */
	for (int i = 0; i < 10; i++) {
		__asm__ volatile("pcmpeqd %%xmm4, %%xmm4; pcmpeqd %%xmm7, %%xmm7" ::: "xmm4", "xmm7");
		sched_yield();
	}
	UT_EXPECT_EQ(vm_event(vm, 0, 1), 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(x.r.stop, UVM_STOP_RESULT);
	UT_EXPECT_EQ(x.r.result, UVM_FPUHOLD_OK | 0);
	struct uvm_info in;
	UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
	UT_EXPECT(in.fpu_saves >= 1);		/* its op saved them at the sleep */
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* A vCPU thread for the avx guest: holds a YMM8 pattern of its own (the
 * host layer) across every vm_run, and moves to another CPU at each exit
 * where there are several. */
struct avx_runner {
	struct ut_vcpu x;
	unsigned long host_bad;		/* runs after which YMM8 was not its own */
	unsigned ncpus;
};

static void run_avx_vcpu(void *arg)
{
	struct avx_runner *a = arg;
	struct ut_vcpu *x = &a->x;
	unsigned long want[4], got[4];
	for (int k = 0; k < 4; k++)
		want[k] = 0x5157000000000000UL | (unsigned long)x->id << 8 | (unsigned long)k;
	x->r = (struct uvm_run){ 0 };
	for (int turn = 0;; turn++) {
		register long rax __asm__("rax") = SYS_vm_run;
		register long rdi __asm__("rdi") = x->vm;
		register long rsi __asm__("rsi") = x->id;
		register long rdx __asm__("rdx") = (long)&x->r;
		__asm__ volatile("vmovdqu (%[w]), %%ymm8\n\t"
				 "syscall\n\t"
				 "vmovdqu %%ymm8, (%[g])"
				 : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
				 : [w] "r"(want), [g] "r"(got)
				 : "rcx", "r11", "memory", "xmm8");
		a->host_bad += memcmp(want, got, sizeof(want)) != 0;
		x->err = (int)rax;
		if (x->err || x->r.reason == UVM_EXIT_STOPPED)
			return;
		x->exits++;
		/* between runs: pinned to one CPU after another, or free (then
		 * the guest's odd rounds move it inside the run: see avx.asm) */
		if (a->ncpus > 1)
			set_cpus(turn % 2 ? 1u << ((unsigned)(turn + x->id) % a->ncpus) : ~0u);
	}
}

UTEST(uvm, guest_avx_state_survives_host_switches_and_migrations)
{
	enum { N = 3, ROUNDS = 60 };
	if (!fpu_regs_init())
		UT_SKIP("no AVX here (CPUID, or XCR0 without it)");
	struct sysinfo si;
	ut_sysinfo(&si);
	int vm = make_vm("avx", N, ROUNDS);
	struct avx_runner a[N];
	int tids[N];
	for (int i = 0; i < N; i++) {
		a[i] = (struct avx_runner){ .x = { .vm = vm, .id = i, .pio_only = true },
					    .ncpus = (unsigned)si.ncpus };
		tids[i] = uthread_create(run_avx_vcpu, &a[i]);
		UT_ASSERT(tids[i] > 0);
	}
	unsigned long saves = 0, moves = 0;
	for (int i = 0; i < N; i++) {
		UT_ASSERT_EQ(uthread_join(tids[i]), 0);
		struct uvm_info in;
		unsigned mbox[2];
		UT_ASSERT_EQ(vm_info(vm, i, &in), 0);
		UT_ASSERT_EQ(vm_memory(vm, UVM_MEM_READ, UVM_MBOX_GPA + (unsigned long)i *
				       UVM_MBOX_SIZE, mbox, sizeof(mbox)), 0);
		UT_LOG("vCPU %d: result 0x%x, %u rounds (%u found YMM4-7 changed), %lu guest FPU "
		       "saves inside its runs (%lu back on another CPU), %lu runs that lost the "
		       "program's YMM8", i, a[i].x.r.result, mbox[0], mbox[1], in.fpu_saves,
		       in.fpu_moves, a[i].host_bad);
		UT_EXPECT_EQ(a[i].x.err, 0);
		UT_EXPECT_EQ(a[i].x.r.result, UVM_AVX_OK | (unsigned)i);
		UT_EXPECT_EQ(mbox[0], ROUNDS);
		UT_EXPECT_EQ(mbox[1], 0);
		UT_EXPECT_EQ(a[i].host_bad, 0);
		UT_EXPECT_EQ(a[i].x.exits, ROUNDS);
		saves += in.fpu_saves;
		moves += in.fpu_moves;
	}
	/* the guests' registers did leave the CPU inside runs: the yields and
	 * moves of their hypercall, with the other vCPU threads runnable; and
	 * with several CPUs came back on another (the moves: a CPU that keeps
	 * guests off CPU 0 still has two others) */
	UT_EXPECT(saves >= ROUNDS);
	if (si.ncpus > 2)
		UT_EXPECT(moves >= ROUNDS / 2);
	set_cpus(~0u);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

UTEST(uvm, the_program_keeps_its_xmm_across_vm_run)
{
	int vm = make_vm("fpuhold", 1, 0);
	unsigned long want[2] = { 0x1122334455667788UL, 0x99AABBCCDDEEFF00UL }, got[2];
	struct uvm_run r = { 0 };
	struct uvm_info in;
	/* the first run: the guest loads its XMM4, halts, and the event that
	 * ends the HLT comes from a vm_event made before (it waits in its
	 * slot), so the run goes to the end in one call */
	UT_ASSERT_EQ(vm_event(vm, 0, 1), 0);
	register long rax __asm__("rax") = SYS_vm_run;
	register long rdi __asm__("rdi") = vm;
	register long rsi __asm__("rsi") = 0;
	register long rdx __asm__("rdx") = (long)&r;
	__asm__ volatile("movdqu (%[w]), %%xmm4\n\t"
			 "syscall\n\t"
			 "movdqu %%xmm4, (%[g])"
			 : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
			 : [w] "r"(want), [g] "r"(got)
			 : "rcx", "r11", "memory", "xmm4");
	UT_EXPECT_EQ(rax, 0);
	UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
	UT_EXPECT_EQ(r.result, UVM_FPUHOLD_OK | 0);
	UT_EXPECT_EQ(got[0], want[0]);
	UT_EXPECT_EQ(got[1], want[1]);
	UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
	UT_EXPECT_EQ(handle_close(vm), 0);
}

/* ---- bad arguments ---- */

/*
 * vm_memory copies through copyin and copyout, which move eight bytes at
 * a time and then the last 0-7 (arch/x86_64/uaccess.asm): every length
 * and alignment comes back as it went, and a buffer whose last byte, or
 * any of the last eight, runs into unmapped memory is -EFAULT either way
 * (a fault in the quadwords and in the bytes after them both end the copy).
 */
UTEST(uvm, guest_memory_copies_are_whole_at_every_length_and_refused_at_an_edge)
{
	int vm = make_vm("halt", 1, 0);
	static unsigned char out[128], back[128];
	int bad = 0;
	for (int off = 0; off < 8; off++) {
		for (int len = 0; len <= 40; len++) {
			for (int i = 0; i < 128; i++) {
				out[i] = (unsigned char)(i * 11 + off + len);
				back[i] = 0;
			}
			UT_ASSERT_EQ(vm_memory(vm, UVM_MEM_WRITE, 0x3000 + (unsigned long)off,
					       out + off, (unsigned long)len), 0);
			UT_ASSERT_EQ(vm_memory(vm, UVM_MEM_READ, 0x3000 + (unsigned long)off,
					       back + off, (unsigned long)len), 0);
			bad += memcmp(back + off, out + off, (size_t)len) != 0;
			for (int i = 0; i < 128; i++)	/* nothing around it moved */
				bad += (i < off || i >= off + len) && back[i] != 0;
		}
	}
	UT_EXPECT_EQ(bad, 0);
	char *edge = ut_heap_edge();		/* 8 mapped bytes, then none */
	for (int k = 0; k < 16; k++) {
		long want = k == 0 ? 0 : -EFAULT;
		UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_WRITE, 0x3000, edge - 8, 16 + (unsigned long)k),
			     want);
		UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, 0x3000, edge - 8, 16 + (unsigned long)k),
			     want);
	}
	UT_EXPECT_EQ(handle_close(vm), 0);
}

UTEST(uvm, every_bad_argument_is_an_error)
{
	struct uvm_config cfg = { .nvcpus = 1 };
	int vm = vm_create(&cfg);
	if (vm == -ENOTSUP)
		UT_SKIP("this machine cannot run guests");
	UT_ASSERT(vm >= 0);
	char buf[64] = { 0 };
	struct uvm_run r = { 0 };
	struct uvm_info in;
	int ep = endpoint_create();
	UT_ASSERT(ep >= 0);

	UT_EXPECT_EQ(vm_create(NULL), -EFAULT);
	UT_EXPECT_EQ(vm_create((void *)UT_NEAR_TOP), -EFAULT);
	struct uvm_config bad[] = {
		{ .nvcpus = 0 }, { .nvcpus = UVM_MAX_VCPUS + 1 }, { .nvcpus = 1, .flags = 0x80 },
		{ .nvcpus = 1, .mem_size = 4097 }, { .nvcpus = 1, .mem_size = UVM_MEM_MAX + 4096 },
		{ .nvcpus = 1, .mem_size = 4096 },	/* too small for its stack */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		UT_EXPECT_EQ(vm_create(&bad[i]), -EINVAL);

	/* handles: none, out of range, another kind */
	UT_EXPECT_EQ(vm_run(-1, 0, &r), -EBADF);
	UT_EXPECT_EQ(vm_run(IPC_HANDLES_MAX, 0, &r), -EBADF);
	UT_EXPECT_EQ(vm_run(ep, 0, &r), -EBADF);
	UT_EXPECT_EQ(vm_memory(ep, UVM_MEM_READ, 0, buf, 8), -EBADF);
	UT_EXPECT_EQ(vm_info(ep, 0, &in), -EBADF);
	/* vCPUs */
	UT_EXPECT_EQ(vm_run(vm, 1, &r), -EINVAL);
	UT_EXPECT_EQ(vm_run(vm, -1, &r), -EINVAL);
	UT_EXPECT_EQ(vm_event(vm, 1, 1), -EINVAL);
	UT_EXPECT_EQ(vm_info(vm, 7, &in), -EINVAL);
	/* pointers */
	UT_EXPECT_EQ(vm_run(vm, 0, NULL), -EFAULT);
	UT_EXPECT_EQ(vm_run(vm, 0, (void *)0xFFFF800000001000UL), -EFAULT);
	UT_EXPECT_EQ(vm_info(vm, 0, NULL), -EFAULT);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, 0x1000, NULL, 8), -EFAULT);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_WRITE, 0x1000, (void *)UT_NEAR_TOP, 64), -EFAULT);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, 0x1000, (void *)0x1000, 8), -EFAULT);
	/* guest memory: inside it only */
	UT_ASSERT_EQ(vm_info(vm, 0, &in), 0);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, in.mem_size, buf, 1), -EINVAL);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, in.mem_size - 8, buf, 16), -EINVAL);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, ~0UL, buf, 2), -EINVAL);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, in.mem_size - 8, buf, 8), 0);
	UT_EXPECT_EQ(vm_memory(vm, 7, 0x1000, buf, 8), -EINVAL);
	/* ops */
	UT_EXPECT_EQ((int)syscall6(SYS_vm_ctl, vm, 3, 0, 0, 0, 0), -EINVAL);
	UT_EXPECT_EQ((int)syscall6(SYS_vm_ctl, vm, -1, 0, 0, 0, 0), -EINVAL);
	/* nothing of that changed the VM: its memory reads back as written */
	memcpy(buf, "guest memory", 13);
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_WRITE, 0x2000, buf, 13), 0);
	char back[13];
	UT_EXPECT_EQ(vm_memory(vm, UVM_MEM_READ, 0x2000, back, 13), 0);
	UT_EXPECT(memcmp(back, "guest memory", 13) == 0);
	UT_EXPECT_EQ(handle_close(vm), 0);
	UT_EXPECT_EQ(vm_run(vm, 0, &r), -EBADF);	/* closed */
	UT_EXPECT_EQ(handle_close(ep), 0);
}

UTEST(uvm, vms_end_with_their_last_handle_and_at_a_limit)
{
	struct sysinfo before, si;
	struct uvm_config cfg = { .nvcpus = 2 };
	require_vms();
	ut_sysinfo(&before);
	int vm = vm_create(&cfg);
	UT_ASSERT(vm >= 0);
	ut_sysinfo(&si);
	UT_EXPECT_EQ(si.vms, before.vms + 1);
	int dup = handle_dup(vm, IPC_R_ALL, 0);
	UT_ASSERT(dup >= 0);
	UT_EXPECT_EQ(handle_close(vm), 0);
	ut_sysinfo(&si);
	UT_EXPECT_EQ(si.vms, before.vms + 1);		/* the copy holds it */
	struct uvm_info in;
	UT_EXPECT_EQ(vm_info(dup, 1, &in), 0);
	UT_EXPECT_EQ(handle_close(dup), 0);
	ut_sysinfo(&si);
	UT_EXPECT_EQ(si.vms, before.vms);

	/* UVM_VMS_MAX at once, then -EAGAIN */
	int vms[UVM_VMS_MAX + 1], n = 0, r;
	while (n <= UVM_VMS_MAX && (r = vm_create(&cfg)) >= 0)
		vms[n++] = r;
	UT_EXPECT_EQ(r, -EAGAIN);
	UT_EXPECT_EQ(n, UVM_VMS_MAX - (int)before.vms);
	while (n > 0)
		UT_EXPECT_EQ(handle_close(vms[--n]), 0);
	ut_sysinfo(&si);
	ut_expect_baseline(&before, &si);
	UT_EXPECT_EQ(si.vms, before.vms);
}

/* The last handle closed while a thread runs a vCPU asleep in HLT, one in
 * its guest, one inside a rendezvous: each run returns, stopped (taken
 * out), and the VMs go; a handle without IPC_R_SEND may not use the VM. */
UTEST(uvm, closing_the_last_handle_stops_the_runs_in_progress)
{
	struct sysinfo before, si;
	int vm = make_vm("halt", 1, 0);			/* halts for ever */
	ut_sysinfo(&before);
	int weak = handle_dup(vm, IPC_R_DUP, 0);
	UT_ASSERT(weak >= 0);
	struct uvm_run r = { 0 };
	struct uvm_info in;
	UT_EXPECT_EQ(vm_run(weak, 0, &r), -EPERM);
	UT_EXPECT_EQ(vm_info(weak, 0, &in), -EPERM);
	UT_EXPECT_EQ(handle_close(weak), 0);
	struct ut_vcpu x = { .vm = vm, .id = 0 };
	int tid = uthread_create(ut_run_vcpu, &x);
	UT_ASSERT(tid > 0);
	wait_state(vm, 0, ST_SLEEPING);
	UT_EXPECT_EQ(handle_close(vm), 0);
	UT_ASSERT_EQ(uthread_join(tid), 0);
	UT_EXPECT_EQ(x.err, 0);
	UT_EXPECT_EQ(x.r.reason, UVM_EXIT_STOPPED);
	UT_EXPECT_EQ(x.r.stop, UVM_STOP_DEACTIVATED);
	ut_sysinfo(&si);
	UT_EXPECT_EQ(si.vms, before.vms - 1);

	/* the same for a run spinning in its guest (a jmp $) and one inside a
	 * rendezvous that waits for a vCPU no thread runs (smp's INIT of its
	 * AP): closing takes that vCPU out too, and the rendezvous ends */
	static const unsigned char spin[] = { 0xEB, 0xFE };
	struct uvm_config one = { .nvcpus = 1 };
	const struct uvm_image *smp = uvm_image_find("smp");
	struct uvm_config stuck = { .nvcpus = 2, .flags = UVM_F_APS_WAIT_SIPI, .mem_size = smp->mem };
	int a = vm_create(&one), b = vm_create(&stuck);
	UT_ASSERT(a >= 0 && b >= 0);
	UT_ASSERT_EQ(vm_memory(a, UVM_MEM_WRITE, UVM_CODE_GPA, (void *)spin, sizeof(spin)), 0);
	UT_ASSERT_EQ(uvm_load(b, smp), 0);
	struct ut_vcpu xa = { .vm = a, .id = 0 }, xb = { .vm = b, .id = 0 };
	int ta = uthread_create(ut_run_vcpu, &xa), tb = uthread_create(ut_run_vcpu, &xb);
	UT_ASSERT(ta > 0 && tb > 0);
	wait_in_first_init(b);
	/* in its run: its thread may not have got a CPU yet (seen once on
	 * smp4, in a loaded make test), so wait for it, a second at most */
	unsigned long deadline = clock_ns() + 1000 * MS;
	do {
		UT_ASSERT_EQ(vm_info(a, 0, &in), 0);
		if (in.state == ST_IDLE)
			sleep_ns(MS);
	} while (in.state == ST_IDLE && clock_ns() < deadline);
	UT_EXPECT(in.state != ST_IDLE);
	UT_EXPECT_EQ(handle_close(a), 0);
	UT_EXPECT_EQ(handle_close(b), 0);
	UT_ASSERT_EQ(uthread_join(ta), 0);
	UT_ASSERT_EQ(uthread_join(tb), 0);
	UT_EXPECT_EQ(xa.r.stop, UVM_STOP_DEACTIVATED);
	UT_EXPECT_EQ(xb.r.stop, UVM_STOP_DEACTIVATED);
	ut_sysinfo(&si);
	UT_EXPECT_EQ(si.vms, before.vms - 1);
}

/* ---- a process killed in vm_run ---- */

/* Two VMs for a child to run: in a, vCPU 1 asleep in HLT for ever and
 * vCPU 0 spinning in its guest (a jmp $ written over the code once
 * vCPU 1 is past it); in b, a vCPU that exits to the program at each of
 * a billion OUTs. */
struct kill_vms {
	int a, b, c, d;
};

/* c: vCPU 0 halts for ever, vCPU 1 waits for a SIPI that never comes; d:
 * an smp guest whose BSP starts its AP by INIT, a rendezvous that waits
 * for good, since no thread runs the AP: its thread waits inside it. */
static void make_kill_vms(struct kill_vms *k)
{
	const struct uvm_image *smp = uvm_image_find("smp");
	struct uvm_config two = { .nvcpus = 2 }, one = { .nvcpus = 1, .args = { 1000000000 } },
			  sipi = { .nvcpus = 2, .flags = UVM_F_APS_WAIT_SIPI },
			  stuck = { .nvcpus = 2, .flags = UVM_F_APS_WAIT_SIPI, .mem_size = smp->mem };
	k->a = vm_create(&two);
	k->b = vm_create(&one);
	k->c = vm_create(&sipi);
	k->d = vm_create(&stuck);
	UT_ASSERT(k->a >= 0 && k->b >= 0 && k->c >= 0 && k->d >= 0);
	UT_ASSERT_EQ(uvm_load(k->a, uvm_image_find("halt")), 0);	/* EBX 0: for ever */
	UT_ASSERT_EQ(uvm_load(k->b, uvm_image_find("pio")), 0);
	UT_ASSERT_EQ(uvm_load(k->c, uvm_image_find("halt")), 0);
	UT_ASSERT_EQ(uvm_load(k->d, smp), 0);
}

/* The child: runs the three vCPUs (its own VMs if arg's a is -1, else
 * arg's, which it shares with the parent) until it is killed. */
static void vm_child(void *arg)
{
	static struct ut_vcpu x[6];
	struct kill_vms k = *(struct kill_vms *)arg;
	if (k.a < 0)
		make_kill_vms(&k);
	x[0] = (struct ut_vcpu){ .vm = k.a, .id = 0 };
	x[1] = (struct ut_vcpu){ .vm = k.a, .id = 1 };
	x[2] = (struct ut_vcpu){ .vm = k.b, .id = 0 };
	x[3] = (struct ut_vcpu){ .vm = k.c, .id = 0 };
	x[4] = (struct ut_vcpu){ .vm = k.c, .id = 1 };
	x[5] = (struct ut_vcpu){ .vm = k.d, .id = 0 };
	for (int i = 3; i < 6; i++)
		UT_ASSERT(uthread_create(ut_run_vcpu, &x[i]) > 0);
	UT_ASSERT(uthread_create(ut_run_vcpu, &x[1]) > 0);
	wait_state(k.a, 1, ST_SLEEPING);
	static const unsigned char spin[] = { 0xEB, 0xFE };	/* jmp $ */
	UT_ASSERT_EQ(vm_memory(k.a, UVM_MEM_WRITE, UVM_CODE_GPA, (void *)spin, sizeof(spin)), 0);
	UT_ASSERT(uthread_create(ut_run_vcpu, &x[0]) > 0);
	ut_run_vcpu(&x[2]);
	exit(9);				/* not reached: killed first */
}

/* Round 0: the parent holds the VMs too. It sees a vCPU in its guest, two
 * asleep in HLT, one waiting for its SIPI and one inside a rendezvous,
 * kills the child, and finds every vCPU out of vm_run (idle, free for
 * another thread to run). Round 1: the child's own VMs,
 * which its death takes away. Both: everything back at the baseline. */
UTEST(uvm, a_process_killed_in_vm_run_leaves_nothing_behind)
{
	struct sysinfo before, si;
	require_vms();
	ut_sysinfo(&before);
	for (int round = 0; round < 2; round++) {
		struct kill_vms k = { -1, -1, -1, -1 };
		if (round == 0)
			make_kill_vms(&k);
		int pid = ut_fork(vm_child, &k);
		unsigned long deadline = clock_ns() + 2000 * MS;
		do {
			ut_sysinfo(&si);
			UT_ASSERT(clock_ns() < deadline);
			sleep_ns(5 * MS);
		} while (si.vms != before.vms + 4 || si.threads < before.threads + 6);
		if (round == 0) {
			/* in its jmp $: seen RUNNING from another CPU; on one,
			 * this thread runs only while it is preempted */
			wait_state(k.a, 0, si.ncpus > 1 ? ST_RUNNING : ST_FROZEN);
			wait_state(k.a, 1, ST_SLEEPING);
			wait_state(k.c, 0, ST_SLEEPING);	/* HLT */
			wait_state(k.c, 1, ST_SLEEPING);	/* INIT's wait for a SIPI */
			struct uvm_info in;
			wait_in_first_init(k.d);
			sleep_ns(20 * MS);
			UT_ASSERT_EQ(vm_info(k.d, 0, &in), 0);
			UT_EXPECT_EQ(in.state, ST_FROZEN);	/* still there */
		} else {
			sleep_ns(20 * MS);
		}
		UT_EXPECT_EQ(kill(pid), 0);
		int st = 0;
		UT_EXPECT_EQ(waitpid(pid, &st), pid);
		UT_EXPECT_EQ(st, WAIT_KILLED);
		if (round == 0) {
			struct uvm_info in;
			for (int i = 0; i < 2; i++) {
				UT_EXPECT_EQ(vm_info(k.a, i, &in), 0);
				UT_EXPECT_EQ(in.state, ST_IDLE);
				UT_EXPECT_EQ(in.stop, 0);	/* not stopped: only left */
			}
			UT_EXPECT_EQ(vm_info(k.b, 0, &in), 0);
			UT_EXPECT_EQ(in.state, ST_IDLE);
			for (int i = 0; i < 2; i++) {
				UT_EXPECT_EQ(vm_info(k.c, i, &in), 0);
				UT_EXPECT_EQ(in.state, ST_IDLE);
				UT_EXPECT_EQ(vm_info(k.d, i, &in), 0);
				UT_EXPECT_EQ(in.state, ST_IDLE);
			}
			/* free to run here: taken out, it stops at once */
			struct uvm_run r = { 0 };
			UT_EXPECT_EQ(vm_deactivate(k.a, 1), 0);
			UT_EXPECT_EQ(vm_run(k.a, 1, &r), 0);
			UT_EXPECT_EQ(r.reason, UVM_EXIT_STOPPED);
			UT_EXPECT_EQ(r.stop, UVM_STOP_DEACTIVATED);
			UT_EXPECT_EQ(handle_close(k.a), 0);
			UT_EXPECT_EQ(handle_close(k.b), 0);
			UT_EXPECT_EQ(handle_close(k.c), 0);
			UT_EXPECT_EQ(handle_close(k.d), 0);
		}
		ut_settle(before.procs, 1000 * MS, &si);
		UT_EXPECT_EQ(si.vms, before.vms);
		ut_expect_baseline(&before, &si);
	}
}
