# Makefile - build, boot and test the kernel. `make help` lists the targets.
#
# Variables you may set:
#   OPT=-O0            optimisation level (default -O2); the tests pass at both
#   BUILD=dir          output directory (default build)
#   T='glob'           make test / make bench: only the matching suite.name
#   EXTRA_TESTS='a.c'  test files from outside the tree, built into the kernel
#   EXTRA_UTESTS='u.c' user test files (UTEST) from outside the tree, built into utests
#   V=1                show commands, and every test's output
#   QEMU_ARGS='...'    extra arguments for make run / make debug
#   CMDLINE='...'      kernel command line for make run / make debug

BUILD   ?= build
.DEFAULT_GOAL := all
OPT     ?= -O2
V       ?= 0

ifeq ($(V),1)
Q :=
else
Q := @
endif

# An x86_64-elf cross compiler if there is one, else the host gcc (it is an
# x86-64 compiler already; the flags below make it freestanding).
CROSS   := $(shell command -v x86_64-elf-gcc >/dev/null 2>&1 && echo x86_64-elf-)
CC      := $(CROSS)gcc
LD      := $(CROSS)ld
OBJCOPY := $(CROSS)objcopy
NM      := $(CROSS)nm
NASM    := nasm
PYTHON  := python3

ARCH    := x86_64
INCLUDES := -Iinclude -Iarch/$(ARCH)/include
# Freestanding, no red zone (interrupts would clobber it), no SIMD in kernel
# code (the FPU belongs to threads; see docs/fpu.md), frame pointers kept for
# backtraces, and every warning an error.
CFLAGS  := -std=gnu11 -ffreestanding -fno-builtin -fno-stack-protector \
	   -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only -mcmodel=small \
	   -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	   -fno-strict-aliasing -g $(OPT) -Wall -Wextra -Werror \
	   -Wno-unused-parameter $(INCLUDES)
NASMFLAGS := -f elf64 -g -F dwarf -I./ -Iarch/$(ARCH)/guests/ -I$(BUILD)/guests/ -I$(BUILD)/
LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
	   --no-warn-rwx-segments -T linker.ld

