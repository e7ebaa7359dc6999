"""tools/gdb/kernel.py - gdb helpers for the kernel, loaded by `make debug`.

Commands (type `help <command>` in gdb for details):
  kbootinfo   what the loader told the kernel: command line and memory map
  ktests      the test cases built into this kernel (from the ktest sections)

They read the kernel's own data structures through gdb's Python API, so they
work on a kernel halted anywhere (a breakpoint, a hang, a panic's halt loop).
"""
import gdb

MMAP_TYPES = {1: "usable", 2: "reserved", 3: "ACPI reclaimable", 4: "ACPI NVS", 5: "bad"}


class KBootinfo(gdb.Command):
    """Print the boot command line and memory map (struct bootinfo)."""

    def __init__(self):
        super().__init__("kbootinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        bi = gdb.parse_and_eval("bootinfo")
        print("multiboot %d, cmdline: %s" % (int(bi["multiboot_version"]),
                                             bi["cmdline"].string()))
        for i in range(int(bi["nmmap"])):
            e = bi["mmap"][i]
            base, length, kind = int(e["base"]), int(e["len"]), int(e["type"])
            print("  %#014x-%#014x %-16s %8d KiB" % (base, base + length,
                  MMAP_TYPES.get(kind, "type %d" % kind), length // 1024))


class KTests(gdb.Command):
    """List the KTEST cases linked into the kernel: suite.name file:line."""

    def __init__(self):
        super().__init__("ktests", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        ktest = gdb.lookup_type("struct ktest")
        start = gdb.parse_and_eval("(struct ktest *)&__ktest_start")
        end = gdb.parse_and_eval("(struct ktest *)&__ktest_end")
        n = (int(end) - int(start)) // ktest.sizeof
        for i in range(n):
            t = start[i]
            kind = " (expects panic)" if int(t["panic_text"]) else ""
            print("  %s.%s  %s:%d%s" % (t["suite"].string(), t["name"].string(),
                                       t["file"].string(), int(t["line"]), kind))


KBootinfo()
KTests()
