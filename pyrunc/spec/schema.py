"""One generic decoder/encoder for the model dataclasses.

Each model class is its own schema: a field's JSON name is the camelCase of its Python name (or
``spec_field(json=...)``), its type annotation says what the value must be, and a field without a default is
required. Per-field rules (enum, single-value check, dict key/value checks) sit in the field metadata.
Class-level tables say what to do with keys that are not fields:
  _RAW          kept verbatim in the ``ignored`` dict (valid in Kubernetes, meaningless on one node)
  _DROPPED      accepted and forgotten (server-set metadata, status)
  _UNSUPPORTED  rejected with a specific message instead of "unknown field"
Everything else is an unknown field, as with ``kubectl --validate=strict``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from pyrunc.errors import FieldError
from pyrunc.spec.quantity import Quantity, parse_quantity

Check = Callable[[Any], "str | None"]
_BAD = object()  # a value that failed to decode; the error is already recorded


def spec_field(default: Any = MISSING, *, factory: Any = MISSING, json: str = "", enum: tuple[str, ...] = (),
               check: Check | None = None, key_check: Check | None = None, value_check: Check | None = None,
               zero_is_default: bool = False, required: bool = False, kw_only: bool = False, keep: bool = False) -> Any:
    """A dataclass field carrying its API rules. ``zero_is_default``: 0 in the input means "use the default"
    (the API server defaults int32 probe fields that way). ``required``: must be in the input even though the
    Python constructor has a default. ``keep``: printed even when empty (a Go field the API server defaults
    to its zero value through a pointer, such as hostPath ``type: ""``)."""
    meta = {"json": json, "enum": enum, "check": check, "key_check": key_check, "value_check": value_check,
            "zero_is_default": zero_is_default, "required": required, "keep": keep}
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta, kw_only=kw_only)
    return dataclasses.field(default=default, metadata=meta, kw_only=kw_only)


def json_name(f: dataclasses.Field[Any]) -> str:
    if f.metadata.get("json"):
        return str(f.metadata["json"])
    first, *rest = f.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None if f.default is MISSING else f.default


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("required")) or (f.default is MISSING and f.default_factory is MISSING)


def _is_zero(value: Any) -> bool:
    return value is None or (not isinstance(value, Quantity) and value in ("", 0, (), {}))


def _optional_of(tp: Any) -> Any:
    """``X | None`` -> X; anything else -> None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean " + str(value).lower()
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_SHAPES: dict[type, tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]] = {}


