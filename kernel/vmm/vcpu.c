/*
 * kernel/vmm/vcpu.c - a vCPU's life: the run loop, its states, its exits,
 * halting, and the guest's FPU kept in the registers through a context op.
 *
 * The run loop (run_loop, for vm_run and vm_run_user), after bhyve's
 * vm_run + svm_vmrun
 *
 *   for (;;) {
 *       not active any more?          -> stop, leave
 *       a user VM's thread has work before ring 3 (dying)? -> leave
 *       rendezvous pending for me?    -> take part (rendezvous.c), again
 *       VM suspended?                 -> park until resumed, again
 *       waiting for a SIPI (INIT)?    -> start if one came, else sleep; again
 *       an interrupt raised?          -> offer the highest (below)
 *       interrupts off; state RUNNING; look again at the first four;
 *       a HLT left for the loop's work, and an interrupt to take? -> complete it
 *       enter the guest; state FROZEN; interrupts on (the host interrupt
 *       that ended the guest's turn, if any, is taken here: the tick may
 *       preempt us right now);
 *       handle the exit (a user VM's port: return it to the program)
 *   }
 *
 * Why look twice. Another thread asks for our attention by setting its
 * request (a rendezvous bit, the suspend flag, the active set) and then
 * kicking us (vcpu_notify): under our lock it reads our state, and sends
 * an IPI to the CPU we run guest code on if we are RUNNING there, or
 * wakes us if we are SLEEPING. We set RUNNING under the same lock and only
 * then look at the requests. Either its look at our state comes after our
 * store (it sees RUNNING and sends the IPI, which exits the guest at once,
 * or is held pending until VMRUN opens GIF and then exits it) or before
 * (and then its request is visible to our second look). No kick is lost.
 *
 * States: IDLE (not in vm_run), FROZEN (in vm_run, in the host), RUNNING
 * (in the guest, or about to enter with interrupts off), SLEEPING (halted
 * in the guest, asleep in the host). vcpu_set_state allows only the
 * transitions of the diagram in vmm.h and panics on any other.
 *
 * HLT. A halted guest sleeps on its vCPU's wait queue until an event is
 * posted for it (vcpu_post_event), an interrupt is due (one raised, one
 * still on the line, its timer's next period: the sleep ends then), a
 * rendezvous or a suspend is pending for it, or it is taken out of the
 * active set. An event or an interrupt completes the HLT (the guest goes
 * on after it; an interrupt's IRET returns there); for anything else the
 * HLT is left where it is (hlt_pending), the loop does the work, and,
 * unless that work raised an interrupt (an IPI's rendezvous function),
 * which then completes it at the entry, the guest re-executes the HLT and
 * sleeps again. With the guest's interrupts off (CLI; HLT) no interrupt
 * is due: it stays halted, as a CPU does, until an event or work.
 *
 * The guest's FPU (illumos 12477; docs/ctxop.md)
 *   A guest's FPU state is an FPU context of its own (fpu_ctx_create: the
 *   host's mechanism and area format, kernel/fpu.c), loaded once when its
 *   thread enters vm_run; it stays in the CPU for the whole loop, exits
 *   included: no save and restore per exit. Loading it first saves the
 *   host thread's live state into the thread's own area. If the thread is
 *   switched out meanwhile (the tick after an exit, a sleep in HLT, a
 *   rendezvous wait), the context op that vm_run attached saves it:
 *   vmm_savectx stores the guest's registers and sets TS, so the thread's
 *   own FPU op, older on the chain and run after ours on the way out,
 *   finds nothing of its own live (its area already holds the host's
 *   state). On the way back the thread's FPU op runs first (eager: it
 *   loads the host's state) and vmm_restorectx, run after it, loads the
 *   guest's over it. The op is allocated once per vCPU, attached for each
 *   vm_run and detached, not freed, on leaving. Attach and the first load
 *   happen with preemption disabled, so "attached" and "guest registers
 *   loaded" are one and the same. With the chain's restore order reversed
 *   (bug=ctxop_restore_order) the thread's restore runs last and, eager,
 *   loads the thread's area over the guest's registers and makes the
 *   thread's context the CPU's owner; from then on vmm_savectx finds the
 *   guest's context not live and saves nothing, and the thread's op saves
 *   the guest's registers into the thread's area. So the guest loses its
 *   registers (to the host's) once, at the first such switch-in of a
 *   vm_run, and not at all if it had saved none of its own by then; after
 *   that its registers live in the wrong area and come back intact, its
 *   own area goes stale, and vm_run returns with the guest's registers as
 *   the thread's own (the host layer lost). The FPU tests of tests/vmm/
 *   see exactly that.
 *
 * Interrupts (after bhyve's vlapic, reduced to what the guests need)
 *   Each vCPU has an IRR, a bit per vector raised and not yet offered, and
 *   a periodic virtual timer (VMM_HC_TIMER). Both belong to the vCPU's own
 *   thread: its loop raises the timer's vector when a period has come,
 *   and the other sources (a fixed IPI, the broadcast) are rendezvous
 *   functions, which run in the target's thread too; so no lock. Before
 *   each entry the highest raised vector goes to the backend's interrupt
 *   line if the guest has taken the last one; a vector raised again before
 *   it is offered is one interrupt (as an APIC's IRR bit). A HLT sleeps
 *   until the timer's next period, and an interrupt due completes it.
 *   INIT makes a vCPU wait for a SIPI, running no guest code; a SIPI for a
 *   waiting vCPU resets its registers and starts it at the SIPI's page
 *   (vm_config.aps_wait_sipi: the APs start that way).
 *
 * Driven from user space (vm_run_user; kernel/vmm/uvm.c)
 *   The same loop, entered by any thread of the program for one vCPU at a
 *   time, with two more ways out: an exit the program handles (returned;
 *   the next call completes it) and work before ring 3 (its process is
 *   dying: the kill kicks the thread, vmm_kick_thread).
 *
 * Counters: stats is written only by the vCPU's own thread (and by its
 * context op, which runs on that thread's behalf), so it needs no lock;
 * readers get a snapshot. `kicks` is the exception: others bump it under
 * the vCPU's lock.
 */
