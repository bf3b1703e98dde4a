"""The runtime service's facts: one frozen record per sandbox and per container instance.

Shaped like CRI's PodSandboxStatus and ContainerStatus (runtime.v1): a container instance is created,
runs, exits; a new attempt of the same container is a new instance with a new id. The records hold
only what the mechanism knows (pids, times, exit codes, where things are); nothing about restart
policy or readiness, which are the pod worker's.

Each record is written atomically as JSON (`to_json`/`from_json`); times are epoch seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Mapping


class ContainerState(enum.Enum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    EXITED = "EXITED"
    UNKNOWN = "UNKNOWN"  # it ended while no supervisor watched: how is not known


class SandboxState(enum.Enum):
    READY = "READY"
    NOTREADY = "NOTREADY"




@dataclass(frozen=True, slots=True)
class ContainerRecord:
    id: str  # 64 hex digits, new for every instance (CRI container id)
    name: str
    attempt: int  # the pod worker's restart count when this instance was created
    state: ContainerState
    image: str = ""  # the image reference as the pod names it
    image_id: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    pid: int = 0  # its first process, as the host sees it
    start_time: int = 0  # that process's start time in clock ticks (/proc/PID/stat field 22): pid reuse guard
    exit_code: int = 0
    signal: int = 0  # the signal that ended it, 0 if it exited
    reason: str = ""  # Completed | Error | OOMKilled | StartError | ContainerStatusUnknown
    message: str = ""  # the termination message, or why it could not start
    log_path: str = ""
    cgroup_paths: Mapping[str, str] = field(default_factory=dict)
    oom_score_adj: int | None = None
    stop_signal: int = 15

    def with_(self, **changes: object) -> "ContainerRecord":
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "attempt": self.attempt, "state": self.state.value,
            "image": self.image, "imageID": self.image_id, "createdAt": self.created_at,
            "startedAt": self.started_at, "finishedAt": self.finished_at, "pid": self.pid,
            "startTime": self.start_time, "exitCode": self.exit_code, "signal": self.signal,
            "reason": self.reason, "message": self.message, "logPath": self.log_path,
            "cgroupPaths": dict(self.cgroup_paths), "oomScoreAdj": self.oom_score_adj,
            "stopSignal": self.stop_signal,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> "ContainerRecord":
        def num(key: str, default: float = 0) -> float:
            value = data.get(key, default)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

        def text(key: str) -> str:
            value = data.get(key, "")
            return value if isinstance(value, str) else ""

        paths = data.get("cgroupPaths") or {}
        oom = data.get("oomScoreAdj")
        return cls(
            id=text("id"), name=text("name"), attempt=int(num("attempt")),
            state=ContainerState(text("state") or "UNKNOWN"), image=text("image"), image_id=text("imageID"),
            created_at=num("createdAt"), started_at=num("startedAt"), finished_at=num("finishedAt"),
            pid=int(num("pid")), start_time=int(num("startTime")), exit_code=int(num("exitCode")),
            signal=int(num("signal")), reason=text("reason"), message=text("message"), log_path=text("logPath"),
            cgroup_paths={str(k): str(v) for k, v in paths.items()} if isinstance(paths, dict) else {},
            oom_score_adj=int(oom) if isinstance(oom, int) else None, stop_signal=int(num("stopSignal", 15)),
        )


@dataclass(frozen=True, slots=True)
class SandboxRecord:
    """CRI PodSandboxStatus, as far as pyrunc has it."""

    id: str  # the pod's uid
    namespace: str
    name: str
    state: SandboxState
    created_at: str  # RFC 3339
    ip: str = ""
    namespaces: Mapping[str, str] = field(default_factory=dict)  # kind -> "host" or the pinned file


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """CRI ContainerStats: cumulative CPU time and memory use of the container's cgroup (or the pod's)."""

    name: str
    timestamp: float
    cpu_usage_ns: int
    memory_working_set: int
    memory_usage: int = 0
    memory_rss: int = 0
    page_faults: int = 0
    major_page_faults: int = 0
    process_count: int = 0
