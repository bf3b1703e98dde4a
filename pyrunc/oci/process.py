"""The `process` records of a config.json (config.py decodes them) and their plain-JSON form in state.json.

NamedTuples, not dataclasses, and in a module of their own: `pyrunc-oci exec` reads the container's process
from state.json (create writes it there, as runc keeps the spec in its state) and so loads neither config.py
nor dataclasses (with inspect, ~10 ms of every exec on a loaded machine).
"""

from __future__ import annotations

import os
import stat

from pyrunc.security.caps import CapabilitySets

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from pyrunc.records import NamedTuple


class Rlimit(NamedTuple):
    resource: str
    soft: int
    hard: int


class Scheduler(NamedTuple):
    """process.scheduler (runtime-spec 1.2), set with sched_setscheduler and setpriority."""

    policy: int  # SCHED_* (| SCHED_RESET_ON_FORK)
    nice: int
    priority: int


class Process(NamedTuple):
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    umask: int | None
    capabilities: CapabilitySets
    rlimits: tuple[Rlimit, ...]
    no_new_privileges: bool
    oom_score_adj: int | None
    terminal: bool
    console_size: tuple[int, int] | None  # (height, width)
    io_priority: tuple[int, int] | None = None  # (IOPRIO_CLASS_*, level) for ioprio_set
    scheduler: Scheduler | None = None
    cpu_affinity_initial: tuple[int, ...] = ()  # execCPUAffinity (1.2): the init's until it joins its cgroup
    cpu_affinity_final: tuple[int, ...] = ()  # ... and the program's


def to_facts(p: Process) -> dict[str, Any]:
    """The decoded process as plain JSON values (state.json's "process"); from_facts gives it back."""
    return {"args": list(p.args), "env": [list(kv) for kv in p.env], "cwd": p.cwd, "uid": p.uid, "gid": p.gid,
            "additional_gids": list(p.additional_gids), "umask": p.umask,
            "capabilities": [list(s) for s in p.capabilities], "rlimits": [list(r) for r in p.rlimits],
            "no_new_privileges": p.no_new_privileges, "oom_score_adj": p.oom_score_adj, "terminal": p.terminal,
            "console_size": list(p.console_size) if p.console_size is not None else None,
            "io_priority": list(p.io_priority) if p.io_priority is not None else None,
            "scheduler": list(p.scheduler) if p.scheduler is not None else None,
            "cpu_affinity_initial": list(p.cpu_affinity_initial), "cpu_affinity_final": list(p.cpu_affinity_final)}


def _pair(value: list[int] | None) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value is not None else None


def from_facts(d: dict[str, Any]) -> Process:
    sched = d["scheduler"]
    return Process(
        args=tuple(d["args"]), env=tuple((k, v) for k, v in d["env"]), cwd=d["cwd"], uid=d["uid"], gid=d["gid"],
        additional_gids=tuple(d["additional_gids"]), umask=d["umask"],
        capabilities=CapabilitySets(*(tuple(s) for s in d["capabilities"])),
        rlimits=tuple(Rlimit(*r) for r in d["rlimits"]), no_new_privileges=d["no_new_privileges"],
        oom_score_adj=d["oom_score_adj"], terminal=d["terminal"], console_size=_pair(d["console_size"]),
        io_priority=_pair(d["io_priority"]), scheduler=Scheduler(*sched) if sched is not None else None,
        cpu_affinity_initial=tuple(d["cpu_affinity_initial"]), cpu_affinity_final=tuple(d["cpu_affinity_final"]))


# --- the program of a process (the init's and exec's command, in the container's root) -----------------------
def _home(uid: int) -> str:
    """The home directory of `uid` in the container's /etc/passwd (read after pivot_root), else "/"."""
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _look_path(name: str, path: str) -> str:
    """Go's exec.LookPath, as runc's init uses it: a name with a slash as is, else the first executable
    regular file of that name in PATH; "" when there is none (not_found() says it in runc's words)."""
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in path.split(":")] if path else []
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    return ""


def not_found(name: str) -> str:
    where = "executable file not found in $PATH" if "/" not in name else "no such file or directory"
    return f'exec: "{name}": {where}'