#include "vmm_impl.h"
#include <arch.h>
#include <cmdline.h>
#include <ctxop.h>
#include <fpu.h>
#include <mm.h>
#include <printf.h>
#include <printk.h>
#include <proc.h>
#include <sched.h>
#include <smp.h>
#include <string.h>
#include <thread.h>
#include <timer.h>
#include <trace.h>
#include <uapi/errno.h>

static const char *const state_names[] = { "idle", "frozen", "running", "sleeping" };

const char *vcpu_state_name(int state)
{
	return state >= VCPU_IDLE && state <= VCPU_SLEEPING ? state_names[state] : "?";
}

static const char *const exit_names[VM_EXIT_NR] = {
	[VM_EXIT_INTR] = "intr",
	[VM_EXIT_HLT] = "hlt",
	[VM_EXIT_IO] = "io",
	[VM_EXIT_HYPERCALL] = "hypercall",
	[VM_EXIT_NPF] = "npf",
	[VM_EXIT_SHUTDOWN] = "shutdown",
	[VM_EXIT_INVALID] = "invalid",
	[VM_EXIT_OTHER] = "other",
	[VM_EXIT_HOST_STATE] = "host-state",
	[VM_EXIT_ARCH] = "arch",
	[VM_EXIT_MMIO] = "mmio",
};

const char *vm_exit_name(int reason)
{
	return reason >= 0 && reason < VM_EXIT_NR ? exit_names[reason] : "?";
}

bool vcpu_active(const struct vcpu *v)
{
	return bitset_test(v->vm->active.bits, (unsigned)v->id);
}

/* ---- states ---- */

static bool legal_transition(int from, int to)
{
	switch (from) {
	case VCPU_IDLE:
		return to == VCPU_FROZEN;
	case VCPU_FROZEN:
		return to == VCPU_IDLE || to == VCPU_RUNNING || to == VCPU_SLEEPING;
	case VCPU_RUNNING:
	case VCPU_SLEEPING:
		return to == VCPU_FROZEN;
	}
	return false;
}

/* With v->wq.lock held. RUNNING records the CPU the guest will run on. */
static void set_state_locked(struct vcpu *v, int to)
{
	if (!legal_transition(v->state, to))
		panic("vcpu_set_state: %s: %s -> %s is not a legal transition", v->name,
		      vcpu_state_name(v->state), vcpu_state_name(to));
	v->state = to;
	v->hostcpu = to == VCPU_RUNNING ? cpu_id() : -1;
}

static void vcpu_set_state(struct vcpu *v, int to)
{
	unsigned long flags = spin_lock_irqsave(&v->wq.lock);
	set_state_locked(v, to);
	spin_unlock_irqrestore(&v->wq.lock, flags);
}

void vcpu_notify(struct vcpu *v)
{
	unsigned long flags = spin_lock_irqsave(&v->wq.lock);
	if (v->state == VCPU_RUNNING && v->hostcpu != cpu_id()) {
		/* in its guest on another CPU: any interrupt makes it exit */
		v->stats.kicks++;
		smp_kick(v->hostcpu);
	} else if (v->state == VCPU_SLEEPING) {
		waitq_wake_all_locked(&v->wq);
	}
	/* RUNNING on this CPU: it is not in its guest now (that runs with
	 * interrupts off, and we are running), and will look before entering. */
	spin_unlock_irqrestore(&v->wq.lock, flags);
}

void vcpu_post_event(struct vcpu *v, uint32_t event)
{
	unsigned long flags = spin_lock_irqsave(&v->wq.lock);
	v->event = event;
	v->event_pending = true;
	spin_unlock_irqrestore(&v->wq.lock, flags);
	vcpu_notify(v);
}

/* The event port: the posted event, or 0; clears it. */
static uint32_t take_event(struct vcpu *v)
{
	unsigned long flags = spin_lock_irqsave(&v->wq.lock);
	uint32_t e = v->event_pending ? v->event : 0;
	v->event_pending = false;
	spin_unlock_irqrestore(&v->wq.lock, flags);
	return e;
}

/* Something other than an event that needs the loop's attention? */
static bool work_pending(struct vcpu *v)
{
	return vcpu_rendezvous_pending(v) || v->vm->suspended || !vcpu_active(v) ||
	       vcpu_must_leave(v);
}

/* ---- interrupts: the IRR, the virtual timer ---- */

