"""json.loads and json.dumps (without indent) through the json package's own C scanner and encoder (`_json`),
without importing the json package: json imports re, and re imports enum, ~5-10 ms of every short command
(pyrunc-oci's `run` and `exec`, pyrunc's lean CLI paths; docs/performance.md). Same results as json's, byte
for byte: these are the very functions json.loads and json.dumps call. Anything the C scanner does not read
at once (a byte order mark, an encoding other than UTF-8, malformed JSON) is handed to json itself, which then
gives its usual result or error.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, Callable


class _Context:
    """What _json.make_scanner reads from a JSONDecoder: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE: what json skips around the value
_scanner: Callable[[str, int], tuple[Any, int]] | None = None


def scan(text: str) -> tuple[Any, int]:
    """The JSON value at the start of `text` and where it ends, as json's scanner reads it (StopIteration
    when no value starts there, ValueError for a malformed one)."""
    global _scanner
    if _scanner is None:
        from _json import make_scanner  # json.scanner's c_make_scanner

        _scanner = make_scanner(_Context())  # type: ignore[arg-type]  # typeshed: a JSONDecoder; it reads these
    return _scanner(text, 0)


def loads(data: str | bytes) -> Any:
    """json.loads(data)."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        text = text.strip(_WHITESPACE)
        value, end = scan(text)
        if end == len(text):
            return value
    except (StopIteration, ValueError):  # UnicodeDecodeError and json's JSONDecodeError are ValueErrors
        pass
    import json  # the rare case: json's own answer (a BOM, UTF-16, "Extra data", the error's exact words)

    return json.loads(data)


def _not_serializable(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")  # json's words


def dumps(obj: Any, sort_keys: bool = False, separators: tuple[str, str] = (", ", ": ")) -> str:
    """json.dumps(obj, sort_keys=sort_keys, separators=separators): ensure_ascii, check_circular, allow_nan."""
    from _json import encode_basestring_ascii, make_encoder  # json.encoder's c_make_encoder

    # make_encoder(markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys,
    # allow_nan): what json.JSONEncoder.iterencode passes when there is no indent. A new one for each call, as
    # json's: the markers (circular reference check) of a failed call may be left in its dict.
    encode = make_encoder({}, _not_serializable, encode_basestring_ascii, None, separators[1], separators[0],
                          sort_keys, False, True)
    return "".join(encode(obj, 0))
