"""`pyrunc cri`: the Linux security context of the kubelet's requests, seen from the host in /proc."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.helpers import Node, _node
from tests.integration.test_cri import Cri, code_of, cri  # noqa: F401 - the fixture, over this module's node

grpc = pytest.importorskip("grpc")
pytestmark = [pytest.mark.root, pytest.mark.network]

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13


@pytest.fixture
def node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Node]:
    """A node whose seccomp profile directory holds one Localhost profile (mkdir refused with EPERM); with
    the parameter "own-images", an image store of its own (empty)."""
    profiles = tmp_path / "seccomp"
    profiles.mkdir()
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    (profiles / "no-mkdir.json").write_text(json.dumps(profile))
    extra = {"images_dir": str(tmp_path / "images")} if getattr(request, "param", "") == "own-images" else {}
    yield from _node(tmp_path / "n", seccomp_profile_root=str(profiles), **extra)


def status_of(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def mount_points(pid: int) -> dict[str, str]:
    """mount point -> its per-mount options, as the container sees them."""
    out = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        out[fields[4]] = fields[5]
    return out


def sandbox(pb: Any, logs: Path, *, privileged: bool = False, network: int = 0, pid: int = 1, ipc: int = 0,
            name: str = "ctx") -> Any:
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=f"{name}-uid", namespace="default"),
        hostname=name, log_directory=str(logs),
        linux=pb.LinuxPodSandboxConfig(
            sysctls={"net.ipv4.ip_unprivileged_port_start": "81"} if network != 2 else {},
            security_context=pb.LinuxSandboxSecurityContext(
                privileged=privileged, namespace_options=pb.NamespaceOption(network=network, pid=pid, ipc=ipc))))


def sleeper(pb: Any, name: str, sc: Any) -> Any:
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image="busybox"),
                              command=["sleep", "3600"], log_path=f"{name}/0.log",
                              linux=pb.LinuxContainerConfig(security_context=sc))


def run_sandbox(cri: Cri, config: Any) -> str:
    """RunPodSandbox; the supervisor serving it is remembered, so that the node's teardown waits for its exit
    (after the last sandbox goes it leaves at once, and removes the bridge on its way out)."""
    sandbox_id = str(cri.rt.RunPodSandbox(cri.pb.RunPodSandboxRequest(config=config)).pod_sandbox_id)
    cri.node._remember_daemon()
    return sandbox_id


def run(cri: Cri, sandbox_id: str, config: Any, container: Any) -> int:
    pb, rt = cri.pb, cri.rt
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=container,
                                                       sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    pod = config.metadata.name
    return cri.node.container_pid(pod, container.metadata.name)


def test_container_security_context_in_proc(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt, n = cri.pb, cri.rt, cri.node
    config = sandbox(pb, tmp_path / "logs", privileged=True)
    sandbox_id = run_sandbox(cri, config)
    n.remember_pids()

    restricted = pb.LinuxContainerSecurityContext(
        run_as_user=pb.Int64Value(value=1000), run_as_group=pb.Int64Value(value=2000),
        supplemental_groups=[3000, 3001], readonly_rootfs=True, no_new_privs=True,
        capabilities=pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["ALL"]),
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
        namespace_options=pb.NamespaceOption(pid=pb.CONTAINER),
        # The request's own lists: /proc/meminfo is masked although pyrunc's defaults do not mask it, and
        # /proc/interrupts (a default of pyrunc's) is not, because the request does not name it.
        masked_paths=["/proc/keys", "/proc/meminfo"], readonly_paths=["/proc/sys"])
    pid = run(cri, sandbox_id, config, sleeper(pb, "app", restricted))
    st = status_of(pid)
    assert st["Uid"].split()[0] == "1000" and st["Gid"].split()[0] == "2000", st
    assert {"3000", "3001"} <= set(st["Groups"].split()), st["Groups"]
    assert int(st["CapBnd"], 16) == 1 << CAP_NET_ADMIN, st["CapBnd"]
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, "a non-root user gets no effective caps"
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    mounts = mount_points(pid)
    assert mounts["/"].startswith("ro"), mounts["/"]
    assert "/proc/meminfo" in mounts and "/proc/keys" in mounts, " ".join(sorted(mounts))
    assert "/proc/interrupts" not in mounts, "only the request's masked paths"
    assert mounts["/proc/sys"].startswith("ro")
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(n.pod_dir("ctx") / "ns" / "net").st_ino
    sysctl = rt.ExecSync(pb.ExecSyncRequest(container_id=_cid(cri, "app"),
                                            cmd=["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"], timeout=10))
    assert sysctl.stdout.decode().strip() == "81", sysctl

    root_caps = pb.LinuxContainerSecurityContext(
        capabilities=pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["NET_RAW"]),
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost,
                                   localhost_ref=str(Path(n.root).parent.parent / "seccomp" / "no-mkdir.json")))
    pid = run(cri, sandbox_id, config, sleeper(pb, "root", root_caps))
    st = status_of(pid)
    eff = int(st["CapEff"], 16)
    assert eff & (1 << CAP_NET_ADMIN) and not eff & (1 << CAP_NET_RAW), st["CapEff"]
    assert st["Uid"].split()[0] == "0" and st["NoNewPrivs"] == "0" and st["Seccomp"] == "2", st
    made = rt.ExecSync(pb.ExecSyncRequest(container_id=_cid(cri, "root"), cmd=["mkdir", "/tmp/x"], timeout=10))
    assert made.exit_code != 0 and b"not permitted" in made.stderr, made

    unconfined = pb.LinuxContainerSecurityContext(seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined))
    pid = run(cri, sandbox_id, config, sleeper(pb, "free", unconfined))
    st = status_of(pid)
    assert st["Seccomp"] == "0", st
    assert "/proc/interrupts" in mount_points(pid), "no lists in the request: pyrunc's (containerd's) defaults"

    privileged = pb.LinuxContainerSecurityContext(privileged=True)
    pid = run(cri, sandbox_id, config, sleeper(pb, "priv", privileged))
    st = status_of(pid)
    assert int(st["CapEff"], 16) == int(status_of(os.getpid())["CapBnd"], 16), st["CapEff"]
    assert st["Seccomp"] == "0" and "/proc/keys" not in mount_points(pid), st


def _cid(cri: Cri, name: str) -> str:
    pb = cri.pb
    return next(c.id for c in cri.rt.ListContainers(pb.ListContainersRequest()).containers if c.metadata.name == name)


def test_node_namespaces(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt, n = cri.pb, cri.rt, cri.node
    config = sandbox(pb, tmp_path / "logs", network=pb.NODE, pid=pb.NODE, ipc=pb.NODE, name="hostns")
    sandbox_id = run_sandbox(cri, config)
    n.remember_pids()
    sc = pb.LinuxContainerSecurityContext(namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE))
    pid = run(cri, sandbox_id, config, sleeper(pb, "app", sc))
    for kind in ("net", "pid", "ipc"):
        assert os.stat(f"/proc/{pid}/ns/{kind}").st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino, kind
    assert os.stat(f"/proc/{pid}/ns/uts").st_ino == os.stat("/proc/self/ns/uts").st_ino


def test_refused_security_requests(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt = cri.pb, cri.rt
    config = sandbox(pb, tmp_path / "logs")
    sandbox_id = run_sandbox(cri, config)

    def create(sc: Any) -> Any:
        return code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=sleeper(pb, "bad", sc), sandbox_config=config)))

    # A privileged container in a sandbox not created privileged (containerd refuses it too).
    assert create(pb.LinuxContainerSecurityContext(privileged=True)) == grpc.StatusCode.INVALID_ARGUMENT
    assert create(pb.LinuxContainerSecurityContext(selinux_options=pb.SELinuxOption(type="spc_t"))) == \
        grpc.StatusCode.UNIMPLEMENTED
    assert create(pb.LinuxContainerSecurityContext(apparmor=pb.SecurityProfile(
        profile_type=pb.SecurityProfile.Localhost, localhost_ref="k8s-nginx"))) == grpc.StatusCode.UNIMPLEMENTED
    assert create(pb.LinuxContainerSecurityContext(seccomp=pb.SecurityProfile(
        profile_type=pb.SecurityProfile.Localhost, localhost_ref="/etc/passwd"))) == grpc.StatusCode.INVALID_ARGUMENT
    assert create(pb.LinuxContainerSecurityContext(run_as_group=pb.Int64Value(value=5))) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert rt.ListContainers(pb.ListContainersRequest()).containers == []


def test_stop_releases_the_network_and_admission_counts_cri_host_ports(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    from tests.integration.helpers import pod_yaml, sleeper as pyrunc_sleeper
    from tests.integration.test_cri import free_port

    pb, rt, n = cri.pb, cri.rt, cri.node
    port = free_port()
    config = sandbox(pb, tmp_path / "logs", name="ports")
    config.port_mappings.append(pb.PortMapping(protocol=pb.TCP, container_port=80, host_port=port))
    sandbox_id = run_sandbox(cri, config)
    ip = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)).status.network.ip
    assert ip

    def leased() -> bool:
        return any(p.name == ip and p.parent.name == "leases" for p in Path(n.root).rglob("*"))

    assert leased()

    # A pyrunc pod asking the hostPort the CRI sandbox holds is rejected as the kubelet rejects it.
    wants = f"    ports:\n    - {{containerPort: 80, hostPort: {port}}}\n"
    n.apply(pod_yaml("clash", pyrunc_sleeper("c", wants)))
    status = n.pod_json("clash")["status"]
    assert (status.get("phase"), status.get("reason")) == ("Failed", "NodePorts"), status
    n.delete("clash")

    # StopPodSandbox: the address, veth and hostPort go now (containerd's teardown at stop), not at remove.
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
    status = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)).status
    assert status.state == pb.SANDBOX_NOTREADY and status.network.ip == "", status
    assert not leased(), "the lease is released"
    assert not [i for i in Path("/sys/class/net", n.bridge, "brif").iterdir()], "the veth is gone"
    n.apply(pod_yaml("after", pyrunc_sleeper("c", wants)))
    n.wait_running("after")
    n.delete("after")
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))  # idempotent
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """A file of the process's own cgroup, on v1 (its controller's hierarchy) or v2 (the unified one)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists()):
            base = Path("/sys/fs/cgroup", controller) if controllers else Path("/sys/fs/cgroup")
            return (base / path.lstrip("/") / name).read_text().strip()
    raise AssertionError(f"no {controller} cgroup for {pid}")


