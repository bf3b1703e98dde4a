"""WebSocket (RFC 6455) for the CRI streaming server, and Kubernetes' channel protocols over it. Pure: no I/O.

The kubelet's streaming server (k8s.io/kubelet/pkg/cri/streaming, over apimachinery's wsstream) speaks, for
exec and attach, one of these subprotocols, chosen from the client's Sec-WebSocket-Protocol list:

    v5.channel.k8s.io      binary frames, first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 error (a Status
                           JSON), 4 resize (TerminalSize JSON); and 255 "close": [255, N] ends channel N (stdin's EOF)
    v4.channel.k8s.io      the same without the close signal
    v4.base64.channel.k8s.io, base64.channel.k8s.io   text frames: the channel as an ASCII digit, then base64
    channel.k8s.io         (also what no subprotocol at all means) v1: the error channel carries plain text

and for port-forward `v4.channel.k8s.io` (or none) with two channels per port, data 2i and error 2i+1, whose
first frame from the server is the port as 2 bytes little endian.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_PAYLOAD = 16 << 20  # a frame larger than this closes the connection (1009)

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE_CHANNEL = 255  # v5: [255, N] closes channel N

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
# The kubelet's (remotecommand/websocket.go, portforward/websocket.go).
EXEC_PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)
PORTFORWARD_PROTOCOLS = (V4, V4_BASE64)


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key.strip() + GUID).encode("ascii")).digest()).decode("ascii")


def choose_protocol(offered: str, supported: tuple[str, ...]) -> str | None:
    """The subprotocol to answer with: the first the client offers that is in `supported` (the client's order,
    as wsstream's handshake); "" when it offers none (the v1 binary protocol, answered without the header); None
    when it offers only unknown ones."""
    wanted = [p.strip() for p in offered.split(",") if p.strip()]
    if not wanted:
        return ""
    return next((p for p in wanted if p in supported), None)


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


def encode_frame(opcode: int, payload: bytes, mask: bytes | None = None, fin: bool = True) -> bytes:
    """One frame. The server sends unmasked frames; a client masks with a 4-byte key (`mask`)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head.append(bit | 126)
        head += struct.pack(">H", n)
    else:
        head.append(bit | 127)
        head += struct.pack(">Q", n)
    if mask is None:
        return bytes(head) + payload
    return bytes(head) + mask + apply_mask(payload, mask)


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte key repeated (masking and unmasking are the same)."""
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


class ProtocolError(Exception):
    """The peer broke RFC 6455; `code` is the close code to answer with."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


def parse_frames(buf: bytearray, require_mask: bool) -> list[Frame]:
    """The whole frames at the start of `buf`, removed from it (unmasked). `require_mask`: a server refuses a
    client's unmasked frame (RFC 6455 5.1)."""
    out = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise ProtocolError("reserved bits set (no extension was negotiated)")
        masked, n, at = bool(b1 & 0x80), b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = struct.unpack_from(">H", buf, 2)[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = struct.unpack_from(">Q", buf, 2)[0], 10
        if n > MAX_PAYLOAD:
            raise ProtocolError(f"frame of {n} bytes", 1009)
        if require_mask and not masked:
            raise ProtocolError("a client frame must be masked")
        end = at + (4 if masked else 0) + n
        if len(buf) < end:
            break
        payload = bytes(buf[end - n:end])
        if masked:
            payload = apply_mask(payload, bytes(buf[at:at + 4]))
        out.append(Frame(bool(b0 & 0x80), b0 & 0x0F, payload))
        del buf[:end]
    return out


class Reassembler:
    """Whole messages from frames: continuation frames joined, control frames passed on as they come."""

    def __init__(self) -> None:
        self.opcode: int | None = None
        self.parts: list[bytes] = []

    def feed(self, frame: Frame) -> tuple[int, bytes] | None:
        if frame.opcode >= OP_CLOSE:
            if not frame.fin or len(frame.payload) > 125:
                raise ProtocolError("a control frame must be whole and at most 125 bytes")
            return frame.opcode, frame.payload
        if frame.opcode == OP_CONT:
            if self.opcode is None:
                raise ProtocolError("a continuation frame with no message begun")
        elif self.opcode is not None:
            raise ProtocolError("a new message before the previous one ended")
        else:
            self.opcode = frame.opcode
        self.parts.append(frame.payload)
        if sum(len(p) for p in self.parts) > MAX_PAYLOAD:
            raise ProtocolError("message too large", 1009)
        if not frame.fin:
            return None
        opcode, data = self.opcode, b"".join(self.parts)
        self.opcode, self.parts = None, []
        return opcode, data


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack(">H", code) + reason.encode()[:120]


# --- the channel protocols ---------------------------------------------------------------------------------------
def is_base64(protocol: str) -> bool:
    return protocol in (V4_BASE64, V1_BASE64)


def channel_message(protocol: str, channel: int, data: bytes) -> bytes:
    """A server frame carrying `data` on `channel` in the negotiated protocol."""
    if is_base64(protocol):
        return encode_frame(OP_TEXT, str(channel).encode() + base64.b64encode(data))
    return encode_frame(OP_BINARY, bytes([channel]) + data)


def split_channel(protocol: str, opcode: int, data: bytes) -> tuple[int, bytes]:
    """(channel, bytes) of a client message; ProtocolError when it has no channel prefix."""
    if not data:
        raise ProtocolError("a message without its channel byte", 1003)
    if is_base64(protocol):
        if opcode != OP_TEXT or not chr(data[0]).isdigit():
            raise ProtocolError("a base64 channel message must be text led by the channel digit", 1003)
        try:
            return data[0] - ord("0"), base64.b64decode(data[1:], validate=True)
        except ValueError:
            raise ProtocolError("a base64 channel message is not base64", 1007) from None
    return data[0], data[1:]


def port_prefix(port: int) -> bytes:
    """The first bytes of each port-forward channel: the port, 2 bytes little endian (kubelet's portforward)."""
    return struct.pack("<H", port)
