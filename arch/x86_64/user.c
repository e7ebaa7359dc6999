/*
 * arch/x86_64/user.c - ring 3: the SYSCALL MSRs, SMEP and SMAP, the user's
 * segment bases, faults taken in ring 3, and the way back to it.
 *
 * Entry and exit (syscall.asm, trap_entry.asm) leave one struct trap_frame
 * at the top of a user thread's kernel stack, whether the thread came in
 * by SYSCALL, an interrupt or a fault; this file fills one for a new
 * thread (arch_uregs_init) and hands it to the portable side, which
 * decides what it means (kernel/proc.c, kernel/syscall.c).
 *
 * Protection the CPU offers, switched on where it has it (CPUID leaf 7):
 *   SMEP  the kernel faults if it executes a user page;
 *   SMAP  the kernel faults if it touches a user page with RFLAGS.AC
 *         clear: only the copy routines (uaccess.asm) set AC, with STAC;
 *         every trap entry clears it (the user may have set it);
 *   UMIP  SGDT, SIDT, SLDT, SMSW and STR fault in ring 3 (#GP): a process
 *         does not learn where the kernel's tables are;
 *   FSGSBASE  RDFSBASE and friends, which let ring 3 change its own FS
 *         and GS bases: the segment-base context op (kernel/proc.c) reads
 *         them at every switch out rather than trusting a saved copy
 *         (arch_user_segbases_save/load, inline in arch/arch.h).
 * -cpu max under TCG has all four, -cpu qemu64 none; the boot line says.
 *
 * I/O ports. A user thread's RFLAGS.IOPL is 0 from its first frame on
 * (arch_uregs_init; SYSCALL and interrupts keep the user's own, which
 * POPF in ring 3 cannot raise), so IN and OUT reach only the ports the
 * TSS bitmap opens for its process (iobitmap.c); any other raises #GP(0),
 * and the kill line then names the instruction and the port, read from
 * the instruction's bytes (describe_io).
 *
 * The GS of NMI, #DF and #MC. These three can arrive anywhere: between a
 * SYSCALL and the SWAPGS after it, or between the SWAPGS and the SYSRET on
 * the way out, where CS says ring 0 but GS is the user's. So their entry
 * (ist_dispatch in trap.c, for the vectors with an IST stack) does not trust GS: it
 * loads the GS base from the word cpu.c keeps above the frame on each IST
 * stack (the CPU's struct cpu) and puts the old base back on the way out.
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/trap.h>
#include <kernel.h>
#include <percpu.h>
#include <printk.h>
#include <printf.h>
#include <proc.h>
#include <syscall.h>
#include <thread.h>
#include <uaccess.h>

/* The assembly reads these from asm_offsets.inc (asm_offsets.c); what it
 * cannot ask the compiler is checked here. */
_Static_assert(sizeof(struct trap_frame) == ARCH_USER_FRAME_SIZE, "arch/arch.h's frame size");
_Static_assert(ARCH_USER_FRAME_SIZE % 16 == 0, "the stack below the frame stays aligned");
_Static_assert(offsetof(struct thread, user_work) ==
		       offsetof(struct thread, preempt_count) + sizeof(int),
	       "syscall.asm tests preempt_count and user_work with one 8-byte compare");
_Static_assert(offsetof(struct cpu, arch) == 8, "arch/arch.h's arch_cpu_this()");
_Static_assert(USER_SPACE_BASE == ARCH_USER_BASE && USER_SPACE_TOP == ARCH_USER_TOP,
	       "uapi/syscall.h tells user space where it is");

#define CPUID_7_EBX_FSGSBASE (1u << 0)
#define CPUID_7_EBX_SMEP     (1u << 7)
#define CPUID_7_EBX_SMAP     (1u << 20)
#define CPUID_7_ECX_UMIP     (1u << 2)

/* RFLAGS bits SYSCALL clears: interrupts off until the kernel stack is in
 * use; no single-stepping, string direction up, AC clear (SMAP on), no
 * nested task. */
#define SYSCALL_FMASK (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT)

uint8_t arch_smap_on;			/* read by trap_entry.asm and uaccess.asm */
static bool smep_on;
static bool umip_on;
bool arch_fsgsbase_on;
extern void syscall_entry(void);

