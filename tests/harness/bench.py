#!/usr/bin/env python3
"""bench.py - the host side of `make bench`: boot the benchmarks, collect figures.

    python3 tests/harness/bench.py --build build [--filter GLOB]

THE BENCH LINE PROTOCOL (what the kernel prints)

A benchmark reports each figure as one line on the serial console:

    # BENCH name=<name> unit=<unit> value=<float>

  * The line may be indented and may come through KT_LOG, so
    `KT_LOG("BENCH name=sched.yield unit=insn value=%lu", n)` is the usual way
    (it prints "    # BENCH name=... unit=... value=...").  What counts is
    "#", optional spaces, "BENCH", then space-separated key=value pairs.
  * name:  what was measured, dotted like a test: "sched.yield",
           "fpu.switch_xsave".  No spaces.  Unique over all benchmarks.
  * unit:  "insn" (guest instructions), "ns", "cycles", "bytes", ... no spaces.
  * value: a number Python's float() accepts ("123", "123.5", "1e6").
           Per operation, not a total: divide by the iteration count.
  * Other key=value pairs (e.g. iters=10000) are allowed and ignored.
  * A benchmark may print several BENCH lines (one per figure).

Why instructions?  The boot runs under `-icount shift=0,sleep=off`: QEMU
counts guest instructions and makes virtual time advance exactly one
nanosecond per instruction, as fast as the host can go.  So a benchmark
that reads clock_ns() (or the TSC) before and after N operations measures
*instructions*, and the figure is the same on every host and every run:
reproducible to the last digit, which wall-clock timing under emulation
never is.  It does not show cache misses or pipeline effects: that is the
price.

WALL-CLOCK BENCHMARKS

icount makes every instruction cost the same, so it cannot price an
instruction that does much work (an xsave counts as one).  A case whose
name starts with "wall_" (KTEST(bench, wall_fpu)) is therefore booted
WITHOUT -icount: clock_ns() is then wall time, and its BENCH lines should
use unit=ns and say clock=wall.  Such figures are QEMU's TCG on the host
that ran it, and they vary from run to run and with the host's load: use
them to compare one mechanism with another measured in the same boot, not
as hardware timings (take the best of several runs inside the case).  The
table marks them "(wall)".

WHERE BENCHMARKS LIVE

  1. Today: test cases of a suite named `bench` (tests/bench/*.c,
     KTEST(bench, yield) {...}) that print BENCH lines and pass.  bench.py
     lists them from .ktest_index (like run.py) and boots each in its own
     QEMU with ktest=bench.<name>, in parallel: a benchmark's figure must not
     depend on which ones ran before it in the same boot.  The case must pass
     (a failing or crashing benchmark is an error, its figures are dropped).
     A benchmark boots with one CPU; one that needs more is declared with
     KTEST_CPUS(bench, name, n) (or KTEST_CPUS_TIMEOUT), which puts n in its
     .ktest_index line, and boots with -smp n.
  2. If the kernel ever declares a command-line key `bench` (bench.py finds
     the keys in the ELF's .cmdline_opts table), it boots once with
     bench=GLOB instead and leaves the choice to the kernel, which must print
     BENCH lines and end through isa-debug-exit with "pass" (0x10).

OUTPUT

A table of the figures, then, as the LAST line of stdout, one JSON object:

    {"benchmarks": [{"name": "sched.yield", "unit": "insn", "value": 123.0}, ...]}

With no benchmark at all it says so and prints {"benchmarks": []}, exit
status 0.  Exit status 1 if a benchmark boot failed (the JSON line still
comes last, with the figures that were obtained).  Serial logs are in
build/harness/bench/.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import sys
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import configs                       # noqa: E402
import elfindex                      # noqa: E402
import ktap                          # noqa: E402
import qemu                          # noqa: E402

BENCH_SUITE = "bench"
BENCH_RE = re.compile(r"#\s*BENCH\s+(?P<pairs>.*)$")
ICOUNT = ["-icount", "shift=0,sleep=off"]
CPU = ["-cpu", "max"]
# Under -icount QEMU runs every vCPU in one host thread, where the QEMU
# erratum that makes the kernel keep guests off CPU 0 cannot happen
# (docs/vmm.md, "The QEMU erratum"): the instruction counts are taken with
# guests on every CPU, as on hardware. Added when the kernel has the key.
ICOUNT_CMDLINE = {"vmm.cpu0": "vmm.cpu0=use"}
# A benchmark boots with the CPUs its case needs (Case.min_cpus, from
# KTEST_CPUS), one for most. No more than it needs because, under -icount,
# every vCPU's instructions advance the one virtual clock: an idle CPU's
# polling would count in another CPU's figure.

def parse_bench_line(line: str) -> Optional[Tuple[Optional[dict], str]]:
    """None if the line is not a BENCH line; else (figure or None, error)."""
    m = BENCH_RE.search(ktap.clean_line(line))
    if not m:
        return None
    kv: Dict[str, str] = {}
    for word in m.group("pairs").split():
        k, eq, v = word.partition("=")
        if eq:
            kv[k] = v
    missing = [k for k in ("name", "unit", "value") if not kv.get(k)]
    if missing:
        return None, f"BENCH line without {', '.join(missing)}: {line.strip()}"
    try:
        value = float(kv["value"])
    except ValueError:
        return None, f"BENCH line with a value that is not a number: {line.strip()}"
    return {"name": kv["name"], "unit": kv["unit"], "value": value}, ""


WALL_PREFIX = "wall_"       # bench.wall_*: booted without -icount (see above)


def is_wall(case_name: str) -> bool:
    return case_name.startswith(WALL_PREFIX)


class BenchBoot:
    def __init__(self, label: str, cmdline: str, log_path: str, smp: int = 1,
                 icount: bool = True):
        self.label = label
        self.cmdline = cmdline
        self.log_path = log_path
        self.smp = smp
        self.icount = icount
        self.figures: List[dict] = []
        self.errors: List[str] = []
        self.parser = ktap.KtapParser()

    def on_line(self, line: str, now: float) -> None:
        r = self.parser.feed(line, now)
        if r is not None and r.status == "fail":
            self.errors.append(f"{r.full} failed: " + "; ".join(r.diagnostics[:3]))
        got = parse_bench_line(line)
        if got:
            fig, err = got
            if fig:
                self.figures.append(fig)
            else:
                self.errors.append(err)


def run_one(b: BenchBoot, qemu_bin: str, kernel32: str, timeout: float) -> BenchBoot:
    cmd = [qemu_bin] + configs.QEMU_COMMON + ["-serial", "stdio"] + CPU + \
        (ICOUNT if b.icount else []) + \
        ["-smp", str(b.smp), "-kernel", kernel32, "-append", b.cmdline]
    run = qemu.run_boot(cmd, b.log_path, timeout, b.on_line)
    if run.exit_code != qemu.EXIT_PASS or run.timed_out or run.error:
        b.errors.append(f"boot ended: {run.ending()} (log: {b.log_path})")
    return b


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description="Run the benchmarks under -icount; "
                                "the last line of stdout is the JSON of the figures.")
    p.add_argument("--build", default="build")
    p.add_argument("--filter", default="*", metavar="GLOB",
                   help="benchmark cases (suite.name, e.g. 'bench.yield*') to run")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)

    def finish(figs: List[dict], status: int) -> int:
        print(json.dumps({"benchmarks": figs}))
        sys.stdout.flush()
        return status

    kernel = os.path.join(args.build, "kernel.elf")
    kernel32 = os.path.join(args.build, "kernel32.elf")
    for f in (kernel, kernel32):
        if not os.path.exists(f):
            print(f"bench.py: {f} does not exist: run `make` first", file=sys.stderr)
            return finish([], 1)
    qemu_bin = qemu.find_qemu()
    if not qemu_bin:
        print("bench.py: qemu-system-x86_64 is not installed: run tools/install-deps.sh",
              file=sys.stderr)
        return finish([], 1)

    logdir = os.path.join(args.build, "harness", "bench")
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir, exist_ok=True)

    keys = elfindex.cmdline_keys(kernel) or []
    icount_extra = "".join(" " + v for k, v in ICOUNT_CMDLINE.items() if k in keys)
    if "bench" in keys:
        boots = [BenchBoot(f"bench={args.filter}", f"bench={args.filter}" + icount_extra,
                           os.path.join(logdir, "bench.log"))]
    else:
        cases = [c for c in elfindex.read_cases(kernel)
                 if c.suite == BENCH_SUITE and not c.expects_panic
                 and fnmatch.fnmatchcase(c.full, args.filter)]
        if not cases:
            print(f"bench.py: no benchmark in {kernel}: no case of a suite named "
                  f"'{BENCH_SUITE}' matches '{args.filter}', and the kernel has no "
                  "bench= key (see the top of tests/harness/bench.py)")
            return finish([], 0)
        boots = [BenchBoot(c.full, f"ktest={c.full}" + ("" if is_wall(c.name) else icount_extra),
                           os.path.join(logdir, c.full + ".log"), smp=c.min_cpus,
                           icount=not is_wall(c.name))
                 for c in cases]

    nwall = sum(not b.icount for b in boots)
    nsmp = sum(b.smp > 1 for b in boots)
    print(f"bench.py: {len(boots) - nwall} boot(s) under {' '.join(ICOUNT)}"
          + (f", {nwall} without it (wall clock)" if nwall else "")
          + (f"; {nsmp} with more than one CPU: " +
             ", ".join(f"{b.label} (-smp {b.smp})" for b in boots if b.smp > 1) if nsmp else "")
          + f"; {args.jobs} at a time")
    sys.stdout.flush()
    try:
        icount_boots = [b for b in boots if b.icount]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            done = list(pool.map(lambda b: run_one(b, qemu_bin, kernel32, args.timeout),
                                 icount_boots))
        # Wall-clock boots one at a time, after the others: a second QEMU
        # on the host would be in their figures.
        done += [run_one(b, qemu_bin, kernel32, args.timeout) for b in boots if not b.icount]
    except KeyboardInterrupt:
        qemu.kill_all()
        print("\nbench.py: interrupted", file=sys.stderr)
        return finish([], 130)

    figures: List[dict] = []
    sources: List[str] = []
    errors: List[str] = []
    seen: Dict[str, str] = {}
    wall = set()                # names measured without -icount (not in the JSON)
    for b in done:
        errors += [f"{b.label}: {e}" for e in b.errors]
        if b.errors:
            continue           # figures of a failed benchmark are not trusted
        for f in b.figures:
            if not b.icount:
                wall.add(f["name"])
            if f["name"] in seen:
                errors.append(f"{b.label}: benchmark name {f['name']} also reported by "
                              f"{seen[f['name']]}; keeping the first")
                continue
            seen[f["name"]] = b.label
            figures.append(f)
            sources.append(b.label)

    if figures:
        def num(v: float) -> str:
            return f"{v:.3f}".rstrip("0").rstrip(".")
        nw = max(len("benchmark"), *(len(f["name"]) for f in figures))
        vw = max(len("value"), *(len(num(f["value"])) for f in figures))
        uw = max(len("unit"), *(len(f["unit"]) for f in figures))
        print(f"{'benchmark'.ljust(nw)}  {'value'.rjust(vw)}  {'unit'.ljust(uw)}  case")
        print("-" * (nw + vw + uw + 12))
        for f, src in zip(figures, sources):
            print(f"{f['name'].ljust(nw)}  {num(f['value']).rjust(vw)}  {f['unit'].ljust(uw)}  {src}"
                  + ("  (wall)" if f["name"] in wall else ""))
    else:
        print("bench.py: the benchmark boots printed no '# BENCH name=... unit=... "
              "value=...' line")
    for e in errors:
        print(f"bench.py: error: {e}")
    return finish(figures, 1 if errors else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
