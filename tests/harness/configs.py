"""configs.py - the test matrix: which machines every selected test runs on.

A configuration is one way of building and booting the kernel.  `make test`
runs every selected test on every configuration in CONFIGS below; the
summary table has one row per configuration.

Each configuration gets

  * one "main" boot that runs all the selected cases (ktest=GLOB, the
    user's filter); the KTEST_EXPECT_PANIC cases among them are reported by
    the kernel as skipped ("runs in a boot of its own"), and
  * if `panic_boots` is true, one more boot per selected KTEST_EXPECT_PANIC
    case with ktest=suite.name, since a panic ends the boot it happens in.
    Its result replaces the "skipped" line of the main boot.

Fields of Config:

  name          row name, and the directory of the logs: build/harness/<name>/
  qemu_args     what this configuration adds to the common QEMU arguments
                (-m 256M -no-reboot -display none -device isa-debug-exit,...)
  boot          "kernel": QEMU loads <build>/kernel32.elf itself (-kernel,
                Multiboot 1, command line through -append);
                "iso": a GRUB (Multiboot 2) CD image built by the harness
                under build/harness/<name>/ with the command line in grub.cfg
  cmdline       kernel command-line words added to ktest=... (e.g. "fpu=lazy")
  panic_boots   run the EXPECT_PANIC cases in boots of their own (see above)
  panic_only    globs over suite.name: only the EXPECT_PANIC cases that match
                one get boots of their own on this row (empty: all of them)
  variant       None: boot the kernel of --build.  Otherwise the name of a
                separate build, made by the harness with
                `make BUILD=<build>/<variant> <--make-args> <make_vars>`
  make_vars     the make variables of that build, e.g. {"OPT": "-O0"}
  checks        lines the main boot's log must contain, as
                (check name, regular expression, what it means); each is
                reported as a test "(boot).<check name>" of this row
  only          a glob over suite.name, or several separated by commas:
                this row runs only the selected cases that match one (e.g.
                "fpu.*" for a row that exists for the FPU's sake); "" runs
                them all. The kernel's ktest= takes the same list.
  skip          globs over suite.name: this row leaves out the cases that
                match any of them (e.g. suites that do not depend on what
                the row varies); passed to the kernel as ktest.skip=
  modules       boot modules, (file, name) pairs, the file relative to the
                build directory: QEMU's -initrd "FILE NAME,..." on the
                -kernel path, `module2 FILE NAME` lines in grub.cfg on the
                iso path (kernel/program.c names a module by its last word)
  typing        what the main boot types into the serial console, as
                (regular expression, text) pairs in order: when a serial
                line matches the first pair's expression, its text is typed
                and the next pair waits (the shell's row: tests/shell/)
  lead          its main boot starts first, beside the other lead rows'
                (run.py): for multi-CPU rows whose long cases run for a
                fixed time, which costs the same wall time side by side

To add a configuration, add a line to CONFIGS, for example:

    Config("lazyfpu", ["-cpu", "max"], cmdline="fpu=lazy"),
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class Config:
    name: str
    qemu_args: List[str]
    boot: str = "kernel"                    # "kernel" | "iso"
    cmdline: str = ""
    panic_boots: bool = True
    variant: Optional[str] = None
    make_vars: Dict[str, str] = field(default_factory=dict)
    checks: List[Tuple[str, str, str]] = field(default_factory=list)
    only: str = ""
    skip: List[str] = field(default_factory=list)
    lead: bool = False
    panic_only: List[str] = field(default_factory=list)
    modules: List[Tuple[str, str]] = field(default_factory=list)
    typing: List[Tuple[str, str]] = field(default_factory=list)
    post: str = ""                          # "trace": tracecheck.py judges the log too
    # The firmware of a -kernel boot: "qboot" (QEMU's minimal BIOS, where
    # QEMU has it) or "seabios" (QEMU's default). See FIRMWARE below.
    firmware: str = "qboot"
    # ... for the main boot only ("" = as firmware)
    main_firmware: str = ""


def in_config(cfg: Config, full_name: str) -> bool:
    """Does configuration cfg run the case suite.name `full_name`?"""
    if any(fnmatch.fnmatchcase(full_name, g) for g in cfg.skip):
        return False
    return not cfg.only or any(fnmatch.fnmatchcase(full_name, g) for g in cfg.only.split(","))


def gets_panic_boot(cfg: Config, full_name: str) -> bool:
    """Does an EXPECT_PANIC case get a boot of its own on row cfg (if the
    row runs panic boots at all)?"""
    return not cfg.panic_only or any(fnmatch.fnmatchcase(full_name, g) for g in cfg.panic_only)


# Common to every boot.  The isa-debug-exit device turns the kernel's
# "outb 0xf4" into QEMU's exit status: (value << 1) | 1, so 0x10 -> 33 (all
# passed) and 0x11 -> 35 (a failure).  -no-reboot makes a triple fault end
# QEMU (status 0) instead of rebooting into the same test forever.
QEMU_COMMON = ["-m", "256M", "-no-reboot", "-display", "none",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]

# The firmware. SeaBIOS, QEMU's default, takes about 0.1 s of host CPU to
# reach the kernel under TCG; qboot, the minimal BIOS QEMU ships beside it
# (qboot.rom), about a third of that, and it loads a Multiboot kernel the
# same way (QEMU's multiboot.bin option ROM, the same ACPI tables from
# fw_cfg). Over the matrix's ninety boots that is some 9 s of a 2-core
# host's time (docs/testing.md). SeaBIOS stays where the boot path is
# what a row tests: grub (an ISO, which qboot cannot boot), and the main
# boots of qemu64 and max, which run the suites that read what the loader
# handed over (memory map, ACPI, command line). A QEMU without qboot.rom
# boots everything with SeaBIOS (the harness says so once).
FIRMWARE_FILES = {"qboot": "qboot.rom"}


def find_firmware(fw: str, datadirs: List[str]) -> Optional[str]:
    """The path of firmware fw's file in the first of datadirs that has
    it, or None (SeaBIOS, or no such file)."""
    name = FIRMWARE_FILES.get(fw)
    for d in datadirs if name else []:
        if os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
    return None


def firmware_args(cfg: Config, boot_name: str, datadirs: List[str]) -> List[str]:
    """QEMU's -bios for a -kernel boot of row cfg ([] for SeaBIOS, or
    when no directory of datadirs has the file)."""
    fw = cfg.main_firmware if boot_name == "main" and cfg.main_firmware else cfg.firmware
    path = find_firmware(fw, datadirs)
    return ["-bios", path] if path else []


# The lines a full boot through GRUB must print before the tests.
BOOT_CHECKS = [
    ("banner", r"\bctxkern\b", "the kernel's banner 'ctxkern ...'"),
    ("mem_summary", r"^\s*mem:", "the memory map summary line 'mem: ...'"),
]

# The FPU rows that also run the user FPU suite (suites fpu and ufpu: the
# glob matches "fpu.x" and "ufpu.x" and no other suite's cases): where a
# policy and an allocation mode meet that the rows without `only` lack
# (lazy on qemu64, lazy on four CPUs, first-use allocation under either
# policy). There ufpu takes about 0.3 s (0.5 s with the Xen pair). Its
# Xen pair switches to lazy switching and picks each process's allocation
# itself, so the row does not change it: it runs on the general rows only.
FPU_AND_USER_FPU = "*fpu.*"
# The user-VM cases about FPU state (the guest's, the program's, the chain
# that keeps them): the FPU rows run them too, so every policy and
# allocation mode meets a guest's registers on 1 and 4 CPUs.
UVM_FPU = ["uvm.the_guest_keeps_its_xmm_while_its_thread_sleeps_in_the_kernel",
           "uvm.guest_avx_state_survives_host_switches_and_migrations",
           "uvm.the_program_keeps_its_xmm_across_vm_run",
           "uvm.vcpu_thread_chain_in_a_run_is_guest_fpu_over_segbase_over_fpu"]
FPU_USER_FPU_UVM = ",".join([FPU_AND_USER_FPU] + UVM_FPU)
USER_FPU_XEN = ["ufpu.xen_*"]

# Slow cases that fill all of memory and wait for it (mm suite).
MM_EXHAUSTION = ["mm.kmem_sleep_out_of_memory", "mm.pmm_exhaust_and_recover"]
# The trace row's cases: between them a switch, context ops, FPU saves and
# restores, #NM (first uses), a kernel FPU section, guest entries and exits,
# a rendezvous and IPC calls.
TRACE_CASES = ",".join([
    "ctxop.layered_state_survives_switches",
    "fpu.kfpu_section_after_a_switch_keeps_thread_state",
    "vmm.guest_boots_prints_and_computes",
    "rendezvous.initiator_inside_and_outside_dest",
    "ipc.call_gets_the_reply_and_reply_recv_serves_the_next",
])

# The benchmarks that boot on one CPU: make test checks them on max; smp4
# runs only those that need several CPUs (KTEST_CPUS).
ONE_CPU_BENCH = ["bench.ctxop_*", "bench.fpu_*", "bench.sched_yield", "bench.sched_create_join",
                 "bench.vmm_*", "bench.syscall_*", "bench.user_*", "bench.ipc_call_reply",
                 "bench.ipc_notify_latency"]
# User suites that test what the kernel does for a process, not the boot
# path or the compiler's code: grub and O0 leave them to the other rows
# (user.* stays everywhere: processes start there too). ioport: the I/O
# permission bitmap (docs/user.md), on one CPU and on smp4's four.
USER_BEHAVIOUR = ["fuzz.*", "robust.*", "memory.*", "process.*", "ioport.*", "ipc.*", "names.*",
                  "console.*"]

# The 130-vCPU guest driven from user space (3 to 5 s a boot): on four
# CPUs, vmm-smp4's. The SMP guest's cases (1 to 2 s each on one CPU) touch
# no FPU state of their own: the lazy row leaves them to max and smp4.
# (O0 leaves uvm.* to the others: the vmm core it runs is vmm.*'s, which
# O0 runs.)
UVM_130 = ["uvm.a_130_vcpu_guest_driven_from_user_space_starts_every_ap"]
UVM_SMP = ["uvm.a_64_bit_guest_starts_its_aps_by_init_sipi_and_counts_timer_interrupts",
           "uvm.init_sipi_rendezvous_spurious_exits_only_with_the_bug"]

# The 130-vCPU case's four-CPU run is vmm-smp4's rather than smp4's, the
# matrix's longest boot. (The cross-CPU ping-pong, which takes 15 s there
# beside the other boots, stays: on vmm-smp4, beside smp4's context-op
# stress, it took 35 s.)
SMP4_TO_VMM_SMP4 = UVM_130

# Boot modules for the rows that test them: (file in the build directory, name).
TEST_MODULES = [("user/bin/hello.elf", "modhello"), ("user_images.asm", "notelf")]

# The bug switch's reproduction of an unprotected ctxop attach (a second of
# preemption races): it depends on the ring code and the tick, not on the
# CPU model or the FPU policy, so it runs on max, O0 and smp4 only; and with
# it, on qemu64, the context-op stress's one-CPU run (its threads have no
# FPU: the CPU model changes nothing for it).
BUG_RACE_1S = ["ctxop.attach_unprotected_bug_detector_trips"]
CTXOP_STRESS = ["ctxop.stress_*"] + BUG_RACE_1S
# A second of run-time policy flips while another CPU switches FPU threads:
# the switch's two halves under a flip depend on neither the CPU model nor
# the allocation policy, so it runs on smp4 (flips from eager) and
# max-lazy-smp4 (from lazy) only.
POLICY_FLIPS_1S = ["fpu.policy_flips_keep_the_state_of_threads_on_other_cpus"]
# A panic case that first takes all of memory (0.4 s of zero-filled pages)
# to test a message: the same on any number of CPUs, so not on the -smp 4
# rows that boot the FPU's panic cases (it runs on qemu64 and max).
FPU_NO_MEMORY = ["fpu.first_use_without_memory_where_it_cannot_sleep_says_why"]

# What the shell's row types (one line at a time, each when the shell has
# answered the last: its prompt comes with no newline, so each is typed on
# the previous command's last line of output), and what the log must hold.
SHELL_TYPING = [
    (r"^shell: ready", "help\r"),
    (r"^keys: Backspace", "echo hello from the shell\r"),
    (r"^hello from the shell\s*$", "run hello one two\r"),
    (r"hello from process \d+: hello one two", "ps\r"),
    (r"^\s+\d+\s+\d+\s+shell\s", "nosuch\r"),
    (r"nosuch: no such program", "spin 60000\r"),
    (r"spin 60000\s*$", "\x03"),
    (r"\] killed", "ctxops shell\r"),
    (r"fpu_ctx_free", "monitor\r"),
    (r"^commands:", "demo chain\r"),
    (r"restore:guest-fpu restore:segbases restore:thread-fpu", "demo fpu\r"),
    # each demo's next command after its second round's verdict, whatever
    # it says (the checks below judge it): a student tree whose demo comes
    # out wrong must not stall the rest of the session
    (r"^\s+bug=fpu_nm_sleep_ts_clear: TS cleared", ""),
    (r"^\s+=> ", "demo rendezvous\r"),
    (r"^\s+bug=rendezvous_spurious: a vCPU joins any", ""),
    (r"^\s+=> ", "monitor bugs\r"),
    (r"^\d+ bug switches, \d+ on", "test list console.*\r"),
    (r"^\d+ user test cases? match", "test process.*\r"),
    (r"^test: \d+ passed, \d+ failed", "vmrun -c fpuhold 2\r"),
    (r"^vm\d+\.1: result 0x[0-9a-f]+, \d+ exits", "vmrun serial 2 1\r"),
    (r"^vm\d+\.1: result 0x[0-9a-f]+, \d+ exits", "vmrun mmio\r"),
    (r"^vm\d+\.0: result 0x[0-9a-f]+, \d+ exits", "trace demo chain\r"),
    (r"^trace-dump: end", "exit 7\r"),
]
SHELL_CHECKS = [
    ("shell_ready", r"^shell: ready", "the shell's first line"),
    ("shell_help", r"^shell commands:", "help lists the commands"),
    ("shell_echo", r"^hello from the shell\s*$", "echo prints its words"),
    ("shell_run", r"hello from process \d+: hello one two", "run starts a program with its words"),
    ("shell_ps", r"ports 0x3f8-0x3ff", "ps shows the console server holding COM1"),
    ("shell_unknown", r"nosuch: no such program", "an unknown program is named"),
    ("shell_ctrl_c", r"\[\d+\] killed", "Ctrl-C kills the program in front (typed as the "
     "command is echoed, before its spawn has returned)"),
    ("shell_monitor", r"^commands:", "monitor alone: the monitor's help"),
    ("shell_ctxops", r"save\s+segbase_save", "ctxops shows a user thread's chain: the segment bases over the FPU"),
    ("shell_demo_chain", r"save:guest-fpu save:segbases save:thread-fpu restore:thread-fpu "
     r"restore:segbases restore:guest-fpu", "demo chain: save newest first, restore oldest first"),
    ("shell_demo_chain_bug", r"restore:guest-fpu restore:segbases restore:thread-fpu",
     "demo chain: with the bug, restore newest first"),
    ("shell_trace_demo", r"(?s)\$ trace demo chain.*?^trace-dump: begin.*?^E .* "
     r"demo_guest_fpu_restore.*?^trace-dump: end", "trace demo chain: the demo, then a dump "
     "with its context ops"),
    ("shell_demo_fpu", r"(?s)the rule: #NM that may sleep keeps CR0.TS set.*?"
     r"=> no process saw another's registers", "demo fpu: with the rule, no leak"),
    ("shell_demo_fpu_bug", r"(?s)bug=fpu_nm_sleep_ts_clear: TS cleared.*?"
     r"newcomer +\d+ checks? found registers not its own, [1-7] of them another probe's.*?"
     r"=> one process's registers reached another", "demo fpu: with the bug, the newcomer "
     "sees the holder's registers"),
    ("shell_demo_rendezvous", r"(?s)the rule: a vCPU joins only.*?function ran on vCPUs 0-2: "
     r"1, 1, 1 times; on 3-5: 0, 0, 0.*?took\s+0 spurious exits",
     "demo rendezvous: once on each target, no spurious exits"),
    ("shell_demo_rendezvous_bug", r"(?s)bug=rendezvous_spurious:.*?function ran on vCPUs "
     r"0-2: 1, 1, 1 times; on 3-5: 0, 0, 0.*?took\s+[1-9]\d* spurious exits",
     "demo rendezvous: with the bug, the non-targets stop for it"),
    ("shell_vmrun_chain", r"(?s)\$ vmrun -c fpuhold 2\n.*?3 context ops, newest first.*?"
     r"save\s+vmm_savectx.*?save\s+segbase_save.*?save\s+fpu_ctx_save.*?"
     r"^vm\d+\.0: result 0xf00d0000.*?^vm\d+\.1: result 0xf00d0001",
     "vmrun -c: a vCPU thread's chain in a run, the guest's FPU op over the thread's two; "
     "each guest kept its XMM registers"),
    ("shell_vmrun_serial", r"(?s)\$ vmrun serial 2 1\n(?=.*?^\[vm\d+\.0\] hello from vCPU 0 "
     r"over COM1)(?=.*?^\[vm\d+\.1\] line 1$).*?^vm\d+\.1: result 0x5e100001",
     "vmrun: a guest on each vCPU talks to the UART the program emulates"),
    ("shell_vmrun_mmio", r"(?s)\$ vmrun mmio\n.*?^vm\d+\.0: result 0x4d100000, 24 exits",
     "vmrun: the mmio guest's loads and stores reach the device the program emulates"),
    ("shell_demos_restore_bugs", r"(?s)\$ monitor bugs\n(?:[^\n]*\n)*?\d+ bug switches, 0 on",
     "the demos leave every bug switch as they found it (off)"),
    ("shell_test_list", r"(?s)\$ test list console\.\*\n(  console\.\S+.*\n)+\d+ user test cases "
     r"match console\.\*", "test list names the user cases"),
    ("shell_test", r"(?s)\$ test process\.\*\nPASS process\.\S+ \(.*"
     r"^PASS process\.kill_tree_ends_the_process_and_every_descendant \(.*"
     r"^test: [1-9]\d* passed, 0 failed, 0 skipped", "test runs the user cases from the shell, "
     "each reported, none failed"),
]

CONFIGS: List[Config] = [
    # The oldest 64-bit CPU model QEMU has: no SSE3/SSSE3/SSE4, no XSAVE,
    # no AVX.  Catches code that assumes a recent CPU.
    # (The benchmarks run as tests on max and smp4 only: their figures come
    # from `make bench`; here they are only checked to work. The wall-clock
    # ones, bench.wall_*, run only under `make bench`, which has time for
    # them.)
    # The two memory-exhaustion cases (about 4 s together, the same code on
    # every CPU model and at every -O) are left to max, grub and smp4 here
    # and on O0.
    # Its EXPECT_PANIC boots are those of the suites whose paths differ on
    # this CPU (FXSAVE, no XSAVE; the trap reports); every other panic case
    # is a message, the same on every CPU, and gets its boot on max. The
    # 10-second context-op stress's one-CPU run is max's and O0's: the ring
    # code does not depend on the CPU model.
    Config("qemu64", ["-cpu", "qemu64"], panic_only=["fpu.*", "trap.*"], main_firmware="seabios",
           skip=["bench.*"] + MM_EXHAUSTION + CTXOP_STRESS),
    # Every feature QEMU's TCG can emulate (XSAVE, AVX, ...). bench.quick=1:
    # the benchmarks run a tenth of their iterations, enough to see them
    # work (make bench takes the figures at full length).
    # Two boot modules (QEMU's -initrd): a program under a name of its own,
    # and a file that is not ELF (program.boot_modules_are_named_and_run).
    Config("max", ["-cpu", "max"], cmdline="bench.quick=1", main_firmware="seabios",
           skip=["bench.wall_*"] + UVM_130, modules=TEST_MODULES),
    # The way a real machine boots: BIOS, GRUB, Multiboot 2.  One boot only
    # (the EXPECT_PANIC cases are left to the rows above).  The virtual
    # machines do not depend on the boot path: their suites run on max.
    # It runs the suites that depend on what the loader hands over (memory
    # map, command line, ACPI tables, console) and leaves the rest, which
    # do not depend on the boot path, to the rows that boot with -kernel.
    Config("grub", ["-cpu", "max"], boot="iso", panic_boots=False,
           checks=BOOT_CHECKS, modules=TEST_MODULES,
           skip=["vmm.*", "rendezvous.*", "bench.*", "sync.*", "ctxop.*", "fpu.*",
                 "sched.*", "ufpu.*", "uchain.*", "uvm.*"] + USER_BEHAVIOUR),
    # Four CPUs: the scheduler's balancing, IPIs, cross-CPU wakeups and the
    # 10-second context-op stress. The EXPECT_PANIC cases are left to the
    # one-CPU rows (they test messages, not concurrency).
    Config("smp4", ["-cpu", "max", "-smp", "4"], cmdline="bench.quick=1", panic_boots=False,
           skip=["bench.wall_*", "vmm.*", "rendezvous.*", "fuzz.*"] + ONE_CPU_BENCH +
           SMP4_TO_VMM_SMP4, lead=True),
    # The VM suites on four CPUs, in a boot of their own that starts beside
    # smp4's (lead: its 10-second random rendezvous then overlaps smp4's
    # 10-second context-op stress, instead of adding 10 s to the matrix),
    # with QEMU's default of one host thread per vCPU: there vm_run keeps
    # guests off CPU 0 (docs/vmm.md, "The QEMU erratum"). The 10-second
    # fuzzers (fuzz.*) run here too rather than on smp4, which has the
    # longer list, and inside the random rendezvous's 10 seconds
    # (tests/vmm/rendezvous_test.c): one window of four busy CPUs, not two.
    # The shell over the serial console (tests/shell/): the harness types a
    # session when the shell is ready and checks what each command printed.
    Config("shell", ["-cpu", "max"], cmdline="shell.typed=1", only="shell.*",
           panic_boots=False, typing=SHELL_TYPING, checks=SHELL_CHECKS),
    # The trace pictures (docs/trace.md): a few cases that make every kind
    # of event, with every category traced from the boot (so the kernel's
    # counters and the events start together), on two CPUs, FPU areas at
    # first use (a #NM each), and the rings dumped at the end; then
    # tracecheck.py converts and draws the dump as make trace would and
    # reports "(trace).*". The cases also run here with tracing on.
    Config("trace", ["-cpu", "max", "-smp", "2"],
           cmdline="trace=sched,fpu,ctxop,vmm,ipc trace.ring=32768 trace.dump=1 fpu.alloc=lazy",
           only=TRACE_CASES, panic_boots=False, post="trace"),
    # A run that fails on purpose, for the HTML report's test: the order
    # cases (of two ops or more: one op has no order) under
    # bug=ctxop_restore_order. Its failures are not counted;
    # run.py's check_report writes their report and reports whether it
    # names each of them ("(report).*").
    Config("report", ["-cpu", "max"], cmdline="bug=ctxop_restore_order",
           only="ctxop.order_2_ops,ctxop.order_5_ops,ctxop.order_64_ops,"
                "ctxop.missing_handlers_are_skipped", panic_boots=False,
           post="report"),
    Config("vmm-smp4", ["-cpu", "max", "-smp", "4"],
           only=",".join(["vmm.*", "rendezvous.*", "fuzz.*"] + SMP4_TO_VMM_SMP4),
           panic_boots=False, lead=True),
    # The same with guests on CPU 0 as well (vmm.cpu0=use), which is safe
    # only where QEMU runs every vCPU in one host thread: the erratum needs
    # two at once. The 10-second random run is left to vmm-smp4.
    Config("vmm-cpu0", ["-accel", "tcg,thread=single", "-cpu", "max", "-smp", "4"],
           cmdline="vmm.cpu0=use", only="vmm.*,rendezvous.*", panic_boots=False,
           skip=["rendezvous.random_*"]),
    # A kernel built without optimisation: what the compiler keeps in
    # registers changes, and the switch must not care (docs/sched.md).
    # One CPU, so it can run beside smp4: two multi-CPU boots at once starve
    # each other on a 2-core host (see run.py), and the switch's register
    # handling, which -O0 is here to exercise, is the same on one CPU. The
    # EXPECT_PANIC cases (about 37 boots of their own, some 4 s of the
    # matrix) test messages, which -O0 does not change: they run on qemu64
    # and max.
    Config("O0", ["-cpu", "max"], variant="O0", make_vars={"OPT": "-O0"},
           skip=["bench.*", "uvm.*"] + MM_EXHAUSTION + USER_BEHAVIOUR, panic_boots=False),

    # The FPU (docs/fpu.md): qemu64 saves with FXSAVE, max with XSAVEOPT
    # and has AVX; the rows above switch eagerly (smp4 on four CPUs), these
    # lazily, on one CPU and on four, and qemu64 eagerly on four. max-lazy
    # runs every suite whose threads switch FPU state (every test's thread
    # is an FPU thread); the others only the FPU's, and those marked
    # FPU_AND_USER_FPU the user FPU suite (ufpu) too.
    Config("qemu64-lazy", ["-cpu", "qemu64"], cmdline="fpu=lazy", only=FPU_AND_USER_FPU,
           skip=USER_FPU_XEN, panic_boots=False),
    Config("max-lazy", ["-cpu", "max"], cmdline="fpu=lazy", panic_boots=False,
           skip=["lib.*", "mm.*", "cmdline.*", "ktest.*", "monitor.*", "smp.*", "trap.*",
                 "bench.*"] + BUG_RACE_1S + UVM_130 + UVM_SMP),
    # (qemu64-smp4's panic cases are qemu64's, eager, which runs them on
    # one CPU: their messages do not depend on the count; the lazy rows
    # keep theirs, the only lazy panic boots)
    Config("qemu64-smp4", ["-cpu", "qemu64", "-smp", "4"], only="fpu.*",
           skip=POLICY_FLIPS_1S + FPU_NO_MEMORY, panic_boots=False),
    Config("qemu64-lazy-smp4", ["-cpu", "qemu64", "-smp", "4"], cmdline="fpu=lazy",
           only="fpu.*", skip=POLICY_FLIPS_1S + FPU_NO_MEMORY),
    Config("max-lazy-smp4", ["-cpu", "max", "-smp", "4"], cmdline="fpu=lazy",
           only=FPU_USER_FPU_UVM, skip=FPU_NO_MEMORY + USER_FPU_XEN),
    # Every fpu.save= value: taken where the CPU has it, refused (with the
    # boot line saying so, and auto used) where it does not.  fxsave on an
    # AVX CPU leaves AVX out of XCR0.  fpu.alloc=lazy: areas at first use.
    Config("max-xsave", ["-cpu", "max"], cmdline="fpu.save=xsave", only=FPU_AND_USER_FPU,
           skip=USER_FPU_XEN, panic_boots=False),
    Config("max-fxsave-lazy", ["-cpu", "max"], cmdline="fpu.save=fxsave fpu=lazy",
           only="fpu.*", panic_boots=False,
           checks=[("fxsave_no_avx", r"fpu: fxsave, XCR0 0x3 \(x87 SSE\)",
                    "fpu.save=fxsave taken, AVX left out of XCR0")]),
    Config("max-xsavec-refused", ["-cpu", "max"], cmdline="fpu.save=xsavec",
           only="fpu.*", panic_boots=False,
           checks=[("xsavec_refused",
                    r"fpu: fpu.save=xsavec refused: this CPU has no XSAVEC; using auto",
                    "the refusal of fpu.save=xsavec on a CPU without XSAVEC")]),
    Config("qemu64-xsaveopt-refused", ["-cpu", "qemu64"], cmdline="fpu.save=xsaveopt",
           only="fpu.*", panic_boots=False,
           checks=[("xsaveopt_refused",
                    r"fpu: fpu.save=xsaveopt refused: this CPU has no XSAVE; using auto",
                    "the refusal of fpu.save=xsaveopt on a CPU without XSAVE")]),
    # fpu.alloc=lazy with every policy, on one CPU and on four: with the
    # rows above, every policy meets every allocation mode on 1 and 4 CPUs.
    # (Eager with lazy allocation is where a switch once loaded a new
    # thread's control words over the previous owner's live state.)
    Config("max-alloc-lazy", ["-cpu", "max"], cmdline="fpu=lazy fpu.alloc=lazy",
           only=FPU_USER_FPU_UVM, skip=USER_FPU_XEN, panic_boots=False),
    Config("max-eager-alloc-lazy", ["-cpu", "max"], cmdline="fpu.alloc=lazy",
           only=FPU_USER_FPU_UVM, skip=USER_FPU_XEN, panic_boots=False),
    Config("max-alloc-lazy-smp4", ["-cpu", "max", "-smp", "4"],
           cmdline="fpu=lazy fpu.alloc=lazy", only="fpu.*", panic_boots=False,
           skip=POLICY_FLIPS_1S),
    Config("max-eager-alloc-lazy-smp4", ["-cpu", "max", "-smp", "4"],
           cmdline="fpu.alloc=lazy", only=FPU_USER_FPU_UVM,
           skip=POLICY_FLIPS_1S + USER_FPU_XEN, panic_boots=False),
]
