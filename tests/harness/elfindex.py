"""elfindex.py - list the kernel's test cases by reading its ELF file.

Why read the ELF file instead of asking the kernel?  The harness has to know
*before* it boots anything which cases exist: it plans one boot per
KTEST_EXPECT_PANIC case, and it must notice a case that never reported a
result (the boot hung or crashed before reaching it).  A result that is
missing can only be noticed by someone who knew it should be there.

So every KTEST macro (include/ktest.h) also emits one line

    suite.name<TAB>kind<TAB>timeout<TAB>cpus<NEWLINE>

      kind      P: a KTEST_EXPECT_PANIC case; -: any other
      timeout   KTEST_TIMEOUT's seconds; 0: the kernel's default
      cpus      the CPUs the case needs online (KTEST_CPUS); 1 for most

into a section called `.ktest_index`.  The section has no ALLOC flag: the
linker concatenates the lines of every object file into the output file,
but the loader never copies it into memory, so it costs the kernel nothing.

This module parses just enough of ELF64 to find a section by name, using
only `struct` (no pyelftools):

  ELF header (64 bytes)       e_shoff: file offset of the section headers,
                              e_shentsize/e_shnum: their size and number,
                              e_shstrndx: which section holds their names
  section header (64 bytes)   sh_name (offset in the names section),
                              sh_type, sh_addr, sh_offset, sh_size, ...

It can also read the symbol table and the bytes at a virtual address, which
`cmdline_keys()` uses to list the kernel's command-line options (bench.py
uses that to find out whether the kernel understands `bench=`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, List, Optional


class ElfError(Exception):
    """The file is missing, not ELF64 little-endian, or lacks a section."""


@dataclass
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True)
class Case:
    """One test case as listed in .ktest_index."""
    suite: str
    name: str
    expects_panic: bool
    timeout_s: int = 0      # KTEST_TIMEOUT's seconds; 0: the kernel's default
    min_cpus: int = 1       # KTEST_CPUS: with fewer CPUs the kernel skips it

    @property
    def full(self) -> str:
        return f"{self.suite}.{self.name}"


SHT_SYMTAB = 2
SHT_NOBITS = 8
SHF_ALLOC = 0x2


class ElfFile:
    """A read-only view of an ELF64 little-endian file (the whole file is
    read into memory: a kernel is a few MiB at most)."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as f:
                self.data = f.read()
        except FileNotFoundError:
            raise ElfError(f"{path} does not exist")
        d = self.data
        if len(d) < 64 or d[:4] != b"\x7fELF":
            raise ElfError(f"{path} is not an ELF file")
        if d[4] != 2 or d[5] != 1:
            raise ElfError(f"{path} is not a 64-bit little-endian ELF file "
                           "(use kernel.elf, not kernel32.elf)")
        (shoff,) = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        raw = []
        for i in range(shnum):
            off = shoff + i * shentsize
            (name, typ, flags, addr, offset, size, link, _info, _align,
             entsize) = struct.unpack_from("<IIQQQQIIQQ", d, off)
            raw.append((name, typ, flags, addr, offset, size, link, entsize))
        if not raw or shstrndx >= len(raw):
            raise ElfError(f"{path} has no section name table")
        names_off = raw[shstrndx][4]
        self.sections: List[Section] = [
            Section(self._cstr(names_off + r[0]), *r[1:]) for r in raw
        ]

    def _cstr(self, off: int) -> str:
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode("utf-8", "replace")

    def section(self, name: str) -> Optional[Section]:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_bytes(self, name: str) -> Optional[bytes]:
        s = self.section(name)
        if s is None:
            return None
        if s.type == SHT_NOBITS:
            return bytes(s.size)
        return self.data[s.offset:s.offset + s.size]

    def symbols(self) -> Dict[str, int]:
        """name -> value for every named symbol of .symtab."""
        out: Dict[str, int] = {}
        for s in self.sections:
            if s.type != SHT_SYMTAB:
                continue
            strtab = self.sections[s.link]
            for off in range(s.offset, s.offset + s.size, s.entsize or 24):
                st_name, _info, _other, _shndx, value, _size = struct.unpack_from(
                    "<IBBHQQ", self.data, off)
                if st_name:
                    out[self._cstr(strtab.offset + st_name)] = value
        return out

    def read_vaddr(self, addr: int, size: int) -> Optional[bytes]:
        """The file's bytes at a virtual address of a loaded section."""
        for s in self.sections:
            if (s.flags & SHF_ALLOC and s.type != SHT_NOBITS
                    and s.addr <= addr and addr + size <= s.addr + s.size):
                off = s.offset + (addr - s.addr)
                return self.data[off:off + size]
        return None

    def read_cstr_vaddr(self, addr: int, limit: int = 256) -> Optional[str]:
        for s in self.sections:
            if s.flags & SHF_ALLOC and s.type != SHT_NOBITS and s.addr <= addr < s.addr + s.size:
                off = s.offset + (addr - s.addr)
                end = self.data.find(b"\0", off, off + limit)
                if end < 0:
                    return None
                return self.data[off:end].decode("utf-8", "replace")
        return None


