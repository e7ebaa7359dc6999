#!/usr/bin/env python3
"""tools/maketrace.py - make trace: boot, record, dump, draw.

    make trace CMDLINE='trace=fpu,sched trace.run=fpudemo' [SMP=2] [WINDOW=FROM:TO]

Boots build/kernel32.elf under QEMU (-cpu max) with the command line given
plus what a trace needs, saves the serial log as build/trace.log, and turns
the dump the kernel prints at the end into build/trace.json (Chrome Trace
Event format: Perfetto opens it) and build/trace.svg (a timeline, drawn by
tracesvg.py). What the kernel is to do while it records is up to the
command line:

  trace.run=COMMAND   a monitor command (chaindemo, fpudemo, rvdemo, ...;
                      `help` in the monitor lists them), then the dump;
                      commas stand for spaces (trace.run=rvall,16), since
                      the command line splits at spaces
  ktest=GLOB          kernel and user test cases, then the dump

Added unless the command line says otherwise: trace=sched,fpu,ctxop,vmm,ipc
(every category), trace.ring=65536 (events kept per CPU), init=none (no
shell: the boot goes straight to the work), trace.dump=1, and
trace.run=chaindemo if neither trace.run= nor ktest= is given.
docs/trace.md explains the events and shows figures made this way.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import trace2json  # noqa: E402
import tracedump  # noqa: E402
import tracesvg  # noqa: E402

QEMU_COMMON = ["-m", "256M", "-no-reboot", "-display", "none",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"]


def words_for(cmdline: str) -> list:
    words = shlex.split(cmdline)
    keys = {w.split("=", 1)[0] for w in words}
    if "trace" not in keys:
        words.append("trace=sched,fpu,ctxop,vmm,ipc")
    if "trace.ring" not in keys:
        words.append("trace.ring=65536")
    if "init" not in keys:
        words.append("init=none")
    if "trace.run" not in keys and "ktest" not in keys:
        words.append("trace.run=chaindemo")
    if "trace.dump" not in keys:
        words.append("trace.dump=1")
    return words


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build")
    p.add_argument("--cmdline", default="")
    p.add_argument("--smp", type=int, default=2)
    p.add_argument("--window", default=":")
    p.add_argument("--title", default="")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--svg", help="where the timeline goes (default BUILD/trace.svg)")
    p.add_argument("--log", help="no boot: draw the last dump in this serial log (make run "
                   "logs to build/run.log; the shell's `trace demo NAME` dumps there)")
    p.add_argument("--figures", action="store_true",
                   help="make the figures of docs/trace.md (docs/figures/*.svg) instead")
    a = p.parse_args()
    if a.figures:
        return figures(a)
    svg = a.svg or os.path.join(a.build, "trace.svg")
    if a.log:
        try:
            with open(a.log, errors="replace") as f:
                return pictures(a, f.read(), a.window, a.title or f"from {a.log}", svg, "")
        except OSError as e:
            print(f"maketrace: {e}", file=sys.stderr)
            return 1
    return one(a, a.cmdline, a.window, a.title, svg)


# The figures of docs/ (make figures): (file, command line, CPUs, window,
# title, what the run's log must say: the demo came out as the figure's
# text says, else the figure is not written).
FIGURES = [
    ("xen-rule.svg", "trace.run=fpudemo,rule", 1, "marks=1-2",
     "fpudemo rule: #NM that sleeps keeps CR0.TS set",
     r"=> no process saw another's registers"),
    ("xen-bug.svg", "trace.run=fpudemo,bug", 1, "marks=11-12",
     "fpudemo bug: bug=fpu_nm_sleep_ts_clear, TS clear in the sleep",
     r"=> one process's registers reached another: the leak"),
    ("ctxop-rule.svg", "trace.run=chaindemo", 1, "marks=1-2",
     "chaindemo, the rule: save newest first, restore oldest first",
     r"restore:thread-fpu restore:segbases restore:guest-fpu"),
    ("ctxop-bug.svg", "trace.run=chaindemo", 1, "marks=3-4",
     "chaindemo, bug=ctxop_restore_order: restore newest first",
     r"restore:guest-fpu restore:segbases restore:thread-fpu"),
    ("rendezvous-16.svg", "trace.run=rvall,16", 4, "marks",
     "two rendezvous over 16 vCPUs (guests on CPUs 1-3)",
     r"rvall: 16 vCPUs, two rendezvous over all of them: 2 completed"),
    ("ipc-call.svg", "ktest=ipc.call_gets_the_reply_and_reply_recv_serves_the_next", 1,
     "events=ipc-call", "IPC calls between two processes",
     r"ok \d+ call_gets_the_reply_and_reply_recv_serves_the_next"),
]


def figures(a) -> int:
    out = os.path.join(os.path.dirname(HERE), "docs", "figures")
    os.makedirs(out, exist_ok=True)
    bad = 0
    for name, cmdline, smp, window, title, expect in FIGURES:
        a.smp = smp
        for attempt in range(3):            # a loaded host can spoil a demo's timeline
            r = one(a, cmdline, window, title, os.path.join(out, name), expect)
            if r != 2:
                break
        bad += r != 0
    return 1 if bad else 0


def one(a, cmdline: str, window: str, title: str, svg_path: str, expect: str = "") -> int:
    """Boots, draws; 1 if that failed, 2 if the log does not say expect."""
    words = words_for(cmdline)
    cmd = [os.environ.get("QEMU", "qemu-system-x86_64")] + QEMU_COMMON + [
        "-cpu", "max", "-smp", str(a.smp), "-serial", "stdio",
        "-kernel", os.path.join(a.build, "kernel32.elf"), "-append", " ".join(words)]
    log = os.path.join(a.build, "trace.log")
    print(f"maketrace: booting with: {' '.join(words)}", flush=True)
    start = time.monotonic()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=a.timeout, stdin=subprocess.DEVNULL)
        out, how = r.stdout, f"QEMU exit {r.returncode}"
    except subprocess.TimeoutExpired as e:
        out, how = e.stdout or b"", f"timed out after {a.timeout:.0f} s"
    except OSError as e:
        print(f"maketrace: could not start QEMU: {e}", file=sys.stderr)
        return 1
    with open(log, "wb") as f:
        f.write(out)
    text = out.decode(errors="replace")
    if expect and (not re.search(expect, text, re.M) or "too slow" in text
                   or "did not run as planned" in text):
        print(f"maketrace: the run did not come out as {os.path.basename(svg_path)} shows "
              f"(its log has no /{expect}/): not written", file=sys.stderr)
        return 2
    title = title or " ".join(w for w in words if not w.startswith(("trace.dump", "init=")))
    r = pictures(a, text, window, title, svg_path, f" ({how})")
    if r == 0:
        print(f"maketrace: {log}: the boot took {time.monotonic() - start:.1f} s")
    return r


def pictures(a, text: str, window: str, title: str, svg_path: str, how: str) -> int:
    """trace.json and the SVG of the last dump in text."""
    try:
        d = tracedump.parse(text)
    except tracedump.DumpError as e:
        tail = "\n".join("    " + x for x in text.splitlines()[-15:])
        print(f"maketrace: {e}{how}; the log ends:\n{tail}", file=sys.stderr)
        return 1
    import json
    j = trace2json.convert(d)
    with open(os.path.join(a.build, "trace.json"), "w") as f:
        json.dump(j, f)
    try:
        svg = tracesvg.draw(d, title, tracesvg.parse_window(window))
    except (ValueError, tracedump.DumpError) as e:
        print(f"maketrace: {e}", file=sys.stderr)
        return 1
    with open(svg_path, "w") as f:
        f.write(svg)
    n = sum(len(c.events) for c in d.cpus)
    lost = sum(c.lost for c in d.cpus)
    print(f"maketrace: {n} events on {len(d.cpus)} CPU(s)"
          + (f", {lost} lost (the rings were full: trace.ring= keeps more)" if lost else ""))
    print(f"maketrace: {os.path.join(a.build, 'trace.json')} (open it in "
          f"https://ui.perfetto.dev), {svg_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
