"""cli/lean_apply.py: which apply lines it takes (the rest goes to the full CLI), its copies of constants,
and its JSON reading (json.loads's answers without json's imports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pyrunc import config
from pyrunc.cli import lean_apply
from pyrunc.cli.lean_apply import ApplyLine, apply_line
from pyrunc.spec import documents
from pyrunc.supervisor import protocol


def test_constants_are_the_packages() -> None:
    assert lean_apply.DEFAULT_ROOT == config.DEFAULT_ROOT
    assert lean_apply.PROTOCOL == protocol.PROTOCOL
    assert lean_apply.MAX_CHECK_TEXT == protocol.MAX_CHECK_TEXT
    assert lean_apply.MAX_MANIFEST_BYTES == documents.MAX_MANIFEST_BYTES


@pytest.mark.parametrize("argv, want", [
    (["apply", "-f", "p.yaml"], ApplyLine(None, ["p.yaml"], "")),
    (["--root", "/r", "apply", "-f", "-"], ApplyLine("/r", ["-"], "")),
    (["apply", "--root=/r", "--filename", "a", "-f", "b"], ApplyLine("/r", ["a", "b"], "")),
    (["apply", "--filename=a", "-o", "name"], ApplyLine(None, ["a"], "name")),
    (["apply", "-oname", "-f", "a"], ApplyLine(None, ["a"], "name")),
    (["apply", "--output=name", "-f", "a"], ApplyLine(None, ["a"], "name")),
])
def test_lines_it_takes(argv: list[str], want: ApplyLine) -> None:
    assert apply_line(argv) == want


@pytest.mark.parametrize("argv", [
    ["apply"], ["apply", "-f"], ["apply", "-f", "--x"], ["apply", "-f", "a", "--dry-run"],
    ["apply", "--dry-run=client", "-f", "a"], ["apply", "-f", "a", "-o", "yaml"], ["apply", "-f", "a", "-o"],
    ["apply", "--file", "a"], ["apply", "-fa"], ["apply", "-f=a"], ["apply", "-f", "a", "--debug"],
    ["--debug", "apply", "-f", "a"], ["apply", "-f", "a", "extra"], ["apply", "-h"], ["get", "apply"],
    ["apply", "-f", "a", "--"], ["--root"], ["--root", "/r"], [],
])
def test_lines_it_leaves_to_the_full_cli(argv: list[str]) -> None:
    assert apply_line(argv) is None


@pytest.mark.parametrize("text", [
    '{"ok":true,"name":"p","result":"created","warnings":["w \\u00e9 \\"q\\""],"protocol":2}',
    '{"ok":false,"kind":"SpecError","error":"x","fields":{"errors":[{"path":"a","n":1.5e3,"z":null}]}}',
    '  {"a": [1, -2, 3.25, true, false, null, NaN, {}], "b": {"c": "d"}}  ',
])
def test_replies_decode_as_json_loads_reads_them(text: str) -> None:
    got = lean_apply.decode(text.encode() + b"\n")
    want = json.loads(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"a": 1} trailing', '{"a": '])
def test_unreadable_replies_are_none(text: str) -> None:
    assert lean_apply.decode(text.encode()) is None


def test_the_request_is_the_json_the_supervisor_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [("STDIN", 'kind: Pod\nname: "é\\"\n\t\x00'), ("a.yaml", "")]
    line = lean_apply._request(texts)
    assert line.endswith(b"\n") and b"\n" not in line[:-1]
    msg = protocol.decode_request(line[:-1])
    from pyrunc.build import build_id

    assert msg == {"op": "apply-texts", "protocol": protocol.PROTOCOL, "build": build_id(),
                   "texts": [list(t) for t in texts]}


def test_the_lean_path_imports_little() -> None:
    """No argparse, json, re, typing or socket (their imports are what this path saves). The build id is
    stubbed: whether its cache answers (no hashlib) depends on how recently the package's files changed,
    which a checkout just made or merged does not control; tests/unit/test_build.py checks the cache hit."""
    code = ("import sys; import pyrunc.build; pyrunc.build.build_id = lambda: 'stub'; "
            "from pyrunc.cli.lean_apply import apply_line, _request, decode; "
            "apply_line(['apply', '-f', '-']); _request([('STDIN', 'x')]); decode(b'{}'); "
            "print(sorted({'argparse', 'json', 're', 'typing', 'socket', 'hashlib'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {repr(_repo())}); {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _repo() -> str:
    import os

    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(lean_apply.__file__))))