def v2() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def test_container_resources_in_cgroupfs_and_updated_live(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt = cri.pb, cri.rt
    config = sandbox(pb, tmp_path / "logs", name="res")
    sandbox_id = run_sandbox(cri, config)
    cri.node.remember_pids()
    container = sleeper(pb, "app", pb.LinuxContainerSecurityContext())
    # What the kubelet sends for requests cpu 500m, limits cpu 500m and memory 64Mi: shares 512, quota 50000.
    container.linux.resources.CopyFrom(pb.LinuxContainerResources(
        cpu_period=100000, cpu_quota=50000, cpu_shares=512, memory_limit_in_bytes=64 << 20, oom_score_adj=500,
        hugepage_limits=[pb.HugepageLimit(page_size="2MB", limit=0)]))
    pid = run(cri, sandbox_id, config, container)
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "500"
    if v2():
        assert cgroup_file(pid, "memory", "memory.max") == str(64 << 20)
        assert cgroup_file(pid, "cpu", "cpu.max") == "50000 100000"
    else:
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_file(pid, "cpu", "cpu.shares") == "512"

    cid = _cid(cri, "app")
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=cid, linux=pb.LinuxContainerResources(
        cpu_period=100000, cpu_quota=150000, cpu_shares=1024, memory_limit_in_bytes=128 << 20)))
    if v2():
        assert cgroup_file(pid, "memory", "memory.max") == str(128 << 20)
        assert cgroup_file(pid, "cpu", "cpu.max") == "150000 100000"
    else:
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(128 << 20)
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "150000"
        assert cgroup_file(pid, "cpu", "cpu.shares") == "1024"
    assert code_of(lambda: rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=cid, linux=pb.LinuxContainerResources(cpuset_cpus="zero")))) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id="nope", linux=pb.LinuxContainerResources()))) == grpc.StatusCode.NOT_FOUND


