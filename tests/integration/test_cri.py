"""`pyrunc cri` driven as the kubelet drives a runtime: a Python CRI client (grpcio, the same api.proto) against a
real `pyrunc cri` process on a test node root, every step looked at from the host."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, Node, alive, node, ns_id, poll  # noqa: F401

grpc = pytest.importorskip("grpc")
pytestmark = [pytest.mark.root, pytest.mark.network]


class Cri:
    """The stubs of one `pyrunc cri` process."""

    def __init__(self, node: Node, path: str) -> None:
        from pyrunc.cri import api_pb2, api_pb2_grpc

        self.pb = api_pb2
        self.node = node
        self.channel = grpc.insecure_channel(f"unix://{path}")
        self.rt = api_pb2_grpc.RuntimeServiceStub(self.channel)
        self.img = api_pb2_grpc.ImageServiceStub(self.channel)


@pytest.fixture
def cri(node: Node, tmp_path: Path) -> Iterator[Cri]:  # noqa: F811
    from pyrunc.cri import codegen

    codegen.ensure()
    path = str(tmp_path / "run" / "cri.sock")
    proc = subprocess.Popen([*PYRUNC, "--root", node.root, "cri", "--listen", f"unix://{path}"], cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        poll("the CRI socket", lambda: os.path.exists(path) or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()
        client = Cri(node, path)
        try:
            yield client
        finally:
            remove_all(client)
            client.channel.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        node._remember_daemon()
        assert proc.returncode == 0, err
        assert not os.path.exists(path), "the socket is removed on the way out"


def remove_all(cri: Cri) -> None:
    """What a failed test left, removed as the kubelet would (pyrunc's own delete refuses CRI pods)."""
    pb = cri.pb
    for item in cri.rt.ListPodSandbox(pb.ListPodSandboxRequest()).items:
        cri.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=item.id))
        cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=item.id))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_config(pb: Any, logs: Path, port: int) -> Any:
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="web", uid="6f1c9a52-cri-test", namespace="default", attempt=0),
        hostname="web-host", log_directory=str(logs),
        dns_config=pb.DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"], options=["ndots:5"]),
        port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=80, host_port=port)],
        labels={"app": "web", "io.kubernetes.pod.name": "web"}, annotations={"note": "kept as given"},
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD))))


def code_of(call: Any) -> Any:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_version_status_and_runtime_config(cri: Cri) -> None:
    pb = cri.pb
    v = cri.rt.Version(pb.VersionRequest(version="v1"))
    assert (v.runtime_name, v.runtime_api_version) == ("pyrunc", "v1")
    conditions = {c.type: c.status for c in cri.rt.Status(pb.StatusRequest()).status.conditions}
    assert conditions == {"RuntimeReady": True, "NetworkReady": True}
    assert cri.rt.RuntimeConfig(pb.RuntimeConfigRequest()).linux.cgroup_driver == pb.CGROUPFS
    cri.rt.UpdateRuntimeConfig(pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr="10.244.0.0/24"))))
    # Declared, not served yet: UNIMPLEMENTED, as the kubelet expects of an optional call.
    assert code_of(lambda: cri.rt.CheckpointContainer(pb.CheckpointContainerRequest(container_id="x"))) == \
        grpc.StatusCode.UNIMPLEMENTED


def test_images(cri: Cri) -> None:
    pb = cri.pb
    status = cri.img.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="busybox")))
    assert status.image.id.startswith("sha256:") and "docker.io/library/busybox:latest" in status.image.repo_tags
    # The node is offline (the test configuration): the image it has is the answer, no registry is asked.
    pulled = cri.img.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image="busybox")))
    assert pulled.image_ref == status.image.id
    listed = cri.img.ListImages(pb.ListImagesRequest())
    assert status.image.id in [i.id for i in listed.images]
    missing = cri.img.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="no-such-image:v9")))
    assert not missing.HasField("image")
    cri.img.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image="no-such-image:v9")))  # idempotent
    fs = cri.img.ImageFsInfo(pb.ImageFsInfoRequest()).image_filesystems[0]
    assert fs.fs_id.mountpoint == cri.node.images_dir and fs.used_bytes.value > 0


