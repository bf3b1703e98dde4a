"""One streaming session of the CRI streaming server (pyrunc/cri/streaming.py): exec, attach or port-forward over
a WebSocket channel protocol, on the thread of its connection plus one reader thread.

    exec         the command is handed to the supervisor's exec socket (supervisor/exec_handoff.py), as ExecSync
                 and `pyrunc exec` do, with pipes of ours as its stdin/stdout/stderr; with a TTY, the slave of a
                 pty of ours (in raw mode) as all three: the exec child relays the container's pty to it, and a
                 resize sets our pty's size then sends the exec child SIGWINCH, which copies it to the container's
                 (the path of `pyrunc exec -t`'s SIGWINCH). The exit status ends the session in the error channel.
    attach       the container's attach socket (runtime/attach.py), its frames turned into channels.
    port-forward one connection per port, made by the supervisor inside the pod's network namespace
                 (supervisor/pod_connect.py) and passed back by SCM_RIGHTS; data channel 2i, error channel 2i+1.

This process never forks and never enters a namespace (it runs grpcio's and http.server's threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import threading
import tty as ttymod
from typing import Any, Callable, Iterator, Protocol

from pyrunc.cri import websocket as ws
from pyrunc.cri.conn import CHUNK, UpgradedConn
from pyrunc.cri.translate import CriError
from pyrunc.linux import terminal
from pyrunc.runtime import attach as wire
from pyrunc.store.layout import PodLayout
from pyrunc.supervisor import exec_handoff, protocol



class Channels(Protocol):
    """What a session speaks through: Kubernetes' numbered channels (websocket.py STDIN ... RESIZE), over WebSocket
    (WsConn) or SPDY streams (spdy_session.SpdyChannels)."""

    half_close: bool  # the client can end stdin alone (v5's close signal; SPDY's FIN)

    def send(self, channel: int, data: bytes) -> None: ...

    def status(self, status: dict[str, Any]) -> None: ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...

    def shutdown(self) -> None: ...

    def messages(self) -> Iterator[tuple[int, bytes]]: ...


class WsConn(UpgradedConn):
    """The server's side of one upgraded connection: channel messages in and out (writes under a lock: the
    reader thread answers pings while the session's thread sends output)."""

    def __init__(self, sock: socket.socket, protocol_name: str, leftover: bytes = b"") -> None:
        super().__init__(sock, leftover)
        self.protocol = protocol_name
        self.half_close = protocol_name == ws.V5

    def send(self, channel: int, data: bytes) -> None:
        self._send(ws.channel_message(self.protocol, channel, data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._send(ws.encode_frame(ws.OP_CLOSE, ws.close_payload(code, reason)))
        with self.lock:
            self.closed = True

    def messages(self) -> Iterator[tuple[int, bytes]]:
        """(channel, bytes) of each client message until the client closes or leaves; pings answered."""
        reasm = ws.Reassembler()
        while True:
            try:
                for frame in ws.parse_frames(self.buf, require_mask=True):
                    whole = reasm.feed(frame)
                    if whole is None:
                        continue
                    opcode, data = whole
                    if opcode == ws.OP_PING:
                        self._send(ws.encode_frame(ws.OP_PONG, data))
                    elif opcode == ws.OP_CLOSE:
                        self.close(1000)
                        return
                    elif opcode in (ws.OP_TEXT, ws.OP_BINARY):
                        yield ws.split_channel(self.protocol, opcode, data)
            except ws.ProtocolError as e:
                self.close(e.code, str(e))
                return
            if not self._fill():
                return

    # -- the error channel -------------------------------------------------------------------------------------
    def status(self, status: dict[str, Any]) -> None:
        """The session's outcome on the error channel: v4+ a Status JSON; v1 the message text, nothing on success."""
        if self.protocol in (ws.V1, ws.V1_BASE64):
            if status.get("status") != "Success":
                self.send(ws.ERROR, str(status.get("message", "")).encode())
            return
        self.send(ws.ERROR, json.dumps(status, separators=(",", ":")).encode())


# -- Status objects, as the kubelet writes them (metav1.Status, Go's field order) ----------------------------------
def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, cmd: list[str]) -> dict[str, Any]:
    """A non-zero exit: the kubelet's NonZeroExitCode, the message worded as containerd's exec error."""
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command [{' '.join(cmd)}], "
                       f"exit code {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_error(text: str) -> dict[str, Any]:
    """apierrors.NewInternalError, as the kubelet reports a session that could not run."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {text}",
            "reason": "InternalError", "details": {"causes": [{"message": text}]}, "code": 500}


def check_streams(cmd: list[str] | None, tty: bool, stdin: bool, stdout: bool, stderr: bool) -> None:
    """The kubelet's checks of an Exec or Attach request (streaming/server.go): INVALID_ARGUMENT when wrong."""
    if cmd is not None and not cmd:
        raise CriError("cmd: Required value")
    if tty and stderr:
        raise CriError("tty and stderr cannot both be true")
    if not (stdin or stdout or stderr):
        raise CriError("one of stdin, stdout, or stderr must be set")


def run(root: str, kind: str, request: dict[str, Any], conn: Channels, query: dict[str, list[str]]) -> None:
    if kind == "exec":
        Exec(root, request, conn).run()
    elif kind == "attach":
        attach(root, request, conn)
    else:
        assert isinstance(conn, WsConn)  # SPDY's port-forward has streams of its own (spdy_session.port_forward)
        port_forward(root, request, conn, query)


def _reader(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="cri-stream-reader", daemon=True)
    thread.start()
    return thread


def _resize(data: bytes) -> tuple[int, int] | None:
    """(rows, cols) of a TerminalSize message ({"Width": W, "Height": H}); None when it is not one."""
    try:
        size = json.loads(data)
        return int(size["Height"]), int(size["Width"])
    except (ValueError, KeyError, TypeError):
        return None


# -- exec -----------------------------------------------------------------------------------------------------------
class Exec:
    def __init__(self, root: str, request: dict[str, Any], conn: Channels) -> None:
        self.root = root
        self.req = request
        self.conn = conn
        self.tty = bool(request.get("tty"))
        self.pid = 0  # the exec child's, once it said so: a resize signals it
        self.resized = False  # a resize came: signalled again once the pid is known
        self.master = -1  # with a TTY: our pty's master (the output, and the input when stdin is asked)
        self.stdin_w = -1  # without a TTY: the write end of the command's stdin pipe
        self.control: socket.socket | None = None
        self.finished = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        outputs: dict[int, int] = {}  # our read end -> channel
        passed: list[int] = []
        try:
            if self.tty:
                self.master, slave = os.openpty()
                ttymod.setraw(slave)  # as a caller's terminal in `pyrunc exec -t`: the bytes pass as they are
                passed = [slave, os.dup(slave), os.dup(slave)]
                outputs[self.master] = ws.STDOUT
            else:
                passed = [self._stdin_end(), self._output_end(ws.STDOUT, outputs), self._output_end(ws.STDERR, outputs)]
            self.control = handoff(self.root, self.req, passed, stdin=bool(self.req.get("stdin")), tty=self.tty)
        except OSError as e:
            self.conn.status(internal_error(str(e)))
            self.conn.close()
            self._close(outputs)
            return
        finally:
            for fd in passed:
                os.close(fd)
        reader = _reader(self._read_client)
        try:
            status = self._relay(outputs)
        finally:
            self.finished.set()
            self._close(outputs)
        self.conn.status(status)
        self.conn.close()
        self.conn.shutdown()
        reader.join(5)

    def _stdin_end(self) -> int:
        if not self.req.get("stdin"):
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        r, self.stdin_w = os.pipe2(os.O_CLOEXEC)
        return r

    @staticmethod
    def _output_end(channel: int, outputs: dict[int, int]) -> int:
        r, w = os.pipe2(os.O_CLOEXEC)
        outputs[r] = channel
        return w

    def _close(self, outputs: dict[int, int]) -> None:
        with self.lock:
            for fd in list(outputs):
                with contextlib.suppress(OSError):
                    os.close(fd)
            outputs.clear()
            self.master = -1
            if self.stdin_w >= 0:
                with contextlib.suppress(OSError):
                    os.close(self.stdin_w)
                self.stdin_w = -1
        if self.control is not None:
            self.control.close()

    def _relay(self, outputs: dict[int, int]) -> dict[str, Any]:
        assert self.control is not None
        wanted = {ws.STDOUT: bool(self.req.get("stdout")), ws.STDERR: bool(self.req.get("stderr"))}
        if self.tty:
            wanted[ws.STDOUT] = wanted[ws.STDOUT] or wanted[ws.STDERR]
        control = bytearray()
        sel = selectors.DefaultSelector()
        for fd in outputs:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.control, selectors.EVENT_READ)
        open_ends = len(outputs) + 1
        try:
            while open_ends:
                for key, _ in sel.select():
                    if key.fileobj is self.control:
                        data = self.control.recv(4096)
                        control += data
                        self._saw_pid(bytes(control))
                    else:
                        try:
                            data = os.read(int(key.fd), CHUNK)
                        except OSError:  # EIO: every slave of our pty is closed, the exec is over
                            data = b""
                        channel = outputs[int(key.fd)]
                        if data and wanted[channel]:
                            self.conn.send(channel, data)
                    if not data:
                        sel.unregister(key.fileobj)
                        open_ends -= 1
        finally:
            sel.close()
        return self._outcome(bytes(control))

    def _saw_pid(self, control: bytes) -> None:
        if not self.pid and control.startswith(b"pid ") and b"\n" in control:
            with self.lock:
                self.pid = int(control[4:control.index(b"\n")])
                if self.resized:
                    # A resize came before we knew whom to tell; the exec child may have read our size before it.
                    self._winch()

    def _outcome(self, control: bytes) -> dict[str, Any]:
        text = control.decode(errors="replace")
        if text.startswith("{"):
            error = protocol.decode_error(protocol.decode_reply(control.split(b"\n", 1)[0]))
            return internal_error(str(error))
        for line in text.splitlines():
            if line.startswith("exit "):
                code = int(line.split()[1])
                return success() if code == 0 else exit_status(code, list(self.req.get("cmd") or []))
        return internal_error("the exec ended without an exit status")

    def _read_client(self) -> None:
        for channel, data in self.conn.messages():
            if self.finished.is_set():
                break
            if channel == ws.STDIN:
                self._input(data)
            elif channel == ws.CLOSE_CHANNEL and self.conn.half_close and data[:1] == bytes([ws.STDIN]):
                self._input_done()
            elif channel == ws.RESIZE and self.tty:
                size = _resize(data)
                if size is not None:
                    self._set_size(*size)
        if not self.finished.is_set() and self.control is not None:
            # The client left: the exec child sees its connection hang up and stops relaying (exec_handoff.py).
            with contextlib.suppress(OSError):
                self.control.shutdown(socket.SHUT_RDWR)
            self._input_done()

    def _input(self, data: bytes) -> None:
        if not self.req.get("stdin"):
            return
        # The write is made holding the lock, so that _close cannot close the descriptor (and another thread
        # reuse its number) meanwhile. It blocks only while the exec lives and does not read; once the exec
        # child is gone the write fails (EPIPE on the pipe, EIO on our pty), and _close, which runs after, proceeds.
        with self.lock:
            fd = self.master if self.tty else self.stdin_w
            try:
                while data and fd >= 0:
                    data = data[os.write(fd, data):]
            except OSError:
                pass  # the command closed its stdin, or the exec is over

    def _input_done(self) -> None:
        """The client's input ended: the command's stdin pipe closes. With a TTY nothing is done, as containerd:
        the terminal stays, an EOF there is the ^D the user types."""
        with self.lock:
            if self.stdin_w >= 0:
                os.close(self.stdin_w)
                self.stdin_w = -1

    def _set_size(self, rows: int, cols: int) -> None:
        with self.lock:
            if self.master < 0:
                return
            terminal.set_winsize(self.master, struct.pack("HHHH", rows, cols, 0, 0))
            self.resized = True
            self._winch()

    def _winch(self) -> None:
        """The exec child copies our pty's size to the container's on SIGWINCH (runtime/exec_io.py RawTerminal);
        called under the lock, until the session ends. (In the instant between the exec child's exit and that end its
        pid could be reused: the stray SIGWINCH is one a process ignores unless it handles terminal resizes.)"""
        if self.pid and not self.finished.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGWINCH)


