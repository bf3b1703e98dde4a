"""The SPDY/3.1 side of the CRI streaming server: client-go's remotecommand (exec, attach) and port-forward over
an upgraded connection (framing: pyrunc/cri/spdy.py).

    remotecommand   the client opens one stream per part, named by its `streamType` header: error, stdin, stdout,
                    stderr, resize (with a TTY, protocol v3 and later). The server waits for the streams the request
                    asked for (as the kubelet: error, and stdin/stdout/stderr as asked, no stderr with a TTY), then
                    runs the same session as over WebSocket (stream_session.Exec, stream_session.attach) through
                    `SpdyChannels`, which maps the streams to the channel numbers: stdin's FIN is the end of input,
                    each JSON TerminalSize on the resize stream a resize, the Status is written on the error stream.
    port-forward    (`portforward.k8s.io`) the client opens, per connection, an error stream and a data stream with
                    the same `requestID` and `port` headers; once both are there the supervisor connects in the
                    pod's network namespace and the bytes are relayed; a failure is written on the error stream.

Flow control: client-go's SPDY library (moby/spdystream) neither sends nor waits for WINDOW_UPDATE; this server
ignores the windows as well (a peer that enforces them would stall after 64 KiB of one stream).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any, Iterator

from pyrunc.cri import spdy
from pyrunc.cri import websocket as ws
from pyrunc.cri.conn import CHUNK, UpgradedConn

STREAM_TIMEOUT = 30.0  # seconds to wait for the client's streams, as the kubelet's stream creation timeout
# X-Stream-Protocol-Version values, in the kubelet's order of preference (v5 is WebSocket's only).
REMOTECOMMAND_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
PORTFORWARD_PROTOCOLS = ("portforward.k8s.io",)
CHANNELS = {"stdin": ws.STDIN, "stdout": ws.STDOUT, "stderr": ws.STDERR, "error": ws.ERROR, "resize": ws.RESIZE}


class SpdyConn(UpgradedConn):
    """One upgraded connection: frames read from the socket as events, frames written under a lock."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        super().__init__(sock, leftover)
        self.compress = spdy.Compressor()
        self.inflate = spdy.Decompressor()
        self.last_stream = 0

    def write(self, frame: bytes) -> None:
        self._send(frame)

    def data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        for at in range(0, max(len(data), 1), CHUNK):  # an empty FIN frame too
            self.write(spdy.encode_data(stream_id, data[at:at + CHUNK], fin and at + CHUNK >= len(data)))

    def reply(self, stream_id: int) -> None:
        with self.lock:  # the compressor's state is the connection's: blocks go out in the order compressed
            frame = spdy.syn_reply(stream_id, self.compress.block({}))
            if not self.closed:
                try:
                    self.sock.sendall(frame)
                except OSError:
                    self.closed = True

    def goaway(self) -> None:
        self.write(spdy.goaway(self.last_stream))
        with self.lock:
            self.closed = True

    def events(self) -> Iterator[tuple[str, int, Any]]:
        """("stream", id, headers), ("data", id, bytes), ("fin", id, None), ("reset", id, None) until the client
        leaves or says GOAWAY; every new stream is answered (SYN_REPLY), pings echoed."""
        while True:
            try:
                frames = spdy.parse_frames(self.buf)
                for f in frames:
                    if not f.control:
                        if f.data:
                            yield "data", f.stream_id, f.data
                        if f.flags & spdy.FLAG_FIN:
                            yield "fin", f.stream_id, None
                    elif f.kind == spdy.SYN_STREAM:
                        headers = self.inflate.block(f.data)
                        self.last_stream = max(self.last_stream, f.stream_id)
                        self.reply(f.stream_id)
                        yield "stream", f.stream_id, headers
                        if f.flags & spdy.FLAG_FIN:
                            yield "fin", f.stream_id, None
                    elif f.kind == spdy.HEADERS:
                        self.inflate.block(f.data)  # read for the compression state's sake; nothing to do
                    elif f.kind == spdy.RST_STREAM:
                        yield "reset", f.stream_id, None
                    elif f.kind == spdy.PING:
                        self.write(spdy.encode_control(spdy.PING, 0, f.data))
                    elif f.kind == spdy.GOAWAY:
                        return
            except spdy.SpdyError:
                self.write(spdy.goaway(self.last_stream, spdy.PROTOCOL_ERROR))
                return
            if not self._fill():
                return


