"""The CgroupDriver interface and the file helpers shared by the v1 and v2 drivers."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pyrunc.cgroups.devices import DeviceRule
from pyrunc.cgroups.raw import RawResources
from pyrunc.errors import CgroupError

# The file helpers live in files.py (pyrunc-oci loads them without the drivers' interface); the drivers
# and their callers keep calling them as base.read, base.write ...
from pyrunc.cgroups.files import (  # noqa: F401 - re-exported
    RMDIR_ATTEMPTS, RMDIR_DELAY, attach_pid, kill_loop, procs_recursive, read, read_keyed, read_procs, rmdir_tree,
    walk_groups, write)

if TYPE_CHECKING:  # the QoS planning is not loaded for what only reads and writes cgroupfs (pyrunc-oci)
    from pyrunc.cgroups.plan import PodCgroupPlan

# Host-wide locks of pyrunc (shared by every root on the host; see pyrunc/network/claims.py).
HOST_LOCK_DIR = "/run/pyrunc-claims"


@dataclass(frozen=True, slots=True)
class CgroupStats:
    cpu_usage_ns: int
    # kubectl top's memory: usage minus inactive file cache (cadvisor's working set).
    memory_working_set: int
    # CRI's MemoryUsage besides the working set, as cadvisor reads them: all memory charged, anonymous
    # memory (v1 total_rss, v2 anon), minor and major page faults.
    memory_usage: int = 0
    memory_rss: int = 0
    page_faults: int = 0
    major_page_faults: int = 0


class CgroupDriver(Protocol):
    """One pod cgroup tree per pod: <parent>/[burstable|besteffort/]pod<uid>/<container>."""

    @property
    def version(self) -> int: ...

    def place(self, pod_uid: str, group: str) -> None:
        """The pod's cgroup is `group` (a path from the hierarchies' root: a kubelet's cgroup_parent), not
        pod<uid> under the driver's parent: made there by setup_pod without values (the kubelet sizes it), its
        container groups under it, and only those removed by remove_pod (the group is the kubelet's, as
        containerd leaves it)."""
        ...

    def setup_pod(self, plan: PodCgroupPlan) -> None: ...

    def setup_container(self, plan: PodCgroupPlan, name: str) -> None: ...

    def set_devices(self, pod_uid: str, name: str, rules: Sequence[DeviceRule]) -> None: ...

    def set_raw(self, pod_uid: str, name: str, raw: RawResources, memory_limit: int | None) -> None: ...

    def attach(self, pid: int, pod_uid: str, name: str | None) -> None: ...

    def procs(self, pod_uid: str, name: str | None) -> list[int]: ...

    def oom_killed(self, pod_uid: str, name: str) -> bool: ...

    def stats(self, pod_uid: str, name: str | None) -> CgroupStats: ...

    def kill(self, pod_uid: str, name: str | None) -> None: ...

    def remove_container(self, pod_uid: str, name: str) -> None: ...

    def remove_pod(self, pod_uid: str) -> None: ...

    def paths(self, pod_uid: str, name: str | None) -> dict[str, str]: ...

    def cleanup_parent(self) -> None: ...


QOS_DIRS = ("", "burstable", "besteffort")


def check_name(kind: str, name: str) -> str:
    """A pod uid or container name must be one plain path component."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise CgroupError(f"invalid {kind} {name!r} for a cgroup directory name", path=name)
    return name


def check_group(group: str) -> str:
    """A cgroupfs path given from outside (a kubelet's cgroup_parent, "/kubepods/burstable/pod<uid>"): absolute,
    plain names only; returned relative to the hierarchies' root."""
    parts = group.strip("/").split("/")
    if not group.startswith("/") or any(not p or p in (".", "..") or "\0" in p for p in parts):
        raise CgroupError(f"cgroup {group!r}: expected an absolute cgroupfs path of plain names", path=group)
    return "/".join(parts)


def find_pod_dir(hierarchy_root: str, pod_uid: str) -> str | None:
    """The existing pod<uid> directory under one hierarchy's parent group, whatever its QoS."""
    check_name("pod uid", pod_uid)
    for qos in QOS_DIRS:
        path = os.path.join(hierarchy_root, qos, f"pod{pod_uid}")
        if os.path.isdir(path):
            return path
    return None


@contextlib.contextmanager
def parent_lock(parent: str, lock_dir: str = HOST_LOCK_DIR) -> Iterator[None]:
    """Hold the host-wide lock of the cgroup parent ``parent``.

    Several roots may share one cgroup parent: their pods' groups never collide (they are named
    by pod uid), but one root's clean-up removes the parent's empty QoS groups while another may
    be creating a pod in them. Without the lock the other's ``mkdir pod<uid>`` can find its QoS
    group gone, or (v2) re-created by makedirs without its controllers enabled.
    """
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    import hashlib

    name = "cgroup-" + hashlib.sha256(parent.encode()).hexdigest()[:16] + ".lock"
    fd = os.open(os.path.join(lock_dir, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rmdir_if_empty(directory: str) -> None:
    """Remove a parent group if it has no child groups and no tasks; otherwise leave it."""
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            raise CgroupError(f"cannot remove cgroup {directory}: {e.strerror}", path=directory) from e
