"""The CLI's side of the supervisor: find it, start it when needed, send one request.

Mutating commands (apply, delete) go through the daemon; reads (get, describe, logs) go
straight to the files on disk and never start anything.

Every request carries the CLI's build and protocol (``pyrunc.build``, ``protocol.PROTOCOL``). A
supervisor of another build answers ``Handover`` and exits leaving the pods running; the CLI
waits for it to be gone, starts a supervisor of its own build (which adopts the pods) and sends
the request again. A supervisor older than the handover (its replies carry no protocol) is
found by a ping before the first request and stopped with SIGKILL, which it is built to survive
(the pods keep running and the next supervisor adopts them).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import subprocess

from pyrunc.config import NodeConfig
from pyrunc.errors import DaemonError
from pyrunc.linux.syscalls import pid_alive
from pyrunc.store.atomic import private_dir, read_json
from pyrunc.store.supervisor import daemon_json

START_TIMEOUT = 120.0  # a slow or loaded machine (the QEMU guest under TCG) needs long for a cold start
HANDOVER_TIMEOUT = 60.0  # for the old supervisor to exit after it handed over (it only closes files)
RECONNECT_TIMEOUT = 30.0  # for an exiting supervisor's connections to stop being dropped (see request)
_checked: set[str] = set()  # roots whose supervisor this process found of its own build


def _connect(cfg: NodeConfig) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(os.path.join(cfg.root, "daemon.sock"))
        return s
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        return None


def _spawn(cfg: NodeConfig) -> "subprocess.Popen[bytes]":
    import subprocess  # only when a daemon must be started: keeps get/logs/exec start-up light

    private_dir(cfg.root)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log_fd = os.open(os.path.join(cfg.root, "daemon.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(log_fd, 0o600)  # also a log left by an older version, made before logs were private
    with open(log_fd, "ab") as logf:  # the daemon's log names pods and their errors: root's only
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "pyrunc", "--root", cfg.root, "daemon"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env, cwd="/",
        )


def _last_line(cfg: NodeConfig) -> str:
    try:
        with open(os.path.join(cfg.root, "daemon.log"), "rb") as f:
            lines = f.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"
    except OSError:
        return "no log"


def connect(cfg: NodeConfig) -> socket.socket:
    """A connection to the daemon, starting one if none answers."""
    s = _connect(cfg)
    if s is not None:
        return s
    proc = _spawn(cfg)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while time.monotonic() < deadline:
        s = _connect(cfg)
        if s is not None:
            return s
        if proc.poll() not in (None, 0):
            raise DaemonError(f"the pyrunc supervisor failed to start: {_last_line(cfg)}",
                              hint=f"see {os.path.join(cfg.root, 'daemon.log')}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)
    raise DaemonError(f"the pyrunc supervisor did not start within {START_TIMEOUT:.0f}s",
                      hint=f"see {os.path.join(cfg.root, 'daemon.log')}")


def _exchange(cfg: NodeConfig, msg: dict[str, Any]) -> dict[str, Any] | None:
    """Send one request, read one reply; None when the connection broke (the daemon was exiting)."""
    from pyrunc.supervisor import protocol  # noqa: PLC0415 - `pyrunc get` imports this module and needs none of it
    data = protocol.encode(msg)
    if len(data) > protocol.MAX_REQUEST:  # the supervisor would refuse it: say so without sending
        raise protocol.RequestTooLarge(f"request of {len(data)} bytes is larger than {protocol.MAX_REQUEST} bytes",
                                       hint="apply fewer or smaller manifests at once")
    s = connect(cfg)
    try:
        s.sendall(data)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, BrokenPipeError):
        buf = b""
    finally:
        s.close()
    return protocol.decode_reply(buf) if buf.endswith(b"\n") else None


def _wait_gone(cfg: NodeConfig, pid: int) -> None:
    """Until the supervisor ``pid`` has exited (its lock released: the next one may adopt)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select  # noqa: PLC0415 - only on a handover

        if not select.select([pidfd], [], [], HANDOVER_TIMEOUT)[0]:
            raise DaemonError(f"the pyrunc supervisor {pid} handed over but did not exit within {HANDOVER_TIMEOUT:.0f}s",
                              hint=f"see {os.path.join(cfg.root, 'daemon.log')}")
    finally:
        os.close(pidfd)


