"""The CRI streaming server of `pyrunc cri`: the URLs Exec, Attach and PortForward answer with, served here.

As containerd's CRI plugin (on k8s.io/kubelet/pkg/cri/streaming): the gRPC call checks the request and stores
it under a one-time token; the answer is `http://ADDRESS:PORT/exec/TOKEN` (or /attach/, /portforward/), which the
kubelet's client (or the API server's proxy) opens with an upgrade to a streaming protocol. A token is used at
most once and expires after a minute (the kubelet's token cache: 1 minute, at most 1000 in flight). The server
listens on 127.0.0.1 by default (`--stream-address`, `--stream-port`; port 0: one the kernel picks): whoever
reaches it with a live token runs commands in a container, so it is never exposed unless asked for by name.

Each connection is served on a thread of its own (http.server's ThreadingHTTPServer). Nothing here forks or
enters a namespace: the exec is handed to the supervisor's exec socket, the attach goes to the container's
attach socket, and a port-forward's connection is made by the supervisor in the pod's network namespace
(pyrunc/cri/stream_session.py).

Protocols: the WebSocket channel protocols (pyrunc/cri/websocket.py) and the SPDY/3.1 upgrade as client-go speaks
it (pyrunc/cri/spdy.py, spdy_session.py), for exec, attach and port-forward.
"""

from __future__ import annotations

import base64
import http.server
import logging
import os
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from pyrunc.cri import websocket as ws
from pyrunc.cri.translate import CriError

log = logging.getLogger("pyrunc.cri.streaming")

TOKEN_TTL = 60.0  # seconds: the kubelet's streaming token cache keeps a request one minute
MAX_IN_FLIGHT = 1000  # tokens waiting to be used, as the kubelet's cache allows
KINDS = ("exec", "attach", "portforward")


@dataclass(frozen=True)
class Pending:
    kind: str  # exec, attach or portforward
    request: dict[str, Any]  # what the session needs (container, command, streams; or pod and ports)
    expires: float  # time.monotonic()


class TokenCache:
    """One-time tokens for checked requests: insert() when the RPC answers, consume() when the URL is opened."""

    def __init__(self, ttl: float = TOKEN_TTL, limit: int = MAX_IN_FLIGHT) -> None:
        self.ttl = ttl
        self.limit = limit
        self.lock = threading.Lock()
        self.entries: dict[str, Pending] = {}

    def insert(self, kind: str, request: dict[str, Any]) -> str:
        now = time.monotonic()
        with self.lock:
            self._expire(now)
            if len(self.entries) >= self.limit:
                raise CriError("maximum number of in-flight requests exceeded", "RESOURCE_EXHAUSTED")
            while True:
                # 8 random bytes, URL-safe base64 without padding: the kubelet's token shape.
                token = base64.urlsafe_b64encode(os.urandom(8)).rstrip(b"=").decode("ascii")
                if token not in self.entries:
                    break
            self.entries[token] = Pending(kind, request, now + self.ttl)
        return token

    def consume(self, token: str) -> Pending | None:
        """The request under `token`, removed (a second use finds nothing); None when unknown or expired."""
        with self.lock:
            entry = self.entries.pop(token, None)
        if entry is None or entry.expires <= time.monotonic():
            return None
        return entry

    def _expire(self, now: float) -> None:
        for token in [t for t, e in self.entries.items() if e.expires <= now]:
            del self.entries[token]


