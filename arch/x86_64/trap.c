/*
 * arch/x86_64/trap.c - the IDT, trap dispatch, and the report of a fatal trap.
 *
 * All 256 IDT entries are interrupt gates to the stubs of trap_entry.asm,
 * so every trap arrives in trap_dispatch with interrupts off; ring 3 may
 * use only #BP's gate (INT3), so it cannot fake an interrupt with INT n. A vector may
 * have one registered handler. An exception with no handler, or whose
 * handler declines it, is fatal: the report names the exception, decodes
 * the error code, prints every register (and CR2 for a page fault) and
 * panics, which adds the symbolized backtrace. The report survives a trap
 * taken inside printk, with the console lock held: printk then prints
 * without it (kernel/printk.c). Interrupt vectors are acknowledged at the
 * local APIC before their handler runs.
 *
 * NMI, #DF and #MC arrive on IST stacks (one per CPU and vector), and may
 * arrive anywhere, even between SWAPGS and the instruction after it; their
 * path is separate (ist_dispatch) and never sleeps, schedules or goes
 * through proc_return_to_user: a thread that slept there would leave the
 * IST stack to the next NMI, and one that moved CPUs would take this CPU's
 * GS base with it. An NMI is counted, logged (the first few) and ignored:
 * nothing here sends one but a test; the process it interrupted goes on.
 * #DF and #MC are fatal, from either ring.
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/trap.h>
#include <arch/lapic.h>
#include <percpu.h>
#include <sched.h>
#include <thread.h>
#include <ksyms.h>
#include <mm.h>
#include <printk.h>
#include <proc.h>
#include <printf.h>
#include <string.h>

#define IDT_ENTRIES 256
#define GATE_INTERRUPT 0x8E	/* present, ring 0, 64-bit interrupt gate */
#define GATE_DPL3      0x60	/* ... that ring 3 may reach with INT n */


/* Page-fault error code bits (SDM vol. 3, 4.7). */
#define PF_P    (1 << 0)
#define PF_W    (1 << 1)
#define PF_U    (1 << 2)
#define PF_RSVD (1 << 3)
#define PF_I    (1 << 4)

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __packed;

static struct idt_gate idt[IDT_ENTRIES] __aligned(16);
static trap_handler_fn handlers[IDT_ENTRIES];
extern const uint64_t trap_stub_table[IDT_ENTRIES];

static const char *const exception_names[32] = {
	[T_DE] = "divide error (#DE)",
	[T_DB] = "debug (#DB)",
	[T_NMI] = "non-maskable interrupt (NMI)",
	[T_BP] = "breakpoint (#BP)",
	[T_OF] = "overflow (#OF)",
	[T_BR] = "bound range exceeded (#BR)",
	[T_UD] = "invalid opcode (#UD)",
	[T_NM] = "device not available (#NM)",
	[T_DF] = "double fault (#DF)",
	[9] = "coprocessor segment overrun",
	[T_TS] = "invalid TSS (#TS)",
	[T_NP] = "segment not present (#NP)",
	[T_SS] = "stack-segment fault (#SS)",
	[T_GP] = "general protection fault (#GP)",
	[T_PF] = "page fault (#PF)",
	[T_MF] = "x87 floating-point error (#MF)",
	[T_AC] = "alignment check (#AC)",
	[T_MC] = "machine check (#MC)",
	[T_XM] = "SIMD floating-point exception (#XM)",
	[T_VE] = "virtualization exception (#VE)",
	[T_CP] = "control protection (#CP)",
};

const char *trap_name(uint64_t vector)
{
	if (vector < 32)
		return exception_names[vector] ? exception_names[vector] : "reserved exception";
	return "interrupt";
}

static void set_gate(int v, uint64_t handler, int ist, uint8_t dpl)
{
	idt[v] = (struct idt_gate){
		.off_lo = handler & 0xFFFF,
		.sel = GDT_KCODE,
		.ist = (uint8_t)ist,
		.type = GATE_INTERRUPT | dpl,
		.off_mid = (handler >> 16) & 0xFFFF,
		.off_hi = handler >> 32,
	};
}

void idt_init(void)
{
	for (int v = 0; v < IDT_ENTRIES; v++)
		set_gate(v, trap_stub_table[v], 0, 0);
	set_gate(T_DF, trap_stub_table[T_DF], IST_DF, 0);
	set_gate(T_NMI, trap_stub_table[T_NMI], IST_NMI, 0);
	set_gate(T_MC, trap_stub_table[T_MC], IST_MC, 0);
	/* INT3 from ring 3 is a breakpoint (the process dies with -5, or a
	 * debugger would take it), not a #GP for a gate it may not use; every
	 * other vector stays out of ring 3's reach (no faking an interrupt) */
	set_gate(T_BP, trap_stub_table[T_BP], 0, GATE_DPL3);
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed ptr = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" ::"m"(ptr));
}

void trap_register(int vector, trap_handler_fn fn)
{
	if (vector < 0 || vector >= IDT_ENTRIES)
		panic("trap_register: vector %d out of range", vector);
	if (handlers[vector] && fn && handlers[vector] != fn)
		panic("trap_register: vector %d already has a handler", vector);
	handlers[vector] = fn;
}

