"""The `pyrunc` entry point (cli/entry.py): which exec lines it takes itself, and what it imports doing so.

A line it does not take goes to the full CLI (cli/main.py), which answers as it always has; so a line
read wrongly here would be the only way to change an exec's meaning: each form is checked against
what argparse makes of the same words (cli/main.py + cli/exec_cmd.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pathlib import Path

from pyrunc import config
from pyrunc.cli import entry, exec_cmd
from pyrunc.cli.main import Parser, split_globals
from pyrunc.supervisor import protocol

ExecRequest = entry.ExecRequest
REPO = Path(__file__).resolve().parents[2]


def test_its_constants_are_the_packages() -> None:
    assert entry.DEFAULT_ROOT == config.DEFAULT_ROOT
    assert entry.PROTOCOL == protocol.PROTOCOL


@pytest.mark.parametrize("words, wanted", [
    (["exec", "p", "--", "ls"], ExecRequest(None, "default", "p", None, False, False, ["ls"])),
    (["--root", "/r", "exec", "pod/p", "-c", "web", "--", "sh", "-c", "x"],
     ExecRequest("/r", "default", "p", "web", False, False, ["sh", "-c", "x"])),
    (["exec", "-it", "po/p", "--root=/r", "--container=web", "-n", "ns1", "--", "sh"],
     ExecRequest("/r", "ns1", "p", "web", True, True, ["sh"])),
    (["exec", "-ti", "pods/p", "-cweb", "-nns1", "--", "sh"], ExecRequest(None, "ns1", "p", "web", True, True, ["sh"])),
    (["exec", "p", "-i", "--namespace", "ns1", "--container", "c", "--", "cat"],
     ExecRequest(None, "ns1", "p", "c", True, False, ["cat"])),
    (["exec", "--stdin", "--tty", "p", "--", "sh", "--", "-x"],
     ExecRequest(None, "default", "p", None, True, True, ["sh", "--", "-x"])),
    (["exec", "-t", "-i", "p", "--namespace=n", "--", "ls", "-c"], ExecRequest(None, "n", "p", None, True, True,
                                                                               ["ls", "-c"])),
])
def test_exec_lines_it_takes_mean_what_argparse_makes_of_them(words: list[str], wanted: ExecRequest) -> None:
    assert entry.exec_request(words) == wanted
    opts, rest = split_globals(words)
    parser = Parser(prog="pyrunc exec")
    exec_cmd.add_arguments(parser)
    cut = rest.index("--")
    args = parser.parse_args(rest[1:cut])
    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    assert (opts["root"], args.namespace, name, args.container, args.stdin, args.tty, rest[cut + 1:]) == (
        wanted.root, wanted.namespace, wanted.pod, wanted.container, wanted.stdin, wanted.tty, wanted.command)


@pytest.mark.parametrize("words", [
    ["exec", "p"],  # no `--`: "you must specify at least one command"
    ["exec", "p", "--"],  # nothing after it
    ["get", "pods", "--", "x"],
    ["exec", "p", "--debug", "--", "ls"],  # tracebacks are the full CLI's
    ["exec", "p", "--cont", "web", "--", "ls"],  # an abbreviation argparse allows: its to decide
    ["exec", "p", "-c=web", "--", "ls"],
    ["exec", "p", "-h", "--", "ls"],
    ["exec", "p", "q", "--", "ls"],  # two names: argparse's error
    ["exec", "--", "ls"],
    ["exec", "../p", "--", "ls"],  # not a plain name: the full CLI validates it
    ["exec", ".p", "--", "ls"],
    ["exec", "P", "--", "ls"],
    ["exec", "p", "-n", "../x", "--", "ls"],
    ["exec", "p", "-n", "a_b", "--", "ls"],  # "_" joins namespace and name in the pod's directory
    ["exec", "p", "-c", "", "--", "ls"],
    ["exec", "p", "--root", "--", "ls"],
    ["--root", "/r"],
])
def test_other_lines_go_to_the_full_cli(words: list[str]) -> None:
    assert entry.exec_request(words) is None


def test_the_exec_path_imports_neither_argparse_nor_the_pod_view() -> None:
    """What the handoff costs in imports (Python started as scripts/write-launcher.sh starts it): C modules."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules)\n"
            "from pyrunc.cli import entry\n"
            "entry.exec_request_line(entry.exec_request(['exec', 'p', '--', 'ls']), False)\n"
            "import _json; print(_json.encode_basestring_ascii(' '.join(sorted(set(sys.modules) - before))))\n")
    out = subprocess.run([sys.executable, "-IS", "-c", code, str(REPO)], check=True, capture_output=True,
                         text=True).stdout
    loaded = set(json.loads(out).split())
    heavy = {"re", "enum", "json", "socket", "signal", "typing", "argparse", "dataclasses", "site"}
    assert not loaded & heavy, sorted(loaded)
    assert {m for m in loaded if m.startswith("pyrunc")} == {"pyrunc", "pyrunc.cli", "pyrunc.cli.entry"}


@pytest.mark.parametrize("args", [["ls", "-l"], ["sh", "-c", 'echo "a\\b"\n\t\x01'], ["echo", "é ✓ 𝄞"],
                                  ["printf", "\udcff"], [""]])
def test_the_request_line_is_the_json_the_supervisor_reads(args: list[str]) -> None:
    request = ExecRequest("/r", "ns", "p", None, True, False, args)
    line = entry.exec_request_line(request, tty=True)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"op": "exec", "protocol": protocol.PROTOCOL, "namespace": "ns", "pod": "p",
                                "container": None, "command": args, "stdin": True, "tty": True}
    assert json.loads(entry.exec_request_line(ExecRequest(None, "n", "q", "c", False, False, ["x"]),
                                              tty=False))["container"] == "c"