def handoff(root: str, req: dict[str, Any], fds: list[int], stdin: bool, tty: bool) -> socket.socket:
    """The exec handed to the supervisor's exec socket with `fds` as the command's stdin, stdout, stderr: the
    connection, on which the exec child answers "pid N" and "exit N" (or the supervisor a JSON error)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        conn.connect(exec_handoff.socket_path(root))
        line = protocol.encode({"op": "exec", "protocol": protocol.PROTOCOL, "namespace": req["namespace"],
                                "pod": req["pod"], "container": req["container"], "command": list(req["cmd"]),
                                "stdin": stdin, "tty": tty})
        socket.send_fds(conn, [line], fds)
    except OSError:
        conn.close()
        raise
    return conn


# -- attach ---------------------------------------------------------------------------------------------------------
def attach(root: str, req: dict[str, Any], conn: Channels) -> None:
    layout = PodLayout(root, str(req["namespace"]), str(req["pod"]))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    dir_fd = -1
    try:
        dir_fd = os.open(layout.container_dir(str(req["container"])), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        sock.connect(wire.socket_path(dir_fd))
        sock.sendall(wire.frame(wire.HELLO, json.dumps({"stdin": bool(req.get("stdin"))}).encode()))
    except OSError as e:
        sock.close()
        conn.status(internal_error(f"cannot attach to container {req['container']}: {e.strerror or e}"))
        conn.close()
        return
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)
    finished = threading.Event()

    def read_client() -> None:
        with contextlib.suppress(OSError):
            for channel, data in conn.messages():
                if channel == ws.STDIN and req.get("stdin"):
                    sock.sendall(wire.frame(wire.STDIN, data))
                elif channel == ws.CLOSE_CHANNEL and conn.half_close and data[:1] == bytes([ws.STDIN]):
                    sock.sendall(wire.frame(wire.STDIN_EOF))
                elif channel == ws.RESIZE and req.get("tty"):
                    size = _resize(data)
                    if size is not None:
                        sock.sendall(wire.frame(wire.RESIZE, struct.pack(">HH", *size)))
            if not finished.is_set():
                sock.shutdown(socket.SHUT_RDWR)  # the client left: detach (the container runs on)

    reader = _reader(read_client)
    wanted = {wire.STDOUT: bool(req.get("stdout")), wire.STDERR: bool(req.get("stderr"))}
    buf = bytearray()
    try:
        while True:
            try:
                data = sock.recv(CHUNK)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            try:
                frames = wire.split_frames(buf)
            except ValueError:
                break
            for kind, payload in frames:
                if wanted.get(kind) or (req.get("tty") and kind == wire.STDOUT):
                    conn.send(ws.STDERR if kind == wire.STDERR else ws.STDOUT, payload)
    finally:
        finished.set()
        sock.close()
    conn.status(success())
    conn.close()
    conn.shutdown()
    reader.join(5)


# -- port-forward ---------------------------------------------------------------------------------------------------
def pod_connect(root: str, namespace: str, pod: str, port: int) -> socket.socket:
    """A connection to the pod's localhost:port, made by the supervisor in the pod's network namespace
    (supervisor/pod_connect.py); OSError with the reason when it cannot be made."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    with conn:
        conn.connect(exec_handoff.socket_path(root))
        conn.sendall(protocol.encode({"op": "pod-connect", "protocol": protocol.PROTOCOL, "namespace": namespace,
                                      "pod": pod, "port": port}))
        msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        for fd in fds[1:]:
            os.close(fd)
        if msg.startswith(b"ok") and fds:
            return socket.socket(fileno=fds[0])
        for fd in fds:
            os.close(fd)
        while msg and b"\n" not in msg:
            more = conn.recv(4096)
            if not more:
                break
            msg += more
    line = msg.split(b"\n", 1)[0]
    if line.startswith(b"{"):
        raise OSError(str(protocol.decode_error(protocol.decode_reply(line))))
    raise OSError(line.decode(errors="replace") or "the connecting process died")


