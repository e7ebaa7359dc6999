"""report.py - what the harness prints and writes once results are known.

  symbolize()      adds "at file:line" to backtrace lines of a serial log
                   ("  #0  0x0000000000101234 func+0x12", "RIP 0008:...")
                   by asking binutils' addr2line about the kernel ELF file.
                   The kernel prints function+offset itself (it carries a
                   symbol table), but only the host has the DWARF line
                   tables.  -i lists the inlined calls too.
  summary_table()  configurations as rows, suites as columns, cells
                   "passed/total" with an F when something failed.
  write_junit()    build/test-results.xml, for CI systems: one <testsuite>
                   per configuration.suite, one <testcase> per test.
  write_json()     build/test-results.json, for scripts: a list of
                   {config, suite, name, status, duration_s, diagnostics,
                    boot_log}; diagnostics is one string, lines joined by
                   newlines; boot_log is the path of the boot's serial log.

Every function here takes plain data (TestRecord below), so it can be
tried from a Python prompt without booting anything.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class TestRecord:
    """The final verdict for one case on one configuration."""
    config: str
    suite: str
    name: str
    status: str                 # "pass" | "fail" | "skip"
    duration_s: float = 0.0
    diagnostics: List[str] = field(default_factory=list)
    boot_log: str = ""
    message: str = ""           # one line: why it failed / was skipped
    tail: List[str] = field(default_factory=list)   # last serial lines of the boot

    @property
    def full(self) -> str:
        return f"{self.suite}.{self.name}"


# ---------------------------------------------------------------- backtraces

FRAME_RE = re.compile(r"#\d+\s+0x(?P<addr>[0-9a-fA-F]+)\b")
RIP_RE = re.compile(r"\bRIP\s+[0-9a-fA-F]{1,4}:(?P<addr>[0-9a-fA-F]{8,16})\b")

_cache: Dict[Tuple[str, int], str] = {}
_cache_lock = threading.Lock()


def _addr2line(elf: str, addrs: List[int], root: str) -> Dict[int, str]:
    """address -> "file:line" (with the inline chain), for those addr2line knows."""
    tool = shutil.which("addr2line")
    todo = sorted({a for a in addrs if (elf, a) not in _cache})
    if todo and tool and os.path.exists(elf):
        try:
            p = subprocess.run([tool, "-e", elf, "-f", "-i", "-a"] + [hex(a) for a in todo],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=30)
            out = p.stdout.decode("utf-8", "replace").splitlines()
        except (OSError, subprocess.TimeoutExpired):
            out = []
        cur: Optional[int] = None
        frames: Dict[int, List[Tuple[str, str]]] = {}
        i = 0
        while i < len(out):
            line = out[i].strip()
            if re.fullmatch(r"0x[0-9a-fA-F]+", line):
                cur = int(line, 16)
                frames[cur] = []
                i += 1
                continue
            if cur is not None and i + 1 < len(out):
                frames[cur].append((line, out[i + 1].strip()))
            i += 2
        with _cache_lock:
            for a in todo:
                _cache[(elf, a)] = _describe(frames.get(a, []), root)
    with _cache_lock:
        return {a: _cache.get((elf, a), "") for a in addrs}


def _short(path: str, root: str) -> str:
    path = re.sub(r"\s*\(discriminator \d+\)", "", path)
    file, _, line = path.rpartition(":")
    if file and os.path.isabs(file):
        rel = os.path.relpath(file, root)
        if not rel.startswith(".."):
            file = rel
    return f"{file}:{line}" if file else path


def _describe(frames: List[Tuple[str, str]], root: str) -> str:
    """addr2line -i gives the innermost (inlined) function first."""
    frames = [(fn, loc) for fn, loc in frames if not loc.startswith("??")]
    if not frames:
        return ""
    text = _short(frames[0][1], root)
    for fn, loc in frames[1:]:
        text += f" (inlined into {fn} at {_short(loc, root)})"
    return text


def symbolize(lines: List[str], elf: str, root: str) -> List[str]:
    """The lines, with " at file:line" after each backtrace frame and RIP."""
    wanted: List[int] = []
    for line in lines:
        for rx in (FRAME_RE, RIP_RE):
            m = rx.search(line)
            if m:
                wanted.append(int(m.group("addr"), 16))
    if not wanted:
        return list(lines)
    where = _addr2line(elf, wanted, root)
    out = []
    for line in lines:
        for rx in (FRAME_RE, RIP_RE):
            m = rx.search(line)
            if m and where.get(int(m.group("addr"), 16)):
                line = f"{line.rstrip()}  at {where[int(m.group('addr'), 16)]}"
                break
        out.append(line)
    return out


# ------------------------------------------------------------------- summary

def _matrix(records: List[TestRecord]) -> Tuple[List[str], Dict[Tuple[str, str], List[int]]]:
    """The suites in table order ("(boot)" and the other pseudo-suites last)
    and, per (config, suite), [passed, failed, skipped, total]."""
    suites: List[str] = []
    for r in records:
        if r.suite not in suites:
            suites.append(r.suite)
    suites.sort(key=lambda s: (s.startswith("("), s))
    cell: Dict[Tuple[str, str], List[int]] = {}
    for r in records:
        c = cell.setdefault((r.config, r.suite), [0, 0, 0, 0])
        c[{"pass": 0, "fail": 1, "skip": 2}[r.status]] += 1
        c[3] += 1
    return suites, cell


def summary_table(records: List[TestRecord], configs: List[str], width: int = 100) -> str:
    """Rows: configurations; columns: suites (split into several tables when
    too wide).  A cell is passed/total, then "F<n>" when n failed; skipped
    tests count in the total but not as passed."""
    suites, cell = _matrix(records)

    def fmt(c: Optional[List[int]]) -> str:
        if not c:
            return "-"
        s = f"{c[0]}/{c[3]}"
        if c[1]:
            s += f" F{c[1]}"
        return s

    def totals(cfg: str) -> str:
        p = sum(1 for r in records if r.config == cfg and r.status == "pass")
        f = sum(1 for r in records if r.config == cfg and r.status == "fail")
        s = sum(1 for r in records if r.config == cfg and r.status == "skip")
        t = p + f + s
        return f"{p}/{t}" + (f" F{f}" if f else "") + (f" S{s}" if s else "")

    rows = [c for c in configs if any(r.config == c for r in records)]
    first_w = max([len("config")] + [len(c) for c in rows])
    col_w = {s: max(len(s), *(len(fmt(cell.get((c, s)))) for c in rows)) for s in suites}
    tot_w = max([len("total")] + [len(totals(c)) for c in rows])

    # Split the suite columns into chunks that fit the width.
    width = max(width - tot_w - 2, first_w + 20)    # the total column is always there
    chunks: List[List[str]] = [[]]
    used = first_w
    for s in suites:
        if chunks[-1] and used + 2 + col_w[s] > width:
            chunks.append([])
            used = first_w
        chunks[-1].append(s)
        used += 2 + col_w[s]

    out = []
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        head = "config".ljust(first_w) + "".join("  " + s.rjust(col_w[s]) for s in chunk)
        if last:
            head += "  " + "total".rjust(tot_w)
        out.append(head)
        out.append("-" * len(head))
        for c in rows:
            line = c.ljust(first_w) + "".join(
                "  " + fmt(cell.get((c, s))).rjust(col_w[s]) for s in chunk)
            if last:
                line += "  " + totals(c).rjust(tot_w)
            out.append(line)
        out.append("")
    out.append("cells: passed/total; F<n>: n failed; S<n>: n skipped")
    return "\n".join(out)


# --------------------------------------------------------------------- files

def _xml_safe(s: str) -> str:
    """XML 1.0 forbids most control characters, which a serial log may hold."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", s)


