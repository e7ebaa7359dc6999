/*
 * arch/insn.h - decoding the one kind of x86 instruction a guest's MMIO
 * access is made of: MOV between a register (or an immediate) and memory.
 *
 * A VM driven from user space gets a nested page fault for an access to
 * guest-physical memory it does not have; the fault gives the address but
 * not the access, so the backend (svm.c) fetches the instruction at the
 * guest's RIP and decodes it here, as bhyve's vmm_instruction_emul.c and
 * KVM's emulator do for many more: the size, the direction, the register
 * or the immediate, and the length (the guest goes on after it). What is
 * not one of the forms below is refused, with why, and the VM stops.
 *
 *   88 /r  MOV r/m8, r8          8A /r  MOV r8, r/m8
 *   89 /r  MOV r/m, r            8B /r  MOV r, r/m     (16, 32, 64 bits)
 *   C6 /0  MOV r/m8, imm8        C7 /0  MOV r/m, imm   (imm32 sign-extended
 *                                                      for 64 bits)
 * with the prefixes 66 (16-bit operand), 67 in long mode (32-bit address,
 * the same ModRM forms), the segment overrides and REX in long mode. The
 * memory operand is parsed too (x86_mov_address), so that the backend can
 * tell where the access begins: a #NPF gives the address of the page it
 * faulted on, which for an access across two pages is the second's.
 */
#ifndef ARCH_INSN_H
#define ARCH_INSN_H

#include <kernel.h>

#define X86_INSN_MAX 15			/* the longest x86 instruction */

struct x86_mov {
	unsigned len;			/* bytes of the instruction */
	unsigned bytes;			/* the access: 1, 2, 4 or 8 */
	bool write;			/* a store (to memory) */
	bool has_imm;			/* a store of imm */
	uint64_t imm;			/* sign-extended to `bytes` */
	unsigned reg;			/* the register, 0-15 (RAX, RCX, RDX, RBX, RSP,
					 * RBP, RSI, RDI, R8-R15), */
	bool high8;			/* ... or AH, CH, DH, BH (reg 4-7, no REX) */
	/* The memory operand: base + index * scale + disp (registers as
	 * above, -1 for none), or next RIP + disp; its segment prefix (0 for
	 * none); a 32-bit address in long mode (67). */
	int base, index;
	unsigned scale;
	int64_t disp;
	bool rip_relative, addr32;
	uint8_t segment;
};

/*
 * Decodes code[0 .. avail) as one of the moves above, for a guest in long
 * mode (64-bit code) or 32-bit protected mode. Returns 0 and fills *m, or
 * -1 with why (a fixed string).
 */
int x86_decode_mov(const uint8_t *code, unsigned avail, bool long_mode, struct x86_mov *m,
		   const char **why);

/* The memory operand's effective address (its offset in the segment),
 * reading registers through reg(ctx, n); next_rip is the address of the
 * instruction after it. Outside long mode, or with 67, 32 bits. */
uint64_t x86_mov_address(const struct x86_mov *m, uint64_t (*reg)(void *, unsigned),
			 void *ctx, uint64_t next_rip, bool long_mode);

/* The value of register `reg` of m's size as the instruction reads it
 * (store), and the register's new 64-bit value after a load of `value`:
 * 8 and 16 bits merge into the old value, 32 bits zero-extend. */
uint64_t x86_mov_source(const struct x86_mov *m, uint64_t regval);
uint64_t x86_mov_load(const struct x86_mov *m, uint64_t oldval, uint64_t value);

#endif
