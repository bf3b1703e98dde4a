"""Following a container's log across its instances, for `logs -f` and `run -f`.

A container's instances each write `<restartCount>.log` (store/paths.py); store.logs.Follower reads
one instance across its rotations. `ContainerLog` moves on to the next instance once the container
has restarted: the old instance is read to its end first (the supervisor pumps an exited
container's pipes dry before it records the exit, so the file is complete by the time the restart
count grows), then the new instance from its start. Instances that come and go between two polls
(a container crash-looping faster than the reader polls, their files removed by the garbage
collection of dead instances) are skipped: the reader goes to the oldest instance still on disk.
"""

from __future__ import annotations

import os
from pyrunc.store.logs import Follower, complete, open_instance, read_instance
from pyrunc.store.paths import PodPaths


class ContainerLog:
    """Whole CRI records of one container, from instance `instance` on, as they are written."""

    def __init__(self, paths: PodPaths, container: str, instance: int) -> None:
        self.paths = paths
        self.container = container
        self.instance = instance
        self.pending = b""  # a torn last record, completed by the next read
        self.follower: Follower | None = None
        self.backlog = b""  # the instance's rotated files and current content, read at opening

    def _open(self) -> bool:
        path = self.paths.log_file(self.container, self.instance)
        rotated, current = open_instance(path)
        if current is None and not rotated:
            return False
        data = current.read() if current is not None else b""
        self.backlog = read_instance(rotated, b"") + data
        self.follower = Follower(path, current)
        return True

    def adopt(self, follower: Follower, pending: bytes) -> None:
        """Go on from a reader that already printed the instance's content so far (`logs --tail`)."""
        self.follower, self.pending, self.backlog = follower, pending, b""

    def read(self, restart_count: int) -> bytes:
        """New whole records. `restart_count` is the container's current count (its facts): when it
        is past the instance being read and that instance has nothing more, move to the next."""
        out = b""
        while True:
            if self.follower is None and not self._open():
                if restart_count <= self.instance:
                    break
                self.instance = self._next_instance(restart_count)
                continue
            assert self.follower is not None
            chunk = self.backlog + self.follower.read()
            self.backlog = b""
            if chunk:
                data, self.pending = complete(self.pending + chunk)
                out += data
                continue
            if restart_count <= self.instance:
                break
            # The instance has ended (the count moved on) and has been read to its end.
            if self.pending:
                out += self.pending + b"\n"  # a last record never completed: print it as it is
                self.pending = b""
            self.follower.close()
            self.follower = None
            self.instance = self._next_instance(restart_count)
        return out

    def _next_instance(self, restart_count: int) -> int:
        nxt = self.instance + 1
        while nxt < restart_count and not os.path.exists(self.paths.log_file(self.container, nxt)):
            nxt += 1
        return nxt

    def close(self) -> None:
        if self.follower is not None:
            self.follower.close()
            self.follower = None



class LinePrefixer:
    """Puts `prefix` at the start of every output line; a line printed in pieces (a partial record
    followed by its rest) gets it once."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.at_start = True

    def __call__(self, data: bytes) -> bytes:
        if not self.prefix:
            return data
        parts = []
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            if last and not piece:
                break
            if self.at_start:
                parts.append(self.prefix)
            parts.append(piece if last else piece + b"\n")
            self.at_start = not last
        return b"".join(parts)
