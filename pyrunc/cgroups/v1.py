"""cgroup v1 driver: one directory tree per mounted controller hierarchy.

Values are written from plan.v1_files, the same table `describe pod` prints, so what is
shown is what is written. Reads (OOM counter, memory and CPU accounting) go through
cgroupspy's typed controllers; cgroupspy has no pids or freezer controller, and it picks
a controller by the hierarchy's directory name (it misses "cpu,cpuacct" mounts), so
its controller classes are built directly on our paths, and pids/freezer use plain files.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyrunc.cgroups import base
from pyrunc.cgroups.devices import ALLOW_ALL, DeviceRule, v1_writes
from pyrunc.cgroups.plan import PodCgroupPlan, qos_dir, v1_files
from pyrunc.cgroups.raw import RawResources, v1_raw_files
from pyrunc.errors import CgroupError

REQUIRED = ("cpu", "memory", "pids")
# cpuset and hugetlb as runc joins them for every container: a container's CPUs and memory nodes and its
# huge page limits (CRI's requests) are written there; without them the groups inherit everything.
OPTIONAL = ("cpuacct", "freezer", "devices", "cpuset", "hugetlb")
FREEZE_ATTEMPTS = 200


@dataclass(frozen=True, slots=True)
class V1Driver:
    """``mounts`` maps each controller to its hierarchy's mount point (two may share one)."""

    mounts: Mapping[str, str]
    parent: str = "pyrunc"
    version: int = field(default=1, init=False)
    placed: dict[str, str] = field(default_factory=dict, compare=False)  # pod uid -> its group (place())

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED if c not in self.mounts]
        if missing:
            raise CgroupError(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
        base.check_name("cgroup parent", self.parent)

    # -- layout ---------------------------------------------------------------------------

    def _controllers(self) -> list[str]:
        return [c for c in (*REQUIRED, *OPTIONAL) if c in self.mounts]

    def _hierarchies(self) -> list[str]:
        """Each used mount point once (cpu and cpuacct are often co-mounted)."""
        return sorted({self.mounts[c] for c in self._controllers()})

    def place(self, pod_uid: str, group: str) -> None:
        self.placed[pod_uid] = base.check_group(group)

    def _pod_rel(self, pod_uid: str) -> str:
        """pod dir relative to a hierarchy root, found on disk (memory is the reference hierarchy)."""
        if pod_uid in self.placed:
            return self.placed[pod_uid]
        root = os.path.join(self.mounts["memory"], self.parent)
        found = base.find_pod_dir(root, pod_uid)
        if found is None:
            raise CgroupError(f"no cgroup for pod {pod_uid}", path=os.path.join(root, f"pod{pod_uid}"))
        return os.path.relpath(found, self.mounts["memory"])

    def _rel(self, pod_uid: str, name: str | None) -> str:
        rel = self._pod_rel(pod_uid)
        return os.path.join(rel, base.check_name("container name", name)) if name is not None else rel

    def paths(self, pod_uid: str, name: str | None) -> dict[str, str]:
        rel = self._rel(pod_uid, name)
        return {c: os.path.join(self.mounts[c], rel) for c in self._controllers()}

    # -- set-up ---------------------------------------------------------------------------

    def _write_values(self, rel: str, files: list[tuple[str, str]]) -> None:
        for controller_file, value in files:
            controller, filename = controller_file.split("/")
            directory = os.path.join(self.mounts[controller], rel)
            if filename == "memory.limit_in_bytes":
                _set_memory_limit(directory, value)
            else:
                base.write(os.path.join(directory, filename), value)

    def _make(self, rel: str) -> None:
        for hierarchy in self._hierarchies():
            path = os.path.join(hierarchy, rel)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as e:
                raise CgroupError(f"cannot create cgroup {path}: {e.strerror}", path=path) from e
        if "cpuset" in self.mounts:
            _fill_cpuset(self.mounts["cpuset"], rel)

    def set_raw(self, pod_uid: str, name: str, raw: RawResources, memory_limit: int | None) -> None:
        """The caller's own values (CRI's cpuset, memory+swap, huge pages) in the container's groups, after the
        planned ones; `unified` has no v1 form (refused before it gets here)."""
        if raw.unified:
            raise CgroupError("raw cgroup v2 files (unified) cannot be written on cgroup v1")
        rel = self._rel(pod_uid, name)
        for controller_file, value in v1_raw_files(raw):
            controller, filename = controller_file.split("/")
            if controller not in self.mounts:
                raise CgroupError(f"cannot set {filename}: the cgroup v1 {controller} controller is not mounted")
            path = os.path.join(self.mounts[controller], rel, filename)
            if not os.path.exists(path):
                if controller == "hugetlb" and value == "0":
                    continue  # a page size this host does not have: nothing to limit
                raise CgroupError(f"cannot set {filename}: not offered by this host", path=path)
            base.write(path, value)

    def setup_pod(self, plan: PodCgroupPlan) -> None:
        if plan.pod_uid in self.placed:
            self._make(self.placed[plan.pod_uid])  # the kubelet's group: its values are the kubelet's
            return
        rel = os.path.join(self.parent, qos_dir(plan.qos), f"pod{base.check_name('pod uid', plan.pod_uid)}")
        with base.parent_lock(self.parent):  # another root's clean-up must not remove a QoS group under us
            self._make(rel)
        self._write_values(rel, v1_files(plan.pod))

    def setup_container(self, plan: PodCgroupPlan, name: str) -> None:
        """Create the container's groups; a name not in the plan (a pause/holder process) gets no limits."""
        rel = self._rel(plan.pod_uid, name)
        self._make(rel)
        if name in plan.containers:
            self._write_values(rel, v1_files(plan.containers[name]))

    def set_devices(self, pod_uid: str, name: str, rules: Sequence[DeviceRule]) -> None:
        """The container's device rules in its devices group (before any task of it runs there)."""
        if "devices" not in self.mounts:
            if list(rules) == [ALLOW_ALL]:
                return  # nothing to restrict
            # Fail closed: without the controller a container could open every device node it makes.
            raise CgroupError("cannot restrict the container's devices: "
                              "the cgroup v1 devices controller is not mounted")
        directory = os.path.join(self.mounts["devices"], self._rel(pod_uid, name))
        for filename, value in v1_writes(rules):
            base.write(os.path.join(directory, filename), value)

    def attach(self, pid: int, pod_uid: str, name: str | None) -> None:
        for directory in self.paths(pod_uid, name).values():
            base.attach_pid(directory, pid)

    # -- observation ----------------------------------------------------------------------

    def procs(self, pod_uid: str, name: str | None) -> list[int]:
        """Every process of the container (or of the whole pod when name is None)."""
        return base.procs_recursive(os.path.join(self.mounts["memory"], self._rel(pod_uid, name)))

    def oom_killed(self, pod_uid: str, name: str) -> bool:
        """True once the kernel OOM-killed a task here (oom_kill in memory.oom_control, Linux >= 4.13)."""
        from cgroupspy.controllers import MemoryController
        from cgroupspy.nodes import Node

        directory = os.path.join(self.mounts["memory"], self._rel(pod_uid, name))
        try:
            control = MemoryController(Node(directory)).oom_control
        except OSError as e:
            raise CgroupError(f"cannot read {directory}/memory.oom_control: {e.strerror}", path=directory) from e
        return isinstance(control, dict) and control.get("oom_kill", 0) > 0

    def stats(self, pod_uid: str, name: str | None) -> base.CgroupStats:
        from cgroupspy.controllers import CpuAcctController, MemoryController
        from cgroupspy.nodes import Node

        rel = self._rel(pod_uid, name)
        try:
            memory = MemoryController(Node(os.path.join(self.mounts["memory"], rel)))
            usage = memory.usage_in_bytes or 0
            stat = memory.stat
            inactive = stat.get("total_inactive_file", 0)
            cpu = 0
            if "cpuacct" in self.mounts:
                cpu = CpuAcctController(Node(os.path.join(self.mounts["cpuacct"], rel))).usage or 0
        except OSError as e:
            raise CgroupError(f"cannot read cgroup statistics of {rel}: {e.strerror}", path=rel) from e
        return base.CgroupStats(cpu_usage_ns=cpu, memory_working_set=max(0, usage - inactive), memory_usage=usage,
                                memory_rss=stat.get("total_rss", 0), page_faults=stat.get("total_pgfault", 0),
                                major_page_faults=stat.get("total_pgmajfault", 0))

    # -- teardown -------------------------------------------------------------------------

    def kill(self, pod_uid: str, name: str | None) -> None:
        """SIGKILL every task: freeze first so none can fork while we signal, then thaw to let them die."""
        rel = self._rel(pod_uid, name)
        memory_dir = os.path.join(self.mounts["memory"], rel)
        if "freezer" in self.mounts:
            freezer_dir = os.path.join(self.mounts["freezer"], rel)
            _freeze(freezer_dir)
            try:
                for pid in base.procs_recursive(freezer_dir):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            finally:
                base.write(os.path.join(freezer_dir, "freezer.state"), "THAWED")
        # Without a freezer (or if freezing did not settle) a task may have forked meanwhile:
        # kill until the group is empty.
        base.kill_loop(memory_dir)

    def remove_container(self, pod_uid: str, name: str) -> None:
        try:
            rel = self._rel(pod_uid, name)
        except CgroupError:
            return
        self._remove(rel, pod_uid, name)

    def remove_pod(self, pod_uid: str) -> None:
        if pod_uid in self.placed:
            rel = self.placed[pod_uid]
            directory = os.path.join(self.mounts["memory"], rel)
            for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
                if os.path.isdir(os.path.join(directory, name)):
                    self._remove(os.path.join(rel, name), pod_uid, name)
            del self.placed[pod_uid]
            return
        # Look in every hierarchy: an interrupted setup may have created only some of them.
        rels = set()
        for hierarchy in self._hierarchies():
            found = base.find_pod_dir(os.path.join(hierarchy, self.parent), pod_uid)
            if found:
                rels.add(os.path.relpath(found, hierarchy))
        for rel in rels:
            self._remove(rel, pod_uid, None)

    def _remove(self, rel: str, pod_uid: str, name: str | None) -> None:
        if os.path.isdir(os.path.join(self.mounts["memory"], rel)):
            self.kill(pod_uid, name)
        for hierarchy in self._hierarchies():
            base.kill_loop(os.path.join(hierarchy, rel))
            base.rmdir_tree(os.path.join(hierarchy, rel))

    def cleanup_parent(self) -> None:
        """Remove the parent's groups that are empty: another root's pods under it keep them."""
        with base.parent_lock(self.parent):
            for hierarchy in self._hierarchies():
                for qos in ("burstable", "besteffort", ""):
                    base.rmdir_if_empty(os.path.join(hierarchy, self.parent, qos))


def _fill_cpuset(root: str, rel: str) -> None:
    """A new v1 cpuset group has no CPUs and no memory nodes, and no task may join it so: each group from the
    hierarchy's root down to `rel` gets its parent's where it has none (runc does the same)."""
    parent = root
    for part in rel.strip("/").split("/"):
        directory = os.path.join(parent, part)
        for filename in ("cpuset.cpus", "cpuset.mems"):
            path = os.path.join(directory, filename)
            if os.path.exists(path) and not base.read(path).strip():
                base.write(path, base.read(os.path.join(parent, filename)).strip())
        parent = directory


def _set_memory_limit(directory: str, value: str) -> None:
    """memory.limit_in_bytes, and the same memory+swap limit so the container cannot swap.

    The kernel keeps limit_in_bytes <= memsw.limit_in_bytes at every step, so when the new
    limit is above the current memsw limit, memsw has to be raised first.
    """
    memsw = os.path.join(directory, "memory.memsw.limit_in_bytes")
    limit = os.path.join(directory, "memory.limit_in_bytes")
    has_memsw = os.path.exists(memsw)  # absent when swap accounting is off
    try:
        base.write(limit, value)
    except CgroupError:
        if not has_memsw:
            raise
        base.write(memsw, value)
        base.write(limit, value)
        return
    if has_memsw:
        base.write(memsw, value)


def _freeze(freezer_dir: str) -> bool:
    """Write FROZEN and wait until the kernel reports it (it passes through FREEZING).

    False if it never settles (a task stuck in uninterruptible sleep); the caller's kill loop copes.
    """
    state = os.path.join(freezer_dir, "freezer.state")
    base.write(state, "FROZEN")
    for _ in range(FREEZE_ATTEMPTS):
        if base.read(state).strip() == "FROZEN":
            return True
        time.sleep(0.005)
    return False
