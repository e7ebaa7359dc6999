#!/usr/bin/env python3
"""tools/tracedump.py - reads the kernel's trace dump out of a serial log.

The kernel prints its rings with trace_dump_all (kernel/trace.c; at the end
of a `make trace` boot, or the monitor's `trace dump`) as lines

    trace-dump: begin cpus=N mask=0xM ring=R
    trace-types: 1=ctxop-save 2=ctxop-restore ...   the event types' numbers
    trace-vmm-exits: 0=intr 1=hlt ...          a guest exit's reasons
    trace-thread: ID NAME                      one per thread it knows
    trace-cpu: CPU logged=L                    then each of its events, oldest
    E [@SEQ] DNS TYPE TID A B C [SYMBOL]       first, and
    trace-cpu-end: CPU kept=K
    trace-dump: end

The CPU's own counters come as its last events (counters, counters2:
each CPU logs them itself when the dump begins): Cpu.counters.

An event line is short because the serial port is slow: DNS is the time
in ns since the CPU's previous event (the first: since the boot), TYPE a
number of trace-types, @SEQ the event's sequence number where it is not
the previous one's plus one (none: the first is 1), TID "-" where no
thread had started yet, A B C hex.

anywhere in the log (other lines are ignored). parse() gives a Dump; the
converter (trace2json.py), the timeline (tracesvg.py) and their tests
(tests/harness/tracecheck.py) all start from it. docs/trace.md says what
each event type means.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

# The kernel's FPU owner tags (include/fpu.h) as the dump prints them.
OWNER_NONE = 0xFFFFFFFFFFFFFFFF      # a kernel FPU section's: nobody's
OWNER_INIT = OWNER_NONE - 1          # the init state
OWNER_LAYERED = OWNER_NONE - 2       # a layered context: a guest's
NO_THREAD = -1                       # the tid of an event before the CPU's first thread


@dataclass
class Event:
    cpu: int
    seq: int
    ns: int
    type: str
    tid: int
    a: int
    b: int
    c: int
    sym: str = ""


@dataclass
class Cpu:
    cpu: int
    logged: int
    kept: int
    counters: Dict[str, int]
    events: List[Event] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.logged - self.kept


@dataclass
class Dump:
    ncpus: int
    mask: int
    ring: int
    threads: Dict[int, str]
    cpus: List[Cpu]
    exit_reasons: Dict[int, str] = field(default_factory=dict)

    def name(self, tid: int) -> str:
        if tid == NO_THREAD:
            return "(boot)"
        return self.threads.get(tid, f"thread {tid}")

    def events(self) -> List[Event]:
        """Every event of every CPU, by time (then CPU and sequence)."""
        return sorted((e for c in self.cpus for e in c.events),
                      key=lambda e: (e.ns, e.cpu, e.seq))


class DumpError(Exception):
    pass


_BEGIN = re.compile(r"trace-dump: begin cpus=(\d+) mask=0x([0-9a-f]+) ring=(\d+)")
_THREAD = re.compile(r"trace-thread: (\d+) (.*)$")
_CPU = re.compile(r"trace-cpu: (\d+) (.*)$")
_TYPES = re.compile(r"trace-types:(.*)$")
_EXITS = re.compile(r"trace-vmm-exits:(.*)$")
_CPU_END = re.compile(r"trace-cpu-end: (\d+) kept=(\d+)")
_EV = re.compile(r"E (?:@(\d+) )?(\d+) (\d+) (-|\d+) ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+)"
                 r"(?: (\S+))?\s*$")


def parse(text: str) -> Dump:
    """The last complete dump in text; DumpError if there is none."""
    dump: Optional[Dump] = None
    done: Optional[Dump] = None
    by_cpu: Dict[int, Cpu] = {}
    types: Dict[int, str] = {}
    cur: Optional[Cpu] = None
    for line in text.splitlines():
        line = line.rstrip("\r")
        if line.startswith("E ") and dump is not None and cur is not None:
            m = _EV.match(line)
            if not m:
                raise DumpError(f"a bad event line: {line!r}")
            seq = int(m.group(1)) if m.group(1) else (cur.events[-1].seq + 1 if cur.events
                                                       else 1)
            ns = (cur.events[-1].ns if cur.events else 0) + int(m.group(2))
            typ = types.get(int(m.group(3)), f"type-{m.group(3)}")
            tid = NO_THREAD if m.group(4) == "-" else int(m.group(4))
            cur.events.append(Event(cur.cpu, seq, ns, typ, tid, int(m.group(5), 16),
                                    int(m.group(6), 16), int(m.group(7), 16), m.group(8) or ""))
            continue
        i = line.find("trace-")
        if i < 0:
            continue
        line = line[i:]
        m = _BEGIN.match(line)
        if m:
            dump = Dump(int(m.group(1)), int(m.group(2), 16), int(m.group(3)), {}, [])
            by_cpu, cur = {}, None
            continue
        if dump is None:
            continue
        if line.startswith("trace-dump: end"):
            done, dump = dump, None
            continue
        m = _TYPES.match(line) or _EXITS.match(line)
        if m:
            try:
                table = {int(k): v for k, v in (f.split("=", 1) for f in m.group(1).split())}
            except ValueError:
                raise DumpError(f"a garbled line: {line!r}")
            if line.startswith("trace-types"):
                types = table
            else:
                dump.exit_reasons = table
            continue
        m = _CPU_END.match(line)
        if m and int(m.group(1)) in by_cpu:
            c = by_cpu[int(m.group(1))]
            c.kept = int(m.group(2))
            # the first of them: a second dump in the boot logs another pair
            first = next((i for i, e in enumerate(c.events) if e.type == "counters"), None)
            if first is not None:
                e = c.events[first]
                c.counters.update(switches=e.a, fpu_saves=e.b, fpu_restores=e.c)
                e2 = next((x for x in c.events[first:] if x.type == "counters2"), None)
                if e2 is not None:
                    c.counters.update(nm=e2.a, vmm_entries=e2.b)
            continue
        m = _THREAD.match(line)
        if m:
            dump.threads[int(m.group(1))] = m.group(2).strip()
            continue
        m = _CPU.match(line)
        if m:
            kv = dict(f.split("=", 1) for f in m.group(2).split())
            cpu = Cpu(int(m.group(1)), int(kv.pop("logged")), 0, {})
            by_cpu[cpu.cpu] = cpu
            dump.cpus.append(cpu)
            cur = cpu
            continue
    if done is None:
        raise DumpError("no complete trace dump (trace-dump: begin ... end) in the log"
                        + (": it was cut off" if dump is not None else ""))
    return done


def parse_file(path: str) -> Dump:
    with open(path, errors="replace") as f:
        return parse(f.read())
