"""Container logs in the CRI format the kubelet reads (one line per record):

    2026-11-22T00:11:30.123456789Z stdout F hello
    <RFC 3339 nano timestamp> <stream> <P|F> <content>

F marks a full line, P a partial one (a line longer than MAX_LINE, or cut by the end of the stream).
The supervisor reads the container's stdout/stderr pipes and appends records to
<pod_logs_dir>/<ns>_<name>_<uid>/<container>/<restartCount>.log (store/paths.py); the previous
instance's files stay for `logs --previous` (older instances' too, until the pod is deleted:
`remove_instances_before` is the kubelet's container garbage collection for whoever schedules it).

Rotation, as the kubelet's container log manager does it: once the current file has reached
`max_size` bytes it is renamed `<restartCount>.log.<YYYYMMDD-hhmmss>` and a new current file is
opened; rotated files beyond `max_files - 1` (the current file counts as one) are removed, oldest
first. The kubelet checks sizes every 10 s (a fast writer passes the size by far meanwhile); the
writer here rotates as it writes: a file is full at the size, or when the next record does not fit
(records are never cut; one bigger than the size gets a file of its own). Unlike the kubelet, rotated files are not
gzip-compressed. The kubelet stamps with its local time and may rotate twice in a second only by
overwriting; here the stamp is UTC (names sort in time order whatever the time zone does) and a
second rotation within the same second gets a `.N` suffix.

Readers (`logs`, `-p`, `--tail`, `-f`) read an instance's rotated files oldest first, then the
current one (`instance_files`, `tail_records`, `Follower`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

MAX_LINE = 16 * 1024


def cri_timestamp(ts: float | None = None) -> str:
    ns = time.time_ns() if ts is None else int(ts * 1e9)
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


ROTATED_STAMP = "%Y%m%d-%H%M%S"  # the kubelet's timestampFormat "20060102-150405"
_ROTATED = re.compile(r"^(\d{8}-\d{6})(?:\.(\d+))?$")

log = logging.getLogger("pyrunc.logs")


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """containerLogMaxSize (bytes; 0 or less: never rotate) and containerLogMaxFiles (>= 2)."""

    max_size: int = 10 * 1024 * 1024
    max_files: int = 5


def _rotated_key(path: str, candidate: str) -> tuple[str, int] | None:
    if not candidate.startswith(path + "."):
        return None
    m = _ROTATED.fullmatch(candidate[len(path) + 1:])
    return (m.group(1), int(m.group(2) or 0)) if m else None


def rotated_logs(path: str) -> list[str]:
    """The rotated files of the instance whose current file is `path`, oldest first."""
    d, base = os.path.split(path)
    try:
        names = os.listdir(d or ".")
    except OSError:
        return []
    keyed = []
    for n in names:
        key = _rotated_key(base, n)
        if key is not None:
            keyed.append((key, os.path.join(d, n)))
    return [p for _, p in sorted(keyed)]


def rotated_name(path: str, now: float) -> str:
    """`<path>.<stamp>`, or `<path>.<stamp>.<n>` after the highest n already used in that second (the
    oldest of them may have been removed already: its name is not free for the newest)."""
    stamp = time.strftime(ROTATED_STAMP, time.gmtime(now))
    base = os.path.basename(path)
    used = [key[1] for p in rotated_logs(path) if (key := _rotated_key(base, os.path.basename(p))) and key[0] == stamp]
    if not used and not os.path.lexists(f"{path}.{stamp}"):
        return f"{path}.{stamp}"
    return f"{path}.{stamp}.{max(used, default=0) + 1}"


def remove_excess(path: str, keep: int) -> None:
    """Keep the newest `keep` rotated files of `path`, removing the oldest first (a reader that
    has one open keeps reading it: an unlinked file lives while it is open)."""
    rotated = rotated_logs(path)
    for old in rotated[: max(0, len(rotated) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(old)


def remove_instances_before(log_dir: str, restart_count: int) -> None:
    """Instances older than the previous one go (the kubelet keeps one dead container per container,
    and its logs with it): `<k>.log` and its rotated files for every k < restart_count - 1."""
    try:
        names = os.listdir(log_dir)
    except OSError:
        return
    for n in names:
        head = n.split(".", 1)[0]
        if head.isdigit() and n[len(head):].startswith(".log") and int(head) < restart_count - 1:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(log_dir, n))


def _open_append(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)


class LogFile:
    """One instance's log file, open while any of its streams still writes (a straggler holding the
    pipe may outlive the instance, even past a restart that opened the next file). Rotated once it
    reaches the policy's size."""

    def __init__(self, path: str, streams: int, policy: RotationPolicy = RotationPolicy(),
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.policy = policy
        self.clock = clock
        self.fd = _open_append(path)
        self.size = os.fstat(self.fd).st_size
        self.open_streams = streams
        self.failed = False

    def write(self, data: bytes) -> None:
        """Append whole records. A file is rotated when it is full or the next record does not fit:
        records are never cut, and a file passes the size only with a record bigger than the size."""
        max_size = self.policy.max_size
        while data:
            chunk = data
            if max_size > 0 and len(data) > max_size - self.size:
                cut = data.rfind(b"\n", 0, max_size - self.size) + 1  # the whole records that fit
                if not cut:
                    if self.size and self.rotate():
                        continue
                    cut = data.find(b"\n") + 1 or len(data)  # bigger than the size: a file of its own
                chunk = data[:cut]
            if not self._append(chunk):
                return
            data = data[len(chunk):]
            if 0 < max_size <= self.size:
                self.rotate()

    def _append(self, data: bytes) -> bool:
        """One write (O_APPEND keeps the two streams' records apart)."""
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
                self.size += n
        except OSError as e:  # ENOSPC, EIO: the output is lost, as containerd loses it; say so once
            if not self.failed:
                self.failed = True
                log.warning("cannot write %s: %s; output dropped", self.path, e)
            return False
        return True

    def rotate(self) -> bool:
        try:
            os.rename(self.path, rotated_name(self.path, self.clock()))
            fd = _open_append(self.path)
        except OSError as e:  # the directory went (the pod is being deleted) or the disk is full
            if not self.failed:
                self.failed = True
                log.warning("cannot rotate %s: %s; writing on", self.path, e)
            return False
        os.close(self.fd)
        self.fd, self.size = fd, 0
        remove_excess(self.path, self.policy.max_files - 1)
        return True

    def reopen(self) -> None:
        """Open the path anew (CRI ReopenContainerLog: the kubelet renamed the file to rotate it itself).
        Raises OSError; the old file stays in use then."""
        if self.open_streams <= 0:
            return  # every stream ended: the file is closed and stays so
        fd = _open_append(self.path)
        os.close(self.fd)
        self.fd, self.size, self.failed = fd, os.fstat(fd).st_size, False

    def release(self) -> None:
        self.open_streams -= 1
        if self.open_streams == 0:
            os.close(self.fd)


class LogWriter:
    """Turns chunks of one stream into CRI records appended to the instance's log file."""

    def __init__(self, log: LogFile, stream: str) -> None:
        self.log = log
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
            self.log.write(b"".join(out))

    def flush(self) -> None:
        """Write a partial last line out (the container ended without a newline)."""
        if self.pending:
            self.log.write(self._record(self.pending, b"F"))
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


# ---------------------------------------------------------------------------------------- reading
def complete(data: bytes) -> tuple[bytes, bytes]:
    """Whole records and the torn rest (a record being written is printed once complete)."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def open_instance(path: str) -> tuple[list[str], BinaryIO | None]:
    """The rotated files of an instance (oldest first) and its current file, opened.

    The current file is opened first and any rotated file that is the same file is left out: a
    rotation between the two steps then neither loses nor repeats a record.
    """
    try:
        current: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - the caller reads and closes it
    except FileNotFoundError:
        current = None
    ino = os.fstat(current.fileno()).st_ino if current is not None else -1
    rotated = []
    for p in rotated_logs(path):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(p).st_ino != ino:
                rotated.append(p)
    return rotated, current


def _read(path: str, whole_records: bool = True) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
            return complete(data)[0] if whole_records else data
    except FileNotFoundError:
        return b""  # removed as the oldest meanwhile


def read_instance(rotated: list[str], current_data: bytes, tail: int = -1) -> bytes:
    """The records of an instance: its rotated files then `current_data` (whole records). With
    `tail` >= 0, only as many files as needed (newest first) for the last `tail` full lines, plus
    one more full record so that the first line is not missing partial records before it."""
    if tail < 0:
        return b"".join(_read(p) for p in rotated) + current_data
    parts = [current_data]
    full = _full_lines(current_data)
    for p in reversed(rotated):
        if full > tail:
            break
        data = _read(p)
        parts.append(data)
        full += _full_lines(data)
    return b"".join(reversed(parts))


def _full_lines(data: bytes) -> int:
    return sum(1 for r in parse_records(data) if not r.partial)


class Follower:
    """Reads what is appended to an instance's current file, across rotations. When the path names
    another file, the old one is read to its end (the writer renames it before it opens the next,
    and never writes it again), then the files rotated after it (several rotations may have passed
    between two reads), then the new current file from its start. Files removed as the oldest
    before they could be read are lost to the reader, as with the kubelet's `logs -f`."""

    def __init__(self, path: str, current: BinaryIO | None) -> None:
        self.path = path
        self.f = current

    def read(self) -> bytes:
        if self.f is None:
            try:
                self.f = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                return b""
        data = self.f.read()
        if data:
            return data
        old = os.fstat(self.f.fileno()).st_ino
        try:
            new: BinaryIO = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return b""  # renamed, the next one not yet created: read again later
        if os.fstat(new.fileno()).st_ino == old:
            new.close()
            return b""
        parts = [self.f.read()]
        self.f.close()
        self.f = new
        # The rotated files between the old file and the new one (opened first: see open_instance).
        rotated = [(p, st.st_ino) for p in rotated_logs(self.path) if (st := _stat(p)) is not None]
        inos = [ino for _, ino in rotated]
        start = inos.index(old) + 1 if old in inos else 0
        for p, ino in rotated[start:]:
            if ino == os.fstat(new.fileno()).st_ino:
                break
            parts.append(_read(p, whole_records=False))
        return b"".join(parts)

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def read_last(path: str, limit: int) -> bytes:
    """About the last `limit` bytes of an instance's records (the current file, then rotated ones
    newest first while short), starting at a record boundary."""
    parts: list[bytes] = []
    size = 0
    for p in [path, *reversed(rotated_logs(path))]:
        try:
            with open(p, "rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(0, end - (limit - size)))
                data = f.read()
        except FileNotFoundError:
            continue
        parts.append(data)
        size += len(data)
        if size >= limit:
            joined = b"".join(reversed(parts))
            return joined[joined.find(b"\n") + 1:]
    return b"".join(reversed(parts))