def test_stats_of_containers_and_sandboxes(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    import socket

    from tests.integration.helpers import poll

    pb, rt = cri.pb, cri.rt
    config = sandbox(pb, tmp_path / "logs", name="stats")
    config.labels["app"] = "stats"
    sandbox_id = run_sandbox(cri, config)
    cri.node.remember_pids()
    container = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="busybox"), labels={"tier": "x"},
        command=["sh", "-c", "dd if=/dev/zero of=/tmp/f bs=1M count=2; i=0; "
                             "while [ $i -lt 30000 ]; do i=$((i+1)); done; touch /tmp/done; sleep 3600"],
        log_path="app/0.log")
    run(cri, sandbox_id, config, container)
    cid = _cid(cri, "app")
    poll("the container's work done", lambda: rt.ExecSync(pb.ExecSyncRequest(
        container_id=cid, cmd=["test", "-e", "/tmp/done"], timeout=10)).exit_code == 0)

    st = rt.ContainerStats(pb.ContainerStatsRequest(container_id=cid)).stats
    assert st.attributes.id == cid and st.attributes.metadata.name == "app" and dict(st.attributes.labels) == {"tier": "x"}
    assert st.cpu.usage_core_nano_seconds.value > 0 and st.cpu.timestamp > 0
    assert 0 < st.memory.working_set_bytes.value <= st.memory.usage_bytes.value
    assert st.writable_layer.used_bytes.value >= 2 << 20, st.writable_layer
    assert st.writable_layer.inodes_used.value >= 2

    listed = rt.ListContainerStats(pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(
        pod_sandbox_id=sandbox_id, label_selector={"tier": "x"}))).stats
    assert [s.attributes.id for s in listed] == [cid]
    assert rt.ListContainerStats(pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(
        label_selector={"tier": "y"}))).stats == []

    ip = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)).status.network.ip
    with socket.socket() as s:  # a connection refused by the pod: packets both ways on its eth0
        s.settimeout(5)
        try:
            s.connect((ip, 9))
        except OSError:
            pass
    pst = rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=sandbox_id)).stats
    assert pst.attributes.id == sandbox_id and pst.attributes.metadata.name == "stats"
    assert pst.linux.cpu.usage_core_nano_seconds.value >= st.cpu.usage_core_nano_seconds.value
    assert pst.linux.process.process_count.value >= 1
    eth0 = pst.linux.network.default_interface
    assert eth0.name == "eth0" and eth0.rx_bytes.value > 0 and eth0.tx_bytes.value > 0, eth0
    assert [c.attributes.id for c in pst.linux.containers] == [cid]
    listed_pods = rt.ListPodSandboxStats(pb.ListPodSandboxStatsRequest(
        filter=pb.PodSandboxStatsFilter(label_selector={"app": "stats"}))).stats
    assert [p.attributes.id for p in listed_pods] == [sandbox_id]
    assert code_of(lambda: rt.ContainerStats(pb.ContainerStatsRequest(container_id="nope"))) == grpc.StatusCode.NOT_FOUND


