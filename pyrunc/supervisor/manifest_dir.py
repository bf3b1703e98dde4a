"""The static pod source: watch a manifest directory and keep its pods running (the kubelet's
``--pod-manifest-path``).

Runs in the daemon's loop: the inotify descriptor is one more reader, the periodic rescan one more
timer (no thread). Every change of the directory, and every FILE_CHECK_FREQUENCY seconds, the
directory is read again whole and ``static_pods.plan`` says what to create, replace or delete; the
daemon carries each action out through its own apply and delete paths (``carry_out``). A rescan
also catches what inotify cannot see: a file changed behind a symlink, a directory that was
missing at start, events lost to a full queue.

As the kubelet's file source, the directory is the whole truth: a file that stops being a valid pod
(a bad edit) takes its pod away, as does a missing directory. A bad file is reported once per
distinct problem: a daemon log line and a node event (``pyrunc get events``); the other files' pods
are not touched.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from pyrunc.clock import Clock
from pyrunc.linux import inotify
from pyrunc.status import rfc3339
from pyrunc.supervisor.loop import Loop
from pyrunc.supervisor.static_pods import Action, BadFile, file_pods, is_manifest_name, plan

log = logging.getLogger("pyrunc.static")
SETTLE = 0.1  # seconds: a burst of events (a rename-into-place, `cp` of several files) makes one rescan
MAX_FILE_BYTES = 4 << 20  # a manifest larger than this is reported, not read (the loader refuses > 3 MiB)

Snapshot = Callable[[], "tuple[dict[str, str | None], frozenset[str]]"]
CarryOut = Callable[[Action, Callable[[str], None]], None]  # the action, then done(error or "")
Report = Callable[[str, str], None]  # (path, message)


class ManifestDir:
    def __init__(self, loop: Loop, clock: Clock, path: str, node_name: str, period: float,
                 snapshot: Snapshot, carry_out: CarryOut, report: Report) -> None:
        self.loop = loop
        self.clock = clock
        self.path = path
        self.node_name = node_name
        self.period = period
        self.snapshot = snapshot  # every pod of the node: key -> config hash (None: not static); busy keys
        self.carry_out = carry_out
        self.report = report
        self.in_flight: set[str] = set()
        self.reported: dict[str, str] = {}  # path -> the problem last reported (reported once)
        # path -> (hash, error) of a pod the daemon refused (admission, a failed start): not tried
        # again until its file changes, or every rescan would try and fail again.
        self.failed: dict[str, tuple[str, str]] = {}
        self.fd: int | None = None
        self.wd: int | None = None
        self.pending: int | None = None  # the timer of a rescan already asked for
        try:
            self.fd = inotify.inotify_init()
        except OSError as e:  # no instance left (fs.inotify.max_user_instances): the rescans still work
            log.warning("cannot watch %s (%s): reading it every %gs only", path, e, period)
            return
        self.loop.add_reader(self.fd, self._on_events)

    def start(self) -> None:
        log.info("static pods from %s (rescanned every %gs)", self.path, self.period)
        self.sync()
        self._tick()

    def close(self) -> None:
        if self.fd is not None:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = None

    def soon(self) -> None:
        """A rescan shortly (one for a burst of requests)."""
        if self.pending is None:
            self.pending = self.loop.call_later(SETTLE, self._settled)

    def _settled(self) -> None:
        self.pending = None
        self.sync()

    def _tick(self) -> None:
        self.sync()
        self.loop.call_later(self.period, self._tick)

    def _on_events(self) -> None:
        assert self.fd is not None
        for wd, mask, _name in inotify.read_events(self.fd):
            if mask & inotify.IN_IGNORED and wd == self.wd:
                self.wd = None  # the directory went: watched again once it is back (see _watch)
        self.soon()

    def _watch(self) -> None:
        if self.wd is not None or self.fd is None:
            return
        try:
            self.wd = inotify.add_watch(self.fd, self.path)
        except OSError as e:
            log.debug("cannot watch %s yet: %s", self.path, e)

    # ------------------------------------------------------------------ one rescan
    def read(self) -> tuple[dict[str, str], list[BadFile]]:
        """The text of every manifest file of the directory; unreadable ones as bad files."""
        texts: dict[str, str] = {}
        bad: list[BadFile] = []
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return texts, [BadFile(self.path, "the manifest directory does not exist")]
        except OSError as e:
            return texts, [BadFile(self.path, f"cannot read the manifest directory: {e.strerror}")]
        for name in names:
            if not is_manifest_name(name):
                continue
            path = os.path.join(self.path, name)
            try:
                if not os.path.isfile(path):
                    bad.append(BadFile(path, "not a regular file (static pod manifests are not searched in sub-directories)"))
                    continue
                if os.path.getsize(path) > MAX_FILE_BYTES:
                    bad.append(BadFile(path, f"larger than {MAX_FILE_BYTES} bytes"))
                    continue
                with open(path, encoding="utf-8") as f:
                    texts[path] = f.read()
            except FileNotFoundError:
                continue  # removed while we read: the next event rescans
            except (OSError, UnicodeDecodeError) as e:
                bad.append(BadFile(path, f"cannot read: {e}"))
        return texts, bad

    def sync(self) -> None:
        self._watch()
        texts, unreadable = self.read()
        pods, bad = file_pods(texts, self.node_name, rfc3339(self.clock.wall()))
        for path in [p for p in self.failed if p not in texts]:
            del self.failed[path]
        refused = [p for p in pods if self.failed.get(p.path, ("", ""))[0] == p.hash]
        bad += [BadFile(p.path, self.failed[p.path][1]) for p in refused]
        pods = [p for p in pods if p not in refused]
        running, busy = self.snapshot()
        actions, conflicts = plan(pods, running, busy | frozenset(self.in_flight))
        self._report([*unreadable, *bad, *conflicts])
        for action in actions:
            self._start(action)

    def _start(self, action: Action) -> None:
        key = action.key
        self.in_flight.add(key)
        log.info("static pod %s: %s%s", key, action.verb, f" from {action.pod.path}" if action.pod else "")

        def done(error: str) -> None:
            self.in_flight.discard(key)
            if error and action.pod is not None:
                self.failed[action.pod.path] = (action.pod.hash, error)
                self._report_one(BadFile(action.pod.path, error))
            self.soon()  # whatever changed meanwhile

        self.carry_out(action, done)

    def _report(self, bad: list[BadFile]) -> None:
        now = {b.path: b.message for b in bad}
        for path in list(self.reported):
            if path not in now:
                log.info("static pod manifest %s: no longer a problem", path)
                del self.reported[path]
        for b in bad:
            self._report_one(b)

    def _report_one(self, bad: BadFile) -> None:
        if self.reported.get(bad.path) == bad.message:
            return
        self.reported[bad.path] = bad.message
        self.report(bad.path, bad.message)
