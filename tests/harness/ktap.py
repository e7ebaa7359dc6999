"""ktap.py - a streaming parser for the kernel's KTAP version 1 output.

The kernel (kernel/ktest.c) prints one subtest level per suite:

    KTAP version 1
    1..2                                  <- number of suites
        KTAP version 1
        # Subtest: lib                    <- a suite starts
        1..3
        # lib.x: EXPECTATION FAILED ...   <- diagnostics of the next result
        not ok 1 x
        ok 2 y # SKIP why                 <- a directive after '#'
        ok 3 z
    not ok 1 lib                          <- the suite's own result
    # Totals: pass:2 fail:1 skip:1 total:4
    # ktest: FAIL

Everything else on the serial port (the boot banner, "panic: ...", a
backtrace, a register dump) is console output that is not KTAP.  The rules
used here:

  * "    # ..." lines between two results are the diagnostics of the result
    that follows them (KTAP: diagnostics precede the line they explain).
  * Non-KTAP console lines printed while a test runs (a panic message, its
    backtrace) are kept with that test's diagnostics too: they are what a
    student needs to see next to the failure.
  * A result line "ok N name # SKIP reason" is a skip; "# TODO" is treated as
    a pass (the kernel does not print it today).

The parser is fed one line at a time (`feed`) while the boot is still
running, so the harness can print a test's verdict the moment it arrives.
It returns a `Result` for each test result line, and keeps a little state
for the end of the boot: the suite that was running, and whether a
"Bail out!" line or the final "# ktest: PASS|FAIL" line was seen.

Serial output from a GRUB boot contains terminal escapes and carriage
returns; `clean_line` strips them before parsing (the raw log is kept).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
RESULT_RE = re.compile(r"^(?P<indent>\s*)(?P<ok>not ok|ok)\s+(?P<num>\d+)"
                       r"(?:\s+-)?(?:\s+(?P<name>[^#\s][^#]*?))?\s*(?:#\s*(?P<directive>.*))?$")
SUBTEST_RE = re.compile(r"^\s*#\s*Subtest:\s*(?P<suite>\S+)")
VERSION_RE = re.compile(r"^\s*KTAP version \d+\s*$")
PLAN_RE = re.compile(r"^\s*1\.\.\d+\s*$")
DIAG_RE = re.compile(r"^\s+#(?: (?P<text>.*))?$")   # "    # text" (not "  #0  0x...")
TOP_DIAG_RE = re.compile(r"^#\s?(?P<text>.*)$")
VERDICT_RE = re.compile(r"^# ktest: (?P<verdict>PASS|FAIL)\b")
BAIL_RE = re.compile(r"^Bail out!\s*(?P<reason>.*)$")


def clean_line(raw: str) -> str:
    """A serial line without terminal escapes, carriage returns or NULs."""
    line = ANSI_RE.sub("", raw)
    line = line.replace("\0", "")
    # A carriage return in the middle (GRUB redraws its menu) keeps the last part.
    if "\r" in line.rstrip("\r\n"):
        line = line.rstrip("\r\n").split("\r")[-1]
    return line.rstrip("\r\n")


@dataclass
class Result:
    """One test result, as reported by the kernel."""
    suite: str
    name: str
    status: str                     # "pass" | "fail" | "skip"
    skip_reason: str = ""
    diagnostics: List[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def full(self) -> str:
        return f"{self.suite}.{self.name}"


class KtapParser:
    """Feed lines with `feed(line, now)`; each call returns the Result that
    line completed, or None.  `now` is a time.monotonic() value: a result's
    duration is the time since the previous result (or since its suite
    started), which is approximate but good enough to spot a slow test."""

    def __init__(self, start_time: float = 0.0):
        self.suite: Optional[str] = None       # the suite now running
        self.in_ktap = False                   # saw "KTAP version 1"
        self.pending: List[str] = []           # diagnostics for the next result
        self.last_time = start_time
        self.verdict: Optional[str] = None     # "PASS" / "FAIL" from the last line
        self.bail_out: Optional[str] = None
        self.results: List[Result] = []
        self.suite_results: List[tuple] = []   # (suite, ok, directive)
        self.current_test_started = False

    def feed(self, raw: str, now: float = 0.0) -> Optional[Result]:
        line = clean_line(raw)
        if not line.strip():
            return None
        if VERSION_RE.match(line):
            self.in_ktap = True
            return None
        if not self.in_ktap:
            return None                        # boot messages before the tests
        m = SUBTEST_RE.match(line)
        if m:
            self.suite = m.group("suite")
            self.pending = []
            self.last_time = now
            return None
        if PLAN_RE.match(line):
            return None
        m = VERDICT_RE.match(line)
        if m:
            self.verdict = m.group("verdict")
            return None
        m = BAIL_RE.match(line)
        if m:
            self.bail_out = m.group("reason") or "(no reason given)"
            return None
        m = RESULT_RE.match(line)
        if m and m.group("name"):
            indented = len(m.group("indent")) > 0
            if not indented or self.suite is None:
                # "ok 1 lib": the end of a suite.
                self.suite_results.append((m.group("name"), m.group("ok") == "ok",
                                           m.group("directive") or ""))
                self.suite = None
                self.pending = []
                return None
            return self._result(m, now)
        m = DIAG_RE.match(line)
        if m:
            self.pending.append(m.group("text") or "")
            return None
        if TOP_DIAG_RE.match(line):
            return None                        # "# Totals: ...", other top-level notes
        if self.suite is not None:
            # Console output while a test runs (panic, backtrace, trap dump).
            self.pending.append(line)
        return None

    def _result(self, m: "re.Match[str]", now: float) -> Result:
        directive = (m.group("directive") or "").strip()
        if m.group("ok") == "not ok":
            status = "fail"
        elif directive.upper().startswith("SKIP"):
            status = "skip"
        else:
            status = "pass"
        reason = directive[4:].strip() if status == "skip" else ""
        r = Result(self.suite or "?", m.group("name").strip(), status, reason,
                   self.pending, max(0.0, now - self.last_time))
        self.pending = []
        self.last_time = now
        self.results.append(r)
        return r

    def pending_output(self) -> List[str]:
        """What the test that was running printed before the boot ended."""
        return list(self.pending)
