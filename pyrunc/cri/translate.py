"""CRI requests as pyrunc pods, and pyrunc's records as CRI answers. Pure: no grpc, no files.

The edge (server.py) hands the supervisor each CRI request as the JSON mapping of its protobuf message
(google.protobuf.json_format with the proto field names: `pod_sandbox_id`, `log_directory`; enums by name;
fields at their default value left out, as protobuf does on the wire). This module turns a sandbox's
PodSandboxConfig into the Pod the runtime service runs (namespaces, hostname, DNS, volumes), each
ContainerConfig into a container of that pod, and the runtime's records into CRI's status messages.

A CRI pod is a pyrunc pod in the CRI's namespace, named after the kubelet's pod (with the attempt when it
is not the first: the kubelet keeps a stopped sandbox while it runs the next). Its containers are named
after CRI's (name, attempt): the kubelet keeps an exited container while the next attempt runs.
"""

from __future__ import annotations

from typing import Any

from pyrunc.errors import PyruncError

SANDBOX_ANNOTATION = "cri.pyrunc.io/sandbox-id"  # the marker of a CRI-managed pod in its pod.json
NS = 1_000_000_000
Mapping = dict[str, Any]


class CriError(PyruncError):
    """A CRI request pyrunc cannot serve as asked; `code` names the gRPC status the edge answers with."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code = code


def not_found(what: str) -> CriError:
    return CriError(f"{what} not found", "NOT_FOUND")


def pod_name(meta: Mapping) -> str:
    name = str(meta.get("name") or "")
    attempt = int(meta.get("attempt") or 0)
    if not name:
        raise CriError("config.metadata.name: Required value")
    return name if attempt == 0 else f"{name}.{attempt}"


def container_name(meta: Mapping) -> str:
    name = str(meta.get("name") or "")
    attempt = int(meta.get("attempt") or 0)
    if not name:
        raise CriError("config.metadata.name: Required value")
    return name if attempt == 0 else f"{name}-{attempt}"


def namespace_modes(config: Mapping) -> dict[str, str]:
    """network, pid, ipc -> POD | CONTAINER | NODE | TARGET (CRI's default, POD, when left out)."""
    options = config.get("linux", {}).get("security_context", {}).get("namespace_options", {})
    return {kind: str(options.get(kind, "POD")) for kind in ("network", "pid", "ipc")}


def sandbox_manifest(config: Mapping, sandbox_id: str, uid: str) -> Mapping:
    """The Pod of a PodSandboxConfig, with no container yet; `uid` is its pyrunc uid (its cgroup is pod<uid>)."""
    meta = config.get("metadata", {})
    modes = namespace_modes(config)
    for kind, mode in modes.items():
        if mode in ("CONTAINER", "TARGET") and kind != "pid":
            raise CriError(f"config.linux.security_context.namespace_options.{kind}: {mode} is not supported",
                           "UNIMPLEMENTED")
    if modes["pid"] == "TARGET":
        raise CriError("config.linux.security_context.namespace_options.pid: TARGET is not supported yet",
                       "UNIMPLEMENTED")
    spec: Mapping = {
        "containers": [],
        "restartPolicy": "Never",  # the kubelet restarts containers through CRI; pyrunc's worker does not
        "hostNetwork": modes["network"] == "NODE",
        "hostPID": modes["pid"] == "NODE",
        "hostIPC": modes["ipc"] == "NODE",
        "shareProcessNamespace": modes["pid"] == "POD",
    }
    hostname = str(config.get("hostname") or "")
    if hostname and modes["network"] != "NODE":
        spec["hostname"] = hostname
    dns = config.get("dns_config") or {}
    if dns.get("servers"):
        options = []
        for opt in dns.get("options", []):
            name, sep, value = str(opt).partition(":")
            options.append({"name": name, "value": value} if sep else {"name": name})
        spec["dnsPolicy"] = "None"
        spec["dnsConfig"] = {"nameservers": list(dns["servers"]), "searches": list(dns.get("searches", [])),
                             "options": options}
    else:
        spec["dnsPolicy"] = "Default"  # the host's resolv.conf, as the kubelet's "Default" policy sends it
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(meta), "namespace": str(meta.get("namespace") or "default"),
                     "uid": uid, "annotations": {SANDBOX_ANNOTATION: sandbox_id}},
        "spec": spec,
    }