void vcpu_raise_irq(struct vcpu *v, int vector)
{
	if (curthread != v->thread)
		panic("vcpu_raise_irq: %s's interrupts are its own thread's, not %s's", v->name,
		      curthread->name);
	bitset_set(v->irr, (unsigned)vector);
	v->irq_work = true;
}

static bool irr_any(const struct vcpu *v)
{
	return !bitset_empty(v->irr, VMM_VECTORS);
}

/* No interrupt raised, no timer, no HLT left: INIT's and a SIPI's start. */
static void irq_state_reset(struct vcpu *v)
{
	bitset_zero(v->irr, VMM_VECTORS);
	v->timer_period_ns = 0;
	v->irq_work = false;
	v->hlt_pending = false;
}

/* The timer's periods that have come: each raises its vector (periods
 * missed while the vCPU was out are one interrupt, as a coalescing
 * APIC's). */
static void timer_check(struct vcpu *v)
{
	if (!v->timer_period_ns)
		return;
	uint64_t now = clock_ns();
	if (now < v->timer_deadline)
		return;
	vcpu_raise_irq(v, v->timer_vector);
	v->stats.timer_fires++;
	v->timer_deadline += v->timer_period_ns;
	if (v->timer_deadline <= now)
		v->timer_deadline = now + v->timer_period_ns;
}

/* An interrupt raised and not yet offered, or a timer period come. */
static bool irq_due(struct vcpu *v)
{
	if (!vmm_be->vcpu_irq_enabled(v))
		return false;			/* CLI; HLT waits for none */
	return irr_any(v) || (v->timer_period_ns && clock_ns() >= v->timer_deadline) ||
	       vmm_be->vcpu_irq_waiting(v);	/* offered, not yet taken */
}

/* At the entry, after offer_irq: an interrupt the guest will take at
 * once (one on the line or raised, its interrupts on). No clock read:
 * offer_irq's timer_check has turned a period come into a vector. */
static bool irq_at_entry(struct vcpu *v)
{
	return vmm_be->vcpu_irq_enabled(v) && (irr_any(v) || vmm_be->vcpu_irq_waiting(v));
}

/* Before an entry, when v has a timer or a raised vector (irq_work):
 * offers the highest raised vector, if the guest has taken the last one
 * (the backend's line holds one at a time). */
static __attribute__((noinline)) void offer_irq(struct vcpu *v)
{
	timer_check(v);
	for (int w = BITSET_WORDS(VMM_VECTORS) - 1; w >= 0; w--) {	/* the highest first */
		if (!v->irr[w])
			continue;
		int vector = w * 64 + 63 - __builtin_clzll(v->irr[w]);
		if (vmm_be->vcpu_offer_irq(v, vector)) {
			bitset_clear(v->irr, (unsigned)vector);
			v->stats.irqs++;
		}
		break;
	}
	v->irq_work = v->timer_period_ns || irr_any(v);
}

void vcpu_init_ipi(struct vcpu *v)
{
	/* its interrupt state goes now, as an APIC's INIT resets it (bhyve's
	 * vlapic_reset); its registers at the SIPI */
	irq_state_reset(v);
	v->sipi_pending = false;
	v->wait_sipi = true;		/* its next look: no guest code until a SIPI */
}

void vcpu_sipi(struct vcpu *v, uint64_t page)
{
	if (!v->wait_sipi)
		return;			/* a SIPI without INIT is ignored, as on a CPU */
	/* recorded only: the start happens in v's loop (sipi_start), not here,
	 * where v may be inside an exit of its own that is yet to complete
	 * (a hypercall of v's that helped this rendezvous), whose completion
	 * would overwrite the start's RIP */
	v->sipi_page = page;
	v->sipi_pending = true;
}

/* The SIPI's start, from the loop: registers at reset, at its page. */
static void sipi_start(struct vcpu *v)
{
	struct vcpu_boot boot;
	vcpu_boot_regs(v, v->sipi_page << 12, &boot);
	vmm_be->vcpu_reset(v, &boot);
	irq_state_reset(v);
	v->stats.sipis++;
	v->sipi_pending = false;
	v->wait_sipi = false;
}

/* VMM_HC_YIELD: a host switch, or a move to the next CPU the thread may
 * use (and its mask back as it was, so only the CPU changed), with the
 * guest's registers live under the vCPU's op. */
static uint64_t hc_yield(uint64_t move)
{
	struct thread *t = curthread;
	uint32_t mask = t->cpus_allowed & cpu_online_mask();
	int here = cpu_id(), next = here;
	for (int i = 1; move && i <= cpu_count(); i++) {
		int c = (here + i) % cpu_count();
		if (mask & (1u << c)) {
			next = c;
			break;
		}
	}
	if (next == here) {
		thread_yield();
		return 0;
	}
	uint32_t was = t->cpus_allowed;
	thread_set_cpus(1u << next);
	thread_set_cpus(was);
	return 0;
}

static uint64_t hc_timer(struct vcpu *v, uint64_t period_us, uint64_t vector)
{
	if (period_us && (vector < VMM_IRQ_MIN || vector > 255 || period_us > 1000000000ULL))
		return VMM_HC_EINVAL;
	v->timer_period_ns = period_us * 1000;
	v->timer_vector = (int)vector;
	v->timer_deadline = clock_ns() + v->timer_period_ns;
	v->irq_work = true;		/* offer_irq settles it */
	return 0;
}

