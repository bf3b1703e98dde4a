"""Image pulls for the pod workers of one supervisor, each in a child process.

The supervisor is single-threaded and forks containers with a bare fork(), so it never runs a
registry client (threads, TLS) itself: `pyrunc image pull --result FILE NAME` runs as a child, the
loop sees it end, and FILE says how it went. Pods waiting for the same image share one pull (and
pulls from other supervisors or the CLI share blobs through the store's locks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from pyrunc.clock import Clock
from pyrunc.config import NodeConfig
from pyrunc.images.store import ImageStore
from pyrunc.supervisor.loop import Loop

log = logging.getLogger("pyrunc.pull")


@dataclass(frozen=True, slots=True)
class PullOutcome:
    ok: bool
    image_id: str = ""
    size: int = 0
    repo_digest: str = ""
    kind: str = ""  # the PullError kind when not ok
    message: str = ""
    seconds: float = 0.0  # the pull itself
    waited: float = 0.0  # from the request to the end (joined pulls wait for the first)


Done = Callable[[PullOutcome], None]


class Puller:
    def __init__(self, cfg: NodeConfig, loop: Loop, clock: Clock) -> None:
        self.cfg = cfg
        self.loop = loop
        self.clock = clock
        self.waiting: dict[str, list[tuple[float, Done]]] = {}
        self.dir = os.path.join(cfg.root, "pulls")
        self.seq = 0
        self.gc_running = False
        # Results of a supervisor that died while its pulls ran: nobody will read them.
        for name in os.listdir(self.dir) if os.path.isdir(self.dir) else []:
            pid = name.split("-", 1)[0]
            if not (pid.isdigit() and os.path.exists(f"/proc/{pid}")):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.dir, name))

    @property
    def busy(self) -> bool:
        """A pull still runs (the supervisor waits for it before leaving: its result file is ours to remove)."""
        return bool(self.waiting) or self.gc_running

    def pull(self, image: str, done: Done, auths: Mapping[str, object] | None = None) -> None:
        """Pull ``image`` in a child; ``auths`` (a docker config's `auths`, from the pod's imagePullSecrets)
        are tried before the node's credentials. They reach the child in a 0600 file of the 0700 pulls
        directory, removed when the pull ends: never on a command line (world-readable in /proc)."""
        asked = self.clock.monotonic()
        # A pod with pull secrets never joins a pull made with other credentials (or none).
        key = image if not auths else f"{image}\0{hashlib.sha256(json.dumps(auths, sort_keys=True).encode()).hexdigest()}"
        if key in self.waiting:
            self.waiting[key].append((asked, done))
            return
        self.waiting[key] = [(asked, done)]
        os.makedirs(self.dir, 0o700, exist_ok=True)
        self.seq += 1
        base = os.path.join(self.dir, f"{os.getpid()}-{self.seq}")
        result, auth_file = base + ".json", base + ".auth" if auths else ""
        argv = [sys.executable, "-m", "pyrunc", "--root", self.cfg.root, "image", "pull", "--result", result]
        try:
            if auth_file:
                _write_private(auth_file, {"auths": dict(auths or {})})
                argv += ["--auth-file", auth_file]
            pid = _spawn([*argv, image])
        except OSError as e:
            _remove(auth_file)
            self._finish(key, PullOutcome(False, kind="unreachable", message=f"cannot start the pull: {e}"))
            return
        log.info("pulling %s (pid %d)%s", image, pid, " with the pod's image pull secrets" if auth_file else "")
        self.loop.watch_child(pid, lambda _pid, _status: self._ended(key, result, asked, auth_file))

    def collect_garbage(self) -> None:
        """The kubelet's image GC, when the image filesystem is above its high threshold: a child
        removes unused images (removing a large image must not stall the supervisor's loop)."""
        if self.gc_running:
            return
        try:
            usage = ImageStore(self.cfg.images_dir).usage_percent()
        except OSError:
            return
        if usage < self.cfg.image_gc_high_threshold:
            return
        log.info("image filesystem %.0f%% used (high threshold %d%%): collecting unused images", usage,
                 self.cfg.image_gc_high_threshold)
        try:
            pid = _spawn([sys.executable, "-m", "pyrunc", "--root", self.cfg.root, "image", "gc"])
        except OSError as e:
            log.warning("image garbage collection: cannot start: %s", e)
            return
        self.gc_running = True
        self.loop.watch_child(pid, lambda _pid, _status: setattr(self, "gc_running", False))

    def _ended(self, key: str, result: str, started: float, auth_file: str) -> None:
        _remove(auth_file)
        try:
            with open(result, encoding="utf-8") as f:
                r = json.load(f)
        except (OSError, ValueError):
            r = {"ok": False, "kind": "invalid", "message": "the pull ended without a result"}
        with contextlib.suppress(FileNotFoundError):
            os.unlink(result)
        outcome = PullOutcome(
            ok=bool(r.get("ok")), image_id=str(r.get("id", "")), size=int(r.get("size", 0) or 0),
            repo_digest=str(r.get("repoDigest", "")), kind=str(r.get("kind", "")), message=str(r.get("message", "")),
            seconds=float(r.get("seconds", 0.0) or 0.0))
        self._finish(key, outcome)

    def _finish(self, key: str, outcome: PullOutcome) -> None:
        now = self.clock.monotonic()
        for asked, done in self.waiting.pop(key, []):
            done(replace(outcome, waited=now - asked))


def _write_private(path: str, doc: dict[str, object]) -> None:
    """A new file only root can read (O_EXCL: never an existing file or a planted symlink)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def _remove(path: str) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _spawn(argv: list[str]) -> int:
    """posix_spawn: no Popen object (the loop reaps every child with waitpid(-1)), stdio on /dev/null
    except stderr, which goes to the supervisor's own log."""
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
        return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)
    finally:
        os.close(devnull)
