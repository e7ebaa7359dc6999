#!/usr/bin/env python3
"""tools/trace2json.py - the kernel's trace dump as a Chrome Trace Event file.

    python3 tools/trace2json.py SERIAL_LOG [-o build/trace.json]

Perfetto (ui.perfetto.dev: "Open trace file") and chrome://tracing open the
result. What it holds (docs/trace.md has the longer story):

  process "CPUs", a track per CPU:
    slices   the thread running there, from the switch to it to the switch
             away (TR_SWITCH); inside them a kernel FPU section
             (kfpu_begin .. kfpu_end) and each guest entry (vmm-entry .. the
             next vmm-exit), which no switch can split
    instants ctxop save and restore (with the handler's name), #NM, FPU
             saves and restores, TS set and cleared, FPU ownership, a
             rendezvous function run by a vCPU
    counters "CR0.TS cpu N" (1 set) and "FPU owner cpu N" (a thread id;
             -1 nobody's (a kernel section), -2 the init state, -3 a guest's)
  process "threads", a track per thread:
    slices   an IPC call (ipc-call .. ipc-call-end) and a rendezvous from
             the initiator's side (vmm-rendezvous .. vmm-rendezvous-end):
             these may span sleeps and CPUs, so they live on the thread

Every begin gets its end: a slice still open where the dump ends (or at the
switch that ends its thread's turn, for a CPU track's inner slices) is
closed there with "args": {"cut": true}; an end whose begin was lost (the
ring had overwritten it) is dropped. The file's "otherData" keeps, per CPU,
the kernel's counters, what was lost, and the count of each event type:
tests/harness/tracecheck.py compares them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracedump  # noqa: E402
from tracedump import OWNER_INIT, OWNER_LAYERED, OWNER_NONE  # noqa: E402

PID_CPUS, PID_THREADS = 1, 2


def tid_of(a: int) -> int:
    """A thread id from an event's hex word: TRACE_NO_THREAD (all ones) is
    tracedump.NO_THREAD."""
    return tracedump.NO_THREAD if a == OWNER_NONE else a


def owner_value(tag: int) -> int:
    return {OWNER_NONE: -1, OWNER_INIT: -2, OWNER_LAYERED: -3}.get(tag, tag)


def owner_name(d: tracedump.Dump, tag: int) -> str:
    return {OWNER_NONE: "nobody (kernel section)", OWNER_INIT: "the init state",
            OWNER_LAYERED: "a guest"}.get(tag) or d.name(tag)


def vm_name(a: int) -> str:
    return f"vm{a >> 16}.{a & 0xFFFF}"


class Track:
    """B/E slices on one (pid, tid) with a stack, so that they nest."""

    def __init__(self, out: List[dict], pid: int, tid: int):
        self.out, self.pid, self.tid = out, pid, tid
        self.open: List[Tuple[str, str]] = []     # (name, kind)

    def begin(self, ts: float, name: str, kind: str, cat: str, args=None):
        self.out.append({"ph": "B", "pid": self.pid, "tid": self.tid, "ts": ts, "name": name,
                         "cat": cat, "args": args or {}})
        self.open.append((name, kind))

    def end(self, ts: float, kind: str, args=None) -> bool:
        """Ends the innermost slice of this kind (closing, cut, any opened
        inside it); False if none is open."""
        kinds = [k for _, k in self.open]
        if kind not in kinds:
            return False
        while self.open:
            name, k = self.open.pop()
            e = {"ph": "E", "pid": self.pid, "tid": self.tid, "ts": ts}
            if k == kind:
                if args:
                    e["args"] = args
                self.out.append(e)
                return True
            e["args"] = {"cut": True}
            self.out.append(e)
        return False

    def close_all(self, ts: float):
        while self.open:
            self.open.pop()
            self.out.append({"ph": "E", "pid": self.pid, "tid": self.tid, "ts": ts,
                             "args": {"cut": True}})


def convert(d: tracedump.Dump) -> dict:
    out: List[dict] = []
    meta: List[dict] = [
        {"ph": "M", "pid": PID_CPUS, "name": "process_name", "args": {"name": "CPUs"}},
        {"ph": "M", "pid": PID_THREADS, "name": "process_name", "args": {"name": "threads"}},
        {"ph": "M", "pid": PID_CPUS, "name": "process_sort_index", "args": {"sort_index": 0}},
        {"ph": "M", "pid": PID_THREADS, "name": "process_sort_index",
         "args": {"sort_index": 1}},
    ]
    per_cpu = []
    for c in d.cpus:
        meta.append({"ph": "M", "pid": PID_CPUS, "tid": c.cpu, "name": "thread_name",
                     "args": {"name": f"CPU {c.cpu}"}})
        meta.append({"ph": "M", "pid": PID_CPUS, "tid": c.cpu, "name": "thread_sort_index",
                     "args": {"sort_index": c.cpu}})
        tr = Track(out, PID_CPUS, c.cpu)
        counts = Counter(e.type for e in c.events)
        if c.events:
            first = c.events[0]
            tr.begin(first.ns / 1000, d.name(first.tid), "thread", "sched",
                     {"thread": first.tid, "from": "the start of the dump"})
        for e in c.events:
            ts = e.ns / 1000
            inst = None
            if e.type == "switch":
                tr.end(ts, "thread")
                tr.close_all(ts)
                tr.begin(ts, d.name(e.b), "thread", "sched",
                         {"thread": e.b, "switches on this CPU": e.c})
            elif e.type == "kfpu-begin":
                tr.begin(ts, "kernel FPU section", "kfpu", "fpu")
            elif e.type == "kfpu-end":
                tr.end(ts, "kfpu")
            elif e.type == "vmm-entry":
                tr.begin(ts, f"guest {vm_name(e.a)}", "guest", "vmm", {"vcpu": vm_name(e.a)})
            elif e.type == "vmm-exit":
                reason = e.b >> 56
                tr.end(ts, "guest", {"exit": d.exit_reasons.get(reason, reason),
                                     "rip": hex(e.b & ((1 << 56) - 1))})
            elif e.type in ("ctxop-save", "ctxop-restore"):
                what = "save" if e.type == "ctxop-save" else "restore"
                inst = (f"{what} {e.sym or hex(e.c)}", "ctxop",
                        {"op": hex(e.a), "thread": d.name(e.b), "handler": e.sym})
            elif e.type == "fpu-#NM":
                inst = ("#NM", "fpu", {"thread": d.name(tid_of(e.a)), "#NM on this CPU": e.b})
            elif e.type in ("fpu-save", "fpu-restore"):
                what = "save" if e.type == "fpu-save" else "restore"
                inst = (f"FPU {what} ({owner_name(d, e.c)})", "fpu",
                        {"thread": tid_of(e.a), f"{what}s on this CPU": e.b})
                if e.type == "fpu-restore":
                    out.append({"ph": "C", "pid": PID_CPUS, "ts": ts,
                                "name": f"FPU owner cpu {c.cpu}",
                                "args": {"value": owner_value(e.c)}})
            elif e.type == "fpu-owner":
                inst = (f"FPU owner: {owner_name(d, e.a)}", "fpu", {})
                out.append({"ph": "C", "pid": PID_CPUS, "ts": ts,
                            "name": f"FPU owner cpu {c.cpu}",
                            "args": {"value": owner_value(e.a)}})
            elif e.type == "fpu-ts":
                inst = ("TS set" if e.a else "TS clear", "fpu", {})
                out.append({"ph": "C", "pid": PID_CPUS, "ts": ts, "name": f"CR0.TS cpu {c.cpu}",
                            "args": {"value": 1 if e.a else 0}})
            elif e.type == "vmm-rv-func":
                inst = (f"rendezvous function on {vm_name(e.a)}", "vmm", {})
            elif e.type == "user":
                inst = ("user event", "user", {"a": e.a, "b": e.b})
            if inst:
                out.append({"ph": "i", "s": "t", "pid": PID_CPUS, "tid": c.cpu, "ts": ts,
                            "name": inst[0], "cat": inst[1], "args": inst[2]})
        if c.events:
            tr.close_all(c.events[-1].ns / 1000)
        per_cpu.append({"cpu": c.cpu, "logged": c.logged, "kept": c.kept, "lost": c.lost,
                        "kernel": c.counters, "events": dict(counts)})

    # the threads' tracks: slices that may span sleeps and CPUs
    tracks: Dict[int, Track] = {}
    last = max((e.ns for c in d.cpus for e in c.events), default=0) / 1000
    for e in d.events():
        if e.type not in ("ipc-call", "ipc-call-end", "vmm-rendezvous", "vmm-rendezvous-end"):
            continue
        if e.tid not in tracks:
            tracks[e.tid] = Track(out, PID_THREADS, e.tid)
            meta.append({"ph": "M", "pid": PID_THREADS, "tid": e.tid, "name": "thread_name",
                         "args": {"name": f"{d.name(e.tid)} ({e.tid})"}})
        tr, ts = tracks[e.tid], e.ns / 1000
        if e.type == "ipc-call":
            tr.begin(ts, f"IPC call (handle {e.a & 0xFFFFFFFF}, label {e.b})", "call", "ipc",
                     {"cpu": e.cpu})
        elif e.type == "ipc-call-end":
            result = e.a - (1 << 64) if e.a >> 63 else e.a
            tr.end(ts, "call", {"result": result, "cpu": e.cpu})
        elif e.type == "vmm-rendezvous":
            who = "a host thread" if e.a & 0xFFFF == 0xFFFF else vm_name(e.a)
            tr.begin(ts, f"rendezvous of {e.b} vCPUs", "rv", "vmm",
                     {"initiator": who, "targets": e.b})
        else:
            tr.end(ts, "rv")
    for tr in tracks.values():
        tr.close_all(last)
    return {"traceEvents": meta + out, "displayTimeUnit": "ns",
            "otherData": {"source": "ctxkern trace_dump_all (tools/trace2json.py)",
                          "cpus": per_cpu, "threads": {str(k): v for k, v in d.threads.items()},
                          "mask": d.mask, "ring": d.ring}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", help="a serial log with a trace dump (make trace writes one)")
    p.add_argument("-o", "--output", default="build/trace.json")
    a = p.parse_args()
    try:
        d = tracedump.parse_file(a.log)
    except (OSError, tracedump.DumpError) as e:
        print(f"trace2json: {a.log}: {e}", file=sys.stderr)
        return 1
    j = convert(d)
    with open(a.output, "w") as f:
        json.dump(j, f)
    n = sum(len(c.events) for c in d.cpus)
    lost = sum(c.lost for c in d.cpus)
    print(f"trace2json: {n} events of {len(d.cpus)} CPU(s) -> {a.output} "
          f"({len(j['traceEvents'])} trace events)"
          + (f"; {lost} lost: the rings were full (trace.ring= keeps more)" if lost else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
