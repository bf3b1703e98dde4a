"""A small single-threaded event loop: fd readers, timers, and process exits.

Single-threaded on purpose: the supervisor forks containers with a bare os.fork(), which is only
safe in a process without threads. Children are reaped through SIGCHLD + waitpid(-1, WNOHANG);
processes that are not our children (adopted after a supervisor restart) are watched with a pidfd.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import logging
import os
import selectors
import signal
from typing import Callable

from pyrunc.clock import Clock, SystemClock

log = logging.getLogger("pyrunc.loop")
ExitCallback = Callable[[int, "int | None"], None]  # (pid, wait status or None when unknown)


class Loop:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.sel = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.cancelled: set[int] = set()
        self.seq = itertools.count()
        self.children: dict[int, ExitCallback] = {}
        self.pidfds: dict[int, int] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._drain_wakeups)
        self.got_term = False

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.got_term = True

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass
        self.reap()

    # -- readers -----------------------------------------------------------------
    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self.sel.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    # -- timers ------------------------------------------------------------------
    def call_later(self, delay: float, callback: Callable[[], None]) -> int:
        handle = next(self.seq)
        heapq.heappush(self.timers, (self.clock.monotonic() + max(0.0, delay), handle, callback))
        return handle

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self.cancelled.add(handle)

    # -- processes ---------------------------------------------------------------
    def watch_child(self, pid: int, callback: ExitCallback) -> None:
        self.children[pid] = callback

    def watch_foreign(self, pid: int, callback: ExitCallback) -> None:
        """A process that is not our child: we learn that it ended, not how."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            callback(pid, None)
            return

        def fired() -> None:
            self.remove_reader(pidfd)
            os.close(pidfd)
            self.pidfds.pop(pid, None)
            callback(pid, None)

        self.pidfds[pid] = pidfd
        self.add_reader(pidfd, fired)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            if pid == 0:
                return
            callback = self.children.pop(pid, None)
            if callback is not None:
                self._call(lambda: callback(pid, status))
            # else: an orphan reparented to us (we are a subreaper) — reaped, nothing to record.

    # -- running -------------------------------------------------------------------
    def run_once(self, max_wait: float = 5.0) -> None:
        now = self.clock.monotonic()
        while self.timers and (self.timers[0][1] in self.cancelled or self.timers[0][0] <= now):
            _, handle, callback = heapq.heappop(self.timers)
            if handle in self.cancelled:
                self.cancelled.discard(handle)
                continue
            self._call(callback)
            now = self.clock.monotonic()
        wait = max_wait
        if self.timers:
            wait = max(0.0, min(wait, self.timers[0][0] - self.clock.monotonic()))
        for key, _ in self.sel.select(wait):
            # An earlier callback of this batch may have unregistered (and closed) this fd; its
            # number may even belong to a new fd by now. Only call what is still registered.
            current = self.sel.get_map().get(key.fd)
            if current is not None and current.data is key.data:
                self._call(key.data)
        self.reap()

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        """One failing callback (one pod's trouble) must never take the supervisor down."""
        try:
            callback()
        except Exception:  # noqa: BLE001
            log.exception("callback %r failed", callback)
