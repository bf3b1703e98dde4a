"""The cgroup of one OCI container: made at `create` from linux.cgroupsPath and linux.resources, removed at
`delete`. The file helpers are the pod drivers' (cgroups/base.py), the device rules theirs too
(cgroups/devices.py: v1 writes, v2 BPF program).

Where: an absolute cgroupsPath is taken from the root of each hierarchy; a relative one, or none (then the
container id), goes below the root too (runc puts a relative path below its own cgroup: see docs/oci.md).
On cgroup v1 the group is made in every mounted controller hierarchy, as runc's cgroupfs driver does.
"""

from __future__ import annotations

import os

from pyrunc.cgroups import V1_CONTROLLERS, cgroup_mounts
from pyrunc.cgroups import files as base  # not base.py: the drivers' interface is not needed here
from pyrunc.cgroups.convert import shares_to_weight
from pyrunc.cgroups.devices import ALLOW_ALL, DeviceRule, device_program, v1_writes
from pyrunc.errors import CgroupError, FieldError
from pyrunc.oci.config import Resources

MOUNT_ROOT = "/sys/fs/cgroup"
V2_CONTROLLERS = ("cpuset", "cpu", "memory", "pids")


def host_version(mountinfo: str = "/proc/self/mountinfo") -> tuple[int, dict[str, str]]:
    """(2, {"": root}) on a unified host, else (1, {controller or "name=X": hierarchy mount point}): on v1 the
    named hierarchies (name=systemd) too, as runc joins and shows them."""
    mounts = cgroup_mounts(mountinfo)
    if any(point == MOUNT_ROOT and fstype == "cgroup2" for point, fstype, _ in mounts):
        return 2, {"": MOUNT_ROOT}
    hierarchies: dict[str, str] = {}
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _source, options = (right.split() + ["", ""])[:3]
            point = left.split()[4].replace("\\040", " ")
            if fstype != "cgroup" or os.path.dirname(point) != MOUNT_ROOT:
                continue
            for option in options.split(","):
                if option in V1_CONTROLLERS or option.startswith("name="):
                    hierarchies.setdefault(option, point)
    if not hierarchies:
        raise CgroupError(f"no cgroup hierarchy is mounted under {MOUNT_ROOT}")
    return 1, hierarchies


