"""runtime/dryrun.py: the plan from fake host facts (no root, no host reads)."""

from __future__ import annotations

from pyrunc.config import NodeConfig
from pyrunc.runtime.dryrun import HostFacts, plan_pod_run
from pyrunc.spec import load_manifests

POD = """
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  shareProcessNamespace: true
  containers:
  - name: c
    image: example.invalid/app:v1
    resources: {limits: {cpu: "1", memory: 128Mi}}
    securityContext: {readOnlyRootFilesystem: true, privileged: true}
    ports: [{containerPort: 80, hostPort: 8080}]
"""


def facts(version: int) -> HostFacts:
    mounts = {"cpu": "/cg/cpu", "memory": "/cg/memory", "pids": "/cg/pids"} if version == 1 else {"": "/cg"}
    return HostFacts(version, mounts, "", 8 << 30, 4, "192.0.2.1", ("CAP_CHOWN", "CAP_SYS_ADMIN"), lambda name: None)


def plan(version: int):  # type: ignore[no-untyped-def]
    (pod,) = load_manifests(POD, "test")
    cfg = NodeConfig(root="/r", cgroup_parent="par")
    return plan_pod_run(pod, cfg, facts(version))


def test_v1_cgroup_files_of_a_guaranteed_pod() -> None:
    p = plan(1)
    assert p.qos == "Guaranteed"
    assert ("/cg/memory/par/pod<uid>/memory.limit_in_bytes", str(128 << 20)) in p.cgroup_files
    assert ("/cg/cpu/par/pod<uid>/c/cpu.cfs_quota_us", "100000") in p.containers[0].cgroup_files
    assert p.containers[0].oom_score_adj == -997


def test_v2_cgroup_files_and_namespace_mount() -> None:
    c = plan(2).containers[0]
    files = dict(c.cgroup_files)
    assert files["/cg/par/pod<uid>/c/cpu.max"] == "100000 100000"
    assert files["/cg/par/pod<uid>/c/memory.oom.group"] == "1" and files["/cg/par/pod<uid>/c/memory.swap.max"] == "0"
    assert ("cgroup", "new, rooted at its own group") in c.namespaces


def test_privileged_read_only_root_shared_pid_and_absent_image() -> None:
    p = plan(1)
    c = p.containers[0]
    targets = [m.target for m in c.mounts]
    assert targets[:3] == ["/", "/proc", "/sys"] and targets[-2:] == ["pivot_root", "/"]
    assert not any(m.type == "mask" for m in c.mounts)  # privileged: nothing masked
    assert next(m for m in c.mounts if m.target == "/sys").options == "nosuid,nodev,noexec"  # writable /sys
    assert c.seccomp == "Unconfined (privileged)" and "CAP_SYS_ADMIN" in c.capabilities
    assert c.image.endswith("(image not present: would be pulled)") and c.user.startswith("from image")
    assert ("pid", "new, shared by the pod: PID 1 is pyrunc-pause (the holder)") in p.namespaces
    assert 'tcp . 8080 comment "default/p" : <pod IP> . 80' in p.nftables
