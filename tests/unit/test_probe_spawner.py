"""The action spawner: its messages (probe/wire.py), and a real spawner process driven through the supervisor's
loop (probe/starter.py) with tcpSocket actions on loopback, which need no privileges."""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from pyrunc.build import build_id
from pyrunc.probe import ActionResult, Target, action, wire
from pyrunc.probe.runner import ActionRunner
from pyrunc.probe.starter import SpawnerClient
from pyrunc.spec.model import ExecAction, GRPCAction, HTTPGetAction, HTTPHeader, TCPSocketAction
from pyrunc.supervisor.loop import Loop

TARGET = Target(netns="/run/netns/x", pod_ip="10.66.0.2", container_pid=4242, exec_config="/r/c/config.json",
                cgroup_procs=("/sys/fs/cgroup/a/cgroup.procs", "/sys/fs/cgroup/b/cgroup.procs"))
HOST = Target(netns=None, pod_ip="127.0.0.1", container_pid=0, exec_config="")
REPO = str(Path(__file__).resolve().parents[2])


# --- the messages ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("handler", [
    ExecAction(command=("sh", "-c", "echo 'é' \"$X\"")),
    HTTPGetAction(port="http", path="/healthz?x=1", host="h.test", scheme="HTTPS",
                  http_headers=(HTTPHeader("X-A", "1"), HTTPHeader("Accept", ""))),
    HTTPGetAction(port=8080),
    TCPSocketAction(port=5432, host="10.0.0.1"),
    TCPSocketAction(port="db"),
    GRPCAction(port=9090, service="ready"),
])
def test_request_round_trip(handler: Any) -> None:
    req = wire.Request(7, handler, TARGET, 2.5, {"http": 8080, "db": 5432}, "lifecycle")
    data = wire.encode_request(req)
    assert wire.decode_request(data) == req
    assert json.loads(data)["target"] == {"netns": "/run/netns/x", "podIP": "10.66.0.2", "containerPid": 4242,
                                          "execConfig": "/r/c/config.json",
                                          "cgroupProcs": list(TARGET.cgroup_procs)}


def test_request_in_kubernetes_names() -> None:
    data = wire.encode_request(wire.Request(1, HTTPGetAction(port=80), HOST, 1, {}, "probe"))
    assert json.loads(data)["handler"] == {"httpGet": {"port": 80, "path": "/", "host": "", "scheme": "HTTP",
                                                       "httpHeaders": []}}
    assert wire.decode_request(data).target == HOST


def test_encode_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(wire.WireError, match="purpose"):
        wire.encode_request(wire.Request(1, ExecAction(("true",)), HOST, 1, {}, "other"))
    with pytest.raises(wire.WireError, match="unsupported handler"):
        wire.encode_request(wire.Request(1, object(), HOST, 1, {}, "probe"))  # type: ignore[arg-type]


def _good() -> dict[str, Any]:
    return json.loads(wire.encode_request(wire.Request(3, TCPSocketAction(port=1), TARGET, 1, {"a": 1}, "probe")))


@pytest.mark.parametrize("change, error", [
    (lambda m: m.update(id=True), "id"),
    (lambda m: m.update(id="3"), "id"),
    (lambda m: m.update(timeout="1"), "timeout"),
    (lambda m: m.update(purpose="other"), "purpose"),
    (lambda m: m.update(ports={"a": "1"}), "ports"),
    (lambda m: m.update(ports={"a": False}), "ports"),
    (lambda m: m["target"].update(netns=1), "target.netns"),
    (lambda m: m["target"].update(containerPid=None), "containerPid"),
    (lambda m: m["target"].update(cgroupProcs=[1]), "cgroupProcs"),
    (lambda m: m.update(handler={}), "exactly one"),
    (lambda m: m.update(handler={"exec": {"command": ["a"]}, "grpc": {"port": 1, "service": ""}}), "exactly one"),
    (lambda m: m.update(handler={"sleep": {"seconds": 1}}), "unknown kind"),
    (lambda m: m.update(handler={"exec": {"command": "true"}}), "command"),
    (lambda m: m.update(handler={"exec": {"command": [1]}}), "exec.command"),
    (lambda m: m.update(handler={"tcpSocket": {"port": 1.5, "host": ""}}), "port"),
    (lambda m: m.update(handler={"grpc": {"port": "x", "service": ""}}), "port"),
    (lambda m: m.update(handler={"httpGet": {"port": 1, "path": "/", "host": "", "scheme": "HTTP",
                                             "httpHeaders": ["X-A: 1"]}}), "httpHeaders"),
    (lambda m: m.update(handler={"tcpSocket": []}), "tcpSocket"),
])
def test_decode_refuses_malformed_requests(change: Callable[[dict[str, Any]], None], error: str) -> None:
    msg = _good()
    change(msg)
    with pytest.raises(wire.WireError, match=error):
        wire.decode_request(json.dumps(msg).encode())


