"""The cgroupfs file helpers: read and write a group's files, its pids, kill what is in it, remove it.
Shared by the pod drivers (through base.py) and pyrunc-oci (which loads only this)."""

from __future__ import annotations

import errno
import os
import time

from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    import signal
    from collections.abc import Iterator  # annotations only: collections is an import more for pyrunc-oci
else:  # signal.py's C module: the same numbers and calls, without signal.py's enums (enum: ~2 ms)
    import _signal as signal

# rmdir of a cgroup fails with EBUSY until its last task has left; killed tasks leave
# within milliseconds, so a short bounded retry is enough (runc retries ~5 s in total too).
RMDIR_ATTEMPTS = 100
RMDIR_DELAY = 0.05


def write(path: str, value: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(value)
    except OSError as e:
        raise CgroupError(f"cannot write {value!r} to {path}: {e.strerror}", path=path) from e


def read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError as e:
        raise CgroupError(f"cannot read {path}: {e.strerror}", path=path) from e


def read_keyed(path: str) -> dict[str, int]:
    """Parse a flat-keyed file ("key value" per line: memory.stat, memory.events, cpu.stat)."""
    out: dict[str, int] = {}
    for line in read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def read_procs(directory: str) -> list[int]:
    """PIDs in cgroup.procs of one group; a vanished group has none."""
    try:
        with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CgroupError(f"cannot read {directory}/cgroup.procs: {e.strerror}", path=directory) from e


def walk_groups(directory: str) -> Iterator[str]:
    """``directory`` and every group below it, deepest first (the order rmdir needs)."""
    for dirpath, _dirs, _files in os.walk(directory, topdown=False):
        yield dirpath


def procs_recursive(directory: str) -> list[int]:
    return [pid for group in walk_groups(directory) for pid in read_procs(group)]


def attach_pid(directory: str, pid: int) -> None:
    path = os.path.join(directory, "cgroup.procs")
    for _ in range(5):
        try:
            with open(path, "w", encoding="ascii") as f:
                f.write(str(pid))
            return
        except OSError as e:
            # EINVAL may mean the task is still TASK_NEW (just forked): retry, as runc does.
            if e.errno != errno.EINVAL:
                raise CgroupError(f"cannot move pid {pid} into {directory}: {e.strerror}", path=directory) from e
            time.sleep(0.03)
    raise CgroupError(f"cannot move pid {pid} into {directory}: invalid argument", path=directory)


def kill_loop(directory: str, attempts: int = 200) -> None:
    """SIGKILL every task below ``directory`` until none is left (for groups without freezer/cgroup.kill).

    A task may fork between reading cgroup.procs and the kill, so the loop repeats.
    """
    for _ in range(attempts):
        pids = procs_recursive(directory)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    raise CgroupError(f"tasks keep appearing in {directory} after SIGKILL", path=directory)


def rmdir_tree(directory: str) -> None:
    """Remove ``directory`` and every group below it, deepest first, retrying while tasks exit."""
    for group in walk_groups(directory):
        for attempt in range(RMDIR_ATTEMPTS):
            try:
                os.rmdir(group)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or attempt == RMDIR_ATTEMPTS - 1:
                    raise CgroupError(f"cannot remove cgroup {group}: {e.strerror}", path=group) from e
                time.sleep(RMDIR_DELAY)
