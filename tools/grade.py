#!/usr/bin/env python3
"""tools/grade.py - make grade LAB=name: a lab's tests, their points, a score.

    python3 tools/grade.py --build build --lab NAME [--cmdline WORDS]
                           [--extra-tests 'a.c ...'] [--extra-utests 'u.c ...']
                           [--make-args '...']

A lab is labs/NAME.json (docs/labs.md):

    {"title": "...", "tests": {"GLOB": POINTS, ...}, "configs": ["max", ...],
     "bug": "NAME or null", "needs": ["LAB", ...], "affects": ["GLOB", ...]}

(needs: the labs whose subject this one's tests run on; make lab-check
does not expect full marks for it in their student trees. affects: cases
outside the lab, not graded, that run on its subject and may fail in its
student tree; make lab-check FULL=1 allows no other failure there.)

The cases graded are those the globs select, and every case of the files
given through EXTRA_TESTS and EXTRA_UTESTS (course staff's private tests:
read from the objects the build made of them). A case is worth, in order:
its KTEST_POINTS / UTEST_POINTS attribute (the .grade_points sections of
the kernel and of the test program), else its glob's points, else 1.

The harness (tests/harness/run.py) boots them in the lab's configurations;
a case earns its points if it passed in every configuration that ran it
and failed in none (a case skipped everywhere earns nothing: it did not
run). Prints a line per case with its points, a failing case's diagnostics
and serial lines, then `Score: X/Y`; writes build/grade.json; exits 0 only
with full marks.
"""
import argparse
import fnmatch
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import elfindex  # noqa: E402

LAB_KEYS = {"title", "tests", "configs", "bug", "needs", "affects"}


def fail(msg):
    print(f"grade: {msg}", file=sys.stderr)
    sys.exit(2)


def load_lab(name):
    labs = os.path.join(ROOT, "labs")
    known = sorted(f[:-5] for f in os.listdir(labs) if f.endswith(".json"))
    if not name:
        fail("say which lab: make grade LAB=name (labs: " + ", ".join(known) + ")")
    path = os.path.join(labs, name + ".json")
    if name not in known:
        fail(f"no lab '{name}'; there are: {', '.join(known)} (labs/*.json)")
    try:
        lab = json.load(open(path))
    except ValueError as e:
        fail(f"labs/{name}.json: {e}")
    bad = set(lab) - LAB_KEYS
    if bad or not isinstance(lab.get("tests"), dict) or not lab.get("configs"):
        fail(f"labs/{name}.json: needs 'tests' (glob: points) and 'configs'; "
             f"unknown keys: {', '.join(sorted(bad)) or 'none'}")
    return lab


def index_names(path, section):
    """The suite.name of each line of an index section (.ktest_index,
    .utest_index, .grade_points: the first field of each line)."""
    try:
        data = elfindex.ElfFile(path).section_bytes(section)
    except (OSError, elfindex.ElfError):
        return []
    if not data:
        return []
    return [ln.strip("\0").split("\t") for ln in data.decode("utf-8", "replace").split("\n")
            if ln.strip("\0")]


def extra_cases(build, tests, utests):
    """The cases of course staff's files, from the objects the Makefile
    made of them (named after each file's absolute path)."""
    out = []
    for files, sub, section in ((tests, "extra", ".ktest_index"),
                                (utests, os.path.join("user", "extra"), ".utest_index")):
        for f in shlex.split(files or ""):
            obj = os.path.join(build, sub, os.path.abspath(f)[:-2].replace("/", "_") + ".o")
            if not os.path.exists(obj):
                fail(f"{f}: its object {obj} is not built (is it a .c file? make grade builds "
                     "what EXTRA_TESTS and EXTRA_UTESTS name)")
            names = [fields[0] for fields in index_names(obj, section)]
            if not names:
                print(f"grade: warning: {f} has no test case", file=sys.stderr)
            out += names
    return out


def points_of(build):
    pts = {}
    for elf in (os.path.join(build, "kernel.elf"), os.path.join(build, "user", "utests.elf")):
        for fields in index_names(elf, ".grade_points"):
            if len(fields) == 2 and fields[1].isdigit():
                pts[fields[0]] = int(fields[1])
            else:
                fail(f"{elf}: a .grade_points line is malformed: {fields!r} (KTEST_POINTS "
                     "and UTEST_POINTS take a decimal literal)")
    return pts


