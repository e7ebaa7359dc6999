#!/usr/bin/env python3
"""run.py - the host side of `make test`: plan the boots, run them, judge.

`make test` builds build/kernel.elf (+ kernel32.elf, kernel.iso) and calls

    python3 tests/harness/run.py --build build [--filter GLOB] [--verbose]
                                 --make-args 'OPT=-O2 EXTRA_TESTS=...'

What happens, in order:

 1. The case list.  elfindex.py reads the section .ktest_index of
    build/kernel.elf: every case's "suite.name", whether it is a
    KTEST_EXPECT_PANIC case, its KTEST_TIMEOUT and the CPUs it needs
    (KTEST_CPUS).  --filter (a shell glob, fnmatch rules, the same rules as
    the kernel's ktest=) selects among them.

 2. The plan.  For every configuration of configs.py (qemu64, max, grub,
    ...) the harness plans boots (see configs.py):
      main boot        ktest=GLOB: every selected case; the kernel reports
                       the EXPECT_PANIC ones as "# SKIP expects a panic:
                       runs in a boot of its own"
      one boot per     ktest=suite.name: the case runs alone, panics, and
      EXPECT_PANIC     the kernel's panic hook prints its verdict.  This
      case             result replaces the SKIP of the main boot.
    A boot "owns" the cases whose result it must deliver.  A case that
    needs more CPUs than a configuration's -smp is skipped there by the
    kernel ("needs N CPUs, this boot has M"), so it gets no panic boot.

 3. The boots run in parallel, one QEMU more than the host has cores (a
    thread pool: each thread starts a QEMU and reads its serial port).  qemu.py runs a boot
    with a timeout; ktap.py parses its output line by line, so a verdict is
    printed the moment the kernel prints it:

        [max] PASS  lib.printf_signed (0.01 s)
        [max] SKIP  demo.skip1: not on this cpu
        [max] FAIL  demo.fail1 (0.02 s)
                    demo.fail1: EXPECTATION FAILED at tests/demo.c:4 ...

 4. The judgement of a boot when it ends.  Every owned case without a
    result fails with "missing result: the boot ended before it ran" and the
    way the boot ended (timeout, triple fault, panic, ...).  A boot that
    did not end through isa-debug-exit (QEMU exit 33 or 35), or that said
    "failure" (35) although all its cases passed (a panic outside a test,
    "no test matches", a "Bail out!"), and whose failure no case explains,
    fails as a pseudo-test "(boot).<boot name>", so the final counts never
    hide a bad boot.  Configurations with `checks` (grub) also report
    "(boot).banner" and the like: lines the boot log must contain.

 5. The report (report.py): the failures again in one place, a table of
    configurations x suites, build/test-results.xml (JUnit) and
    build/test-results.json, and as the very last line

        N passed, N failed, N skipped

    counted over configuration x case.  The exit status is 0 only if
    nothing failed and every boot ended through isa-debug-exit.

Logs: build/harness/<config>/<boot>.log holds the serial output of each boot
(<boot> is "main" or the suite.name of an EXPECT_PANIC case).  --verbose
prints each of them whole.  --list lists the cases, --config picks rows.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import configs as configs_mod        # noqa: E402
import elfindex                      # noqa: E402
import ktap                          # noqa: E402
import qemu                          # noqa: E402
import report                        # noqa: E402
from configs import Config           # noqa: E402
from elfindex import Case            # noqa: E402
from report import TestRecord        # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))      # the repository
TAIL_LINES = 30
PANIC_SKIP = "expects a panic: runs in a boot of its own"
BOOT_SUITE = "(boot)"          # pseudo-suite for boot-level verdicts
KTEST_GLOB_MAX = 1000          # of the kernel's 1024 for ktest= (kernel/ktest.c)
TRACE_SUITE = "(trace)"        # the trace row's host-side checks (tracecheck.py)
REPORT_SUITE = "(report)"      # the report row's check of test-report.html


def rel(path: str) -> str:
    """A path as short as possible for messages (relative to the repo)."""
    r = os.path.relpath(os.path.abspath(path), ROOT)
    return path if r.startswith("..") else r


# ------------------------------------------------------------------ printing

_print_lock = threading.Lock()


def say(*lines: str) -> None:
    """Prints lines together (boots run in parallel: no interleaving)."""
    with _print_lock:
        try:
            for line in lines:
                print(line)
            sys.stdout.flush()
        except BrokenPipeError:      # `run.py | head`: keep going, print nothing
            sys.stdout = open(os.devnull, "w")


def indent(lines: List[str], prefix: str = "        ") -> List[str]:
    return [prefix + line for line in lines]


# ---------------------------------------------------------------------- plan

# The kernel's watchdog per case unless KTEST_TIMEOUT says otherwise
# (ktest.timeout= on the kernel command line; kernel/ktest.c).
KERNEL_DEFAULT_TIMEOUT_S = 10


@dataclass
class Boot:
    """One QEMU run, planned and then filled in."""
    config: Config
    name: str                       # "main" or the suite.name of its panic case
    glob: str                       # ktest=<glob>
    owned: List[Case]               # the cases whose results it must deliver
    deferred: List[str]             # cases it reports as skipped; another boot owns them
    build_dir: str
    log_path: str
    parser: ktap.KtapParser = field(default_factory=ktap.KtapParser)
    results: Dict[str, ktap.Result] = field(default_factory=dict)
    run: Optional[qemu.BootRun] = None
    records: List[TestRecord] = field(default_factory=list)

    @property
    def kernel_elf(self) -> str:
        return os.path.join(self.build_dir, "kernel.elf")

    @property
    def label(self) -> str:
        return f"[{self.config.name}]"


def matches(full: str, globs: str) -> bool:
    """--filter is a glob or several, comma-separated (as ktest= is)."""
    return any(fnmatch.fnmatchcase(full, g) for g in globs.split(",") if g)


def plan_boots(cfg: Config, cases: List[Case], glob: str, build_dir: str,
               harness_dir: str) -> List[Boot]:
    # In the kernel's order (suite, then file and line; the index is in
    # file and line order within each object file), so that "missing"
    # cases are listed in the order the kernel would have run them.
    selected = sorted((c for c in cases if matches(c.full, glob)
                       and configs_mod.in_config(cfg, c.full)),
                      key=lambda c: c.suite)
    if not selected:
        return []
    # A configuration limited to some cases (Config.only) boots with that
    # glob when the user asked for everything; otherwise with the names of
    # the cases both select, so that it runs no case it does not report
    # (the trace row's dump would hold theirs), or, where that list would
    # not fit the kernel's ktest= (KTEST_GLOB_MAX), with the user's glob,
    # and on_line ignores the results of cases outside the configuration.
    if cfg.only and glob == "*":
        glob = cfg.only
    elif cfg.only and len(",".join(c.full for c in selected)) <= KTEST_GLOB_MAX:
        glob = ",".join(c.full for c in selected)
    if len(selected) == 1:
        glob = selected[0].full     # what the kernel must see to run it alone
    logdir = os.path.join(harness_dir, cfg.name)
    alone = len(selected) == 1     # the kernel runs a panic case only when alone
    boots: List[Boot] = []
    # A case that needs more CPUs than the row has (KTEST_CPUS) is skipped
    # by the kernel before anything else: a panic boot of its own would
    # only say so again.
    panic_cases = [c for c in selected if c.expects_panic and cfg.panic_boots and not alone
                   and c.min_cpus <= config_cpus(cfg)
                   and configs_mod.gets_panic_boot(cfg, c.full)]
    main_owned = [c for c in selected if c not in panic_cases]
    if main_owned or cfg.checks:
        boots.append(Boot(cfg, "main", glob, main_owned, [c.full for c in panic_cases],
                          build_dir, os.path.join(logdir, "main.log")))
    for c in panic_cases:
        boots.append(Boot(cfg, c.full, c.full, [c], [], build_dir,
                          os.path.join(logdir, c.full + ".log")))
    return boots


# ---------------------------------------------------------------- one boot

def failure_message(r: ktap.Result) -> str:
    """One line for the recap: the kernel's own "suite.name: ..." diagnostic
    (without that prefix), plus the panic message if there was one."""
    prefix = r.full + ": "
    own = [d[len(prefix):] for d in r.diagnostics if d.startswith(prefix)]
    panics = [d.strip() for d in r.diagnostics if d.startswith("panic:")]
    msg = own[0] if own else (r.diagnostics[0].strip() if r.diagnostics
                              else "the kernel reported not ok")
    if panics and panics[0][len("panic:"):].strip() not in msg:
        msg += f" ({panics[0]})"
    return msg


def config_cpus(cfg: Config) -> int:
    """The -smp of a configuration (1 without one)."""
    args = cfg.qemu_args
    for i, a in enumerate(args[:-1]):
        if a == "-smp":
            try:
                return int(args[i + 1].split(",")[0])
            except ValueError:
                return 1
    return 1


def skip_words(cfg: Config) -> List[str]:
    """The kernel's ktest.skip= for a configuration that leaves suites out."""
    return [f"ktest.skip={','.join(cfg.skip)}"] if cfg.skip else []


