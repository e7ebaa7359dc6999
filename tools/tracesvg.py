#!/usr/bin/env python3
"""tools/tracesvg.py - the kernel's trace dump as a timeline, in SVG.

    python3 tools/tracesvg.py SERIAL_LOG [-o build/trace.svg] [--title T]
                              [--window FROM:TO] [--threads a,b,...]

Like the time diagram of the Xen PV #NM report, drawn from a real run: time
goes right; for each CPU three lanes, the thread running there (a colour
per thread, its name where it fits; red triangles for #NM, ticks for
context-op saves and restores, a hatched band for a kernel FPU section, a
dark bar under guest entries), whether CR0.TS is set (grey where it is),
and whose state the FPU registers hold (the owner's colour); then a lane
per thread: where it ran (its colour, the CPU's number), its IPC calls and
rendezvous as outlined bars. Marks that a demo logs (TR_USER, shown as
trace "user" events) are vertical lines with their number.

--window draws only a stretch: FROM:TO in milliseconds from the dump's
first event (either side may be empty), "marks" (from the first mark to
the last), "marks=A-B" (mark A to mark B), or "events=TYPE" (the first
event of TYPE to the last of it or of TYPE-end, e.g. events=ipc-call).
Where it holds few context-op events their handlers' names are written
beside them. --threads names the thread lanes to draw (default: every
thread that ran, at most 24). docs/trace.md shows figures made with it.
"""
from __future__ import annotations

import argparse
import html
import os
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracedump  # noqa: E402
from tracedump import OWNER_INIT, OWNER_LAYERED, OWNER_NONE  # noqa: E402

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#86bcb6", "#8cd17d", "#d37295", "#a0cbe8", "#ffbe7d"]
IDLE = "#e8e8e8"
LANE_H, GAP, LEFT, RIGHT, TOP = 18, 6, 150, 20, 50


def colour(d: tracedump.Dump, tid: int) -> str:
    if tid == tracedump.NO_THREAD or d.name(tid).startswith("idle"):
        return IDLE
    return PALETTE[tid % len(PALETTE)]


def owner_colour(d: tracedump.Dump, tag: int) -> str:
    return {OWNER_NONE: "#ffffff", OWNER_INIT: "#f3e3b5", OWNER_LAYERED: "#7f3c8d"}.get(
        tag) or colour(d, tag)


def intervals(events: List[tracedump.Event], t0: int, t1: int, start_value, step):
    """[(from, to, value)] of a value that events change: step(event, value)
    returns the new value or None (no change)."""
    out, v, since = [], start_value, t0
    for e in events:
        nv = step(e, v)
        if nv is None or nv == v:
            continue
        if e.ns > since:
            out.append((since, e.ns, v))
        v, since = nv, e.ns
    if t1 > since:
        out.append((since, t1, v))
    return out


class Svg:
    def __init__(self, width: int):
        self.parts: List[str] = []
        self.width = width
        self.last: Dict[Tuple[float, str], float] = {}   # (lane y, fill) -> x drawn to

    def rect(self, x, y, w, h, fill, stroke=None, extra=""):
        # a sliver inside what this lane last drew in that colour adds
        # nothing a reader can see: dense stretches stay small files
        end = self.last.get((y, fill))
        if w < 0.5 and end is not None and x <= end + 0.25:
            return
        self.last[(y, fill)] = max(x + max(w, 0.4), end or 0)
        s = f' stroke="{stroke}" stroke-width="0.6"' if stroke else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.4):.1f}" '
                          f'height="{h:.1f}" fill="{fill}"{s}{extra}/>')

    def line(self, x1, y1, x2, y2, stroke, width=1.0, dash=None):
        if x1 == x2 and not dash:           # a tick: one per half pixel
            key = (round(x1 * 2), y1, y2)
            if key in self.last:
                return
            self.last[key] = 0
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                          f'stroke="{stroke}" stroke-width="{width}"{d}/>')

    def text(self, x, y, s, size=11, anchor="start", fill="#000", weight="normal",
             rotate=False):
        rot = f' transform="rotate(-60 {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                          f'font-family="DejaVu Sans, sans-serif" text-anchor="{anchor}" '
                          f'fill="{fill}" font-weight="{weight}"{rot}>{html.escape(s)}</text>')

    def poly(self, points, fill):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polygon points="{pts}" fill="{fill}"/>')

    def render(self, height: int) -> str:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{height}" viewBox="0 0 {self.width} {height}">\n'
                '<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(45)"><rect width="2" height="4" fill="#000" '
                'fill-opacity="0.35"/></pattern></defs>\n'
                f'<rect width="{self.width}" height="{height}" fill="#ffffff"/>\n'
                + "\n".join(self.parts) + "\n</svg>\n")


