"""pyrunc/cri: the wire format of api.proto against bytes derived by hand from the protobuf encoding rules,
the RPCs declared, and the translation of CRI requests into pyrunc pods (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.cri import translate as tr
from pyrunc.spec.load import pod_from_dict

pytest.importorskip("google.protobuf")
pytest.importorskip("grpc_tools")


@pytest.fixture(scope="module")
def pb() -> Any:
    from pyrunc.cri import codegen

    codegen.ensure()
    from pyrunc.cri import api_pb2

    return api_pb2


# Encoding rules used below: a field's key is (number << 3) | wire type; wire type 0 is a varint, 2 a
# length-delimited value (strings, bytes, messages) followed by its length as a varint.
def test_version_request_bytes(pb: Any) -> None:
    assert pb.VersionRequest(version="v1").SerializeToString() == b"\x0a\x02v1"  # field 1, type 2


def test_version_response_bytes(pb: Any) -> None:
    msg = pb.VersionResponse(version="0.1.0", runtime_name="pyrunc", runtime_version="0.1.0", runtime_api_version="v1")
    want = b"\x0a\x050.1.0" + b"\x12\x06pyrunc" + b"\x1a\x050.1.0" + b"\x22\x02v1"  # fields 1-4, type 2
    assert msg.SerializeToString() == want
    assert pb.VersionResponse.FromString(want) == msg


def test_pod_sandbox_metadata_bytes(pb: Any) -> None:
    msg = pb.PodSandboxMetadata(name="web", uid="u1", namespace="default", attempt=2)
    want = b"\x0a\x03web" + b"\x12\x02u1" + b"\x1a\x07default" + b"\x20\x02"  # attempt: field 4, varint
    assert msg.SerializeToString() == want


def test_nested_message_and_enum_bytes(pb: Any) -> None:
    # PodSandboxFilter{state: PodSandboxStateValue{state: SANDBOX_NOTREADY}}: field 2 holds field 1 = 1.
    msg = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY))
    assert msg.SerializeToString() == b"\x12\x02\x08\x01"
    # ExecSyncRequest{container_id: "c", cmd: ["ls"], timeout: 300}: 300 = 0b10_0101100 -> varint ac 02.
    assert pb.ExecSyncRequest(container_id="c", cmd=["ls"], timeout=300).SerializeToString() == \
        b"\x0a\x01c" + b"\x12\x02ls" + b"\x18\xac\x02"


def test_fields_pyrunc_does_not_declare_are_skipped(pb: Any) -> None:
    # A kubelet's PodSandboxConfig with `windows` (field 9, a message) and Mount's uidMappings (field 6) set.
    meta = b"\x0a\x03web"
    data = b"\x0a" + bytes([len(meta)]) + meta + b"\x4a\x02\x0a\x00"
    cfg = pb.PodSandboxConfig.FromString(data)
    assert cfg.metadata.name == "web"
    mount = pb.Mount.FromString(b"\x0a\x02/d" + b"\x32\x02\x08\x01" + b"\x18\x01")
    assert (mount.container_path, mount.readonly) == ("/d", True)


UPSTREAM_RUNTIME = (
    "Version RunPodSandbox StopPodSandbox RemovePodSandbox PodSandboxStatus ListPodSandbox CreateContainer "
    "StartContainer StopContainer RemoveContainer ListContainers ContainerStatus UpdateContainerResources "
    "ReopenContainerLog ExecSync Exec Attach PortForward ContainerStats ListContainerStats PodSandboxStats "
    "ListPodSandboxStats UpdateRuntimeConfig Status CheckpointContainer GetContainerEvents ListMetricDescriptors "
    "ListPodSandboxMetrics RuntimeConfig").split()
UPSTREAM_IMAGE = "ListImages ImageStatus PullImage RemoveImage ImageFsInfo".split()


def test_every_rpc_of_both_services_is_declared(pb: Any) -> None:
    services = pb.DESCRIPTOR.services_by_name
    assert pb.DESCRIPTOR.package == "runtime.v1"
    assert [m.name for m in services["RuntimeService"].methods] == UPSTREAM_RUNTIME
    assert [m.name for m in services["ImageService"].methods] == UPSTREAM_IMAGE
    events = services["RuntimeService"].methods_by_name["GetContainerEvents"]
    assert events.output_type.name == "ContainerEventResponse"


def test_generated_code_is_current() -> None:
    from pyrunc.cri import codegen

    codegen.ensure()
    assert codegen.current()
    assert codegen.main(["--check"]) == 0


# ------------------------------------------------------------------------------ translation
def config(**extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "uid": "u", "namespace": "prod", "attempt": 0}, **extra}


def test_sandbox_manifest_namespaces_hostname_and_dns() -> None:
    cfg = config(hostname="web-0", dns_config={"servers": ["10.96.0.10"], "searches": ["svc.local"],
                                               "options": ["ndots:5", "edns0"]},
                 linux={"security_context": {"namespace_options": {"pid": "CONTAINER"}}})
    manifest = tr.sandbox_manifest(cfg, "id1", "11111111-2222-3333-4444-555555555555")
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "web" and manifest["metadata"]["namespace"] == "prod"
    assert manifest["metadata"]["annotations"] == {tr.SANDBOX_ANNOTATION: "id1"}
    assert (spec["hostNetwork"], spec["hostPID"], spec["hostIPC"], spec["shareProcessNamespace"]) == \
        (False, False, False, False)
    assert spec["hostname"] == "web-0" and spec["dnsPolicy"] == "None"
    assert spec["dnsConfig"]["options"] == [{"name": "ndots", "value": "5"}, {"name": "edns0"}]
    pod = pod_from_dict(manifest, allow_no_containers=True)  # what the supervisor runs
    assert not pod.spec.containers and pod.spec.hostname == "web-0"


def test_sandbox_manifest_host_namespaces_and_attempt() -> None:
    cfg = config(linux={"security_context": {"namespace_options": {"network": "NODE", "pid": "NODE", "ipc": "NODE"}}})
    cfg["metadata"]["attempt"] = 2
    m = tr.sandbox_manifest(cfg, "id", "u")
    assert m["metadata"]["name"] == "web.2"
    assert (m["spec"]["hostNetwork"], m["spec"]["hostPID"], m["spec"]["hostIPC"]) == (True, True, True)
    assert m["spec"]["dnsPolicy"] == "Default"  # no DNS config: the host's resolv.conf
    # CRI's default PID mode is POD (the kubelet sends CONTAINER for ordinary pods): one PID namespace.
    assert tr.sandbox_manifest(config(), "id", "u")["spec"]["shareProcessNamespace"] is True


def test_sandbox_errors_name_the_field() -> None:
    with pytest.raises(tr.CriError, match=r"^config.metadata.name: Required value$"):
        tr.sandbox_manifest({"metadata": {"namespace": "x"}}, "id", "u")
    bad = config(linux={"security_context": {"namespace_options": {"network": "CONTAINER"}}})
    with pytest.raises(tr.CriError) as info:
        tr.sandbox_manifest(bad, "id", "u")
    assert info.value.code == "UNIMPLEMENTED"
    with pytest.raises(tr.CriError, match=r"port_mappings\[0\]"):
        tr.port_mappings({"port_mappings": [{"host_port": 70000, "container_port": 80}]})


def test_port_mappings_keep_those_with_a_host_port() -> None:
    cfg = {"port_mappings": [{"container_port": 80}, {"protocol": "UDP", "container_port": 53, "host_port": 5353,
                                                      "host_ip": "127.0.0.1"}]}
    assert tr.port_mappings(cfg) == [(5353, 53, "UDP", "127.0.0.1")]


def test_container_manifest() -> None:
    cfg = {"metadata": {"name": "app", "attempt": 1}, "image": {"image": "busybox"}, "command": ["sh"],
           "args": ["-c", "true"], "working_dir": "/w", "envs": [{"key": "A", "value": "1"}],
           "mounts": [{"container_path": "/d", "host_path": "/srv", "readonly": True}], "tty": True}
    name = tr.container_name(cfg["metadata"])
    container, volumes = tr.container_manifest(cfg, name, 3)
    assert name == "app-1"
    assert container == {"name": "app-1", "image": "busybox", "imagePullPolicy": "Never", "command": ["sh"],
                         "args": ["-c", "true"], "workingDir": "/w", "env": [{"name": "A", "value": "1"}],
                         "tty": True, "volumeMounts": [{"name": "cri-mount-3", "mountPath": "/d", "readOnly": True}]}
    assert volumes == [{"name": "cri-mount-3", "hostPath": {"path": "/srv"}}]
    with pytest.raises(tr.CriError, match=r"^config.image.image: Required value$"):
        tr.container_manifest({"metadata": {"name": "x"}}, "x", 0)


def test_label_selector_and_status_messages() -> None:
    assert tr.selected({"a": "1", "b": "2"}, {"a": "1"}) and not tr.selected({"a": "1"}, {"a": "2"})
    assert tr.selected({}, {})
    record = {"id": "c1", "state": "EXITED", "createdAt": 1.5, "startedAt": 2.0, "finishedAt": 3.25, "exitCode": 143,
              "reason": "Error", "imageID": "sha256:x", "logPath": "/l"}
    facts = {"metadata": {"name": "app", "attempt": 0}, "image": "busybox", "labels": {"k": "v"}}
    status = tr.container_status(record, facts)
    assert status["state"] == "CONTAINER_EXITED" and status["exit_code"] == 143
    assert (status["created_at"], status["finished_at"]) == (1_500_000_000, 3_250_000_000)
    assert tr.container_message(record, facts, "s1")["pod_sandbox_id"] == "s1"
    running = tr.container_status({**record, "state": "RUNNING"}, facts)
    assert "exit_code" not in running
