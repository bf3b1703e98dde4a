"""grpc (kubelet pkg/probe/grpc): success iff `grpc.health.v1.Health/Check` answers SERVING.

A minimal gRPC health client over cleartext HTTP/2, standard library only.

Why not grpcio: it is a 10 MB native dependency with threads, and a probe child needs one unary call.
The call is a fixed byte sequence to send and a handful of frames to read:

    client                                              server
      preface "PRI * HTTP/2.0..." + SETTINGS (empty)  ──▶
      HEADERS  stream 1, END_HEADERS                  ──▶   :method POST, :path /grpc.health.v1.Health/Check, ...
      DATA     stream 1, END_STREAM                   ──▶   5-byte gRPC prefix + HealthCheckRequest{service}
                                                      ◀──   SETTINGS            (we answer SETTINGS+ACK)
                                                      ◀──   PING                (we answer PING+ACK)
                                                      ◀──   HEADERS             :status 200, content-type ...
                                                      ◀──   DATA                5-byte prefix + HealthCheckResponse{status}
                                                      ◀──   HEADERS END_STREAM  trailers: grpc-status, grpc-message

Request headers are HPACK "literal without indexing, new name" fields with plain (non-Huffman) strings, which
every decoder accepts. Responses may use anything HPACK allows (static and dynamic table, Huffman strings), so
this module carries a small complete HPACK decoder (RFC 7541): integers, strings, the static table (Appendix A),
the Huffman code (Appendix B, rebuilt from its code lengths because the code is canonical) and the dynamic table.
"""

from __future__ import annotations

import socket
import struct
import time
import urllib.parse

from pyrunc.probe import FAILURE, SUCCESS, Failed, go_quote, join_host_port
from pyrunc.probe.tcp import dial


# --- the probe ------------------------------------------------------------------------------------------------
def run(host: str, port: int, service: str, deadline: float, timeout: float) -> tuple[int, str]:
    """kubelet pkg/probe/grpc: success iff the health service answers SERVING."""
    addr = join_host_port(host, port)
    within = f"{timeout:g}s"
    try:
        sock = dial(host, port, deadline)
    except Failed as e:
        if e.message.endswith("i/o timeout"):
            return FAILURE, (f"timeout: failed to connect service {go_quote(addr)} within {within}: "
                             "context deadline exceeded")
        return FAILURE, f"error: failed to connect service at {go_quote(addr)}: {e.message}"
    try:
        status = check(sock, addr, service, deadline)
    except socket.timeout:
        return FAILURE, f"timeout: health rpc did not complete within {within}"
    except GrpcError as e:
        if e.code == UNIMPLEMENTED:
            return FAILURE, ("this server doesn't implement the grpc health protocol (grpc.health.v1.Health): "
                             f"{e.message}")
        return FAILURE, f"error: health rpc probe failed: {e}"
    except (ProtocolError, OSError) as e:
        return FAILURE, f"error: health rpc probe failed: {e}"
    finally:
        sock.close()
    if status != SERVING:
        name = SERVING_STATUS.get(status, str(status))
        return FAILURE, f"service unhealthy (responded with {go_quote(name)})"
    return SUCCESS, "service is serving"


# --- HTTP/2 (RFC 9113) ---------------------------------------------------------------------------------------
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
FLAG_END_STREAM = 0x1  # DATA, HEADERS
FLAG_ACK = 0x1  # SETTINGS, PING
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20
STREAM_ID = 1  # the one request of the connection: client streams are odd, starting at 1

HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"
# HealthCheckResponse.ServingStatus (grpc/health/v1/health.proto)
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
SERVING = 1
# google.rpc.Code names as grpc-go prints them ("rpc error: code = NotFound desc = ...")
GRPC_CODES = (
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
    "Internal", "Unavailable", "DataLoss", "Unauthenticated",
)
UNIMPLEMENTED = 12


class ProtocolError(Exception):
    """The peer broke HTTP/2, HPACK or gRPC framing, or ended the connection early."""