def serial_lines(log, name, most=16):
    """The case's own lines of a boot's log: from the previous result to
    its "not ok" (at most `most`)."""
    try:
        lines = open(log, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return []
    short = name.split(".", 1)[1]
    for i, ln in enumerate(lines):
        if ln.strip().startswith("not ok") and ln.rstrip().endswith(" " + short):
            j = i
            while j > max(0, i - most) and not lines[j - 1].strip().startswith(("ok ", "not ok ")):
                j -= 1
            return lines[j:i + 1]
    return lines[-most:]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build")
    p.add_argument("--lab")
    p.add_argument("--cmdline", default="", help="kernel command-line words for every boot")
    p.add_argument("--extra-tests", default="")
    p.add_argument("--extra-utests", default="")
    p.add_argument("--make-args", default="")
    p.add_argument("--quiet", action="store_true", help="only the score line")
    a = p.parse_args()
    lab = load_lab(a.lab)
    kernel = os.path.join(a.build, "kernel.elf")
    cases = [c.full for c in elfindex.read_cases(kernel)]
    globs = lab["tests"]
    for g in globs:
        if not any(fnmatch.fnmatchcase(c, g) for c in cases):
            fail(f"labs/{a.lab}.json: the glob {g} selects no case of {kernel}")
    extra = extra_cases(a.build, a.extra_tests, a.extra_utests)
    attr = points_of(a.build)
    graded = {}
    for c in cases:
        for g, pts in globs.items():
            if fnmatch.fnmatchcase(c, g):
                graded.setdefault(c, pts)
    for c in extra:
        graded.setdefault(c, 1)
    for c in graded:
        if c in attr:
            graded[c] = attr[c]

    # The kernel takes a command-line word of up to 1023 bytes: a longer
    # list of cases runs their whole suites, and only the graded count.
    filt = ",".join(list(globs) + extra)
    if len(filt) > 900:
        filt = ",".join(sorted({c.split(".")[0] + ".*" for c in graded}))
    cmd = [sys.executable, os.path.join(ROOT, "tests", "harness", "run.py"), "--build", a.build,
           "--filter", filt, "--config", ",".join(lab["configs"]), "--timeout", "30",
           "--make-args", a.make_args]
    if a.cmdline:
        cmd += ["--cmdline", a.cmdline]
    os.makedirs(os.path.join(a.build, "grade"), exist_ok=True)
    hlog = os.path.join(a.build, "grade", "harness.log")
    results = os.path.join(a.build, "test-results.json")
    # An earlier run's results must never be graded as this one's.
    for old in (results, os.path.join(a.build, "grade.json")):
        if os.path.exists(old):
            os.remove(old)
    start = time.monotonic()
    with open(hlog, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    took = time.monotonic() - start
    try:
        records = json.load(open(results))
    except (OSError, ValueError):
        print(open(hlog).read()[-3000:])
        fail(f"the harness wrote no results (exit {rc}; its output: {hlog})")
    ran = {r["config"] for r in records}
    if not ran or not ran <= set(lab["configs"]):
        fail(f"the harness's results are for {sorted(ran)}, not the lab's {lab['configs']} "
             f"(its output: {hlog})")

    by_case = {}
    for r in records:
        by_case.setdefault(f"{r['suite']}.{r['name']}", []).append(r)
    boot_failures = [r for r in records if r["suite"] == "(boot)" and r["status"] == "fail"]

    title = lab.get("title", a.lab)
    print(f"grade: lab {a.lab}: {title}")
    print(f"grade: {len(graded)} case(s) in {', '.join(lab['configs'])}"
          + (f", with {a.cmdline}" if a.cmdline else ""))
    score = total = 0
    report = []
    for c in sorted(graded, key=lambda c: (c not in extra, c)):
        pts = graded[c]
        rs = by_case.get(c, [])
        statuses = {r["config"]: r["status"] for r in rs}
        ok = bool(rs) and any(s == "pass" for s in statuses.values()) and \
            not any(s == "fail" for s in statuses.values())
        why = ("did not run in any of the lab's configurations" if not rs else
               "skipped in every configuration" if all(s == "skip" for s in statuses.values())
               else "")
        got = pts if ok else 0
        score += got
        total += pts
        mark = "PASS" if ok else "FAIL"
        where = ", ".join(f"{k}" + ("" if v == "pass" else f" {v}") for k, v in statuses.items())
        print(f"  {mark}  {got:>2}/{pts:<2} {c}{'  (private)' if c in extra else ''}"
              f"  [{where}]" + (f": {why}" if why else ""))
        diags = []
        for r in rs:
            if r["status"] != "fail":
                continue
            diags.append(f"[{r['config']}] " + (r["diagnostics"].splitlines() or ["failed"])[0])
            diags += ["    " + d for d in r["diagnostics"].splitlines()[1:12]]
            diags.append(f"    serial lines around it ({r['boot_log']}):")
            diags += ["      | " + ln for ln in serial_lines(r["boot_log"], c)]
        if not a.quiet:
            for d in diags:
                print("        " + d)
        report.append({"name": c, "points": got, "max": pts, "status": mark.lower(),
                       "configs": statuses, "private": c in extra, "why": why,
                       "diagnostics": diags})
    for r in boot_failures:
        print(f"  (boot) [{r['config']}] {r['name']}: {r['diagnostics'].splitlines()[0]}")
    print(f"Score: {score}/{total}")
    out = os.path.join(a.build, "grade.json")
    with open(out, "w") as f:
        json.dump({"lab": a.lab, "title": title, "score": score, "max": total,
                   "configs": lab["configs"], "cmdline": a.cmdline, "seconds": round(took, 1),
                   "tests": report}, f, indent=1)
    if not a.quiet:
        print(f"grade: {out}; JUnit: {os.path.join(a.build, 'test-results.xml')}; "
              f"{took:.1f} s")
    return 0 if total and score == total else 1


if __name__ == "__main__":
    sys.exit(main())
