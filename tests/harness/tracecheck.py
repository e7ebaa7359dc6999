"""tracecheck.py - host-side tests of the trace pictures, on a real boot.

The harness's `trace` row (configs.py) boots a few cases with every trace
category on from the boot and trace.dump=1, so the kernel dumps its rings
when the cases are done. check() then takes that boot's serial lines
through the tools a student uses (tools/tracedump.py, trace2json.py,
tracesvg.py) and reports, as the pseudo-suite "(trace)":

  dump_parses               the log holds one complete dump
  json_loads                trace2json's output goes through json.dumps and
                            json.loads, every event is well formed for the
                            Chrome format (ph, a numeric ts, pid, tid where
                            the phase needs one, a name, an instant's scope),
                            and it has events of each kind the cases made (a
                            switch, a context op, an FPU save, a #NM, a guest
                            entry, an IPC call)
  every_begin_has_its_end   per track, B and E nest: no E without its B,
                            none left open, and no slice cut short (closed
                            by the converter, "cut") but at the dump's ends
  counts_equal_the_kernel_counters
                            per CPU, nothing lost, and the events of each
                            kind the kernel counts itself (switches, FPU
                            saves and restores, #NM, guest entries) number
                            exactly what its counter said when the dump
                            began (each CPU logs its counters then, in its
                            own ring: the counters events); each such event
                            also carries the counter's value, which must run
                            1, 2, ... n: none missing or doubled on the way
  svg_renders               tracesvg's output is well-formed XML and
                            rsvg-convert (Debian's librsvg2-bin) renders it
                            to a PNG
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import trace2json  # noqa: E402
import tracedump  # noqa: E402
import tracesvg  # noqa: E402

# event type -> (the field with the kernel's counter, the trace-cpu key)
COUNTED = {"switch": ("c", "switches"), "fpu-save": ("b", "fpu_saves"),
           "fpu-restore": ("b", "fpu_restores"), "fpu-#NM": ("b", "nm"),
           "vmm-entry": ("b", "vmm_entries")}
MUST_HAVE = ["switch", "ctxop-save", "ctxop-restore", "fpu-save", "fpu-restore", "fpu-#NM",
             "vmm-entry", "vmm-exit", "ipc-call", "ipc-call-end"]


def begin_end_problems(events: List[dict]) -> List[str]:
    stacks: Dict[Tuple[int, int], List[dict]] = {}
    problems = []
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if e["ph"] == "B":
            stacks.setdefault(key, []).append(e)
        elif e["ph"] == "E":
            st = stacks.get(key)
            if not st:
                problems.append(f"an end without a begin on track {key} at {e['ts']} us")
                continue
            b = st.pop()
            if e["ts"] < b["ts"]:
                problems.append(f"'{b['name']}' on {key} ends ({e['ts']} us) before it "
                                f"begins ({b['ts']} us)")
    for key, st in stacks.items():
        for b in st:
            problems.append(f"'{b['name']}' on track {key} begins at {b['ts']} us and never ends")
    return problems


def count_problems(d: tracedump.Dump) -> List[str]:
    problems = []
    for c in d.cpus:
        if c.lost:
            problems.append(f"CPU {c.cpu}: {c.lost} of {c.logged} events lost (the ring was "
                            f"full: give the row a bigger trace.ring)")
        stop = next((i for i, e in enumerate(c.events) if e.type == "counters"), None)
        if stop is None or not all(k in c.counters for _, k in COUNTED.values()):
            problems.append(f"CPU {c.cpu}: no counters events in its ring (the dump logs "
                            f"them on every CPU first)")
            continue
        before = c.events[:stop]
        for typ, (fld, key) in COUNTED.items():
            vals = [getattr(e, fld) for e in before if e.type == typ]
            if len(vals) != c.counters[key]:
                problems.append(f"CPU {c.cpu}: {len(vals)} {typ} events, but the kernel "
                                f"counted {c.counters[key]} ({key})")
            if vals != list(range(1, len(vals) + 1)):
                gap = next((i for i, v in enumerate(vals) if v != i + 1), 0)
                problems.append(f"CPU {c.cpu}: {typ} events carry the kernel's {key} "
                                f"{vals[max(0, gap - 2):gap + 3]} around event {gap}: "
                                f"not 1..{len(vals)} (an event missing or doubled)")
    return problems


def schema_problems(events: List[dict]) -> List[str]:
    """What Perfetto's JSON importer would choke on or show wrongly."""
    problems = []
    for i, e in enumerate(events):
        ph = e.get("ph")
        bad = None
        if ph not in ("B", "E", "i", "C", "M"):
            bad = f"phase {ph!r}"
        elif "pid" not in e:
            bad = "no pid"
        elif ph != "M" and not isinstance(e.get("ts"), (int, float)):
            bad = "no numeric ts"
        elif ph in ("B", "E", "i") and "tid" not in e:
            bad = "no tid"
        elif ph in ("B", "i", "C", "M") and not e.get("name"):
            bad = "no name"
        elif ph == "i" and e.get("s") not in ("t", "p", "g"):
            bad = "an instant without its scope"
        elif ph == "C" and not all(isinstance(v, (int, float)) for v in e.get("args", {}).values()):
            bad = "a counter with a value that is not a number"
        if bad:
            problems.append(f"event {i}: {bad}: {json.dumps(e)[:160]}")
    return problems


