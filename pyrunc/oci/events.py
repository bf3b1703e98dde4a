"""`pyrunc-oci events [--stats] [--interval D]`: runc's event stream on stdout, one JSON object a line:
    {"type": "stats", "id": ID, "data": {"cpu": ..., "memory": ..., "pids": ..., ...}}  every interval
    {"type": "oom", "id": ID}                                                           when the OOM killer strikes
`--stats` prints one stats event and exits. The data keys are runc's (libcontainer's types/events.go); the
values come from cgroupfs (v1: cpuacct, cpu, memory, pids; v2: cpu.stat, memory.*, pids.*). OOM: v1 through an
eventfd on memory.oom_control (cgroup.event_control); v2 by the `oom_kill` count of memory.events.
The stream ends when the container stops.
"""

from __future__ import annotations

import json
import os
import re
import select
import sys
from typing import Any

from pyrunc.errors import FieldError
from pyrunc.oci.state import OciError, load

MAX_UINT64 = (1 << 64) - 1
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str) -> float:
    """A Go duration ("5s", "500ms", "1m30s") in seconds."""
    if not text or _DURATION.sub("", text) != "":
        raise FieldError("--interval", f"invalid duration {text!r} (e.g. 5s, 500ms)")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if seconds <= 0:
        raise FieldError("--interval", "duration must be greater than 0")
    return seconds


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _num(path: str) -> int:
    text = _read(path)
    if text == "max":
        return MAX_UINT64
    try:
        return int(text)
    except ValueError:
        return 0


