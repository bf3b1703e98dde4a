"""CRI ExecSync from the edge: the command runs through the supervisor's exec socket, its output captured.

The edge is a threaded gRPC process: it never forks (a fork of a threaded Python process may inherit a
lock some other thread held). It asks the supervisor where the container is (the `ExecTarget` request),
then hands the exec to the supervisor's exec socket (supervisor/exec_handoff.py) as `pyrunc exec` does,
with the write ends of two pipes as the command's stdout and stderr and /dev/null as its stdin, and reads
both pipes to their end. The exec child answers "pid N" then "exit N" on the connection.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from dataclasses import dataclass

from pyrunc.cri.translate import CriError
from pyrunc.supervisor import exec_handoff, protocol

OUTPUT_CAP = 16 << 20  # CRI: at most 16 MiB of each stream; the rest is read and dropped (CVE-2022-1708)


@dataclass(frozen=True)
class ExecOutcome:
    stdout: bytes
    stderr: bytes
    exit_code: int


def exec_sync(root: str, namespace: str, pod: str, container: str, argv: list[str], timeout: float) -> ExecOutcome:
    """Run `argv` in the container; `timeout` seconds (0: none) before a DEADLINE_EXCEEDED error."""
    if not argv:
        raise CriError("cmd: Required value")
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        try:
            conn.connect(exec_handoff.socket_path(root))
        except OSError as e:
            raise CriError(f"the pyrunc supervisor's exec socket does not answer: {e.strerror}", "UNAVAILABLE") from None
        request = protocol.encode({"op": "exec", "protocol": protocol.PROTOCOL, "namespace": namespace, "pod": pod,
                                   "container": container, "command": argv, "stdin": False, "tty": False})
        socket.send_fds(conn, [request], [null, out_w, err_w])
    finally:
        for fd in (null, out_w, err_w):
            os.close(fd)  # the exec child holds its copies: the pipes end when the command's output does
    try:
        return _collect(conn, out_r, err_r, timeout)
    finally:
        conn.close()
        os.close(out_r)
        os.close(err_r)


def _collect(conn: socket.socket, out_r: int, err_r: int, timeout: float) -> ExecOutcome:
    deadline = time.monotonic() + timeout if timeout > 0 else None
    buffers = {out_r: bytearray(), err_r: bytearray()}
    control = bytearray()
    sel = selectors.DefaultSelector()
    for fd in (out_r, err_r):
        sel.register(fd, selectors.EVENT_READ)
    sel.register(conn, selectors.EVENT_READ)
    open_ends = 3
    try:
        while open_ends:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise CriError(f"command {timeout:g}s timeout exceeded", "DEADLINE_EXCEEDED")
            for key, _ in sel.select(left):
                if key.fileobj is conn:
                    data = conn.recv(4096)
                    control += data
                else:
                    fd = int(key.fd)
                    data = os.read(fd, 65536)
                    room = OUTPUT_CAP - len(buffers[fd])
                    buffers[fd] += data[:max(room, 0)]
                if not data:
                    sel.unregister(key.fileobj)
                    open_ends -= 1
    finally:
        sel.close()
    return ExecOutcome(bytes(buffers[out_r]), bytes(buffers[err_r]), _exit_code(bytes(control)))


def _exit_code(control: bytes) -> int:
    """The "exit N" line of the exec child; an error reply (JSON) when the supervisor refused the exec."""
    text = control.decode(errors="replace")
    if text.startswith("{"):
        raise protocol.decode_error(protocol.decode_reply(control.split(b"\n", 1)[0]))
    for line in text.splitlines():
        if line.startswith("exit "):
            return int(line.split()[1])
    raise CriError("the exec ended without an exit status", "UNKNOWN")
