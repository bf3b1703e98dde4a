"""typing.NamedTuple's class syntax without typing nor collections (in Python 3.11 typing imports re, which imports
enum; and collections.namedtuple compiles a constructor for every class: together ~4 ms of every short command.
pyrunc-oci's `run` loads none of them). A module uses it so:

    TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
    if TYPE_CHECKING:
        from typing import NamedTuple  # what mypy checks
    else:
        from pyrunc.records import NamedTuple  # what runs

The class made behaves as typing's (a tuple subclass with the fields as read-only properties, `_fields`,
`_field_defaults`, `_make`, `_replace`, `_asdict`, the same repr, equality, hashing and pickling; the methods of
the class body copied onto it): fields from the annotations in order, defaults from their values. It has one
generic constructor instead of one generated per class. The module needs `from __future__ import
annotations` (the annotations are only read as names, never evaluated).
"""

from __future__ import annotations

from _operator import itemgetter  # the C module: operator.py adds its pure-Python copies, an import more

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

# typing's rules: these cannot be defined in the class body; those are not copied onto the class.
_PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make",
                         "_replace", "_asdict", "_source"})
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__", "__qualname__", "__doc__"})


def _constructor(typename: str, fields: tuple[str, ...], defaults: dict[str, Any]) -> Any:
    """`__new__(cls, *args, **kwargs)` with namedtuple's checks (too many, missing, unknown, given twice)."""
    count = len(fields)

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807 - the constructor itself
        if len(args) == count and not kwargs:
            return tuple.__new__(cls, args)
        if len(args) > count:
            raise TypeError(f"{typename}.__new__() takes {count + 1} positional arguments but {len(args) + 1} were given")
        values = list(args)
        for name in fields[len(args):]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif name in defaults:
                values.append(defaults[name])
            else:
                raise TypeError(f"{typename}.__new__() missing required argument: {name!r}")
        for name in kwargs:
            twice = name in fields[:len(args)]
            raise TypeError(f"{typename}.__new__() got {'multiple values for' if twice else 'an unexpected keyword'}"
                            f" argument {name!r}")
        return tuple.__new__(cls, values)

    return __new__


def _make(cls: Any, iterable: Iterable[Any]) -> Any:
    made = tuple.__new__(cls, iterable)
    if len(made) != len(cls._fields):
        raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(made)}")
    return made


def _replace(self: Any, **changes: Any) -> Any:
    made = self._make(changes.pop(name, value) for name, value in zip(self._fields, self))
    if changes:
        raise ValueError(f"Got unexpected field names: {list(changes)!r}")
    return made


def _asdict(self: Any) -> dict[str, Any]:
    return dict(zip(self._fields, self))


def _repr(self: Any) -> str:
    return f"{self.__class__.__name__}({', '.join(f'{n}={v!r}' for n, v in zip(self._fields, self))})"


def _getnewargs(self: Any) -> tuple[Any, ...]:
    return tuple(self)


class _NamedTupleMeta(type):
    def __new__(cls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if bases != (_NamedTuple,):
            raise TypeError("can only inherit from NamedTuple")
        fields = tuple(ns.get("__annotations__", {}))
        with_default = [name for name in fields if name in ns]
        if with_default and list(fields[-len(with_default):]) != with_default:
            raise TypeError(f"{typename}: a field without a default cannot follow fields with defaults")
        defaults = {name: ns[name] for name in with_default}
        body: dict[str, Any] = {
            "__slots__": (), "__module__": ns["__module__"], "__qualname__": ns.get("__qualname__", typename),
            "__doc__": ns.get("__doc__") or f"{typename}({', '.join(fields)})",
            "__annotations__": dict(ns.get("__annotations__", {})), "__match_args__": fields,
            "_fields": fields, "_field_defaults": defaults, "__new__": _constructor(typename, fields, defaults),
            "_make": classmethod(_make), "_replace": _replace, "_asdict": _asdict, "__repr__": _repr,
            "__getnewargs__": _getnewargs}
        for i, name in enumerate(fields):
            body[name] = property(itemgetter(i), doc=f"Alias for field number {i}")
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
            if key not in _SPECIAL and key not in fields:
                body[key] = value
        return type(typename, (tuple,), body)


_NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


def NamedTuple() -> None:  # noqa: N802 - typing's name, so that a module reads the same with either
    """Only a base class: `class X(NamedTuple)` gets _NamedTuple as its base through __mro_entries__ (as typing's)."""
    raise TypeError("pyrunc.records.NamedTuple is a base class only (no functional syntax)")


NamedTuple.__mro_entries__ = lambda bases: (_NamedTuple,)  # type: ignore[attr-defined]
