/*
 * kernel/acpi.c - find the ACPI tables and read the MADT.
 *
 * How the firmware's tables are found (ACPI 6.5, 5.2.5 - 5.2.8):
 *
 *   RSDP ("RSD PTR ", 16-byte aligned) in one of the areas the architecture
 *    |   names (arch_acpi_rsdp_areas; on a PC BIOS the first KiB of the EBDA,
 *    |   then 0xE0000-0xFFFFF, arch/x86_64/bios.c). Checksum: its first 20
 *    |   bytes sum to 0; a revision >= 2 RSDP is longer and its whole length
 *    |   sums to 0 too.
 *    v
 *   RSDT (32-bit table addresses) or, from revision 2 on, XSDT (64-bit ones)
 *    |   every table starts with the same 36-byte header, whose bytes
 *    |   (the whole table's) sum to 0
 *    v
 *   MADT, signature "APIC": the local APIC address, then variable-length
 *   entries, each "type, length, ...": 0 a processor's local APIC, 1 an I/O
 *   APIC, 2 an interrupt source override, 5 a 64-bit local APIC address,
 *   9 a processor with an x2APIC ID.
 *
 * Multiboot 2 can hand the RSDP over (tags 14 and 15), and UEFI machines
 * have no BIOS area to scan; this kernel boots through QEMU's SeaBIOS or
 * GRUB on top of it, where the scan works. Reading the tags is a TODO for
 * the multiboot code (boot/multiboot.c).
 *
 * The tables are in firmware memory, which the kernel's page tables need
 * not map: every range is checked with paging_is_mapped and, if absent,
 * mapped read-only (identity) before it is read.
 *
 * Without ACPI (or without a valid MADT) the kernel runs on the boot CPU
 * alone and says so; nothing here panics over firmware.
 */
#include <acpi.h>
#include <arch.h>
#include <mm.h>
#include <printf.h>
#include <printk.h>
#include <string.h>

#define RSDP_SIG          "RSD PTR "
#define RSDP_ALIGN        16
#define RSDP_V1_LENGTH    20		/* the part the first checksum covers */
#define RSDP_MAX_AREAS    4		/* places the architecture may name */

#define MADT_SIG          "APIC"
#define MADT_PCAT_COMPAT  (1u << 0)	/* MADT flags: 8259 PICs present */

/* MADT entry types. */
#define MADT_LAPIC          0
#define MADT_IOAPIC         1
#define MADT_OVERRIDE       2
#define MADT_LAPIC_ADDR     5
#define MADT_X2APIC         9

/* Processor entry flags. */
#define MADT_CPU_ENABLED        (1u << 0)
#define MADT_CPU_ONLINE_CAPABLE (1u << 1)

/* MPS INTI flags of an override: polarity in bits 0-1, trigger in 2-3. */
#define INTI_POLARITY_MASK   0x3
#define INTI_POLARITY_LOW    0x3
#define INTI_TRIGGER_SHIFT   2
#define INTI_TRIGGER_MASK    0x3
#define INTI_TRIGGER_LEVEL   0x3
#define ISA_BUS              0

