"""Writing /proc/PID/oom_score_adj, clamped when the host refuses low values."""

from __future__ import annotations

import errno

from pyrunc.cgroups.convert import clamp_oom_score_adj

# Without CAP_SYS_RESOURCE a process may not lower oom_score_adj below its current minimum
# (oom_score_adj_min, normally 0), even as root: some hosts (this CI VM, unprivileged
# containers) drop that capability from the bounding set. containerd's
# restrict_oom_score_adj then uses the lowest allowed value instead, and so do we.
LOWEST_UNPRIVILEGED = 0


def apply_oom_score_adj(pid: int, value: int, proc: str = "/proc") -> int:
    """Write ``value`` for ``pid``; on EACCES/EPERM write the lowest allowed value instead.

    Returns the value actually in effect, so the caller can log a clamp once and show it in
    `describe`. Never raises for a refused value; a vanished process returns ``value``
    unchanged (there is nothing to adjust any more).
    """
    path = f"{proc}/{pid}/oom_score_adj"
    for wanted in (value, clamp_oom_score_adj(value, LOWEST_UNPRIVILEGED)):
        try:
            with open(path, "w", encoding="ascii") as f:
                f.write(str(wanted))
            return wanted
        except (FileNotFoundError, ProcessLookupError):
            return value
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM):
                raise
    return _current(path, value)


def _current(path: str, fallback: int) -> int:
    """Even the clamped value was refused: report what the process has."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return fallback