def test_reopen_container_log_after_the_kubelet_rotated_it(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    from tests.integration.helpers import poll

    pb, rt = cri.pb, cri.rt
    logs = tmp_path / "logs"
    config = sandbox(pb, logs, name="logs")
    sandbox_id = run_sandbox(cri, config)
    cri.node.remember_pids()
    container = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="busybox"), log_path="app/0.log",
        command=["sh", "-c", "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done"])
    run(cri, sandbox_id, config, container)
    cid = _cid(cri, "app")
    log = logs / "app" / "0.log"
    poll("a first line", lambda: log.exists() and "line-1" in log.read_text())
    # The kubelet's rotation: rename, then ReopenContainerLog; the output goes on in a new file at the path.
    rotated = logs / "app" / "0.log.20260101-000000"
    log.rename(rotated)
    rt.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=cid))
    poll("a line in the new file", lambda: log.exists() and " stdout F line-" in log.read_text())
    first_new = int(log.read_text().split("line-")[1].split()[0])
    last_old = int(rotated.read_text().rstrip().rsplit("line-", 1)[1])
    assert first_new == last_old + 1, (last_old, first_new)
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
    assert code_of(lambda: rt.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=cid))) == \
        grpc.StatusCode.FAILED_PRECONDITION


def test_container_events_stream_as_they_happen(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    import threading

    from tests.integration.helpers import poll

    pb, rt = cri.pb, cri.rt
    config = sandbox(pb, tmp_path / "logs", name="events")
    sandbox_id = run_sandbox(cri, config)
    cri.node.remember_pids()
    stream = rt.GetContainerEvents(pb.GetEventsRequest())
    seen: list[Any] = []

    def read() -> None:
        try:
            for event in stream:
                seen.append(event)
        except grpc.RpcError:
            pass  # cancelled at the end of the test

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        container = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="busybox"),
                                       command=["sleep", "3600"], log_path="app/0.log")
        # Events flow from the moment the edge subscribed, which the client cannot see: probe containers are
        # created and removed until one's event arrives.
        probes = iter(range(1, 1000))

        def subscribed() -> bool:
            probe = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="probe", attempt=next(probes)),
                                       image=pb.ImageSpec(image="busybox"), command=["true"])
            pid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=probe)).container_id
            rt.RemoveContainer(pb.RemoveContainerRequest(container_id=pid))
            return bool(seen)

        poll("the stream subscribed", subscribed)
        cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=container)).container_id

        def mine() -> list[Any]:
            return [e for e in seen if e.container_id == cid]

        poll("the created event", lambda: len(mine()) >= 1)
        rt.StartContainer(pb.StartContainerRequest(container_id=cid))
        poll("the started event", lambda: len(mine()) >= 2)
        rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
        poll("four events", lambda: len(mine()) >= 4)
    finally:
        stream.cancel()
        reader.join(timeout=20)
    ours = mine()
    kinds = [e.container_event_type for e in ours]
    assert kinds == [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT, pb.CONTAINER_STOPPED_EVENT,
                     pb.CONTAINER_DELETED_EVENT], ours
    assert all(e.pod_sandbox_status.id == sandbox_id and e.created_at > 0 for e in ours)
    started = ours[1]
    assert [s.state for s in started.containers_statuses] == [pb.CONTAINER_RUNNING]
    assert [s.state for s in ours[2].containers_statuses] == [pb.CONTAINER_EXITED]
    assert list(ours[3].containers_statuses) == []
    assert created_before_started(ours)


