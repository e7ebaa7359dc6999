"""tools/gdb/kernel.py - gdb helpers for the kernel, loaded by `make debug`.

Commands (type `help <command>` in gdb for details):
  kbootinfo   what the loader told the kernel: command line and memory map
  ktests      the test cases built into this kernel (from the ktest sections)
  kthreads    every thread: id, name, state, CPU, priority, context ops
  kctxops T   thread T's context ops, newest first (T: name, id or address),
              the same view as the monitor's `ctxops T`

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


STATES = {0: "runnable", 1: "running", 2: "sleeping", 3: "zombie"}


def list_threads():
    """Every struct thread on the kernel's list of all threads."""
    head = gdb.parse_and_eval("&all_threads")
    off = int(gdb.parse_and_eval("&((struct thread *)0)->all_link"))
    tptr = gdb.lookup_type("struct thread").pointer()
    node = head["next"]
    out = []
    while int(node) != int(head) and len(out) < 100000:
        out.append(gdb.Value(int(node) - off).cast(tptr))
        node = node["next"]
    return out


def find_thread(key):
    for t in list_threads():
        if t["name"].string() == key or str(int(t["id"])) == key:
            return t
    try:
        return gdb.parse_and_eval(key).cast(gdb.lookup_type("struct thread").pointer())
    except gdb.error:
        return None


def symbol(addr):
    """'function+0xoff' for a code address, from the ELF symbol table."""
    addr = int(addr)
    if not addr:
        return "-"
    out = gdb.execute("info symbol %#x" % addr, to_string=True).strip()
    if out.startswith("No symbol"):
        return "%#x" % addr
    name = out.split(" in section")[0]          # "func + 12" or "func"
    if " + " in name:
        fn, off = name.split(" + ")
        return "%s+0x%x" % (fn, int(off))
    return name


def ctxops_of(t):
    head = t["ctxops"]
    ops = []
    op = head
    while int(op) and len(ops) < 4096:
        ops.append(op)
        op = op["next"]
        if int(op) == int(head):
            break
    return ops


def last_tsc(op, t, handler, ring_field, kept_field):
    """As kernel/ctxop.c's last_save_tsc: the switch stamps the ring once per
    walk; an op attached since then keeps what it had."""
    if not int(op["tpl"][handler]):
        return 0
    ring = int(t[ring_field])
    return ring if ring > int(op["attached_tsc"]) else int(op[kept_field])


class KThreads(gdb.Command):
    """List every thread: id, name, state, CPU, priority, number of context ops."""

    def __init__(self):
        super().__init__("kthreads", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        print("%5s %-20s %-9s %3s %4s %6s  %s" % ("id", "name", "state", "cpu", "prio",
                                                  "ctxops", "address"))
        for t in list_threads():
            print("%5d %-20s %-9s %3d %4d %6d  %#x" % (
                int(t["id"]), t["name"].string(), STATES.get(int(t["state"]), "?"),
                int(t["cpu"]), int(t["prio"]), len(ctxops_of(t)), int(t)))


class KCtxops(gdb.Command):
    """kctxops THREAD: the thread's context ops, newest first (save order).

THREAD is a thread name, an id, or an expression for a struct thread *.
Each op shows its six handlers by symbol, its arg, and the TSC values of
its last save and restore (the kernel's raw timestamps, 0 for never)."""

    def __init__(self):
        super().__init__("kctxops", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        t = find_thread(arg.strip())
        if t is None:
            print("kctxops: no thread '%s' (kthreads lists them)" % arg.strip())
            return
        ops = ctxops_of(t)
        print("thread %d '%s': %d context op(s), newest first" % (
            int(t["id"]), t["name"].string(), len(ops)))
        for i, op in enumerate(ops):
            tpl = op["tpl"]
            print("  [%d] op %#x arg %#x  save_tsc %d restore_tsc %d" % (
                i, int(op), int(op["arg"]),
                last_tsc(op, t, "ct_save", "ctxop_save_tsc", "save_tsc"),
                last_tsc(op, t, "ct_restore", "ctxop_restore_tsc", "restore_tsc")))
            for h in ("ct_save", "ct_restore", "ct_fork", "ct_lwp_create", "ct_exit", "ct_free"):
                print("      %-14s %s" % (h[3:], symbol(tpl[h])))


KBootinfo()
KTests()
KThreads()
KCtxops()
