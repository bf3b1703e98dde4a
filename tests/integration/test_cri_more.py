"""`pyrunc cri`: the remaining fields of the kubelet's requests (devices, cpuset, swap, ContainerStatus's
resources and user, ambient capabilities), each seen from the host."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import Node, _node
from tests.integration.test_cri import Cri, code_of, cri  # noqa: F401
from tests.integration.test_cri_ctx import _cid, cgroup_file, run, run_sandbox, sandbox, sleeper, status_of, v2

grpc = pytest.importorskip("grpc")
pytestmark = [pytest.mark.root, pytest.mark.network]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A node root beside the kubelet's log directory (tmp_path/logs), which the node's leak check leaves alone."""
    yield from _node(tmp_path / "n")


def test_devices_made_in_the_container_and_allowed_by_its_cgroup(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt, n = cri.pb, cri.rt, cri.node
    config = sandbox(pb, tmp_path / "logs", name="dev")
    sandbox_id = run_sandbox(cri, config)
    n.remember_pids()
    app = sleeper(pb, "app", pb.LinuxContainerSecurityContext())
    app.devices.append(pb.Device(host_path="/dev/zero", container_path="/dev/myzero", permissions="rw"))
    # /dev/fuse (10:229) is not in the default allow-list: the request's rule is what lets it be opened.
    app.devices.append(pb.Device(host_path="/dev/fuse", container_path="/opt/devs/fuse", permissions="r"))
    pid = run(cri, sandbox_id, config, app)
    cid = _cid(cri, "app")
    zero = os.stat("/dev/zero")
    listed = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["ls", "-ln", "/dev/myzero", "/opt/devs/fuse"],
                                            timeout=10))
    assert listed.exit_code == 0, listed
    lines = listed.stdout.decode().splitlines()
    assert lines[0].startswith("c") and re.search(rf"\b{os.major(zero.st_rdev)},\s+{os.minor(zero.st_rdev)}\b",
                                                  lines[0]), lines
    assert lines[1].startswith("crw-------") and re.search(r"\b10,\s+229\b", lines[1]), lines
    read = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "head -c 8 /dev/myzero | od -An -tx1"],
                                          timeout=10))
    assert read.exit_code == 0 and read.stdout.decode().split() == ["00"] * 8, read
    # "r" only: opened for reading, refused by the device cgroup for writing.
    fuse = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "exec 3</opt/devs/fuse && echo read; "
                                                                 "exec 4>/opt/devs/fuse && echo written"], timeout=10))
    assert fuse.stdout.decode().split() == ["read"] and b"not permitted" in fuse.stderr, fuse
    if not v2():
        allowed = cgroup_file(pid, "devices", "devices.list").splitlines()
        assert "c 10:229 r" in allowed, allowed
        assert f"c {os.major(zero.st_rdev)}:{os.minor(zero.st_rdev)} rwm" in allowed, allowed  # runc's default list
    node_in = os.stat(f"/proc/{pid}/root/dev/myzero", follow_symlinks=False)
    assert stat.S_ISCHR(node_in.st_mode) and node_in.st_rdev == zero.st_rdev

    missing = sleeper(pb, "missing", pb.LinuxContainerSecurityContext())
    missing.devices.append(pb.Device(host_path="/dev/no-such-device", container_path="/dev/x", permissions="rwm"))
    with pytest.raises(grpc.RpcError) as info:
        rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=missing, sandbox_config=config))
    assert "/dev/no-such-device" in str(info.value.details()), info.value.details()
    # Nothing of it stays: the same container is created once the device is one the host has.
    missing.devices[0].host_path = "/dev/null"
    rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=missing, sandbox_config=config))
    bad = sleeper(pb, "bad", pb.LinuxContainerSecurityContext())
    bad.devices.append(pb.Device(host_path="/dev/null", container_path="/dev/x", permissions="rwx"))
    assert code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=sandbox_id, config=bad, sandbox_config=config))) == grpc.StatusCode.INVALID_ARGUMENT


