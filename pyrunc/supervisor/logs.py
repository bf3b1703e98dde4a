"""Container logs in the CRI format the kubelet reads (one line per record):

    2026-11-22T00:11:30.123456789Z stdout F hello
    <RFC 3339 nano timestamp> <stream> <P|F> <content>

F marks a full line, P a partial one (a line longer than MAX_LINE, or cut by the end of the stream).
The supervisor reads the container's stdout/stderr pipes and appends records to
logs/<name>/<restartCount>.log; the previous instance's file stays for `logs --previous`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterator

MAX_LINE = 16 * 1024


def cri_timestamp(ts: float | None = None) -> str:
    ns = time.time_ns() if ts is None else int(ts * 1e9)
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class LogFile:
    """One instance's log file, open while any of its streams still writes (a straggler holding the
    pipe may outlive the instance, even past a restart that opened the next file)."""

    def __init__(self, path: str, streams: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.open_streams = streams

    def release(self) -> None:
        self.open_streams -= 1
        if self.open_streams == 0:
            os.close(self.fd)


class LogWriter:
    """Turns chunks of one stream into CRI records appended to the instance's log file."""

    def __init__(self, log: LogFile, stream: str) -> None:
        self.log = log
        self.fd = log.fd  # O_APPEND, shared by the container's two streams
        self.stream = stream.encode()
        self.pending = b""
        self.closed = False

    def feed(self, data: bytes) -> None:
        self.pending += data
        out = []
        while True:
            nl = self.pending.find(b"\n")
            if nl < 0:
                break
            out.append(self._record(self.pending[:nl], b"F"))
            self.pending = self.pending[nl + 1 :]
        while len(self.pending) >= MAX_LINE:
            out.append(self._record(self.pending[:MAX_LINE], b"P"))
            self.pending = self.pending[MAX_LINE:]
        if out:
            os.write(self.fd, b"".join(out))

    def flush(self) -> None:
        """Write a partial last line out (the container ended without a newline)."""
        if self.pending:
            os.write(self.fd, self._record(self.pending, b"F"))
            self.pending = b""

    def close(self) -> None:
        """The stream ended: flush, and let go of the file (closed with its last stream)."""
        if not self.closed:
            self.closed = True
            self.flush()
            self.log.release()

    def _record(self, content: bytes, tag: bytes) -> bytes:
        return cri_timestamp().encode() + b" " + self.stream + b" " + tag + b" " + content + b"\n"


@dataclass(frozen=True, slots=True)
class LogRecord:
    timestamp: str
    stream: str
    partial: bool
    content: bytes


def parse_records(data: bytes) -> Iterator[LogRecord]:
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = line.split(b" ", 3)
        if len(parts) < 4:
            parts += [b""] * (4 - len(parts))
        ts, stream, tag, content = parts
        yield LogRecord(ts.decode(errors="replace"), stream.decode(errors="replace"), tag == b"P", content)