class Runner:
    def __init__(self, args: argparse.Namespace, qemu_bin: str):
        self.args = args
        self.qemu_bin = qemu_bin
        self.grub_cfg = os.path.join(ROOT, "boot", "grub.cfg")
        # where QEMU keeps its firmware (configs.firmware_args)
        self.datadirs = [os.path.join(os.path.dirname(os.path.realpath(qemu_bin)), "..",
                                      "share", "qemu"), "/usr/share/qemu",
                         "/usr/local/share/qemu"]

    def words(self, boot: Boot) -> List[str]:
        """The kernel command line of a boot: its glob, the row's words,
        then --cmdline's (a grade run's bug switch, say)."""
        return ([f"ktest={boot.glob}"] + skip_words(boot.config) + boot.config.cmdline.split()
                + self.args.cmdline.split())

    def qemu_cmd(self, boot: Boot) -> List[str]:
        cfg = boot.config
        cmd = [self.qemu_bin] + configs_mod.QEMU_COMMON + ["-serial", "stdio"] + cfg.qemu_args
        if cfg.boot == "iso":
            return cmd + ["-cdrom", boot.log_path[:-len(".log")] + ".iso"]
        words = self.words(boot)
        cmd += configs_mod.firmware_args(cfg, boot.name, self.datadirs)
        if cfg.modules:
            # QEMU's Multiboot loader: -initrd "FILE NAME,FILE NAME"
            cmd += ["-initrd", ",".join(f"{os.path.join(boot.build_dir, f)} {n}"
                                        for f, n in cfg.modules)]
        return cmd + ["-kernel", os.path.join(boot.build_dir, "kernel32.elf"),
                      "-append", " ".join(words)]

    def run(self, boot: Boot) -> Boot:
        cfg = boot.config
        cmd = self.qemu_cmd(boot)
        if self.args.verbose:
            say(f"{boot.label} boot {boot.name}: {' '.join(shlex.quote(w) for w in cmd)}"
                + (f"  (grub.cfg: ktest={boot.glob} {cfg.cmdline})".rstrip()
                   if cfg.boot == "iso" else ""))
        error = None
        if cfg.boot == "iso":
            iso = boot.log_path[:-len(".log")] + ".iso"
            error = qemu.make_iso(boot.kernel_elf, self.grub_cfg,
                                  self.words(boot),
                                  boot.log_path[:-len(".log")] + "-iso", iso,
                                  [(os.path.join(boot.build_dir, f), n)
                                   for f, n in cfg.modules])
        if error:
            boot.run = qemu.BootRun(cmd=cmd, log_path=boot.log_path, error=error)
        else:
            boot.parser = ktap.KtapParser(time.monotonic())
            boot.run = qemu.run_boot(cmd, boot.log_path, self.boot_timeout(boot),
                                     lambda line, now: self.on_line(boot, line, now),
                                     typer(cfg.typing) if cfg.typing and boot.name == "main"
                                     else None)
        self.finish(boot)
        return boot

    def boot_timeout(self, boot: Boot) -> float:
        """--timeout, plus what the longest KTEST_TIMEOUT case of the boot
        may take beyond the kernel's default 10 s per case (only the
        longest: a boot is rarely slow in two long cases at once)."""
        extra = max((c.timeout_s - KERNEL_DEFAULT_TIMEOUT_S for c in boot.owned
                     if c.timeout_s > KERNEL_DEFAULT_TIMEOUT_S), default=0)
        return self.args.timeout + extra

    def on_line(self, boot: Boot, line: str, now: float) -> None:
        r = boot.parser.feed(line, now)
        if r is None:
            return
        if not configs_mod.in_config(boot.config, r.full):
            return                       # outside this configuration (Config.only)
        if r.full in boot.deferred and r.status == "skip" and r.skip_reason.startswith(PANIC_SKIP):
            return                       # its own boot reports it
        if r.full in boot.results:
            # Two cases with the same suite.name (static functions in two
            # files): the kernel runs both.  Never let the second hide a failure.
            if r.status == "fail":
                for rec in boot.records:
                    if rec.full == r.full and rec.status != "fail":
                        rec.status = "fail"
                        rec.message = "a second case with this name failed: " + failure_message(r)
                        rec.diagnostics += ["(a second case with the same name:)"] + r.diagnostics
                        say(f"{boot.label} FAIL  {rec.full}: {rec.message}")
            return
        boot.results[r.full] = r
        owned = any(c.full == r.full for c in boot.owned)
        rec = TestRecord(boot.config.name, r.suite, r.name, r.status, r.duration_s,
                         list(r.diagnostics), rel(boot.log_path))
        if r.status == "skip":
            rec.message = r.skip_reason
            cfg = boot.config
            if r.skip_reason.startswith(PANIC_SKIP) and (
                    not cfg.panic_boots or
                    not configs_mod.gets_panic_boot(cfg, r.full)):
                rec.message = (f"expects a panic: needs a boot of its own, which "
                               f"configuration {cfg.name} does not run")
        elif r.status == "fail":
            rec.message = failure_message(r)
        if not owned:
            rec.diagnostics.insert(0, "(a case the harness did not expect from this boot)")
        boot.records.append(rec)
        if boot.config.post != "report":    # its failures are meant: see finish()
            self.print_record(boot, rec)

    def print_record(self, boot: Boot, rec: TestRecord) -> None:
        if rec.status == "pass":
            say(f"{boot.label} PASS  {rec.full} ({rec.duration_s:.2f} s)")
        elif rec.status == "skip":
            say(f"{boot.label} SKIP  {rec.full}: {rec.message}")
        else:
            diag = report.symbolize(rec.diagnostics, boot.kernel_elf, ROOT)
            say(f"{boot.label} FAIL  {rec.full} ({rec.duration_s:.2f} s)", *indent(diag))

    def check_report(self, boot: Boot) -> List[TestRecord]:
        """The report row: a run that fails on purpose (a bug switch under
        the cases that catch it). Its records go into an HTML report of their
        own, which must name every case that failed; what make test counts
        is that check, as "(report).*", not the failures."""
        import html as html_mod
        failed = [r for r in boot.records if r.status == "fail"]
        path = os.path.join(os.path.dirname(boot.log_path), "test-report.html")
        report.write_html(boot.records, [boot.config.name], path,
                          "a deliberately failing run (the report row)", root=ROOT)
        with open(path) as f:
            page = html_mod.unescape(f.read())
        section = page.split("<h2>Failures", 1)[-1] if "<h2>Failures" in page else ""
        missing = [r.full for r in failed if f"[{r.config}] {r.full}" not in section]
        cfg, log = boot.config.name, rel(boot.log_path)
        # every case of the row fails under its bug switch (and a boot that
        # ends early fails the ones it did not reach): all, or the test of
        # the report proves nothing
        ran = [r for r in boot.records if r.suite != BOOT_SUITE]
        real = [r for r in ran if r.status == "fail" and not r.message.startswith("missing")]
        all_failed = bool(ran) and len(real) == len(ran)     # a timeout proves nothing
        recs = [TestRecord(cfg, REPORT_SUITE, "the_failing_run_failed",
                           "pass" if all_failed else "fail", 0.0, [] if all_failed else
                           [f"{len(failed)} of the row's {len(ran)} case(s) failed; under "
                            f"{cfg}'s bug switch every one should: "
                            + ", ".join(f"{r.full} {r.status}" for r in ran)], log),
                TestRecord(cfg, REPORT_SUITE, "html_names_every_failing_case",
                           "pass" if failed and not missing else "fail", 0.0,
                           [] if failed and not missing else
                           [f"{rel(path)} does not name: {', '.join(missing) or '(no failure)'}"],
                           log)]
        for r in recs:
            if r.status == "fail":
                r.message = r.diagnostics[0]
            self.print_record(boot, r)
        return recs

    def finish(self, boot: Boot) -> None:
        """The judgement once the boot is over (see the module docstring)."""
        run = boot.run
        if qemu.interrupted():
            return                   # Ctrl-C: no verdicts on killed boots
        ending = run.ending()
        lines = [ktap.clean_line(x) for x in run.lines]
        tail = report.symbolize(lines[-TAIL_LINES:], boot.kernel_elf, ROOT)
        new: List[TestRecord] = []

        # Owned cases with no result.  Why the boot stopped early: its
        # ending, plus what the kernel said last (a suite line "not ok 1 x #
        # the boot ended in a panic; ...", a Bail out!) and the last result.
        why = [f"boot '{boot.name}' ended: {ending}"]
        if boot.parser.suite_results and boot.parser.suite_results[-1][2]:
            s_name, _, s_dir = boot.parser.suite_results[-1]
            why.append(f"the kernel said after suite {s_name}: {s_dir}")
        if boot.parser.bail_out:
            why.append(f"Bail out! {boot.parser.bail_out}")
        if boot.parser.results:
            last = boot.parser.results[-1]
            why.append(f"the last result was {last.full}: {last.status}")
        # The first missing case of the suite that was running is (most
        # likely: the kernel orders a suite by file, then line) the one that
        # was running when the boot ended: it gets the output since the last
        # result.
        running_suite = boot.parser.suite
        pending = boot.parser.pending_output()
        for c in boot.owned:
            if c.full in boot.results:
                continue
            if running_suite is not None and c.suite == running_suite:
                running_suite = None
                diag = ["missing result: the boot ended before it reported "
                        "(most likely while this test ran)"] + why
                if pending:
                    diag += ["output since the previous result:"] + ["  " + p for p in pending]
            else:
                diag = ["missing result: the boot ended before it ran"] + why
            new.append(TestRecord(boot.config.name, c.suite, c.name, "fail", 0.0, diag,
                                  rel(boot.log_path), f"missing result ({ending})"))

        # Lines the boot must print (grub: banner, memory map); a pattern
        # that starts with (?s) is matched against the whole log, lines
        # joined (what one command printed over several lines, in order).
        whole = "\n".join(lines)
        for cname, rx, what in boot.config.checks:
            if rx.startswith("(?s)"):
                found = re.search(rx, whole, re.M) is not None
            else:
                found = any(re.search(rx, x) for x in lines)
            if found:
                new.append(TestRecord(boot.config.name, BOOT_SUITE, cname, "pass", 0.0, [],
                                      rel(boot.log_path)))
            else:
                new.append(TestRecord(boot.config.name, BOOT_SUITE, cname, "fail", 0.0,
                                      [f"the boot log has no line matching /{rx}/: {what}",
                                       f"boot ended: {ending}"],
                                      rel(boot.log_path), f"missing from the boot log: {what}"))

        # The trace row: the dump through the host tools (tracecheck.py).
        if boot.config.post == "trace":
            import tracecheck
            every = all(any(c.full == t for c in boot.owned)
                        for t in configs_mod.TRACE_CASES.split(","))
            for cname, ok, diag in tracecheck.check(lines, os.path.dirname(boot.log_path), every):
                new.append(TestRecord(boot.config.name, TRACE_SUITE, cname,
                                      "pass" if ok else "fail", 0.0, [] if ok else diag,
                                      rel(boot.log_path),
                                      "" if ok else (diag[0] if diag else "failed")))

        # The kernel refused part of the command line the harness gave it
        # (a value too long, a key it does not know): the boot ran, but not
        # as the row says, so what it ran proves less than it claims.
        refused = [x for x in lines if re.match(r"\s*cmdline: (bad value|unknown key)", x)]
        if refused:
            new.append(TestRecord(boot.config.name, BOOT_SUITE, f"{boot.name}.cmdline", "fail",
                                  0.0, refused + [f"command line: {' '.join(self.qemu_cmd(boot))}"],
                                  rel(boot.log_path),
                                  f"the kernel refused the harness's command line: "
                                  f"{refused[0].strip()}"))

        # A bad ending that no failed case explains.
        any_fail = any(r.status == "fail" for r in boot.records + new)
        bad = None
        if not run.via_debug_exit:
            bad = ending
        elif run.exit_code == qemu.EXIT_FAIL:
            bad = "the kernel reported a failure (exit 35) although no test failed"
            if boot.parser.bail_out:
                bad += f": Bail out! {boot.parser.bail_out}"
            else:
                hint = next((x for x in lines if "no test matches" in x or
                             x.startswith("panic:")), None)
                if hint:
                    bad += f": {hint.strip()}"
        if bad and not any_fail:
            new.append(TestRecord(boot.config.name, BOOT_SUITE, boot.name, "fail",
                                  run.duration_s, [bad], rel(boot.log_path), bad))

        for rec in new:
            if rec.status == "fail":
                rec.tail = tail
        for rec in boot.records:
            if rec.status == "fail":
                rec.tail = tail

        out: List[str] = []
        shown = None                 # diagnostics already printed: not again
        for rec in new:
            if rec.status == "pass":
                out.append(f"{boot.label} PASS  {rec.full}")
            elif rec.diagnostics == shown:
                out.append(f"{boot.label} FAIL  {rec.full}: the same")
            else:
                out.append(f"{boot.label} FAIL  {rec.full}")
                out += indent(report.symbolize(rec.diagnostics, boot.kernel_elf, ROOT))
                shown = rec.diagnostics
        boot.records += new
        if boot.config.post == "report":
            boot.records = self.check_report(boot)
            new = []
        failed = any(r.status == "fail" for r in boot.records)
        if failed or not run.via_debug_exit:
            out.append(f"{boot.label} boot '{boot.name}' (ktest={boot.glob}) ended after "
                       f"{run.duration_s:.1f} s: {ending}")
            if run.stderr.strip() and not run.via_debug_exit:
                out.append("    QEMU's stderr:")
                out += indent(run.stderr.strip().splitlines()[-10:], "    | ")
            if lines:
                out.append(f"    last {min(TAIL_LINES, len(lines))} serial lines of "
                           f"{rel(boot.log_path)}:")
                out += indent(tail, "    | ")
            else:
                out.append(f"    (no serial output at all; {rel(boot.log_path)} is empty)")
        if self.args.verbose:
            out.append(f"{boot.label} ----- {rel(boot.log_path)} "
                       f"({len(lines)} lines; {ending}) -----")
            out += report.symbolize(lines, boot.kernel_elf, ROOT)
            out.append(f"{boot.label} ----- end of {rel(boot.log_path)} -----")
        if out:
            say(*out)


