/*
 * user/bin/vmrun.c - runs a guest in a VM driven from user space, as
 * bhyve does: one thread per vCPU calls vm_run in a loop, and emulates
 * the devices whose ports exit to it.
 *
 *   vmrun [-q] [-c] [-e] IMAGE [NVCPUS [ARG [ARG2]]]   run it (ARG, ARG2:
 *                                         the guest's EBX and ECX)
 *   vmrun                                   list the images
 *
 * -q prints only what went wrong. -c shows a vCPU thread's context-op
 * chain in the middle of a run: once every vCPU sleeps in the guest's HLT
 * (fpuhold, halt), the monitor's `ctxops` of vCPU 0's thread, which is
 * inside vm_run with the guest's FPU op over its own two (illumos 12477's
 * order). The guests that halt for events get one each time they sleep,
 * from a thread of vmrun's (halt with ARG 0 halts for ever: Ctrl-C), but
 * with -e, where the events come from elsewhere (tests/vmm/uvm_test.c
 * posts them from the kernel).
 *
 * The devices: the debug console at 0xE9 and a 16550 UART at COM1
 * (0x3F8-0x3FF: THR takes characters, LSR always says "transmitter
 * empty", the other registers read 0 and take anything); port 0x610
 * counts OUTs (the benchmark guest's); and, by MMIO, a scratch device at
 * guest-physical 0xF00000 (UVM_MMIO_SCRATCH: eight 8-byte registers per
 * vCPU that keep what is stored, the mmio guest's). An address nothing
 * here emulates stops that vCPU with a message, as a port does. Each vCPU's characters make its
 * own lines, printed whole as "[vm3.1] ...", so vCPUs never interleave
 * mid-line. A port nothing here emulates stops that vCPU with a message.
 * The exit status is 0 when every vCPU gave a result and none of them a
 * bad one (UVM_GUEST_BAD), else 1.
 */
#include <uvm.h>

#define LINE_MAX 120

struct vcpu_dev {
	int vm, id;
	char line[LINE_MAX];
	int len;
	unsigned long pio;		/* OUTs to UVM_PORT_PIO */
	unsigned long mmio;		/* accesses to the scratch device */
	unsigned char scratch[UVM_MMIO_SCRATCH_SIZE];	/* its registers */
	unsigned long exits;		/* exits to this program */
	int err;			/* vm_run's error, if it gave one */
	struct uvm_run run;		/* the last one: how it stopped */
};

static unsigned vm_number;
static bool quiet, chain, external;
static int main_tid;			/* vCPU 0's thread */

static void flush_line(struct vcpu_dev *d)
{
	if (!quiet)
		printf("[vm%u.%d] %.*s\n", vm_number, d->id, d->len, d->line);
	d->len = 0;
}

static void console_char(struct vcpu_dev *d, char c)
{
	if (c != '\n' && c != '\r')
		d->line[d->len++] = c;
	if (c == '\n' || d->len == LINE_MAX)
		flush_line(d);
}

/* An MMIO exit: the scratch device's registers (each vCPU its own), or
 * false for an address nothing here emulates. */
static bool emulate_mmio(struct vcpu_dev *d, struct uvm_run *r)
{
	unsigned long off = r->gpa - UVM_MMIO_SCRATCH;
	if (r->gpa < UVM_MMIO_SCRATCH || off + r->bytes > UVM_MMIO_SCRATCH_SIZE)
		return false;
	d->mmio++;
	if (r->in) {
		unsigned long v = 0;
		memcpy(&v, d->scratch + off, r->bytes);
		r->data = v;
	} else {
		memcpy(d->scratch + off, &r->data, r->bytes);
	}
	return true;
}

/* One exit: the value an IN reads; false for a port nothing emulates. */
static bool emulate(struct vcpu_dev *d, const struct uvm_run *r, unsigned *in_value)
{
	*in_value = 0;
	if (r->port == UVM_PORT_CONSOLE) {
		if (!r->in)
			console_char(d, (char)r->value);
		return true;
	}
	if (r->port >= UVM_PORT_COM1 && r->port <= UVM_PORT_COM1 + 7) {
		unsigned reg = r->port - UVM_PORT_COM1;
		if (reg == 0 && !r->in)
			console_char(d, (char)r->value);	/* THR */
		else if (reg == 5 && r->in)
			*in_value = 0x60;		/* LSR: THRE | TEMT */
		return true;
	}
	if (r->port == UVM_PORT_PIO && !r->in) {
		d->pio++;
		return true;
	}
	return false;
}

