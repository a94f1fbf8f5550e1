"""polars' own jemalloc, reached through its `mallctl`, to purge its freed pages after a request.

polars' runtime links a private jemalloc (symbols prefixed `_rjem_`) and exports none of its
functions, so its freed pages go back to the kernel only by its decay clock, and only when some
thread allocates again (docs/PERFORMANCE.md, eleventh round). Its symbol table is not
stripped, though: `_rjem_mallctl` is there as a local symbol. This module finds it in the
library file (an ELF symbol table read with the standard library, in the gunicorn master,
without importing polars), finds where a worker mapped that file (/proc/self/maps, by inode),
and calls it through ctypes once two checks pass:

* the function's first bytes in memory are the bytes of the file at that symbol (the address
  arithmetic is right), and
* `mallctl("version")` answers 0 with a version string (it is jemalloc's mallctl).

Anything else (another platform, a stripped or changed library, a failed check) gives None,
and the caller goes on without purging. jemalloc's own documented interface is used from then
on: `arena.<MALLCTL_ARENAS_ALL>.purge`, and `opt.*` reads for the log and the tests."""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import struct
from dataclasses import dataclass

SYMBOL = b"_rjem_mallctl"
MALLCTL_ARENAS_ALL = 4096  # jemalloc's index for "every arena" in arena.<i>.* names
CHECK_BYTES = 16
_SHT_SYMTAB = 2
_STT_FUNC = 2
_PT_LOAD = 1
_VERSION = re.compile(rb"^\d+\.\d+\.\d+")

_Mallctl = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_size_t),
    ctypes.c_void_p,
    ctypes.c_size_t,
)


@dataclass(frozen=True)
class Located:
    """Where `_rjem_mallctl` is in a library file: its address as linked (st_value), the
    bytes it starts with, and the file's identity and first loaded segment's address."""

    path: str
    device: int
    inode: int
    value: int
    head: bytes
    first_vaddr: int  # p_vaddr of the PT_LOAD segment at file offset 0


def locate(path: str, symbol: bytes = SYMBOL) -> Located | None:
    """Read `symbol` (a function) from the ELF symbol table of the 64-bit little-endian
    library at `path`; None where there is no such file, table or function."""
    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                found = _locate(data, symbol)
    except (OSError, ValueError, struct.error):
        return None
    if found is None:
        return None
    value, head, first_vaddr = found
    return Located(path, info.st_dev, info.st_ino, value, head, first_vaddr)


def _locate(data: mmap.mmap, symbol: bytes) -> tuple[int, bytes, int] | None:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # ELF64, little-endian
        return None
    (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    segments = [struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
    # PT_LOAD (1) segments: (file offset, address as linked, size in the file)
    loads = [
        (offset, vaddr, size) for kind, _, offset, vaddr, _, size in segments if kind == _PT_LOAD
    ]
    first = [vaddr for offset, vaddr, _ in loads if offset == 0]
    if not first:
        return None
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != _SHT_SYMTAB or entsize != 24 or link >= len(sections):
            continue
        names_at, names_size = sections[link][4], sections[link][5]
        # st_name offsets whose string is `symbol` (a name may also be the tail of a longer one)
        wanted, start = set(), names_at
        while (at := data.find(symbol + b"\x00", start, names_at + names_size)) >= 0:
            wanted.add(at - names_at)
            start = at + 1
        if not wanted:
            continue
        with memoryview(data)[offset : offset + size] as table:
            for name, info, _, shndx, value, _ in struct.iter_unpack("<IBBHQQ", table):
                if name in wanted and info & 0xF == _STT_FUNC and shndx != 0:
                    return value, _file_bytes(data, loads, value), first[0]
    return None


def _file_bytes(data: mmap.mmap, loads: list[tuple[int, int, int]], vaddr: int) -> bytes:
    for offset, start, size in loads:
        if start <= vaddr < start + size:
            at = offset + vaddr - start
            return bytes(data[at : at + CHECK_BYTES])
    raise ValueError("symbol outside every loaded segment")


def _load_base(located: Located) -> int | None:
    """The address this process mapped the library's offset-0 segment at (None: not mapped)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) < 5 or int(fields[2], 16) != 0:
                    continue
                major, minor = (int(part, 16) for part in fields[3].split(":"))
                if int(fields[4]) == located.inode and os.makedev(major, minor) == located.device:
                    return int(fields[0].split("-")[0], 16)
    except OSError:
        return None
    return None


class Jemalloc:
    """polars' jemalloc in this process, through its mallctl (see `attach`)."""

    def __init__(self, function: ctypes._CFunctionType) -> None:
        self._mallctl = function

    def version(self) -> str:
        value = ctypes.c_char_p()
        self._read("version", value)
        return (value.value or b"").decode("ascii", "replace")

    def read(self, name: str, ctype: type[ctypes._SimpleCData[int]] = ctypes.c_size_t) -> int:
        """A numeric setting or statistic: `ctype` is its C type in jemalloc's manual
        (opt.narenas is an unsigned, opt.dirty_decay_ms an ssize_t)."""
        value = ctype(0)
        self._read(name, value)
        return int(value.value)

    def purge(self) -> None:
        """Give every arena's freed (dirty and muzzy) pages back to the kernel now."""
        self._call(f"arena.{MALLCTL_ARENAS_ALL}.purge", None, None)

    def _read(self, name: str, value: ctypes._SimpleCData[int] | ctypes.c_char_p) -> None:
        size = ctypes.c_size_t(ctypes.sizeof(value))
        self._call(name, ctypes.addressof(value), ctypes.byref(size))

    def _call(self, name: str, old: int | None, size: object) -> None:
        code = self._mallctl(name.encode("ascii"), old, size, None, 0)
        if code != 0:
            raise OSError(code, f"mallctl({name!r}): {os.strerror(code)}")


def attach(located: Located) -> Jemalloc | None:
    """The jemalloc of the library `located` describes, as this process loaded it; None if it
    is not loaded here or either check (see the module's docstring) fails."""
    base = _load_base(located)
    if base is None:
        return None
    address = base - located.first_vaddr + located.value
    if ctypes.string_at(address, CHECK_BYTES) != located.head:
        return None
    allocator = Jemalloc(_Mallctl(address))
    try:
        version = allocator.version()
    except OSError:
        return None
    return allocator if _VERSION.match(version.encode("ascii", "replace")) else None