void arch_user_init_this_cpu(void)
{
	struct cpuid_regs l7 = cpuid(0, 0).eax >= 7 ? cpuid(7, 0) : (struct cpuid_regs){ 0 };
	uint64_t cr4 = read_cr4();
	if (l7.ebx & CPUID_7_EBX_SMEP)
		cr4 |= CR4_SMEP;
	if (l7.ebx & CPUID_7_EBX_SMAP)
		cr4 |= CR4_SMAP;
	if (l7.ecx & CPUID_7_ECX_UMIP)
		cr4 |= CR4_UMIP;
	if (l7.ebx & CPUID_7_EBX_FSGSBASE)
		cr4 |= CR4_FSGSBASE;
	write_cr4(cr4);
	smep_on = cr4 & CR4_SMEP;
	umip_on = cr4 & CR4_UMIP;
	arch_smap_on = (cr4 & CR4_SMAP) != 0;
	arch_fsgsbase_on = cr4 & CR4_FSGSBASE;

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	/* SYSCALL: CS = 0x08, SS = 0x10; SYSRET: SS = 0x10 + 8 = 0x18 | 3,
	 * CS = 0x10 + 16 = 0x20 | 3 (cpu.c's GDT order) */
	wrmsr(MSR_STAR, ((uint64_t)(GDT_KDATA | 3) << 48) | ((uint64_t)GDT_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, SYSCALL_FMASK);
	wrmsr(MSR_KERNEL_GS_BASE, 0);		/* the user's GS base, while in the kernel */
}

void arch_user_print_features(void)
{
	printk("user: SYSCALL/SYSRET; SMEP %s, SMAP %s, UMIP %s, FSGSBASE %s\n",
	       smep_on ? "on" : "off (CPU lacks it)", arch_smap_on ? "on" : "off (CPU lacks it)",
	       umip_on ? "on" : "off (CPU lacks it)", arch_fsgsbase_on ? "on" : "off (CPU lacks it: MSRs)");
}

bool arch_user_features(bool *smep, bool *smap, bool *fsgsbase)
{
	if (smep)
		*smep = smep_on;
	if (smap)
		*smap = arch_smap_on;
	if (fsgsbase)
		*fsgsbase = arch_fsgsbase_on;
	return true;
}

/* ---- frames ---- */

struct trap_frame *arch_user_frame(struct thread *t)
{
	return (struct trap_frame *)(t->stack + t->stack_size) - 1;
}

void arch_uregs_init(struct trap_frame *tf, uint64_t rip, uint64_t rsp, uint64_t arg0,
		     uint64_t arg1)
{
	*tf = (struct trap_frame){
		.rip = rip,
		.rsp = rsp,
		.rdi = arg0,
		.rsi = arg1,
		.cs = USER_CS,
		.ss = USER_DS,
		.rflags = RFLAGS_IF | RFLAGS_FIXED,	/* IOPL 0: ports by the bitmap only */
		.vector = SYSCALL_VECTOR,
	};
}

void arch_uregs_set_return(struct trap_frame *tf, uint64_t value)
{
	tf->rax = value;
}

void arch_uregs_set_args(struct trap_frame *tf, const uint64_t v[6])
{
	tf->rdi = v[0];
	tf->rsi = v[1];
	tf->rdx = v[2];
	tf->r10 = v[3];
	tf->r8 = v[4];
	tf->r9 = v[5];
}

uint64_t arch_uregs_pc(const struct trap_frame *tf)
{
	return tf->rip;
}

void arch_uregs_set_pc(struct trap_frame *tf, uint64_t pc)
{
	tf->rip = pc;
}

bool arch_uregs_pc_canonical(const struct trap_frame *tf)
{
	int64_t s = (int64_t)tf->rip >> 47;
	return s == 0 || s == -1;
}

/* ---- the user's segment bases (the save and load are inline: arch/arch.h) ---- */

bool arch_user_segbase_ok(uint64_t base)
{
	int64_t s = (int64_t)base >> 47;
	return s == 0 || s == -1;		/* WRMSR faults on a non-canonical base */
}

/* trap_entry.asm's count of traps inside the interrupts-off stretches */
extern uint64_t arch_user_window_count;

uint64_t arch_user_window_traps(void)
{
	return __atomic_load_n(&arch_user_window_count, __ATOMIC_RELAXED);
}

/* ---- faults in ring 3 ---- */

/* Page-fault error code bits (SDM vol. 3, 4.7). */
#define PF_P (1 << 0)
#define PF_W (1 << 1)
#define PF_I (1 << 4)

/* The exception table of uaccess.asm. */
struct ex_entry {
	uint64_t insn, fixup;
};
extern const struct ex_entry __ex_table_start[], __ex_table_end[];

bool arch_user_fixup(struct trap_frame *tf, uint64_t addr)
{
	if (addr < ARCH_USER_BASE || addr >= ARCH_USER_TOP)
		return false;		/* only user addresses fail softly */
	for (const struct ex_entry *e = __ex_table_start; e < __ex_table_end; e++) {
		if (e->insn == tf->rip) {
			tf->rip = e->fixup;
			return true;
		}
	}
	return false;
}

/*
 * An I/O instruction refused by the TSS bitmap (arch/tss.h) raises #GP(0)
 * with RIP at the instruction; so does much else. To say which, read its
 * bytes: legacy prefixes and a REX, then one of IN, OUT, INS, OUTS (SDM
 * vol. 2). The port is the immediate byte or DX; the access covers one, two
 * or four ports from it. False if the bytes cannot be read, are another
 * instruction, or touch only ports the process holds (then the #GP was for
 * something else: an INS/OUTS with a bad memory operand). Only at a fault:
 * nothing on the way of a port that is allowed.
 */
#define INSN_MAX_PREFIXES 14	/* an instruction is at most 15 bytes */
#define PREFIX_OPSIZE     0x66

static bool describe_io(const struct trap_frame *tf, char *buf, size_t size)
{
	static const char *const names[] = { "ins", "outs" };	/* 0x6C .. 0x6F */
	bool opsize = false;
	uint8_t op = 0;
	uint64_t at = tf->rip;
	for (int i = 0; i <= INSN_MAX_PREFIXES; i++, at++) {
		if (copyin(&op, at, 1))
			return false;
		bool legacy = op == PREFIX_OPSIZE || op == 0x67 || op == 0xF2 || op == 0xF3 ||
			      op == 0x26 || op == 0x2E || op == 0x36 || op == 0x3E || op == 0x64 ||
			      op == 0x65;
		if (!legacy && (op & 0xF0) != 0x40)	/* 0x40 .. 0x4F: REX */
			break;
		opsize |= op == PREFIX_OPSIZE;
	}
	const char *name;
	unsigned port = (unsigned)(tf->rdx & 0xFFFF);
	if (op >= 0xE4 && op <= 0xE7) {		/* in/out with an immediate port */
		uint8_t imm;
		if (copyin(&imm, at + 1, 1))
			return false;
		port = imm;
		name = op & 2 ? "out" : "in";
	} else if (op >= 0xEC && op <= 0xEF) {	/* in/out, the port in DX */
		name = op & 2 ? "out" : "in";
	} else if (op >= 0x6C && op <= 0x6F) {	/* ins/outs, DX */
		name = names[(op >> 1) & 1];
	} else {
		return false;
	}
	char width = !(op & 1) ? 'b' : opsize ? 'w' : 'l';
	unsigned last = port + (width == 'b' ? 1 : width == 'w' ? 2 : 4) - 1;
	if (last > 0xFFFF)
		snprintf(buf, size, " (%s%c, I/O ports 0x%x-0x%x: past the last port)", name, width,
			 port, last);
	else if (proc_ports_held(curproc, port, last))
		return false;		/* its ports: the #GP was for something else */
	else if (port == last)
		snprintf(buf, size, " (%s%c, I/O port 0x%x: not one this process may use)", name,
			 width, port);
	else
		snprintf(buf, size, " (%s%c, I/O ports 0x%x-0x%x: not all this process's)", name,
			 width, port, last);
	return true;
}

/*
 * An exception whose frame says ring 3: the process's doing. One line that
 * names process, thread, fault, address and RIP, then the process is killed
 * (proc_fault) and the thread leaves on its way back to ring 3.
 */
bool arch_user_exception(struct trap_frame *tf)
{
	char detail[96] = "";
	uint64_t addr = 0;		/* the faulting address, where there is one */
	int sig = PROC_SIG_SEGV;
	switch (tf->vector) {
	case T_PF:
		addr = read_cr2();
		snprintf(detail, sizeof(detail), " (%s %s, %s)",
			 tf->error & PF_I ? "instruction fetch" : tf->error & PF_W ? "write" : "read",
			 addr >= ARCH_USER_TOP || addr < ARCH_USER_BASE ? "outside user space"
									  : "in user space",
			 tf->error & PF_P ? "protection violation" : "not mapped");
		break;
	case T_GP:
		if (!tf->error && describe_io(tf, detail, sizeof(detail)))
			break;
		/* fall through */
	case T_SS:
	case T_NP:
	case T_TS:
	case T_AC:
		if (tf->error)
			snprintf(detail, sizeof(detail), " (error code 0x%lx)", tf->error);
		break;
	case T_UD:
		sig = PROC_SIG_ILL;
		break;
	case T_DE:
	case T_MF:
	case T_XM:
		sig = PROC_SIG_FPE;
		break;
	case T_BP:
	case T_DB:
		sig = PROC_SIG_TRAP;
		break;
	default:
		break;
	}
	proc_fault(trap_name(tf->vector), detail, tf->vector == T_PF, addr, tf->rip, sig);
	return true;
}

/* ---- system calls ---- */

/* syscall.asm's slow ways out of a system call, interrupts off, the frame
 * complete: a number out of range, work before ring 3 (a reschedule, a
 * dying process, or a lock a handler forgot), or a return address SYSRET
 * must not take. Each returns with interrupts off, ready for ring 3. */
void syscall_unknown_entry(struct trap_frame *tf)
{
	arch_irq_enable();
	tf->rax = (uint64_t)syscall_unknown(tf->rax);
	proc_return_to_user(tf);
}

void syscall_work(struct trap_frame *tf)
{
	proc_return_to_user(tf);
}

void syscall_bad_return(struct trap_frame *tf)
{
	arch_irq_enable();
	proc_fault("system call return to a non-canonical address", NULL, true, tf->rip, tf->rip,
		   PROC_SIG_SEGV);
	proc_return_to_user(tf);	/* ends the thread: the process is dying */
	panic("syscall_bad_return: thread %lu goes on after its process died", curthread->id);
}