def _class_shape(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    """A model class's resolved type hints and its fields by JSON name, worked out once per class: resolving
    the string annotations (`from __future__ import annotations`) at every decode was most of decoding a pod
    (the benchmark's pod: 2.5 ms -> 0.8 ms from its text, 3.8 ms -> 0.5 ms from its stored dict), paid by the
    supervisor on every apply. The classes are module-level and never redefined."""
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = (typing.get_type_hints(cls), {json_name(f): f for f in fields(cls) if f.name != "ignored"})
        _SHAPES[cls] = shape
    return shape


class Decoder:
    """Turns decoded JSON/YAML into model instances, recording every problem in ``errors``.

    ``homes`` names where well-known keys belong (("spec", PodSpec), ...) so a misplaced key gets a hint.
    A value that fails is replaced by its type's zero value, so list indexes stay right for later checks.
    """

    def __init__(self, homes: Iterable[tuple[str, type]] = (), hinted: Iterable[type] = ()) -> None:
        self.errors: list[FieldError] = []
        self.homes = tuple(homes)
        # Misplaced-key hints are given only in these classes (and the homes): deeper down they would mislead.
        self.hinted = {cls for _, cls in self.homes} | set(hinted)

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def decode(self, cls: type, data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            self.error(path, f"expected object, got {_describe(data)}")
            return self.zero(cls)
        hints, by_json = _class_shape(cls)
        ignored: dict[str, object] = {}
        for key, value in data.items():
            if key in by_json:
                continue
            if not isinstance(key, str):
                self.error(_join(path, str(key)), f"expected string key, got {_describe(key)}")
            elif key in getattr(cls, "_RAW", ()):
                ignored[key] = value
            elif key in getattr(cls, "_UNSUPPORTED", {}):
                self.error(_join(path, key), getattr(cls, "_UNSUPPORTED")[key])
            elif key not in getattr(cls, "_DROPPED", ()):
                self.error(_join(path, key), self._unknown(key, by_json, cls))
        kwargs = {f.name: self._field(f, hints[f.name], data.get(key), _join(path, key)) for key, f in by_json.items()}
        if "ignored" in hints:
            kwargs["ignored"] = ignored
        return cls(**kwargs)

    def _unknown(self, key: str, known: Iterable[str], cls: type) -> str:
        message = f'unknown field "{key}"'
        spelled = {k.lower(): k for k in known}
        close = difflib.get_close_matches(key.lower(), spelled, n=1, cutoff=0.6)
        if close:
            return f'{message} (did you mean "{spelled[close[0]]}"?)'
        if cls in self.hinted:
            for where, home in self.homes:
                if key in {json_name(f) for f in fields(home)}:
                    return f"{message} ({key} belongs in {where})"
        return message

    def _field(self, f: dataclasses.Field[Any], tp: Any, raw: Any, path: str) -> Any:
        required = _is_required(f)
        if raw is None and required and is_dataclass(tp):
            raw = {}  # a missing object: report what is missing inside it ("metadata.name: Required value")
        if raw is None:
            if required:
                self.error(path, "Required value")
            return self.zero(tp) if f.default is MISSING and f.default_factory is MISSING else _default(f)
        value = self.value(tp, raw, path, f.metadata)
        if value is _BAD:
            return self.zero(tp) if required else _default(f)
        if required and _is_zero(value):
            self.error(path, "Required value")
            return value
        # The API server defaults "" (and 0 for int32 probe fields) as if the field were absent.
        if value == "" and isinstance(f.default, str) and f.default:
            return f.default
        if value == 0 and f.metadata.get("zero_is_default") and not isinstance(value, bool):
            return f.default
        enum = f.metadata.get("enum")
        if enum and value != f.default and value not in enum:
            supported = ", ".join(f'"{v}"' for v in enum)
            self.error(path, f'Unsupported value: "{value}": supported values: {supported}')
        check = f.metadata.get("check")
        if check and value != "":
            problem = check(value)
            if problem:
                self.error(path, problem)
        return value

    def value(self, tp: Any, raw: Any, path: str, meta: Any = None) -> Any:
        inner = _optional_of(tp)
        if inner is not None:
            return self.value(inner, raw, path, meta)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):  # int | str (IntOrString)
            if isinstance(raw, (int, str)) and not isinstance(raw, bool):
                return raw
            return self._type_error(path, "integer or string", raw)
        if origin is tuple:
            if not isinstance(raw, list):
                return self._type_error(path, "array", raw)
            item_tp = typing.get_args(tp)[0]
            items = [self.value(item_tp, item, f"{path}[{i}]") for i, item in enumerate(raw)]
            return tuple(self.zero(item_tp) if item is _BAD else item for item in items)
        if origin is dict:
            return self._dict(typing.get_args(tp)[1], raw, path, meta or {})
        if tp is object:
            return raw
        if tp is Quantity:
            try:
                return parse_quantity(raw)
            except FieldError as e:
                self.error(path, e.detail)
                return _BAD
        if isinstance(tp, type) and is_dataclass(tp):
            return self.decode(tp, raw, path)
        expected = {str: "string", int: "integer", bool: "boolean"}[tp]
        if isinstance(raw, tp) and not (tp is int and isinstance(raw, bool)):
            return raw
        return self._type_error(path, expected, raw)

    def _dict(self, value_tp: Any, raw: Any, path: str, meta: Any) -> Any:
        if not isinstance(raw, dict):
            return self._type_error(path, "object", raw)
        out = {}
        for key, item in raw.items():
            item_path = _join(path, str(key))
            if not isinstance(key, str):
                self.error(item_path, f"expected string key, got {_describe(key)}")
                continue
            value = self.value(value_tp, item, item_path)
            if value is _BAD:
                continue
            for check, subject in ((meta.get("key_check"), key), (meta.get("value_check"), value)):
                problem = check(subject) if check else None
                if problem:
                    self.error(item_path, problem)
            out[key] = value
        return out

    def _type_error(self, path: str, expected: str, raw: Any) -> Any:
        self.error(path, f"expected {expected}, got {_describe(raw)}")
        return _BAD

    def zero(self, tp: Any) -> Any:
        """The value Go would leave in a field that is absent or could not be decoded."""
        if _optional_of(tp) is not None or tp is object:
            return None
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            return 0
        if origin is tuple:
            return ()
        if origin is dict:
            return {}
        if isinstance(tp, type) and is_dataclass(tp):
            return Decoder().decode(tp, {}, "")  # its own errors are not the user's: they wrote nothing here
        return {str: "", int: 0, bool: False}.get(tp)


def encode(obj: Any) -> Any:
    """Model -> API JSON: camelCase keys, Go ``omitempty`` (an absent Optional, or a zero that is also the
    default, is left out); a nested object that is not Optional is always printed (``resources: {}``)."""
    if isinstance(obj, Quantity):
        return str(obj)
    if isinstance(obj, tuple):
        return [encode(item) for item in obj]
    if isinstance(obj, dict):
        return {key: encode(value) for key, value in obj.items()}
    if not is_dataclass(obj):  # str, int, bool, raw JSON
        return obj
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "ignored":
            out.update(value)
        elif value is None or (not is_dataclass(value) and _is_zero(value) and value == _default(f)
                               and not f.metadata.get("keep")):
            continue
        else:
            out[json_name(f)] = encode(value)
    return out
