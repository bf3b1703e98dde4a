"""The cgroup of one OCI container: made at `create` from linux.cgroupsPath and linux.resources, removed at
`delete`. The file helpers are the pod drivers' (cgroups/base.py), the device rules theirs too
(cgroups/devices.py: v1 writes, v2 BPF program).

Where: an absolute cgroupsPath is taken from the root of each hierarchy; a relative one, or none (then the
container id), goes below the root too (runc puts a relative path below its own cgroup: see docs/oci.md).
On cgroup v1 the group is made in every mounted controller hierarchy, as runc's cgroupfs driver does.
"""

from __future__ import annotations

import os

from pyrunc.cgroups import V1_CONTROLLERS
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
    # One read, and only the cgroup lines split: a busy host has a thousand mounts, and mountinfo read twice
    # and split line by line was ~25 ms of every create (the kernel's formatting alone is ~9 ms of it).
    with open(mountinfo, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if " - cgroup" in line]
    hierarchies: dict[str, str] = {}
    for line in lines:
        left, _, right = line.partition(" - ")
        fstype, _source, options = (right.split() + ["", ""])[:3]
        point = left.split()[4].replace("\\040", " ")  # mount points escape spaces as \040
        if fstype == "cgroup2" and point == MOUNT_ROOT:
            return 2, {"": MOUNT_ROOT}
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


def _enable_v2(top: str, rel: str, controllers: list[str]) -> None:
    """Let every group on the way down use the controllers the resources need (those the root offers)."""
    available = base.read(os.path.join(top, "cgroup.controllers")).split()
    wanted = [c for c in controllers if c in available]
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
    out += _v1_more(res)
    return out


def _v1_more(res: Resources) -> list[tuple[str, str, str]]:
    """The fields beyond the pods' (runtime-spec only), in runc's order within each controller."""
    if res.unified:
        raise CgroupError("linux.resources.unified: needs cgroup v2 (this host has cgroup v1)")
    out: list[tuple[str, str, str]] = []
    if res.swappiness is not None:
        out.append(("memory", "memory.swappiness", str(res.swappiness)))
    if res.disable_oom_killer:
        out.append(("memory", "memory.oom_control", "1"))
    if res.cpu_burst is not None:
        out.append(("cpu", "cpu.cfs_burst_us", str(res.cpu_burst)))
    if res.cpu_rt_period is not None:
        out.append(("cpu", "cpu.rt_period_us", str(res.cpu_rt_period)))
    if res.cpu_rt_runtime is not None:
        out.append(("cpu", "cpu.rt_runtime_us", str(res.cpu_rt_runtime)))
    if res.cpu_idle is not None:
        out.append(("cpu", "cpu.idle", str(res.cpu_idle)))
    if res.blkio_weight is not None:
        out.append(("blkio", "blkio.weight", str(res.blkio_weight)))
    if res.blkio_leaf_weight is not None:
        out.append(("blkio", "blkio.leaf_weight", str(res.blkio_leaf_weight)))
    for major, minor, weight, leaf in res.blkio_weight_devices:
        if weight is not None:
            out.append(("blkio", "blkio.weight_device", f"{major}:{minor} {weight}"))
        if leaf is not None:
            out.append(("blkio", "blkio.leaf_weight_device", f"{major}:{minor} {leaf}"))
    for which, major, minor, rate in res.blkio_throttles:
        out.append(("blkio", f"blkio.throttle.{which}_device", f"{major}:{minor} {rate}"))
    for size, limit in res.hugepages:
        out.append(("hugetlb", f"hugetlb.{size}.limit_in_bytes", str(limit)))
    if res.net_class_id is not None:
        out.append(("net_cls", "net_cls.classid", str(res.net_class_id)))
    for name, priority in res.net_priorities:
        out.append(("net_prio", "net_prio.ifpriomap", f"{name} {priority}"))
    return out