class GrpcError(Exception):
    """The call ended with a non-OK grpc-status; str() is grpc-go's wording."""

    def __init__(self, code: int, message: str) -> None:
        name = GRPC_CODES[code] if 0 <= code < len(GRPC_CODES) else f"Code({code})"
        super().__init__(f"rpc error: code = {name} desc = {message}")
        self.code = code
        self.message = message


# --- HPACK (RFC 7541) --------------------------------------------------------------------------------------
STATIC_TABLE: tuple[tuple[str, str], ...] = (
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
    (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
    (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
    ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""),
    ("cache-control", ""), ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""),
    ("content-length", ""), ("content-location", ""), ("content-range", ""), ("content-type", ""),
    ("cookie", ""), ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""),
    ("proxy-authenticate", ""), ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""),
    ("retry-after", ""), ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""),
    ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
)

# Huffman code length in bits of symbols 0..256 (256 = EOS), RFC 7541 Appendix B, one character per symbol,
# chr(ord("0") + bits): "5" = 5 bits, ":" = 10, "N" = 30. The code is canonical (codes of one length are
# consecutive, in symbol order, each length continuing from the previous one), so the lengths give every code.
HUFFMAN_LENGTHS = (
    "=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6"
    "?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFG"
    "JJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN"
)
EOS = 256
DEFAULT_TABLE_SIZE = 4096  # SETTINGS_HEADER_TABLE_SIZE initial value; we never advertise another


def huffman_codes() -> dict[tuple[int, int], int]:
    """(length, code) -> symbol for the canonical HPACK Huffman code."""
    lengths = [ord(c) - ord("0") for c in HUFFMAN_LENGTHS]
    table: dict[tuple[int, int], int] = {}
    code, prev_len = 0, 0
    for n, symbol in enumerate(sorted(range(len(lengths)), key=lambda s: (lengths[s], s))):
        if n:
            code += 1
        code <<= lengths[symbol] - prev_len
        prev_len = lengths[symbol]
        table[(prev_len, code)] = symbol
    return table