/*
 * The guest executed HLT: sleeps until there is an event or other work
 * (see the theory above). Returns true if the HLT is complete (an event
 * came), false to leave the guest at its HLT.
 */
static bool vcpu_halt(struct vcpu *v)
{
	bool slept = false;
	unsigned long flags = spin_lock_irqsave(&v->wq.lock);
	while (!v->event_pending && !irq_due(v) && !work_pending(v)) {
		if (!slept)
			v->stats.sleeps++;	/* once per HLT that sleeps */
		slept = true;
		set_state_locked(v, VCPU_SLEEPING);
		uint64_t now = clock_ns();
		/* until its timer's next period, if it has one */
		uint64_t wait = v->timer_period_ns ? (v->timer_deadline > now ?
						      v->timer_deadline - now : 1) : 0;
		waitq_wait_locked(&v->wq, &flags, wait, "vcpu_halt");
		set_state_locked(v, VCPU_FROZEN);
	}
	bool done = v->event_pending || irq_due(v);
	spin_unlock_irqrestore(&v->wq.lock, flags);
	return done;
}

/* INIT's wait (VMM_HC_IPI): v runs no guest code until a SIPI, which a
 * rendezvous brings (the loop takes part, and the function ends the wait),
 * or until it has other work. */
static void vcpu_wait_sipi(struct vcpu *v)
{
	unsigned long flags = spin_lock_irqsave(&v->wq.lock);
	while (v->wait_sipi && !v->sipi_pending && !work_pending(v)) {
		set_state_locked(v, VCPU_SLEEPING);
		waitq_wait_locked(&v->wq, &flags, 0, "vcpu_wait_sipi");
		set_state_locked(v, VCPU_FROZEN);
	}
	spin_unlock_irqrestore(&v->wq.lock, flags);
}

/* ---- stopping ---- */

/* v stops for good: out of the active set (so no rendezvous waits for it),
 * and its loop ends. v's thread; vm->lock not held. */
static void vcpu_stop(struct vcpu *v, int why)
{
	struct vm *vm = v->vm;
	mutex_lock(&vm->lock);
	bitset_clear(vm->active.bits, (unsigned)v->id);
	vm_rendezvous_recheck_locked(vm);
	v->stop = why;
	mutex_unlock(&vm->lock);
}

/* v, stopped, has left vm_run (or never entered it): now vm_wait and
 * vcpu_wait may return for it. */
static void vcpu_gone(struct vcpu *v, bool was_running)
{
	struct vm *vm = v->vm;
	mutex_lock(&vm->lock);
	if (was_running)
		vm->nrun--;
	vm->nstopped++;
	cv_broadcast(&vm->state_cv);
	mutex_unlock(&vm->lock);
}

