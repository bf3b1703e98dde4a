"""Pure planning: container requests/limits -> QoS class and every cgroup value (no I/O).

Follows the kubelet: QoS by pkg/apis/core/v1/helper/qos GetPodQOS, pod values by
cm/helpers_linux.go ResourceConfigForPod, container values by kuberuntime
calculateLinuxResources, oom_score_adj by qos/policy.go. Sidecars (restartable init
containers) are treated as ordinary init containers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pyrunc.cgroups import convert
from pyrunc.errors import FieldError
from pyrunc.spec.quantity import Quantity, parse_quantity

GUARANTEED = "Guaranteed"
BURSTABLE = "Burstable"
BESTEFFORT = "BestEffort"


@dataclass(frozen=True, slots=True)
class ContainerResources:
    """One container's resources: millicores and bytes, None when not declared."""

    name: str
    cpu_request_milli: int | None = None
    cpu_limit_milli: int | None = None
    memory_request: int | None = None
    memory_limit: int | None = None

    def effective_cpu_request(self) -> int | None:
        """The request, defaulted to the limit when only a limit is given (API server defaulting)."""
        return _defaulted(self.cpu_request_milli, self.cpu_limit_milli)

    def effective_memory_request(self) -> int | None:
        return _defaulted(self.memory_request, self.memory_limit)


@dataclass(frozen=True, slots=True)
class PodLevelResources:
    """Pod-level spec.resources (KEP 2837) in millicores and bytes, None when not declared. The requests
    are the API server's defaulted ones (PodSpec.__post_init__)."""

    cpu_request_milli: int | None = None
    cpu_limit_milli: int | None = None
    memory_request: int | None = None
    memory_limit: int | None = None


@dataclass(frozen=True, slots=True)
class CgroupValues:
    """Values for one cgroup; None means unlimited (v1 -1, v2 "max") or, for shares, not set."""

    cpu_shares: int | None
    cpu_quota: int | None
    cpu_period: int
    memory_limit: int | None
    pids_limit: int | None


@dataclass(frozen=True, slots=True)
class PodCgroupPlan:
    pod_uid: str
    qos: str
    pod: CgroupValues
    containers: Mapping[str, CgroupValues]
    oom_score_adj: Mapping[str, int]


def resources_of_v1(container: Mapping[str, Any]) -> ContainerResources:
    """A v1 container dict's cpu/memory requests and limits (a stored manifest, for the printers).

    Rounded as the typed path rounds them (millicores and bytes up); a value that is not a quantity counts
    as absent, like a zero one.
    """
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}

    def quantity(raw: Any) -> Quantity | None:
        try:
            return parse_quantity(raw.strip() if isinstance(raw, str) else raw)
        except FieldError:
            return None

    def milli(raw: Any) -> int | None:
        q = quantity(raw)
        return q.milli_value() if q is not None else None

    def value(raw: Any) -> int | None:
        q = quantity(raw)
        return q.value() if q is not None else None

    return ContainerResources(str(container.get("name", "")), milli(requests.get("cpu")), milli(limits.get("cpu")),
                              value(requests.get("memory")), value(limits.get("memory")))


def _defaulted(request: int | None, limit: int | None) -> int | None:
    if request is None and limit:
        return limit
    return request


def _positive(value: int | None) -> bool:
    return value is not None and value > 0


def qos_class(containers: Sequence[ContainerResources]) -> str:
    """Guaranteed, Burstable or BestEffort for all containers of a pod (init ones included).

    As GetPodQOS: zero quantities count as absent; Guaranteed needs a CPU and a memory limit
    on every container and the summed requests equal to the summed limits.
    """
    requests = {"cpu": 0, "memory": 0}
    limits = {"cpu": 0, "memory": 0}
    guaranteed = True
    for c in containers:
        for key, req, lim in (
            ("cpu", c.effective_cpu_request(), c.cpu_limit_milli),
            ("memory", c.effective_memory_request(), c.memory_limit),
        ):
            requests[key] += max(0, req or 0)
            limits[key] += max(0, lim or 0)
            if not _positive(lim):
                guaranteed = False
    if not any(requests.values()) and not any(limits.values()):
        return BESTEFFORT
    if guaranteed and requests == limits:
        return GUARANTEED
    return BURSTABLE


