"""The state of one probe worker: when to probe next and what the results so far mean. No I/O; time is passed in.

Mirrors kubelet pkg/kubelet/prober/worker.go (`doProbe`), one worker per container and probe kind:

- The published result starts at the kind's initial value: readiness Failure (not ready until a probe
  succeeds), liveness Success, startup Unknown (worker.go `initialValue`).
- Consecutive equal results are counted (`resultRun`); the published result changes only when the run reaches
  `successThreshold` (successes) or `failureThreshold` (failures). Liveness and startup use a
  `successThreshold` of 1 (API validation rejects anything else).
- An Unknown result (the probe errored: the container is not running, a named port is missing) is thrown away
  and not counted ("Prober error, throw away the result").
- A liveness or startup result that turns to Failure means: kill the container. The worker then holds
  (`onHold`) and probes nothing until the container is replaced (`reset`).
- Startup gates the others: until the container has started (startup probe succeeded, or none), only the
  startup probe runs; afterwards the startup probe stops and liveness/readiness run (see `active`).
- Minimums are the API's: period, timeout and thresholds at least 1, initial delay at least 0.

Scheduling: the kubelet ticks every `periodSeconds` from the worker's creation (with a random first delay
after a kubelet restart) and skips ticks earlier than `initialDelaySeconds` after the container started.
pyrunc anchors the grid at start + initialDelaySeconds, the earliest moment the kubelet could probe; like a Go
ticker, a tick missed while a probe was still running is dropped, not run late twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyrunc.spec.model import Probe

KINDS = ("liveness", "readiness", "startup")
# worker.go initialValue: the published result before any probe ran (None = Unknown).
INITIAL: dict[str, bool | None] = {"liveness": True, "readiness": False, "startup": None}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one recorded probe result did to the published result."""

    result: bool | None  # the published result now: True success, False failure, None unknown (nothing yet)
    changed: bool  # it differs from the one before this probe
    kill: bool  # liveness/startup reached failureThreshold: kill the container (the worker holds until reset)


class ProbeWorker:
    """One probe of one container. Mutable on purpose: it is the counter the kubelet keeps per worker."""

    def __init__(self, probe: Probe, kind: str, started_at: float) -> None:
        if kind not in KINDS:
            raise ValueError(f"probe kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.probe = probe
        self.kind = kind
        self.initial_delay = max(0, probe.initial_delay_seconds)
        self.period = max(1, probe.period_seconds)
        self.timeout = max(1, probe.timeout_seconds)
        self.failure_threshold = max(1, probe.failure_threshold)
        # Liveness and startup must have successThreshold 1 (validation); readiness may ask for more.
        self.success_threshold = max(1, probe.success_threshold) if kind == "readiness" else 1
        self.reset(started_at)

    def reset(self, started_at: float) -> None:
        """A new container (first start or restart): initial result, empty counters, no hold."""
        self.started_at = started_at
        self.result: bool | None = INITIAL[self.kind]
        self.last: bool | None = None  # the last counted result
        self.run = 0  # how many times in a row `last` was seen
        self.on_hold = False
        self._last_tick: int | None = None  # the grid tick of the last probe (k in first + k * period)

    @property
    def first_run(self) -> float:
        return self.started_at + self.initial_delay

    def next_run(self, now: float) -> float:
        """When to run the next probe: the first grid tick at or after `now` that has not run yet."""
        if now <= self.first_run and self._last_tick is None:
            return self.first_run
        tick = max(0, math.ceil((now - self.first_run) / self.period))
        if self._last_tick is not None:
            tick = max(tick, self._last_tick + 1)
        return self.first_run + tick * self.period

    def active(self, startup_done: bool) -> bool:
        """Whether this worker probes now. The startup probe runs until the container has started, the others
        only after; a worker on hold (after a kill) runs nothing until reset()."""
        if self.on_hold:
            return False
        return not startup_done if self.kind == "startup" else startup_done

    def record(self, success: bool | None, now: float) -> Outcome:
        """Count one probe result (None = unknown, not counted) finished at `now`; say what changed."""
        if now >= self.first_run:
            self._last_tick = max(0, math.floor((now - self.first_run) / self.period))
        if self.on_hold or success is None:
            return Outcome(self.result, changed=False, kill=False)
        if success == self.last:
            self.run += 1
        else:
            self.last, self.run = success, 1
        threshold = self.success_threshold if success else self.failure_threshold
        if self.run < threshold:
            return Outcome(self.result, changed=False, kill=False)
        changed = self.result != success
        self.result = success
        kill = not success and self.kind in ("liveness", "startup")
        if kill:
            # worker.go: stop probing until a new container appears, and start counting afresh then.
            self.on_hold = True
            self.run = 0
        return Outcome(success, changed=changed, kill=kill)

    @property
    def ready(self) -> bool:
        """For readiness: the container is ready (the published result is Success)."""
        return self.result is True


def container_ready(readiness: ProbeWorker | None, started: bool) -> bool:
    """kubelet: a started container with no readiness probe is ready; with one, the probe decides."""
    if not started:
        return False
    return True if readiness is None else readiness.ready
