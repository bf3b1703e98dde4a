"""The `process` records of a config.json (config.py decodes them) and their plain-JSON form in state.json.

NamedTuples, not dataclasses (with inspect, ~10 ms of import). create writes the decoded process into
state.json (to_facts), as runc keeps the spec in its state; `pyrunc-oci exec` works on that plain form
itself and loads neither this module nor config.py (typing loads re: exec.py's docstring).
"""

from __future__ import annotations

from pyrunc.oci.program import _home, _look_path, not_found  # noqa: F401 - re-exported (init.py)
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