def port_mappings(config: Mapping) -> list[tuple[int, int, str, str]]:
    """(host port, container port, protocol, host ip) of the sandbox's port mappings with a host port."""
    out = []
    for i, p in enumerate(config.get("port_mappings", [])):
        host, inner = int(p.get("host_port") or 0), int(p.get("container_port") or 0)
        if not host:
            continue  # 0: no host port (CRI: not a dynamic one)
        if not 0 < host < 65536 or not 0 < inner < 65536:
            raise CriError(f"config.port_mappings[{i}]: ports must be 1-65535")
        out.append((host, inner, str(p.get("protocol") or "TCP"), str(p.get("host_ip") or "")))
    return out


def container_manifest(config: Mapping, name: str, first_volume: int) -> tuple[Mapping, list[Mapping]]:
    """The pod's container for a ContainerConfig (named `name`) and the hostPath volumes of its mounts,
    numbered from `first_volume`."""
    image = str(config.get("image", {}).get("image") or "")
    if not image:
        raise CriError("config.image.image: Required value")
    container: Mapping = {"name": name, "image": image, "imagePullPolicy": "Never"}
    if config.get("command"):
        container["command"] = [str(a) for a in config["command"]]
    if config.get("args"):
        container["args"] = [str(a) for a in config["args"]]
    if config.get("working_dir"):
        container["workingDir"] = str(config["working_dir"])
    env = [{"name": str(kv.get("key", "")), "value": str(kv.get("value", ""))} for kv in config.get("envs", [])]
    if env:
        container["env"] = env
    for flag, key in (("stdin", "stdin"), ("stdin_once", "stdinOnce"), ("tty", "tty")):
        if config.get(flag):
            container[key] = True
    volumes, mounts = [], []
    for i, m in enumerate(config.get("mounts", [])):
        host, inner = str(m.get("host_path") or ""), str(m.get("container_path") or "")
        if not host or not inner:
            raise CriError(f"config.mounts[{i}]: host_path and container_path are required (image mounts: not yet)")
        if m.get("propagation", "PROPAGATION_PRIVATE") != "PROPAGATION_PRIVATE":
            raise CriError(f"config.mounts[{i}].propagation: {m['propagation']} is not supported yet", "UNIMPLEMENTED")
        vol = f"cri-mount-{first_volume + i}"
        volumes.append({"name": vol, "hostPath": {"path": host}})
        mounts.append({"name": vol, "mountPath": inner, **({"readOnly": True} if m.get("readonly") else {})})
    if mounts:
        container["volumeMounts"] = mounts
    return container, volumes


def selected(labels: Mapping, selector: Mapping) -> bool:
    """CRI's label selector: every key of it with the same value (match labels only, ANDed)."""
    return all(labels.get(k) == v for k, v in selector.items())


def nanos(seconds: float) -> int:
    return int(seconds * NS)


CONTAINER_STATES = {"CREATED": "CONTAINER_CREATED", "RUNNING": "CONTAINER_RUNNING", "EXITED": "CONTAINER_EXITED",
                    "UNKNOWN": "CONTAINER_UNKNOWN"}


def container_message(record: Mapping, facts: Mapping, sandbox_id: str) -> Mapping:
    """CRI's Container (ListContainers) from a container.json record and the CRI facts of the container."""
    return {
        "id": record["id"], "pod_sandbox_id": sandbox_id, "metadata": facts["metadata"],
        "image": {"image": facts["image"]}, "image_ref": record.get("imageID", ""),
        "image_id": record.get("imageID", ""),
        "state": CONTAINER_STATES.get(str(record.get("state")), "CONTAINER_UNKNOWN"),
        "created_at": nanos(float(record.get("createdAt") or 0)),
        "labels": facts.get("labels", {}), "annotations": facts.get("annotations", {}),
    }


def container_status(record: Mapping, facts: Mapping) -> Mapping:
    """CRI's ContainerStatus from a container.json record and the CRI facts of the container."""
    state = CONTAINER_STATES.get(str(record.get("state")), "CONTAINER_UNKNOWN")
    out = {
        "id": record["id"], "metadata": facts["metadata"], "state": state,
        "created_at": nanos(float(record.get("createdAt") or 0)),
        "started_at": nanos(float(record.get("startedAt") or 0)),
        "finished_at": nanos(float(record.get("finishedAt") or 0)),
        "image": {"image": facts["image"]}, "image_ref": record.get("imageID", ""),
        "image_id": record.get("imageID", ""),
        "labels": facts.get("labels", {}), "annotations": facts.get("annotations", {}),
        "mounts": facts.get("mounts", []), "log_path": record.get("logPath", ""),
    }
    if state in ("CONTAINER_EXITED", "CONTAINER_UNKNOWN"):
        out.update(exit_code=int(record.get("exitCode") or 0), reason=str(record.get("reason") or ""),
                   message=str(record.get("message") or ""))
    return out