void vm_fault(struct vcpu *v, const char *fmt, ...)
{
	struct vm *vm = v->vm;
	char msg[sizeof(vm->fault)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	mutex_lock(&vm->lock);
	bool first = !vm->faulted;
	if (first) {
		vm->faulted = true;
		snprintf(vm->fault, sizeof(vm->fault), "%s: %s", v->name, msg);
	}
	bitset_zero(vm->active.bits, VM_MAX_VCPUS);
	vm_rendezvous_recheck_locked(vm);
	cv_broadcast(&vm->state_cv);
	mutex_unlock(&vm->lock);
	/* (a VM of a program's says it through UVM_CTL_INFO: a program may not
	 * write to the console through its guests) */
	if (first && !vm->cfg.user)
		printk("vmm: %s stopped: %s: %s; the host goes on\n", vm->name, v->name, msg);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_notify(&vm->vcpus[i]);
	vcpu_stop(v, VCPU_STOP_FAULT);
}

static void vcpu_result(struct vcpu *v, uint32_t result)
{
	v->result = result;
	vcpu_stop(v, VCPU_STOP_RESULT);
}

/* ---- exits ---- */

static void console_out(struct vcpu *v, char c)
{
	if (c != '\n')
		v->con[v->con_len++] = c;
	if (c == '\n' || v->con_len == (int)sizeof(v->con)) {
		if (!v->vm->cfg.quiet)
			printk("[%s] %.*s\n", v->name, v->con_len, v->con);
		v->con_len = 0;
	}
}

/* Returns true for an exit the user program handles (a VM driven from
 * user space: every port but the result and the event). */
static bool handle_io(struct vcpu *v, struct vm_exit *e)
{
	const struct vm_config *cfg = &v->vm->cfg;
	uint32_t value = 0;
	if (e->io.string) {
		vm_fault(v, "string I/O (INS/OUTS) on port 0x%x at rip 0x%lx is not supported",
			 e->io.port, e->rip);
		return false;
	}
	if (cfg->user && e->io.port != VMM_PORT_RESULT && e->io.port != VMM_PORT_EVENT)
		return true;
	switch (e->io.port) {
	case VMM_PORT_CONSOLE:
		if (!e->io.in)
			console_out(v, (char)e->io.value);
		break;
	case VMM_PORT_RESULT:
		if (!e->io.in) {
			vmm_be->vcpu_complete(v, e, 0);
			vcpu_result(v, e->io.value);
			return false;
		}
		break;
	case VMM_PORT_EVENT:
		if (e->io.in)
			value = take_event(v);
		break;
	default:
		for (int i = 0; i < VM_MAX_IO && cfg->io[i].port; i++) {
			if (cfg->io[i].port == e->io.port) {
				value = cfg->io[i].fn(v, e->io.port, e->io.in, e->io.value,
						      cfg->io[i].arg);
				vmm_be->vcpu_complete(v, e, value);
				return false;
			}
		}
		vm_fault(v, "%s port 0x%x, which nothing handles, at rip 0x%lx",
			 e->io.in ? "IN from" : "OUT to", e->io.port, e->rip);
		return false;
	}
	vmm_be->vcpu_complete(v, e, value);
	return false;
}

static void handle_hypercall(struct vcpu *v, struct vm_exit *e)
{
	uint64_t ret;
	switch (e->hc.nr) {
	case VMM_HC_EXIT:
		vmm_be->vcpu_complete(v, e, 0);
		vcpu_result(v, (uint32_t)e->hc.a0);
		return;
	case VMM_HC_NOP:
		ret = 0;
		break;
	case VMM_HC_RENDEZVOUS:
		ret = vm_hc_rendezvous(v, e->hc.a0, e->hc.a1, e->hc.a2);
		break;
	case VMM_HC_TIMER:
		ret = hc_timer(v, e->hc.a0, e->hc.a1);
		break;
	case VMM_HC_IPI:
		ret = vm_hc_ipi(v, e->hc.a0, e->hc.a1, e->hc.a2);
		break;
	case VMM_HC_BROADCAST:
		ret = vm_hc_broadcast(v, e->hc.a0);
		break;
	case VMM_HC_YIELD:
		ret = hc_yield(e->hc.a0);
		break;
	default:
		ret = VMM_HC_ENOSYS;
		break;
	}
	vmm_be->vcpu_complete(v, e, ret);
}

/*
 * A guest-physical access outside the guest's memory. In a VM driven from
 * user space a load or a store there is MMIO, for the program: the backend
 * decodes the instruction (vcpu_decode_mmio), and the exit goes out to the
 * program as VM_EXIT_MMIO (true). Anything else stops the VM with a
 * message: a kernel VM's access, an instruction fetch, an instruction the
 * backend cannot decode, and an access made by the delivery of an event
 * (its stack or its gate): that is no instruction of the guest's to
 * emulate, and re-delivering it would only fault again.
 */
static bool handle_npf(struct vcpu *v, struct vm_exit *e)
{
	const char *what = e->npf.fetch ? "instruction fetch from" :
			   e->npf.write ? "write to" : "read of";
	uint64_t gpa = e->npf.gpa;
	if (e->delivering) {
		vm_fault(v, "nested page fault: %s guest-physical 0x%lx, outside its %lu KiB of "
			 "memory, while delivering vector %u at rip 0x%lx", what, gpa,
			 v->vm->mem_size / 1024, e->delivery_vector, e->rip);
		return false;
	}
	if (v->vm->cfg.user && !e->npf.fetch) {
		char why[96];
		if (vmm_be->vcpu_decode_mmio(v, e, why, sizeof(why)) == 0) {
			v->stats.exits[VM_EXIT_MMIO]++;
			return true;
		}
		vm_fault(v, "MMIO: a %s guest-physical 0x%lx at rip 0x%lx, but %s", what, gpa,
			 e->rip, why);
		return false;
	}
	vm_fault(v, "nested page fault: %s guest-physical 0x%lx, outside its %lu KiB "
		 "of memory, at rip 0x%lx (error 0x%lx)", what, gpa, v->vm->mem_size / 1024,
		 e->rip, e->npf.error);
	return false;
}

/* Returns true for an exit the user program handles (handle_io, handle_npf). */
static bool handle_exit(struct vcpu *v, struct vm_exit *e)
{
	switch (e->reason) {
	case VM_EXIT_INTR:
		break;			/* taken when interrupts came back on */
	case VM_EXIT_HLT:
		if (vcpu_halt(v)) {
			vmm_be->vcpu_complete(v, e, 0);
		} else {
			/* left for the loop's work; if that raises an interrupt
			 * (an IPI's rendezvous), the entry completes the HLT first,
			 * so the guest's IRET returns after it, as on a CPU */
			v->hlt_exit = *e;
			v->hlt_pending = true;
		}
		break;
	case VM_EXIT_IO:
		return handle_io(v, e);
	case VM_EXIT_HYPERCALL:
		handle_hypercall(v, e);
		break;
	case VM_EXIT_NPF:
		return handle_npf(v, e);
	case VM_EXIT_SHUTDOWN:
		vm_fault(v, "the guest shut down (a triple fault) at rip 0x%lx", e->rip);
		break;
	case VM_EXIT_INVALID:
		vm_fault(v, "the CPU refused the guest's state (VMRUN failed)");
		break;
	case VM_EXIT_ARCH: {
		char why[120];
		if (vmm_be->vcpu_emulate(v, e, why, sizeof(why)))
			vm_fault(v, "%s", why);
		break;
	}
	case VM_EXIT_HOST_STATE:
		/* (vm->fault holds 160 characters: the name of the doc's section
		 * must fit, for the test and the reader) */
		vm_fault(v, "exit with the host's own rip 0x%lx: QEMU left CPU %d in guest "
			 "mode; guest state lost (docs/vmm.md, \"The QEMU erratum\")",
			 e->rip, cpu_id());
		break;
	default:
		vm_fault(v, "unexpected exit, code 0x%lx, at rip 0x%lx", e->code, e->rip);
		break;
	}
	return false;
}

/* ---- the guest's FPU ---- */

/* The vCPU thread leaves its CPU inside vm_run: the guest's registers go
 * to their area and TS is set, so the thread's own FPU op, older on the
 * chain and run after ours on the way out, finds nothing of its own live. */
static void vmm_savectx(void *arg)
{
	struct vcpu *v = arg;
	fpu_ctx_put(v->guest_fpu);
	v->stats.fpu_saves++;
	v->fpu_save_cpu = cpu_id();
}

/* ... and comes back: the thread's FPU op has run first (and, eager, loaded
 * the host's state); the guest's goes over it. */
static void vmm_restorectx(void *arg)
{
	struct vcpu *v = arg;
	fpu_ctx_load(v->guest_fpu);
	if (v->fpu_save_cpu != cpu_id())
		v->stats.fpu_moves++;	/* saved on one CPU, back on another */
}

/* The op is freed with its thread if that ended without detaching it. */
static void vmm_freectx(void *arg, int isexec)
{
	(void)isexec;
	((struct vcpu *)arg)->fpu_op = NULL;
}

static const struct ctxop_template vmm_ctxop_tpl = {
	.ct_rev = CTXOP_TPL_REV,
	.ct_save = vmm_savectx,
	.ct_restore = vmm_restorectx,
	.ct_free = vmm_freectx,
};

/* The op is allocated here, once, with the vCPU: allocation may sleep,
 * attach and detach (below) never do (illumos 13917). A user VM's are
 * the kernel side of a user request (vm_kmflags): -VM_ENOMEM, not a
 * sleep, once they would take the last half of the reserve; vm_free
 * (vcpu_fpu_fini) frees what was made. */
int vcpu_fpu_init(struct vcpu *v)
{
	v->guest_fpu = fpu_ctx_create_flags(vm_kmflags(v->vm));
	if (!v->guest_fpu)
		return -VM_ENOMEM;
	/* LAB ctxop BEGIN: the op, allocated once (labs/ctxop.md, part 2) */
	v->fpu_op = ctxop_allocate_flags(&vmm_ctxop_tpl, v, vm_kmflags(v->vm));
	if (!v->fpu_op)
		return -VM_ENOMEM;
	/* LAB ctxop STUB
	v->fpu_op = NULL;	// TODO (labs/ctxop.md, part 2): allocate the op here, once
	LAB ctxop END */
	return 0;
}

void vcpu_fpu_fini(struct vcpu *v)
{
	if (v->fpu_op)
		ctxop_free(v->fpu_op);
	if (v->guest_fpu)
		fpu_ctx_destroy(v->guest_fpu);
	v->fpu_op = NULL;
	v->guest_fpu = NULL;
}

/* Enters the FPU critical section: op attached and guest registers loaded,
 * as one step that no preemption can split. */
static void guest_fpu_enter(struct vcpu *v)
{
	/* LAB ctxop BEGIN: attach for the run (labs/ctxop.md, part 2) */
	kpreempt_disable();
	ctxop_attach(curthread, v->fpu_op);
	fpu_ctx_load(v->guest_fpu);
	kpreempt_enable();
	/* LAB ctxop STUB
	// TODO (labs/ctxop.md, part 2): attach the op vcpu_fpu_init made.
	// Until then, as before illumos 13917: an op allocated for each run
	// (13915's preallocation: before the step, since allocation may
	// sleep), attached in the step with the guest FPU's load.
	v->fpu_op = ctxop_allocate(&vmm_ctxop_tpl, v);
	kpreempt_disable();
	ctxop_attach(curthread, v->fpu_op);
	fpu_ctx_load(v->guest_fpu);
	kpreempt_enable();
	LAB ctxop END */
}

static void guest_fpu_leave(struct vcpu *v)
{
	/* LAB ctxop BEGIN: detach, and keep the op (labs/ctxop.md, part 2) */
	kpreempt_disable();
	fpu_ctx_unload(v->guest_fpu);
	ctxop_detach(curthread, v->fpu_op);
	kpreempt_enable();
	/* LAB ctxop STUB
	// TODO (labs/ctxop.md, part 2): keep the op for the next run
	// (vcpu_fpu_fini frees it). Until then it is freed after every run,
	// as when there was no detach that did not free.
	kpreempt_disable();
	fpu_ctx_unload(v->guest_fpu);
	ctxop_detach(curthread, v->fpu_op);
	kpreempt_enable();
	ctxop_free(v->fpu_op);
	v->fpu_op = NULL;
	LAB ctxop END */
}

/* ---- the loop ---- */

/*
 * vmm.cpu0: where QEMU's multi-threaded TCG would let another CPU's FPU
 * restore undo CPU 0's switch out of a guest (docs/vmm.md, "The QEMU
 * erratum"), vm_run takes CPU 0 out of its thread's mask for the run.
 */
enum { CPU0_AUTO, CPU0_USE, CPU0_AVOID };
static int vmm_cpu0_opt = CPU0_AUTO;
CMDLINE_ENUM("vmm.cpu0", vmm_cpu0_opt,
	     "may vCPUs enter guests on CPU 0? auto: not under QEMU's TCG with more than "
	     "one CPU (docs/vmm.md)", "auto", "use", "avoid");

static uint64_t vmm_entries[MAX_CPUS];

uint64_t vmm_guest_entries(int cpu)
{
	return cpu >= 0 && cpu < MAX_CPUS ? __atomic_load_n(&vmm_entries[cpu], __ATOMIC_RELAXED) : 0;
}

bool vmm_keep_off_cpu0(const char **why)
{
	const char *hazard = vmm_unavailable() ? NULL : vmm_be->cpu0_hazard();
	const char *w;
	bool keep;
	if (cpu_count() < 2) {
		keep = false;
		w = "one CPU: CPU 0 is the only one (and races with no other)";
	} else if (vmm_cpu0_opt == CPU0_USE) {
		keep = false;
		w = "vmm.cpu0=use";
	} else if (vmm_cpu0_opt == CPU0_AVOID) {
		keep = true;
		w = "vmm.cpu0=avoid";
	} else {
		keep = hazard != NULL;
		w = hazard ? hazard : "no known emulator fault on this machine";
	}
	if (why)
		*why = w;
	return keep;
}

/* Takes CPU 0 out of the caller's mask for vm_run when it should be, and
 * says once if a guest is about to run there all the same (a thread bound
 * to CPU 0, or vmm.cpu0=use where the hazard is). */
static void vmm_cpu0_enter(struct vcpu *v, uint32_t mask)
{
	static bool warned;
	if (vmm_keep_off_cpu0(NULL) && (mask & ~1u & cpu_online_mask()))
		thread_set_cpus(mask & ~1u);
	const char *hazard = vmm_be->cpu0_hazard();
	if (cpu_count() > 1 && hazard && !warned && sched_may_run_on(curthread, 0)) {
		warned = true;
		printk("vmm: %s may enter its guest on CPU 0, where %s (docs/vmm.md, "
		       "\"The QEMU erratum\")\n", v->name, hazard);
	}
}

/* Parks v while the VM is suspended; a rendezvous for v or losing its
 * place in the active set ends the wait. */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	mutex_lock(&vm->lock);
	vm->nparked++;
	cv_broadcast(&vm->state_cv);
	while (vm->suspended && vcpu_active(v) && !vcpu_rendezvous_pending(v) &&
	       !vcpu_must_leave(v))
		vm_cv_wait(vm, &vm->state_cv);
	vm->nparked--;
	mutex_unlock(&vm->lock);
}

