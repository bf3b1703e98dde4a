"""Probes and lifecycle hooks of running containers, driven by the supervisor's event loop.

Every probe or hook action is a child process (probe/action.py), forked by the action spawner
(probe/starter.py, probe/spawner.py) or by the supervisor itself, whose exit reaches the loop, with a
SIGKILL backstop at its timeout; nothing here blocks. The decisions are the kubelet's,
kept in worker.ProbeWorker (thresholds, periods, startup gating); this module only schedules them
and reports results to the pod runner through callbacks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from pyrunc.probe import ActionResult, Target, action
from pyrunc.probe.starter import InProcess, Job, Starter
from pyrunc.probe.worker import ProbeWorker

if TYPE_CHECKING:
    from pyrunc.supervisor.loop import Loop

PROBE_KINDS = (("startup", "startup_probe"), ("liveness", "liveness_probe"), ("readiness", "readiness_probe"))


@dataclass
class Running:
    """One action child in flight."""

    job: Job
    timer: int | None


class ActionRunner:
    """Runs actions as watched children; `cancel_all` kills whatever is still running (container gone).

    `starter` forks them: the supervisor's action spawner (starter.SpawnerClient), or the supervisor itself.
    """

    def __init__(self, loop: Loop, starter: Starter | None = None) -> None:
        self.loop = loop
        self.starter = starter or InProcess(loop)
        self.running: dict[int, Running] = {}
        self.ids = itertools.count()

    def run(self, handler: Any, target: Target, timeout: float, ports: dict[str, int], purpose: str,
            done: Callable[[ActionResult], None]) -> None:
        key = next(self.ids)

        def exited(spawned: action.Spawned, status: int | None) -> None:
            entry = self.running.pop(key, None)
            if entry is not None:
                self.loop.cancel(entry.timer)
            done(action.collect(spawned, status))

        try:
            job = self.starter.start(handler, target, timeout, ports, purpose, exited)
        except OSError as e:
            done(ActionResult(None, f"cannot start the {purpose}: {e}"))
            return
        timer = self.loop.call_later(job.kill_after, job.kill)
        self.running[key] = Running(job, timer)

    def cancel_all(self) -> None:
        for entry in list(self.running.values()):
            entry.job.kill()  # its exit callback still runs and closes the message pipe


def handler_of(action: Any) -> tuple[Any, float | None]:
    """(the exec/httpGet/tcpSocket/grpc action, or None) and the seconds of a sleep action."""
    if getattr(action, "sleep", None) is not None:
        return None, float(action.sleep.seconds)
    for field in ("exec", "http_get", "tcp_socket", "grpc"):
        value = getattr(action, field, None)
        if value is not None:
            return value, None
    return None, None


class ContainerProbes:
    """The startup, liveness and readiness workers of one container instance."""

    def __init__(self, container: Any, loop: Loop, target: Target, ports: dict[str, int],
                 on_outcome: Callable[[str, bool | None, Any, str], None], starter: Starter | None = None) -> None:
        self.loop = loop
        self.target = target
        self.ports = ports
        self.on_outcome = on_outcome  # (kind, this probe's own result, the published Outcome, message)
        self.actions = ActionRunner(loop, starter)
        now = self.loop.clock.monotonic()
        self.workers = {kind: ProbeWorker(getattr(container, attr), kind, now)
                        for kind, attr in PROBE_KINDS if getattr(container, attr) is not None}
        self.timers: dict[str, int] = {}
        self.busy: set[str] = set()
        self.startup_done = "startup" not in self.workers
        self.stopped = False

    @property
    def has_readiness(self) -> bool:
        return "readiness" in self.workers

    def start(self) -> None:
        for kind in self.workers:
            self._schedule(kind)

    def stop(self) -> None:
        self.stopped = True
        for timer in self.timers.values():
            self.loop.cancel(timer)
        self.timers.clear()
        self.actions.cancel_all()

    def _schedule(self, kind: str) -> None:
        worker = self.workers[kind]
        if self.stopped or not worker.active(self.startup_done) or kind in self.timers or kind in self.busy:
            return
        now = self.loop.clock.monotonic()
        delay = worker.next_run(now) - now
        self.timers[kind] = self.loop.call_later(max(0.0, delay), lambda: self._probe(kind))

    def _probe(self, kind: str) -> None:
        self.timers.pop(kind, None)
        if self.stopped:
            return
        worker = self.workers[kind]
        handler, _ = handler_of(worker.probe)
        self.busy.add(kind)
        self.actions.run(handler, self.target, worker.timeout, self.ports, "probe",
                         lambda result: self._result(kind, result))

    def _result(self, kind: str, result: ActionResult) -> None:
        self.busy.discard(kind)
        if self.stopped:
            return
        worker = self.workers[kind]
        outcome = worker.record(result.result, self.loop.clock.monotonic())
        self.on_outcome(kind, result.result, outcome, result.message if result.result is not True else "")
        if kind == "startup" and outcome.result is True:
            self.startup_done = True
            for other in self.workers:
                self._schedule(other)
        self._schedule(kind)
