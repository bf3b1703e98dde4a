"""Requests and limits end to end, through the real CLI: QoS pods, OOMKilled, teardown, top.

Every check runs on whichever cgroup version the host has: natively on cgroup v1 here, and on
cgroup v2 in the QEMU guest (tests/integration/test_cgroup2_guest.py runs this whole module
there; the one `cgroup2`-marked test proves the guest really used the v2 driver). The only
version branch is the table of file names and how "unlimited" reads back.

The expected numbers are the kubelet's (pkg/kubelet/cm/helpers_linux.go, pkg/kubelet/qos/policy.go), written out here rather than
computed with pyrunc's own arithmetic. Each module gets a node root of its own with
`network: none` (no bridge or nftables needed, so the guest can run it) and a unique cgroup parent.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.cgroups import detect
from tests.integration.helpers import EXAMPLES, Node, alive, poll, pod_yaml

pytestmark = pytest.mark.root

WAIT = 120.0  # seconds; generous for the guest (~15x slower), never a duration assertion
MI = 1024 * 1024
PODS_LIMIT = 1024
CGROUP_ROOT = "/sys/fs/cgroup"

# Files per cgroup version: v1 "<controller>/<file>", v2 "<file>" (both relative to the group,
# and to /sys/fs/cgroup inside the container).
FILES = {
    1: {"memory": "memory/memory.limit_in_bytes", "cpu.max": "cpu/cpu.cfs_quota_us", "weight": "cpu/cpu.shares",
        "pids": "pids/pids.max"},
    2: {"memory": "memory.max", "cpu.max": "cpu.max", "weight": "cpu.weight", "pids": "pids.max",
        "oom.group": "memory.oom.group"},
}
# v1 reads an unlimited memory limit back as the largest page-aligned long.
UNLIMITED_MEMORY = {1: str((2**63 - 1) // 4096 * 4096), 2: "max"}


def quota_text(version: int, quota: int | None) -> str:
    if version == 1:
        return str(quota if quota is not None else -1)
    return f"{quota if quota is not None else 'max'} 100000"


def expected(version: int, memory: int | None, quota: int | None, shares: int, weight: int,
             container: bool) -> dict[str, str]:
    """The kubelet's values for one group, as the files read back."""
    values = {
        "memory": str(memory) if memory is not None else UNLIMITED_MEMORY[version],
        "cpu.max": quota_text(version, quota),
        # v2: cpu.weight from the shares by runc >= 1.3.2's conversion (2 -> 1, 716 -> 76).
        "weight": str(shares if version == 1 else weight),
    }
    if version == 2 and container:
        values["oom.group"] = "1"
    return {FILES[version][k]: v for k, v in values.items()}


# (example file, pod name, QoS class, QoS directory, pod group values, container group values)
QOS_PODS = {
    "Guaranteed": ("qos-guaranteed.yaml", "qos-guaranteed", "",
                   dict(memory=200 * MI, quota=70000, shares=716, weight=76),
                   dict(memory=200 * MI, quota=70000, shares=716, weight=76)),
    # No CPU request: shares 2 in both groups; the pod's memory limit is set because its
    # only container declares one; no CPU limit, so no quota.
    "Burstable": ("qos-burstable.yaml", "qos-burstable", "burstable",
                  dict(memory=200 * MI, quota=None, shares=2, weight=1),
                  dict(memory=200 * MI, quota=None, shares=2, weight=1)),
    "BestEffort": ("qos-besteffort.yaml", "qos-besteffort", "besteffort",
                   dict(memory=None, quota=None, shares=2, weight=1),
                   dict(memory=None, quota=None, shares=2, weight=1)),
}


def machine_memory() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def kubelet_oom_score_adj(qos: str, memory_request: int) -> int:
    """pkg/kubelet/qos/policy.go with the current -997 for Guaranteed."""
    if qos == "Guaranteed":
        return -997
    if qos == "BestEffort":
        return 1000
    adj = 1000 - (1000 * memory_request) // machine_memory()
    # The floor is 1000 + (-997) = 3; 1000 is lowered to 999 so as not to tie with BestEffort.
    return max(3, 999 if adj == 1000 else adj)


