"""pyrunc-oci on a cgroup v2 kernel: the container's group, its resources, the device program, the freezer,
`update`, `events --stats`, exec joining the group and the group gone with `delete`, each read from cgroupfs.

Marked cgroup2: on a v1 host (CI) it runs in the QEMU guest (tests/integration/test_cgroup2_guest.py), on
a v2 host natively. The v1 side of the same verbs is tested on the host by test_oci.py and
test_oci_verbs.py. Few commands on purpose: under emulation each pyrunc-oci command is a Python start of
about a second."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import alive, poll
from tests.integration.test_oci import SLEEP, Oci, oci, rootfs  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.root, pytest.mark.cgroup2]
CGROUP = Path("/sys/fs/cgroup")


def _value(group: Path, name: str) -> str:
    return (group / name).read_text().strip()


def _a_block_device() -> str:
    """MAJOR MINOR of a real block device of this machine (its disk), so that a refused open is the device
    program's doing, not a missing device's."""
    for entry in sorted(Path("/sys/block").iterdir()):
        if not entry.name.startswith(("loop", "ram", "zram")) and (entry / "dev").exists():
            return (entry / "dev").read_text().strip().replace(":", " ")
    pytest.skip("no block device on this machine")


def test_resources_freezer_update_stats_devices_and_delete_on_v2(oci: Oci) -> None:
    parent = f"pyrunc-oci-v2-{os.getpid()}-{os.urandom(3).hex()}"
    rel = f"/{parent}/c1"
    group = CGROUP / parent / "c1"

    def edit(doc: dict[str, Any]) -> None:
        doc["linux"]["cgroupsPath"] = rel
        doc["linux"]["namespaces"].append({"type": "cgroup"})
        doc["linux"]["resources"].update(
            memory={"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20},
            cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            pids={"limit": 42},
            unified={"memory.high": str(48 << 20)})

    try:
        pid = oci.run_detached("v2", oci.bundle(SLEEP, edit))
        # The init is in the container's group of the one hierarchy, and sees it as its root (cgroupns).
        assert Path(f"/proc/{pid}/cgroup").read_text().strip() == f"0::{rel}"
        assert _value(group, "memory.max") == str(64 << 20)
        assert _value(group, "memory.low") == str(32 << 20)
        assert _value(group, "memory.swap.max") == str(32 << 20)  # v1's memsw counts memory too: runc's conversion
        assert _value(group, "memory.high") == str(48 << 20)  # `unified`, as given
        assert _value(group, "cpu.max") == "50000 100000"
        assert _value(group, "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)  # runc's shares -> weight
        assert _value(group, "cpuset.cpus") == "0"
        assert _value(group, "pids.max") == "42"

        # The device program (runc's default list, a BPF program on v2): a block device of the host can be made
        # (runc allows mknod of any device) but not opened; /dev/null, on the list, can.
        disk = _a_block_device()
        out = oci("exec", "--cap", "CAP_MKNOD", "v2", "sh", "-c",
                  f"mknod /dev/n c 1 3 && head -c 0 /dev/n && echo null=ok; mknod /dev/b b {disk} && echo block=made; "
                  "head -c 1 /dev/b >/dev/null && echo block=read; cat /proc/self/cgroup", check=False)
        assert "null=ok" in out.stdout and "block=made" in out.stdout, out.stdout + out.stderr
        assert "block=read" not in out.stdout and "Operation not permitted" in out.stderr, out.stdout + out.stderr
        assert "0::/" in out.stdout.splitlines()  # the exec'd process is in the container's cgroupns too

        # exec joins the container's group: a detached exec's process, seen from the host.
        pid_file = oci.tmp / "exec.pid"
        oci("exec", "--detach", "--pid-file", str(pid_file), "v2", "sleep", "300")
        exec_pid = int(pid_file.read_text())
        assert Path(f"/proc/{exec_pid}/cgroup").read_text().strip() == f"0::{rel}"
        os.kill(exec_pid, signal.SIGKILL)
        poll("the exec'd sleep to go", lambda: str(exec_pid) not in _value(group, "cgroup.procs").split())

        oci("pause", "v2")
        assert _value(group, "cgroup.freeze") == "1"
        poll("the group to be frozen", lambda: "frozen 1" in _value(group, "cgroup.events").splitlines())
        assert oci.state("v2")["status"] == "paused"
        oci("resume", "v2")
        assert _value(group, "cgroup.freeze") == "0"
        assert oci.state("v2")["status"] == "running"

        oci("update", "--memory", str(128 << 20), "--pids-limit", "50", "--cpu-quota", "30000", "v2")
        assert _value(group, "memory.max") == str(128 << 20)
        assert _value(group, "pids.max") == "50"
        assert _value(group, "cpu.max") == "30000 100000"

        data = json.loads(oci("events", "--stats", "v2").stdout)["data"]
        assert data["pids"] == {"current": 1, "limit": 50}
        assert data["memory"]["usage"]["usage"] > 0 and data["memory"]["usage"]["limit"] == 128 << 20
        assert data["cpu"]["usage"]["total"] > 0

        oci("delete", "--force", "v2")
        assert not alive(pid)
        assert not group.exists()  # the container's own group; its parent is the caller's, as with runc
        assert not (oci.root / "v2").exists()
    finally:
        oci("delete", "--force", "v2", check=False)
        for leftover in (group, CGROUP / parent):
            if leftover.exists():
                leftover.rmdir()