/* What the loop ended on. */
enum { RUN_STOPPED, RUN_USER_EXIT, RUN_LEAVE };

/* The loop proper, for vm_run and vm_run_user: until v stops, or (a VM
 * driven from user space) an exit for the user program or work for the
 * thread before ring 3. The guest's FPU is loaded (guest_fpu_enter). */
static int run_loop(struct vcpu *v)
{
	struct vm *vm = v->vm;
	while (v->stop == VCPU_STOP_NONE) {
		if (!vcpu_active(v)) {
			vcpu_stop(v, vm->faulted ? VCPU_STOP_FAULT : VCPU_STOP_DEACTIVATED);
			break;
		}
		if (vcpu_must_leave(v))
			return RUN_LEAVE;
		if (vcpu_rendezvous_pending(v)) {
			v->stats.rendezvous++;
			if (!bitset_test(vm->rv_req.bits, (unsigned)v->id))
				v->stats.spurious++;	/* only with the bug switch */
			vm_handle_rendezvous(vm, v);
			continue;
		}
		if (vm->suspended) {
			vcpu_park(v);
			continue;
		}
		if (unlikely(v->wait_sipi)) {
			if (v->sipi_pending)
				sipi_start(v);
			else
				vcpu_wait_sipi(v);
			continue;
		}

		if (unlikely(v->irq_work))
			offer_irq(v);
		arch_irq_disable();
		vcpu_set_state(v, VCPU_RUNNING);
		if (work_pending(v)) {		/* the second look (see the top) */
			vcpu_set_state(v, VCPU_FROZEN);
			arch_irq_enable();
			continue;
		}
		/* The entry is decided, and nothing else can raise an interrupt
		 * on v now (only its own thread does): a HLT left for the loop's
		 * work completes if one is there to take, so the guest's IRET
		 * returns after it; else the guest executes it again, and sleeps */
		if (unlikely(v->hlt_pending)) {
			v->hlt_pending = false;
			if (irq_at_entry(v))
				vmm_be->vcpu_complete(v, &v->hlt_exit, 0);
		}
		vmm_entries[cpu_id()]++;	/* interrupts off: this CPU's alone */
		if (trace_on(TRACE_VMM))
			trace_log(TR_VMM_ENTRY, (uint64_t)vm->id << 16 | (uint64_t)v->id,
				  vmm_entries[cpu_id()]);
		vmm_be->vcpu_run(v, &v->exit);
		vcpu_set_state(v, VCPU_FROZEN);
		if (trace_on(TRACE_VMM))
			trace_log(TR_VMM_EXIT, (uint64_t)vm->id << 16 | (uint64_t)v->id,
				  (uint64_t)v->exit.reason << 56 | (v->exit.rip & 0xFFFFFFFFFFFFFFUL));
		arch_irq_enable();		/* a pending host interrupt is taken here */

		v->stats.exits[v->exit.reason]++;
		if (handle_exit(v, &v->exit))
			return RUN_USER_EXIT;
	}
	return RUN_STOPPED;
}

