"""tcpSocket (kubelet pkg/probe/tcp): success iff a TCP connection opens before the timeout.

`dial` is also the first step of httpGet and grpc; its errors are worded like Go's net.Dial.
"""

from __future__ import annotations

import socket
import time

from pyrunc.probe import FAILURE, SUCCESS, Failed, errno_text, join_host_port


def run(host: str, port: int, deadline: float) -> tuple[int, str]:
    """Connect to host:port before `deadline` (time.monotonic()) and close again."""
    dial(host, port, deadline).close()
    return SUCCESS, ""


def dial(host: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection before `deadline`, or Failed(FAILURE) worded like Go's net.Dial errors."""
    addr = join_host_port(host, port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise Failed(FAILURE, f"dial tcp: lookup {host}: no such host") from None
    err: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(left)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            err = e
    if err is None or isinstance(err, socket.timeout):
        raise Failed(FAILURE, f"dial tcp {addr}: i/o timeout")
    raise Failed(FAILURE, f"dial tcp {addr}: connect: {errno_text(err)}")
