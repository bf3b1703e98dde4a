"""cli/lean_get.py: the `get` lines it takes, its copies of other modules' constants, and its JSON reader and
writer, which must give exactly what the json package gives."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pyrunc import config
from pyrunc.cli import common, lean_get
from pyrunc.cli.lean_get import GetRequest, get_request
from pyrunc.printers import serialize, timefmt

REPO = Path(__file__).resolve().parents[2]


def test_constants_are_those_of_the_modules_it_does_not_import() -> None:
    assert lean_get.DEFAULT_ROOT == config.DEFAULT_ROOT
    assert lean_get.CONFIG_FIELDS == set(config.NodeConfig._fields)
    assert lean_get.GO_JSON_ESCAPES == serialize._GO_JSON_ESCAPES
    assert set(lean_get.POD_WORDS) == set(common.POD_WORDS)


@pytest.mark.parametrize("line,expected", [
    ("get pods", GetRequest(None, "default", False, None, "", False)),
    ("get po -A", GetRequest(None, "default", True, None, "", False)),
    ("--root /r get pods -n kube-system -o wide", GetRequest("/r", "kube-system", False, None, "wide", False)),
    ("get pod web -o json", GetRequest(None, "default", False, "web", "json", False)),
    ("get pod web --root=/r --namespace=x --output=json", GetRequest("/r", "x", False, "web", "json", False)),
    ("get -nx pods web.a-1 -owide --no-headers", GetRequest(None, "x", False, "web.a-1", "wide", True)),
    ("get pod --root /r web", GetRequest("/r", "default", False, "web", "", False)),  # --root is taken out first
])
def test_lines_it_takes(line: str, expected: GetRequest) -> None:
    assert get_request(line.split()) == expected


@pytest.mark.parametrize("line", [
    "", "get", "get events", "get nodes", "get configmaps", "get pod/web", "get pods a b", "get pods -o yaml",
    "get pods -o name", "get pods -o=json", "get pods -w", "get pods --show-labels", "get pods --debug",
    "get pods --names=x", "get pods -n", "get pods -n Bad", "get pods -n -x", "get pod Web", "get pod .a",
    "get pod a..b", "get pod -a", "get pods -A web", "get pods -n x web", "-n x get pods", "exec get pods",
    "get pods -- x", "get pods -h", "describe pod web", "get pods --root",
])
def test_lines_left_to_the_full_cli(line: str) -> None:
    assert get_request(line.split()) is None


@pytest.mark.parametrize("data", [
    b'{"a": 1, "b": [1.5, -2, true, false, null], "c": {"d": "\\u00e9\\n"}}', b'[]', b'{}', b'{"a": 1}\n  ',
    '{"é": "ü"}'.encode(), b'{"n": NaN, "i": -Infinity}', b'{"big": 123456789012345678901234567890, "f": 1e400}',
    b' {"lead": 1}', b'\xef\xbb\xbf{"bom": 1}', '{"u16": 1}'.encode("utf-16"), b'"str"', b'12',
])
def test_loads_is_json_loads(data: bytes) -> None:
    got, want = lean_get.loads(data), json.loads(data)
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


@pytest.mark.parametrize("data", [b"", b"{", b'{"a": 1} x', b'{"a": 1}{}', b"\xff\xfe\x00", b"{'a': 1}", b"[1,]",
                                  b'{"a": "\x01"}'])
def test_loads_refuses_what_json_loads_refuses(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        lean_get.loads(data)


@pytest.mark.parametrize("obj", [
    {}, [], {"a": []}, {"a": {}}, {"b": 1, "a": [1, 2.5, None, True, False, "x"]}, [[], [{}], {"k": [[]]}],
    {"html": "<a href='x'>&</a>", "sep": "\u2028\u2029", "uni": "é✓\U0001f600", "ctl": "\x00\t\n\"\\"},
    {"f": float("nan"), "g": float("inf"), "h": float("-inf"), "i": 10**30, "j": 1e-7, "k": -0.0},
    ("tuple", 1), {"apiVersion": "v1", "items": [{"metadata": {"name": "a"}}], "kind": "List"},
])
def test_as_json_is_the_printers(obj: object) -> None:
    assert lean_get.as_json(obj) == serialize.as_json(obj)


def test_as_json_leaves_other_types_to_the_printers() -> None:
    assert lean_get.as_json({1: "int key"}) == serialize.as_json({1: "int key"})
    with pytest.raises(TypeError):
        lean_get.as_json({"a": object()})


@pytest.mark.parametrize("text", [
    "2026-11-22T00:11:30Z", "2026-11-22T00:11:30z", "2026-11-22 00:11:30Z", "2026-11-22T00:11:30.123Z",
    "2026-11-22T00:11:30+02:00", " 2026-11-22T00:11:30Z ", "2026-13-22T00:11:30Z", "2026-02-30T00:11:30Z",
    "2026-11-22T24:00:00Z", "2026-1-22T00:11:30Z", "x", "", "２０２６-11-22T00:11:30Z", "2026-11-22T00:11:3aZ",
])
def test_parse_time_reads_the_canonical_form_as_the_regex_does(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    got = timefmt.parse_time(text)
    monkeypatch.setattr(timefmt, "_canonical", lambda value: False)  # every text through the regex
    assert got == timefmt.parse_time(text)
    if text == "2026-11-22T00:11:30Z":
        assert got == datetime(2026, 11, 22, 0, 11, 30, tzinfo=timezone.utc)


def test_the_lean_path_imports_neither_re_typing_json_nor_argparse(tmp_path: Path) -> None:
    """What it costs to import is what makes it fast (docs/performance.md): a pod listed and printed as a table
    and as JSON, in a fresh interpreter started as the launcher starts it (-I -S)."""
    pod_dir = tmp_path / "pods" / "default_web"
    (pod_dir / "containers" / "c").mkdir(parents=True)
    (pod_dir / "pod.json").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-11-22T00:11:30Z"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    (pod_dir / "containers" / "c" / "state.json").write_text(json.dumps({"restartCount": 2}))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pyrunc.cli.lean_get import lean_get\n"
            "assert lean_get(['--root', sys.argv[2], 'get', 'pods']) == 0\n"
            "assert lean_get(['--root', sys.argv[2], 'get', 'pod', 'web', '-o', 'json']) == 0\n"
            "heavy = sorted({'re', 'typing', 'json', 'argparse', 'dataclasses', 'pyrunc.config'} & set(sys.modules))\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].split()[:2] == ["web", "0/1"]
    assert '"name": "web"' in proc.stdout