/* The way into the loop, vm_run's and vm_run_user's: off CPU 0 where it
 * must be, FROZEN, counted in vm->nrun, the guest's FPU loaded under its
 * op. Returns the caller's CPU mask, to give back on the way out. */
static uint32_t run_begin(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint32_t mask = curthread->cpus_allowed;
	vmm_cpu0_enter(v, mask);
	vcpu_set_state(v, VCPU_FROZEN);
	mutex_lock(&vm->lock);
	vm->nrun++;
	mutex_unlock(&vm->lock);
	guest_fpu_enter(v);
	return mask;
}

int vm_run(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (curthread != v->thread)
		panic("vm_run: %s must run in its own thread, not in %s", v->name,
		      curthread->name);
	if (vm->cfg.user)
		panic("vm_run: %s is driven from user space (vm_run_user)", v->name);
	if (v->stop != VCPU_STOP_NONE)
		return v->stop;			/* stopped for good already */
	uint32_t mask = run_begin(v);
	run_loop(v);
	guest_fpu_leave(v);
	if (v->con_len)
		console_out(v, '\n');		/* what the guest left unfinished */
	vcpu_set_state(v, VCPU_IDLE);
	vcpu_gone(v, true);
	thread_set_cpus(mask);			/* the caller's own mask back */
	return v->stop;
}