struct rsdp {
	char sig[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_addr;
	/* revision >= 2 */
	uint32_t length;
	uint64_t xsdt_addr;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __packed;

struct sdt_header {
	char sig[4];
	uint32_t length;	/* of the whole table, header included */
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __packed;

struct madt {
	struct sdt_header h;
	uint32_t lapic_addr;
	uint32_t flags;
	uint8_t entries[];
} __packed;

struct madt_entry {
	uint8_t type;
	uint8_t length;
} __packed;

struct madt_lapic {
	struct madt_entry e;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __packed;

struct madt_ioapic {
	struct madt_entry e;
	uint8_t id;
	uint8_t reserved;
	uint32_t addr;
	uint32_t gsi_base;
} __packed;

struct madt_override {
	struct madt_entry e;
	uint8_t bus;
	uint8_t source;		/* the ISA IRQ */
	uint32_t gsi;
	uint16_t flags;		/* MPS INTI flags */
} __packed;

struct madt_lapic_addr {
	struct madt_entry e;
	uint16_t reserved;
	uint64_t addr;
} __packed;

struct madt_x2apic {
	struct madt_entry e;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t processor_uid;
} __packed;

struct acpi_info acpi;
static bool acpi_done;
static const struct sdt_header *root;	/* the RSDT or the XSDT */
static bool root_is_xsdt;

/* Makes [pa, pa + len) readable at its identity address; returns it. */
static const void *phys_map(uint64_t pa, uint64_t len)
{
	for (uint64_t p = ALIGN_DOWN(pa, PAGE_SIZE); p < pa + len; p += PAGE_SIZE) {
		if (!paging_is_mapped(p))
			paging_map(p, p, 0);	/* read-only, no-execute */
	}
	return (const void *)pa;
}

static bool checksum_ok(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (uint64_t i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

static const struct rsdp *rsdp_scan(uint64_t start, uint64_t end)
{
	phys_map(start, end - start);
	for (uint64_t a = ALIGN_UP(start, RSDP_ALIGN); a + RSDP_V1_LENGTH <= end; a += RSDP_ALIGN) {
		const struct rsdp *r = (const struct rsdp *)a;
		if (memcmp(r->sig, RSDP_SIG, sizeof(r->sig)) != 0)
			continue;
		if (!checksum_ok(r, RSDP_V1_LENGTH)) {
			printk("acpi: RSDP signature at 0x%lx with a bad checksum; skipped\n", a);
			continue;
		}
		if (r->revision >= 2 && a + sizeof(*r) <= end &&
		    !checksum_ok(r, MIN(r->length, sizeof(*r)))) {
			printk("acpi: RSDP at 0x%lx: bad extended checksum; skipped\n", a);
			continue;
		}
		return r;
	}
	return NULL;
}

/* Searches the areas the architecture names, in its order; on failure,
 * describes where it looked in `where`. */
static const struct rsdp *rsdp_find(char *where, size_t size)
{
	struct arch_phys_range area[RSDP_MAX_AREAS];
	int n = arch_acpi_rsdp_areas(area, RSDP_MAX_AREAS);
	size_t len = 0;
	where[0] = '\0';
	for (int i = 0; i < n; i++) {
		const struct rsdp *r = rsdp_scan(area[i].start, area[i].end);
		if (r)
			return r;
		if (len < size)
			len += (size_t)snprintf(where + len, size - len, "%s%s 0x%lx-0x%lx",
						i ? ", " : "", area[i].what, area[i].start,
						area[i].end - 1);
	}
	return NULL;
}

/* Maps the table at pa and checks it; returns its header or NULL. */
static const struct sdt_header *table_map(uint64_t pa)
{
	if (!pa)
		return NULL;
	const struct sdt_header *h = phys_map(pa, sizeof(*h));
	if (h->length < sizeof(*h))
		return NULL;
	phys_map(pa, h->length);
	if (!checksum_ok(h, h->length)) {
		printk("acpi: table '%.4s' at 0x%lx has a bad checksum; ignored\n", h->sig, pa);
		return NULL;
	}
	return h;
}

const void *acpi_find_table(const char *sig)
{
	if (!root)
		return NULL;
	size_t width = root_is_xsdt ? sizeof(uint64_t) : sizeof(uint32_t);
	size_t n = (root->length - sizeof(*root)) / width;
	const uint8_t *entries = (const uint8_t *)(root + 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t pa;
		if (root_is_xsdt)
			memcpy(&pa, entries + i * width, sizeof(pa));	/* unaligned */
		else {
			uint32_t pa32;
			memcpy(&pa32, entries + i * width, sizeof(pa32));
			pa = pa32;
		}
		const struct sdt_header *h = table_map(pa);
		if (h && memcmp(h->sig, sig, sizeof(h->sig)) == 0)
			return h;
	}
	return NULL;
}

static void madt_cpu(uint32_t apic_id, uint32_t flags)
{
	if (!(flags & (MADT_CPU_ENABLED | MADT_CPU_ONLINE_CAPABLE)))
		return;		/* a slot for a processor that is not there */
	if (acpi.ncpus < ACPI_MAX_CPUS)
		acpi.cpu_apic_id[acpi.ncpus++] = apic_id;
}

static void madt_override(const struct madt_override *o)
{
	acpi.noverrides++;
	if (o->bus != ISA_BUS || o->source >= ACPI_ISA_IRQS) {
		printk("acpi: override for bus %u source %u ignored (not an ISA IRQ)\n", o->bus,
		       o->source);
		return;
	}
	struct acpi_isa_route *r = &acpi.isa[o->source];
	r->gsi = o->gsi;
	/* "conforms to the bus" (0) means ISA's own: active high, edge */
	r->active_low = (o->flags & INTI_POLARITY_MASK) == INTI_POLARITY_LOW;
	r->level = ((o->flags >> INTI_TRIGGER_SHIFT) & INTI_TRIGGER_MASK) == INTI_TRIGGER_LEVEL;
	r->overridden = true;
}

static void madt_parse(const struct madt *m)
{
	acpi.lapic_addr = m->lapic_addr;
	acpi.pcat_compat = m->flags & MADT_PCAT_COMPAT;
	const uint8_t *p = m->entries, *end = (const uint8_t *)m + m->h.length;
	while (p + sizeof(struct madt_entry) <= end) {
		const struct madt_entry *e = (const struct madt_entry *)p;
		if (e->length < sizeof(*e) || p + e->length > end) {
			printk("acpi: MADT entry of type %u has a bad length %u; rest ignored\n",
			       e->type, e->length);
			break;
		}
		switch (e->type) {
		case MADT_LAPIC: {
			const struct madt_lapic *l = (const void *)e;
			madt_cpu(l->apic_id, l->flags);
			break;
		}
		case MADT_IOAPIC: {
			const struct madt_ioapic *io = (const void *)e;
			if (acpi.nioapics < ACPI_MAX_IOAPICS)
				acpi.ioapic[acpi.nioapics++] = (struct acpi_ioapic){
					.id = io->id, .addr = io->addr, .gsi_base = io->gsi_base
				};
			break;
		}
		case MADT_OVERRIDE:
			madt_override((const void *)e);
			break;
		case MADT_LAPIC_ADDR:
			acpi.lapic_addr = ((const struct madt_lapic_addr *)e)->addr;
			break;
		case MADT_X2APIC: {
			const struct madt_x2apic *x = (const void *)e;
			if (x->flags & (MADT_CPU_ENABLED | MADT_CPU_ONLINE_CAPABLE))
				acpi.ncpus_x2apic++;
			break;
		}
		default:
			break;	/* NMI sources, GIC entries, ...: not needed */
		}
		p += e->length;
	}
}

void acpi_init(void)
{
	if (acpi_done)
		return;
	acpi_done = true;
	for (int irq = 0; irq < ACPI_ISA_IRQS; irq++)
		acpi.isa[irq] = (struct acpi_isa_route){ .gsi = (uint32_t)irq };

	char where[160];
	const struct rsdp *r = rsdp_find(where, sizeof(where));
	if (!r) {
		printk("acpi: no RSDP (searched %s): no ACPI tables, so one CPU and no "
		       "I/O APIC information\n", where[0] ? where : "nowhere");
		return;
	}
	acpi.found = true;
	acpi.rsdp_addr = (uint64_t)r;
	acpi.revision = r->revision;
	memcpy(acpi.oem_id, r->oem_id, sizeof(r->oem_id));

	root_is_xsdt = r->revision >= 2 && r->xsdt_addr;
	root = table_map(root_is_xsdt ? r->xsdt_addr : r->rsdt_addr);
	const struct madt *m = acpi_find_table(MADT_SIG);
	if (!root || !m) {
		printk("acpi: RSDP at 0x%lx (%s) but %s; running on one CPU\n", acpi.rsdp_addr,
		       acpi.oem_id, !root ? "no valid RSDT/XSDT" : "no valid MADT");
		return;
	}
	acpi.have_madt = true;
	madt_parse(m);

	printk("acpi: RSDP at 0x%lx (%s, ACPI %s, %s); MADT: %d CPU%s, local APIC at 0x%lx, "
	       "%d I/O APIC%s, %d override%s\n",
	       acpi.rsdp_addr, acpi.oem_id, acpi.revision >= 2 ? "2.0+" : "1.0",
	       root_is_xsdt ? "XSDT" : "RSDT", acpi.ncpus, acpi.ncpus == 1 ? "" : "s",
	       acpi.lapic_addr, acpi.nioapics, acpi.nioapics == 1 ? "" : "s", acpi.noverrides,
	       acpi.noverrides == 1 ? "" : "s");
	for (int i = 0; i < acpi.nioapics; i++)
		printk("acpi: I/O APIC id %u at 0x%lx, GSIs from %u\n", acpi.ioapic[i].id,
		       acpi.ioapic[i].addr, acpi.ioapic[i].gsi_base);
	for (int irq = 0; irq < ACPI_ISA_IRQS; irq++) {
		const struct acpi_isa_route *ir = &acpi.isa[irq];
		if (ir->overridden)
			printk("acpi: ISA IRQ %d -> GSI %u, active %s, %s-triggered\n", irq,
			       ir->gsi, ir->active_low ? "low" : "high",
			       ir->level ? "level" : "edge");
	}
	if (acpi.ncpus_x2apic)
		printk("acpi: %d processor%s with x2APIC IDs only: not started (xAPIC only)\n",
		       acpi.ncpus_x2apic, acpi.ncpus_x2apic == 1 ? "" : "s");
}