@pytest.mark.parametrize("data", [b"", b"not json", b"[1]", b'"x"', b"\xff"])
def test_decode_refuses_what_is_not_an_object(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_request(data)
    with pytest.raises(wire.WireError):
        wire.decode_reply(data)


def test_replies() -> None:
    assert wire.decode_reply(wire.encode_ready(99)) == wire.Reply(ready=99)
    assert wire.decode_reply(wire.encode_started(4, 1234)) == wire.Reply(id=4, pid=1234)
    assert wire.decode_reply(wire.encode_ended(4, 256)) == wire.Reply(id=4, status=256, ended=True)
    assert wire.decode_reply(wire.encode_ended(4, None)) == wire.Reply(id=4, status=None, ended=True)
    for bad in (b'{"id": 4}', b'{"id": 4, "status": "0"}', b'{"id": "4", "pid": 1}', b'{"ready": true}'):
        with pytest.raises(wire.WireError):
            wire.decode_reply(bad)


# --- a real spawner ---------------------------------------------------------------------------------------
@pytest.fixture
def loop() -> Iterator[Loop]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)}
    lp = Loop()
    try:
        yield lp
    finally:
        signal.set_wakeup_fd(-1)
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4096)  # the kernel completes handshakes without accept(), as long as the backlog has room
        yield s.getsockname()[1]


