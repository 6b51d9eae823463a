"""OpenSSL functions that pyOpenSSL does not bind, called on pyOpenSSL's own OpenSSL.

Theory of operation
-------------------
pyOpenSSL's ``SSL_CTX`` objects belong to the OpenSSL that ``cryptography`` links
statically into its extension module (``cryptography/hazmat/bindings/_rust.abi3.so``);
only that copy may touch them (the system's libssl is another build, with other struct
layouts). Its cffi binding covers a fixed list of functions, and some that Node's API
needs are not on it (``SSL_CTX_ctrl``, behind ``SSL_CTX_set_tlsext_ticket_keys``). They
are in the file all the same, as local symbols of its ELF symbol table (``.symtab``:
the wheels are not stripped), only not exported.

So, once per name and lazily: ``dladdr`` on cffi's address of ``OpenSSL_version``
gives the path and load base of the object that holds pyOpenSSL's binding; the ELF64
section headers of that file, read with ``struct``, give ``.symtab`` and ``.strtab``;
the name's entry gives its offset from the load base; a ctypes function is made at
base + offset. Nothing is called unless the checks pass, since a wrong address would
crash the process: the file on disk is the one mapped, checked at every reading since
an upgrade may replace it under a running process (base + the file's value of cffi's
``_cffi_d_OpenSSL_version`` wrapper is cffi's address, and the GNU build-id in the
file is the one in memory), and the name is one defined function.

Where cryptography is built against OpenSSL's shared libraries instead (distribution
and conda packages; ``dladdr`` on OpenSSL's own static data, the ``TLS_method()`` table,
names another object than cffi's module), those functions are exported: ``dlsym`` on
that library gives them, no symbol table needed.

Anything else (a platform without ELF or ``dladdr``, a stripped file, a missing or
ambiguous symbol, a file replaced since it was loaded) is :class:`UnavailableError` with a
one-line reason, which callers turn into ``ERR_METHOD_NOT_IMPLEMENTED``.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib

__all__ = [
    "TICKET_FUNCTION",
    "TICKET_KEY_LENGTH",
    "UnavailableError",
    "context_pointer",
    "function",
    "get_ticket_keys",
    "reason",
    "reset",
    "set_ticket_keys",
]

# include/openssl/ssl.h.in
_SSL_CTRL_GET_TLSEXT_TICKET_KEYS = 58
_SSL_CTRL_SET_TLSEXT_TICKET_KEYS = 59
# ssl/s3_lib.c ssl3_ctx_ctrl: the key name (16 bytes), the HMAC secret (32) and the AES
# key (32), in that order; a NULL buffer asks for the length.
TICKET_KEY_LENGTH = 80

_SHT_SYMTAB = 2
_PT_NOTE = 4
_STT_FUNC = 2
_NT_GNU_BUILD_ID = 3
_ANCHOR = "OpenSSL_version"  # bound by cffi: the link between its binding and the file


class UnavailableError(Exception):
    """OpenSSL's function cannot be reached safely here; ``str()`` says why."""


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


class _Binary:
    """The object that holds pyOpenSSL's OpenSSL: the ELF file of cryptography's
    extension module, checked against its mapping, or OpenSSL's own shared library."""

    def __init__(self, path: str | None) -> None:
        self.anchor = _cffi_address(_ANCHOR)
        fname, self.base = _dladdr(self.anchor)
        self.path = path or fname
        self.addresses: dict[str, int | UnavailableError] = {}
        self.shared: ctypes.CDLL | None = None
        ssl_name, ssl_base = _dladdr(_openssl_data())
        if path is None and ssl_base != self.base:
            # OpenSSL is a shared library of its own (a distribution's or conda's build
            # of cryptography): the functions it exports are the ones pyOpenSSL calls.
            mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_NOW", 0)
            self.path = ssl_name
            self.shared = ctypes.CDLL(ssl_name, mode=mode)
            return
        self.lookup([])

    def lookup(self, names: Sequence[str]) -> dict[str, int]:
        """The names' offsets, read from the file once it has been shown to be the one
        mapped (each time: a package upgrade may replace it under a running process)."""
        with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            elf = _Elf(m, os.path.basename(self.path))
            offsets = elf.symbols(["_cffi_d_" + _ANCHOR, _ANCHOR], required=False)
            if self.anchor - self.base not in offsets.values():
                raise UnavailableError(f"{self.path} is not the file loaded (another build)")
            note = elf.build_id()
            if note is not None:
                vaddr, build_id = note
                if ctypes.string_at(self.base + vaddr, len(build_id)) != build_id:
                    raise UnavailableError(
                        f"{self.path} is not the file loaded (its build-id differs)"
                    )
            return elf.symbols(names)

    def address(self, name: str) -> int:
        found = self.addresses.get(name)
        if found is None:
            try:
                found = (
                    self._exported(name) if self.shared else self.base + self.lookup([name])[name]
                )
            except UnavailableError as exc:
                found = exc  # asked again, the answer is the same
            self.addresses[name] = found
        if isinstance(found, UnavailableError):
            raise found
        return found

    def _exported(self, name: str) -> int:
        try:
            fn = getattr(self.shared, name)
        except AttributeError:
            raise UnavailableError(
                f"{os.path.basename(self.path)} exports no function named {name}"
            ) from None
        return int(ctypes.cast(fn, ctypes.c_void_p).value or 0)


