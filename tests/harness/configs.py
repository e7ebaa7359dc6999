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
  variant       None: boot the kernel of --build.  Otherwise the name of a
                separate build, made by the harness with
                `make BUILD=<build>/<variant> <--make-args> <make_vars>`
  make_vars     the make variables of that build, e.g. {"OPT": "-O0"}
  checks        lines the main boot's log must contain, as
                (check name, regular expression, what it means); each is
                reported as a test "(boot).<check name>" of this row

To add a configuration, add a line to CONFIGS, for example:

    Config("lazyfpu", ["-cpu", "max"], cmdline="fpu=lazy"),
"""
from __future__ import annotations

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


# Common to every boot.  The isa-debug-exit device turns the kernel's
# "outb 0xf4" into QEMU's exit status: (value << 1) | 1, so 0x10 -> 33 (all
# passed) and 0x11 -> 35 (a failure).  -no-reboot makes a triple fault end
# QEMU (status 0) instead of rebooting into the same test forever.
QEMU_COMMON = ["-m", "256M", "-no-reboot", "-display", "none",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]

# The lines a full boot through GRUB must print before the tests.
BOOT_CHECKS = [
    ("banner", r"\bctxkern\b", "the kernel's banner 'ctxkern ...'"),
    ("mem_summary", r"^\s*mem:", "the memory map summary line 'mem: ...'"),
]

CONFIGS: List[Config] = [
    # The oldest 64-bit CPU model QEMU has: no SSE3/SSSE3/SSE4, no XSAVE,
    # no AVX.  Catches code that assumes a recent CPU.
    Config("qemu64", ["-cpu", "qemu64"]),
    # Every feature QEMU's TCG can emulate (XSAVE, AVX, ...).
    Config("max", ["-cpu", "max"]),
    # The way a real machine boots: BIOS, GRUB, Multiboot 2.  One boot only
    # (the EXPECT_PANIC cases are left to the rows above).
    Config("grub", ["-cpu", "max"], boot="iso", panic_boots=False,
           checks=BOOT_CHECKS),
    # Four CPUs: the scheduler's balancing, IPIs, cross-CPU wakeups and the
    # 10-second context-op stress. The EXPECT_PANIC cases are left to the
    # one-CPU rows (they test messages, not concurrency).
    Config("smp4", ["-cpu", "max", "-smp", "4"], panic_boots=False),
    # A kernel built without optimisation: what the compiler keeps in
    # registers changes, and the switch must not care (docs/sched.md).
    Config("O0", ["-cpu", "max", "-smp", "2"], variant="O0", make_vars={"OPT": "-O0"}),
]