def nice_step(span_ns: float, ticks: int = 8) -> float:
    raw = span_ns / ticks
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:g} us"
    return f"{ns:g} ns"


def resolve_window(allev: List[tracedump.Event], window) -> Tuple[float, float]:
    """(t0, t1) in ns for a window: (from_ms, to_ms) or a spec string."""
    base = allev[0].ns
    if isinstance(window, str):
        if window == "marks" or window.startswith("marks="):
            marks = [e for e in allev if e.type == "user"]
            if window.startswith("marks="):
                a, _, b = window[6:].partition("-")
                if not a.isdigit() or (b and not b.isdigit()):
                    raise ValueError(f"--window {window}: marks=A-B wants two mark numbers")
                marks = [e for e in marks if e.a in (int(a), int(b or a))]
            if not marks:
                raise ValueError(f"--window {window}: the dump has no such mark (its marks: "
                                 f"{sorted({e.a for e in allev if e.type == 'user'}) or 'none'})")
            t0, t1 = marks[0].ns, marks[-1].ns
        elif window.startswith("events="):
            typ = window[7:]
            ev = [e for e in allev if e.type in (typ, typ + "-end")]
            if not ev:
                raise ValueError(f"--window {window}: the dump has no {typ} event")
            t0, t1 = ev[0].ns, ev[-1].ns
        else:
            raise ValueError(f"--window {window}: FROM:TO, marks, marks=A-B or events=TYPE")
        pad = max((t1 - t0) * 0.04, 2000)
        return t0 - pad, t1 + pad
    t0 = base + window[0] * 1e6 if window[0] is not None else base
    t1 = base + window[1] * 1e6 if window[1] is not None else allev[-1].ns
    return t0, max(t1, t0 + 1)