class _Elf:
    """Just enough of an ELF64 reader: section and program headers, symbols, notes."""

    def __init__(self, m: mmap.mmap, label: str) -> None:
        self.m, self.label = m, label
        if m[:4] != b"\x7fELF":
            raise UnavailableError(f"{label} is not an ELF file")
        if m[4] != 2 or m[5] not in (1, 2):
            raise UnavailableError(f"{label} is not a 64-bit ELF file")
        self.e = "<" if m[5] == 1 else ">"
        fields = struct.unpack_from(self.e + "HHIQQQIHHHHHH", m, 16)
        self.phoff, self.shoff = fields[4], fields[5]
        self.phentsize, self.phnum, self.shentsize, self.shnum = fields[8:12]

    def _section(self, index: int) -> tuple[int, ...]:
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...
        return struct.unpack_from(
            self.e + "IIQQQQIIQQ", self.m, self.shoff + index * self.shentsize
        )

    def symbols(self, names: Sequence[str], *, required: bool = True) -> dict[str, int]:
        """Each name's value (its offset from the load base), for defined functions."""
        symtab = next(
            (s for s in map(self._section, range(self.shnum)) if s[1] == _SHT_SYMTAB), None
        )
        if symtab is None:
            raise UnavailableError(f"{self.label} has no symbol table (stripped)")
        sym_start, sym_end, entsize = symtab[4], symtab[4] + symtab[5], symtab[9]
        strtab = self._section(symtab[6])
        str_start, str_end = strtab[4], strtab[4] + strtab[5]
        m, out = self.m, {}
        for name in names:
            values: set[int] = set()
            # Every place the name ends is a name offset (linkers share string tails).
            needle = name.encode() + b"\0"
            pos = m.find(needle, str_start, str_end)
            while pos != -1:
                key = struct.pack(self.e + "I", pos - str_start)
                hit = m.find(key, sym_start, sym_end)
                while hit != -1:
                    if (hit - sym_start) % entsize == 0:
                        _, info, _, shndx, value, _ = struct.unpack_from(self.e + "IBBHQQ", m, hit)
                        if info & 0xF == _STT_FUNC and shndx != 0 and value:
                            values.add(value)
                    hit = m.find(key, hit + 1, sym_end)
                pos = m.find(needle, pos + 1, str_end)
            if len(values) == 1:
                out[name] = values.pop()
            elif required:
                what = "no function" if not values else "several functions"
                raise UnavailableError(f"{self.label} has {what} named {name}")
        return out

    def build_id(self) -> tuple[int, bytes] | None:
        """The GNU build-id's address (relative to the load base) and bytes."""
        for i in range(self.phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                self.e + "IIQQQQ", self.m, self.phoff + i * self.phentsize
            )
            pos = 0
            while p_type == _PT_NOTE and pos + 12 <= p_filesz:
                namesz, descsz, kind = struct.unpack_from(self.e + "III", self.m, p_offset + pos)
                desc = pos + 12 + (namesz + 3) // 4 * 4
                name = self.m[p_offset + pos + 12 : p_offset + pos + 12 + namesz]
                if kind == _NT_GNU_BUILD_ID and name == b"GNU\0":
                    return p_vaddr + desc, self.m[p_offset + desc : p_offset + desc + descsz]
                pos = desc + (descsz + 3) // 4 * 4
        return None


def _cffi_address(name: str) -> int:
    """The address cffi calls for ``name`` (pyOpenSSL's ``lib`` is a module copied from
    cffi's ``Lib`` object, which alone knows addresses)."""
    try:
        from cryptography.hazmat.bindings._rust import _openssl  # type: ignore[import-not-found]
    except ImportError:
        try:
            from cryptography.hazmat.bindings import _openssl  # type: ignore[attr-defined,no-redef]
        except ImportError:
            raise UnavailableError("cannot locate cryptography's OpenSSL binding") from None
    try:
        return int(_ffi.cast("uintptr_t", _ffi.addressof(_openssl.lib, name)))
    except (AttributeError, TypeError) as exc:
        raise UnavailableError(f"cannot locate cryptography's OpenSSL binding ({exc})") from None


