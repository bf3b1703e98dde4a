"""A WebSocket client of Kubernetes' channel protocols, written for the tests with the standard library only, and
independent of pyrunc/cri/websocket.py (the server's code is checked by a client that does not share it)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


def upgrade(url: str, request_lines: list[str], timeout: float) -> tuple[socket.socket, dict[str, str], bytearray]:
    """Send an upgrade request (`request_lines` after the request line's path and Host) and read the answer:
    the socket, the response's headers and what came after them; HandshakeRefused unless it is 101."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "http" and parts.hostname, url
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    method, *rest = request_lines
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", *rest]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        data = sock.recv(4096)
        if not data:
            break
        buf += data
    head, _, after = bytes(buf).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    status = int(status_line.split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if status != 101:
        sock.close()
        raise HandshakeRefused(status, after.decode(errors="replace"))
    return sock, headers, bytearray(after)


@dataclass
class Received:
    channels: dict[int, bytearray] = field(default_factory=dict)
    close_code: int | None = None  # None: the connection ended without a close frame

    def text(self, channel: int) -> str:
        return bytes(self.channels.get(channel, b"")).decode(errors="replace")


class WsClient:
    def __init__(self, url: str, protocols: list[str], timeout: float = 60.0) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
        self.sock, headers, self.buf = upgrade(url, lines, timeout)
        expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert headers.get("sec-websocket-accept") == expected, headers
        self.protocol = headers.get("sec-websocket-protocol", "")

    # -- frames (RFC 6455): a client masks every frame -----------------------------------------------------------
    def _frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, channel: int, data: bytes) -> None:
        if "base64" in self.protocol:
            self._frame(0x1, str(channel).encode() + base64.b64encode(data))
        else:
            self._frame(0x2, bytes([channel]) + data)

    def close_stdin(self) -> None:
        """v5's close signal for channel 0."""
        self._frame(0x2, bytes([255, 0]))

    def close(self) -> None:
        self._frame(0x8, struct.pack(">H", 1000))

    def _read(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def message(self) -> tuple[int, bytes] | None:
        """The next whole message (opcode, payload); None when the connection ended."""
        head = self._read(2)
        if head is None:
            return None
        assert head[1] & 0x80 == 0, "a server frame is never masked"
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2) or b"\0\0")[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8) or b"\0" * 8)[0]
        payload = self._read(n) if n else b""
        if payload is None:
            return None
        assert head[0] & 0x80, "the server sends whole messages"
        return head[0] & 0x0F, payload

    def channel_message(self) -> tuple[int, bytes] | None:
        """The next (channel, bytes), pings skipped; None at the close frame or the end (close code kept)."""
        while True:
            msg = self.message()
            if msg is None:
                return None
            opcode, payload = msg
            if opcode == 0x8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if opcode == 0x1:
                return payload[0] - ord("0"), base64.b64decode(payload[1:])
            if opcode == 0x2:
                return payload[0], payload[1:]

    close_code: int | None = None

    def read_until_close(self) -> Received:
        got = Received()
        while True:
            msg = self.channel_message()
            if msg is None:
                got.close_code = self.close_code
                return got
            channel, data = msg
            got.channels.setdefault(channel, bytearray()).extend(data)

    def read_until(self, channel: int, wanted: bytes, got: Received) -> bool:
        """Messages into `got` until `channel` holds `wanted`; False when the connection ended first."""
        while wanted not in got.channels.get(channel, b""):
            msg = self.channel_message()
            if msg is None:
                return False
            got.channels.setdefault(msg[0], bytearray()).extend(msg[1])
        return True

    def shutdown(self) -> None:
        self.sock.close()


def http_get(url: str) -> tuple[int, str]:
    """A plain GET (no upgrade): status and body."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as s:
        s.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


class SpdyClient:
    """A SPDY/3.1 client as client-go's (moby/spdystream) after its upgrade: streams opened by SYN_STREAM with
    headers, DATA frames, FIN. Its framing is written here; only the zlib dictionary (checked against its spec
    id in tests/unit/test_cri_streaming.py) is pyrunc's."""

    def __init__(self, url: str, protocols: list[str], timeout: float = 60.0) -> None:
        import zlib

        from pyrunc.cri.spdy import DICTIONARY

        lines = ["POST", "Connection: Upgrade", "Upgrade: SPDY/3.1", "Content-Length: 0",
                 *(f"X-Stream-Protocol-Version: {p}" for p in protocols)]
        self.sock, headers, self.buf = upgrade(url, lines, timeout)
        assert headers.get("upgrade", "").lower() == "spdy/3.1", headers
        self.protocol = headers.get("x-stream-protocol-version", "")
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self.inflate = zlib.decompressobj(15, DICTIONARY)
        self.next_id = 1
        self.data: dict[int, bytearray] = {}
        self.fin: set[int] = set()
        self.replied: set[int] = set()
        self.goaway = False

    def open(self, headers: dict[str, str], fin: bool = False) -> int:
        import zlib

        stream_id, self.next_id = self.next_id, self.next_id + 2
        block = struct.pack(">I", len(headers))
        for name, value in headers.items():
            for part in (name.lower().encode(), value.encode()):
                block += struct.pack(">I", len(part)) + part
        compressed = self.deflate.compress(block) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        body = struct.pack(">IIH", stream_id, 0, 0) + compressed
        self.sock.sendall(struct.pack(">HHI", 0x8003, 1, ((1 if fin else 0) << 24) | len(body)) + body)
        return stream_id

    def send(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        self.sock.sendall(struct.pack(">II", stream_id, ((1 if fin else 0) << 24) | len(data)) + data)

    def _frame(self) -> bool:
        """Read one frame into the client's state; False when the connection ended."""
        while len(self.buf) < 8:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        first, second = struct.unpack_from(">II", self.buf)
        length = second & 0xFFFFFF
        while len(self.buf) < 8 + length:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        body = bytes(self.buf[8:8 + length])
        del self.buf[:8 + length]
        fin = bool((second >> 24) & 1)
        if first & 0x80000000:
            kind = first & 0xFFFF
            assert (first >> 16) & 0x7FFF == 3, "SPDY version 3"
            if kind == 2:  # SYN_REPLY: the header block inflated to keep the zlib stream in step
                stream_id = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
                self.inflate.decompress(body[4:])
                self.replied.add(stream_id)
                if fin:
                    self.fin.add(stream_id)
            elif kind == 3:  # RST_STREAM
                self.fin.add(struct.unpack_from(">I", body)[0] & 0x7FFFFFFF)
            elif kind == 7:  # GOAWAY
                self.goaway = True
        else:
            stream_id = first & 0x7FFFFFFF
            self.data.setdefault(stream_id, bytearray()).extend(body)
            if fin:
                self.fin.add(stream_id)
        return True

    def until(self, done: Any) -> bool:
        """Frames until done(self) is true; False when the connection ended first."""
        while not done(self):
            if not self._frame():
                return bool(done(self))
        return True

    def text(self, stream_id: int) -> str:
        return bytes(self.data.get(stream_id, b"")).decode(errors="replace")

    def shutdown(self) -> None:
        self.sock.close()
