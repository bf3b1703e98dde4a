"""cgroup v2 driver: one unified tree, plain files (cgroupspy only knows v1).

Kernel rules that shape it: a controller can only be used in a group whose parent has it in
cgroup.subtree_control, and (no internal processes) a non-root group with controllers in its
subtree_control cannot hold tasks itself, so tasks go into container groups, not the pod group.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyrunc.cgroups import base
from pyrunc.cgroups.devices import DeviceRule, device_program
from pyrunc.cgroups.raw import RawResources, v2_raw_files
from pyrunc.cgroups.plan import PodCgroupPlan, qos_dir, v2_files
from pyrunc.errors import CgroupError

CONTROLLERS = ("cpu", "memory", "pids")
# Enabled for the pods' groups where the kernel offers them (not required): a container's CPUs and memory nodes
# and its huge page limits (CRI's requests) are written there.
ENABLED = (*CONTROLLERS, "cpuset", "hugetlb")


@dataclass(frozen=True, slots=True)
class V2Driver:
    mount_root: str = "/sys/fs/cgroup"
    parent: str = "pyrunc"
    weight_method: str = "quadratic"
    version: int = field(default=2, init=False)
    placed: dict[str, str] = field(default_factory=dict, compare=False)  # pod uid -> its group (place())

    def __post_init__(self) -> None:
        base.check_name("cgroup parent", self.parent)

    def place(self, pod_uid: str, group: str) -> None:
        self.placed[pod_uid] = base.check_group(group)

    def _pod_dir(self, pod_uid: str) -> str:
        if pod_uid in self.placed:
            return os.path.join(self.mount_root, self.placed[pod_uid])
        root = os.path.join(self.mount_root, self.parent)
        found = base.find_pod_dir(root, pod_uid)
        if found is None:
            raise CgroupError(f"no cgroup for pod {pod_uid}", path=os.path.join(root, f"pod{pod_uid}"))
        return found

    def _dir(self, pod_uid: str, name: str | None) -> str:
        pod = self._pod_dir(pod_uid)
        return os.path.join(pod, base.check_name("container name", name)) if name is not None else pod

    def paths(self, pod_uid: str, name: str | None) -> dict[str, str]:
        return {"": self._dir(pod_uid, name)}

    # -- set-up ---------------------------------------------------------------------------

    def _enable_controllers(self, directory: str) -> None:
        """Let the children of ``directory`` use cpu, memory and pids (those the kernel offers)."""
        available = base.read(os.path.join(directory, "cgroup.controllers")).split()
        wanted = [c for c in ENABLED if c in available]
        enabled = base.read(os.path.join(directory, "cgroup.subtree_control")).split()
        if any(c not in enabled for c in wanted):
            base.write(os.path.join(directory, "cgroup.subtree_control"), " ".join(f"+{c}" for c in wanted))

    def _make(self, directory: str) -> None:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {directory}: {e.strerror}", path=directory) from e

    def _write_values(self, directory: str, files: list[tuple[str, str]]) -> None:
        for filename, value in files:
            base.write(os.path.join(directory, filename), value)
        # The kubelet runs containers without swap (NoSwap): a limit must mean OOM, not swapping.
        swap = os.path.join(directory, "memory.swap.max")
        if os.path.exists(swap):
            memory_max = base.read(os.path.join(directory, "memory.max")).strip()
            base.write(swap, "max" if memory_max == "max" else "0")

    def setup_pod(self, plan: PodCgroupPlan) -> None:
        if plan.pod_uid in self.placed:
            # The kubelet's group (its values are the kubelet's): made if missing, with the controllers the
            # containers' groups need enabled down to it.
            directory = self.mount_root
            for part in self.placed[plan.pod_uid].split("/"):
                self._enable_controllers(directory)
                directory = os.path.join(directory, part)
                self._make(directory)
            self._enable_controllers(directory)
            return
        chain = [self.mount_root, os.path.join(self.mount_root, self.parent)]
        if qos_dir(plan.qos):
            chain.append(os.path.join(chain[-1], qos_dir(plan.qos)))
        pod = os.path.join(chain[-1], f"pod{base.check_name('pod uid', plan.pod_uid)}")
        with base.parent_lock(self.parent):  # another root's clean-up must not remove a QoS group under us
            for directory in chain:
                self._make(directory)
                self._enable_controllers(directory)
            self._make(pod)
        self._write_values(pod, v2_files(plan.pod, self.weight_method, container=False))
        self._enable_controllers(pod)

    def setup_container(self, plan: PodCgroupPlan, name: str) -> None:
        """Create the container's group; a name not in the plan (a pause/holder process) gets no limits."""
        directory = self._dir(plan.pod_uid, name)
        self._make(directory)
        if name in plan.containers:
            self._write_values(directory, v2_files(plan.containers[name], self.weight_method, container=True))

    def set_raw(self, pod_uid: str, name: str, raw: RawResources, memory_limit: int | None) -> None:
        """The caller's own values (CRI's cpuset, swap, huge pages, unified files) in the container's group,
        after the planned ones."""
        directory = self._dir(pod_uid, name)
        for filename, value in v2_raw_files(raw, memory_limit):
            path = os.path.join(directory, filename)
            if "/" in filename or filename.startswith("."):
                raise CgroupError(f"cgroup file {filename!r}: not a file of the container's group", path=path)
            if not os.path.exists(path):
                if filename.startswith("hugetlb.") and value == "0":
                    continue  # a page size this host does not have: nothing to limit
                raise CgroupError(f"cannot set {filename}: not offered by this host's cgroup v2", path=path)
            base.write(path, value)

    def set_devices(self, pod_uid: str, name: str, rules: Sequence[DeviceRule]) -> None:
        """The container's device rules as a BPF program on its group (before any task of it runs there)."""
        from pyrunc.cgroups.ebpf import set_device_program

        set_device_program(self._dir(pod_uid, name), device_program(list(rules)))

    def attach(self, pid: int, pod_uid: str, name: str | None) -> None:
        base.attach_pid(self._dir(pod_uid, name), pid)

    # -- observation ----------------------------------------------------------------------

    def procs(self, pod_uid: str, name: str | None) -> list[int]:
        """Every process of the container (or of the whole pod when name is None)."""
        return base.procs_recursive(self._dir(pod_uid, name))

    def oom_killed(self, pod_uid: str, name: str) -> bool:
        """True once the kernel OOM-killed a task here (memory.events oom_kill)."""
        events = base.read_keyed(os.path.join(self._dir(pod_uid, name), "memory.events"))
        return events.get("oom_kill", 0) > 0

    def stats(self, pod_uid: str, name: str | None) -> base.CgroupStats:
        directory = self._dir(pod_uid, name)
        usage = int(base.read(os.path.join(directory, "memory.current")))
        stat = base.read_keyed(os.path.join(directory, "memory.stat"))
        inactive = stat.get("inactive_file", 0)
        cpu_usec = base.read_keyed(os.path.join(directory, "cpu.stat")).get("usage_usec", 0)
        return base.CgroupStats(cpu_usage_ns=cpu_usec * 1000, memory_working_set=max(0, usage - inactive),
                                memory_usage=usage, memory_rss=stat.get("anon", 0), page_faults=stat.get("pgfault", 0),
                                major_page_faults=stat.get("pgmajfault", 0))

    # -- teardown -------------------------------------------------------------------------

    def kill(self, pod_uid: str, name: str | None) -> None:
        self._kill_dir(self._dir(pod_uid, name))

    def _kill_dir(self, directory: str) -> None:
        # cgroup.kill (Linux >= 5.14) kills the whole subtree atomically, forks included;
        # older kernels get the kill loop alone.
        kill_file = os.path.join(directory, "cgroup.kill")
        if os.path.exists(kill_file):
            base.write(kill_file, "1")
        base.kill_loop(directory)  # also waits until the tasks have left

    def remove_container(self, pod_uid: str, name: str) -> None:
        try:
            directory = self._dir(pod_uid, name)
        except CgroupError:
            return
        self._remove(directory)

    def remove_pod(self, pod_uid: str) -> None:
        if pod_uid in self.placed:
            directory = self._pod_dir(pod_uid)
            for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
                if os.path.isdir(os.path.join(directory, name)):
                    self._remove(os.path.join(directory, name))
            del self.placed[pod_uid]
            return
        found = base.find_pod_dir(os.path.join(self.mount_root, self.parent), pod_uid)
        if found is not None:
            self._remove(found)

    def _remove(self, directory: str) -> None:
        if os.path.isdir(directory):
            self._kill_dir(directory)
        base.rmdir_tree(directory)

    def cleanup_parent(self) -> None:
        """Remove the parent's groups that are empty: another root's pods under it keep them."""
        with base.parent_lock(self.parent):
            for qos in ("burstable", "besteffort", ""):
                base.rmdir_if_empty(os.path.join(self.mount_root, self.parent, qos))
