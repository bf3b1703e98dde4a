"""typing.NamedTuple's class syntax without importing typing (in Python 3.11 typing imports re, which imports
enum: ~5-8 ms of every short command; pyrunc-oci's `run` and `exec` load no typing at all). A module uses it so:

    TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
    if TYPE_CHECKING:
        from typing import NamedTuple  # what mypy checks
    else:
        from pyrunc.records import NamedTuple  # what runs: the same class, made by collections.namedtuple

The class made is what typing's would be (typing calls collections.namedtuple too, then copies the methods of
the class body): fields from the annotations in order, defaults from their values. The module needs
`from __future__ import annotations` (the annotations are only read as names, never evaluated).
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# typing's rules: these cannot be defined in the class body; those are not copied onto the class.
_PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make",
                         "_replace", "_asdict", "_source"})
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__", "__qualname__"})


class _NamedTupleMeta(type):
    def __new__(cls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if bases != (_NamedTuple,):
            raise TypeError("can only inherit from NamedTuple")
        fields = list(ns.get("__annotations__", {}))
        with_default = [name for name in fields if name in ns]
        if with_default and fields[-len(with_default):] != with_default:
            raise TypeError(f"{typename}: a field without a default cannot follow fields with defaults")
        made = collections.namedtuple(typename, fields, defaults=[ns[n] for n in with_default],  # type: ignore[misc]
                                      module=ns["__module__"])
        made.__annotations__ = dict(ns.get("__annotations__", {}))
        made.__qualname__ = ns.get("__qualname__", typename)
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
            if key not in _SPECIAL and key not in made._fields:
                setattr(made, key, value)
        return made


_NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


def NamedTuple() -> None:  # noqa: N802 - typing's name, so that a module reads the same with either
    """Only a base class: `class X(NamedTuple)` gets _NamedTuple as its base through __mro_entries__ (as typing's)."""
    raise TypeError("pyrunc.records.NamedTuple is a base class only (no functional syntax)")


NamedTuple.__mro_entries__ = lambda bases: (_NamedTuple,)  # type: ignore[attr-defined]
