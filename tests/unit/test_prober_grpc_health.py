"""pyrunc.probe.grpc: HPACK decoding (RFC 7541 Appendix C vectors), framing and the protobuf messages; and one whole
Health/Check exchange against a scripted HTTP/2 server on a socketpair."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from pyrunc.probe import grpc as gh


def test_huffman_code_is_complete_and_matches_rfc_examples() -> None:
    table = gh.huffman_codes()
    assert len(table) == 257
    assert sum(2.0 ** -length for length, _ in table) == 1.0  # a complete prefix code (Kraft equality)
    codes = {sym: (length, code) for (length, code), sym in table.items()}
    assert codes[ord("0")] == (5, 0x0) and codes[ord(" ")] == (6, 0x14) and codes[gh.EOS] == (30, 0x3FFFFFFF)
    dec = gh.HpackDecoder()
    # RFC 7541 C.4 and C.6 Huffman strings
    assert dec._huffman_decode(bytes.fromhex("f1e3c2e5f23a6ba0ab90f4ff")) == b"www.example.com"
    assert dec._huffman_decode(bytes.fromhex("a8eb10649cbf")) == b"no-cache"
    assert dec._huffman_decode(bytes.fromhex("6402")) == b"302"
    assert dec._huffman_decode(bytes.fromhex("d07abe941054d444a8200595040b8166e082a62d1bff")) == \
        b"Mon, 21 Oct 2013 20:13:21 GMT"


def test_huffman_rejects_bad_padding() -> None:
    with pytest.raises(gh.ProtocolError):
        gh.HpackDecoder()._huffman_decode(b"\x00")  # "0" then 3 zero padding bits: padding must be ones


def test_rfc7541_c3_requests_without_huffman_share_the_dynamic_table() -> None:
    dec = gh.HpackDecoder()
    first = dec.decode(bytes.fromhex("828684410f7777772e6578616d706c652e636f6d"))
    assert first == [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")]
    assert dec.size == 57
    second = dec.decode(bytes.fromhex("828684be58086e6f2d6361636865"))
    assert second[-1] == ("cache-control", "no-cache") and second[3] == (":authority", "www.example.com")
    assert dec.size == 110


def test_rfc7541_c6_responses_with_huffman_and_eviction() -> None:
    dec = gh.HpackDecoder()
    dec.max_size = 256  # the RFC example's table size
    first = dec.decode(bytes.fromhex(
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3"))
    assert first == [(":status", "302"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                     ("location", "https://www.example.com")]
    assert dec.size == 222
    second = dec.decode(bytes.fromhex("4883640effc1c0bf"))
    assert second[0] == (":status", "307") and second[3] == ("location", "https://www.example.com")
    assert dec.size == 222  # ":status: 302" was evicted to make room


def test_integer_encoding_round_trip() -> None:
    assert gh.encode_int(10, 5) == b"\x0a"
    assert gh.encode_int(1337, 5) == bytes([31, 0x9A, 0x0A])  # RFC 7541 C.1.2
    dec = gh.HpackDecoder()
    assert dec._int(gh.encode_int(1337, 5), 0, 5) == (1337, 3)


def test_encoded_literals_decode_back() -> None:
    block = gh.encode_literal(":path", gh.HEALTH_CHECK_PATH) + gh.encode_literal("x" * 200, "v")
    assert gh.HpackDecoder().decode(block) == [(":path", gh.HEALTH_CHECK_PATH), ("x" * 200, "v")]


def test_protobuf_messages() -> None:
    assert gh.encode_request("") == b""
    assert gh.encode_request("db") == b"\x0a\x02db"
    assert gh.decode_response(b"") == 0
    assert gh.decode_response(b"\x08\x01") == gh.SERVING
    assert gh.decode_response(b"\x12\x01z\x08\x02") == 2  # an unknown length-delimited field is skipped


def test_grpc_error_wording() -> None:
    assert str(gh.GrpcError(5, "unknown service")) == "rpc error: code = NotFound desc = unknown service"


def _server(sock: socket.socket, frames: list[bytes], got: list[bytes]) -> None:
    """Read the client's bytes until its DATA frame ends the request, then send the scripted frames."""
    buf = b""
    while b"\x00\x01\x00\x00\x00\x01" not in buf:  # DATA (0x0) END_STREAM (0x1) stream 1
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    got.append(buf)
    for f in frames:
        sock.sendall(f)


def _exchange(frames: list[bytes], service: str = "") -> tuple[int, bytes]:
    a, b = socket.socketpair()
    got: list[bytes] = []
    t = threading.Thread(target=_server, args=(b, frames, got))
    t.start()
    try:
        status = gh.check(a, "10.0.0.1:9090", service, time.monotonic() + 5)
    finally:
        t.join()
        a.close()
        b.close()
    return status, got[0]


def _headers(fields: list[tuple[str, str]], flags: int) -> bytes:
    block = b"".join(gh.encode_literal(k, v) for k, v in fields)
    return gh.frame(gh.HEADERS, flags | gh.FLAG_END_HEADERS, 1, block)


def test_check_against_a_scripted_server() -> None:
    reply = b"\x08\x02"  # NOT_SERVING
    frames = [
        gh.frame(gh.SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)),
        gh.frame(gh.PING, 0, 0, b"12345678"),
        # :status 200 from the static table (index 8), content-type as a literal with incremental indexing
        gh.frame(gh.HEADERS, gh.FLAG_END_HEADERS, 1, b"\x88" + b"\x5f" + bytes([16]) + b"application/grpc"),
        gh.frame(gh.DATA, gh.FLAG_PADDED, 1, b"\x02" + b"\x00" + struct.pack(">I", len(reply)) + reply + b"\x00\x00"),
        _headers([("grpc-status", "0")], gh.FLAG_END_STREAM),
    ]
    status, sent = _exchange(frames, service="db")
    assert status == 2
    assert sent.startswith(gh.PREFACE)
    assert b"\x0a\x02db" in sent and b"/grpc.health.v1.Health/Check" in sent


def test_check_trailers_only_error() -> None:
    frames = [_headers([(":status", "200"), ("grpc-status", "12"), ("grpc-message", "Method%20not%20found!")],
                       gh.FLAG_END_STREAM)]
    with pytest.raises(gh.GrpcError) as e:
        _exchange(frames)
    assert e.value.code == gh.UNIMPLEMENTED and e.value.message == "Method not found!"


def test_check_times_out_on_a_silent_server() -> None:
    a, b = socket.socketpair()
    try:
        with pytest.raises(socket.timeout):
            gh.check(a, "x:1", "", time.monotonic() + 0.2)
    finally:
        a.close()
        b.close()