def may_lower_oom_score_adj() -> bool:
    """CAP_SYS_RESOURCE (bit 24) in our bounding set: without it the host refuses negative values."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


# -- the node -------------------------------------------------------------------------------

class PodNode(Node):
    """A Node whose CLI calls and waits have the guest's generous bounds."""

    def run(self, *args: str, check: bool = True, input: str | None = None,  # noqa: A002
            timeout: float = WAIT):  # type: ignore[no-untyped-def]
        return super().run(*args, check=check, input=input, timeout=timeout)

    def uid(self, pod: str) -> str:
        return str(json.loads((self.pod_dir(pod) / "pod.json").read_text())["metadata"]["uid"])

    def wait_terminated(self, pod: str, container: str) -> dict:  # type: ignore[type-arg]
        def done() -> dict | None:  # type: ignore[type-arg]
            for s in self.pod_json(pod)["status"].get("containerStatuses", []):
                if s["name"] == container and "terminated" in s["state"]:
                    return s
            return None

        return poll(f"{pod}/{container} terminated", done, WAIT, interval=0.5)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodNode]:
    n = PodNode(tmp_path_factory.mktemp("resources"), network="none",
                cgroup_parent=f"pyrunc-t{secrets.token_hex(4)}", pod_pids_limit=PODS_LIMIT)
    try:
        yield n
    finally:
        n.teardown()


@pytest.fixture(scope="module")
def version(node: PodNode) -> int:
    driver = detect(parent=json.loads(Path(node.root, "config.json").read_text())["cgroup_parent"])
    if driver.version == 0:
        pytest.skip(f"no usable cgroups on this host: {getattr(driver, 'reason', '')}")
    return driver.version


@pytest.fixture(scope="module")
def qos_pods(node: PodNode) -> dict[str, str]:
    """The three QoS demo pods from examples/, running; QoS class -> pod uid."""
    for example, *_ in QOS_PODS.values():
        node.apply_file(EXAMPLES / example)
    uids = {}
    for qos, (_, name, *_) in QOS_PODS.items():
        node.wait_running(name, timeout=WAIT)
        uids[qos] = node.uid(name)
    return uids


def parent(node: PodNode) -> str:
    return str(json.loads(Path(node.root, "config.json").read_text())["cgroup_parent"])


def host_group(node: PodNode, version: int, qos_dir: str, uid: str, container: str | None, file: str) -> Path:
    """A cgroup file of the pod (container None) or of one container, in the host's cgroupfs."""
    controller, _, name = file.rpartition("/")
    parts = [CGROUP_ROOT, controller, parent(node), qos_dir, f"pod{uid}", container or "", name]
    return Path(*[p for p in parts if p])


def pod_cgroup_dirs(uid: str) -> list[str]:
    """Every directory named pod<uid> in every mounted cgroup hierarchy."""
    found = []
    for top, dirs, _files in os.walk(CGROUP_ROOT):
        found += [os.path.join(top, d) for d in dirs if d == f"pod{uid}"]
    return found


# -- QoS demo pods ----------------------------------------------------------------------------

@pytest.mark.parametrize("qos", sorted(QOS_PODS))
def test_qos_class_in_pod_status(node: PodNode, qos_pods: dict[str, str], qos: str) -> None:
    assert node.pod_json(QOS_PODS[qos][1])["status"]["qosClass"] == qos


@pytest.mark.parametrize("qos", sorted(QOS_PODS))
def test_qos_values_in_host_cgroupfs(node: PodNode, version: int, qos_pods: dict[str, str], qos: str) -> None:
    _, _, qos_dir, pod_values, container_values = QOS_PODS[qos]
    uid = qos_pods[qos]
    want_pod = expected(version, **pod_values, container=False)
    want_pod[FILES[version]["pids"]] = str(PODS_LIMIT)  # the node's pod_pids_limit, on the pod group
    for group, want in ((None, want_pod), ("app", expected(version, **container_values, container=True))):
        got = {f: host_group(node, version, qos_dir, uid, group, f).read_text().strip() for f in want}
        assert got == want, f"{qos} {'pod' if group is None else 'container'} group"


