#!/usr/bin/env python3
"""tools/labcheck.py - make lab-check: every lab works as a lab (CI runs it).

    python3 tools/labcheck.py [--lab NAME] [--keep DIR] [--full]

For each lab (labs/*.json), or the one named:
  1. the reference tree (this one) scores full marks: make grade LAB=name;
  2. if the lab has a bug switch ("bug" in its JSON), turning it on
     (CMDLINE=bug=NAME) lowers the score;
  3. the student tree, from make lab-tree, builds and boots, scores 0 on
     the lab's tests, and full marks on every other lab's, but those that
     list it in "needs" (their tests run on its subject: guests need the
     context-op chain's order);
  4. with --full (make lab-check FULL=1): the student tree's whole make
     test fails only cases of the lab, of the labs that need it (their
     cases run on its subject), or that its "affects" names (cases
     outside any lab that run on its subject: until the restore walk is
     right, every guest that keeps SSE values loses them). Every such case
     passes in the reference tree: CI's make test there, which runs first,
     fails on any failure.
Every "affects" entry must name a case the kernel has: a stale one is
reported.
Prints a line per check and exits 1 if any failed. Student trees go to a
temporary directory (--keep DIR: there, and left for a look).
"""
import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def labs():
    return sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "labs")) if f.endswith(".json"))


def grade(tree, lab, cmdline=""):
    """(score, max, output) of make grade in tree."""
    cmd = ["make", "-s", "-C", tree, "grade", f"LAB={lab}"] + \
        ([f"CMDLINE={cmdline}"] if cmdline else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    try:
        g = json.load(open(os.path.join(tree, "build", "grade.json")))
        if g["lab"] != lab:
            raise ValueError("stale")
        return g["score"], g["max"], out.stdout + out.stderr
    except (OSError, ValueError, KeyError):
        return None, None, out.stdout + out.stderr


def known_cases():
    """Every case's suite.name, from the harness's list (None if that fails)."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "harness", "run.py"),
                        "--build", os.path.join(ROOT, "build"), "--list"],
                       capture_output=True, text=True)
    if r.returncode:
        return None
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip() and "." in ln.split()[0]]


def failed_cases(tree):
    """The suite.name of every case that failed in tree's last make test, and
    the configurations it failed in, or None if there are no results."""
    try:
        results = json.load(open(os.path.join(tree, "build", "test-results.json")))
    except (OSError, ValueError):
        return None
    failed = {}
    for r in results:
        if r["status"] == "fail":
            failed.setdefault(f"{r['suite']}.{r['name']}", []).append(r["config"])
    return failed


def full_check(tree, lab, spec, specs, check):
    """make test in the student tree: what fails is the lab's, its
    dependants', or named by its "affects"."""
    started = time.monotonic()
    out = subprocess.run(["make", "-s", "-C", tree, "test"], capture_output=True, text=True)
    failed = failed_cases(tree)
    if failed is None:
        check(False, f"{lab}: make test in the student tree left no results",
              out.stdout + out.stderr)
        return
    dependants = [g for other in specs.values() if lab in other.get("needs", [])
                  for g in other["tests"]]
    globs = list(spec["tests"]) + dependants + spec.get("affects", [])
    outside = {c: cf for c, cf in failed.items()
               if not any(fnmatch.fnmatchcase(c, g) for g in globs)}
    affected = [c for c in failed if c not in outside and
                not any(fnmatch.fnmatchcase(c, g) for g in spec["tests"])]
    check(not outside, f"{lab}: the student tree's make test fails {len(failed)} case(s) in "
          f"{time.monotonic() - started:.0f} s, {len(outside)} outside the lab, the labs "
          f"that need it and its \"affects\"" + (f" ({len(affected)} affected: {', '.join(sorted(affected))})"
                              if affected else ""),
          "\n".join(f"{c}: failed in {', '.join(cf)}" for c, cf in sorted(outside.items())))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lab", action="append")
    p.add_argument("--keep", metavar="DIR")
    p.add_argument("--full", action="store_true",
                   help="also run make test in each student tree (about 100 s each)")
    a = p.parse_args()
    chosen = a.lab or labs()
    specs = {lab: json.load(open(os.path.join(ROOT, "labs", lab + ".json"))) for lab in labs()}
    unknown = [lab for lab in chosen if lab not in specs]
    if unknown:
        sys.exit(f"labcheck: no lab {', '.join(unknown)}; there are: {', '.join(specs)}")
    problems = []
    known = None

    def check(ok, what, output=""):
        print(f"  {'ok  ' if ok else 'FAIL'}  {what}", flush=True)
        if not ok:
            problems.append(what)
            if output:
                print("\n".join("        | " + ln for ln in output.splitlines()[-25:]))

    base = a.keep or tempfile.mkdtemp(prefix="labcheck-")
    start = time.monotonic()
    for lab in chosen:
        spec = specs[lab]
        print(f"labcheck: lab {lab}", flush=True)

        s, m, out = grade(ROOT, lab)
        check(s is not None and s == m and m > 0, f"{lab}: the reference tree scores {s}/{m}",
              out)
        if known is None:
            known = known_cases()           # the grade has built the kernel
            if known is None:
                check(False, "the harness could not list the kernel's cases (--list)")
                known = []
        stale = [g for g in spec.get("affects", []) if
                 not g.startswith("(") and not any(fnmatch.fnmatchcase(c, g) for c in known)]
        if stale:
            check(False, f"{lab}: \"affects\" names no case the kernel has: {', '.join(stale)}")
        if spec.get("bug"):
            bs, bm, out = grade(ROOT, lab, f"bug={spec['bug']}")
            check(bs is not None and bs < bm, f"{lab}: with bug={spec['bug']} it scores "
                  f"{bs}/{bm}", out)
        tree = os.path.join(base, lab)
        shutil.rmtree(tree, ignore_errors=True)
        made = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "labtree.py"),
                               "--lab", lab, "--dest", tree], capture_output=True, text=True)
        check(made.returncode == 0, f"{lab}: make lab-tree", made.stdout + made.stderr)
        if made.returncode:
            continue
        s, m, out = grade(tree, lab)
        check(s == 0 and m, f"{lab}: the student tree builds, boots and scores {s}/{m} on "
              "its own lab", out)
        for other in specs:
            if other != lab and lab in specs[other].get("needs", []):
                print(f"  --    {lab}: lab {other} needs lab {lab}'s subject: not graded "
                      "in its tree", flush=True)
            elif other != lab:
                s, m, out = grade(tree, other)
                check(s is not None and s == m and m > 0,
                      f"{lab}: the student tree scores {s}/{m} on lab {other}", out)
        if a.full:
            full_check(tree, lab, spec, specs, check)
        if not a.keep:
            shutil.rmtree(tree, ignore_errors=True)
    if not a.keep:
        shutil.rmtree(base, ignore_errors=True)
    took = time.monotonic() - start
    print(f"labcheck: {len(chosen)} lab(s), {len(problems)} problem(s), {took:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