def _stop_legacy(cfg: NodeConfig, reply: dict[str, Any]) -> None:
    """A supervisor from before the handover protocol: SIGKILL (what it is built to survive)."""
    import signal  # noqa: PLC0415 - only for an old supervisor

    facts = read_json(daemon_json(cfg.root))
    pid = int(reply.get("pid") or 0)
    if not pid or int(facts.get("pid", 0)) != pid or not pid_alive(pid, facts.get("startTime")):
        return  # not the recorded supervisor (or gone already): never signal a stranger
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)
    _wait_gone(cfg, pid)


def _stamped(msg: dict[str, Any]) -> dict[str, Any]:
    from pyrunc.build import build_id  # noqa: PLC0415 - hashing the package: only for requests
    from pyrunc.supervisor import protocol  # noqa: PLC0415

    return {**msg, "protocol": protocol.PROTOCOL, "build": build_id()}


def _handed_over(cfg: NodeConfig, reply: dict[str, Any]) -> bool:
    """The reply says the supervisor is of another build: wait for it to leave; True when so."""
    from pyrunc.supervisor import protocol  # noqa: PLC0415 - `pyrunc get` imports this module and needs none of it
    if reply.get("kind") == protocol.HANDOVER:
        _wait_gone(cfg, int(reply.get("pid") or 0))
        return True
    if "protocol" not in reply:
        _stop_legacy(cfg, reply)
        return True
    return False


def _ensure_own_build(cfg: NodeConfig) -> None:
    """Once per process and root: a running supervisor of another build (or an older one) goes first."""
    if cfg.root in _checked:
        return
    for _ in range(5):
        reply = _exchange(cfg, _stamped({"op": "ping"}))
        if reply is None:
            time.sleep(0.05)
            continue
        if not _handed_over(cfg, reply):
            _checked.add(cfg.root)
            return
    raise DaemonError("the pyrunc supervisor keeps handing over", hint=f"see {cfg.root}/daemon.log")


def request(cfg: NodeConfig, msg: dict[str, Any]) -> dict[str, Any]:
    """Send ``msg`` to the supervisor of this build (started if need be); its reply, or its error raised
    as the same PyruncError class the supervisor raised."""
    from pyrunc.supervisor import protocol  # noqa: PLC0415 - `pyrunc get` imports this module and needs none of it
    _ensure_own_build(cfg)
    deadline = time.monotonic() + RECONNECT_TIMEOUT
    attempt = 0
    while attempt < 5 or time.monotonic() < deadline:
        attempt += 1
        reply = _exchange(cfg, _stamped(msg))
        if reply is None:
            # The daemon was exiting as we connected (its last pod just went): a connection it had accepted
            # is dropped unread. Its teardown (bridge, NAT table) can take a while on a busy host, and until its
            # socket closes a new connection may meet the same fate: try again until a new one answers.
            time.sleep(min(0.05 * attempt, 0.5))
            continue
        if _handed_over(cfg, reply):
            continue
        if not reply.get("ok"):
            raise protocol.decode_error(reply)
        return reply
    raise DaemonError("lost the connection to the pyrunc supervisor", hint=f"see {cfg.root}/daemon.log")


def notify_objects_changed(cfg: NodeConfig) -> None:
    """Tell the node's supervisor that a ConfigMap or Secret was stored or deleted (its pods' volumes and
    pending containers may read it), only when one serves the root: objects are written by the CLI
    itself, and a node without pods needs no supervisor started for them."""
    from pyrunc.store.supervisor import daemon_running  # noqa: PLC0415 - only after an object changed

    if not daemon_running(cfg.root):
        return
    try:
        request(cfg, {"op": "objects-changed"})
    except DaemonError:
        # A supervisor that does not know the request ("unknown request"), or one that left meanwhile:
        # the objects are stored either way, and a new supervisor reads them when it starts pods.
        pass