def created_before_started(events: list[Any]) -> bool:
    stamps = [e.created_at for e in events]
    return stamps == sorted(stamps)


@pytest.mark.parametrize("node", ["own-images"], indirect=True)
def test_pull_image_with_the_requests_auth(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    import base64
    import urllib.request

    from tests import imagekit as k
    from tests.registry_fixture import missing_tools, push_layout, start_registry

    if why := missing_tools():
        pytest.skip(why)
    pb = cri.pb
    layout = k.write_layout(tmp_path / "layout", [k.ImageSpec("p:v1", [k.busybox_layer(tmp_path)],
                                                               cmd=["sleep", "3600"], architecture=k.host_arch())])

    def pull(image: str, auth: Any) -> Any:
        return cri.img.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=image), auth=auth))

    basic = start_registry(tmp_path / "basic", auth="basic", users={"alice": "s3cret"})
    try:
        push_layout(basic, layout, "p:v1", "private/p:v1", creds=("alice", "s3cret"))
        image = f"{basic.host}/private/p:v1"
        # The node has no credentials of its own: without the request's, the registry refuses.
        assert code_of(lambda: pull(image, None)) != grpc.StatusCode.OK
        wrong = pb.AuthConfig(username="alice", password="nope")
        with pytest.raises(grpc.RpcError) as refused:
            pull(image, wrong)
        assert "nope" not in str(refused.value.details()) and "s3cret" not in str(refused.value.details())
        # An auth for another registry is not sent to this one (containerd does the same).
        assert code_of(lambda: pull(image, pb.AuthConfig(username="alice", password="s3cret",
                                                         server_address="other.example:5000"))) != grpc.StatusCode.OK
        ref = pull(image, pb.AuthConfig(username="alice", password="s3cret", server_address=f"https://{basic.host}"))
        assert ref.image_ref.startswith("sha256:")
        status = cri.img.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=image)))
        assert status.image.id == ref.image_ref
        cri.img.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=image)))
        encoded = base64.b64encode(b"alice:s3cret").decode()
        assert pull(image, pb.AuthConfig(auth=encoded)).image_ref == ref.image_ref
    finally:
        basic.stop()

    token = start_registry(tmp_path / "token", auth="token", users={"bob": "pw"}, anonymous_pull=False)
    try:
        push_layout(token, layout, "p:v1", "private/q:v1", creds=("bob", "pw"))
        image = f"{token.host}/private/q:v1"
        assert token.token_server is not None
        # A registry token the kubelet got elsewhere (here: from the token server, as bob) goes to the registry.
        url = f"{token.token_server.realm}?service=pyrunc-test-registry&scope=repository:private/q:pull"
        ask = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(b"bob:pw").decode()})
        with urllib.request.urlopen(ask, timeout=10) as answer:  # noqa: S310 - loopback
            registry_token = json.loads(answer.read())["token"]
        assert code_of(lambda: pull(image, None)) != grpc.StatusCode.OK
        assert pull(image, pb.AuthConfig(registry_token=registry_token)).image_ref.startswith("sha256:")
        assert code_of(lambda: pull(image, pb.AuthConfig(identity_token="refresh"))) == grpc.StatusCode.UNIMPLEMENTED
    finally:
        token.stop()


