#!/usr/bin/env python3
"""tools/labtree.py - a lab's starting tree for students (make lab-tree).

    python3 tools/labtree.py --lab NAME --dest DIR     write the tree
    python3 tools/labtree.py --check                   check every marker

The solution of a lab lives in the source, between markers:

    /* LAB syscall BEGIN: what the region does */      C (or // ...)
    ... the solution ...
    /* LAB syscall STUB
    ... what the student starts from ...
    LAB syscall END */

    ; LAB switch BEGIN: ...                            nasm (or # ...)
    ... the solution ...
    ; LAB switch STUB
    ;	... the stub, each line behind the comment mark ...
    ; LAB switch END

Markers are read in source files (.c .h .asm .inc .S .ld) and in the
pages of docs/, where they are HTML comments (a page that explains the
solution has it in a region too):

    <!-- LAB ctxop BEGIN: the restore walk -->
    ... the explanation ...
    <!-- LAB ctxop STUB
    ... what the student's page says instead ...
    LAB ctxop END -->

docs/labs.md, which shows the markers, and labs/ are not read. The reference tree compiles the solution (the stub is inside a comment).
In the tree for lab NAME, each of NAME's regions becomes its stub (the
marker lines go, and a line comment mark in front of a stub line goes);
every other lab's regions keep their solution, without the marker lines,
so the rest of the kernel works and only NAME's tests fail. The tree is
the files git tracks (or, outside a git checkout, every file but build/),
written to DIR as a new git repository with one commit: a student's tree
carries no history, so no solution. The file .lab names the lab (the
grading workflow in .github/ reads it).
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = (".c", ".h", ".asm", ".inc", ".S", ".ld")	# where markers may be
DOCS = "docs/"		# and the subsystem pages (<!-- LAB x BEGIN --> ...), but
SHOWS_MARKERS = ("docs/labs.md",)	# the page that shows the markers
MARK = re.compile(r"\bLAB ([a-z][a-z0-9_-]*) (BEGIN|STUB|END)\b")
LINE_COMMENT = re.compile(r"^(\s*)(;|//|#)\s?")


class MarkerError(Exception):
    pass


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        return [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, subdirs, names in os.walk(root):
            rel = os.path.relpath(d, root)
            subdirs[:] = [s for s in subdirs if not (rel == "." and s in ("build", ".git"))]
            files += [os.path.normpath(os.path.join(rel, n)) for n in names]
        return files


def transform(path, lines, lab):
    """The lines of one file in lab's tree (lab None: only checked).
    Returns (lines, {lab: regions seen})."""
    out, seen = [], {}
    state, cur, start, stub_comment = None, None, 0, False
    for n, line in enumerate(lines, 1):
        m = MARK.search(line)
        if not m:
            if state is None or (state == "solution" and cur != lab):
                out.append(line)
            elif state == "stub" and cur == lab:
                out.append(LINE_COMMENT.sub(r"\1", line, count=1) if stub_comment else line)
            continue
        name, word = m.group(1), m.group(2)
        where = f"{path}:{n}"
        if word == "BEGIN":
            if state is not None:
                raise MarkerError(f"{where}: LAB {name} BEGIN inside LAB {cur}'s region "
                                  f"(begun at line {start})")
            state, cur, start = "solution", name, n
            seen[name] = seen.get(name, 0) + 1
        elif name != cur:
            raise MarkerError(f"{where}: LAB {name} {word} without LAB {name} BEGIN")
        elif word == "STUB":
            if state != "solution":
                raise MarkerError(f"{where}: a second LAB {name} STUB")
            state = "stub"
            stub_comment = bool(LINE_COMMENT.match(line))
        else:  # END
            if state != "stub":
                raise MarkerError(f"{where}: LAB {name} END without its STUB line")
            state = None
    if state is not None:
        raise MarkerError(f"{path}:{start}: LAB {cur} BEGIN is never closed (STUB, END)")
    return out, seen


def is_text(data):
    return b"\0" not in data[:8192]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lab")
    p.add_argument("--dest")
    p.add_argument("--check", action="store_true", help="check every file's markers")
    p.add_argument("--root", default=ROOT)
    a = p.parse_args()
    labs_dir = os.path.join(a.root, "labs")
    known = sorted(f[:-5] for f in os.listdir(labs_dir) if f.endswith(".json"))
    if not a.check and (not a.lab or not a.dest):
        sys.exit("usage: make lab-tree LAB=name DEST=dir   (labs: " + ", ".join(known) + ")")
    if a.lab and a.lab not in known:
        sys.exit(f"labtree: no lab '{a.lab}'; there are: {', '.join(known)} (labs/*.json)")
    if a.dest:
        dest = os.path.abspath(a.dest)
        if os.path.exists(dest) and os.listdir(dest):
            sys.exit(f"labtree: {a.dest} exists and is not empty: give a new directory")
    regions = {}
    written = []
    for rel in tracked_files(a.root):
        src = os.path.join(a.root, rel)
        if not os.path.isfile(src):
            continue
        data = open(src, "rb").read()
        marked = rel.endswith(SOURCE) or (rel.startswith(DOCS) and rel.endswith(".md")
                                          and rel not in SHOWS_MARKERS)
        if marked and is_text(data) and b"LAB " in data:
            text = data.decode("utf-8")
            keep_end = text.endswith("\n")
            try:
                lines, seen = transform(rel, text.split("\n")[:-1] if keep_end
                                        else text.split("\n"), a.lab)
            except MarkerError as e:
                sys.exit(f"labtree: {e}")
            for k, v in seen.items():
                regions[k] = regions.get(k, 0) + v
            data = ("\n".join(lines) + ("\n" if keep_end else "")).encode("utf-8")
        written.append((rel, data, os.stat(src).st_mode))
    unknown = sorted(set(regions) - set(known))
    if unknown:
        sys.exit(f"labtree: markers name labs that have no labs/NAME.json: {', '.join(unknown)}")
    if a.check:
        for lab in known:
            print(f"labtree: lab {lab}: {regions.get(lab, 0)} region(s)")
        missing = [lab for lab in known if not regions.get(lab)]
        if missing:
            sys.exit(f"labtree: labs without a region: {', '.join(missing)}")
        return
    if not regions.get(a.lab):
        sys.exit(f"labtree: lab {a.lab} has no LAB {a.lab} region in the source")
    for rel, data, mode in written:
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
        os.chmod(out, mode & 0o777)
    with open(os.path.join(dest, ".lab"), "w") as f:	# CI's grade workflow reads it
        f.write(a.lab + "\n")
    git = ["git", "-C", dest, "-c", "user.name=ctxkern labs", "-c", "user.email=labs@ctxkern"]
    subprocess.run(["git", "init", "-q", dest], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", f"Lab {a.lab}: the starting tree"], check=True)
    print(f"labtree: {dest}: lab {a.lab}'s starting tree ({regions[a.lab]} region(s) stubbed, "
          f"{len(written)} files); the handout is labs/{a.lab}.md, `make grade LAB={a.lab}` "
          "grades it")


if __name__ == "__main__":
    main()
