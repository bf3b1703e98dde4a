"""pyrunc.linux.hygiene on the real kernel, in forked children (no root needed): which descriptors survive
close_fds_except, and PR_SET_DUMPABLE."""

from __future__ import annotations

import json
import os

from pyrunc.linux import hygiene
from tests.kernel_readback import is_dumpable


def in_child(fn) -> dict:  # type: ignore[no-untyped-def]
    """Run fn(report_fd) in a forked child; its JSON-able result comes back through report_fd."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - seen through the pipe
        try:
            os.close(r)
            result = fn(w)
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def test_close_fds_except_keeps_only_stdio_and_the_listed_ones() -> None:
    def child(report: int) -> dict:
        extra = [os.open("/dev/null", os.O_RDONLY) for _ in range(5)]
        high = os.dup2(extra[0], 300)  # far above the others: the last range is open-ended
        keep = [extra[2], report]
        hygiene.close_fds_except(keep)
        left = sorted(int(n) for n in os.listdir("/proc/self/fd"))
        # listdir's own descriptor is listed too: the lowest number that was free.
        own = min(n for n in range(3, 1000) if n not in keep)
        return {"left": [n for n in left if n != own], "expected": sorted([0, 1, 2] + keep), "high": high}

    out = in_child(child)
    assert out["left"] == out["expected"], out


def test_set_dumpable() -> None:
    def child(_report: int) -> dict:
        before = is_dumpable()
        hygiene.set_dumpable(False)
        after = is_dumpable()
        hygiene.set_dumpable(True)
        return {"before": before, "after": after, "again": is_dumpable()}

    assert in_child(child) == {"before": True, "after": False, "again": True}


def test_move_above_stdio_gives_close_on_exec_copies_above_2() -> None:
    import fcntl

    moved = hygiene.move_above_stdio([0, 1])
    try:
        assert set(moved) == {0, 1}
        for fd in moved.values():
            assert fd >= 3 and fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        for fd in moved.values():
            os.close(fd)