def draw(d: tracedump.Dump, title: str = "", window=(None, None),
         threads: Optional[List[str]] = None, width: int = 1400) -> str:
    allev = d.events()
    if not allev:
        raise tracedump.DumpError("the dump holds no events")
    base = allev[0].ns
    t0, t1 = resolve_window(allev, window)
    plot_w = width - LEFT - RIGHT

    def x(ns: float) -> float:
        return LEFT + (min(max(ns, t0), t1) - t0) / (t1 - t0) * plot_w

    svg = Svg(width)
    y = TOP
    svg.text(LEFT, 22, title or "ctxkern trace", size=14, weight="bold")
    svg.text(LEFT, 38, f"{fmt_ns(t1 - t0)} from {fmt_ns(t0 - base)} after the first event; "
             f"{d.ncpus} CPU(s)", size=10, fill="#555")

    ran: Dict[int, List[Tuple[int, int, int]]] = {}     # tid -> [(from, to, cpu)]
    for c in d.cpus:
        ev = c.events
        if not ev:
            continue
        first_tid = ev[0].tid
        first_sw = next((e for e in ev if e.type == "switch"), None)
        if first_sw is not None:
            first_tid = first_sw.a          # who ran before the first switch
        run = intervals(ev, ev[0].ns, ev[-1].ns, first_tid,
                        lambda e, v: e.b if e.type == "switch" else None)
        first_ts = next((e for e in ev if e.type == "fpu-ts"), None)
        ts = intervals(ev, ev[0].ns, ev[-1].ns,
                       None if first_ts is None else not first_ts.a,  # before its first change
                       lambda e, v: bool(e.a) if e.type == "fpu-ts" else None)
        own = intervals(ev, ev[0].ns, ev[-1].ns, None,
                        lambda e, v: e.a if e.type == "fpu-owner" else
                        (e.c if e.type == "fpu-restore" else None))
        few = sum(1 for e in ev if t0 <= e.ns <= t1 and e.type.startswith("ctxop")) <= 40
        label_x = -1e9
        if few and any(t0 <= e.ns <= t1 and e.type.startswith("ctxop") for e in ev):
            y += 70                         # room for the handlers' names
        svg.text(LEFT - 8, y + 13, f"CPU {c.cpu}", anchor="end", weight="bold")
        for a, b, tid in run:
            ran.setdefault(tid, []).append((a, b, c.cpu))
            if b < t0 or a > t1:
                continue
            svg.rect(x(a), y, x(b) - x(a), LANE_H, colour(d, tid))
            if x(b) - x(a) > 7 * len(d.name(tid)):
                svg.text(x(a) + 3, y + 13, d.name(tid), size=10)
        # kernel FPU sections and guest entries, inside the running lane
        opened: Dict[str, int] = {}
        for e in ev:
            if e.type in ("kfpu-begin", "vmm-entry"):
                opened[e.type] = e.ns
            elif e.type == "kfpu-end" and "kfpu-begin" in opened:
                a = opened.pop("kfpu-begin")
                if e.ns >= t0 and a <= t1:
                    svg.rect(x(a), y, x(e.ns) - x(a), LANE_H, "url(#hatch)")
            elif e.type == "vmm-exit" and "vmm-entry" in opened:
                a = opened.pop("vmm-entry")
                if e.ns >= t0 and a <= t1:
                    svg.rect(x(a), y + LANE_H - 4, x(e.ns) - x(a), 4, "#222222")
            elif e.type == "switch":
                opened.clear()
        for e in ev:
            if not t0 <= e.ns <= t1:
                continue
            if few and e.type in ("ctxop-save", "ctxop-restore"):
                label = e.sym or hex(e.c)
                for cut in ("demo_", "_save", "_restore"):
                    label = label.replace(cut, "")
                # names of handlers run close together go side by side, in
                # their order, with a line down to each tick
                lx = max(x(e.ns), label_x + 14)
                label_x = lx
                if lx - x(e.ns) > 1:
                    svg.line(lx, y - 1, x(e.ns), y + 2, "#999", 0.5, "1,1")
                svg.text(lx + 1, y - 2, ("S " if e.type == "ctxop-save" else "R ") + label,
                         size=8, fill="#333", rotate=True)
            if e.type == "fpu-#NM":
                xe = x(e.ns)
                svg.poly([(xe - 4, y - 5), (xe + 4, y - 5), (xe, y + 3)], "#d62728")
            elif e.type in ("ctxop-save", "ctxop-restore"):
                svg.line(x(e.ns), y + (0 if e.type == "ctxop-save" else LANE_H / 2), x(e.ns),
                         y + (LANE_H / 2 if e.type == "ctxop-save" else LANE_H), "#000", 0.6)
        y += LANE_H + 2
        svg.text(LEFT - 8, y + 11, "TS", anchor="end", size=10)
        svg.rect(LEFT, y, plot_w, LANE_H - 6, "#fafafa", "#dddddd")
        for a, b, v in ts:
            if v and b >= t0 and a <= t1:
                svg.rect(x(a), y, x(b) - x(a), LANE_H - 6, "#9a9a9a")
        y += LANE_H - 4
        svg.text(LEFT - 8, y + 11, "FPU owner", anchor="end", size=10)
        svg.rect(LEFT, y, plot_w, LANE_H - 6, "#fafafa", "#dddddd")
        for a, b, v in own:
            if v is not None and b >= t0 and a <= t1:
                svg.rect(x(a), y, x(b) - x(a), LANE_H - 6, owner_colour(d, v), "#bbbbbb")
        y += LANE_H + GAP + 4

    # a lane per thread
    shown = [t for t in sorted(ran) if not d.name(t).startswith("idle")]
    if threads:
        shown = [t for t in shown if d.name(t) in threads or str(t) in threads]
    shown = [t for t in shown if any(b >= t0 and a <= t1 for a, b, _ in ran[t])][:24]
    slices: Dict[int, List[Tuple[int, int, str]]] = {}
    open_s: Dict[Tuple[int, str], Tuple[int, str]] = {}
    for e in allev:
        if e.type in ("ipc-call", "vmm-rendezvous"):
            label = "call" if e.type == "ipc-call" else f"rendezvous ({e.b})"
            open_s[(e.tid, e.type)] = (e.ns, label)
        elif e.type in ("ipc-call-end", "vmm-rendezvous-end"):
            k = (e.tid, e.type[:-4])
            if k in open_s:
                a, label = open_s.pop(k)
                slices.setdefault(e.tid, []).append((a, e.ns, label))
    if shown:
        y += 4
        svg.text(LEFT - 8, y + 4, "threads", anchor="end", weight="bold", size=11)
        y += 10
    for tid in shown:
        svg.text(LEFT - 8, y + 13, f"{d.name(tid)} ({tid})", anchor="end", size=10)
        svg.line(LEFT, y + LANE_H / 2, LEFT + plot_w, y + LANE_H / 2, "#dddddd")
        for a, b, cpu in ran[tid]:
            if b < t0 or a > t1:
                continue
            svg.rect(x(a), y + 2, x(b) - x(a), LANE_H - 8, colour(d, tid))
            if x(b) - x(a) > 10:
                svg.text(x(a) + 2, y + 11, str(cpu), size=8, fill="#fff")
        for a, b, label in slices.get(tid, []):
            if b < t0 or a > t1:
                continue
            svg.rect(x(a), y + LANE_H - 5, x(b) - x(a), 4, "none", "#000")
        y += LANE_H + 2

    # marks, the time axis, the legend
    marks = [e for e in allev if e.type == "user" and t0 <= e.ns <= t1]
    for m in marks:
        svg.line(x(m.ns), TOP - 6, x(m.ns), y, "#d62728", 0.8, "3,2")
        svg.text(x(m.ns) + 2, TOP - 8, str(m.a), size=9, fill="#d62728")
    y += 6
    svg.line(LEFT, y, LEFT + plot_w, y, "#000")
    step = nice_step(t1 - t0)
    k = 0
    while k * step <= (t1 - t0) * 1.0001:
        xx = LEFT + k * step / (t1 - t0) * plot_w
        svg.line(xx, y, xx, y + 4, "#000")
        svg.text(xx, y + 15, fmt_ns(k * step), size=9, anchor="middle")
        k += 1
    y += 30
    lx = LEFT
    for what, fill in (("TS set", "#9a9a9a"), ("kernel FPU section", "url(#hatch)"),
                       ("in a guest", "#222222"), ("a guest's FPU state", "#7f3c8d"),
                       ("the init state", "#f3e3b5"), ("nobody's", "#ffffff")):
        svg.rect(lx, y - 9, 14, 10, fill, "#888")
        svg.text(lx + 18, y, what, size=10)
        lx += 30 + 7 * len(what)
    svg.poly([(lx - 4, y - 9), (lx + 4, y - 9), (lx, y - 1)], "#d62728")
    svg.text(lx + 8, y, "#NM", size=10)
    lx += 44
    svg.line(lx, y - 10, lx, y, "#000", 0.6)
    svg.text(lx + 5, y, "context-op save (top) / restore (bottom)", size=10)
    return svg.render(int(y + 16))


def parse_window(s: str):
    if ":" not in s:
        return s                            # marks, marks=A-B, events=TYPE
    a, _, b = s.partition(":")
    return (float(a) if a else None, float(b) if b else None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log")
    p.add_argument("-o", "--output", default="build/trace.svg")
    p.add_argument("--title", default="")
    p.add_argument("--window", default=":", help="FROM:TO in ms from the first event")
    p.add_argument("--threads", default="", help="comma-separated names or ids")
    p.add_argument("--width", type=int, default=1400)
    a = p.parse_args()
    try:
        d = tracedump.parse_file(a.log)
        out = draw(d, a.title, parse_window(a.window),
                   [t for t in a.threads.split(",") if t] or None, a.width)
    except (OSError, ValueError, tracedump.DumpError) as e:
        print(f"tracesvg: {a.log}: {e}", file=sys.stderr)
        return 1
    with open(a.output, "w") as f:
        f.write(out)
    print(f"tracesvg: {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