def recap(failures: List[TestRecord]) -> List[str]:
    """One line per failure; the cases a boot never reached, which share one
    message, as one line per boot."""
    out: List[str] = []
    groups: Dict[tuple, List[TestRecord]] = {}
    for r in failures:
        groups.setdefault((r.config, r.boot_log, r.message), []).append(r)
    done = set()
    for r in failures:
        key = (r.config, r.boot_log, r.message)
        if key in done:
            continue
        g = groups[key]
        if len(g) > 3 and r.message.startswith("missing result"):
            done.add(key)
            names = ", ".join(x.full for x in g[:4]) + (", ..." if len(g) > 4 else "")
            out.append(f"  [{r.config}] {len(g)} cases: {names}: {r.message}   (log: {r.boot_log})")
        else:
            out.append(f"  [{r.config}] {r.full}: {r.message}   (log: {r.boot_log})")
    return out


# -------------------------------------------------------------------- builds

def parse_make_args(s: str) -> Dict[str, str]:
    """'OPT=-O2 EXTRA_TESTS=a.c b.c' -> {"OPT": "-O2", "EXTRA_TESTS": "a.c b.c"}.
    The Makefile does not quote the value of EXTRA_TESTS, so a word without
    NAME= belongs to the variable before it.  Quoted values work too."""
    out: Dict[str, str] = {}
    last = None
    for word in shlex.split(s or ""):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", word, re.S)
        if m:
            last = m.group(1)
            out[last] = m.group(2)
        elif last is not None:
            out[last] = (out[last] + " " + word).strip()
        else:
            raise SystemExit(f"run.py: --make-args: '{word}' is not NAME=value")
    return out