def run_until(loop: Loop, what: str, cond: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        loop.run_once(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def probe(loop: Loop, runner: ActionRunner, handler: Any, timeout: float = 5) -> ActionResult:
    results: list[ActionResult] = []
    runner.run(handler, HOST, timeout, {}, "probe", results.append)
    return run_until(loop, "the action's result", lambda: results and results[0])  # type: ignore[no-any-return]


def ready_spawner(loop: Loop, client: SpawnerClient, runner: ActionRunner, port: int) -> int:
    """Probe until the spawner serves (the first actions fork in process while it starts); its pid."""
    def ready() -> bool:
        assert probe(loop, runner, TCPSocketAction(port=port)) == ActionResult(True, "")
        loop.run_once(0.05)
        return client.ready

    run_until(loop, "a ready spawner", ready)
    return client.pid


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("PPid:"))


def test_actions_run_in_the_spawner_which_holds_nothing_of_ours(loop: Loop, listener: int) -> None:
    client = SpawnerClient(loop, build_id())
    runner = ActionRunner(loop, client)
    leaked_r, leaked_w = os.pipe()
    os.set_inheritable(leaked_w, True)  # a descriptor a careless start would pass on
    try:
        pid = ready_spawner(loop, client, runner, listener)
        assert parent_of(pid) == os.getpid()
        fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert leaked_w not in fds or fds[leaked_w] != os.readlink(f"/proc/self/fd/{leaked_w}")
        assert fds[3].startswith("socket:")
        assert all(fd <= 2 or fd == 3 or target.startswith("pipe:") for fd, target in fds.items()), fds  # + wakeup
        assert probe(loop, runner, TCPSocketAction(port=listener)) == ActionResult(True, "")
        # An httpGet the listener never answers (it accepts nothing) runs until its timeout: meanwhile its
        # action child is seen, a child of the spawner.
        results: list[ActionResult] = []
        runner.run(HTTPGetAction(port=listener), HOST, 3, {}, "probe", results.append)
        job = run_until(loop, "the action child's pid", lambda: next((j for j in client.jobs.values() if j.pid), None))
        assert parent_of(job.pid) == pid
        run_until(loop, "the unanswered httpGet", lambda: results)
        assert results[0].result is False and "Client.Timeout" in results[0].message, results
        assert not client.jobs
    finally:
        os.close(leaked_r)
        os.close(leaked_w)
        client.close()
    assert client.pid == 0 and not os.path.exists(f"/proc/{pid}")


def test_a_named_port_and_the_kill_backstop_through_the_spawner(loop: Loop, listener: int) -> None:
    client = SpawnerClient(loop, build_id())
    runner = ActionRunner(loop, client)
    try:
        ready_spawner(loop, client, runner, listener)
        results: list[ActionResult] = []
        runner.run(TCPSocketAction(port="metrics"), HOST, 1, {"metrics": listener}, "probe", results.append)
        run_until(loop, "the named port's result", lambda: results)
        assert results == [ActionResult(True, "")]
        # A job killed before the spawner answered its pid is killed once the pid comes: a timed-out result.
        job = client.start(TCPSocketAction(port=listener), HOST, 1, {}, "probe", lambda s, st: results.append(
            action.collect(s, st)))
        job.kill()
        run_until(loop, "the killed job", lambda: len(results) == 2)
        assert results[1] in (ActionResult(False, "probe timed out"), ActionResult(True, ""))  # it may win the race
    finally:
        client.close()


def test_a_killed_spawner_is_replaced(loop: Loop, listener: int) -> None:
    client = SpawnerClient(loop, build_id())
    runner = ActionRunner(loop, client)
    try:
        first = ready_spawner(loop, client, runner, listener)
        os.kill(first, signal.SIGKILL)
        run_until(loop, "the loss of the spawner", lambda: not client.ready)
        second = ready_spawner(loop, client, runner, listener)
        assert second != first and not client.disabled
        assert probe(loop, runner, TCPSocketAction(port=listener)) == ActionResult(True, "")
    finally:
        client.close()


def test_a_spawner_of_another_build_leaves_the_actions_to_the_supervisor(loop: Loop, listener: int) -> None:
    client = SpawnerClient(loop, "0.0+not-this-build")
    runner = ActionRunner(loop, client)
    try:
        assert probe(loop, runner, TCPSocketAction(port=listener)) == ActionResult(True, "")  # in process
        run_until(loop, "the spawner giving up", lambda: client.disabled)
        assert "before it was ready" in client.disabled and client.sock is None
        assert probe(loop, runner, TCPSocketAction(port=listener)) == ActionResult(True, "")
    finally:
        client.close()


# --- what the spawner loads -----------------------------------------------------------------------------------
# Imported inside functions of modules the spawner loads, on paths an action never takes: the container init's
# rootfs (runtime/launch.py), building a container's config (users), cgroup detection, the build hash's
# cache miss (done before the preload).
NOT_ON_AN_ACTION_PATH = {"pyrunc.runtime.rootfs", "pyrunc.runtime.users", "pyrunc.cgroups.null",
                         "pyrunc.cgroups.v1", "pyrunc.cgroups.v2", "hashlib"}


def test_the_spawner_preloads_what_its_modules_import_late() -> None:
    """As the supervisor's preload (test_supervisor_protocol.py): the spawner lives as long as the supervisor,
    and an import inside an action child would read whatever is on disk then."""
    script = ("import json, sys\nfrom pyrunc.probe.spawner import preload\npreload()\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    loaded = set(json.loads(subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {REPO!r})\n"
                                            + script], check=True, capture_output=True, text=True).stdout))
    assert "pyrunc.probe.exec" in loaded and "pyrunc.security.process" in loaded
    late: set[str] = set()
    for module in (m for m in loaded if m.startswith("pyrunc.") or m == "pyrunc"):
        path = Path(REPO, *module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        late.update(alias.name for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        late.add(node.module)
    assert sorted(late - loaded - NOT_ON_AN_ACTION_PATH) == []
    assert "pyrunc.spec.load" not in loaded and "pyrunc.supervisor.daemon" not in loaded  # it stays small


def test_a_request_that_cannot_be_sent_runs_in_process_and_the_spawner_is_replaced(loop: Loop,
                                                                                    listener: int) -> None:
    client = SpawnerClient(loop, build_id())
    runner = ActionRunner(loop, client)
    try:
        first = ready_spawner(loop, client, runner, listener)
        assert client.sock is not None
        client.sock.shutdown(socket.SHUT_WR)  # the next send fails (EPIPE), and the spawner sees its end
        assert probe(loop, runner, TCPSocketAction(port=listener)) == ActionResult(True, "")  # forked here
        run_until(loop, "the loss of the spawner", lambda: not client.ready)
        assert ready_spawner(loop, client, runner, listener) != first and not client.disabled
        run_until(loop, "the first spawner gone", lambda: not os.path.exists(f"/proc/{first}"))
    finally:
        client.close()


def test_a_request_too_big_for_a_packet_runs_in_process(loop: Loop, listener: int) -> None:
    client = SpawnerClient(loop, build_id())
    runner = ActionRunner(loop, client)
    try:
        spawner = ready_spawner(loop, client, runner, listener)
        huge = {f"port-{i:06d}-{'x' * 100}": listener for i in range(4000)}  # ~0.5 MB of named ports
        results: list[ActionResult] = []
        runner.run(TCPSocketAction(port="port-000001-" + "x" * 100), HOST, 5, huge, "probe", results.append)
        run_until(loop, "the big request's result", lambda: results)
        assert results == [ActionResult(True, "")]
        assert client.ready and client.pid == spawner  # the spawner stays
    finally:
        client.close()