def _v2_more(res: Resources, directory: str) -> list[tuple[str, str]]:
    """v2's forms of the same fields; those v2 has no file for are refused, naming the field."""
    for given, field in ((res.swappiness is not None, "memory.swappiness"),
                         (res.disable_oom_killer, "memory.disableOOMKiller"),
                         (res.cpu_rt_runtime is not None or res.cpu_rt_period is not None, "cpu.realtimeRuntime"),
                         (res.blkio_leaf_weight is not None or any(d[3] is not None for d in res.blkio_weight_devices),
                          "blockIO.leafWeight"),
                         (res.net_class_id is not None or bool(res.net_priorities), "network")):
        if given:
            raise CgroupError(f"linux.resources.{field}: cgroup v2 has no such setting (this host has cgroup v2)")
    out: list[tuple[str, str]] = []
    if res.cpu_burst is not None:
        out.append(("cpu.max.burst", str(res.cpu_burst)))
    if res.cpu_idle is not None:
        out.append(("cpu.idle", str(res.cpu_idle)))
    bfq = os.path.exists(os.path.join(directory, "io.bfq.weight"))
    if res.blkio_weight is not None:
        # runc: BFQ takes the v1 weight as is; io.weight is 1..10000, the v1 range 10..1000 mapped onto it.
        out.append(("io.bfq.weight", str(res.blkio_weight)) if bfq else
                   ("io.weight", str(1 + (res.blkio_weight - 10) * 9999 // 990)))
    for major, minor, weight, _leaf in res.blkio_weight_devices:
        if weight is not None:
            if not bfq:
                raise CgroupError("linux.resources.blockIO.weightDevice: needs the BFQ io scheduler (io.bfq.weight)")
            out.append(("io.bfq.weight", f"{major}:{minor} {weight}"))
    keys = {"read_bps": "rbps", "write_bps": "wbps", "read_iops": "riops", "write_iops": "wiops"}
    for which, major, minor, rate in res.blkio_throttles:
        out.append(("io.max", f"{major}:{minor} {keys[which]}={rate}"))
    for size, limit in res.hugepages:
        out.append((f"hugetlb.{size}.max", str(limit)))
    out += list(res.unified)
    return out


def _missing(directory: str, name: str) -> str:
    """Why a file of the resources is not there, naming the config field."""
    if name.startswith("hugetlb."):
        return f"linux.resources.hugepageLimits: no {name.split('.')[1]} huge pages on this host ({name})"
    if name.startswith(("blkio.", "io.")):
        return f"linux.resources.blockIO: {name} is not there: the host's block io scheduler has no such setting"
    return f"linux.resources: {name} is not in {directory}: this kernel has no such setting"


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


def v2_controllers(res: Resources) -> list[str]:
    """The controllers the group's subtree needs: the pods' four, io and hugetlb when asked, and those
    `unified` names."""
    wanted = list(V2_CONTROLLERS)
    if res.blkio_weight is not None or res.blkio_weight_devices or res.blkio_throttles:
        wanted.append("io")
    if res.hugepages:
        wanted.append("hugetlb")
    for key, _ in res.unified:
        if key.split(".")[0] not in wanted:
            wanted.append(key.split(".")[0])
    return wanted


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
            _enable_v2(top, rel, v2_controllers(res))
            for name, value in v2_files(res):
                base.write(os.path.join(groups[""], name), value)
            for name, value in _v2_more(res, groups[""]):
                where = os.path.join(groups[""], name)
                if not os.path.exists(where):
                    raise CgroupError(_missing(groups[""], name))
                base.write(where, value)
            _devices_v2(groups[""], res.devices)
        else:
            for point in sorted(set(hierarchies.values())):
                _mkdirs(point, rel, made, cpuset=point == hierarchies.get("cpuset"))
            more = set(_v1_more(res))
            for controller, name, value in v1_files(res):
                if controller not in groups:
                    raise CgroupError(f"cannot set {name}: the cgroup v1 {controller} controller is not mounted")
                if (controller, name, value) in more and not os.path.exists(os.path.join(groups[controller], name)):
                    if controller == "blkio":
                        name = name.replace("blkio.", "blkio.bfq.", 1)  # runc: BFQ's weight files when CFQ's are gone
                    if not os.path.exists(os.path.join(groups[controller], name)):
                        raise CgroupError(_missing(groups[controller], name))
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