def build_variant(build: str, variant: str, make_vars: Dict[str, str],
                  make_args: Dict[str, str]) -> str:
    """Builds a variant kernel (e.g. OPT=-O0) into <build>/<variant>/ with make."""
    bdir = os.path.join(build, variant)
    vars_ = dict(make_args)
    vars_.update(make_vars)
    vars_["BUILD"] = os.path.abspath(bdir)
    cmd = ["make", "-C", ROOT, f"-j{os.cpu_count() or 1}"] + \
        [f"{k}={v}" for k, v in vars_.items()] + ["all"]
    # Called from `make test`, the environment carries the outer make's
    # command-line variables (MAKEFLAGS): they must not leak into this build.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    say(f"harness: building {rel(bdir)} ({' '.join(f'{k}={v}' for k, v in make_vars.items())})")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if p.returncode != 0:
        say(p.stdout.decode("utf-8", "replace"),
            f"run.py: building the {variant} kernel failed: {' '.join(shlex.quote(c) for c in cmd)}")
        raise SystemExit(1)
    return bdir


# ---------------------------------------------------------------------- main

def typer(pairs: List[Tuple[str, str]]):
    """The typist of a row's `typing` (configs.py): the pairs in order,
    each typed once, when a line matches its expression."""
    pending = list(pairs)

    def on_line(line: str) -> Optional[bytes]:
        if pending and re.search(pending[0][0], line):
            return pending.pop(0)[1].encode()
        return None
    return on_line


