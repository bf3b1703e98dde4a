"""Shared test fixtures.

Markers (declared in pyproject.toml, --strict-markers):
  root     needs root and real kernel features; skipped with a reason when not root.
  network  creates bridges, veths and nftables rules.
  cgroup2  needs a cgroup v2 host. On a cgroup v1 host (like the CI machine) these tests are
           skipped here and run instead inside a QEMU guest by tests/integration/test_cgroup2_guest.py.
"""

from __future__ import annotations

import os

import pytest


def cgroup2_unified() -> bool:
    """True when /sys/fs/cgroup is itself a cgroup2 mount (a v2-only host or the QEMU guest)."""
    try:
        return os.statvfs("/sys/fs/cgroup") is not None and _fstype("/sys/fs/cgroup") == "cgroup2"
    except OSError:
        return False


def _fstype(path: str) -> str:
    best = ("", "")
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mnt = left.split()[4]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, right.split()[0])
    return best[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    is_root = os.geteuid() == 0
    on_v2 = cgroup2_unified()
    for item in items:
        if not is_root and (item.get_closest_marker("root") or item.get_closest_marker("network")):
            item.add_marker(pytest.mark.skip(reason="requires root (run the suite as root: sudo make test)"))
        if item.get_closest_marker("cgroup2") and not on_v2:
            item.add_marker(pytest.mark.skip(reason="cgroup v1 host: this test runs in the QEMU cgroup2 guest instead"))
    # The cgroup v2 guest boots in the background while the rest runs (test_cgroup2_guest.GuestRun):
    # its test goes last, to collect the result.
    guest = [i for i in items if i.nodeid.endswith("test_cgroup2_guest.py::test_cgroup2_suite_in_guest")]
    for item in guest:
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(i.nodeid.endswith("test_cgroup2_guest.py::test_cgroup2_suite_in_guest") for i in session.items):
        from tests.integration import test_cgroup2_guest as guest

        if guest.guest_needed() and len(session.items) > 1:
            guest.EARLY.append(guest.GuestRun())


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run stopped early (-x, Ctrl-C) must not leave the guest running."""
    import sys

    guest = sys.modules.get("tests.integration.test_cgroup2_guest")
    for run in getattr(guest, "EARLY", []):
        run.stop()