def pod_level_qos(pod: PodLevelResources) -> str:
    """GetPodQOS when spec.resources is set: only the pod-level values count (zeros as absent);
    Guaranteed needs a cpu and a memory limit and every request equal to its limit."""
    requests = {k: v for k, v in (("cpu", pod.cpu_request_milli), ("memory", pod.memory_request)) if _positive(v)}
    limits = {k: v for k, v in (("cpu", pod.cpu_limit_milli), ("memory", pod.memory_limit)) if _positive(v)}
    if not requests and not limits:
        return BESTEFFORT
    guaranteed = set(limits) == {"cpu", "memory"} and all(limits.get(k) == v for k, v in requests.items())
    return GUARANTEED if guaranteed and len(requests) == len(limits) else BURSTABLE


def _pod_total(app: Sequence[int], init: Sequence[int]) -> int:
    """max(sum of app containers, largest init container): the kubelet's effective pod amount."""
    return max(sum(app), max(init, default=0))


def _pod_values(
    qos: str,
    containers: Sequence[ContainerResources],
    init_containers: Sequence[ContainerResources],
    pids_limit: int | None,
    pod_level: PodLevelResources | None = None,
) -> CgroupValues:
    if qos == BESTEFFORT:
        return CgroupValues(convert.MIN_SHARES, None, convert.QUOTA_PERIOD, None, pids_limit)
    everyone = [*containers, *init_containers]
    cpu_request = _pod_total(
        [c.effective_cpu_request() or 0 for c in containers],
        [c.effective_cpu_request() or 0 for c in init_containers],
    )
    cpu_limit = _pod_total([c.cpu_limit_milli or 0 for c in containers], [c.cpu_limit_milli or 0 for c in init_containers])
    mem_limit = _pod_total([c.memory_limit or 0 for c in containers], [c.memory_limit or 0 for c in init_containers])
    # Quota and memory limit only when every container (init ones too) declares that limit.
    cpu_declared = all(_positive(c.cpu_limit_milli) for c in everyone)
    mem_declared = all(_positive(c.memory_limit) for c in everyone)
    if pod_level is not None:
        # ResourceConfigForPod: a pod-level value replaces the containers' total, and a pod-level
        # limit counts as declared whatever the containers say.
        if pod_level.cpu_request_milli is not None:
            cpu_request = pod_level.cpu_request_milli
        if _positive(pod_level.cpu_limit_milli):
            cpu_limit, cpu_declared = pod_level.cpu_limit_milli or 0, True
        if _positive(pod_level.memory_limit):
            mem_limit, mem_declared = pod_level.memory_limit or 0, True
    quota = convert.milli_cpu_to_quota(cpu_limit) if cpu_declared else 0
    return CgroupValues(
        cpu_shares=convert.milli_cpu_to_shares(cpu_request),
        cpu_quota=quota or None,
        cpu_period=convert.QUOTA_PERIOD,
        memory_limit=mem_limit if mem_declared else None,
        pids_limit=pids_limit,
    )


def _with_pod_limits(c: ContainerResources, pod_level: PodLevelResources | None) -> ContainerResources:
    """kuberuntime: a container without its own limit gets the pod-level limit in its cgroup (not in
    its spec), for runtimes that size themselves from their cgroup (KEP 2837)."""
    if pod_level is None:
        return c
    # The requests stay the container's own (0 when it has none: not defaulted from a borrowed limit).
    return ContainerResources(
        c.name, c.effective_cpu_request() or 0,
        c.cpu_limit_milli if _positive(c.cpu_limit_milli) else pod_level.cpu_limit_milli,
        c.effective_memory_request() or 0,
        c.memory_limit if _positive(c.memory_limit) else pod_level.memory_limit)


def _container_values(c: ContainerResources) -> CgroupValues:
    quota = convert.milli_cpu_to_quota(c.cpu_limit_milli or 0)
    return CgroupValues(
        cpu_shares=convert.milli_cpu_to_shares(c.effective_cpu_request() or 0),
        cpu_quota=quota or None,
        cpu_period=convert.QUOTA_PERIOD,
        memory_limit=c.memory_limit if _positive(c.memory_limit) else None,
        pids_limit=None,
    )