void trap_dump(const struct trap_frame *tf)
{
	printk("trap: %s, vector %lu, error code 0x%lx, on CPU %d\n",
	       trap_name(tf->vector), tf->vector, tf->error, cpu_id());
	if (tf->vector == T_PF) {
		uint64_t cr2 = read_cr2();
		printk("  CR2 0x%016lx: %s %s of a %s page%s\n", cr2,
		       tf->error & PF_I ? "instruction fetch" : "data",
		       tf->error & PF_W ? "write" : "read",
		       tf->error & PF_P ? "present (protection violation)" : "not-present",
		       tf->error & PF_RSVD ? ", reserved bit set" : "");
	}
	printk("  RIP %04lx:%016lx  RFLAGS %016lx\n", tf->cs, tf->rip, tf->rflags);
	printk("  RSP %04lx:%016lx\n", tf->ss, tf->rsp);
	printk("  RAX %016lx  RBX %016lx  RCX %016lx\n", tf->rax, tf->rbx, tf->rcx);
	printk("  RDX %016lx  RSI %016lx  RDI %016lx\n", tf->rdx, tf->rsi, tf->rdi);
	printk("  RBP %016lx  R8  %016lx  R9  %016lx\n", tf->rbp, tf->r8, tf->r9);
	printk("  R10 %016lx  R11 %016lx  R12 %016lx\n", tf->r10, tf->r11, tf->r12);
	printk("  R13 %016lx  R14 %016lx  R15 %016lx\n", tf->r13, tf->r14, tf->r15);
	printk("  CR0 %016lx  CR3 %016lx  CR4 %016lx\n", read_cr0(), read_cr3(), read_cr4());
}

static __noreturn void trap_fatal(struct trap_frame *tf)
{
	char where[96];
	ksym_format(tf->rip, where, sizeof(where));
	trap_dump(tf);
	if (tf->vector == T_DF || (tf->vector == T_PF && arch_stack_guard_hit(read_cr2())))
		printk("  the stack pointer is in a guard page: kernel stack overflow\n");
	if (tf->vector == T_DF)
		panic("unexpected trap: %s at %s (probably a kernel stack overflow)",
		      trap_name(tf->vector), where);
	panic("unexpected trap: %s at %s", trap_name(tf->vector), where);
}

/* Where a killed thread's trap returns to: it exits on its own stack. */
static __noreturn void thread_killed_entry(void)
{
	thread_exit();
}

bool trap_kill_thread(struct trap_frame *tf, const char *why)
{
	struct thread *t = curthread;
	struct cpu *c = this_cpu();
	if (tf->cs & 3) {
		/* ring 3: the process dies, not just the thread */
		char detail[200];
		snprintf(detail, sizeof(detail), " (%s)", why);
		proc_fault(trap_name(tf->vector), detail, false, 0, tf->rip,
			   tf->vector == T_UD ? PROC_SIG_ILL : PROC_SIG_FPE);
		return true;
	}
	/* Only a plain thread, trapping in its own code: not the idle thread,
	 * not inside an interrupt handler, not holding a lock. */
	if (!t || (t->flags & THREAD_IDLE) || c->trap_depth != 1 || t->preempt_count != 0 ||
	    !(tf->rflags & RFLAGS_IF))
		return false;
	char where[96];
	ksym_format(tf->rip, where, sizeof(where));
	printk("trap: %s in thread %lu '%s' at %s: %s; the thread is killed, the kernel goes on\n",
	       trap_name(tf->vector), t->id, t->name, where, why);
	t->killed = true;
	t->kill_reason = why;
	/* Return from the trap into thread_killed_entry, on the same stack,
	 * aligned as if it had been called. */
	tf->rip = (uint64_t)thread_killed_entry;
	tf->rsp = ALIGN_DOWN(tf->rsp, 16) - 8;
	tf->rbp = 0;
	return true;
}

#define NMI_LOGGED 3	/* NMIs a CPU reports before it goes quiet */

static void nmi_handle(struct trap_frame *tf)
{
	struct cpu *c = this_cpu();
	c->nmis++;
	if (tf->cs & 3)
		c->nmis_from_user++;
	if (c->nmis <= NMI_LOGGED)
		printk("trap: NMI on CPU %d in %s at 0x%lx (no source the kernel knows; "
		       "ignored%s)\n", c->id, tf->cs & 3 ? "ring 3" : "ring 0", tf->rip,
		       c->nmis == NMI_LOGGED ? "; later ones are only counted" : "");
}

/* NMI, #DF, #MC: on their IST stack, GS perhaps the user's even from ring
 * 0 (user.c), so this CPU's is taken from the word above the frame. */
static void ist_dispatch(struct trap_frame *tf)
{
	uint64_t gs = rdmsr(MSR_GS_BASE);
	wrmsr(MSR_GS_BASE, *(uint64_t *)(tf + 1));
	this_cpu()->trap_depth++;
	if (tf->vector != T_NMI)
		trap_fatal(tf);		/* #DF, #MC: nothing to go back to */
	nmi_handle(tf);
	this_cpu()->trap_depth--;
	wrmsr(MSR_GS_BASE, gs);
}

void trap_dispatch(struct trap_frame *tf)
{
	uint64_t v = tf->vector;
	if (v == T_NMI || v == T_DF || v == T_MC) {
		ist_dispatch(tf);
		return;
	}
	this_cpu()->trap_depth++;
	bool user = tf->cs & 3;
	if (v < 32) {
		if (v == T_PF && !user && arch_user_fixup(tf, read_cr2()))
			;			/* a copy routine's fault: -EFAULT */
		else if (!handlers[v] || !handlers[v](tf)) {
			if (!user)
				trap_fatal(tf);
			arch_user_exception(tf);
		}
	} else if (v == VEC_SPURIOUS) {
		/* no EOI for a spurious interrupt */
	} else {
		lapic_eoi();
		this_cpu()->irqs++;
		if (handlers[v])
			handlers[v](tf);
		else
			printk("trap: interrupt on vector %lu with no handler (ignored)\n", v);
		/* The end of an interrupt is where preemption happens. */
		this_cpu()->trap_depth--;
		sched_irq_exit();
		if (user)
			proc_return_to_user(tf);
		return;
	}
	this_cpu()->trap_depth--;
	if (user)
		proc_return_to_user(tf);
}