def cut_problems(events: List[dict]) -> List[str]:
    """A slice the converter had to close ("cut") anywhere but at the end of
    the dump or of a thread's turn on a CPU (a guest entry or kernel FPU
    section cut by a switch means the switch came inside it: impossible)."""
    ends: Dict[Tuple[int, int], float] = {}
    for e in events:
        if e["ph"] in ("B", "E", "i"):
            key = (e["pid"], e["tid"])
            ends[key] = max(ends.get(key, 0), e["ts"])
    return [f"a slice on track ({e['pid']}, {e['tid']}) cut at {e['ts']} us, before the "
            f"track's end at {ends[(e['pid'], e['tid'])]} us"
            for e in events if e["ph"] == "E" and e.get("args", {}).get("cut")
            and e["ts"] < ends[(e["pid"], e["tid"])]]


def check(lines: List[str], out_dir: str,
          every_case: bool = True) -> List[Tuple[str, bool, List[str]]]:
    """[(name, passed, diagnostics)] for the boot's log lines; writes the
    pictures into out_dir (trace.json, trace.svg, trace.png) for a look.
    every_case: the boot ran all of the row's cases (no make test T= left
    some out), so every kind of event must be there."""
    res: List[Tuple[str, bool, List[str]]] = []
    try:
        d = tracedump.parse("\n".join(lines))
    except tracedump.DumpError as e:
        return [("dump_parses", False, [str(e)])]
    n = sum(len(c.events) for c in d.cpus)
    res.append(("dump_parses", n > 0, [f"{n} events, {len(d.threads)} thread names"]))

    j = trace2json.convert(d)
    try:
        text = json.dumps(j)
        back = json.loads(text)
        with open(os.path.join(out_dir, "trace.json"), "w") as f:
            f.write(text)
        kinds = {t for c in back["otherData"]["cpus"] for t in c["events"]}
        missing = [t for t in MUST_HAVE if t not in kinds] if every_case else []
        schema = schema_problems(back["traceEvents"])
        res.append(("json_loads", not missing and not schema and len(back["traceEvents"]) > 0,
                    [f"{len(back['traceEvents'])} trace events; kinds: {', '.join(sorted(kinds))}"]
                    + ([f"no {', '.join(missing)} events: the row's cases should make them"]
                       if missing else [])
                    + ([] if every_case else ["(T= left some of the row's cases out: the kinds "
                                              "of event are not checked)"]) + schema[:8]))
    except (TypeError, ValueError, KeyError) as e:
        res.append(("json_loads", False, [f"{type(e).__name__}: {e}"]))
        back = j

    p = begin_end_problems(back["traceEvents"]) + cut_problems(back["traceEvents"])
    nb = sum(1 for e in back["traceEvents"] if e["ph"] == "B")
    res.append(("every_begin_has_its_end", not p and nb > 0, [f"{nb} slices"] + p[:10]))

    p = count_problems(d)
    res.append(("counts_equal_the_kernel_counters", not p,
                [", ".join(f"CPU {c.cpu}: " + " ".join(
                    f"{t}={sum(1 for e in c.events if e.type == t)}" for t in COUNTED)
                    for c in d.cpus)] + p[:10]))

    diag = []
    ok = False
    try:
        svg = tracesvg.draw(d, "trace row")
        ET.fromstring(svg.encode())
        svg_path = os.path.join(out_dir, "trace.svg")
        with open(svg_path, "w") as f:
            f.write(svg)
        tool = shutil.which("rsvg-convert")
        if not tool:
            diag.append("rsvg-convert is not installed (Debian: apt-get install librsvg2-bin; "
                        "tools/install-deps does it)")
        else:
            png = os.path.join(out_dir, "trace.png")
            r = subprocess.run([tool, svg_path, "-o", png], capture_output=True, text=True)
            with open(png, "rb") as f:
                sig = f.read(8)
            ok = r.returncode == 0 and sig == b"\x89PNG\r\n\x1a\n"
            diag.append(f"rsvg-convert exit {r.returncode}, {os.path.getsize(png)} bytes"
                        + (f": {r.stderr.strip()}" if r.stderr.strip() else ""))
    except (ET.ParseError, OSError, tracedump.DumpError) as e:
        diag.append(f"{type(e).__name__}: {e}")
    res.append(("svg_renders", ok, diag))
    return res
