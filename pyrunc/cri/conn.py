"""What the two upgraded connections of the streaming server share (WebSocket: stream_session.WsConn; SPDY/3.1:
spdy_session.SpdyConn): the socket, the bytes read and not yet parsed, and writes under a lock (a reader thread
answers pings while a session's thread sends output)."""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK = 65536


class UpgradedConn:
    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(leftover)  # what the HTTP handler read past the upgrade request comes first
        self.lock = threading.Lock()
        self.closed = False

    def _send(self, frame: bytes) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.sock.sendall(frame)
            except OSError:  # the client left: later writes are dropped
                self.closed = True

    def _fill(self) -> bool:
        """Read more of the client's bytes into `buf`; False once it has left."""
        try:
            data = self.sock.recv(CHUNK)
        except OSError:
            return False
        if not data:
            return False
        self.buf += data
        return True

    def shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
