"""`pyrunc-oci update`: change a container's cgroup limits, from `--resources FILE|-` (the spec's
linux.resources object) and runc's flags (which win over the file), written to cgroupfs as `create` writes
them (cgroup.py v1_files, v2_files)."""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

from pyrunc.errors import FieldError
from pyrunc.oci import cgroup
from pyrunc.oci import config as oc
from pyrunc.oci.state import OciError, load

_SIZE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$", re.IGNORECASE)


def ram_in_bytes(text: str, flag: str) -> int:
    """runc's units.RAMInBytes: "512", "100k", "64m", "1g", "2GiB" (powers of 1024); -1 = unlimited."""
    m = _SIZE.match(text.strip())
    if not m:
        raise FieldError(flag, f"invalid size {text!r}")
    number, unit = float(m.group(1)), m.group(2).lower()
    value = int(number * 1024 ** " kmgtp".index(unit or " "))
    if value < -1:
        raise FieldError(flag, f"invalid size {text!r}")
    return value


class Flags(NamedTuple):
    resources: str = ""  # a file, "-" for stdin
    memory: str = ""
    memory_reservation: str = ""
    memory_swap: str = ""
    cpu_shares: str = ""
    cpu_quota: str = ""
    cpu_period: str = ""
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: str = ""


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FieldError(flag, f"must be an integer, not {text!r}") from None


def resources_doc(f: Flags) -> dict[str, Any]:
    """The linux.resources object: --resources's, then the flags over it."""
    doc: dict[str, Any] = {}
    if f.resources:
        doc = oc.read_json_file(f.resources, f"--resources {f.resources}", stdin_dash=True)
        if not isinstance(doc, dict):
            raise FieldError(f"--resources {f.resources}", "must be a JSON object (linux.resources)")
    mem, cpu = dict(doc.get("memory") or {}), dict(doc.get("cpu") or {})
    if f.memory:
        mem["limit"] = ram_in_bytes(f.memory, "--memory")
    if f.memory_reservation:
        mem["reservation"] = ram_in_bytes(f.memory_reservation, "--memory-reservation")
    if f.memory_swap:
        mem["swap"] = ram_in_bytes(f.memory_swap, "--memory-swap")
    if f.cpu_shares:
        cpu["shares"] = _int(f.cpu_shares, "--cpu-shares")
    if f.cpu_quota:
        cpu["quota"] = _int(f.cpu_quota, "--cpu-quota")
    if f.cpu_period:
        cpu["period"] = _int(f.cpu_period, "--cpu-period")
    if f.cpuset_cpus:
        cpu["cpus"] = f.cpuset_cpus
    if f.cpuset_mems:
        cpu["mems"] = f.cpuset_mems
    if mem:
        doc["memory"] = mem
    if cpu:
        doc["cpu"] = cpu
    if f.pids_limit:
        doc["pids"] = {"limit": _int(f.pids_limit, "--pids-limit")}
    # runc update leaves the device rules alone: so do we (they are not in the update's scope).
    doc.pop("devices", None)
    return doc


def update(root: str, container_id: str, f: Flags) -> None:
    st = load(root, container_id)
    if st.status not in ("created", "running", "paused"):
        raise OciError(f"cannot update a container that is {st.status}")
    res = oc._resources(resources_doc(f), "resources", ())
    groups = st.cgroups
    if "" in groups:
        directory = groups[""]
        if res.cpu_quota is not None and not res.cpu_period:
            # cpu.max holds both: keep the container's period when only the quota changes.
            current = cgroup.base.read(os.path.join(directory, "cpu.max")).split()
            res = _with(res, cpu_period=int(current[1])) if len(current) == 2 else res
        elif res.cpu_period and res.cpu_quota is None:
            current = cgroup.base.read(os.path.join(directory, "cpu.max")).split()
            if current and current[0] != "max":
                res = _with(res, cpu_quota=int(current[0]))
        for name, value in cgroup.v2_files(res):
            cgroup.base.write(os.path.join(directory, name), value)
        return
    for controller, name, value in cgroup.v1_files(res):
        if controller not in groups:
            raise OciError(f"cannot set {name}: the cgroup v1 {controller} controller is not mounted")
        if controller == "memory":
            cgroup._write_memory_v1(groups[controller], name, value)
        else:
            cgroup.base.write(os.path.join(groups[controller], name), value)


def _with(res: oc.Resources, **changes: Any) -> oc.Resources:
    return res._replace(**changes)
