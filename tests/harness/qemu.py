"""qemu.py - run one boot of the kernel under QEMU and watch its serial port.

A boot is one QEMU process.  The harness starts it with `-serial stdio`, so
everything the kernel prints on COM1 arrives on a pipe: this module reads
it line by line *while the guest runs*, writes each raw line to the boot's
log file (build/harness/<config>/<boot>.log, flushed at once, so
`tail -f` works), and hands the line to a callback that parses the KTAP
results and prints progress.

How a boot can end, and what the harness makes of it (`ending()`):

  exit 33   isa-debug-exit, value 0x10: the kernel's verdict "all passed"
  exit 35   isa-debug-exit, value 0x11: the kernel's verdict "a failure"
  exit 0    QEMU stopped by itself without the debug-exit device.  With
            -no-reboot that means the guest reset: almost always a triple
            fault (an exception while the CPU could not deliver one)
  timeout   the guest ran past --timeout seconds (it hangs: a loop with
            interrupts off, a deadlock); the harness kills QEMU
  exit 1    QEMU itself failed (bad argument, missing file): see its stderr
  signal    QEMU was killed by someone else

Only exits 33 and 35 count as "ended through isa-debug-exit"; anything else
fails the boot and every test it had not reported yet.

With CPU_PROFILE=1 in the environment, each line also goes to <boot>.log.cpu
with the host CPU time QEMU had used when it came (cpu_profile_line).

The timeout is a threading.Timer that kills the process; reading the pipe
then sees end-of-file, so no read ever needs its own timeout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

EXIT_PASS = 33
EXIT_FAIL = 35

INSTALL_HINT = "run tools/install-deps.sh (or `make deps`) to install it"

# Every QEMU this process started and that still runs, so that Ctrl-C can
# stop them (kill_all) instead of leaving guests spinning in the background.
_live = set()
_live_lock = threading.Lock()


_stopping = False


def interrupted() -> bool:
    return _stopping


def kill_all() -> None:
    """Kills every running QEMU and refuses to start new ones."""
    global _stopping
    with _live_lock:
        _stopping = True
        for p in list(_live):
            try:
                p.kill()
            except OSError:
                pass


@dataclass
class BootRun:
    """What happened to one QEMU process."""
    cmd: List[str]
    log_path: str
    exit_code: Optional[int] = None
    timed_out: bool = False
    timeout_s: float = 0.0
    duration_s: float = 0.0
    stderr: str = ""
    lines: List[str] = field(default_factory=list)   # raw serial lines, decoded
    error: Optional[str] = None                      # could not even start

    @property
    def via_debug_exit(self) -> bool:
        return not self.timed_out and self.error is None and \
            self.exit_code in (EXIT_PASS, EXIT_FAIL)

    def ending(self) -> str:
        """How the boot ended, in words."""
        if self.error:
            return self.error
        if self.timed_out:
            return f"timeout after {self.timeout_s:g} s (QEMU killed; a hang?)"
        c = self.exit_code
        if c == EXIT_PASS:
            return "isa-debug-exit: the kernel reported all passed (exit 33)"
        if c == EXIT_FAIL:
            return "isa-debug-exit: the kernel reported a failure (exit 35)"
        if c == 0:
            return "reboot/triple fault (no isa-debug-exit; QEMU exit 0 under -no-reboot)"
        if c is not None and c < 0:
            return f"QEMU killed by signal {-c}"
        err = self.stderr.strip().splitlines()
        detail = f": {err[-1]}" if err else ""
        if c is not None and c % 2 == 1 and c > 1:
            return (f"QEMU exit {c} (isa-debug-exit value 0x{(c - 1) // 2:x}, "
                    f"which is neither pass 0x10 nor fail 0x11){detail}")
        return f"QEMU exit {c} (QEMU error?){detail}"


def find_qemu() -> Optional[str]:
    return shutil.which(os.environ.get("QEMU", "qemu-system-x86_64"))


def cpu_profile_line(pid: int, raw: bytes) -> str:
    """CPU_PROFILE=1: "host CPU seconds QEMU has used<TAB>wall clock<TAB>the
    line", for tools/cpuprofile.py, which turns the log.cpu files of a run
    into each case's and each boot's share of the host (docs/testing.md).
    Linux's /proc/PID/stat: fields 14 and 15, utime and stime, in ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return ""
    return f"{cpu:.2f}\t{time.time():.2f}\t{raw.decode('utf-8', 'replace')}"