/* The vCPU curthread runs, as a kill sees it (vmm_kick_thread). */
static void set_thread_vcpu(struct thread *t, struct vcpu *v)
{
	struct proc *p = t->proc;
	unsigned long irq = p ? spin_lock_irqsave(&p->tlock) : arch_irq_save();
	t->vcpu = v;
	if (p)
		spin_unlock_irqrestore(&p->tlock, irq);
	else
		arch_irq_restore(irq);
}

int vm_run_user(struct vcpu *v, uint32_t in_value, uint64_t load_value, struct vm_exit *out)
{
	struct vm *vm = v->vm;
	struct thread *me = curthread;
	if (!vm->cfg.user)
		panic("vm_run_user: %s is not driven from user space (vm_run)", v->name);
	struct thread *none = NULL;
	if (!__atomic_compare_exchange_n(&v->runner, &none, me, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return -EBUSY;			/* another thread runs it */
	if (v->stop != VCPU_STOP_NONE || me->user_work) {
		int r = v->stop != VCPU_STOP_NONE ? v->stop : -EINTR;
		__atomic_store_n(&v->runner, NULL, __ATOMIC_RELEASE);
		return r;
	}
	v->thread = me;
	set_thread_vcpu(me, v);
	uint32_t mask = run_begin(v);	/* the per-run op, over the thread's own */
	if (v->user_exit) {		/* the exit the user program handled */
		v->user_exit = false;
		vmm_be->vcpu_complete(v, &v->exit,
				      v->exit.reason == VM_EXIT_MMIO ? load_value : in_value);
	}
	int r = run_loop(v);
	guest_fpu_leave(v);
	vcpu_set_state(v, VCPU_IDLE);
	mutex_lock(&vm->lock);
	vm->nrun--;
	if (r == RUN_STOPPED && !v->gone_counted) {
		v->gone_counted = true;
		vm->nstopped++;
	}
	cv_broadcast(&vm->state_cv);
	mutex_unlock(&vm->lock);
	set_thread_vcpu(me, NULL);
	v->thread = NULL;
	if (me->cpus_allowed != mask)
		thread_set_cpus(mask);		/* the caller's own mask back */
	if (r == RUN_USER_EXIT) {
		v->user_exit = true;
		*out = v->exit;
	}
	__atomic_store_n(&v->runner, NULL, __ATOMIC_RELEASE);
	return r == RUN_USER_EXIT ? 0 : r == RUN_LEAVE ? -EINTR : v->stop;
}

void vmm_kick_thread(struct thread *t)
{
	struct vcpu *v = t->vcpu;
	if (!v)
		return;
	vcpu_notify(v);				/* out of its guest, or its HLT */
	cv_broadcast(&v->vm->state_cv);		/* parked (vm_cv_wait also looks */
	cv_broadcast(&v->vm->rendezvous_cv);	/* again within VM_USER_RECHECK) */
}

/* A vCPU thread: waits for vm_start, then runs the vCPU until it stops. */
void vcpu_thread_main(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	mutex_lock(&vm->lock);
	while (!vm->started)
		cv_wait(&vm->state_cv, &vm->lock);
	mutex_unlock(&vm->lock);
	if (vm->dying) {
		vcpu_stop(v, VCPU_STOP_DEACTIVATED);	/* destroyed before it started */
		vcpu_gone(v, false);
		return;
	}
	if (vm->cfg.vcpu_main)
		vm->cfg.vcpu_main(v);
	else
		vm_run(v);
}
