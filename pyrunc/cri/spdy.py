"""SPDY/3.1 framing for the CRI streaming server, as client-go's remotecommand and port-forward speak it (over the
`Upgrade: SPDY/3.1` of an HTTP/1.1 request). Pure: no I/O. Written from the SPDY/3.1 draft
(draft-mbelshe-httpbis-spdy-00 and the 3.1 changes), standard library only.

Frames, big endian:
    control  |1| version (15) = 3 | type (16) | flags (8) | length (24) | data
    data     |0| stream id (31)              | flags (8) | length (24) | data      flag FIN = 0x01
Control frames used: SYN_STREAM (1: stream id, associated id, priority, slot, header block), SYN_REPLY (2: stream id,
header block), RST_STREAM (3), SETTINGS (4), PING (6), GOAWAY (7), HEADERS (8), WINDOW_UPDATE (9).

Header blocks are compressed with zlib, one stream per direction for the whole connection, primed with the SPDY/3
dictionary below and flushed (Z_SYNC_FLUSH) after each block. Uncompressed, a block is: the number of pairs, then
each name and value with a 4-byte length before it (names lowercase; several values of one name NUL-separated).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_FRAME = 16 << 20  # a frame longer than this ends the connection
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR, STREAM_IN_USE = 1, 2, 3, 5, 6, 8


def _dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft section 2.6.10.1): common header names and values, each
    after its 4-byte length, then a run of status codes, reason phrases, dates and media types as plain text.
    1423 bytes; its Adler-32 (0xe3c6a7c2) is the dictionary id a compressed header block names."""
    words = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date etag "
             "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
             "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
             "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
             "method get status").split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
            "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


class SpdyError(Exception):
    """The peer broke the framing; the connection ends (GOAWAY with PROTOCOL_ERROR)."""


@dataclass(frozen=True)
class Frame:
    control: bool
    kind: int  # the control frame type; 0 for a data frame
    flags: int
    stream_id: int  # data frames and the stream-bound control frames; 0 otherwise
    data: bytes  # a control frame's data after the stream id fields it has (header block, status, ...)


def encode_control(kind: int, flags: int, data: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(data)) + data


def encode_data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def parse_frames(buf: bytearray) -> list[Frame]:
    """The whole frames at the start of `buf`, removed from it."""
    out = []
    while len(buf) >= 8:
        first, second = struct.unpack_from(">II", buf)
        flags, length = second >> 24, second & 0xFFFFFF
        if length > MAX_FRAME:
            raise SpdyError(f"frame of {length} bytes")
        if len(buf) < 8 + length:
            break
        data = bytes(buf[8:8 + length])
        del buf[:8 + length]
        if first & 0x80000000:
            version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
            if version != VERSION:
                raise SpdyError(f"SPDY version {version}; this server speaks 3")
            stream_id = 0
            if kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE):
                if len(data) < 4:
                    raise SpdyError(f"control frame {kind} too short")
                stream_id = struct.unpack_from(">I", data)[0] & 0x7FFFFFFF
                # SYN_STREAM: associated stream id (4), priority and slot (2), then the header block.
                data = data[10:] if kind == SYN_STREAM else data[4:]
            out.append(Frame(True, kind, flags, stream_id, data))
        else:
            out.append(Frame(False, 0, flags, first & 0x7FFFFFFF, data))
    return out


def syn_reply(stream_id: int, block: bytes, fin: bool = False) -> bytes:
    return encode_control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + block)


def syn_stream(stream_id: int, block: bytes, fin: bool = False) -> bytes:
    return encode_control(SYN_STREAM, FLAG_FIN if fin else 0, struct.pack(">IIH", stream_id, 0, 0) + block)


def rst_stream(stream_id: int, status: int) -> bytes:
    return encode_control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def goaway(last_stream_id: int, status: int = 0) -> bytes:
    return encode_control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))


def headers_block(headers: dict[str, str]) -> bytes:
    """An uncompressed header block (names lowercased, as SPDY/3 requires)."""
    out = bytearray(struct.pack(">I", len(headers)))
    for name, value in headers.items():
        for part in (name.lower().encode(), value.encode()):
            out += struct.pack(">I", len(part)) + part
    return bytes(out)


def parse_block(block: bytes) -> dict[str, str]:
    """An uncompressed header block's pairs (a NUL-separated value kept whole)."""
    try:
        count = struct.unpack_from(">I", block)[0]
        at, out = 4, {}
        for _ in range(count):
            pair = []
            for _ in range(2):
                n = struct.unpack_from(">I", block, at)[0]
                if at + 4 + n > len(block):
                    raise SpdyError("header block shorter than its lengths")
                pair.append(block[at + 4:at + 4 + n].decode("utf-8", "replace"))
                at += 4 + n
            out[pair[0].lower()] = pair[1]
        return out
    except struct.error:
        raise SpdyError("header block shorter than its lengths") from None


class Compressor:
    """One direction's header compression: a zlib stream with the dictionary, flushed after every block."""

    def __init__(self) -> None:
        self.z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                                  DICTIONARY)

    def block(self, headers: dict[str, str]) -> bytes:
        return self.z.compress(headers_block(headers)) + self.z.flush(zlib.Z_SYNC_FLUSH)


class Decompressor:
    """The other direction's: the dictionary is given when zlib asks for it (the stream's header names it)."""

    def __init__(self) -> None:
        self.z = zlib.decompressobj(15, DICTIONARY)

    def block(self, data: bytes) -> dict[str, str]:
        if not data:
            return {}
        try:
            plain = self.z.decompress(data)
        except zlib.error as e:
            raise SpdyError(f"header block does not inflate: {e}") from None
        return parse_block(plain)
