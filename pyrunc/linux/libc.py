"""libc's functions through _ctypes (the C core of ctypes), without the ctypes package.

`import ctypes` costs ~3.5 ms (it defines some forty type classes, loads struct and runs its self-checks),
and every `pyrunc-oci exec` calls libc: prctl (the subreaper, dumpable, the capability sets), capset,
setns (os.setns comes with Python 3.12), close_range and rt_sigaction. What those need is here: the C
types, arrays of them, and a library whose functions are its attributes, as ctypes.CDLL(name,
use_errno=True) gives them (a result is a C int unless the function's restype says otherwise).

The types are C's own (libffi reads their `_type_` code), so ctypes' types work as arguments too, and
get_errno is ctypes' (the same per-thread copy of errno): code that has loaded ctypes can call these
functions with its c_char_p or byref.
"""

from __future__ import annotations

import _ctypes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

get_errno = _ctypes.get_errno
byref = _ctypes.byref
sizeof = _ctypes.sizeof
addressof = _ctypes.addressof
Structure = _ctypes.Structure


class c_int(_ctypes._SimpleCData):  # noqa: N801 - ctypes' names
    _type_ = "i"


class c_uint(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "I"


class c_long(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "L"


class c_ushort(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "H"


class c_char(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "c"


class c_void_p(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "P"


class c_char_p(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "z"


class c_ulonglong(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "Q"


c_uint32 = c_uint  # int is 32 bits on every architecture Linux runs Python on
c_uint64 = c_ulonglong  # long long is 64 bits everywhere
c_size_t = c_ulong  # as wide as a long on Linux (LP64 and ILP32)


def array(ctype: type, length: int) -> Any:
    """The type `ctype * length` of ctypes: call it to get a zeroed array (or with the first values)."""
    return type(f"{ctype.__name__}_Array_{length}", (_ctypes.Array,), {"_type_": ctype, "_length_": length})


class _Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class Library:
    """A shared library, as ctypes.CDLL(name, use_errno=True): `lib.name(args...)`; set `lib.name.restype`
    for a result that is not an int. Each function is looked up once and kept as an attribute."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._handle = _ctypes.dlopen(name, 0)  # RTLD_LOCAL, as CDLL's default mode (dlopen adds RTLD_NOW)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        # CFuncPtr looks the symbol up in self._handle (typeshed wants a CDLL there: any object with it will do)
        func = _Function((name, self))  # type: ignore[arg-type]
        setattr(self, name, func)
        return func