def read_cases(path: str) -> List[Case]:
    """The test cases of a kernel, in link order.  Raises ElfError."""
    elf = ElfFile(path)
    data = elf.section_bytes(".ktest_index")
    if data is None:
        # No KTEST at all in the kernel: the section is simply not there.
        return []
    cases: List[Case] = []
    seen = set()
    for lineno, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
        line = line.strip("\0")
        if not line:
            continue
        # "suite.name<TAB>kind<TAB>timeout<TAB>cpus"
        fields = line.split("\t")
        full = fields[0]
        suite, dot, name = full.partition(".")
        if (len(fields) != 4 or not dot or fields[1] not in ("P", "-")
                or not all(f.isdigit() for f in fields[2:]) or int(fields[3]) < 1):
            raise ElfError(f"{path}: .ktest_index line {lineno} is malformed: {line!r} "
                           "(include/ktest.h: the timeout and CPU count must be "
                           "decimal literals)")
        if full in seen:
            continue  # the same case twice (a header included twice?): list it once
        seen.add(full)
        cases.append(Case(suite, name, fields[1] == "P", int(fields[2]), int(fields[3])))
    return cases


def duplicates(path: str) -> List[str]:
    """The suite.name that .ktest_index lists more than once."""
    data = ElfFile(path).section_bytes(".ktest_index") or b""
    seen, dup = set(), []
    for line in data.decode("utf-8", "replace").split("\n"):
        full = line.strip("\0").partition("\t")[0]
        if full and full in seen and full not in dup:
            dup.append(full)
        seen.add(full)
    return dup


# struct cmdline_opt (include/cmdline.h): key, type (+pad), var, choices,
# min, max, help: seven 8-byte slots.
CMDLINE_OPT_SIZE = 56


def cmdline_keys(path: str) -> Optional[List[str]]:
    """The keys the kernel's command line understands, read from the
    .cmdline_opts table between __cmdline_opts_start and _end; None when the
    table cannot be found."""
    try:
        elf = ElfFile(path)
        syms = elf.symbols()
    except (ElfError, ValueError, struct.error):
        return None
    start, end = syms.get("__cmdline_opts_start"), syms.get("__cmdline_opts_end")
    if start is None or end is None or end < start:
        return None
    keys = []
    for addr in range(start, end, CMDLINE_OPT_SIZE):
        raw = elf.read_vaddr(addr, 8)
        if raw is None:
            return None
        (kptr,) = struct.unpack("<Q", raw)
        key = elf.read_cstr_vaddr(kptr)
        if key is None:
            return None
        keys.append(key)
    return keys


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:] or ["build/kernel.elf"]:
        for c in read_cases(p):
            print(f"{c.full}\t{'P' if c.expects_panic else '-'}\t{c.timeout_s}\t{c.min_cpus}")
        print("# cmdline keys:", cmdline_keys(p))