def port_forward(root: str, req: dict[str, Any], conn: WsConn, query: dict[str, list[str]]) -> None:
    """The kubelet's WebSocket port-forward: ports from the `port` query parameters (at least one)."""
    try:
        ports = [int(p) for p in query.get("port", [])]
    except ValueError:
        ports = [0]
    if not ports or any(not 0 < p < 65536 for p in ports):
        conn.close(1008, 'query parameter "port" is required and must be port numbers')
        return
    wanted = {int(p) for p in req.get("ports") or []}
    remotes: dict[int, socket.socket] = {}  # data channel -> connection in the pod
    for i, port in enumerate(ports):
        conn.send(2 * i, ws.port_prefix(port))
        conn.send(2 * i + 1, ws.port_prefix(port))
        if wanted and port not in wanted:
            conn.send(2 * i + 1, f"port {port} was not asked for in the PortForward request".encode())
            continue
        try:
            remotes[2 * i] = pod_connect(root, str(req["namespace"]), str(req["pod"]), port)
        except OSError as e:
            conn.send(2 * i + 1, f"error forwarding port {port} to pod {req['sandbox_id']}: {e}".encode())
    finished = threading.Event()

    def read_client() -> None:
        for channel, data in conn.messages():
            remote = remotes.get(channel)
            if remote is not None and data:
                with contextlib.suppress(OSError):
                    remote.sendall(data)
        if not finished.is_set():
            for remote in list(remotes.values()):
                with contextlib.suppress(OSError):
                    remote.shutdown(socket.SHUT_RDWR)

    reader = _reader(read_client)
    sel = selectors.DefaultSelector()
    for channel, remote in remotes.items():
        sel.register(remote, selectors.EVENT_READ, channel)
    try:
        open_ends = len(remotes)
        while open_ends:
            for key, _ in sel.select():
                try:
                    data = key.fileobj.recv(CHUNK)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if data:
                    conn.send(int(key.data), data)
                else:
                    sel.unregister(key.fileobj)
                    open_ends -= 1
    finally:
        finished.set()
        sel.close()
        for remote in remotes.values():
            remote.close()
    conn.close()
    conn.shutdown()
    reader.join(5)
