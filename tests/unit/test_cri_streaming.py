"""The CRI streaming server's pure parts: WebSocket and SPDY/3.1 framing against bytes derived by hand from RFC 6455
and the SPDY/3 draft, the zlib dictionary, the kubelet's Status shapes, the token cache and the request checks."""

from __future__ import annotations

import json
import socket
import zlib
from pathlib import Path

import pytest

from pyrunc.cri import spdy
from pyrunc.cri import websocket as ws
from pyrunc.cri.spdy_session import SpdyChannels, SpdyConn
from pyrunc.cri.stream_session import check_streams, exit_status, internal_error, success
from pyrunc.cri.streaming import TokenCache
from pyrunc.cri.translate import CriError


# -- WebSocket (RFC 6455) -------------------------------------------------------------------------------------------
def test_accept_key_of_the_rfc_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3


def test_frames_of_rfc_section_5_7() -> None:
    assert ws.encode_frame(ws.OP_TEXT, b"Hello") == bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    masked = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert ws.encode_frame(ws.OP_TEXT, b"Hello", mask=bytes([0x37, 0xFA, 0x21, 0x3D])) == masked
    buf = bytearray(masked)
    assert ws.parse_frames(buf, require_mask=True) == [ws.Frame(True, ws.OP_TEXT, b"Hello")] and not buf
    # 256 bytes: 126 then a 16-bit length; 65536 bytes: 127 then a 64-bit length.
    assert ws.encode_frame(ws.OP_BINARY, bytes(256))[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    assert ws.encode_frame(ws.OP_BINARY, bytes(65536))[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])


def test_fragments_are_joined_and_control_frames_pass_between() -> None:
    key = bytes([1, 2, 3, 4])
    buf = bytearray(ws.encode_frame(ws.OP_TEXT, b"Hel", mask=key, fin=False)
                    + ws.encode_frame(ws.OP_PING, b"p", mask=key)
                    + ws.encode_frame(ws.OP_CONT, b"lo", mask=key))
    tail = ws.encode_frame(ws.OP_BINARY, b"xyz", mask=key)
    buf += tail[:3]  # an incomplete frame stays in the buffer
    frames = ws.parse_frames(buf, require_mask=True)
    assert bytes(buf) == tail[:3]
    reasm = ws.Reassembler()
    assert [reasm.feed(f) for f in frames] == [None, (ws.OP_PING, b"p"), (ws.OP_TEXT, b"Hello")]


def test_a_client_frame_must_be_masked() -> None:
    with pytest.raises(ws.ProtocolError):
        ws.parse_frames(bytearray(ws.encode_frame(ws.OP_BINARY, b"\x00x")), require_mask=True)


def test_channel_messages() -> None:
    assert ws.channel_message(ws.V5, ws.STDOUT, b"hi") == bytes([0x82, 3, 1]) + b"hi"
    # base64 protocols: a text frame, the channel as an ASCII digit, then base64 ("aGk=" is "hi").
    assert ws.channel_message(ws.V4_BASE64, ws.STDERR, b"hi") == bytes([0x81, 5]) + b"2aGk="
    assert ws.split_channel(ws.V5, ws.OP_BINARY, b"\x00abc") == (0, b"abc")
    assert ws.split_channel(ws.V1_BASE64, ws.OP_TEXT, b"0aGk=") == (0, b"hi")
    with pytest.raises(ws.ProtocolError):
        ws.split_channel(ws.V4, ws.OP_BINARY, b"")
    assert ws.port_prefix(8080) == b"\x90\x1f"  # 8080 = 0x1f90, little endian


def test_subprotocol_choice() -> None:
    assert ws.choose_protocol("v5.channel.k8s.io, v4.channel.k8s.io", ws.EXEC_PROTOCOLS) == ws.V5
    assert ws.choose_protocol("v4.channel.k8s.io,v5.channel.k8s.io", ws.EXEC_PROTOCOLS) == ws.V4  # the client's order
    assert ws.choose_protocol("", ws.EXEC_PROTOCOLS) == ""
    assert ws.choose_protocol("v9.channel.k8s.io", ws.EXEC_PROTOCOLS) is None
    assert ws.choose_protocol("v5.channel.k8s.io", ws.PORTFORWARD_PROTOCOLS) is None


# -- SPDY/3.1 -------------------------------------------------------------------------------------------------------
def test_the_spdy3_dictionary() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2  # the dictionary id every SPDY/3 header block names
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_spdy_frames_by_hand() -> None:
    assert spdy.encode_data(5, b"hi", fin=True) == bytes([0, 0, 0, 5, 1, 0, 0, 2]) + b"hi"
    assert spdy.goaway(7) == bytes([0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0])
    assert spdy.rst_stream(3, spdy.CANCEL) == bytes([0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5])
    assert spdy.syn_reply(1, b"B") == bytes([0x80, 3, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1]) + b"B"
    # SYN_STREAM of stream 3, FIN, associated 0, priority 0: the header block after its 10 bytes of ids.
    syn = bytes([0x80, 3, 0, 1, 1, 0, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]) + b"X"
    ping = bytes([0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 9])
    buf = bytearray(syn + ping + spdy.encode_data(3, b"abc")[:5])
    frames = spdy.parse_frames(buf)
    assert frames == [spdy.Frame(True, spdy.SYN_STREAM, spdy.FLAG_FIN, 3, b"X"),
                      spdy.Frame(True, spdy.PING, 0, 0, bytes([0, 0, 0, 9]))]
    assert len(buf) == 5, "the incomplete data frame waits"
    with pytest.raises(spdy.SpdyError):
        spdy.parse_frames(bytearray([0x80, 2, 0, 1, 0, 0, 0, 0]))  # SPDY/2