def encode_int(value: int, prefix_bits: int, flags: int = 0) -> bytes:
    """RFC 7541 5.1: `value` in an N-bit prefix (high bits of the first byte are `flags`), then 7-bit groups."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([flags | value])
    out = bytearray([flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_literal(name: str, value: str) -> bytes:
    """A "literal header field without indexing, new name" (0000 0000) with raw (non-Huffman) strings."""
    out = bytearray(b"\x00")
    for text in (name, value):
        raw = text.encode()
        out += encode_int(len(raw), 7) + raw
    return bytes(out)


class HpackDecoder:
    """Decodes the header blocks of one connection (the dynamic table lives as long as the connection)."""

    def __init__(self) -> None:
        self.dynamic: list[tuple[str, str]] = []  # newest first: index 62 is dynamic[0]
        self.size = 0
        self.max_size = DEFAULT_TABLE_SIZE
        self.huffman = huffman_codes()

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        fields: list[tuple[str, str]] = []
        pos = 0
        while pos < len(block):
            first = block[pos]
            if first & 0x80:  # 1xxxxxxx indexed field
                index, pos = self._int(block, pos, 7)
                fields.append(self._entry(index))
            elif first & 0x40:  # 01xxxxxx literal with incremental indexing
                field, pos = self._literal(block, pos, 6)
                self._add(field)
                fields.append(field)
            elif first & 0x20:  # 001xxxxx dynamic table size update
                size, pos = self._int(block, pos, 5)
                if size > DEFAULT_TABLE_SIZE:
                    raise ProtocolError(f"HPACK table size update {size} above the advertised {DEFAULT_TABLE_SIZE}")
                self.max_size = size
                self._evict(0)
            else:  # 0000xxxx without indexing, 0001xxxx never indexed: the same for a decoder
                field, pos = self._literal(block, pos, 4)
                fields.append(field)
        return fields

    def _int(self, data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
        limit = (1 << prefix_bits) - 1
        value = data[pos] & limit
        pos += 1
        if value < limit:
            return value, pos
        shift = 0
        while True:
            if pos >= len(data) or shift > 28:
                raise ProtocolError("HPACK integer truncated or too large")
            byte = data[pos]
            pos += 1
            value += (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, pos

    def _string(self, data: bytes, pos: int) -> tuple[str, int]:
        if pos >= len(data):
            raise ProtocolError("HPACK string truncated")
        huffman = bool(data[pos] & 0x80)
        length, pos = self._int(data, pos, 7)
        raw = data[pos:pos + length]
        if len(raw) != length:
            raise ProtocolError("HPACK string truncated")
        text = self._huffman_decode(raw) if huffman else raw
        return text.decode("utf-8", errors="replace"), pos + length

    def _huffman_decode(self, raw: bytes) -> bytes:
        out = bytearray()
        code, bits = 0, 0
        for byte in raw:
            for shift in range(7, -1, -1):
                code = (code << 1) | ((byte >> shift) & 1)
                bits += 1
                symbol = self.huffman.get((bits, code))
                if symbol is None:
                    if bits > 30:
                        raise ProtocolError("invalid HPACK Huffman code")
                    continue
                if symbol == EOS:
                    raise ProtocolError("HPACK Huffman string contains EOS")
                out.append(symbol)
                code, bits = 0, 0
        # RFC 7541 5.2: the padding is the most significant bits of EOS (all ones), shorter than a byte.
        if bits > 7 or code != (1 << bits) - 1:
            raise ProtocolError("invalid HPACK Huffman padding")
        return bytes(out)

    def _literal(self, data: bytes, pos: int, prefix_bits: int) -> tuple[tuple[str, str], int]:
        index, pos = self._int(data, pos, prefix_bits)
        if index:
            name = self._entry(index)[0]
        else:
            name, pos = self._string(data, pos)
        value, pos = self._string(data, pos)
        return (name, value), pos

    def _entry(self, index: int) -> tuple[str, str]:
        if 1 <= index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        dyn = index - len(STATIC_TABLE) - 1
        if 0 <= dyn < len(self.dynamic):
            return self.dynamic[dyn]
        raise ProtocolError(f"HPACK index {index} out of range")

    def _add(self, field: tuple[str, str]) -> None:
        # RFC 7541 4.1: an entry's size is its name and value lengths in octets plus 32.
        entry_size = len(field[0].encode()) + len(field[1].encode()) + 32
        self._evict(entry_size)
        if entry_size <= self.max_size:  # a too-large entry empties the table and is not added (4.4)
            self.dynamic.insert(0, field)
            self.size += entry_size

    def _evict(self, room: int) -> None:
        while self.dynamic and self.size + room > self.max_size:
            name, value = self.dynamic.pop()
            self.size -= len(name.encode()) + len(value.encode()) + 32


# --- protobuf: the two one-field messages --------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_request(service: str) -> bytes:
    """HealthCheckRequest{string service = 1}; an empty string is the default and is not encoded."""
    raw = service.encode()
    return b"\x0a" + _varint(len(raw)) + raw if raw else b""


def decode_response(message: bytes) -> int:
    """HealthCheckResponse{ServingStatus status = 1}; absent means 0 (UNKNOWN). Other fields are skipped."""
    status, pos = 0, 0

    def varint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            if pos >= len(message) or shift > 63:
                raise ProtocolError("truncated protobuf varint")
            byte = message[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(message):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
            if field == 1:
                status = value
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length = varint()  # not `pos += varint()`: that reads pos before varint() moves it
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise ProtocolError(f"unsupported protobuf wire type {wire}")
    return status


# --- the call ------------------------------------------------------------------------------------------------
def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """A frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def request_bytes(authority: str, service: str, timeout: float) -> bytes:
    """Everything the client sends, in order: preface, SETTINGS, HEADERS, DATA."""
    block = b"".join(encode_literal(name, value) for name, value in (
        (":method", "POST"), (":scheme", "http"), (":path", HEALTH_CHECK_PATH), (":authority", authority),
        ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "kube-probe/1.34"),
        ("grpc-timeout", f"{max(1, int(timeout * 1000))}m"),
    ))
    body = encode_request(service)
    message = b"\x00" + struct.pack(">I", len(body)) + body  # not compressed, 4-byte length
    return (PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, FLAG_END_HEADERS, STREAM_ID, block)
            + frame(DATA, FLAG_END_STREAM, STREAM_ID, message))