def _keyed(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty for the fields runc marks so (zero numbers, empty lists and maps)."""
    return {k: v for k, v in d.items() if v not in (0, [], {}, None, "")}


def stats_v1(groups: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"cpu": {}, "cpuset": {}, "memory": {}, "pids": {}, "blkio": {}, "hugetlb": {},
                            "intel_rdt": {}, "network_interfaces": None}
    acct = groups.get("cpuacct") or groups.get("cpu")
    if acct:
        ticks = os.sysconf("SC_CLK_TCK")
        stat = _keyed(os.path.join(acct, "cpuacct.stat"))
        percpu = [int(v) for v in _read(os.path.join(acct, "cpuacct.usage_percpu")).split()]
        usage = _drop_empty({"total": _num(os.path.join(acct, "cpuacct.usage")), "percpu": percpu})
        usage["kernel"] = stat.get("system", 0) * 1_000_000_000 // ticks
        usage["user"] = stat.get("user", 0) * 1_000_000_000 // ticks
        data["cpu"]["usage"] = usage
    if "cpu" in groups:
        t = _keyed(os.path.join(groups["cpu"], "cpu.stat"))
        data["cpu"]["throttling"] = _drop_empty({"periods": t.get("nr_periods", 0),
                                                 "throttledPeriods": t.get("nr_throttled", 0),
                                                 "throttledTime": t.get("throttled_time", 0)})
    if "cpuset" in groups:
        data["cpuset"] = {"cpus": _read(os.path.join(groups["cpuset"], "cpuset.cpus")),
                          "mems": _read(os.path.join(groups["cpuset"], "cpuset.mems"))}
    if "memory" in groups:
        g = groups["memory"]

        def entry(prefix: str) -> dict[str, Any]:
            return {"limit": _num(os.path.join(g, f"{prefix}.limit_in_bytes")),
                    **_drop_empty({"usage": _num(os.path.join(g, f"{prefix}.usage_in_bytes")),
                                   "max": _num(os.path.join(g, f"{prefix}.max_usage_in_bytes"))}),
                    "failcnt": _num(os.path.join(g, f"{prefix}.failcnt"))}

        raw = _keyed(os.path.join(g, "memory.stat"))
        data["memory"] = _drop_empty({"cache": raw.get("cache", 0), "usage": entry("memory"),
                                      "swap": entry("memory.memsw") if os.path.exists(
                                          os.path.join(g, "memory.memsw.usage_in_bytes")) else {},
                                      "kernel": entry("memory.kmem") if os.path.exists(
                                          os.path.join(g, "memory.kmem.usage_in_bytes")) else {},
                                      "raw": raw})
    if "pids" in groups:
        limit = _read(os.path.join(groups["pids"], "pids.max"))
        data["pids"] = _drop_empty({"current": _num(os.path.join(groups["pids"], "pids.current")),
                                    "limit": 0 if limit == "max" else _num(os.path.join(groups["pids"], "pids.max"))})
    return data


def stats_v2(directory: str) -> dict[str, Any]:
    data: dict[str, Any] = {"cpu": {}, "cpuset": {}, "memory": {}, "pids": {}, "blkio": {}, "hugetlb": {},
                            "intel_rdt": {}, "network_interfaces": None}
    c = _keyed(os.path.join(directory, "cpu.stat"))
    data["cpu"] = {"usage": {**_drop_empty({"total": c.get("usage_usec", 0) * 1000}),
                             "kernel": c.get("system_usec", 0) * 1000, "user": c.get("user_usec", 0) * 1000},
                   "throttling": _drop_empty({"periods": c.get("nr_periods", 0),
                                              "throttledPeriods": c.get("nr_throttled", 0),
                                              "throttledTime": c.get("throttled_usec", 0) * 1000})}
    raw = _keyed(os.path.join(directory, "memory.stat"))
    usage = {"limit": _num(os.path.join(directory, "memory.max")),
             **_drop_empty({"usage": _num(os.path.join(directory, "memory.current")),
                            "max": _num(os.path.join(directory, "memory.peak"))}),
             "failcnt": _keyed(os.path.join(directory, "memory.events")).get("max", 0)}
    swap = {"limit": _num(os.path.join(directory, "memory.swap.max")),
            **_drop_empty({"usage": _num(os.path.join(directory, "memory.swap.current"))}), "failcnt": 0}
    data["memory"] = _drop_empty({"cache": raw.get("file", 0), "usage": usage, "swap": swap, "raw": raw})
    limit = _read(os.path.join(directory, "pids.max"))
    data["pids"] = _drop_empty({"current": _num(os.path.join(directory, "pids.current")),
                                "limit": 0 if limit == "max" else _num(os.path.join(directory, "pids.max"))})
    return data


def stats(groups: dict[str, str]) -> dict[str, Any]:
    return stats_v2(groups[""]) if "" in groups else stats_v1(groups)


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _oom_eventfd(groups: dict[str, str]) -> int:
    """v1: an eventfd the kernel signals at every OOM in the memory group (-1 when it cannot be had)."""
    g = groups.get("memory")
    if not g:
        return -1
    try:
        control = os.open(os.path.join(g, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    try:
        with open(os.path.join(g, "cgroup.event_control"), "w", encoding="ascii") as f:
            f.write(f"{efd} {control}")
    except OSError:
        os.close(efd)
        efd = -1
    finally:
        os.close(control)
    return efd


def events(root: str, container_id: str, interval: float, once: bool) -> None:
    st = load(root, container_id)
    if st.status not in ("created", "running", "paused"):
        raise OciError(f"container with id {container_id} is not running")
    if once:
        _emit({"type": "stats", "id": container_id, "data": stats(st.cgroups)})
        return
    efd = -1 if "" in st.cgroups else _oom_eventfd(st.cgroups)
    ooms = _keyed(os.path.join(st.cgroups[""], "memory.events")).get("oom_kill", 0) if "" in st.cgroups else 0
    step = interval if efd >= 0 else min(interval, 0.5)
    waited = interval  # the first stats event at once
    try:
        while True:
            if load(root, container_id).status not in ("created", "running", "paused"):
                return
            if waited >= interval:
                _emit({"type": "stats", "id": container_id, "data": stats(st.cgroups)})
                waited = 0.0
            if efd >= 0:
                ready, _, _ = select.select([efd], [], [], step)
                if ready:
                    os.eventfd_read(efd)
                    _emit({"type": "oom", "id": container_id})
            else:
                select.select([], [], [], step)
                if "" in st.cgroups:
                    now = _keyed(os.path.join(st.cgroups[""], "memory.events")).get("oom_kill", 0)
                    if now > ooms:
                        _emit({"type": "oom", "id": container_id})
                    ooms = now
            waited += step
    finally:
        if efd >= 0:
            os.close(efd)
