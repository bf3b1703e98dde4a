"""How the supervisor starts an action child: through the action spawner, or by forking itself.

    ActionRunner (runner.py) --start(handler, target, ..., exited)--> Job (kill_after, kill())
                                                                       ... exited(Spawned, wait status | None)

`InProcess` forks the supervisor (action.spawn) and learns the exit from the loop's waitpid, as every action
was run before the spawner existed. `SpawnerClient` hands the action to the spawner process (spawner.py):
one packet with the message pipe's write end attached; the spawner answers the child's pid and, once it
reaped it, its wait status. Both keep the loop's shape: nothing blocks, no thread. The result is still
read by action.collect from the same pipe and status, so the policy side (runner.py) does not change.

The spawner is started on the first action and again (at most once a second) after it died; until it says
it is ready, and for good when it died before ever being ready (it could not start: the files under the
supervisor changed or went), actions fork in process. Actions in flight when it dies are killed (through
the pidfds opened on their pids) and end with an unknown status: the kubelet throws such a result away and
the next period probes again. The timeout backstop kills a child by its pidfd: the child is the spawner's,
not ours, so its pid alone could be reused once the spawner has reaped it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import logging
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

from pyrunc.probe import Handler, Target, action, spawner, wire
from pyrunc.probe.action import Spawned

if TYPE_CHECKING:
    from pyrunc.supervisor.loop import Loop

log = logging.getLogger("pyrunc.spawner")
Exited = Callable[[Spawned, "int | None"], None]  # the child's Spawned (pid, message pipe) and its wait status
RESTART_AFTER = 1.0  # seconds between two starts of the spawner
STOP_WAIT = 2.0  # seconds close() waits for the spawner to leave before it kills it


class Job(Protocol):
    """One action child in flight."""

    kill_after: float  # seconds after the start when the caller kills it (timeout + action.BACKSTOP)

    def kill(self) -> None: ...


class Starter(Protocol):
    def start(self, handler: Handler, target: Target, timeout: float, ports: Mapping[str, int], purpose: str,
              exited: Exited) -> Job: ...


# --- in process -----------------------------------------------------------------------------------------------
class _Forked:
    def __init__(self, spawned: Spawned) -> None:
        self.pid = spawned.pid
        self.kill_after = spawned.kill_after

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)  # our own child: its pid stays ours until the loop reaps it


class InProcess:
    """Actions forked by the supervisor itself."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop

    def start(self, handler: Handler, target: Target, timeout: float, ports: Mapping[str, int], purpose: str,
              exited: Exited) -> Job:
        spawned = action.spawn(handler, target, timeout, ports=ports, purpose=purpose)
        self.loop.watch_child(spawned.pid, lambda _pid, status: exited(spawned, status))
        return _Forked(spawned)


# --- through the spawner --------------------------------------------------------------------------------------
class _Remote:
    def __init__(self, message_fd: int, kill_after: float, exited: Exited) -> None:
        self.message_fd = message_fd
        self.kill_after = kill_after
        self.exited = exited
        self.pid = 0  # known once the spawner answers
        self.pidfd: int | None = None
        self.kill_wanted = False

    def started(self, pid: int) -> None:
        self.pid = pid
        try:
            self.pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # it ended already; its status is on its way
        if self.kill_wanted:
            self.kill()

    def kill(self) -> None:
        if self.pidfd is None:
            self.kill_wanted = self.pid == 0  # not started yet: killed as soon as its pid is known
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def end(self, status: int | None) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.exited(Spawned(self.pid, self.message_fd, self.kill_after), status)


