"""The detected cgroup driver against the real kernel: values, attach, OOM, kill, teardown.

Runs as is on this cgroup v1 host and, through test_cgroup2_guest.py, on a cgroup v2 kernel
in a QEMU guest; the only version branch is the file names to read back. Every pod is created
under a unique parent group and removed in the fixture's finalizer, which also checks that no
directory is left in any hierarchy.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pyrunc.cgroups import ContainerResources, PodCgroupPlan, apply_oom_score_adj, detect, plan_pod
from pyrunc.cgroups.base import CgroupDriver

pytestmark = pytest.mark.root

MI = 1024**2
GI = 1024**3
C = ContainerResources

GUARANTEED = [C("app", cpu_request_milli=700, cpu_limit_milli=700, memory_request=200 * MI, memory_limit=200 * MI)]
BURSTABLE = [C("app", memory_request=100 * MI, memory_limit=200 * MI)]
BESTEFFORT = [C("app")]

# Child that waits for one line on stdin (so it can be attached first), then runs CODE.
WAIT_THEN = "import sys; sys.stdin.readline()\n"


class Harness:
    def __init__(self, driver: CgroupDriver) -> None:
        self.driver = driver
        self.uids: list[str] = []
        self.children: list[subprocess.Popen[bytes]] = []
        self.dirs: set[str] = set()

    def pod(self, containers: list[ContainerResources], pids_limit: int = -1) -> PodCgroupPlan:
        uid = f"test-{secrets.token_hex(6)}"
        plan = plan_pod(uid, containers, [], machine_memory=4 * GI, pids_limit=pids_limit)
        self.uids.append(uid)
        self.driver.setup_pod(plan)
        for c in containers:
            self.driver.setup_container(plan, c.name)
            self.dirs.update(self.driver.paths(uid, c.name).values())
        self.dirs.update(self.driver.paths(uid, None).values())
        return plan

    def child(self, code: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", WAIT_THEN + code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.children.append(proc)
        return proc

    def sleeper(self) -> subprocess.Popen[bytes]:
        return self.child("import time; time.sleep(1000)")

    def close(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for uid in self.uids:
            self.driver.remove_pod(uid)
        self.driver.cleanup_parent()


@pytest.fixture
def harness() -> Iterator[Harness]:
    driver = detect(parent=f"pyrunc-test-{secrets.token_hex(4)}")
    if driver.version == 0:
        pytest.skip(f"no usable cgroups: {driver.reason}")  # type: ignore[attr-defined]
    h = Harness(driver)
    try:
        yield h
    finally:
        h.close()
    parents = {d.split(f"/{driver.parent}/")[0] + f"/{driver.parent}" for d in h.dirs}  # type: ignore[attr-defined]
    leftover = sorted(d for d in h.dirs | parents if os.path.exists(d))
    assert leftover == [], f"cgroup directories left behind: {leftover}"


def read_file(harness: Harness, uid: str, name: str | None, filename: str) -> str:
    """Read a cgroup file; v1 names carry their controller ("memory/memory.limit_in_bytes")."""
    paths = harness.driver.paths(uid, name)
    if harness.driver.version == 1:
        controller, filename = filename.split("/")
        directory = paths[controller]
    else:
        directory = paths[""]
    with open(os.path.join(directory, filename), encoding="ascii") as f:
        return f.read().strip()


# (containers, qos dir, expected pod files, expected "app" files), v1 then v2 file names.
CASES = {
    "guaranteed": (
        GUARANTEED,
        "",
        {"cpu/cpu.shares": "716", "cpu/cpu.cfs_quota_us": "70000", "cpu/cpu.cfs_period_us": "100000",
         "memory/memory.limit_in_bytes": str(200 * MI), "pids/pids.max": "64"},
        {"cpu.weight": "76", "cpu.max": "70000 100000", "memory.max": str(200 * MI), "pids.max": "64"},
    ),
    "burstable": (
        BURSTABLE,
        "burstable",
        {"cpu/cpu.shares": "2", "cpu/cpu.cfs_quota_us": "-1", "memory/memory.limit_in_bytes": str(200 * MI),
         "pids/pids.max": "64"},
        {"cpu.weight": "1", "cpu.max": "max 100000", "memory.max": str(200 * MI), "pids.max": "64"},
    ),
    "besteffort": (
        BESTEFFORT,
        "besteffort",
        {"cpu/cpu.shares": "2", "cpu/cpu.cfs_quota_us": "-1", "pids/pids.max": "64"},
        {"cpu.weight": "1", "cpu.max": "max 100000", "memory.max": "max", "pids.max": "64"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_demo_pod_values_in_cgroupfs(harness: Harness, case: str) -> None:
    containers, qos_dir, v1_pod, v2_pod = CASES[case]
    plan = harness.pod(containers, pids_limit=64)
    version = harness.driver.version
    pod_expected = v1_pod if version == 1 else v2_pod
    assert {f: read_file(harness, plan.pod_uid, None, f) for f in pod_expected} == pod_expected
    # The container gets its own values and no pids limit (that is per pod).
    app_expected = dict(pod_expected)
    pids_file = "pids/pids.max" if version == 1 else "pids.max"
    app_expected[pids_file] = "max"
    if version == 2:
        app_expected["memory.oom.group"] = "1"
    assert {f: read_file(harness, plan.pod_uid, "app", f) for f in app_expected} == app_expected
    for directory in harness.driver.paths(plan.pod_uid, "app").values():
        wanted = os.path.join(harness.driver.parent, qos_dir, f"pod{plan.pod_uid}", "app")  # type: ignore[attr-defined]
        assert directory.endswith("/" + wanted.replace("//", "/"))


def test_attach_moves_the_process(harness: Harness) -> None:
    plan = harness.pod(BURSTABLE)
    proc = harness.sleeper()
    harness.driver.attach(proc.pid, plan.pod_uid, "app")
    assert harness.driver.procs(plan.pod_uid, "app") == [proc.pid]
    assert harness.driver.procs(plan.pod_uid, None) == [proc.pid]
    # /proc/PID/cgroup: "ID:controllers:path" per hierarchy on v1, one "0::path" on v2.
    membership = {}
    with open(f"/proc/{proc.pid}/cgroup", encoding="ascii") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if harness.driver.version == 1 else [controllers]:
                membership[controller] = path
    for controller, directory in harness.driver.paths(plan.pod_uid, "app").items():
        assert directory.endswith(membership[controller]), (controller, directory, membership)
    assert not harness.driver.oom_killed(plan.pod_uid, "app")


def test_oom_kill_is_detected(harness: Harness) -> None:
    plan = harness.pod([C("hog", memory_limit=32 * MI)])
    # Touch every page (bytes of b"x"), so the memory is really charged to the group.
    hog = harness.child("a = []\nwhile True:\n    a.append(b'x' * (1 << 20))")
    harness.driver.attach(hog.pid, plan.pod_uid, "hog")
    assert hog.stdin is not None
    hog.stdin.write(b"go\n")
    hog.stdin.flush()
    assert hog.wait(timeout=120) == -signal.SIGKILL
    assert harness.driver.oom_killed(plan.pod_uid, "hog")


def test_kill_reaches_forked_children(harness: Harness) -> None:
    plan = harness.pod(BESTEFFORT)
    code = (
        "import subprocess, time\n"
        "kids = [subprocess.Popen(['sleep', '1000']) for _ in range(3)]\n"
        "print('ready', flush=True)\n"
        "time.sleep(1000)"
    )
    parent = harness.child(code)
    harness.driver.attach(parent.pid, plan.pod_uid, "app")
    assert parent.stdin is not None and parent.stdout is not None
    parent.stdin.write(b"go\n")
    parent.stdin.flush()
    assert parent.stdout.readline() == b"ready\n"
    assert len(harness.driver.procs(plan.pod_uid, "app")) == 4
    harness.driver.kill(plan.pod_uid, "app")
    assert harness.driver.procs(plan.pod_uid, "app") == []
    assert parent.wait(timeout=30) == -signal.SIGKILL


def test_stats_account_cpu_and_memory(harness: Harness) -> None:
    plan = harness.pod(BURSTABLE)
    code = (
        "sum(i * i for i in range(300000))\n"
        "blob = b'x' * (16 << 20)\n"
        "print('ready', flush=True)\n"
        "import time; time.sleep(1000)"
    )
    proc = harness.child(code)
    harness.driver.attach(proc.pid, plan.pod_uid, "app")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"ready\n"
    app = harness.driver.stats(plan.pod_uid, "app")
    pod = harness.driver.stats(plan.pod_uid, None)
    assert app.cpu_usage_ns > 0
    assert app.memory_working_set >= 16 * MI
    assert pod.memory_working_set >= app.memory_working_set
    assert pod.cpu_usage_ns >= app.cpu_usage_ns


def test_remove_pod_kills_and_removes_everything(harness: Harness) -> None:
    plan = harness.pod(GUARANTEED)
    proc = harness.sleeper()
    harness.driver.attach(proc.pid, plan.pod_uid, "app")
    dirs = [*harness.driver.paths(plan.pod_uid, None).values(), *harness.driver.paths(plan.pod_uid, "app").values()]
    assert all(os.path.isdir(d) for d in dirs)
    harness.driver.remove_pod(plan.pod_uid)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert [d for d in dirs if os.path.exists(d)] == []
    harness.driver.remove_pod(plan.pod_uid)  # idempotent
    harness.driver.cleanup_parent()


def test_remove_container_keeps_the_pod(harness: Harness) -> None:
    plan = harness.pod([C("a"), C("b")])
    proc = harness.sleeper()
    harness.driver.attach(proc.pid, plan.pod_uid, "a")
    harness.driver.remove_container(plan.pod_uid, "a")
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not any(os.path.exists(os.path.join(d, "a")) for d in harness.driver.paths(plan.pod_uid, None).values())
    assert all(os.path.isdir(d) for d in harness.driver.paths(plan.pod_uid, "b").values())
    harness.driver.setup_container(plan, "a")  # a restarted container gets a fresh group
    assert all(os.path.isdir(d) for d in harness.driver.paths(plan.pod_uid, "a").values())


def test_setup_is_idempotent(harness: Harness) -> None:
    plan = harness.pod(GUARANTEED)
    harness.driver.setup_pod(plan)
    harness.driver.setup_container(plan, "app")
    memory = "memory/memory.limit_in_bytes" if harness.driver.version == 1 else "memory.max"
    assert read_file(harness, plan.pod_uid, "app", memory) == str(200 * MI)


def test_oom_score_adj_written_or_clamped(harness: Harness) -> None:
    proc = harness.sleeper()
    written = apply_oom_score_adj(proc.pid, -997)
    # -997 needs CAP_SYS_RESOURCE; hosts without it (this CI VM) get the lowest allowed value, 0.
    assert written in (-997, 0)
    with open(f"/proc/{proc.pid}/oom_score_adj", encoding="ascii") as f:
        assert int(f.read()) == written
    assert apply_oom_score_adj(proc.pid, 976) == 976
    with open(f"/proc/{proc.pid}/oom_score_adj", encoding="ascii") as f:
        assert int(f.read()) == 976


@pytest.mark.cgroup2
def test_unified_host_uses_the_v2_driver(harness: Harness) -> None:
    """Proves the guest run really exercised the v2 driver (skipped on a v1 host)."""
    assert harness.driver.version == 2
    plan = harness.pod(BURSTABLE)
    pod_dir = harness.driver.paths(plan.pod_uid, None)[""]
    for directory in (os.path.dirname(pod_dir), pod_dir):
        with open(os.path.join(directory, "cgroup.subtree_control"), encoding="ascii") as f:
            assert {"cpu", "memory", "pids"} <= set(f.read().split())
