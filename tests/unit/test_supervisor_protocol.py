"""The supervisor's wire format and socket server: typed errors, bounded requests, handover; and the
supervisor's preload covering every import made inside a function."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from pyrunc import errors
from pyrunc.supervisor import protocol
from pyrunc.supervisor.preload import CLI_ONLY
from pyrunc.supervisor.loop import Loop
from pyrunc.supervisor.server import Server

PACKAGE = Path(__file__).resolve().parents[2] / "pyrunc"


# ----------------------------------------------------------------------------- typed errors
def roundtrip(e: errors.PyruncError) -> errors.PyruncError:
    wire = json.loads(protocol.encode(protocol.encode_error(e)))
    return protocol.decode_error(wire)


def test_not_found_keeps_its_class_message_and_fields() -> None:
    got = roundtrip(errors.NotFound("pods", "web"))
    assert type(got) is errors.NotFound
    assert (got.message, got.kind, got.name) == ('Error from server (NotFound): pods "web" not found', "pods", "web")
    assert str(got) == got.message


def test_spec_error_carries_its_field_errors() -> None:
    e = errors.SpecError([errors.FieldError("spec.containers[0].image", "Required value", hint="h")], source="x.yaml")
    got = roundtrip(e)
    assert type(got) is errors.SpecError and got.message == e.message and got.source == "x.yaml"
    (inner,) = got.errors  # type: ignore[attr-defined]
    assert type(inner) is errors.FieldError
    assert (inner.path, inner.detail, inner.hint) == ("spec.containers[0].image", "Required value", "h")


def test_hint_and_subclass_fields_survive() -> None:
    got = roundtrip(errors.CgroupError("cannot write", path="/sys/fs/cgroup/x", hint="check"))
    assert type(got) is errors.CgroupError and isinstance(got, errors.RuntimeFailure)
    assert (got.message, got.hint, got.path) == ("cannot write", "check", "/sys/fs/cgroup/x")


def test_unknown_kind_is_a_daemon_error_with_the_message() -> None:
    got = protocol.decode_error({"ok": False, "kind": "SomethingNew", "error": "boom", "hint": "x"})
    assert type(got) is errors.DaemonError and (got.message, got.hint) == ("boom", "x")


def test_reply_without_fields_still_has_its_class() -> None:
    # What a daemon replies when it builds the error by hand (kind and message only).
    got = protocol.decode_error({"ok": False, "kind": "NotFound", "error": 'Error from server (NotFound): pods "a" not found'})
    assert type(got) is errors.NotFound and got.message.endswith('"a" not found')


def test_decode_request_refuses_what_is_not_a_request() -> None:
    with pytest.raises(protocol.ProtocolError, match="not JSON"):
        protocol.decode_request(b"{nope")
    with pytest.raises(protocol.ProtocolError, match='"op"'):
        protocol.decode_request(b"[1]")
    assert protocol.decode_request(b'{"op": "ping"}') == {"op": "ping"}


# ----------------------------------------------------------------------------- the server
class Harness:
    def __init__(self, tmp: Path, max_request: int = protocol.MAX_REQUEST) -> None:
        self.loop = Loop()
        self.handled: list[dict[str, Any]] = []
        self.handovers: list[dict[str, Any]] = []
        self.server = Server(self.loop, str(tmp / "s.sock"), self.handle, "B1", self.handovers.append,
                             max_request=max_request)
        self.server.open()

    def handle(self, req: dict[str, Any], reply: Any) -> None:
        self.handled.append(req)
        if req["op"] == "fail":
            raise errors.NotFound("pods", req["name"])
        reply({"ok": True, "echo": req["op"]})

    def ask(self, data: bytes, close_write: bool = False) -> bytes:
        """Send ``data`` from a thread (it may be large), run the loop until the server replied."""
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(self.server.path)
        out: list[bytes] = []

        def talk() -> None:
            try:
                client.sendall(data)
                if close_write:
                    client.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # refused mid-way: the reply (if any) is still read below
            buf = b""
            try:
                while chunk := client.recv(65536):
                    buf += chunk
            except OSError:
                pass
            out.append(buf)

        t = threading.Thread(target=talk)
        t.start()
        while t.is_alive():
            self.loop.run_once(0.05)
        t.join()
        client.close()
        return out[0]

    def close(self) -> None:
        self.server.close()
        self.server.drop_all()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, max_request=4096)
    yield h
    h.close()


def stamped(op: str, **fields: Any) -> bytes:
    return protocol.encode({"op": op, "protocol": protocol.PROTOCOL, "build": "B1", **fields})


def test_a_request_is_handled_and_answered_with_the_build(harness: Harness) -> None:
    reply = json.loads(harness.ask(stamped("ping")))
    assert reply == {"ok": True, "echo": "ping", "protocol": protocol.PROTOCOL, "build": "B1"}
    # A ping (the CLI's build check) is no work: an idle supervisor must stay for the request after it.
    assert not harness.server.served_once and not harness.server.busy
    reply = json.loads(harness.ask(stamped("apply")))
    assert reply["echo"] == "apply" and harness.server.served_once and not harness.server.busy


def test_a_raised_error_reaches_the_client_typed(harness: Harness) -> None:
    reply = json.loads(harness.ask(stamped("fail", name="web")))
    err = protocol.decode_error(reply)
    assert type(err) is errors.NotFound and err.name == "web"  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", [4096, 10000])
def test_a_request_line_over_the_bound_is_refused(harness: Harness, size: int) -> None:
    line = stamped("ping", pad="x" * size)
    reply = json.loads(harness.ask(line))
    assert reply["kind"] == "RequestTooLarge" and "4096 bytes" in reply["error"]
    assert harness.handled == [] and not harness.server.busy


def test_a_request_without_newline_beyond_the_bound_is_refused(harness: Harness) -> None:
    reply = json.loads(harness.ask(b"x" * 20000))
    assert reply["kind"] == "RequestTooLarge"
    assert harness.handled == [] and not harness.server.busy


def test_a_line_just_within_the_bound_is_served(harness: Harness) -> None:
    base = stamped("ping", pad="")
    line = stamped("ping", pad="x" * (4096 - len(base)))
    assert len(line) == 4096
    assert json.loads(harness.ask(line))["ok"] is True


def test_a_client_that_leaves_before_a_newline_is_dropped(harness: Harness) -> None:
    assert harness.ask(b'{"op": "pi', close_write=True) == b""
    assert harness.handled == [] and not harness.server.busy


def test_bad_json_gets_a_protocol_error(harness: Harness) -> None:
    reply = json.loads(harness.ask(b"{nope\n"))
    assert reply["kind"] == "ProtocolError" and harness.handled == []


@pytest.mark.parametrize("req", [
    {"op": "apply", "protocol": protocol.PROTOCOL, "build": "B0"},   # another build
    {"op": "apply", "protocol": protocol.PROTOCOL + 1, "build": "B1"},  # another protocol
    {"op": "apply"},  # a client from before builds were compared
])
def test_another_build_gets_a_handover_and_nothing_is_done(harness: Harness, req: dict[str, Any]) -> None:
    reply = json.loads(harness.ask(protocol.encode(req)))
    assert reply["kind"] == protocol.HANDOVER and reply["pid"] == os.getpid() and reply["build"] == "B1"
    assert harness.handled == [] and len(harness.handovers) == 1


def test_the_full_bound_is_eight_mebibytes(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        reply = json.loads(h.ask(b"y" * (protocol.MAX_REQUEST + 1)))
        assert reply["kind"] == "RequestTooLarge"
        big = stamped("ping", pad="z" * (protocol.MAX_REQUEST - 200))
        assert json.loads(h.ask(big))["ok"] is True
    finally:
        h.close()


# ----------------------------------------------------------------------------- preload
def function_level_imports() -> set[str]:
    """Modules imported inside a function anywhere in the package but the CLI-only parts."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        module = rel.removesuffix(".py").replace("/", ".")
        if module.startswith(CLI_ONLY) or rel == "pyrunc/__main__.py":
            continue  # the CLI's and the CRI edge's: never run by the supervisor
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_preload_covers_every_import_made_inside_a_function() -> None:
    wanted = function_level_imports()
    assert "pyrunc.runtime.rootfs" in wanted  # the scan sees what an upgrade once broke
    script = ("import json, sys\nfrom pyrunc.supervisor.preload import preload\npreload()\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                           text=True).stdout))
    # `from X import Y` may name an attribute, not a module: only modules must be loaded.
    missing = sorted(name for name in wanted if name not in loaded and _is_module(name))
    assert missing == []


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