static void run_vcpu(void *arg)
{
	struct vcpu_dev *d = arg;
	struct uvm_run *r = &d->run;
	*r = (struct uvm_run){ 0 };
	for (;;) {
		int err = vm_run(d->vm, d->id, r);
		if (err) {
			d->err = err;
			return;
		}
		if (r->reason == UVM_EXIT_STOPPED)
			break;
		d->exits++;
		if (r->reason == UVM_EXIT_MMIO) {
			if (!emulate_mmio(d, r)) {
				printf("vmrun: vm%u.%d: a %u-byte %s guest-physical 0x%lx, which vmrun "
				       "does not emulate, at rip 0x%lx: the vCPU stops\n", vm_number,
				       d->id, r->bytes, r->in ? "load from" : "store to", r->gpa,
				       r->rip);
				vm_deactivate(d->vm, d->id);
			}
		} else if (!emulate(d, r, &r->in_value)) {
			printf("vmrun: vm%u.%d: %s port 0x%x, which vmrun does not emulate, at rip "
			       "0x%lx: the vCPU stops\n", vm_number, d->id,
			       r->in ? "IN from" : "OUT to", r->port, r->rip);
			vm_deactivate(d->vm, d->id);
		}
	}
	if (d->len)
		flush_line(d);
}

/* The events of guests that halt for them (fpuhold, halt): a thread
 * that, once every vCPU sleeps in HLT (or has stopped), shows vCPU 0's
 * thread's chain if -c asked, then gives an event to each vCPU it finds
 * asleep, until all have stopped. */
static void waker(void *arg)
{
	struct vcpu_dev *devs = arg;
	int vm = devs[0].vm;
	struct uvm_info in;
	if (vm_info(vm, 0, &in))
		return;
	unsigned n = in.nvcpus;
	unsigned long deadline = clock_ns() + 1000000000UL;
	bool asleep = false;
	while (!asleep && clock_ns() < deadline) {
		asleep = true;
		for (unsigned i = 0; asleep && i < n && vm_info(vm, (int)i, &in) == 0; i++)
			asleep = in.state == 3 || in.stop;	/* sleeping in HLT, or done */
		sleep_ns(1000000);
	}
	if (chain && !asleep) {
		printf("vmrun: -c: the vCPUs did not all halt within a second (a guest that "
		       "halts: fpuhold, halt)\n");
	} else if (chain) {
		char cmd[32];
		printf("vmrun: vCPU 0 asleep in its guest's HLT; its thread's chain, inside "
		       "vm_run:\n");
		snprintf(cmd, sizeof(cmd), "ctxops %d", main_tid);
		monitor_cmd(cmd);
	}
	while (!external) {
		unsigned stopped = 0;
		for (unsigned i = 0; i < n && vm_info(vm, (int)i, &in) == 0; i++) {
			if (in.stop)
				stopped++;
			else if (in.state == 3)
				vm_event(vm, (int)i, 1);
		}
		if (stopped == n)
			return;
		sleep_ns(10000000);		/* 10 ms */
	}
}

static void list_images(void)
{
	printf("usage: vmrun [-q] [-c] [-e] IMAGE [NVCPUS [ARG [ARG2]]]\n"
	       "  -q: only what went wrong; -c: a vCPU thread's chain in mid-run;\n"
	       "  -e: the events of guests that halt come from elsewhere\n"
	       "images:\n");
	for (int i = 0; i < uvm_nimages; i++)
		printf("  %-8s %s\n", uvm_images[i].name, uvm_images[i].what);
}

static const char *stop_name(unsigned stop)
{
	return stop == UVM_STOP_RESULT ? "result" : stop == UVM_STOP_DEACTIVATED ? "deactivated"
		: stop == UVM_STOP_FAULT ? "fault" : "?";
}

