"""The CLI's side of the supervisor: find it, start it when needed, send one request.

Mutating commands (apply, delete) go through the daemon; reads (get, describe, logs) go
straight to the files on disk and never start anything.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import subprocess

from pyrunc.config import NodeConfig
from pyrunc.errors import DaemonError, NotFound, PyruncError
from pyrunc.linux.syscalls import pid_alive
from pyrunc.store.atomic import private_dir, read_json

START_TIMEOUT = 120.0  # a slow or loaded machine (the QEMU guest under TCG) needs long for a cold start


def daemon_running(cfg: NodeConfig) -> bool:
    facts = read_json(os.path.join(cfg.root, "daemon.json"))
    return bool(facts) and pid_alive(int(facts.get("pid", 0)), facts.get("startTime"))


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


def request(cfg: NodeConfig, msg: dict[str, Any]) -> dict[str, Any]:
    for attempt in range(3):
        s = connect(cfg)
        try:
            s.sendall((json.dumps(msg) + "\n").encode())
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
        if buf:
            reply = json.loads(buf)
            if not reply.get("ok"):
                if reply.get("kind") == "NotFound":
                    err: PyruncError = NotFound("pods", "")
                    err.message = reply["error"]
                    raise err
                raise PyruncError(reply.get("error", "request failed"), reply.get("hint", ""))
            return cast(dict[str, Any], reply)
        # The daemon was exiting as we connected; the next attempt starts a new one.
        time.sleep(0.05 * (attempt + 1))
    raise DaemonError("lost the connection to the pyrunc supervisor", hint=f"see {cfg.root}/daemon.log")
