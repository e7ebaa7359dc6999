#!/usr/bin/env python3
"""cpuprofile.py - where a `make test` spent the host's CPU.

    CPU_PROFILE=1 make test
    python3 tools/cpuprofile.py [BUILD [N]]

With CPU_PROFILE=1 the harness writes, beside each boot's log, a file
<boot>.log.cpu: every serial line with the host CPU seconds its QEMU had
used when the line came, and the wall clock (tests/harness/qemu.py). This
reads them all and prints the boots that took more than 1.5 s of host CPU
on a time line (start and end in seconds from the first boot), then the N
cases (default 30) that took the most, each with its host CPU and wall
seconds. A case's share runs from the previous result line of its boot to
its own. The matrix on a 2-core host is bound by the host's CPU, not by
its longest boot (docs/testing.md), so these are the figures to cut.
"""
import collections
import glob
import os
import re
import sys


def main(argv):
    build = argv[1] if len(argv) > 1 else "build"
    top = int(argv[2]) if len(argv) > 2 else 30
    files = glob.glob(os.path.join(build, "harness", "*", "*.log.cpu"))
    if not files:
        print(f"cpuprofile.py: no {build}/harness/*/*.log.cpu: run CPU_PROFILE=1 make test",
              file=sys.stderr)
        return 1
    boots, cpu, wall = [], collections.Counter(), collections.Counter()
    for path in files:
        config, boot = path.split(os.sep)[-2], os.path.basename(path)[:-len(".log.cpu")]
        suite, last_cpu, last_wall, first_wall, t, w = "?", 0.0, None, None, 0.0, 0.0
        with open(path, encoding="utf-8", errors="replace") as f:
            for rec in f:
                parts = rec.split("\t", 2)
                if len(parts) < 3:
                    continue            # the rest of a line that held a newline
                try:
                    t, w = float(parts[0]), float(parts[1])
                except ValueError:
                    continue
                line = parts[2]
                if first_wall is None:
                    first_wall = last_wall = w
                m = re.match(r"\s*# Subtest: (\S+)", line)
                if m:
                    suite = m.group(1)
                m = re.match(r"\s+(?:not )?ok \d+ (\S+)", line)
                if m:
                    key = f"{config} {suite}.{m.group(1)}"
                    cpu[key] += t - last_cpu
                    wall[key] += w - last_wall
                    last_cpu, last_wall = t, w
        if first_wall is not None:
            boots.append((first_wall, w, t, config, boot))
    if not boots:
        print("cpuprofile.py: the .log.cpu files are empty (the boots printed nothing?)",
              file=sys.stderr)
        return 1
    t0 = min(b[0] for b in boots)
    print(f"{len(boots)} boots, {sum(b[2] for b in boots):.1f} s of host CPU; "
          f"the last ended {max(b[1] for b in boots) - t0:.1f} s after the first began")
    print(f"{'boot':44s} {'start':>6s} {'end':>6s} {'CPU s':>6s}")
    for start, end, t, config, boot in sorted(boots):
        if t > 1.5:
            print(f"{config + ' ' + boot:44s} {start - t0:6.1f} {end - t0:6.1f} {t:6.1f}")
    print(f"\n{'CPU s':>6s} {'wall s':>6s}  case")
    for key, c in cpu.most_common(top):
        print(f"{c:6.2f} {wall[key]:6.2f}  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