int main(int argc, char **argv)
{
	int a = 1;
	for (; a < argc && argv[a][0] == '-'; a++) {
		if (strcmp(argv[a], "-q") == 0) {
			quiet = true;
		} else if (strcmp(argv[a], "-c") == 0) {
			chain = true;
		} else if (strcmp(argv[a], "-e") == 0) {
			external = true;
		} else {
			printf("vmrun: unknown option '%s'\n", argv[a]);
			list_images();
			return 2;
		}
	}
	if (a >= argc) {
		list_images();
		return 0;
	}
	const struct uvm_image *img = uvm_image_find(argv[a]);
	if (!img) {
		printf("vmrun: no image '%s'\n", argv[a]);
		list_images();
		return 2;
	}
	long n = a + 1 < argc ? atol(argv[a + 1]) : 1;
	long arg = a + 2 < argc ? atol(argv[a + 2]) : 0;
	long arg2 = a + 3 < argc ? atol(argv[a + 3]) : 0;
	int most = UTHREADS_MAX - (chain || (img->halts && !external) ? 1 : 0);
	if (n < 1 || n > most) {
		printf("vmrun: NVCPUS must be 1 .. %d (a thread each)\n", most);
		return 2;
	}
	struct uvm_config cfg = { .nvcpus = (unsigned)n, .flags = img->flags, .mem_size = img->mem,
				  .args = { (unsigned)arg, (unsigned)arg2 } };
	int vm = vm_create(&cfg);
	if (vm < 0) {
		printf("vmrun: vm_create: %s\n", vm == -ENOTSUP ? "this machine cannot run "
		       "virtual machines (SVM with nested paging: QEMU's -cpu max)" :
		       vm == -EAGAIN ? "too many VMs at once" : vm == -ENOMEM ? "out of memory" :
		       "refused");
		return 1;
	}
	int err = uvm_load(vm, img);
	struct uvm_info info;
	if (!err)
		err = vm_info(vm, 0, &info);
	if (err) {
		printf("vmrun: loading %s: error %d\n", img->name, err);
		return 1;
	}
	vm_number = info.id;
	struct vcpu_dev *devs = calloc((size_t)n, sizeof(*devs));
	int *tids = calloc((size_t)n, sizeof(*tids));
	if (!devs || !tids) {
		printf("vmrun: out of memory\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		devs[i].vm = vm;
		devs[i].id = i;
	}
	for (int i = 1; i < n; i++) {
		tids[i] = uthread_create(run_vcpu, &devs[i]);
		if (tids[i] < 0) {
			printf("vmrun: a thread for vCPU %d: error %d\n", i, tids[i]);
			return 1;
		}
	}
	main_tid = gettid();
	bool events = img->halts && !external;
	int shower = chain || events ? uthread_create(waker, devs) : 0;
	if (shower < 0) {
		printf("vmrun: a thread for the events: error %d\n", shower);
		return 1;
	}
	run_vcpu(&devs[0]);
	for (int i = 1; i < n; i++)
		uthread_join(tids[i]);
	if (shower > 0)
		uthread_join(shower);

	int bad = 0;
	for (int i = 0; i < n; i++) {
		struct vcpu_dev *d = &devs[i];
		if (d->err) {
			printf("vm%u.%d: vm_run: error %d\n", vm_number, i, d->err);
			bad++;
			continue;
		}
		bool ok = d->run.stop == UVM_STOP_RESULT &&
			  UVM_RESULT_KIND(d->run.result) != UVM_GUEST_BAD;
		bad += !ok;
		char more[128] = "";
		if (vm_info(vm, i, &info) == 0 && (info.irqs || info.rendezvous || info.sipis))
			snprintf(more, sizeof(more), "; %lu interrupts (%lu of its timer), %lu "
				 "SIPI, %lu rendezvous (%lu spurious)", info.irqs, info.timer_fires,
				 info.sipis, info.rendezvous, info.spurious);
		if (!quiet || !ok)
			printf("vm%u.%d: %s 0x%x, %lu exits to vmrun%s\n", vm_number, i,
			       stop_name(d->run.stop), d->run.result, d->exits, more);
	}
	if (vm_info(vm, 0, &info) == 0 && info.fault[0])
		printf("vm%u: %s\n", vm_number, info.fault);
	handle_close(vm);
	return bad ? 1 : 0;
}