class SpawnerClient:
    """The supervisor's side of the action spawner; falls back to InProcess when it is not there."""

    def __init__(self, loop: Loop, build: str) -> None:
        self.loop = loop
        self.build = build
        self.local = InProcess(loop)
        self.sock: socket.socket | None = None
        self.pid = 0  # the spawner's pid while it has not been reaped
        self.ready = False
        self.started_at = float("-inf")
        self.disabled = ""  # why the spawner is not used any more
        self.jobs: dict[int, _Remote] = {}
        self.ids = itertools.count(1)

    def start(self, handler: Handler, target: Target, timeout: float, ports: Mapping[str, int], purpose: str,
              exited: Exited) -> Job:
        if purpose not in wire.PURPOSES:
            raise ValueError(f"purpose must be 'probe' or 'lifecycle', not {purpose!r}")
        if not self._serving() or self.sock is None:
            return self.local.start(handler, target, timeout, ports, purpose, exited)
        req = wire.Request(next(self.ids), handler, target, float(timeout), dict(ports), purpose)
        try:
            data = wire.encode_request(req)
        except wire.WireError:  # a handler the wire does not carry: the child says it is unsupported
            return self.local.start(handler, target, timeout, ports, purpose, exited)
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            socket.send_fds(self.sock, [data], [w])
        except OSError as e:
            os.close(r)
            # Full (the spawner is behind) or too big for a packet (a huge command): this one forks here. Else
            # the spawner is gone.
            if not isinstance(e, BlockingIOError) and e.errno != errno.EMSGSIZE:
                # From the loop, not here: ending the other actions runs their callbacks, which must not run
                # inside the caller's start().
                why, sock = f"cannot send to it: {e}", self.sock
                self.loop.call_later(0.0, lambda: self._lost(why) if self.sock is sock else None)
            return self.local.start(handler, target, timeout, ports, purpose, exited)
        finally:
            os.close(w)
        os.set_blocking(r, False)
        job = _Remote(r, float(timeout) + action.BACKSTOP, exited)
        self.jobs[req.id] = job
        return job

    def close(self) -> None:
        """The supervisor leaves: the spawner sees its socket close and exits; waited for (then killed)."""
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        for job in self.jobs.values():
            job.kill()
            os.close(job.message_fd)
            if job.pidfd is not None:
                os.close(job.pidfd)
        self.jobs.clear()
        if self.pid:
            _wait_or_kill(self.pid, STOP_WAIT)
            self.pid = 0

    # -- the spawner's life ---------------------------------------------------------------------------
    def _serving(self) -> bool:
        if self.disabled:
            return False
        if self.sock is None and self.loop.clock.monotonic() - self.started_at >= RESTART_AFTER:
            self._launch()
        return self.ready

    def _launch(self) -> None:
        self.started_at = self.loop.clock.monotonic()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = theirs.fileno()
        if fd == spawner.SOCK_FD:  # dup2 onto itself would keep its close-on-exec flag: the spawner had none
            fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, spawner.SOCK_FD + 1)
        argv = spawner.command(os.getpid(), self.build)
        try:
            # posix_spawn (vfork and exec): no copy of the supervisor, and only 0, 1, 2 (the supervisor's
            # /dev/null and log) and the socket are inherited; its own session, away from any terminal.
            pid = os.posix_spawn(argv[0], argv, dict(os.environ), setsid=True,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, fd, spawner.SOCK_FD)])
        except OSError as e:
            ours.close()
            self.disabled = f"cannot start it: {e}"
            log.warning("action spawner: %s; the supervisor forks its actions itself", self.disabled)
            return
        finally:
            if fd != theirs.fileno():
                os.close(fd)
            theirs.close()
        ours.setblocking(False)
        self.sock, self.pid, self.ready = ours, pid, False
        self.loop.add_reader(ours.fileno(), self._readable)
        self.loop.watch_child(pid, self._exited)

    def _readable(self) -> None:
        while self.sock is not None:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as e:
                self._lost(f"its socket failed: {e}")
                return
            if not data:
                self._lost("it closed its socket")
                return
            try:
                reply = wire.decode_reply(data)
            except wire.WireError as e:
                log.warning("action spawner: a bad reply (%s): %r", e, data[:200])
                continue
            if reply.ready is not None:
                self.ready = True
                log.info("action spawner %d ready", reply.ready)
                continue
            job = self.jobs.get(reply.id)
            if job is None:
                continue
            if reply.pid is not None:
                job.started(reply.pid)
            elif reply.ended:
                del self.jobs[reply.id]
                _end(job, reply.status)

    def _lost(self, why: str) -> None:
        """The spawner is gone (or must go): its actions in flight end unknown; the next start makes another."""
        if self.sock is None:
            return
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        if not self.ready:
            self.disabled = f"it ended before it was ready ({why})"
            log.warning("action spawner: %s; the supervisor forks its actions itself", self.disabled)
        else:
            log.warning("action spawner %d lost: %s", self.pid, why)
        self.ready = False
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # our child, not reaped yet (self.pid is cleared then)
        jobs, self.jobs = self.jobs, {}
        for job in jobs.values():
            job.kill()
            _end(job, None)

    def _exited(self, pid: int, status: int | None) -> None:
        if pid != self.pid:
            return
        self.pid = 0
        self._lost(f"it exited (wait status {status})")


def _end(job: _Remote, status: int | None) -> None:
    try:
        job.end(status)
    except Exception:  # noqa: BLE001 - one pod's callback must not stop the other actions' ends
        log.exception("action result callback failed")


def _wait_or_kill(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.01)