def _openssl_data() -> int:
    """An address inside OpenSSL itself: the ``SSL_METHOD`` table of ``TLS_method()``,
    static data of libssl wherever that was linked."""
    return int(_ffi.cast("uintptr_t", _lib.TLS_method()))


def _dladdr(address: int) -> tuple[str, int]:
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError, TypeError):
        raise UnavailableError("this platform has no dladdr") from None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    info = _DlInfo()
    if not dladdr(address, ctypes.byref(info)) or not info.dli_fname or not info.dli_fbase:
        raise UnavailableError("dladdr does not know pyOpenSSL's OpenSSL")
    return os.fsdecode(info.dli_fname), int(info.dli_fbase)


_lock = threading.Lock()
_path: str | None = None
_binary: _Binary | UnavailableError | None = None
_functions: dict[str, Callable[..., Any]] = {}


def _load() -> _Binary:
    global _binary
    if _binary is None:
        try:
            _binary = _Binary(_path)
        except UnavailableError as exc:
            _binary = exc
        except (OSError, ValueError, struct.error) as exc:  # unreadable or truncated
            _binary = UnavailableError(f"cannot read pyOpenSSL's OpenSSL: {exc}")
    if isinstance(_binary, UnavailableError):
        raise _binary
    return _binary


def function(name: str, restype: Any, argtypes: Sequence[Any]) -> Callable[..., Any]:
    """A ctypes function for OpenSSL's ``name`` in pyOpenSSL's OpenSSL (cached by name).

    Raises :class:`UnavailableError` when it cannot be reached safely.
    """
    with _lock:
        fn = _functions.get(name)
        if fn is None:
            address = _load().address(name)
            fn = ctypes.CFUNCTYPE(restype, *argtypes)(address)
            _functions[name] = fn
        return fn


def reason(name: str | None = None) -> str | None:
    """Why OpenSSL's private functions (or the one called ``name``) cannot be used
    here, or None when they can."""
    try:
        with _lock:
            binary = _load()
            if name is not None:
                binary.address(name)
    except UnavailableError as exc:
        return str(exc)
    return None


def reset(path: str | None = None) -> None:
    """Forget what was found; read ``path`` instead of the loaded file from now on
    (for tests: a stripped or rebuilt copy)."""
    global _path, _binary
    with _lock:
        _path, _binary = path, None
        _functions.clear()


def context_pointer(context: Any) -> int:
    """The ``SSL_CTX *`` of a pyOpenSSL ``Context``."""
    return int(_ffi.cast("uintptr_t", context._context))


TICKET_FUNCTION = "SSL_CTX_ctrl"


def _ctx_ctrl() -> Callable[..., int]:
    return function(
        TICKET_FUNCTION,
        ctypes.c_long,
        [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p],
    )


def _ticket_ctrl(context: Any, cmd: int, buf: Any) -> None:
    ctrl = _ctx_ctrl()
    ptr = context_pointer(context)
    length = ctrl(ptr, cmd, 0, None)
    if length != TICKET_KEY_LENGTH:
        raise UnavailableError(f"OpenSSL's ticket keys are {length} bytes, not {TICKET_KEY_LENGTH}")
    if ctrl(ptr, cmd, TICKET_KEY_LENGTH, buf) != 1:
        _lib.ERR_clear_error()
        raise UnavailableError("OpenSSL refused the ticket keys")


def set_ticket_keys(context: Any, keys: bytes) -> None:
    """Set OpenSSL's 80 bytes of ticket keys (name, HMAC secret, AES key) on a Context."""
    if len(keys) != TICKET_KEY_LENGTH:
        raise ValueError(f"ticket keys are {TICKET_KEY_LENGTH} bytes")
    _ticket_ctrl(context, _SSL_CTRL_SET_TLSEXT_TICKET_KEYS, ctypes.create_string_buffer(keys))


def get_ticket_keys(context: Any) -> bytes:
    """OpenSSL's 80 bytes of ticket keys of a Context."""
    buf = ctypes.create_string_buffer(TICKET_KEY_LENGTH)
    _ticket_ctrl(context, _SSL_CTRL_GET_TLSEXT_TICKET_KEYS, buf)
    return buf.raw
