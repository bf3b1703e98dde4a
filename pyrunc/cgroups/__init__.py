"""Pod cgroups: the kubelet's QoS arithmetic (convert, plan) and the v1/v2/null drivers.

Nothing is detected at import time; call ``detect()`` once and pass the driver down.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)

if TYPE_CHECKING:
    from pyrunc.cgroups.base import CgroupDriver, CgroupStats
    from pyrunc.cgroups.oom import apply_oom_score_adj
    from pyrunc.cgroups.plan import (
        CgroupValues,
        ContainerResources,
        PodCgroupPlan,
        describe_values,
        plan_pod,
        qos_class,
    )

# Loaded on first use (PEP 562), not with the package: pyrunc-oci imports pyrunc.cgroups.devices on every
# command, and the QoS planning (plan: fractions, quantities) and the drivers' base (hashlib, dataclasses)
# were most of its start-up (docs/performance.md). The supervisor imports every module at start anyway.
_LAZY = {"CgroupDriver": "base", "CgroupStats": "base", "apply_oom_score_adj": "oom", "CgroupValues": "plan",
         "ContainerResources": "plan", "PodCgroupPlan": "plan", "describe_values": "plan", "plan_pod": "plan",
         "qos_class": "plan"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "CgroupDriver",
    "CgroupStats",
    "CgroupValues",
    "ContainerResources",
    "PodCgroupPlan",
    "apply_oom_score_adj",
    "describe_values",
    "detect",
    "plan_pod",
    "qos_class",
]


V1_CONTROLLERS = frozenset(
    "blkio cpu cpuacct cpuset devices freezer hugetlb memory misc net_cls net_prio perf_event pids rdma".split()
)


def cgroup_mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, list[str]]]:
    """(mount point, fstype, controllers) of every cgroup/cgroup2 mount in this mount namespace."""
    mounts = []
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _source, super_opts = (right.split() + ["", ""])[:3]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            # Mount points escape spaces as \040 in mountinfo.
            point = left.split()[4].replace("\\040", " ")
            # Super options mix controllers with flags (rw, clone_children, name=systemd).
            controllers = [o for o in super_opts.split(",") if fstype == "cgroup" and o in V1_CONTROLLERS]
            mounts.append((point, fstype, controllers))
    return mounts


def detect(
    mount_root: str = "/sys/fs/cgroup",
    parent: str = "pyrunc",
    weight_method: str = "quadratic",
    mountinfo: str = "/proc/self/mountinfo",
) -> CgroupDriver:
    """The driver for this host: v2 if ``mount_root`` is a cgroup2 mount offering cpu, memory
    and pids; v1 if those v1 controllers are mounted below it; else the NullDriver."""
    from pyrunc.cgroups.null import NullDriver
    from pyrunc.cgroups.v1 import REQUIRED, V1Driver
    from pyrunc.cgroups.v2 import CONTROLLERS, V2Driver

    root = os.path.normpath(mount_root)
    mounts = cgroup_mounts(mountinfo)
    if any(point == root and fstype == "cgroup2" for point, fstype, _ in mounts):
        try:
            with open(os.path.join(root, "cgroup.controllers"), encoding="ascii") as f:
                available = f.read().split()
        except OSError:
            available = []
        if all(c in available for c in CONTROLLERS):
            return V2Driver(mount_root=root, parent=parent, weight_method=weight_method)
        return NullDriver(reason=f"cgroup2 at {root} lacks controllers {', '.join(CONTROLLERS)}")
    v1: dict[str, str] = {}
    for point, fstype, controllers in mounts:
        if fstype == "cgroup" and os.path.dirname(point) == root:
            for controller in controllers:
                v1.setdefault(controller, point)
    if all(c in v1 for c in REQUIRED):
        return V1Driver(mounts=v1, parent=parent)
    return NullDriver(reason=f"no cgroup2 mount or cgroup v1 {', '.join(REQUIRED)} controllers under {root}")
