"""The degraded mode: no usable cgroup hierarchy, so nothing is limited or accounted.

Pods still run (as crun's "disabled" cgroup manager allows); `describe pod` says that
limits are not enforced (plan.describe_values with version 0). Processes cannot be listed
by cgroup here, so the caller tracks its own pids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrunc.cgroups.base import CgroupStats
from pyrunc.cgroups.plan import PodCgroupPlan


@dataclass(frozen=True, slots=True)
class NullDriver:
    reason: str = "no usable cgroup hierarchy"
    version: int = field(default=0, init=False)

    def place(self, pod_uid: str, group: str) -> None:
        return None

    def setup_pod(self, plan: PodCgroupPlan) -> None:
        return None

    def setup_container(self, plan: PodCgroupPlan, name: str) -> None:
        return None

    def set_devices(self, pod_uid: str, name: str, rules: object) -> None:
        return None  # nothing can restrict devices here; `describe` says limits are not enforced

    def set_raw(self, pod_uid: str, name: str, raw: object, memory_limit: int | None) -> None:
        return None  # as for every limit here: `describe` says limits are not enforced

    def attach(self, pid: int, pod_uid: str, name: str | None) -> None:
        return None

    def procs(self, pod_uid: str, name: str | None) -> list[int]:
        return []

    def oom_killed(self, pod_uid: str, name: str) -> bool:
        return False

    def stats(self, pod_uid: str, name: str | None) -> CgroupStats:
        return CgroupStats(cpu_usage_ns=0, memory_working_set=0)

    def kill(self, pod_uid: str, name: str | None) -> None:
        return None

    def remove_container(self, pod_uid: str, name: str) -> None:
        return None

    def remove_pod(self, pod_uid: str) -> None:
        return None

    def paths(self, pod_uid: str, name: str | None) -> dict[str, str]:
        return {}

    def cleanup_parent(self) -> None:
        return None
