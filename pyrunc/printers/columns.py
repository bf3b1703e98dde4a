"""READY, STATUS and RESTARTS of ``kubectl get pods``: kubectl's printPod, step for step.

One pass over the pod (``summarize``) yields all three, as in kubectl, because the
init-container loop decides both the status and which containers are counted.
"""

from __future__ import annotations

from pyrunc.printers.timefmt import parse_time, since
from pyrunc.spec.sidecar import sidecar_names

# typing.TYPE_CHECKING without importing typing (~5 ms of `pyrunc get`, cli/lean_get.py); mypy reads any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

# node.NodeUnreachablePodReason: a pod on a lost node shows Unknown while being deleted.
_NODE_LOST = "NodeLost"


class PodSummary:
    """What printPod derives from a pod's status. A plain class: a dataclass or typing.NamedTuple would import
    dataclasses or typing on `pyrunc get`'s path (cli/lean_get.py)."""

    __slots__ = ("reason", "ready", "total", "restarts", "last_restart")

    def __init__(self, reason: str, ready: int, total: int, restarts: int, last_restart: datetime | None) -> None:
        self.reason = reason
        self.ready = ready
        self.total = total
        self.restarts = restarts
        self.last_restart = last_restart

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PodSummary) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "PodSummary(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def _state(status: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(waiting, running, terminated) of a container status; a present key counts, as Go's non-nil."""
    state = status.get("state") or {}
    return state.get("waiting"), state.get("running"), state.get("terminated")


def _last_finished(status: dict[str, Any]) -> datetime | None:
    terminated = (status.get("lastState") or {}).get("terminated")
    return parse_time(terminated.get("finishedAt")) if terminated else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if a < b else a


def _terminated_reason(terminated: dict[str, Any], prefix: str) -> str:
    """Reason of a terminated state, or Signal:N / ExitCode:N when the runtime gave none."""
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _has_condition(pod: dict[str, Any], kind: str) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


def summarize(pod: dict[str, Any]) -> PodSummary:
    """READY / STATUS / RESTARTS inputs, computed exactly as kubectl's printPod does."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    init_specs = spec.get("initContainers") or []
    sidecars = sidecar_names(spec)
    total = len(spec.get("containers") or []) + len(sidecars)
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last_restart = _later(last_restart, _last_finished(cs))
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            last_sidecar_restart = _later(last_sidecar_restart, _last_finished(cs))
        waiting, _running, terminated = _state(cs)
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            ready += 1 if cs.get("ready") else 0
            continue
        initializing = True
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        break

    if not initializing or _has_condition(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = _later(last_restart, _last_finished(cs))
            waiting, running, terminated = _state(cs)
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None:
                reason = _terminated_reason(terminated, "")
            elif cs.get("ready") and running is not None:
                has_running = True
                ready += 1
        # A pod with a completed container but another still running is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(pod, "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == _NODE_LOST:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return PodSummary(reason, ready, total, restarts, last_restart)


def pod_status_column(pod: dict[str, Any]) -> str:
    """The STATUS column of ``kubectl get pods``."""
    return summarize(pod).reason


def ready_column(pod: dict[str, Any]) -> str:
    """The READY column: ready/total, native sidecars counted as containers."""
    s = summarize(pod)
    return f"{s.ready}/{s.total}"


def restarts_text(summary: PodSummary, now: datetime) -> str:
    if summary.restarts != 0 and summary.last_restart is not None:
        return f"{summary.restarts} ({since(summary.last_restart, now)} ago)"
    return str(summary.restarts)


def restarts_column(pod: dict[str, Any], now: datetime) -> str:
    """The RESTARTS column: ``0`` or ``3 (12s ago)`` from the latest lastState finish."""
    return restarts_text(summarize(pod), now)