def test_kubelet_lifecycle(cri: Cri, tmp_path: Path) -> None:
    pb, rt, n = cri.pb, cri.rt, cri.node
    logs = tmp_path / "kubelet-logs" / "default_web_6f1c9a52"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f").write_text("from-the-host\n")
    config = sandbox_config(pb, logs, free_port())

    sandbox_id = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    status = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)).status
    assert status.state == pb.SANDBOX_READY and status.metadata.name == "web"
    assert dict(status.annotations) == {"note": "kept as given"}
    assert ipaddress.ip_address(status.network.ip) in ipaddress.ip_network(n.subnet)
    assert any(Path("/sys/class/net", n.bridge, "brif").iterdir()), "the pod's veth is on pyrunc's bridge"
    n.remember_pids()

    def listed(**filt: Any) -> list[str]:
        return [s.id for s in rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(**filt))).items]

    assert listed() == [sandbox_id]
    assert listed(label_selector={"app": "web"}) == [sandbox_id] and listed(label_selector={"app": "db"}) == []
    assert listed(id=sandbox_id[:12]) == [sandbox_id]
    assert listed(state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY)) == []

    # pyrunc's own verbs: the pod is listed, and left alone.
    got = n.run("get", "pods")
    assert re.search(r"^web\s", got.stdout, re.M), got.stdout
    refused = n.run("delete", "pod", "web", check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "managed through CRI" in refused.stderr

    container = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app", attempt=0), image=pb.ImageSpec(image="busybox"),
        command=["sh", "-c"], args=["echo hello-out; echo hello-err >&2; trap 'exit 0' TERM; sleep 3600 & wait"],
        working_dir="/tmp", envs=[pb.KeyValue(key="FOO", value="bar")],
        mounts=[pb.Mount(container_path="/data", host_path=str(shared), readonly=True)],
        labels={"tier": "front"}, annotations={"io.kubernetes.container.hash": "abc"}, log_path="app/0.log")
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=container,
                                                       sandbox_config=config)).container_id
    assert rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status.state == pb.CONTAINER_CREATED
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert st.state == pb.CONTAINER_RUNNING and st.metadata.name == "app" and dict(st.labels) == {"tier": "front"}
    assert st.log_path == str(logs / "app" / "0.log")

    def containers(**filt: Any) -> list[str]:
        return [c.id for c in rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(**filt))).containers]

    assert containers() == [cid] and containers(pod_sandbox_id=sandbox_id) == [cid]
    assert containers(label_selector={"tier": "front"}) == [cid] and containers(label_selector={"tier": "x"}) == []
    assert containers(state=pb.ContainerStateValue(state=pb.CONTAINER_EXITED)) == []

    # From the host: the container shares the sandbox's network, IPC and UTS namespaces (pinned by the pod).
    pid = n.container_pid("web", "app")
    for kind in ("net", "ipc", "uts"):
        pinned = n.pod_dir("web") / "ns" / kind
        assert os.stat(f"/proc/{pid}/ns/{kind}").st_ino == os.stat(pinned).st_ino, kind
    assert ns_id(pid, "pid") != ns_id(os.getpid(), "pid")
    cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    assert f"pod{n.uid('web')}/app" in cgroup, cgroup

    # ExecSync: env, working dir, the read-only bind mount, hostname and DNS of the sandbox, the exit code.
    r = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo $FOO; pwd; cat /data/f; hostname; "
                                                                          "grep -c 10.96.0.10 /etc/resolv.conf; "
                                                                          "touch /data/g; echo err >&2; exit 3"],
                                       timeout=20))
    assert r.stdout.decode().split("\n")[:5] == ["bar", "/tmp", "from-the-host", "web-host", "1"], r
    assert r.exit_code == 3 and b"err" in r.stderr and b"Read-only file system" in r.stderr

    # The log, in the CRI format, where the kubelet asked.
    log_file = logs / "app" / "0.log"

    def both_lines() -> str | None:
        text = log_file.read_text() if log_file.exists() else ""
        return text if "hello-out" in text and "hello-err" in text else None

    text = poll("both lines in the log", both_lines)
    assert re.search(r"^\S+ stdout F hello-out$", text, re.M), text
    assert re.search(r"^\S+ stderr F hello-err$", text, re.M), text

    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=10))
    st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert st.state == pb.CONTAINER_EXITED and st.exit_code == 0 and st.finished_at > st.started_at > 0
    assert not alive(pid)
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=10))  # idempotent
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))  # idempotent
    assert containers() == []
    assert code_of(lambda: rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid))) == grpc.StatusCode.NOT_FOUND

    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
    status = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)).status
    assert status.state == pb.SANDBOX_NOTREADY
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))  # idempotent, as CRI asks
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id="0" * 64))
    assert code_of(lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))) == \
        grpc.StatusCode.NOT_FOUND
    assert listed() == []
    assert not n.pod_dir("web").exists()
    assert "hello-out" in log_file.read_text(), "the kubelet's log stays: it is the kubelet's to remove"
    # The node's teardown (the `node` fixture) checks nothing of the pod is left: processes, mounts, veths,
    # leases, cgroups, data.


def test_bad_requests_answer_one_error(cri: Cri, tmp_path: Path) -> None:
    pb, rt = cri.pb, cri.rt
    no_name = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(namespace="default"))
    assert code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=no_name))) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id="nope"))) == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: rt.StartContainer(pb.StartContainerRequest(container_id="nope"))) == grpc.StatusCode.NOT_FOUND
    assert not list(Path(cri.node.root, "pods").glob("*")) if Path(cri.node.root, "pods").exists() else True


def test_a_restarted_supervisor_adopts_cri_pods_without_policy(cri: Cri, tmp_path: Path) -> None:
    pb, rt, n = cri.pb, cri.rt, cri.node
    config = sandbox_config(pb, tmp_path / "kubelet-logs", free_port())
    sandbox_id = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    container = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="busybox"),
                                   command=["sh", "-c", "sleep 3600"], log_path="app/0.log")
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=container)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    one_shot = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="once"), image=pb.ImageSpec(image="busybox"),
                                  command=["sh", "-c", "exit 7"], log_path="once/0.log")
    once = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=one_shot)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=once))

    def exited() -> Any:
        st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=once)).status
        return st if st.state == pb.CONTAINER_EXITED else None

    started_at = poll("the one-shot container exited", exited).started_at
    pid = n.container_pid("web", "app")
    n._remember_daemon()
    daemon = n.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    poll("the supervisor gone", lambda: not alive(daemon))

    # The next call starts a supervisor, which adopts the CRI pod: the container still runs, the same one.
    st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    n._remember_daemon()
    assert st.state == pb.CONTAINER_RUNNING and alive(pid)
    assert n.daemon_pid() != daemon
    # No policy: the container that exited with 7 is not restarted (restarts are the kubelet's).
    done = exited()
    assert done is not None and done.exit_code == 7 and done.started_at == started_at
    assert [c.id for c in rt.ListContainers(pb.ListContainersRequest()).containers if c.id == once] == [once]
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
    assert not alive(pid)
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
    assert not n.pod_dir("web").exists()
