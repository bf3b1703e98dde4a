"""What pyrunc-oci's `run` imports (docs/performance.md, "pyrunc-oci start-up"): what it costs to import is most
of what it costs to run, so the heavy modules stay off its path. tests/integration/test_oci.py checks a real
`run` the same way (python -X importtime)."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from pyrunc.oci.defaults import default_spec
from pyrunc.records import NamedTuple as LeanNamedTuple
from pyrunc.store import leanjson

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("dataclasses", "inspect", "typing", "re", "json", "enum", "argparse", "pyrunc.runtime.config",
         "pyrunc.cgroups.raw", "socket", "shutil", "datetime", "contextlib", "functools", "collections", "ctypes")


def test_the_run_path_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """Every module `run` loads (the command line, create's side, the init's side, the cgroup code) and a
    default config decoded, in a fresh interpreter started as the launcher starts it (-I -S)."""
    (tmp_path / "config.json").write_text(json.dumps(default_spec()))
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from pyrunc.oci import cli, container, config, cgroup, init\n"
            "from pyrunc.security.process import ProcessSecurity\n"  # the init's, after the fork
            "from pyrunc.store import atomic\n"
            "cfg = config.load(sys.argv[2])\n"
            "assert cfg.process.args == ('sh',), cfg.process.args\n"
            "atomic.write_text(sys.argv[2] + '/out.json', cli.dumps({'a': [1, 2.5]}, sort_keys=True))\n"
            "assert atomic.read_json(sys.argv[2] + '/out.json') == {'a': [1, 2.5]}\n"
            f"heavy = sorted(set({HEAVY!r}) & set(sys.modules))\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_leanjson_gives_what_json_gives() -> None:
    docs = [{"b": [1, 2.5, None, True, False, "é\u2028\"\\\n"], "a": {"z": float("inf"), "y": -0.0}}, "s", 3, [], {},
            {"k": (1, 2)}, 1e300, -(2**70)]
    for doc in docs:
        for sort_keys in (False, True):
            for separators in ((", ", ": "), (",", ":")):
                assert leanjson.dumps(doc, sort_keys, separators) == json.dumps(doc, sort_keys=sort_keys,
                                                                                separators=separators)
    texts: list[str | bytes] = [' \n{"a": [1, 2.5e3, null, "\\u00e9"]}\r\n', "[]", "3", '"s"', "NaN", "-Infinity",
                                '{"x": "\xe9"}'.encode(), b'\xef\xbb\xbf{"bom": 1}', '{"a": 1}'.encode("utf-16")]
    for text in texts:
        assert repr(leanjson.loads(text)) == repr(json.loads(text))


def test_leanjson_fails_as_json_does() -> None:
    for bad in ["", "{", "[] x", "\ufeff{}", b"\xff", "[1,]", '{"a" 1}']:
        try:
            json.loads(bad)
        except ValueError as e:
            expected = str(e)
        try:
            leanjson.loads(bad)
        except ValueError as e:
            assert str(e) == expected
        else:
            raise AssertionError(f"leanjson read {bad!r}")
    try:
        leanjson.dumps({"a": object()})
    except TypeError as e:
        assert str(e) == "Object of type object is not JSON serializable"
    loop: list[object] = []
    loop.append(loop)
    try:
        leanjson.dumps(loop)
    except ValueError as e:
        assert "Circular reference" in str(e)
    assert leanjson.dumps([loop[1:], loop[1:]]) == "[[], []]"  # a failed call leaves no marker behind


class _Point(LeanNamedTuple):
    """A record."""

    x: int
    label: str = "origin"

    def double(self) -> int:
        return self.x * 2


class _TypingPoint(NamedTuple):
    """A record."""

    x: int
    label: str = "origin"


class _Bare(LeanNamedTuple):
    a: int
    b: tuple[int, ...]


class _Checked(_Bare):
    """A subclass that checks its fields in __new__, as cgroups/devices.py's DeviceRule."""

    __slots__ = ()

    def __new__(cls, a: int, b: tuple[int, ...]) -> _Checked:
        if a < 0:
            raise ValueError("a must not be negative")
        return super().__new__(cls, a, b)


def test_records_namedtuple_is_typings() -> None:
    p, t = _Point(3), _TypingPoint(3)
    assert (p, p.double(), p._replace(label="a"), p._asdict()) == ((3, "origin"), 6, _Point(3, "a"),
                                                                    {"x": 3, "label": "origin"})
    assert (_Point._fields, _Point._field_defaults, _Point.__match_args__) == (
        _TypingPoint._fields, _TypingPoint._field_defaults, _TypingPoint.__match_args__)
    assert repr(p) == repr(t).replace("_TypingPoint", "_Point") == "_Point(x=3, label='origin')"
    assert (_Point.__name__, _Point.__qualname__, _Point.__doc__, _Point.__module__) == (
        "_Point", "_Point", "A record.", __name__)
    assert _Bare.__doc__ == "_Bare(a, b)" and isinstance(p, tuple) and not hasattr(p, "__dict__")
    assert p == t and hash(p) == hash(t) and _Point(x=3) == p and _Point(3, label="b") == (3, "b")
    assert _Point._make([1, "m"]) == (1, "m") and pickle.loads(pickle.dumps(p)) == p
    assert copy.copy(p) == p and copy.deepcopy(_Bare(1, (2,))) == (1, (2,))
    assert (_Point.x.__doc__, _Point.label.__get__(p)) == ("Alias for field number 0", "origin")
    assert _Checked(1, (2,)).b == (2,) and _Checked(1, (2,))._replace(a=5) == (5, (2,))
    for call, words in ((lambda: _Point(), "missing"), (lambda: _Point(1, "a", 3), "positional"),
                        (lambda: _Point(1, y=2), "unexpected"), (lambda: _Point(1, x=2), "multiple"),
                        (lambda: _Point._make([1]), "Expected 2"), (lambda: _Checked(-1, ()), "negative")):
        try:
            call()
        except (TypeError, ValueError) as e:
            assert words in str(e), (words, e)
        else:
            raise AssertionError(f"accepted: {words}")
    try:
        p._replace(y=1)
    except ValueError as e:
        assert "unexpected field names" in str(e)
    try:
        p.x = 4  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a field was set")
    try:
        class _Bad(LeanNamedTuple):
            x: int = 1
            y: int
    except TypeError as e:
        assert "cannot follow" in str(e)
    else:
        raise AssertionError("a field without a default after one with a default was accepted")
