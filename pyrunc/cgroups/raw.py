"""Cgroup values a caller gives as they are, beside the ones planned from requests and limits (plan.py).

CRI's LinuxContainerResources carries fields that have no Pod API form: the CPUs and memory nodes a container
may use, its memory+swap limit, its huge page limits and raw cgroup v2 files. The runtime service writes them
into the container's groups after the planned values (mechanism: the kubelet decided them). Pure: the files and
values only (the drivers write them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RawResources:
    """`cpuset_cpus`/`cpuset_mems` in the kernel's list form ("0-1,3"; "" = not set); `memory_swap` the
    memory+swap limit in bytes (cgroup v1's memsw meaning, as CRI's memory_swap_limit_in_bytes; 0 = not set,
    -1 = unlimited); `hugepages` (page size as in the hugetlb file names, "2MB", bytes); `unified` raw
    cgroup v2 files (name, value)."""

    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    memory_swap: int = 0
    hugepages: tuple[tuple[str, int], ...] = ()
    unified: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.cpuset_cpus or self.cpuset_mems or self.memory_swap or self.hugepages or self.unified)

    def to_dict(self) -> dict[str, Any]:
        return {"cpuset_cpus": self.cpuset_cpus, "cpuset_mems": self.cpuset_mems, "memory_swap": self.memory_swap,
                "hugepages": [list(h) for h in self.hugepages], "unified": [list(u) for u in self.unified]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "RawResources":
        return RawResources(str(d.get("cpuset_cpus") or ""), str(d.get("cpuset_mems") or ""),
                            int(d.get("memory_swap") or 0), tuple((str(s), int(v)) for s, v in d.get("hugepages", [])),
                            tuple((str(k), str(v)) for k, v in d.get("unified", [])))


def v1_raw_files(raw: RawResources) -> list[tuple[str, str]]:
    """("controller/file", value) for cgroup v1, in order: after the planned memory limit (memsw must stay at or
    above it, which the caller checked)."""
    out: list[tuple[str, str]] = []
    if raw.cpuset_cpus:
        out.append(("cpuset/cpuset.cpus", raw.cpuset_cpus))
    if raw.cpuset_mems:
        out.append(("cpuset/cpuset.mems", raw.cpuset_mems))
    if raw.memory_swap:
        out.append(("memory/memory.memsw.limit_in_bytes", str(raw.memory_swap)))
    for size, limit in raw.hugepages:
        out.append((f"hugetlb/hugetlb.{size}.limit_in_bytes", str(limit)))
    return out


def v2_raw_files(raw: RawResources, memory_limit: int | None) -> list[tuple[str, str]]:
    """(file, value) for cgroup v2. memory.swap.max is swap alone: memory+swap minus the memory limit, as runc
    converts it (unlimited when either is unlimited)."""
    out: list[tuple[str, str]] = []
    if raw.cpuset_cpus:
        out.append(("cpuset.cpus", raw.cpuset_cpus))
    if raw.cpuset_mems:
        out.append(("cpuset.mems", raw.cpuset_mems))
    if raw.memory_swap:
        swap = "max" if raw.memory_swap < 0 or not memory_limit else str(raw.memory_swap - memory_limit)
        out.append(("memory.swap.max", swap))
    for size, limit in raw.hugepages:
        out.append((f"hugetlb.{size}.max", str(limit)))
    out.extend(raw.unified)
    return out
