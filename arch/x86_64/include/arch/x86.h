/*
 * arch/x86.h - x86-64 registers, bits and one-instruction helpers.
 *
 * Only code under arch/x86_64/ (and tests that poke the CPU on purpose)
 * include this; portable code goes through <arch.h>. Every constant is named
 * after the manual (Intel SDM / AMD APM) so that it can be looked up there.
 */
#ifndef ARCH_X86_H
#define ARCH_X86_H

#include <kernel.h>

/* The GDT's selectors (arch/x86_64/cpu.c); ring 3's carry RPL 3. */
#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_UDATA 0x18
#define GDT_UCODE 0x20
#define USER_CS   (GDT_UCODE | 3)
#define USER_DS   (GDT_UDATA | 3)

/* CR0 */
#define CR0_PE   (1UL << 0)
#define CR0_MP   (1UL << 1)
#define CR0_EM   (1UL << 2)
#define CR0_TS   (1UL << 3)
#define CR0_NE   (1UL << 5)
#define CR0_WP   (1UL << 16)
#define CR0_PG   (1UL << 31)
/* CR4 */
#define CR4_PAE        (1UL << 5)
#define CR4_PGE        (1UL << 7)
#define CR4_OSFXSR     (1UL << 9)
#define CR4_OSXMMEXCPT (1UL << 10)
#define CR4_UMIP       (1UL << 11)
#define CR4_LA57       (1UL << 12)	/* five-level paging */
#define CR4_FSGSBASE   (1UL << 16)
#define CR4_OSXSAVE    (1UL << 18)
#define CR4_SMEP       (1UL << 20)
#define CR4_SMAP       (1UL << 21)
/* RFLAGS */
#define RFLAGS_TF  (1UL << 8)
#define RFLAGS_IF  (1UL << 9)
#define RFLAGS_DF  (1UL << 10)
#define RFLAGS_NT  (1UL << 14)
#define RFLAGS_AC  (1UL << 18)
#define RFLAGS_FIXED (1UL << 1)		/* bit 1 reads as 1 */
/* MSRs */
#define MSR_EFER           0xC0000080
#define MSR_FS_BASE        0xC0000100
#define MSR_GS_BASE        0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_APIC_BASE      0x1B
#define MSR_STAR           0xC0000081	/* SYSCALL/SYSRET selectors */
#define MSR_LSTAR          0xC0000082	/* SYSCALL's 64-bit entry point */
#define MSR_FMASK          0xC0000084	/* RFLAGS bits SYSCALL clears */
#define EFER_SCE  (1UL << 0)
#define EFER_LME  (1UL << 8)
#define EFER_NXE  (1UL << 11)
#define EFER_SVME (1UL << 12)

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

#define DEFINE_CR(n)                                                        \
	static inline uint64_t read_cr##n(void)                             \
	{                                                                   \
		uint64_t v;                                                 \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));           \
		return v;                                                   \
	}                                                                   \
	static inline void write_cr##n(uint64_t v)                          \
	{                                                                   \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory");    \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64_t read_rflags(void)
{
	uint64_t f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void invlpg(uint64_t va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause"); }

#endif
