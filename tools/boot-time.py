#!/usr/bin/env python3
"""tools/boot-time.py - how long from starting QEMU to the kernel's first KTAP line.

    python3 tools/boot-time.py [--cpu max] [--boots 10] [build/kernel32.elf]

Boots the kernel with -kernel (Multiboot 1, as the test harness does) and
ktest=lib.string_search, and times, on the host's monotonic clock, the
moment QEMU is started until the line "KTAP version 1" arrives on the
serial console. That includes QEMU's own start-up. Prints the median,
minimum and maximum over the boots. A benchmark, not a test: the figure
depends on the host.
"""
import argparse
import statistics
import subprocess
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kernel", nargs="?", default="build/kernel32.elf")
    p.add_argument("--cpu", default="max")
    p.add_argument("--boots", type=int, default=10)
    args = p.parse_args()
    times = []
    for _ in range(args.boots):
        t0 = time.monotonic()
        q = subprocess.Popen(
            ["qemu-system-x86_64", "-m", "256M", "-no-reboot", "-display", "none",
             "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01",
             "-cpu", args.cpu, "-kernel", args.kernel, "-append", "ktest=lib.string_search"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in q.stdout:
            if line.startswith(b"KTAP version 1"):
                times.append((time.monotonic() - t0) * 1000)
                break
        q.wait()
    if not times:
        sys.exit("boot-time: the kernel never printed 'KTAP version 1'")
    print("boot to first KTAP line, -cpu %s: median %.0f ms, min %.0f, max %.0f (%d boots)"
          % (args.cpu, statistics.median(times), min(times), max(times), len(times)))


main()