def test_spdy_header_blocks() -> None:
    assert spdy.headers_block({"A": "bc"}) == bytes([0, 0, 0, 1, 0, 0, 0, 1]) + b"a" + bytes([0, 0, 0, 2]) + b"bc"
    block = spdy.Compressor().block({"streamType": "stdout"})
    # zlib's header: CMF 0x78, FLG 0xbb (FDICT set), then the dictionary's id.
    assert block[:6] == bytes([0x78, 0xBB, 0xE3, 0xC6, 0xA7, 0xC2])
    # What another zlib writes with the same dictionary is read back, block after block on one stream.
    writer = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, spdy.DICTIONARY)
    reader = spdy.Decompressor()
    for headers in ({"streamtype": "error"}, {"streamtype": "data", "port": "8080", "requestid": "0"}):
        raw = spdy.headers_block(headers)
        assert reader.block(writer.compress(raw) + writer.flush(zlib.Z_SYNC_FLUSH)) == headers


def test_resize_messages_split_across_frames() -> None:
    a, b = socket.socketpair()
    with a, b:
        channels = SpdyChannels(SpdyConn(a), "v4.channel.k8s.io")
        got = list(channels._sizes(b'{"Width":80,"Height":24}\n{"Width":1'))
        got += list(channels._sizes(b'00,"Height":30}\n'))
    assert [json.loads(d) for _, d in got] == [{"Width": 80, "Height": 24}, {"Width": 100, "Height": 30}]


# -- the kubelet's Status objects, the tokens, the checks --------------------------------------------------------------
def test_status_shapes() -> None:
    assert json.dumps(success(), separators=(",", ":")) == '{"metadata":{},"status":"Success"}'
    assert json.dumps(exit_status(3, ["sh", "-c", "exit 3"]), separators=(",", ":")) == (
        '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing '
        'command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode",'
        '"message":"3"}]}}')
    assert internal_error("x")["code"] == 500


def test_tokens_are_single_use_and_expire() -> None:
    cache = TokenCache()
    token = cache.insert("exec", {"cmd": ["ls"]})
    assert len(token) == 11 and "=" not in token  # 8 random bytes, URL-safe base64 without padding
    entry = cache.consume(token)
    assert entry is not None and entry.request == {"cmd": ["ls"]}
    assert cache.consume(token) is None
    expired = TokenCache(ttl=0)
    assert expired.consume(expired.insert("exec", {})) is None
    full = TokenCache(limit=1)
    full.insert("exec", {})
    with pytest.raises(CriError) as info:
        full.insert("exec", {})
    assert info.value.code == "RESOURCE_EXHAUSTED"


def test_stream_checks() -> None:
    check_streams(["ls"], False, False, True, False)
    for args in ((["sh"], True, False, True, True), (["sh"], False, False, False, False), ([], False, False, True, False)):
        with pytest.raises(CriError) as info:
            check_streams(*args)
        assert info.value.code == "INVALID_ARGUMENT"


# -- the supervisor's side of port-forward: which namespace the connection is made in ---------------------------------
def test_pod_connect_requests(tmp_path: Path) -> None:
    import os

    from pyrunc.errors import PyruncError
    from pyrunc.store.atomic import write_json
    from pyrunc.store.layout import PodLayout
    from pyrunc.supervisor.pod_connect import prepare

    root = str(tmp_path)
    layout = PodLayout(root, "default", "web")
    for bad in ({"namespace": "default", "pod": "web", "port": 0}, {"namespace": "default", "pod": "web", "port": True},
                {"namespace": "../x", "pod": "web", "port": 80}, {"namespace": "default", "pod": "web", "port": 80}):
        with pytest.raises(PyruncError):
            prepare(root, bad)  # the last: no such pod
    os.makedirs(layout.dir)
    write_json(layout.pod_json, {"spec": {}})
    with pytest.raises(PyruncError, match="no network namespace"):
        prepare(root, {"namespace": "default", "pod": "web", "port": 80})
    write_json(layout.sandbox_json, {"namespaces": {"net": layout.ns_file("net")}})
    assert prepare(root, {"namespace": "default", "pod": "web", "port": 80}) == (layout.ns_file("net"), 80)
    write_json(layout.pod_json, {"spec": {"hostNetwork": True}})
    assert prepare(root, {"namespace": "default", "pod": "web", "port": 80}) == (None, 80)