# Sources: every .c and .asm under these directories. tests/ holds the
# in-kernel suites (tests/harness is host-side Python).
SRC_DIRS := boot arch/$(ARCH) kernel kernel/mm kernel/vmm lib \
	    $(filter-out tests/harness,$(wildcard tests/*))
C_SRCS   := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c))
ASM_SRCS := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.asm))
OBJS     := $(C_SRCS:%.c=$(BUILD)/%.o) $(ASM_SRCS:%.asm=$(BUILD)/%.asm.o)

# The sample guests (arch/x86_64/guests/*.asm) are flat binaries, loaded
# at guest-physical 0x1000; guest_images.asm includes them into the kernel.
GUEST_DIR  := arch/$(ARCH)/guests
GUEST_BINS := $(patsubst $(GUEST_DIR)/%.asm,$(BUILD)/guests/%.bin,$(wildcard $(GUEST_DIR)/*.asm))

# Test files from outside the tree: each is compiled with the kernel's flags
# into build/extra/, named after its absolute path so two a.c do not clash.
EXTRA_ABS  := $(abspath $(EXTRA_TESTS))
EXTRA_OBJS := $(foreach f,$(EXTRA_ABS),$(BUILD)/extra/$(subst /,_,$(f:.c=.o)))

# ---- user space (user/): a small C library, the programs, the test program ----
#
# Programs are static ELF64 executables linked at 0x8000400000 (user/user.ld).
# They are compiled position-independent (-fpie: every address RIP-relative)
# but linked at a fixed address, so nothing needs relocating. Unlike the
# kernel they may use SSE and AVX. lib/string.c and lib/printf.c are built a
# second time for them. Each user/bin/NAME.c is a program NAME; every
# user/tests/*.c (and EXTRA_UTESTS) goes into one program, utests.
USER_CFLAGS := -std=gnu11 -ffreestanding -fno-builtin -fno-stack-protector -fpie -fno-plt \
	       -fno-omit-frame-pointer -fno-asynchronous-unwind-tables -g $(OPT) \
	       -Wall -Wextra -Werror -Wno-unused-parameter -Iuser/include -Iinclude
USER_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
		-T user/user.ld
AR      := $(CROSS)ar
UBUILD  := $(BUILD)/user
ULIB_C  := $(filter-out user/lib/utest.c,$(wildcard user/lib/*.c)) lib/string.c lib/printf.c
ULIB_ASM := $(wildcard user/lib/*.asm)
ULIB_OBJS := $(ULIB_C:%.c=$(UBUILD)/obj/%.o) $(ULIB_ASM:%.asm=$(UBUILD)/obj/%.asm.o)
# These touch the FPU only through user/lib/fpu_regs.asm: the FPU tests
# decide when a process makes its first FPU use and what its registers hold.
USER_NOSIMD := $(UBUILD)/obj/user/lib/fpu_regs.o $(UBUILD)/obj/user/bin/fpuprobe.o
$(USER_NOSIMD): USER_CFLAGS += -mgeneral-regs-only
ULIB    := $(UBUILD)/libu.a
UPROG_NAMES := $(patsubst user/bin/%.c,%,$(wildcard user/bin/*.c))
UPROGS  := $(UPROG_NAMES:%=$(UBUILD)/bin/%.elf)
UTEST_SRCS := $(wildcard user/tests/*.c)
EXTRA_UABS := $(abspath $(EXTRA_UTESTS))
UTEST_OBJS := $(UTEST_SRCS:%.c=$(UBUILD)/obj/%.o) $(UBUILD)/obj/user/lib/utest.o \
	      $(foreach f,$(EXTRA_UABS),$(UBUILD)/extra/$(subst /,_,$(f:.c=.o)))
UTESTS  := $(UBUILD)/utests.elf

$(UBUILD)/obj/%.o: %.c $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  UCC     $<")
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP -c $< -o $@

$(UBUILD)/obj/%.asm.o: %.asm $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  UNASM   $<")
	$(Q)$(NASM) -f elf64 -g -F dwarf -Iarch/$(ARCH)/guests/ -I$(BUILD)/guests/ -o $@ $<

# The guests, as data for VMs driven from user space (user/lib/uvm.c).
$(UBUILD)/obj/user/lib/guest_images.asm.o: $(GUEST_BINS)

define extra_urule
$(UBUILD)/extra/$(subst /,_,$(1:.c=.o)): $(1) $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(UBUILD)/extra
	@$$(if $(Q),echo "  UCC     $(1)")
	$(Q)$(CC) $(USER_CFLAGS) -MMD -MP -c $(1) -o $$@
endef
$(foreach f,$(EXTRA_UABS),$(eval $(call extra_urule,$(f))))

$(ULIB): $(ULIB_OBJS)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(UBUILD)/bin/%.elf: $(UBUILD)/obj/user/bin/%.o $(ULIB) user/user.ld
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  ULD     $@")
	$(Q)$(LD) $(USER_LDFLAGS) -o $@ $< $(ULIB)

$(UTESTS): $(UTEST_OBJS) $(ULIB) user/user.ld
	@$(if $(Q),echo "  ULD     $@")
	$(Q)$(LD) $(USER_LDFLAGS) -o $@ $(UTEST_OBJS) $(ULIB)

# The programs, in the kernel's read-only data, without their debugging
# sections (gdb reads those from build/user/; the kernel needs only the
# program headers and the symbols): a quarter of the size, and a kernel
# GRUB loads faster. The user cases, in its list.
# (kept: the harness boots build/user/bin/*.elf as modules; make would
# otherwise delete them and their objects as intermediate files)
.SECONDARY: $(UPROGS) $(UPROG_NAMES:%=$(UBUILD)/obj/user/bin/%.o)
$(UBUILD)/img/%.elf: $(UBUILD)/bin/%.elf
	@mkdir -p $(dir $@)
	$(Q)$(OBJCOPY) --strip-debug $< $@
$(UBUILD)/img/utests.elf: $(UTESTS)
	@mkdir -p $(dir $@)
	$(Q)$(OBJCOPY) --strip-debug $< $@
$(BUILD)/user_images.asm: $(UPROG_NAMES:%=$(UBUILD)/img/%.elf) $(UBUILD)/img/utests.elf tools/mkimages.py
	$(Q)$(PYTHON) tools/mkimages.py $@ $(foreach n,$(UPROG_NAMES),$(n)=$(UBUILD)/img/$(n).elf) \
		utests=$(UBUILD)/img/utests.elf
$(BUILD)/user_images.o: $(BUILD)/user_images.asm
	$(Q)$(NASM) -f elf64 -o $@ $<
$(BUILD)/utest_cases.c: $(UTESTS) tools/mkutests.py tests/harness/elfindex.py
	$(Q)$(PYTHON) tools/mkutests.py $(UTESTS) $@
$(BUILD)/utest_cases.o: $(BUILD)/utest_cases.c $(BUILD)/.flags
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
USER_KOBJS := $(BUILD)/user_images.o $(BUILD)/utest_cases.o

KERNEL   := $(BUILD)/kernel.elf
KERNEL32 := $(BUILD)/kernel32.elf
ISO      := $(BUILD)/kernel.iso

QEMU     ?= qemu-system-x86_64
QEMU_COMMON := -m 256M -no-reboot -display none \
	       -device isa-debug-exit,iobase=0xf4,iosize=0x01
CMDLINE  ?=

.PHONY: all iso run debug test bench clean help deps grade lab-known lab-tree lab-check trace figures FORCE

all: $(KERNEL) $(KERNEL32)

help:
	@echo "make          build $(KERNEL)"
	@echo "make iso      build $(ISO) (GRUB, multiboot2)"
	@echo "make run      boot the ISO in QEMU, serial console here; Ctrl-A X quits"
	@echo "make grade LAB=name       grade a lab (labs/name.md): Score: X/Y, build/grade.json"
	@echo "make lab-tree LAB=name DEST=dir   a student's starting tree for the lab"
	@echo "make lab-check            every lab: full marks, 0 in its student tree (CI)"
	@echo "make lab-check FULL=1     ... and make test in each student tree"
	@echo "make debug    as run, stopped at the first instruction, waiting for gdb"
	@echo "make test     the whole test matrix (T='suite.*', EXTRA_TESTS='a.c', V=1)"
	@echo "make bench    the benchmarks under -icount; JSON on the last line"
	@echo "make trace    boot with tracing (CMDLINE='trace.run=fpudemo'): build/trace.json, .svg"
	@echo "make deps     install the tools the build needs (Debian packages)"

# The tools: missing ones are installed by tools/install-deps.sh (as root or
# through sudo), or named with the command that installs them.
deps:
	$(Q)tools/install-deps.sh

$(BUILD)/.deps-ok: tools/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)tools/install-deps.sh --check-or-install
	$(Q)touch $@

# Rebuild everything when the flags or the extra tests change.
$(BUILD)/.flags: FORCE
	$(Q)mkdir -p $(BUILD)
	$(Q)echo '$(CC) $(CFLAGS) $(EXTRA_ABS) $(EXTRA_UABS)' | cmp -s - $@ || \
		echo '$(CC) $(CFLAGS) $(EXTRA_ABS) $(EXTRA_UABS)' > $@

$(BUILD)/%.o: %.c $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.asm.o: %.asm $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NASM    $<")
	$(Q)$(NASM) $(NASMFLAGS) -MD $(@:.o=.d) -MP $< -o $@

$(BUILD)/guests/%.bin: $(GUEST_DIR)/%.asm $(wildcard $(GUEST_DIR)/*.inc) $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GUEST   $<")
	$(Q)$(NASM) -f bin -I$(GUEST_DIR)/ -o $@ $<

$(BUILD)/arch/$(ARCH)/guest_images.asm.o: $(GUEST_BINS)

# The numbers the assembly takes from C (arch/x86_64/asm_offsets.c): the
# compiler's assembly output carries "->NAME value" lines; they become
# "NAME equ value". asm_offsets.c itself is not linked.
OBJS := $(filter-out $(BUILD)/arch/$(ARCH)/asm_offsets.o,$(OBJS))
$(BUILD)/asm_offsets.inc: arch/$(ARCH)/asm_offsets.c $(BUILD)/.flags | $(BUILD)/.deps-ok
	$(Q)$(CC) $(CFLAGS) -MMD -MP -MT $@ -MF $(BUILD)/asm_offsets.d -S $< -o $(BUILD)/asm_offsets.s
	$(Q)sed -n 's/^[[:space:]]*->\([A-Z0-9_]*\) \(-\{0,1\}[0-9]*\).*/\1 equ \2/p' \
		$(BUILD)/asm_offsets.s > $@
$(filter $(BUILD)/arch/$(ARCH)/%.asm.o,$(OBJS)): $(BUILD)/asm_offsets.inc
-include $(BUILD)/asm_offsets.d

define extra_rule
$(BUILD)/extra/$(subst /,_,$(1:.c=.o)): $(1) $(BUILD)/.flags | $(BUILD)/.deps-ok
	@mkdir -p $(BUILD)/extra
	@$$(if $(Q),echo "  CC      $(1)")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $(1) -o $$@
endef
$(foreach f,$(EXTRA_ABS),$(eval $(call extra_rule,$(f))))

# Two links. The first has an empty symbol table; its function symbols
# become the table of the second. The table sits last in rodata, so no
# function moves: the check below proves it.
$(BUILD)/ksyms0.o: tools/mksyms.py | $(BUILD)/.deps-ok
	@mkdir -p $(BUILD)
	$(Q)$(PYTHON) tools/mksyms.py </dev/null > $(BUILD)/ksyms0.S
	$(Q)$(CC) -c $(BUILD)/ksyms0.S -o $@

$(KERNEL): $(OBJS) $(EXTRA_OBJS) $(USER_KOBJS) $(BUILD)/ksyms0.o linker.ld tools/mksyms.py
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(LDFLAGS) -o $(BUILD)/kernel.pass1.elf $(OBJS) $(EXTRA_OBJS) $(USER_KOBJS) \
		$(BUILD)/ksyms0.o
	$(Q)$(NM) -n -S --defined-only $(BUILD)/kernel.pass1.elf | $(PYTHON) tools/mksyms.py > $(BUILD)/ksyms.S
	$(Q)$(CC) -c $(BUILD)/ksyms.S -o $(BUILD)/ksyms.o
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(EXTRA_OBJS) $(USER_KOBJS) $(BUILD)/ksyms.o
	$(Q)$(NM) -n $(BUILD)/kernel.pass1.elf | grep -i ' t ' > $(BUILD)/syms1.txt
	$(Q)$(NM) -n $@ | grep -i ' t ' > $(BUILD)/syms2.txt
	$(Q)cmp -s $(BUILD)/syms1.txt $(BUILD)/syms2.txt || \
		{ echo "error: functions moved between the two links (see linker.ld)"; rm -f $@; exit 1; }

# QEMU's -kernel loads only 32-bit ELF multiboot images; the code is the same.
$(KERNEL32): $(KERNEL)
	$(Q)$(OBJCOPY) -O elf32-i386 $< $@

# The command line is baked into the ISO's grub.cfg: a new CMDLINE rebuilds it.
$(BUILD)/.cmdline: FORCE
	$(Q)mkdir -p $(BUILD)
	$(Q)echo '$(CMDLINE)' | cmp -s - $@ || echo '$(CMDLINE)' > $@

# The ISO's kernel has no debugging sections (GRUB reads every section
# into memory, from a CD a sector at a time; gdb reads build/kernel.elf).
iso: $(ISO)
$(ISO): $(KERNEL) boot/grub.cfg $(BUILD)/.cmdline
	@$(if $(Q),echo "  ISO     $@")
	$(Q)rm -rf $(BUILD)/isodir && mkdir -p $(BUILD)/isodir/boot/grub
	$(Q)$(OBJCOPY) --strip-debug $(KERNEL) $(BUILD)/isodir/boot/kernel.elf
	$(Q)sed -e 's|@CMDLINE@|$(CMDLINE)|' -e 's|@MODULES@||' boot/grub.cfg > $(BUILD)/isodir/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(BUILD)/isodir >$(BUILD)/grub-mkrescue.log 2>&1 || \
		{ cat $(BUILD)/grub-mkrescue.log; exit 1; }

# The console is also logged to build/run.log (the shell's `trace demo`
# prints a trace dump there: make trace LOG=build/run.log draws it).
run: $(ISO)
	@echo "Booting $(ISO); the serial console is this terminal (logged in $(BUILD)/run.log). Ctrl-A X quits QEMU."
	$(QEMU) $(QEMU_COMMON) -chardev stdio,id=con,mux=on,signal=off,logfile=$(BUILD)/run.log \
		-serial chardev:con -mon chardev=con -cpu max -smp 2 \
		-cdrom $(ISO) $(QEMU_ARGS)

debug: $(ISO)
	$(Q)sed -e 's|@KERNEL@|$(abspath $(KERNEL))|' -e 's|@TOP@|$(CURDIR)|' tools/gdb/gdbinit.in > $(BUILD)/gdbinit
	@echo "QEMU is waiting for gdb at the first instruction. In another terminal:"
	@echo "    gdb -x $(BUILD)/gdbinit"
	@echo "(then 'continue'; 'hbreak kmain' first stops at kmain). Ctrl-A X quits QEMU."
	$(QEMU) $(QEMU_COMMON) -serial mon:stdio -cpu max -smp 2 \
		-cdrom $(ISO) -s -S $(QEMU_ARGS)

# The harness builds what it needs (with these same variables) and boots it.
test: all
	$(Q)$(PYTHON) tests/harness/run.py --build $(BUILD) $(if $(T),--filter '$(T)') \
		$(if $(filter 1,$(V)),--verbose) --make-args 'OPT=$(OPT) EXTRA_TESTS="$(EXTRA_TESTS)" EXTRA_UTESTS="$(EXTRA_UTESTS)"'

# Labs (docs/labs.md): a lab's grade, a student's starting tree.
# (the lab is checked before anything is built: a typo should not cost a build)
grade: lab-known all
	$(Q)$(PYTHON) tools/grade.py --build $(BUILD) --lab '$(LAB)' \
		--extra-tests '$(EXTRA_TESTS)' --extra-utests '$(EXTRA_UTESTS)' \
		$(if $(CMDLINE),--cmdline '$(CMDLINE)') \
		--make-args 'OPT=$(OPT) EXTRA_TESTS="$(EXTRA_TESTS)" EXTRA_UTESTS="$(EXTRA_UTESTS)"'

lab-known:
	@test -n '$(LAB)' -a -f 'labs/$(LAB).json' || { echo "make grade: no lab '$(LAB)'; give LAB=" \
		"one of: $(patsubst labs/%.json,%,$(wildcard labs/*.json))" >&2; exit 2; }

lab-tree:
	$(Q)$(PYTHON) tools/labtree.py --lab '$(LAB)' --dest '$(DEST)'

# Every lab as CI checks it: full marks here, a lower score with its bug
# switch, 0 in its student tree and full marks there on the other labs.
lab-check:
	$(Q)$(PYTHON) tools/labtree.py --check
	$(Q)$(PYTHON) tools/labcheck.py $(if $(LAB),--lab '$(LAB)') $(if $(filter 1,$(FULL)),--full)

# Pictures (docs/trace.md): boot with tracing, dump, build/trace.{log,json,svg}.
trace: all
	$(Q)$(PYTHON) tools/maketrace.py --build $(BUILD) --cmdline '$(CMDLINE)' $(if $(LOG),--log '$(LOG)') \
		$(if $(SMP),--smp $(SMP)) $(if $(WINDOW),--window '$(WINDOW)') \
		$(if $(TITLE),--title '$(TITLE)')

# The figures of docs/trace.md, remade from real runs (docs/figures/).
figures: all
	$(Q)$(PYTHON) tools/maketrace.py --build $(BUILD) --figures

bench: all
	$(Q)$(PYTHON) tests/harness/bench.py --build $(BUILD) $(if $(T),--filter '$(T)')

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(EXTRA_OBJS:.o=.d) $(ULIB_OBJS:.o=.d) $(UTEST_OBJS:.o=.d) \
	 $(UPROG_NAMES:%=$(UBUILD)/obj/user/bin/%.d)
