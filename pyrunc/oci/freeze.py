"""pause/resume: the cgroup freezer of a container (v1 freezer.state, v2 cgroup.freeze), and whether it is
frozen (state shows `paused` then, as runc's)."""

from __future__ import annotations

import os
import time

from pyrunc.errors import CgroupError

FREEZE_WAIT = 10.0  # seconds to wait for the kernel to report the group frozen


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(value)
    except OSError as e:
        raise CgroupError(f"cannot write {value!r} to {path}: {e.strerror}", path=path) from e


def is_frozen(groups: dict[str, str]) -> bool:
    if "" in groups:
        return "frozen 1" in _read(os.path.join(groups[""], "cgroup.events")).splitlines()
    if "freezer" in groups:
        return _read(os.path.join(groups["freezer"], "freezer.state")).strip() == "FROZEN"
    return False


def set_frozen(groups: dict[str, str], frozen: bool) -> None:
    """Freeze or thaw, then wait until the kernel says it is done (v1 goes through FREEZING; a task forking
    meanwhile can make it fall back: runc writes FROZEN again, so do we)."""
    if "" in groups:
        target = os.path.join(groups[""], "cgroup.freeze")
        if not os.path.exists(target):
            raise CgroupError("this kernel's cgroup v2 has no freezer (cgroup.freeze)", path=target)
        _write(target, "1" if frozen else "0")
    elif "freezer" in groups:
        target = os.path.join(groups["freezer"], "freezer.state")
    else:
        raise CgroupError("the cgroup v1 freezer controller is not mounted: cannot pause")
    deadline = time.monotonic() + FREEZE_WAIT
    while is_frozen(groups) != frozen:
        if "" not in groups:
            _write(target, "FROZEN" if frozen else "THAWED")
            if is_frozen(groups) == frozen:
                break
        if time.monotonic() > deadline:
            raise CgroupError(f"the container's cgroup did not {'freeze' if frozen else 'thaw'} in time",
                              path=target)
        time.sleep(0.01)
