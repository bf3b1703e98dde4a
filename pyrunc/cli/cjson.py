"""JSON read with the json package's own C scanner, without importing the json package (json imports
re, ~5-10 ms: the lean paths of cli/entry.py, cli/lean_get.py and cli/lean_apply.py do without it)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the lean paths do without it)
if TYPE_CHECKING:
    from typing import Any


class _Context:
    """What _json.make_scanner reads from a JSONDecoder: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan = None


def scan(text: str) -> tuple[Any, int]:
    """The JSON value at the start of `text` and where it ends, as json's scanner reads it (StopIteration
    when no value starts there, ValueError for a malformed one)."""
    global _scan
    if _scan is None:
        from _json import make_scanner  # json.scanner's c_make_scanner

        _scan = make_scanner(_Context())  # type: ignore[arg-type]  # typeshed: a JSONDecoder; it reads these fields
    return _scan(text, 0)