class _Reader:
    """Reads whole frames from a socket, each recv bounded by what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _fill(self, n: int) -> None:
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline exceeded")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtocolError("connection closed before the response ended")
            self.buf += chunk

    def next(self) -> tuple[int, int, int, bytes]:
        self._fill(9)
        length = int.from_bytes(self.buf[:3], "big")
        kind, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        self._fill(9 + length)
        payload, self.buf = self.buf[9:9 + length], self.buf[9 + length:]
        return kind, flags, stream, payload


def _unpad(flags: int, payload: bytes, priority: bool) -> bytes:
    if flags & FLAG_PADDED:
        if not payload or payload[0] >= len(payload):
            raise ProtocolError("bad frame padding")
        payload = payload[1:len(payload) - payload[0]]
    if priority:
        payload = payload[5:]  # stream dependency (4) + weight (1)
    return payload


def check(sock: socket.socket, authority: str, service: str, deadline: float) -> int:
    """Run Health/Check on a connected socket; return HealthCheckResponse.status.

    Raises GrpcError for a non-OK grpc-status, ProtocolError for a broken exchange and socket.timeout
    when `deadline` (time.monotonic()) passes first.
    """
    sock.sendall(request_bytes(authority, service, deadline - time.monotonic()))
    reader = _Reader(sock, deadline)
    decoder = HpackDecoder()
    headers: dict[str, str] = {}
    data = b""
    block = b""  # a header block being collected across CONTINUATION frames
    while True:
        kind, flags, stream, payload = reader.next()
        if kind == SETTINGS and not flags & FLAG_ACK:
            sock.sendall(frame(SETTINGS, FLAG_ACK, 0))
        elif kind == PING and not flags & FLAG_ACK:
            sock.sendall(frame(PING, FLAG_ACK, 0, payload))
        elif kind == GOAWAY and stream == 0:
            code = int.from_bytes(payload[4:8], "big") if len(payload) >= 8 else 0
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 else 0
            if last < STREAM_ID or code:
                raise ProtocolError(f"server sent GOAWAY (error code {code})")
        elif stream != STREAM_ID:
            continue  # WINDOW_UPDATE, PRIORITY, frames of other streams: nothing to do for one tiny call
        elif kind == RST_STREAM:
            raise ProtocolError(f"stream reset by server (error code {int.from_bytes(payload[:4], 'big')})")
        elif kind == DATA:
            data += _unpad(flags, payload, False)
        elif kind in (HEADERS, CONTINUATION):
            block += _unpad(flags, payload, bool(flags & FLAG_PRIORITY)) if kind == HEADERS else payload
            if flags & FLAG_END_HEADERS:
                headers.update(decoder.decode(block))
                block = b""
        # END_STREAM on HEADERS (trailers) or DATA ends the response.
        if stream == STREAM_ID and kind in (DATA, HEADERS) and flags & FLAG_END_STREAM and not block:
            break
    try:
        sock.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", STREAM_ID, 0)))
    except OSError:
        pass
    return _result(headers, data)


def _result(headers: dict[str, str], data: bytes) -> int:
    if headers.get(":status", "200") != "200":
        raise ProtocolError(f"unexpected HTTP status code received from server: {headers[':status']}")
    try:
        code = int(headers.get("grpc-status", "2"))
    except ValueError:
        raise ProtocolError(f"malformed grpc-status {headers['grpc-status']!r}") from None
    if code != 0:
        # grpc-message is percent-encoded (gRPC over HTTP/2 spec).
        raise GrpcError(code, urllib.parse.unquote(headers.get("grpc-message", "")))
    if len(data) < 5:
        raise ProtocolError("response has no message")
    if data[0] != 0:
        raise ProtocolError("compressed gRPC message (none was asked for)")
    length = int.from_bytes(data[1:5], "big")
    if len(data) < 5 + length:
        raise ProtocolError("truncated gRPC message")
    return decode_response(data[5:5 + length])
