"""Attaching to a container's main process (CRI Attach, `pyrunc attach`): the supervisor's side and the wire format.

As containerd's shim does, the supervisor holds the container's stdio for its whole life: the read ends of
its stdout/stderr pipes (copied to the CRI log, runtime/service.py), and, when the spec asks for them, the
write end of its stdin pipe (`stdin: true`) or the master of its pseudo-terminal (`tty: true`; a pty of the
container's own devpts, allocated by its init: runtime/launch.py). An `AttachPoint` adds clients to that:
every byte of output also goes to each attached client, and the input of clients that asked for stdin goes
to the container's stdin.

Clients connect to `containers/<name>/attach.sock` under the pod's state directory (0600, root's, in a pod
directory that is 0750 root: the same trust as the daemon's own socket). The path is reached through an
O_PATH descriptor of the directory (/proc/self/fd/N/attach.sock) on both sides: a unix socket path is
limited to 108 bytes, which a deep --root exceeds.

Wire format, both ways: frames of one type byte, a 4-byte big-endian length, and the payload.
    client -> supervisor  HELLO {"stdin": bool} (JSON), STDIN bytes, STDIN_EOF, RESIZE (rows, cols as 2 x u16)
    supervisor -> client  STDOUT bytes, STDERR bytes; the connection closes when the container's output ends

The supervisor is one single-threaded loop (supervisor/loop.py): nothing here blocks. A client that does
not keep up with the output loses it past OUTPUT_BOUND bytes queued (it is disconnected), as a container
must never wait for a viewer; input the container does not read is held up to INPUT_BOUND bytes, and the
clients are not read meanwhile. `stdinOnce`: the container's stdin is closed when the first client that
attached with stdin leaves, as the kubelet's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import struct
from typing import Any, Callable

from pyrunc.linux import terminal

HEADER = struct.Struct(">BI")
HELLO, STDIN, STDIN_EOF, RESIZE, STDOUT, STDERR = range(6)
MAX_FRAME = 1 << 20
OUTPUT_BOUND = 4 << 20  # bytes queued for one client before it is dropped
INPUT_BOUND = 1 << 16  # bytes of input held for a container that does not read
RETRY = 0.05  # seconds between attempts to write what a non-blocking descriptor refused
SOCKET_NAME = "attach.sock"

log = logging.getLogger("pyrunc.attach")


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def split_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """The whole frames at the start of `buf`, removed from it; ValueError on a frame over MAX_FRAME."""
    out = []
    while len(buf) >= HEADER.size:
        kind, size = HEADER.unpack_from(buf)
        if size > MAX_FRAME:
            raise ValueError(f"attach frame of {size} bytes")
        if len(buf) < HEADER.size + size:
            break
        out.append((kind, bytes(buf[HEADER.size:HEADER.size + size])))
        del buf[:HEADER.size + size]
    return out


def socket_path(dir_fd: int) -> str:
    """The socket's name through a descriptor of the container's state directory (short whatever --root is)."""
    return f"/proc/self/fd/{dir_fd}/{SOCKET_NAME}"


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.hello = False
        self.stdin = False
        self.reading = True


class AttachPoint:
    """One running container's attach socket and clients, driven by the supervisor's loop.

    `loop` is a supervisor Loop (add_reader, remove_reader, call_later). Both descriptors become this
    object's, closed by close(): `input_fd` the container's stdin (the stdin pipe's write end or a dup of the
    pty master; -1: none), `tty_master` a dup of the master for window sizes (-1: none).
    """

    def __init__(self, loop: Any, container_dir: str, input_fd: int = -1, tty_master: int = -1,
                 stdin_once: bool = False) -> None:
        self.loop = loop
        self.input_fd = input_fd
        self.tty_master = tty_master
        self.stdin_once = stdin_once
        self.pending_input = bytearray()
        self.input_timer: int | None = None
        self.clients: dict[int, _Client] = {}
        self.flush_timer: int | None = None
        self.closed = False
        if input_fd >= 0:
            os.set_blocking(input_fd, False)
        dir_fd = os.open(container_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(SOCKET_NAME, dir_fd=dir_fd)
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            old = os.umask(0o177)  # 0600 from the start: no moment when another user could connect
            try:
                self.listener.bind(socket_path(dir_fd))
            finally:
                os.umask(old)
        finally:
            os.close(dir_fd)
        self.path = os.path.join(container_dir, SOCKET_NAME)
        self.listener.listen(16)
        self.listener.setblocking(False)
        loop.add_reader(self.listener.fileno(), self._accept)

    # -- output of the container ------------------------------------------------------------------------------
    def output(self, stream: str, data: bytes) -> None:
        """Bytes the container wrote (called by the service's log pump): to every client."""
        if not data or not self.clients:
            return
        kind = STDERR if stream == "stderr" else STDOUT
        for fd, c in list(self.clients.items()):
            c.outbuf += frame(kind, data)
            if len(c.outbuf) > OUTPUT_BOUND:
                log.info("an attached client does not keep up with the output: disconnected")
                self._drop(fd)
        self._flush()

    def _flush(self) -> None:
        self.flush_timer = None
        for fd, c in list(self.clients.items()):
            while c.outbuf:
                try:
                    n = c.sock.send(c.outbuf)
                except BlockingIOError:
                    break
                except OSError:
                    self._drop(fd)
                    break
                del c.outbuf[:n]
        if any(c.outbuf for c in self.clients.values()) and self.flush_timer is None and not self.closed:
            self.flush_timer = self.loop.call_later(RETRY, self._flush)

    # -- clients ----------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("attach accept failed: %s", e)
                return
            conn.setblocking(False)
            self.clients[conn.fileno()] = _Client(conn)
            self.loop.add_reader(conn.fileno(), self._reader(conn.fileno()))

    def _reader(self, fd: int) -> Callable[[], None]:
        return lambda: self._read(fd)

    def _read(self, fd: int) -> None:
        c = self.clients.get(fd)
        if c is None:
            return
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return
        c.inbuf += data
        try:
            frames = split_frames(c.inbuf)
        except ValueError:
            self._drop(fd)
            return
        for kind, payload in frames:
            self._frame(c, kind, payload)

    def _frame(self, c: _Client, kind: int, payload: bytes) -> None:
        if kind == HELLO and not c.hello:
            c.hello = True
            try:
                c.stdin = bool(json.loads(payload).get("stdin"))
            except (ValueError, AttributeError):
                c.stdin = False
        elif kind == STDIN and c.stdin and self.input_fd >= 0:
            self.pending_input += payload
            self._write_input()
        elif kind == STDIN_EOF and c.stdin:
            self._stdin_done(c)
        elif kind == RESIZE and self.tty_master >= 0 and len(payload) == 4:
            rows, cols = struct.unpack(">HH", payload)
            terminal.set_winsize(self.tty_master, struct.pack("HHHH", rows, cols, 0, 0))

    def _stdin_done(self, c: _Client) -> None:
        """A stdin client's input ended (EOF or it left): with stdinOnce the container's stdin closes."""
        c.stdin = False
        if self.stdin_once and self.input_fd >= 0:
            self._write_input()
            if not self.pending_input:
                self._close_input()

    def _write_input(self) -> None:
        self.input_timer = None
        while self.pending_input and self.input_fd >= 0:
            try:
                n = os.write(self.input_fd, self.pending_input)
            except BlockingIOError:
                break
            except OSError as e:  # EPIPE: the container closed its stdin; EIO: its terminal is gone
                if e.errno not in (errno.EPIPE, errno.EIO, errno.EBADF):
                    raise
                self.pending_input.clear()
                self._close_input()
                break
            del self.pending_input[:n]
        held = len(self.pending_input) > INPUT_BOUND
        for fd, c in self.clients.items():  # back-pressure: clients are not read while input waits
            if held and c.reading:
                self.loop.remove_reader(fd)
                c.reading = False
            elif not held and not c.reading:
                self.loop.add_reader(fd, self._reader(fd))
                c.reading = True
        if self.pending_input and self.input_timer is None and not self.closed:
            self.input_timer = self.loop.call_later(RETRY, self._write_input)

    def _close_input(self) -> None:
        if self.input_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.input_fd)
            self.input_fd = -1

    def _drop(self, fd: int) -> None:
        c = self.clients.pop(fd, None)
        if c is None:
            return
        if c.reading:
            self.loop.remove_reader(fd)
        c.sock.close()
        if c.stdin:
            self._stdin_done(c)

    # -- the end ---------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """The container ended: what is queued is sent if it can be at once, then every client is closed."""
        if self.closed:
            return
        self._flush()
        self.closed = True
        self.loop.cancel(self.flush_timer)
        self.loop.cancel(self.input_timer)
        for fd in list(self.clients):
            c = self.clients[fd]
            c.stdin = False
            self._drop(fd)
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._close_input()
        if self.tty_master >= 0:
            os.close(self.tty_master)
            self.tty_master = -1
