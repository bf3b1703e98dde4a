"""The supervisor's request socket: accept, read one bounded request line, dispatch, reply, close.

Runs inside the daemon's single-threaded loop: every socket is non-blocking and read from the
loop's selector, so a slow or silent client never holds the supervisor up. A request is the
first line a client sends (see ``protocol.py``); the reply may come later (a delete answers once
the pod is gone), through the ``reply`` callable the handler was given.

Before dispatching, the server compares the request's protocol and build with its own: on a
mismatch it answers ``Handover`` and tells the daemon (``on_handover``), which stops accepting and
leaves the pods running for a supervisor of the client's build to adopt.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import traceback
from typing import Callable

from pyrunc.errors import PyruncError
from pyrunc.supervisor import protocol
from pyrunc.supervisor.loop import Loop
from pyrunc.supervisor.protocol import MAX_REQUEST, Message

log = logging.getLogger("pyrunc.server")
Reply = Callable[[Message], None]
Handler = Callable[[Message, Reply], None]
ExecHandler = Callable[[Message, int, list[int]], None]  # (request, connection fd, the caller's stdio fds)
MAX_FDS = 3  # descriptors a request may carry (SCM_RIGHTS): an exec's stdin, stdout and stderr


def guarded(reply: Reply, work: Callable[[], None]) -> None:
    """Run request work; any failure becomes the client's error reply (a client never hangs)."""
    try:
        work()
    except PyruncError as e:
        reply(protocol.encode_error(e))
    except Exception as e:  # noqa: BLE001
        log.error("request failed: %s", traceback.format_exc())
        reply(protocol.internal_error(e))


class Server:
    def __init__(self, loop: Loop, path: str, handler: Handler, build: str,
                 on_handover: Callable[[Message], None], max_request: int = MAX_REQUEST,
                 exec_handler: ExecHandler | None = None) -> None:
        """`exec_handler`: this is the exec socket, which takes exec requests (with descriptors) and nothing else;
        `handler` and `on_handover` are then never called."""
        self.loop = loop
        self.max_request = max_request
        self.path = path
        self.handler = handler
        self.build = build
        self.on_handover = on_handover
        self.exec_handler = exec_handler
        self.passed: dict[int, list[int]] = {}  # connection fd -> descriptors it sent (SCM_RIGHTS)
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.listener: socket.socket | None = None
        self.served_once = False  # a first request (not a ping) was taken

    # ------------------------------------------------------------------ listening
    def open(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        self.loop.add_reader(listener.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting (requests in flight still get their replies until the daemon exits)."""
        if self.listener is None:
            return
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        self.listener = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    @property
    def accepting(self) -> bool:
        return self.listener is not None

    @property
    def busy(self) -> bool:
        return bool(self.clients)

    # ------------------------------------------------------------------ connections
    def _accept(self) -> None:
        if self.listener is None:
            return
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and the like: leave the connection queued, try again later
                log.warning("accept failed: %s", e)
                return
            conn.setblocking(False)
            fd = conn.fileno()
            self.clients[fd] = (conn, bytearray())
            self.loop.add_reader(fd, functools.partial(self._read, fd))

    def _read(self, fd: int) -> None:
        entry = self.clients.get(fd)
        if entry is None:
            return
        conn, buf = entry
        try:
            # Never hold more than max_request + 1 bytes: one byte over the bound is enough to refuse.
            # recvmsg: an exec request carries the caller's stdio (SCM_RIGHTS) with its first bytes; they
            # are held until the request is whole, and closed with the connection (drop).
            data, ancillary, _, _ = conn.recvmsg(min(1 << 20, self.max_request + 1 - len(buf)),
                                                 socket.CMSG_SPACE(MAX_FDS * 4))
            self.passed.setdefault(fd, []).extend(_received_fds(ancillary))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(fd)  # the client left before sending a whole request
            return
        start = len(buf)
        buf += data
        newline = buf.find(b"\n", start)
        if newline < 0:
            if len(buf) > self.max_request:
                self._refuse_too_large(fd)
            return
        if newline + 1 > self.max_request:
            self._refuse_too_large(fd)
            return
        self.loop.remove_reader(fd)  # one request per connection: the rest is not read
        line = bytes(buf[:newline])
        buf.clear()

        def reply(msg: Message) -> None:
            self.send(fd, msg)

        fds = self.passed.get(fd, [])
        guarded(reply, lambda: self._dispatch(protocol.decode_request(line), reply, fd, fds))
        self._close_passed(fd)  # an exec child has its own copies; nobody else wants them

    def _refuse_too_large(self, fd: int) -> None:
        self.loop.remove_reader(fd)
        err = protocol.RequestTooLarge(f"request larger than {self.max_request} bytes refused",
                                       hint="a request is one JSON line; apply fewer or smaller manifests at once")
        self.send(fd, protocol.encode_error(err))

    def _dispatch(self, req: Message, reply: Reply, fd: int = -1, fds: list[int] | None = None) -> None:
        if self.exec_handler is not None:
            # The exec socket (supervisor/exec_handoff.py) serves execs only. No build check and no handover: an
            # exec changes nothing of the node, and runs the code that runs this supervisor's exec probes.
            if req.get("op") not in ("exec", "pod-connect") or req.get("protocol") != protocol.PROTOCOL:
                raise protocol.ProtocolError(f"this socket takes exec requests of protocol {protocol.PROTOCOL} only")
            self.served_once = True
            self.exec_handler(req, fd, list(fds or []))
            self.drop(fd)  # the exec child answers on its copy of the connection
            return
        if req.get("protocol") != protocol.PROTOCOL or req.get("build") != self.build:
            log.info("a client of build %s (protocol %s) asks; this supervisor is %s (protocol %s): handing over",
                     req.get("build"), req.get("protocol"), self.build, protocol.PROTOCOL)
            reply({"ok": False, "kind": protocol.HANDOVER, "pid": os.getpid(),
                   "protocol": protocol.PROTOCOL, "build": self.build,
                   "error": f"the pyrunc supervisor {os.getpid()} is of another build ({self.build}); it hands the node over",
                   "hint": "run the command again"})
            self.on_handover(req)
            return
        if req.get("op") != "ping":
            # A ping (the CLI's build check before its request) is no work done: counted as served,
            # an idle supervisor with daemon_linger 0 would leave between the ping and the request.
            self.served_once = True
        self.handler(req, reply)

    def send(self, fd: int, msg: Message) -> None:
        """Answer the client on ``fd`` and close its connection; a client that left is forgotten."""
        entry = self.clients.get(fd)
        if entry is None:
            return
        conn = entry[0]
        msg.setdefault("protocol", protocol.PROTOCOL)
        msg.setdefault("build", self.build)
        with contextlib.suppress(OSError):
            # Blocking for the reply only: it is small and the client is waiting for it.
            conn.setblocking(True)
            conn.settimeout(5.0)
            conn.sendall(protocol.encode(msg))
        self.drop(fd)

    def _close_passed(self, fd: int) -> None:
        for passed in self.passed.pop(fd, []):
            os.close(passed)

    def drop(self, fd: int) -> None:
        self._close_passed(fd)
        entry = self.clients.pop(fd, None)
        if entry is not None:
            self.loop.remove_reader(fd)
            entry[0].close()

    def drop_all(self) -> None:
        for fd in list(self.clients):
            self.drop(fd)


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The descriptors of SCM_RIGHTS messages (whole ints only: a truncated one is not ours to close)."""
    import array

    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[: len(data) - len(data) % a.itemsize])
            fds.extend(a)
    return fds