def run_boot(cmd: List[str], log_path: str, timeout_s: float,
             on_line: Callable[[str, float], None],
             typer: Optional[Callable[[str], Optional[bytes]]] = None) -> BootRun:
    """Runs QEMU (`cmd` must contain -serial stdio), calling on_line(line,
    monotonic_time) for every serial line as it arrives. With a typer, what
    typer(line) returns for a line (bytes, or None) is typed into the serial
    console: QEMU's standard input."""
    run = BootRun(cmd=cmd, log_path=log_path, timeout_s=timeout_s)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start = time.monotonic()
    with _live_lock:
        if _stopping:
            run.error = "not started: the harness was interrupted"
            return run
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if typer else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            run.error = f"could not start {cmd[0]}: {e}; {INSTALL_HINT}"
            return run
        _live.add(proc)

    stderr_chunks: List[bytes] = []
    err_thread = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()),
                                  daemon=True)
    err_thread.start()

    def expire():
        run.timed_out = True
        proc.kill()

    timer = threading.Timer(timeout_s, expire)
    timer.daemon = True
    timer.start()
    profile = None
    try:
        if os.environ.get("CPU_PROFILE"):
            profile = open(log_path + ".cpu", "w")
        with open(log_path, "wb") as log:
            for raw in iter(proc.stdout.readline, b""):
                if profile:
                    profile.write(cpu_profile_line(proc.pid, raw))
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                run.lines.append(line)
                on_line(line, time.monotonic())
                typed = typer(line) if typer else None
                if typed:
                    try:
                        proc.stdin.write(typed)
                        proc.stdin.flush()
                    except OSError:
                        pass             # QEMU has gone: the boot's end says why
        proc.wait()
    finally:
        if profile:
            profile.close()
        timer.cancel()
        if proc.poll() is None:       # an exception in on_line: do not leak QEMU
            proc.kill()
            proc.wait()
        with _live_lock:
            _live.discard(proc)
    err_thread.join(timeout=5)
    run.stderr = b"".join(stderr_chunks).decode("utf-8", "replace")
    run.exit_code = proc.returncode
    run.duration_s = time.monotonic() - start
    return run


def grub_quote(word: str) -> str:
    """A word for grub.cfg: GRUB's script language quotes like the shell, so
    single quotes keep '*' and '[' from its wildcard expansion."""
    return "'" + word.replace("'", "'\\''") + "'"


def make_iso(kernel_elf: str, grub_cfg_template: str, cmdline_words: List[str],
             workdir: str, iso_path: str,
             modules: Optional[List[Tuple[str, str]]] = None) -> Optional[str]:
    """Builds a GRUB CD image that boots kernel_elf with this command line
    (the template's @CMDLINE@ is replaced, as the Makefile does) and these
    boot modules, (file, name) pairs: each copied to /boot/modules/ and
    loaded by a `module2 FILE NAME` line in place of @MODULES@.  Returns
    None, or an error message."""
    mkrescue = shutil.which("grub-mkrescue")
    if not mkrescue:
        return f"grub-mkrescue is not installed; {INSTALL_HINT}"
    isodir = os.path.join(workdir, "isodir")
    shutil.rmtree(isodir, ignore_errors=True)
    os.makedirs(os.path.join(isodir, "boot", "grub"))
    shutil.copyfile(kernel_elf, os.path.join(isodir, "boot", "kernel.elf"))
    with open(grub_cfg_template) as f:
        cfg = f.read()
    cfg = cfg.replace("@CMDLINE@", " ".join(grub_quote(w) for w in cmdline_words))
    lines = []
    for path, name in modules or []:
        os.makedirs(os.path.join(isodir, "boot", "modules"), exist_ok=True)
        dest = f"/boot/modules/{name}"
        shutil.copyfile(path, os.path.join(isodir, dest.lstrip("/")))
        lines.append(f"module2 {dest} {grub_quote(name)}")
    cfg = cfg.replace("@MODULES@", "\n\t".join(lines))
    with open(os.path.join(isodir, "boot", "grub", "grub.cfg"), "w") as f:
        f.write(cfg)
    p = subprocess.run([mkrescue, "-o", iso_path, isodir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        out = p.stdout.decode("utf-8", "replace").strip()
        return (f"grub-mkrescue failed (exit {p.returncode}); it needs xorriso and "
                f"mtools: {INSTALL_HINT}\n{out}")
    return None