class StreamServer:
    """The HTTP server on `address:port`, serving the tokens of `cache`, with `root` the node root."""

    def __init__(self, root: str, address: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.cache = TokenCache()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        server_class = type("_Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
        self.httpd = server_class((address, port), _Handler)
        self.httpd.daemon_threads = True  # a session left open does not hold `pyrunc cri` at its exit
        setattr(self.httpd, "stream_server", self)
        self.address = address
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="cri-streaming", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, kind: str, request: dict[str, Any]) -> str:
        token = self.cache.insert(kind, request)
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/{kind}/{token}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "pyrunc-cri-streaming"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve()

    def do_POST(self) -> None:  # noqa: N802 - client-go's SPDY executor POSTs
        self._serve()

    def _serve(self) -> None:
        from pyrunc.cri import stream_session

        streams: StreamServer = getattr(self.server, "stream_server")
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in KINDS:
            self._plain(404, "404 page not found")
            return
        upgrade = self.headers.get("Upgrade", "").lower()
        if upgrade == "spdy/3.1" and "upgrade" in self.headers.get("Connection", "").lower():
            self._spdy(streams, parts[0], parts[1])
            return
        if upgrade != "websocket" or "upgrade" not in self.headers.get("Connection", "").lower():
            self._plain(400, "Upgrade request required")
            return
        key = self.headers.get("Sec-WebSocket-Key", "")
        if not key or self.headers.get("Sec-WebSocket-Version", "") != "13":
            self._plain(400, "a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version 13")
            return
        supported = ws.PORTFORWARD_PROTOCOLS if parts[0] == "portforward" else ws.EXEC_PROTOCOLS
        protocol = ws.choose_protocol(self.headers.get("Sec-WebSocket-Protocol", ""), supported)
        if protocol is None:
            self._plain(400, f"none of the offered subprotocols is served; served: {', '.join(supported)}")
            return
        entry = streams.cache.consume(parts[1])
        if entry is None or entry.kind != parts[0]:
            self._plain(404, "404 page not found")  # the kubelet's answer to an unknown, used or expired token
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws.accept_key(key))
        if protocol:
            self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        conn = stream_session.WsConn(self.connection, protocol or ws.V1, self._buffered())
        query = urllib.parse.parse_qs(url.query)
        try:
            stream_session.run(streams.root, entry.kind, entry.request, conn, query)
        except Exception:  # noqa: BLE001 - one session's failure is logged, the server serves on
            log.exception("%s session failed", entry.kind)
        finally:
            conn.shutdown()

    def _spdy(self, streams: StreamServer, kind: str, token: str) -> None:
        from pyrunc.cri import spdy_session, stream_session

        offered = [p.strip() for h in self.headers.get_all("X-Stream-Protocol-Version") or [] for p in h.split(",")]
        offered = [p for p in offered if p]
        supported = spdy_session.PORTFORWARD_PROTOCOLS if kind == "portforward" else spdy_session.REMOTECOMMAND_PROTOCOLS
        chosen = next((p for p in offered if p in supported), None)
        if offered and chosen is None:
            # The kubelet's httpstream.Handshake: 403 with the versions it accepts.
            self._plain(403, f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                             f"server supports {list(supported)}",
                        {"X-Accepted-Stream-Protocol-Versions": ", ".join(supported)})
            return
        entry = streams.cache.consume(token)
        if entry is None or entry.kind != kind:
            self._plain(404, "404 page not found")
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "SPDY/3.1")
        if chosen:
            self.send_header("X-Stream-Protocol-Version", chosen)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        conn = spdy_session.SpdyConn(self.connection, self._buffered())
        try:
            if kind == "portforward":
                spdy_session.port_forward(streams.root, entry.request, conn)
                return
            channels = spdy_session.SpdyChannels(conn, chosen or "channel.k8s.io")
            if channels.wait_streams(entry.request):
                stream_session.run(streams.root, kind, entry.request, channels, {})
        except Exception:  # noqa: BLE001 - one session's failure is logged, the server serves on
            log.exception("%s session (SPDY) failed", kind)
        finally:
            conn.shutdown()

    def _buffered(self) -> bytes:
        """What the client sent after its request that the handler's reader already took (frames sent before
        our 101 arrived): read without blocking."""
        sock = self.connection
        reader: Any = self.rfile
        sock.setblocking(False)
        try:
            # peek() returns what is buffered, or reads once: non-blocking, that read finds nothing (None).
            return bytes(reader.read1(65536)) if reader.peek(1) else b""
        except (BlockingIOError, OSError, TypeError):
            return b""
        finally:
            sock.setblocking(True)

    def _plain(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