def test_cpuset_swap_and_huge_pages_in_cgroupfs_and_updated(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt = cri.pb, cri.rt
    config = sandbox(pb, tmp_path / "logs", name="pin")
    sandbox_id = run_sandbox(cri, config)
    cri.node.remember_pids()
    last = max(os.sched_getaffinity(0))
    has_2mb = Path("/sys/kernel/mm/hugepages/hugepages-2048kB").is_dir()
    container = sleeper(pb, "app", pb.LinuxContainerSecurityContext())
    container.linux.resources.CopyFrom(pb.LinuxContainerResources(
        cpu_shares=512, memory_limit_in_bytes=64 << 20, memory_swap_limit_in_bytes=96 << 20,
        cpuset_cpus=str(last), cpuset_mems="0",
        hugepage_limits=[pb.HugepageLimit(page_size="2MB", limit=(4 << 20) if has_2mb else 0)]))
    pid = run(cri, sandbox_id, config, container)
    # The kernel applies the cpuset: the container's process may run on that CPU only.
    assert os.sched_getaffinity(pid) == {last}
    assert cgroup_file(pid, "cpuset", "cpuset.cpus") == str(last)
    assert cgroup_file(pid, "cpuset", "cpuset.mems") == "0"
    if v2():
        assert cgroup_file(pid, "memory", "memory.swap.max") == str(32 << 20)
        if has_2mb:
            assert cgroup_file(pid, "hugetlb", "hugetlb.2MB.max") == str(4 << 20)
    else:
        if Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists():
            assert cgroup_file(pid, "memory", "memory.memsw.limit_in_bytes") == str(96 << 20)
        if has_2mb:
            assert cgroup_file(pid, "hugetlb", "hugetlb.2MB.limit_in_bytes") == str(4 << 20)

    cid = _cid(cri, "app")
    first = min(os.sched_getaffinity(0))
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=pb.LinuxContainerResources(
        cpu_shares=512, memory_limit_in_bytes=64 << 20, cpuset_cpus=str(first))))
    assert cgroup_file(pid, "cpuset", "cpuset.cpus") == str(first)
    assert os.sched_getaffinity(pid) == {first}
    # A process exec'd later joins the same groups.
    seen = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["grep", "Cpus_allowed_list", "/proc/self/status"],
                                          timeout=10))
    assert seen.stdout.decode().split()[-1] == str(first), seen
    # Updated while created: its start writes the new values.
    later = sleeper(pb, "later", pb.LinuxContainerSecurityContext())
    later.linux.resources.CopyFrom(pb.LinuxContainerResources(cpu_shares=512, cpuset_cpus=str(last)))
    later_id = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=later,
                                                            sandbox_config=config)).container_id
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=later_id, linux=pb.LinuxContainerResources(cpu_shares=512, cpuset_cpus=str(first))))
    rt.StartContainer(pb.StartContainerRequest(container_id=later_id))
    assert os.sched_getaffinity(cri.node.container_pid("pin", "later")) == {first}
    unified = pb.LinuxContainerResources(unified={"memory.high": str(32 << 20)})
    if v2():
        rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=unified))
        assert cgroup_file(pid, "memory", "memory.high") == str(32 << 20)
    else:
        with pytest.raises(grpc.RpcError) as info:
            rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=unified))
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED and "cgroup v2" in str(info.value.details())


CAP_NET_BIND_SERVICE = 10


def test_status_user_and_resources_run_as_username_ambient_caps(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt = cri.pb, cri.rt
    config = sandbox(pb, tmp_path / "logs", name="who")
    sandbox_id = run_sandbox(cri, config)
    cri.node.remember_pids()
    # busybox's /etc/passwd has www-data (33:33): the name is looked up in the image, as containerd does.
    named = sleeper(pb, "named", pb.LinuxContainerSecurityContext(run_as_username="www-data",
                                                                  supplemental_groups=[3000]))
    named.linux.resources.CopyFrom(pb.LinuxContainerResources(cpu_shares=256, memory_limit_in_bytes=32 << 20,
                                                              oom_score_adj=900))
    pid = run(cri, sandbox_id, config, named)
    st = status_of(pid)
    assert st["Uid"].split()[0] == "33" and st["Gid"].split()[0] == "33", st
    cid = _cid(cri, "named")
    status = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert status.user.linux.uid == 33 and status.user.linux.gid == 33
    assert sorted(status.user.linux.supplemental_groups) == sorted(int(g) for g in st["Groups"].split())
    assert 3000 in status.user.linux.supplemental_groups
    assert status.resources.linux.cpu_shares == 256 and status.resources.linux.memory_limit_in_bytes == 32 << 20
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=pb.LinuxContainerResources(
        cpu_shares=512, memory_limit_in_bytes=48 << 20)))
    status = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert status.resources.linux.cpu_shares == 512 and status.resources.linux.memory_limit_in_bytes == 48 << 20

    unknown = sleeper(pb, "unknown", pb.LinuxContainerSecurityContext(run_as_username="no-such-user"))
    with pytest.raises(grpc.RpcError) as info:
        rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=unknown, sandbox_config=config))
    assert "no-such-user" in str(info.value.details()), info.value.details()

    # A non-root process keeps an ambient capability across execve: in CapAmb, and so in CapEff.
    ambient = sleeper(pb, "ambient", pb.LinuxContainerSecurityContext(
        run_as_user=pb.Int64Value(value=1000),
        capabilities=pb.Capability(add_ambient_capabilities=["NET_BIND_SERVICE"])))
    pid = run(cri, sandbox_id, config, ambient)
    st = status_of(pid)
    assert int(st["CapAmb"], 16) == 1 << CAP_NET_BIND_SERVICE, st
    assert int(st["CapEff"], 16) == 1 << CAP_NET_BIND_SERVICE and int(st["CapPrm"], 16) == 1 << CAP_NET_BIND_SERVICE
    # An exec'd process gets it too, and binds a port below the sandbox's unprivileged start (81).
    bound = rt.ExecSync(pb.ExecSyncRequest(container_id=_cid(cri, "ambient"), cmd=[
        "sh", "-c", "grep CapAmb /proc/self/status; nc -l -p 80 & "
        "for i in $(seq 100); do netstat -ltn | grep -q ':80 ' && break; sleep 0.1; done; "  # poll for the bind
        "netstat -ltn | grep -c ':80 '; kill %1"], timeout=20))
    assert f"{1 << CAP_NET_BIND_SERVICE:016x}" in bound.stdout.decode(), bound
    assert bound.stdout.decode().split()[-1] == "1", bound
    outside = sleeper(pb, "outside", pb.LinuxContainerSecurityContext(
        capabilities=pb.Capability(add_ambient_capabilities=["SYS_ADMIN"])))
    with pytest.raises(grpc.RpcError) as info:
        rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=outside, sandbox_config=config))
    assert "CAP_SYS_ADMIN" in str(info.value.details()), info.value.details()