def bind_names(hierarchies: dict[str, str], groups: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """(name under /sys/fs/cgroup, the container's group) for each v1 hierarchy: its mount point's name."""
    out = {}
    for key, point in hierarchies.items():
        out[os.path.basename(point)] = groups[key]
    return tuple(sorted(out.items()))


def relative_path(cgroups_path: str, container_id: str) -> str:
    rel = cgroups_path.strip("/") or container_id
    if ":" in rel and "/" not in rel:
        raise FieldError("linux.cgroupsPath", "the systemd form slice:prefix:name needs --systemd-cgroup")
    return rel


def paths(version: int, hierarchies: dict[str, str], rel: str) -> dict[str, str]:
    """controller ("" on v2) -> the container's group directory."""
    return {c: os.path.join(point, rel) for c, point in hierarchies.items()}


def _mkdirs(top: str, rel: str, made: list[str], cpuset: bool = False) -> None:
    """Make the missing directories of `rel` below `top`, noting each one made (to remove on failure). A new
    v1 cpuset group starts with no cpus and no mems, which refuses every task: copy its parent's, as runc."""
    path = top
    for part in rel.split("/"):
        parent, path = path, os.path.join(path, part)
        if os.path.isdir(path):
            continue
        try:
            os.mkdir(path, 0o755)
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {path}: {e.strerror}", path=path) from e
        made.append(path)
        if cpuset:
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not base.read(os.path.join(path, name)).strip():
                    base.write(os.path.join(path, name), base.read(os.path.join(parent, name)).strip())


def _enable_v2(top: str, rel: str) -> None:
    """Let every group on the way down use the controllers the resources need (those the root offers)."""
    available = base.read(os.path.join(top, "cgroup.controllers")).split()
    wanted = [c for c in V2_CONTROLLERS if c in available]
    path = top
    for part in rel.split("/"):
        enabled = base.read(os.path.join(path, "cgroup.subtree_control")).split()
        missing = [c for c in wanted if c not in enabled]
        if missing:
            base.write(os.path.join(path, "cgroup.subtree_control"), " ".join(f"+{c}" for c in missing))
        path = os.path.join(path, part)


def v1_files(res: Resources) -> list[tuple[str, str, str]]:
    """(controller, file, value) for cgroup v1, in runc's order (swap before limit is handled at write)."""
    out: list[tuple[str, str, str]] = []
    if res.cpus:
        out.append(("cpuset", "cpuset.cpus", res.cpus))
    if res.mems:
        out.append(("cpuset", "cpuset.mems", res.mems))
    if res.memory_reservation is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", str(res.memory_reservation)))
    if res.memory_limit is not None:
        out.append(("memory", "memory.limit_in_bytes", str(res.memory_limit)))
    if res.memory_swap is not None:
        out.append(("memory", "memory.memsw.limit_in_bytes", str(res.memory_swap)))
    if res.cpu_shares:
        out.append(("cpu", "cpu.shares", str(res.cpu_shares)))
    if res.cpu_period:
        out.append(("cpu", "cpu.cfs_period_us", str(res.cpu_period)))
    if res.cpu_quota is not None and res.cpu_quota != 0:
        out.append(("cpu", "cpu.cfs_quota_us", str(res.cpu_quota)))
    if res.pids_limit is not None and res.pids_limit != 0:
        out.append(("pids", "pids.max", "max" if res.pids_limit < 0 else str(res.pids_limit)))
    return out


def v2_files(res: Resources) -> list[tuple[str, str]]:
    """(file, value) for cgroup v2, converted from the v1 values as runc converts them."""
    out: list[tuple[str, str]] = []
    if res.cpus:
        out.append(("cpuset.cpus", res.cpus))
    if res.mems:
        out.append(("cpuset.mems", res.mems))
    if res.memory_reservation is not None:
        out.append(("memory.low", "max" if res.memory_reservation < 0 else str(res.memory_reservation)))
    if res.memory_limit is not None:
        out.append(("memory.max", "max" if res.memory_limit < 0 else str(res.memory_limit)))
    if res.memory_swap is not None:
        # v1's memsw counts memory and swap; v2's swap.max is swap alone.
        if res.memory_swap < 0 or res.memory_limit is None or res.memory_limit < 0:
            out.append(("memory.swap.max", "max"))
        else:
            out.append(("memory.swap.max", str(res.memory_swap - res.memory_limit)))
    if res.cpu_shares:
        out.append(("cpu.weight", str(shares_to_weight(res.cpu_shares, "linear"))))
    if res.cpu_quota is not None or res.cpu_period:
        quota = "max" if res.cpu_quota is None or res.cpu_quota < 0 else str(res.cpu_quota)
        out.append(("cpu.max", f"{quota} {res.cpu_period or 100000}"))
    if res.pids_limit is not None and res.pids_limit != 0:
        out.append(("pids.max", "max" if res.pids_limit < 0 else str(res.pids_limit)))
    return out


def _write_memory_v1(directory: str, name: str, value: str) -> None:
    """The kernel keeps limit <= memsw.limit at every step: raise memsw first when the limit goes above it."""
    try:
        base.write(os.path.join(directory, name), value)
    except CgroupError:
        memsw = os.path.join(directory, "memory.memsw.limit_in_bytes")
        if name != "memory.limit_in_bytes" or not os.path.exists(memsw):
            raise
        base.write(memsw, value)
        base.write(os.path.join(directory, name), value)


def create(version: int, hierarchies: dict[str, str], rel: str, res: Resources) -> dict[str, str]:
    """Make the group and write its limits and device rules; on failure nothing made is left."""
    made: list[str] = []
    groups = paths(version, hierarchies, rel)
    try:
        if version == 2:
            top = hierarchies[""]
            _mkdirs(top, rel, made)
            _enable_v2(top, rel)
            for name, value in v2_files(res):
                base.write(os.path.join(groups[""], name), value)
            _devices_v2(groups[""], res.devices)
        else:
            for point in sorted(set(hierarchies.values())):
                _mkdirs(point, rel, made, cpuset=point == hierarchies.get("cpuset"))
            for controller, name, value in v1_files(res):
                if controller not in groups:
                    raise CgroupError(f"cannot set {name}: the cgroup v1 {controller} controller is not mounted")
                if controller == "memory":
                    _write_memory_v1(groups[controller], name, value)
                else:
                    base.write(os.path.join(groups[controller], name), value)
            if "devices" in groups:
                for name, value in v1_writes(res.devices):
                    base.write(os.path.join(groups["devices"], name), value)
            elif list(res.devices) != [ALLOW_ALL]:
                raise CgroupError("cannot restrict the container's devices: the devices controller is not mounted")
    except BaseException:
        for path in reversed(made):
            try:
                os.rmdir(path)
            except OSError:
                pass
        raise
    return groups


def _devices_v2(directory: str, rules: tuple[DeviceRule, ...]) -> None:
    if list(rules) == [ALLOW_ALL]:
        return  # nothing to restrict: no program (a v2 group without one allows every device)
    from pyrunc.cgroups.ebpf import set_device_program

    set_device_program(directory, device_program(list(rules)))


def attach(groups: dict[str, str], pid: int) -> None:
    for directory in sorted(set(groups.values())):
        base.attach_pid(directory, pid)


def procs(groups: dict[str, str]) -> list[int]:
    for key in ("", "memory", "pids", "cpu"):
        if key in groups:
            return base.procs_recursive(groups[key])
    return base.procs_recursive(next(iter(groups.values()))) if groups else []


def oom_killed(groups: dict[str, str]) -> bool:
    """The kernel's OOM killer struck in the group (v2 memory.events, v1 memory.oom_control: oom_kill)."""
    for key, name in (("", "memory.events"), ("memory", "memory.oom_control")):
        if key in groups:
            try:
                return base.read_keyed(os.path.join(groups[key], name)).get("oom_kill", 0) > 0
            except CgroupError:
                return False
    return False


def remove(groups: dict[str, str]) -> None:
    """Kill what is left in the group and remove it (the leaf only: parents may be shared, as with runc)."""
    for directory in sorted(set(groups.values())):
        if os.path.isdir(directory):
            kill_file = os.path.join(directory, "cgroup.kill")
            if os.path.exists(kill_file):
                base.write(kill_file, "1")
            base.kill_loop(directory)
            base.rmdir_tree(directory)
