/*
 * arch/x86_64/insn.c - the MOV decoder of arch/insn.h (MMIO exits of VMs
 * driven from user space).
 *
 * Invariants: it reads at most `avail` bytes and X86_INSN_MAX; it never
 * guesses (an unknown prefix, opcode or form is refused); a register
 * operand of ModRM (mod 3) is not memory, so it is refused too: a fault on
 * such an instruction was not the operand's.
 */
#include <arch/insn.h>

static int refuse(const char **why, const char *s)
{
	*why = s;
	return -1;
}

/* ModRM and what follows it (SIB, displacement) from p, into m's memory
 * operand; returns their length. rex: the REX prefix (0 for none). */
static int parse_modrm(const uint8_t *p, unsigned avail, unsigned rex, bool long_mode,
		       struct x86_mov *m, const char **why)
{
	if (avail < 1)
		return refuse(why, "the instruction runs past the guest's memory");
	unsigned mod = p[0] >> 6, rm = p[0] & 7;
	unsigned len = 1;
	if (mod == 3)
		return refuse(why, "a register operand, not memory");
	m->base = m->index = -1;
	m->scale = 1;
	bool disp32 = mod == 2, disp8 = mod == 1;
	if (rm == 4) {				/* a SIB byte */
		if (avail < 2)
			return refuse(why, "the instruction runs past the guest's memory");
		unsigned sib = p[1], base = sib & 7, index = ((sib >> 3) & 7) | (rex & 2 ? 8 : 0);
		len++;
		m->scale = 1u << (sib >> 6);
		if (index != 4)			/* 4 (no REX.X): no index */
			m->index = (int)index;
		if (mod == 0 && base == 5)
			disp32 = true;		/* no base: disp32 */
		else
			m->base = (int)(base | (rex & 1 ? 8 : 0));
	} else if (mod == 0 && rm == 5) {
		disp32 = true;			/* disp32: RIP-relative in long mode */
		m->rip_relative = long_mode;
	} else {
		m->base = (int)(rm | (rex & 1 ? 8 : 0));
	}
	if (disp8 || disp32) {
		unsigned n = disp8 ? 1 : 4;
		if (len + n > avail)
			return refuse(why, "the instruction runs past the guest's memory");
		uint32_t d = 0;
		for (unsigned k = 0; k < n; k++)
			d |= (uint32_t)p[len + k] << (8 * k);
		m->disp = disp8 ? (int8_t)d : (int32_t)d;
		len += n;
	}
	return (int)len;
}

int x86_decode_mov(const uint8_t *code, unsigned avail, bool long_mode, struct x86_mov *m,
		   const char **why)
{
	if (avail > X86_INSN_MAX)
		avail = X86_INSN_MAX;
	*m = (struct x86_mov){ 0 };
	unsigned i = 0, rex = 0;
	bool opsize = false;
	for (;; i++) {				/* legacy prefixes, then REX */
		if (i >= avail)
			return refuse(why, "the instruction runs past the guest's memory");
		uint8_t b = code[i];
		if (b == 0x66) {
			opsize = true;
		} else if (b == 0x67) {
			if (!long_mode)		/* 16-bit addressing: other ModRM forms */
				return refuse(why, "a 16-bit address (prefix 67)");
			m->addr32 = true;
		} else if (b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0x64 ||
			   b == 0x65) {
			m->segment = b;		/* the last one counts */
		} else if (b == 0xF0 || b == 0xF2 || b == 0xF3) {
			return refuse(why, "a LOCK, REP or REPNE prefix");
		} else {
			break;
		}
	}
	if (long_mode && (code[i] & 0xF0) == 0x40) {
		rex = code[i++];
		if (i >= avail)
			return refuse(why, "the instruction runs past the guest's memory");
	}
	uint8_t op = code[i++];
	bool byte_op;
	switch (op) {
	case 0x88: m->write = true; byte_op = true; break;
	case 0x89: m->write = true; byte_op = false; break;
	case 0x8A: byte_op = true; break;
	case 0x8B: byte_op = false; break;
	case 0xC6: m->write = m->has_imm = true; byte_op = true; break;
	case 0xC7: m->write = m->has_imm = true; byte_op = false; break;
	default:
		return refuse(why, "not a MOV between a register or an immediate and memory");
	}
	m->bytes = byte_op ? 1 : rex & 0x8 ? 8 : opsize ? 2 : 4;
	if (i >= avail)
		return refuse(why, "the instruction runs past the guest's memory");
	uint8_t modrm = code[i];
	unsigned reg = (modrm >> 3) & 7;
	int ml = parse_modrm(code + i, avail - i, rex, long_mode, m, why);
	if (ml < 0)
		return -1;
	i += (unsigned)ml;
	if (m->has_imm) {
		if (reg != 0)
			return refuse(why, "opcode C6/C7 with a ModRM reg other than 0");
		unsigned n = m->bytes == 1 ? 1 : m->bytes == 2 ? 2 : 4;
		if (i + n > avail)
			return refuse(why, "the instruction runs past the guest's memory");
		uint64_t imm = 0;
		for (unsigned k = 0; k < n; k++)
			imm |= (uint64_t)code[i + k] << (8 * k);
		if (m->bytes == 8 && (imm & 0x80000000UL))
			imm |= 0xFFFFFFFF00000000UL;	/* imm32, sign-extended */
		m->imm = imm;
		i += n;
	} else {
		m->reg = reg | (rex & 0x4 ? 8 : 0);
		m->high8 = byte_op && !rex && reg >= 4;
		if (m->high8)
			m->reg = reg - 4;	/* AH is RAX's bits 15:8, and so on */
	}
	m->len = i;
	return 0;
}

static uint64_t size_mask(unsigned bytes)
{
	return bytes == 8 ? ~0UL : (1UL << (8 * bytes)) - 1;
}

uint64_t x86_mov_address(const struct x86_mov *m, uint64_t (*reg)(void *, unsigned),
			 void *ctx, uint64_t next_rip, bool long_mode)
{
	uint64_t ea = (uint64_t)m->disp;
	if (m->rip_relative)
		ea += next_rip;
	if (m->base >= 0)
		ea += reg(ctx, (unsigned)m->base);
	if (m->index >= 0)
		ea += reg(ctx, (unsigned)m->index) * m->scale;
	return long_mode && !m->addr32 ? ea : (uint32_t)ea;
}

uint64_t x86_mov_source(const struct x86_mov *m, uint64_t regval)
{
	if (m->has_imm)
		return m->imm & size_mask(m->bytes);
	if (m->high8)
		return (regval >> 8) & 0xFF;
	return regval & size_mask(m->bytes);
}

uint64_t x86_mov_load(const struct x86_mov *m, uint64_t oldval, uint64_t value)
{
	value &= size_mask(m->bytes);
	if (m->high8)
		return (oldval & ~0xFF00UL) | value << 8;
	if (m->bytes >= 4)
		return value;			/* a 32-bit load zero-extends */
	return (oldval & ~size_mask(m->bytes)) | value;
}