@pytest.mark.parametrize("qos", sorted(QOS_PODS))
def test_qos_values_inside_the_container(node: PodNode, version: int, qos_pods: dict[str, str], qos: str) -> None:
    """The container sees its own group at /sys/fs/cgroup, as on a Kubernetes node."""
    _, name, _, _, container_values = QOS_PODS[qos]
    want = expected(version, **container_values, container=True)
    files = sorted(want)
    out = node.exec(name, "app", "cat", *[f"{CGROUP_ROOT}/{f}" for f in files]).stdout.split("\n")
    assert dict(zip(files, out)) == want
    # Read-only, as the kubelet mounts it.
    denied = node.exec(name, "app", "sh", "-c", f"echo 1 > {CGROUP_ROOT}/{files[0]}", check=False)
    assert denied.returncode != 0


def cgroup_paths(proc_cgroup: str, version: int) -> dict[str, str]:
    """/proc/PID/cgroup -> {controller: path} for the controllers pyrunc manages ("" on v2)."""
    paths = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            if (version == 1 and c in ("cpu", "memory", "pids")) or (version == 2 and c == ""):
                paths[c] = path
    return paths


@pytest.mark.parametrize("qos", sorted(QOS_PODS))
def test_container_process_is_in_its_group(node: PodNode, version: int, qos_pods: dict[str, str], qos: str) -> None:
    _, name, qos_dir, *_ = QOS_PODS[qos]
    pid = node.container_pid(name, "app")
    paths = cgroup_paths(Path(f"/proc/{pid}/cgroup").read_text(), version)
    want = "/" + "/".join(p for p in (parent(node), qos_dir, f"pod{qos_pods[qos]}", "app") if p)
    assert paths and set(paths.values()) == {want}, paths


@pytest.mark.parametrize("qos", sorted(QOS_PODS))
def test_oom_score_adj_is_the_kubelets_or_clamped(node: PodNode, qos_pods: dict[str, str], qos: str) -> None:
    _, name, *_ = QOS_PODS[qos]
    wanted = kubelet_oom_score_adj(qos, 100 * MI if qos == "Burstable" else 0)
    pid = node.container_pid(name, "app")
    got = int(Path(f"/proc/{pid}/oom_score_adj").read_text())
    assert node.state(name, "app")["oomScoreAdj"] == got
    describe = node.run("describe", "pod", name).stdout
    if wanted < 0 and not may_lower_oom_score_adj():
        # The host refuses negative values even to root: the lowest allowed value, and a warning.
        assert got == 0
        assert re.search(rf"Warnings:\n.*oom_score_adj {wanted} refused.*clamped to 0", describe), describe
    else:
        assert got == wanted
        assert "oom_score_adj" not in describe


@pytest.mark.parametrize("qos", sorted(QOS_PODS))
def test_describe_shows_qos_cgroup_path_and_values(node: PodNode, version: int, qos_pods: dict[str, str],
                                                   qos: str) -> None:
    _, name, qos_dir, _, container_values = QOS_PODS[qos]
    uid = qos_pods[qos]
    out = node.run("describe", "pod", name).stdout
    assert re.search(rf"^QoS Class:\s+{qos}$", out, re.M), out
    assert re.search(rf"^\s+Driver:\s+cgroup v{version}$", out, re.M), out
    pod_cgroup = re.search(r"^\s+Pod cgroup:\s+(\S+)$", out, re.M)
    assert pod_cgroup and pod_cgroup.group(1).endswith("/".join(p for p in (qos_dir, f"pod{uid}") if p)), out
    assert os.path.isdir(pod_cgroup.group(1))
    memory_file = FILES[version]["memory"].rpartition("/")[2]
    memory = container_values["memory"]
    shown = re.search(rf"^\s+app {re.escape(memory_file)}:\s+(\S+)$", out, re.M)
    assert shown and shown.group(1) == (str(memory) if memory else ("-1" if version == 1 else "max")), out