def test_the_kubelets_cgroup_parent_holds_the_containers(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    import secrets

    pb, rt = cri.pb, cri.rt
    top = f"pyrunc-test-kubelet-{secrets.token_hex(3)}"
    parent = f"/{top}/kubepods/burstable/pod6f1c9a52"
    config = sandbox(pb, tmp_path / "logs", name="cg")
    config.linux.cgroup_parent = parent
    try:
        sandbox_id = run_sandbox(cri, config)
        cri.node.remember_pids()
        container = sleeper(pb, "app", pb.LinuxContainerSecurityContext())
        container.linux.resources.CopyFrom(pb.LinuxContainerResources(cpu_period=100000, cpu_quota=20000,
                                                                      memory_limit_in_bytes=32 << 20))
        pid = run(cri, sandbox_id, config, container)
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        assert f"{parent}/app\n" in cgroup, cgroup
        limit = cgroup_file(pid, "memory", "memory.max" if v2() else "memory.limit_in_bytes")
        assert limit == str(32 << 20)
        # A restarted supervisor finds the pod's group again (the pod's cgroup mark holds it).
        import signal

        from tests.integration.helpers import alive, poll

        daemon = cri.node.daemon_pid()
        os.kill(daemon, signal.SIGKILL)
        poll("the supervisor gone", lambda: not alive(daemon))
        stats = rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=sandbox_id)).stats
        cri.node._remember_daemon()
        assert stats.linux.memory.working_set_bytes.value > 0, "the pod's stats are read in the kubelet's group"
        assert [c.memory.working_set_bytes.value > 0 for c in stats.linux.containers] == [True]
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
        groups = kubelet_groups(parent)
        assert groups, "the kubelet's pod group stays: it is the kubelet's to remove"
        assert not any(g.joinpath("app").exists() for g in groups), "the container's group is removed"
    finally:
        for group in kubelet_groups(parent):  # the kubelet's part, removed as the kubelet would
            while group.name != top:
                group.rmdir()
                group = group.parent
            group.rmdir()
    bad = sandbox(pb, tmp_path / "logs", name="slice")
    bad.linux.cgroup_parent = "kubepods-burstable-pod1.slice"
    assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=bad))) == grpc.StatusCode.UNIMPLEMENTED


def kubelet_groups(parent: str) -> list[Path]:
    """The group `parent` in each cgroup hierarchy that has it (v1: one per mounted controller; v2: one)."""
    if v2():
        candidates = [Path("/sys/fs/cgroup") / parent.lstrip("/")]
    else:
        candidates = [h / parent.lstrip("/") for h in Path("/sys/fs/cgroup").iterdir() if h.is_dir() and not h.is_symlink()]
    return [c for c in candidates if c.is_dir()]
