"""Stopping one container the kubelet's way (kuberuntime killContainer), for the pod worker's executor.

    kill(KillContainer)  ->  preStop hook, if any, inside the grace period
                         ->  the runtime service's StopContainer with what is left of it (the stop
                             signal, SIGKILL at the end)
    grace period over while preStop still runs  ->  once 2 s more (PRESTOP_EXTENSION), then SIGKILL

A kill under way is only ever made shorter (a forced delete after a graceful one). The deadline of each
kill under way is what the plan sees as `ContainerView.stop_deadline`.
"""

from __future__ import annotations

from typing import Callable, Protocol

from pyrunc.clock import Clock
from pyrunc.probe import ActionResult
from pyrunc.runtime.records import ContainerRecord, ContainerState
from pyrunc.runtime.service import RuntimeService
from pyrunc.supervisor.loop import Loop
from pyrunc.worker.plan import PRESTOP_EXTENSION, KillContainer

HookDone = Callable[[ActionResult], None]


class HookRunner(Protocol):
    def __call__(self, name: str, record: ContainerRecord, action: object, timeout: float, done: HookDone) -> None: ...


class Stopper:
    """The kills under way of one pod's containers."""

    def __init__(self, runtime: RuntimeService, loop: Loop, clock: Clock, run_hook: HookRunner,
                 cancel_hooks: Callable[[str], None], current: Callable[[str], ContainerRecord | None],
                 event: Callable[[str, str, str, str], None]) -> None:
        self.rt = runtime
        self.loop = loop
        self.clock = clock
        self.run_hook = run_hook
        self.cancel_hooks = cancel_hooks
        self.current = current  # the latest instance of a container, as the executor knows it
        self.event = event  # (type, reason, message, container)
        self.deadlines: dict[str, float] = {}  # wall time of the SIGKILL of each kill under way
        self.prestop: dict[str, bool] = {}  # name -> extended already (present while the hook runs)
        self.timers: dict[str, int] = {}

    def deadline(self, name: str) -> float | None:
        return self.deadlines.get(name)

    def kill(self, kill: KillContainer, record: ContainerRecord, pre_stop: object | None) -> bool:
        """Start (True) or shorten (False) the kill of `record`, the running instance of kill.name."""
        name = kill.name
        now = self.clock.wall()
        if name in self.deadlines:  # a kill under way: only ever made shorter
            if now + kill.grace < self.deadlines[name]:
                self.deadlines[name] = now + kill.grace
                if name in self.prestop:
                    self._grace_timer(name, kill.grace)
                else:
                    self.rt.stop_container(record.id, kill.grace)
            return False
        self.deadlines[name] = now + kill.grace
        self.event("Normal", "Killing", kill.message, name)
        if kill.grace <= 0 or pre_stop is None:
            self.rt.stop_container(record.id, kill.grace)
            return True
        self.prestop[name] = False
        self._grace_timer(name, kill.grace)

        def hook_done(result: ActionResult) -> None:
            if self.prestop.pop(name, None) is None:
                return  # the grace period (and its extension) ended first: SIGKILL went already
            if result.result is not True:
                self.event("Warning", "FailedPreStopHook", f"PreStopHook failed: {result.message}".rstrip(), name)
            if self._running(name, record.id):
                self.loop.cancel(self.timers.pop(name, None))
                left = max(0.0, self.deadlines.get(name, 0.0) - self.clock.wall())
                self.rt.stop_container(record.id, left if left > 0 else PRESTOP_EXTENSION)

        self.run_hook(name, record, pre_stop, kill.grace + PRESTOP_EXTENSION, hook_done)
        return True

    def forget(self, name: str) -> None:
        """The instance ended (or the pod goes): nothing of its kill stays."""
        self.deadlines.pop(name, None)
        self.prestop.pop(name, None)
        self.loop.cancel(self.timers.pop(name, None))

    def _running(self, name: str, instance: str) -> bool:
        record = self.current(name)
        return record is not None and record.id == instance and record.state is ContainerState.RUNNING

    def _grace_timer(self, name: str, delay: float) -> None:
        self.loop.cancel(self.timers.pop(name, None))
        self.timers[name] = self.loop.call_later(delay, lambda: self._grace_over(name))

    def _grace_over(self, name: str) -> None:
        """The grace period ended while the preStop hook still ran: once 2 s more, then SIGKILL."""
        self.timers.pop(name, None)
        record = self.current(name)
        if record is None or record.state is not ContainerState.RUNNING:
            return
        if self.prestop.get(name) is False:
            self.prestop[name] = True
            self._grace_timer(name, PRESTOP_EXTENSION)
            return
        self.prestop.pop(name, None)
        self.cancel_hooks(name)
        self.rt.stop_container(record.id, 0.0)