def test_exec_runs_in_the_containers_cgroup(node: PodNode, version: int, qos_pods: dict[str, str]) -> None:
    own = node.exec("qos-burstable", "app", "cat", "/proc/1/cgroup").stdout
    execd = node.exec("qos-burstable", "app", "cat", "/proc/self/cgroup").stdout
    # The same group as the container's own process, seen from the same cgroup namespace (v2:
    # "0::/", the container's group is the namespace root; v1 has no cgroup namespace).
    assert cgroup_paths(execd, version) == cgroup_paths(own, version)
    want = "/" if version == 2 else f"/pod{qos_pods['Burstable']}/app"
    assert all(p.endswith(want) for p in cgroup_paths(execd, version).values()), execd


@pytest.mark.cgroup2
def test_unified_host_runs_pods_on_the_v2_driver(node: PodNode, version: int, qos_pods: dict[str, str]) -> None:
    """Proof for the guest run that the checks above exercised cgroup v2, not a fallback."""
    assert version == 2
    assert "Driver:" in node.run("describe", "pod", "qos-guaranteed").stdout
    assert (host_group(node, 2, "", qos_pods["Guaranteed"], "app", "memory.oom.group")).read_text().strip() == "1"


# -- OOMKilled, top, teardown -------------------------------------------------------------------

def test_oom_killed_container(node: PodNode) -> None:
    node.apply(pod_yaml("oom", "  - name: hog\n    image: busybox\n    command: [tail, /dev/zero]\n"
                               "    resources:\n      limits:\n        memory: 32Mi\n",
                        extra_spec="  restartPolicy: Never\n"))
    status = node.wait_terminated("oom", "hog")
    terminated = status["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), status
    table = node.run("get", "pods", "oom").stdout.splitlines()
    assert table[1].split()[2] == "OOMKilled", table
    assert node.pod_json("oom")["status"]["phase"] == "Failed"
    uid = node.uid("oom")
    node.delete("oom")
    assert pod_cgroup_dirs(uid) == []


def top_lines(node: PodNode, *argv: str) -> list[list[str]]:
    """`pyrunc top pod ...`, split into words."""
    return [line.split() for line in node.run("top", "pod", *argv).stdout.splitlines()]


def test_top_shows_memory_of_a_running_pod(node: PodNode) -> None:
    # The shell keeps a 20 MB string in memory while it waits.
    script = 'x=$(head -c 20000000 /dev/zero | tr "\\0" a); trap "exit 0" TERM; echo ready; sleep 3600 & wait'
    node.apply(pod_yaml("hog20", f"  - name: app\n    image: busybox\n    command: [sh, -c, '{script}']\n"))
    node.wait_log("hog20", "app", "ready", timeout=WAIT)
    lines = top_lines(node, "hog20")
    assert lines[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    name, cpu, memory = lines[1]
    assert name == "hog20" and re.fullmatch(r"\d+m", cpu), lines
    assert re.fullmatch(r"\d+Mi", memory) and int(memory[:-2]) >= 19, lines
    per_container = top_lines(node, "hog20", "--containers")
    assert per_container[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [row[:2] for row in per_container[1:]] == [["hog20", "app"]]
    node.delete("hog20")


def test_delete_removes_every_cgroup_of_the_pod(node: PodNode, version: int) -> None:
    node.apply(pod_yaml("gone", "  - name: a\n    image: busybox\n    command: [sh, -c, 'sleep 3600 & sleep 3600']\n"
                                "  - name: b\n    image: busybox\n    command: [sleep, '3600']\n"
                                "    resources:\n      requests:\n        memory: 10Mi\n"))
    node.wait_running("gone", timeout=WAIT)
    uid = node.uid("gone")
    assert pod_cgroup_dirs(uid), "the pod has no cgroup to remove"
    pids = [node.container_pid("gone", c) for c in ("a", "b")]
    node.run("delete", "pod", "gone", "--grace-period=1")
    node.pods.discard(("default", "gone"))
    assert pod_cgroup_dirs(uid) == []
    assert not [p for p in pids if alive(p)]