def default_jobs() -> int:
    """Boots at a time: one more than the host's cores. A boot is not all
    work for the host: QEMU starts up, idle vCPUs halt, tests sleep, and a
    fixed-length stress waits out its seconds whatever it gets. On the
    2-core development machine three at a time finished the matrix in 58
    to 60 s where two took 73 to 80 s, and four did no better than three
    (docs/testing.md)."""
    return (os.cpu_count() or 1) + 1


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Boot the kernel's tests under QEMU on every configuration and judge them.")
    p.add_argument("--build", default="build", help="build directory (default: build)")
    p.add_argument("--filter", default="*", metavar="GLOB",
                   help="run only the cases whose suite.name matches (default: *)")
    p.add_argument("--verbose", action="store_true", help="print every boot's whole log")
    p.add_argument("--make-args", default="",
                   help="make variables of this build (OPT=.. EXTRA_TESTS=..), "
                        "reused for the variant builds of configs.py")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds before a boot is killed and reported as a timeout (default 60)")
    p.add_argument("--jobs", "-j", type=int, default=default_jobs(),
                   help="boots at a time (default: one more than the cores)")
    p.add_argument("--config", action="append", metavar="NAME",
                   help="run only this configuration (repeat, or NAME,NAME)")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("--cmdline", default="", metavar="WORDS",
                   help="kernel command-line words added to every boot (bug=NAME, ...)")
    return p.parse_args(argv)


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    build = args.build
    kernel = os.path.join(build, "kernel.elf")
    if not os.path.exists(kernel):
        print(f"run.py: {kernel} does not exist: run `make` first (or `make test`, "
              "which builds it)", file=sys.stderr)
        return 1
    try:
        all_cases = elfindex.read_cases(kernel)
    except elfindex.ElfError as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 1
    for full in elfindex.duplicates(kernel):
        print(f"run.py: warning: two cases are named {full}; rename one (their results "
              "cannot be told apart)", file=sys.stderr)

    if args.list:
        for c in all_cases:
            if matches(c.full, args.filter):
                notes = (["expects a panic"] if c.expects_panic else []) + \
                    ([f"needs {c.min_cpus} CPUs"] if c.min_cpus > 1 else [])
                print(c.full + (f"   ({'; '.join(notes)})" if notes else ""))
        return 0

    cfgs = configs_mod.CONFIGS
    if args.config:
        names = [n for a in args.config for n in a.split(",") if n]
        unknown = [n for n in names if n not in [c.name for c in cfgs]]
        if unknown:
            print(f"run.py: no configuration {', '.join(unknown)}; there are: "
                  f"{', '.join(c.name for c in cfgs)}", file=sys.stderr)
            return 1
        cfgs = [c for c in cfgs if c.name in names]

    if not any(matches(c.full, args.filter) for c in all_cases):
        print(f"run.py: no test matches '{args.filter}': {kernel} has {len(all_cases)} "
              f"case(s); `python3 tests/harness/run.py --list` lists them", file=sys.stderr)
        print("0 passed, 0 failed, 0 skipped")
        return 1

    qemu_bin = qemu.find_qemu()
    if not qemu_bin:
        print("run.py: qemu-system-x86_64 is not installed: run tools/install-deps.sh "
              "(or `make deps`)", file=sys.stderr)
        return 1

    # Variant builds (e.g. OPT=-O0) first: they need make, the boots do not.
    make_args = parse_make_args(args.make_args)
    build_dirs: Dict[tuple, str] = {}
    harness_dir = os.path.join(build, "harness")
    boots: List[Boot] = []
    for cfg in cfgs:
        bdir = build
        if cfg.variant:
            key = (cfg.variant, tuple(sorted(cfg.make_vars.items())))
            if key not in build_dirs:
                build_dirs[key] = build_variant(build, cfg.variant, cfg.make_vars, make_args)
            bdir = build_dirs[key]
        cases = elfindex.read_cases(os.path.join(bdir, "kernel.elf")) if cfg.variant else all_cases
        shutil.rmtree(os.path.join(harness_dir, cfg.name), ignore_errors=True)
        os.makedirs(os.path.join(harness_dir, cfg.name), exist_ok=True)
        boots += plan_boots(cfg, cases, args.filter, bdir, harness_dir)

    nsel = sum(matches(c.full, args.filter) for c in all_cases)
    # (a configuration with `only` runs a subset of these: configs.py)
    say(f"harness: {nsel} case(s) matching '{args.filter}' x {len(cfgs)} configuration(s) "
        f"({', '.join(c.name for c in cfgs)}): {len(boots)} boot(s), "
        f"{max(1, args.jobs)} at a time, timeout {args.timeout:g} s each")

    start = time.monotonic()
    runner = Runner(args, qemu_bin)
    if not all(configs_mod.find_firmware(fw, runner.datadirs)
               for fw in configs_mod.FIRMWARE_FILES):
        say("harness: QEMU's qboot.rom is not in " + ", ".join(runner.datadirs) +
            ": every boot uses SeaBIOS, about 0.1 s of host CPU more each")
    # The main boots first: they take longest, so they should not start last;
    # the longest of them (by the cases they own) first, so that the last to
    # start are short and the panic boots fill in beside them (max-lazy, 310
    # cases, once started at 66 s of 97 and ended the run).
    # Of those, the first with several CPUs leads and the others with several
    # CPUs close the list: two multi-CPU boots side by side starve each
    # other's cross-CPU tests of the host's cores.
    order = sorted(boots, key=lambda b: (b.name != "main", -len(b.owned)))
    multi = [b for b in order if b.name == "main" and config_cpus(b.config) > 1]
    if len(multi) > 1:
        rest = [b for b in order if b not in multi[1:]]
        nmain = sum(1 for b in rest if b.name == "main")
        order = rest[:nmain] + multi[1:] + rest[nmain:]
        order.remove(multi[0])
        order.insert(0, multi[0])
    # Rows marked lead start first, together (configs.py).
    lead = [b for b in order if b.name == "main" and b.config.lead]
    order = lead + [b for b in order if b not in lead]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    futures = [pool.submit(runner.run, b) for b in order]
    try:
        for fut in concurrent.futures.as_completed(futures):
            fut.result()
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()             # the boots not started yet
        qemu.kill_all()              # and those running
        pool.shutdown(wait=True)
        print("\nrun.py: interrupted; QEMU processes killed", file=sys.stderr)
        return 130
    except BaseException:
        qemu.kill_all()              # a bug in the harness: leave no QEMU behind
        raise
    pool.shutdown(wait=True)
    wall = time.monotonic() - start

    # The final records, in a stable order: configuration, suite, index order.
    cfg_pos = {c.name: i for i, c in enumerate(cfgs)}
    case_pos = {c.full: i for i, c in enumerate(all_cases)}
    records = [r for b in boots for r in b.records]
    records.sort(key=lambda r: (cfg_pos.get(r.config, 99), r.suite == BOOT_SUITE, r.suite,
                                case_pos.get(r.full, 1 << 30), r.name))

    failures = [r for r in records if r.status == "fail"]
    if failures:
        say("", f"Failures ({len(failures)}):", *recap(failures))
    width = shutil.get_terminal_size((120, 24)).columns
    say("", report.summary_table(records, [c.name for c in cfgs], width))

    os.makedirs(build, exist_ok=True)
    xml_path = os.path.join(build, "test-results.xml")
    json_path = os.path.join(build, "test-results.json")
    report.write_junit(records, xml_path)
    report.write_json(records, json_path)
    html_path = os.path.join(build, "test-report.html")
    report.write_html(records, [c.name for c in cfgs], html_path, root=ROOT)
    bad_boots = [b for b in boots if not b.run or not b.run.via_debug_exit]
    npass = sum(r.status == "pass" for r in records)
    nskip = sum(r.status == "skip" for r in records)
    qemu_s = sum(b.run.duration_s for b in boots if b.run)
    if os.environ.get("HARNESS_TIMINGS"):
        for b in sorted((b for b in boots if b.run), key=lambda b: -b.run.duration_s)[:12]:
            say(f"  {b.run.duration_s:6.1f} s  {b.label} {b.name}")
        panic = [b for b in boots if b.run and b.name != "main"]
        say(f"  {sum(b.run.duration_s for b in panic):6.1f} s in {len(panic)} panic boots")
    say(f"results: {rel(xml_path)}, {rel(json_path)}, {rel(html_path)}; "
        f"logs: {rel(harness_dir)}/<config>/; "
        f"wall time {wall:.1f} s ({len(boots)} boots, {qemu_s:.1f} s of QEMU time)"
        + (f"; {len(bad_boots)} boot(s) did not end through isa-debug-exit" if bad_boots else ""))
    if failures:
        # Once more, short, where the tail of a long CI log still shows it.
        names = [f"[{r.config}] {r.full}" for r in failures]
        say("failed: " + ", ".join(names[:8]) + (f", and {len(names) - 8} more (above)"
                                                  if len(names) > 8 else ""))
    say(f"{npass} passed, {len(failures)} failed, {nskip} skipped")
    return 0 if not failures and not bad_boots else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