def plan_pod(
    pod_uid: str,
    containers: Sequence[ContainerResources],
    init_containers: Sequence[ContainerResources],
    *,
    machine_memory: int,
    pids_limit: int = -1,
    weight_method: str = "quadratic",
    pod_level: PodLevelResources | None = None,
) -> PodCgroupPlan:
    """Every cgroup value and oom_score_adj of a pod; ``pids_limit`` < 0 means no pids limit.
    ``pod_level``: the pod's spec.resources when set (it decides the QoS class and the pod cgroup).

    ``weight_method`` is only validated here; drivers convert shares when writing cpu.weight.
    """
    if weight_method not in convert.WEIGHT_METHODS:
        raise ValueError(f"unknown cpu weight conversion {weight_method!r}")
    names = [c.name for c in (*init_containers, *containers)]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate container names in {names}")
    everyone = (*init_containers, *containers)
    qos = pod_level_qos(pod_level) if pod_level is not None else qos_class(everyone)
    per_container = {c.name: _container_values(_with_pod_limits(c, pod_level)) for c in everyone}
    # KEP 2837: a pod-level memory request not claimed by the containers is shared out among them
    # for oom_score_adj, so that containers without a request of their own are not the first killed.
    share = 0
    if pod_level is not None and pod_level.memory_request and everyone:
        claimed = _pod_total([c.effective_memory_request() or 0 for c in containers],
                             [c.effective_memory_request() or 0 for c in init_containers])
        share = max(0, pod_level.memory_request - claimed) // len(everyone)
    adj = {c.name: convert.oom_score_adj(qos, (c.effective_memory_request() or 0) + share, machine_memory)
           for c in everyone}
    return PodCgroupPlan(
        pod_uid=pod_uid,
        qos=qos,
        pod=_pod_values(qos, containers, init_containers, pids_limit if pids_limit > 0 else None, pod_level),
        containers=MappingProxyType(per_container),
        oom_score_adj=MappingProxyType(adj),
    )


def qos_dir(qos: str) -> str:
    """Where the kubelet puts a pod of this class under its parent: Guaranteed directly."""
    return {GUARANTEED: "", BURSTABLE: "burstable", BESTEFFORT: "besteffort"}[qos]


def v1_files(values: CgroupValues) -> list[tuple[str, str]]:
    """cgroup v1 file -> value for one group, in the order they are written."""
    rows = [
        ("cpu/cpu.shares", str(values.cpu_shares)) if values.cpu_shares is not None else None,
        ("cpu/cpu.cfs_period_us", str(values.cpu_period)),
        ("cpu/cpu.cfs_quota_us", str(values.cpu_quota if values.cpu_quota is not None else -1)),
        ("memory/memory.limit_in_bytes", str(values.memory_limit if values.memory_limit is not None else -1)),
        ("pids/pids.max", str(values.pids_limit)) if values.pids_limit is not None else None,
    ]
    return [r for r in rows if r is not None]


def v2_files(values: CgroupValues, weight_method: str, *, container: bool) -> list[tuple[str, str]]:
    """cgroup v2 file -> value for one group, in the order they are written."""
    quota = str(values.cpu_quota) if values.cpu_quota is not None else "max"
    rows = [
        ("cpu.weight", str(convert.shares_to_weight(values.cpu_shares, weight_method)))
        if values.cpu_shares is not None
        else None,
        ("cpu.max", f"{quota} {values.cpu_period}"),
        ("memory.max", str(values.memory_limit) if values.memory_limit is not None else "max"),
        ("memory.oom.group", "1") if container else None,
        ("pids.max", str(values.pids_limit)) if values.pids_limit is not None else None,
    ]
    return [r for r in rows if r is not None]


def describe_values(plan: PodCgroupPlan, driver_version: int, weight_method: str = "quadratic") -> list[tuple[str, str]]:
    """(cgroup file relative to the pod's parent group, value written) for ``describe pod``.

    Version 0 (no usable cgroups) gives one row saying that no limits are applied.
    """
    if driver_version == 0:
        return [("cgroups", "none (no usable cgroup hierarchy: limits are not enforced)")]
    base = "/".join(p for p in (qos_dir(plan.qos), f"pod{plan.pod_uid}") if p)
    groups = [(base, plan.pod, False)] + [(f"{base}/{n}", v, True) for n, v in plan.containers.items()]
    rows: list[tuple[str, str]] = []
    for path, values, is_container in groups:
        if driver_version == 1:
            files = v1_files(values)
            rows += [(f"{f.split('/')[0]}:{path}/{f.split('/')[1]}", v) for f, v in files]
        else:
            rows += [(f"{path}/{f}", v) for f, v in v2_files(values, weight_method, container=is_container)]
    return rows
