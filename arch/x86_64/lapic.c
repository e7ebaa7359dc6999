/*
 * arch/x86_64/lapic.c - local APIC, its timer, and the time base.
 *
 * QEMU 7.2's TCG has no x2APIC, so the local APIC is driven through its
 * xAPIC MMIO page (identity-mapped, uncached by the paging code). The legacy
 * 8259 PICs are remapped away from the exception vectors and masked.
 *
 * Time: the TSC is calibrated once against the PIT (channel 2, polled, no
 * interrupt needed) and clock_ns() is the TSC scaled to nanoseconds. Under
 * `-icount shift=0` both count virtual time in step, so the figures stay
 * consistent. The LAPIC timer is calibrated the same way and ticks at
 * TIMER_HZ to drive the kernel's tick.
 */
#include <arch.h>
#include <arch/x86.h>
#include <arch/lapic.h>
#include <arch/trap.h>
#include <arch/ioapic.h>
#include <printk.h>
#include <timer.h>

#define LAPIC_ID        0x020
#define LAPIC_EOI       0x0B0
#define LAPIC_SVR       0x0F0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT  0x380
#define LAPIC_TIMER_CUR   0x390
#define LAPIC_TIMER_DIV   0x3E0
#define SVR_ENABLE      (1 << 8)
#define LVT_MASKED      (1 << 16)
#define LVT_PERIODIC    (1 << 17)
#define TIMER_DIV_16    0x3

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1

#define PIT_CH2      0x42
#define PIT_CMD      0x43
#define PIT_GATE     0x61	/* port B: bit 0 gates channel 2, bit 5 is its output */
#define PIT_HZ       1193182
#define CALIBRATE_MS 10

static volatile uint32_t *lapic = (volatile uint32_t *)LAPIC_DEFAULT_BASE;
uint64_t lapic_ticks_per_ms;
static uint64_t tsc_per_ms;
static uint64_t tsc_at_boot;

static uint32_t lapic_read(uint32_t reg) { return lapic[reg / 4]; }
static void lapic_write(uint32_t reg, uint32_t v) { lapic[reg / 4] = v; }

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

static void pic_disable(void)
{
	/* ICW1..ICW4: remap to IRQ_BASE..IRQ_BASE+15, then mask every line. */
	outb(PIC1_CMD, 0x11);
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, IRQ_BASE);
	outb(PIC2_DATA, IRQ_BASE + 8);
	outb(PIC1_DATA, 4);
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, 1);
	outb(PIC2_DATA, 1);
	outb(PIC1_DATA, 0xFF);
	outb(PIC2_DATA, 0xFF);
}

void lapic_init_this_cpu(void)
{
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
}

/*
 * Runs PIT channel 2 for CALIBRATE_MS in one-shot mode and returns how far
 * the TSC and the LAPIC timer (counting down from its maximum) moved.
 */
static void calibrate(void)
{
	uint16_t count = PIT_HZ * CALIBRATE_MS / 1000;
	uint8_t gate = inb(PIT_GATE);
	outb(PIT_GATE, (gate & ~0x02) | 0x01);	/* gate on, speaker off */
	outb(PIT_CMD, 0xB0);			/* channel 2, lo/hi, mode 0 */
	outb(PIT_CH2, count & 0xFF);
	outb(PIT_CH2, count >> 8);

	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_TIMER_INIT, 0xFFFFFFFF);
	uint64_t t0 = rdtsc();
	/* restart the count: toggling the gate reloads mode 0 */
	outb(PIT_GATE, inb(PIT_GATE) & ~0x01);
	outb(PIT_GATE, inb(PIT_GATE) | 0x01);
	while (!(inb(PIT_GATE) & 0x20))
		;
	uint64_t t1 = rdtsc();
	uint32_t left = lapic_read(LAPIC_TIMER_CUR);
	lapic_write(LAPIC_TIMER_INIT, 0);
	outb(PIT_GATE, gate);

	tsc_per_ms = (t1 - t0) / CALIBRATE_MS;
	lapic_ticks_per_ms = (0xFFFFFFFFu - left) / CALIBRATE_MS;
	if (!tsc_per_ms)
		tsc_per_ms = 1;
	if (!lapic_ticks_per_ms)
		lapic_ticks_per_ms = 1;
}

void arch_timer_init(void)
{
	pic_disable();
	ioapic_init(0, 0);
	lapic_init_this_cpu();
	tsc_at_boot = rdtsc();
	calibrate();
	printk("time: TSC %lu kHz, LAPIC timer %lu kHz (divide by 16)\n", tsc_per_ms,
	       lapic_ticks_per_ms);
}

void lapic_timer_start(uint32_t hz)
{
	uint64_t init = lapic_ticks_per_ms * 1000 / hz;
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_INIT, (uint32_t)(init ? init : 1));
}

/* The kernel's tick on this CPU is the LAPIC timer's interrupt. */
void arch_timer_start(void)
{
	lapic_timer_start(TIMER_HZ);
}

uint64_t arch_clock_ns(void)
{
	return arch_timestamp_to_ns(rdtsc());
}

uint64_t arch_timestamp_to_ns(uint64_t tsc)
{
	if (tsc < tsc_at_boot)
		return 0;		/* before the timer's calibration: time 0 */
	uint64_t d = tsc - tsc_at_boot;
	/* d * 1e6 / tsc_per_ms without overflowing for ~5 hours at 1 GHz */
	return (d / tsc_per_ms) * 1000000 + (d % tsc_per_ms) * 1000000 / tsc_per_ms;
}