def write_junit(records: List[TestRecord], path: str) -> None:
    root = ET.Element("testsuites")
    groups: Dict[str, List[TestRecord]] = {}
    for r in records:
        groups.setdefault(f"{r.config}.{r.suite}", []).append(r)
    root.set("tests", str(len(records)))
    root.set("failures", str(sum(r.status == "fail" for r in records)))
    root.set("skipped", str(sum(r.status == "skip" for r in records)))
    for gname, rs in groups.items():
        ts = ET.SubElement(root, "testsuite", name=gname, tests=str(len(rs)),
                           failures=str(sum(r.status == "fail" for r in rs)),
                           skipped=str(sum(r.status == "skip" for r in rs)),
                           errors="0", time=f"{sum(r.duration_s for r in rs):.3f}")
        for r in rs:
            tc = ET.SubElement(ts, "testcase", classname=gname, name=r.name,
                               time=f"{r.duration_s:.3f}")
            if r.status == "fail":
                f = ET.SubElement(tc, "failure", message=_xml_safe(r.message or "failed"))
                text = list(r.diagnostics)
                if r.tail:
                    text += ["", f"--- last {len(r.tail)} serial lines of {r.boot_log} ---"]
                    text += r.tail
                f.text = _xml_safe("\n".join(text))
            elif r.status == "skip":
                ET.SubElement(tc, "skipped", message=_xml_safe(r.message))
            if r.diagnostics and r.status != "fail":
                so = ET.SubElement(tc, "system-out")
                so.text = _xml_safe("\n".join(r.diagnostics))
    tree = ET.ElementTree(root)
    if hasattr(ET, "indent"):
        ET.indent(tree)             # Python 3.9+
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_json(records: List[TestRecord], path: str) -> None:
    data = [{
        "config": r.config,
        "suite": r.suite,
        "name": r.name,
        "status": r.status,
        "duration_s": round(r.duration_s, 3),
        "diagnostics": "\n".join(r.diagnostics),
        "boot_log": r.boot_log,
    } for r in records]
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def write_html(records: List[TestRecord], configs: List[str], path: str,
               title: str = "ctxkern make test", root: str = "") -> None:
    """build/test-report.html: the matrix (configurations x suites, a cell
    per pair with its counts, red where something failed, each linking to
    its failures), then every failure with its diagnostics, the serial
    lines before the end of its boot, and a link to the whole log (paths
    relative to the report, which sits beside build/harness/)."""
    import html as h
    base = os.path.dirname(os.path.abspath(path))

    def link(log: str) -> str:
        if not log:
            return ""
        target = os.path.relpath(os.path.join(root or os.getcwd(), log), base)
        return f'<a href="{h.escape(target)}">{h.escape(log)}</a>'

    suites, cell = _matrix(records)
    rows = [c for c in configs if any(r.config == c for r in records)]
    failures = [r for r in records if r.status == "fail"]
    npass = sum(r.status == "pass" for r in records)
    nskip = sum(r.status == "skip" for r in records)
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
           f"<title>{h.escape(title)}</title>",
           "<style>body{font-family:sans-serif;margin:1.5em}"
           "table{border-collapse:collapse;font-size:12px}"
           "td,th{border:1px solid #ccc;padding:2px 5px;text-align:center}"
           "th.s{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left}"
           "td.p{background:#d9f2d9}td.f{background:#f6b3b3;font-weight:bold}"
           "td.k{background:#eee}td.n{color:#bbb}"
           "pre{background:#f6f6f6;padding:6px;font-size:11px;overflow-x:auto}"
           ".fail h3{color:#a00;margin-bottom:2px}</style></head><body>",
           f"<h1>{h.escape(title)}</h1>",
           f"<p><b>{npass} passed, {len(failures)} failed, {nskip} skipped</b> "
           f"({len(records)} results over {len(rows)} configurations). Cells: passed/total, "
           f"then F and the number failed; S: skipped.</p>",
           "<table><tr><th>config</th>"
           + "".join(f'<th class="s">{h.escape(s)}</th>' for s in suites) + "</tr>"]
    for cfg in rows:
        tds = []
        for s in suites:
            c = cell.get((cfg, s))
            if not c:
                tds.append('<td class="n">-</td>')
                continue
            txt = f"{c[0]}/{c[3]}" + (f" F{c[1]}" if c[1] else "") + (
                f" S{c[2]}" if c[2] else "")
            cls = "f" if c[1] else "p" if c[0] else "k"
            if c[1]:
                txt = f'<a href="#f-{h.escape(cfg)}-{h.escape(s)}">{txt}</a>'
            tds.append(f'<td class="{cls}">{txt}</td>')
        out.append(f"<tr><th>{h.escape(cfg)}</th>{''.join(tds)}</tr>")
    out.append("</table>")
    if failures:
        out.append(f"<h2>Failures ({len(failures)})</h2>")
        seen = set()
        for r in failures:
            anchor = f"f-{r.config}-{r.suite}"
            a = f' id="{h.escape(anchor)}"' if anchor not in seen else ""
            seen.add(anchor)
            out.append(f'<div class="fail"{a}><h3>[{h.escape(r.config)}] '
                       f"{h.escape(r.full)}</h3>")
            if r.message:
                out.append(f"<p>{h.escape(r.message)}</p>")
            if r.diagnostics:
                out.append("<pre>" + h.escape("\n".join(r.diagnostics)) + "</pre>")
            if r.tail:
                out.append("<p>the last serial lines of its boot:</p><pre>"
                           + h.escape("\n".join(r.tail)) + "</pre>")
            if r.boot_log:
                out.append(f"<p>log: {link(r.boot_log)}</p>")
            out.append("</div>")
    else:
        out.append("<h2>No failures</h2>")
    logs = sorted({r.boot_log for r in records if r.boot_log})
    out.append(f"<h2>Logs ({len(logs)})</h2><ul>"
               + "".join(f"<li>{link(x)}</li>" for x in logs) + "</ul></body></html>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