class SpdyChannels:
    """remotecommand's streams as the channels stream_session's Exec and attach speak (the `Channels` shape)."""

    half_close = True  # stdin's FIN is the end of the input, as v5's close signal over WebSocket

    def __init__(self, conn: SpdyConn, protocol_name: str) -> None:
        self.conn = conn
        self.protocol = protocol_name
        self.events = conn.events()
        self.ids: dict[int, int] = {}  # channel -> stream id
        self.channel_of: dict[int, int] = {}  # stream id -> channel
        self.finished: set[int] = set()  # channels we ended (FIN sent)
        self.resize_buf = ""

    def wait_streams(self, request: dict[str, Any]) -> bool:
        """Read until the streams the request needs are open (as the kubelet counts them); False if the client
        left first."""
        wanted = {ws.ERROR}
        for name, channel in (("stdin", ws.STDIN), ("stdout", ws.STDOUT)):
            if request.get(name):
                wanted.add(channel)
        if request.get("stderr") and not request.get("tty"):
            wanted.add(ws.STDERR)
        if request.get("tty") and self.protocol not in ("v2.channel.k8s.io", "channel.k8s.io"):
            wanted.add(ws.RESIZE)
        self.conn.sock.settimeout(STREAM_TIMEOUT)
        try:
            while not wanted <= set(self.ids):
                event = next(self.events, None)
                if event is None:
                    return False
                kind, stream_id, value = event
                if kind == "stream":
                    named = CHANNELS.get(str(value.get("streamtype", "")))
                    if named is None:
                        self.conn.write(spdy.rst_stream(stream_id, spdy.PROTOCOL_ERROR))
                        continue
                    self.ids[named] = stream_id
                    self.channel_of[stream_id] = named
        except TimeoutError:
            return False
        finally:
            self.conn.sock.settimeout(None)
        return True

    def send(self, channel: int, data: bytes) -> None:
        stream_id = self.ids.get(channel)
        if stream_id is not None and channel not in self.finished:
            self.conn.data(stream_id, data)

    def _finish(self, channel: int) -> None:
        stream_id = self.ids.get(channel)
        if stream_id is not None and channel not in self.finished:
            self.finished.add(channel)
            self.conn.data(stream_id, b"", fin=True)

    def status(self, status: dict[str, Any]) -> None:
        """Output streams ended first, then the Status on the error stream (v4: JSON; before: the message text,
        nothing on success) and its end: client-go reads the error stream to its end, then the output's."""
        self._finish(ws.STDOUT)
        self._finish(ws.STDERR)
        if self.protocol == "v4.channel.k8s.io":
            self.send(ws.ERROR, json.dumps(status, separators=(",", ":")).encode())
        elif status.get("status") != "Success":
            self.send(ws.ERROR, str(status.get("message", "")).encode())
        self._finish(ws.ERROR)

    def close(self, code: int = 1000, reason: str = "") -> None:
        for channel in (ws.STDOUT, ws.STDERR, ws.ERROR):
            self._finish(channel)
        self.conn.goaway()

    def shutdown(self) -> None:
        self.conn.shutdown()

    def messages(self) -> Iterator[tuple[int, bytes]]:
        for kind, stream_id, value in self.events:
            channel = self.channel_of.get(stream_id)
            if channel is None:
                continue
            if kind == "data" and channel == ws.RESIZE:
                yield from self._sizes(value)
            elif kind == "data" and channel == ws.STDIN:
                yield ws.STDIN, value
            elif kind in ("fin", "reset") and channel == ws.STDIN:
                yield ws.CLOSE_CHANNEL, bytes([ws.STDIN])

    def _sizes(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """client-go writes each TerminalSize as a JSON object (json.Encoder: one per line); a frame may hold a
        part of one or several."""
        self.resize_buf += data.decode(errors="replace")
        decoder = json.JSONDecoder()
        while True:
            text = self.resize_buf.lstrip()
            if not text:
                self.resize_buf = ""
                return
            try:
                size, end = decoder.raw_decode(text)
            except ValueError:
                self.resize_buf = text
                return
            self.resize_buf = text[end:]
            yield ws.RESIZE, json.dumps(size).encode()


def port_forward(root: str, request: dict[str, Any], conn: SpdyConn) -> None:
    """Pairs of (error, data) streams by requestID, each relayed to a connection made in the pod."""
    from pyrunc.cri.stream_session import pod_connect

    allowed = {int(p) for p in request.get("ports") or []}
    pairs: dict[str, dict[str, int]] = {}  # requestID -> streamType -> stream id
    remotes: dict[int, socket.socket] = {}  # data stream id -> its connection in the pod
    errors: dict[int, int] = {}  # data stream id -> error stream id
    threads: list[threading.Thread] = []

    def relay_out(data_id: int, remote: socket.socket) -> None:
        while True:
            try:
                chunk = remote.recv(CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                break
            conn.data(data_id, chunk)
        conn.data(data_id, b"", fin=True)
        conn.data(errors[data_id], b"", fin=True)

    for kind, stream_id, value in conn.events():
        if kind == "stream":
            stream_type, request_id = str(value.get("streamtype", "")), str(value.get("requestid", ""))
            if stream_type not in ("data", "error"):
                conn.write(spdy.rst_stream(stream_id, spdy.PROTOCOL_ERROR))
                continue
            pair = pairs.setdefault(request_id, {})
            pair[stream_type] = stream_id
            pair.setdefault("port", _port(value.get("port")))
            if "data" not in pair or "error" not in pair:
                continue
            data_id, error_id, port = pair["data"], pair["error"], pair["port"]
            errors[data_id] = error_id
            del pairs[request_id]
            try:
                if not 0 < port < 65536:
                    raise OSError(f"invalid port {value.get('port')!r}")
                if allowed and port not in allowed:
                    raise OSError(f"port {port} was not asked for in the PortForward request")
                remote = pod_connect(root, str(request["namespace"]), str(request["pod"]), port)
            except OSError as e:
                message = f"error forwarding port {port} to pod {request['sandbox_id']}: {e}"
                conn.data(error_id, message.encode(), fin=True)
                conn.data(data_id, b"", fin=True)
                continue
            remotes[data_id] = remote
            thread = threading.Thread(target=relay_out, args=(data_id, remote), daemon=True)
            thread.start()
            threads.append(thread)
        elif kind == "data" and stream_id in remotes:
            with contextlib.suppress(OSError):
                remotes[stream_id].sendall(value)
        elif kind in ("fin", "reset") and stream_id in remotes:
            with contextlib.suppress(OSError):
                remotes[stream_id].shutdown(socket.SHUT_WR if kind == "fin" else socket.SHUT_RDWR)
    for remote in remotes.values():
        with contextlib.suppress(OSError):
            remote.shutdown(socket.SHUT_RDWR)
    for thread in threads:
        thread.join(5)
    for remote in remotes.values():
        remote.close()
    conn.goaway()
    conn.shutdown()


def _port(text: Any) -> int:
    try:
        return int(str(text))
    except ValueError:
        return 0
