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

import re
from dataclasses import dataclass
from typing import Any

from pyrunc.cgroups.raw import RawResources
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
        "securityContext": sandbox_security(config),
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


def cgroup_parent(config: Mapping) -> str:
    """The kubelet's cgroup_parent of the sandbox ("" when none): a cgroupfs path, as the cgroupfs driver pyrunc
    declares (RuntimeConfig) makes the kubelet send; a systemd slice is refused."""
    parent = str((config.get("linux") or {}).get("cgroup_parent") or "")
    if not parent:
        return ""
    if parent.endswith(".slice"):
        raise CriError(f"config.linux.cgroup_parent: {parent!r} is a systemd slice; pyrunc's cgroup driver is "
                       "cgroupfs (kubelet --cgroup-driver=cgroupfs)", "UNIMPLEMENTED")
    parts = parent.strip("/").split("/")
    if not parent.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise CriError(f"config.linux.cgroup_parent: {parent!r} must be an absolute cgroupfs path")
    return parent


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


def container_devices(config: Mapping) -> list[tuple[str, str, str]]:
    """(host path, container path, permissions) of a ContainerConfig's devices. Permissions are letters of
    "rwm" (none given: "rwm", containerd's default); the runtime service looks the host node up (a missing
    one fails the creation). A host directory (containerd gives every node under it) is not served."""
    out = []
    for i, d in enumerate(config.get("devices", [])):
        host, inner = str(d.get("host_path") or ""), str(d.get("container_path") or "")
        perms = str(d.get("permissions") or "rwm")
        if not host.startswith("/"):
            raise CriError(f"config.devices[{i}].host_path: {host!r} must be an absolute path")
        if not inner.startswith("/") or ".." in inner.split("/"):
            raise CriError(f"config.devices[{i}].container_path: {inner!r} must be an absolute path without '..'")
        if set(perms) - set("rwm") or len(set(perms)) != len(perms):
            raise CriError(f"config.devices[{i}].permissions: {perms!r} must be letters of 'rwm'")
        out.append((host, inner, perms))
    return out


# ---------------------------------------------------------------------------------------------- security
def _int64(wrapper: Any) -> int | None:
    """An Int64Value (`{"value": "1000"}`: protobuf's JSON writes int64 as a string), None when not set."""
    if not isinstance(wrapper, dict):
        return None
    return int(wrapper.get("value") or 0)


def refuse_lsm(sc: Mapping, path: str) -> None:
    """SELinux labels and AppArmor profiles: pyrunc applies neither, so asking for one is refused. AppArmor's
    RuntimeDefault and Unconfined are accepted: on a node without AppArmor the runtime's default is nothing,
    which is containerd's behaviour there too."""
    selinux = sc.get("selinux_options") or {}
    if any(selinux.get(k) for k in ("user", "role", "type", "level")):
        raise CriError(f"{path}.selinux_options: pyrunc does not apply SELinux labels", "UNIMPLEMENTED")
    apparmor = sc.get("apparmor")
    if isinstance(apparmor, dict) and apparmor.get("profile_type") == "Localhost":
        raise CriError(f"{path}.apparmor: pyrunc does not load AppArmor profiles (Localhost)", "UNIMPLEMENTED")
    legacy = str(sc.get("apparmor_profile") or "")
    if legacy.startswith("localhost/"):
        raise CriError(f"{path}.apparmor_profile: pyrunc does not load AppArmor profiles ({legacy})", "UNIMPLEMENTED")


def seccomp_profile(sc: Mapping, path: str, profile_root: str) -> Mapping:
    """The pod API's seccompProfile for a CRI SecurityProfile (or the deprecated seccomp_profile_path).

    Not given at all is Unconfined, as CRI says and containerd does (the kubelet always sends one: Unconfined,
    or RuntimeDefault with its seccompDefault). A Localhost profile is an absolute path on the node; pyrunc's
    seccomp code loads profiles beneath its profile directory (`seccomp_profile_root`, the kubelet's
    <root-dir>/seccomp), so the path must lie under it and is handed on relative to it."""
    profile = sc.get("seccomp")
    if isinstance(profile, dict):
        kind = str(profile.get("profile_type") or "RuntimeDefault")
        ref = str(profile.get("localhost_ref") or "")
    else:
        legacy = str(sc.get("seccomp_profile_path") or "")
        if legacy in ("", "unconfined"):
            kind, ref = "Unconfined", ""
        elif legacy in ("runtime/default", "docker/default"):
            kind, ref = "RuntimeDefault", ""
        elif legacy.startswith("localhost/"):
            kind, ref = "Localhost", legacy[len("localhost"):]
        else:
            raise CriError(f"{path}.seccomp_profile_path: unknown profile {legacy!r}")
    if kind != "Localhost":
        return {"type": kind}
    root = profile_root.rstrip("/") + "/"
    if not ref.startswith("/"):
        raise CriError(f"{path}.seccomp.localhost_ref: {ref!r} must be an absolute path")
    if not ref.startswith(root) or ".." in ref.split("/"):
        raise CriError(f"{path}.seccomp.localhost_ref: {ref} is not under the node's seccomp profile directory "
                       f"{profile_root} (seccomp_profile_root of config.json)")
    return {"type": "Localhost", "localhostProfile": ref[len(root):]}


def sandbox_security(config: Mapping) -> Mapping:
    """The pod-level securityContext of a sandbox: its sysctls. The sandbox's own user, seccomp and read-only
    root are those of its pause process, which pyrunc does not run (its namespaces are pinned by files); the
    kubelet repeats what applies to containers in each container's context."""
    linux = config.get("linux") or {}
    refuse_lsm(linux.get("security_context") or {}, "config.linux.security_context")
    sysctls = [{"name": str(k), "value": str(v)} for k, v in sorted((linux.get("sysctls") or {}).items())]
    return {"sysctls": sysctls} if sysctls else {}


@dataclass(frozen=True)
class ContainerSecurity:
    """What a ContainerConfig's LinuxContainerSecurityContext becomes: the container's securityContext and
    the pod-level fields it carries (supplemental groups), in the pod API's JSON; and the masked and read-only
    paths as the request gives them (None: pyrunc's defaults, which are containerd's)."""

    container: Mapping
    pod: Mapping
    masked_paths: tuple[str, ...] | None
    readonly_paths: tuple[str, ...] | None
    username: str = ""  # run_as_username: the user the runtime looks up in the image's /etc/passwd
    ambient: tuple[str, ...] = ()  # add_ambient_capabilities, as named in the request


def container_security(config: Mapping, sandbox_config: Mapping, profile_root: str) -> ContainerSecurity:
    path = "config.linux.security_context"
    sc = (config.get("linux") or {}).get("security_context") or {}
    sandbox_sc = ((sandbox_config.get("linux") or {}).get("security_context") or {})
    refuse_lsm(sc, path)
    out: dict[str, Any] = {}
    privileged = bool(sc.get("privileged"))
    if privileged:
        # containerd: a privileged container needs a sandbox created privileged (the kubelet sets both).
        if not sandbox_sc.get("privileged"):
            raise CriError(f"{path}.privileged: no privileged container is allowed in a sandbox not created "
                           "privileged")
        out["privileged"] = True
    user, group = _int64(sc.get("run_as_user")), _int64(sc.get("run_as_group"))
    username = str(sc.get("run_as_username") or "")
    if user is not None and username:
        raise CriError(f"{path}: run_as_user and run_as_username are exclusive")
    if group is not None and user is None and not username:
        raise CriError(f"{path}.run_as_group: requires run_as_user or run_as_username")
    if user is not None:
        out["runAsUser"] = user
    if group is not None:
        out["runAsGroup"] = group
    if sc.get("readonly_rootfs"):
        out["readOnlyRootFilesystem"] = True
    if sc.get("no_new_privs"):
        out["allowPrivilegeEscalation"] = False  # pyrunc's rule: no_new_privs exactly when this is false
    caps = sc.get("capabilities") or {}
    ambient = tuple(str(c) for c in caps.get("add_ambient_capabilities", []))
    if caps.get("add_capabilities") or caps.get("drop_capabilities"):
        out["capabilities"] = {"add": [str(c) for c in caps.get("add_capabilities", [])],
                               "drop": [str(c) for c in caps.get("drop_capabilities", [])]}
    out["seccompProfile"] = seccomp_profile(sc, path, profile_root)
    options = sc.get("namespace_options") or {}
    for kind in ("network", "pid", "ipc"):
        # The container's namespaces are the sandbox's (the kubelet sends the same modes); pyrunc does not
        # give one container other namespaces than its pod's.
        want, have = str(options.get(kind, "POD")), namespace_modes(sandbox_config)[kind]
        if options and want != have:
            raise CriError(f"{path}.namespace_options.{kind}: {want} differs from the sandbox's {have}",
                           "UNIMPLEMENTED")
    pod: dict[str, Any] = {}
    if sc.get("supplemental_groups"):
        pod["supplementalGroups"] = [int(g) for g in sc["supplemental_groups"]]
    if sc.get("supplemental_groups_policy") == "Strict":
        pod["supplementalGroupsPolicy"] = "Strict"
    # Given lists replace the defaults; none given (empty on the wire) keeps them, as containerd does.
    masked = tuple(str(p) for p in sc.get("masked_paths", [])) or None
    readonly = tuple(str(p) for p in sc.get("readonly_paths", [])) or None
    for field, paths in (("masked_paths", masked), ("readonly_paths", readonly)):
        for i, p in enumerate(paths or ()):
            if not p.startswith("/") or ".." in p.split("/"):
                raise CriError(f"{path}.{field}[{i}]: {p!r} must be an absolute path without '..'")
    return ContainerSecurity(out, pod, None if privileged else masked, None if privileged else readonly,
                             username if user is None else "", ambient)


# ---------------------------------------------------------------------------------------------- resources
MIN_SHARES = 2  # the kubelet's cpu.shares of a container without a CPU request (MinShares)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def container_resources(linux: Mapping, path: str) -> tuple[Mapping, int | None]:
    """The pod API's `resources` (requests and limits) a LinuxContainerResources was computed from, and its
    oom_score_adj (None when not given).

    The kubelet turns requests and limits into cgroup values (shares = milli * 1024 / 1000, floored, at least
    2; quota = milli * period / 1000); pyrunc's cgroup code does the same arithmetic from requests and limits,
    so the request is taken back to them (rounded up: the floor lost less than one share, so the same value
    comes out again). A memory request is not carried by CRI (the kubelet decided the pod's QoS class).
    The fields with no Pod API form are raw_resources'."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    shares = int(linux.get("cpu_shares") or 0)
    if shares > MIN_SHARES:
        requests["cpu"] = f"{_ceil_div(shares * 1000, 1024)}m"
    quota, period = int(linux.get("cpu_quota") or 0), int(linux.get("cpu_period") or 0)
    if quota > 0:
        if period <= 0:
            raise CriError(f"{path}.cpu_period: required with cpu_quota")
        limits["cpu"] = f"{_ceil_div(quota * 1000, period)}m"
    memory = int(linux.get("memory_limit_in_bytes") or 0)
    if memory > 0:
        limits["memory"] = str(memory)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    oom = linux.get("oom_score_adj")
    return out, int(oom) if oom is not None else None


_CPU_LIST = re.compile(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$")
_PAGE_SIZE = re.compile(r"^[0-9]+[KMG]B$")


def raw_resources(linux: Mapping, path: str, cgroup_version: int) -> RawResources:
    """The LinuxContainerResources fields written into the cgroup as given: cpuset_cpus/cpuset_mems,
    memory_swap_limit_in_bytes (memory+swap, at least the memory limit; -1 unlimited), hugepage_limits (every
    one, zeros included, as containerd writes them; a page size the host lacks is an error only when its limit
    is not zero) and unified (cgroup v2 files; refused on a cgroup v1 node)."""
    for field in ("cpuset_cpus", "cpuset_mems"):
        value = str(linux.get(field) or "")
        if value and not _CPU_LIST.match(value):
            raise CriError(f"{path}.{field}: {value!r} is not a list such as 0-2,4")
    swap = int(linux.get("memory_swap_limit_in_bytes") or 0)
    memory = int(linux.get("memory_limit_in_bytes") or 0)
    if swap < -1 or (swap > 0 and memory > 0 and swap < memory):
        raise CriError(f"{path}.memory_swap_limit_in_bytes: {swap} must be -1 or at least memory_limit_in_bytes "
                       f"({memory}): it is memory plus swap")
    hugepages = []
    for i, h in enumerate(linux.get("hugepage_limits", [])):
        size = str(h.get("page_size") or "")
        if not _PAGE_SIZE.match(size):
            raise CriError(f"{path}.hugepage_limits[{i}].page_size: {size!r} is not a size such as 2MB")
        hugepages.append((size, int(h.get("limit") or 0)))
    unified = sorted((str(k), str(v)) for k, v in (linux.get("unified") or {}).items())
    if unified and cgroup_version != 2:
        raise CriError(f"{path}.unified: raw cgroup v2 files need a cgroup v2 node (this node's cgroups are "
                       f"v{cgroup_version or ' (none)'})", "UNIMPLEMENTED")
    for name, _ in unified:
        if not name or "/" in name or name.startswith(".") or name.startswith("cgroup."):
            raise CriError(f"{path}.unified: {name!r} is not a controller file of the container's group")
    return RawResources(str(linux.get("cpuset_cpus") or ""), str(linux.get("cpuset_mems") or ""), swap,
                        tuple(hugepages), tuple(unified))


# ---------------------------------------------------------------------------------------------- stats
def _u64(value: int) -> Mapping:
    return {"value": max(0, int(value))}


def usage_messages(stats: Any, timestamp: int) -> Mapping:
    """CpuUsage and MemoryUsage of a runtime ContainerStats (a container's cgroup or the pod's).
    usage_nano_cores is left out: the kubelet computes it from two samples when the runtime gives none."""
    return {
        "cpu": {"timestamp": timestamp, "usage_core_nano_seconds": _u64(stats.cpu_usage_ns)},
        "memory": {"timestamp": timestamp, "working_set_bytes": _u64(stats.memory_working_set),
                   "usage_bytes": _u64(stats.memory_usage), "rss_bytes": _u64(stats.memory_rss),
                   "page_faults": _u64(stats.page_faults), "major_page_faults": _u64(stats.major_page_faults)},
    }


def container_stats_message(container_id: str, facts: Mapping, stats: Any | None,
                            layer: tuple[str, int, int], timestamp: int) -> Mapping:
    """CRI's ContainerStats: attributes, CPU and memory (when its cgroup could be read) and the writable layer."""
    out: dict[str, Any] = {
        "attributes": {"id": container_id, "metadata": facts["metadata"], "labels": facts.get("labels", {}),
                       "annotations": facts.get("annotations", {})},
        "writable_layer": {"timestamp": timestamp, "fs_id": {"mountpoint": layer[0]},
                           "used_bytes": _u64(layer[1]), "inodes_used": _u64(layer[2])},
    }
    if stats is not None:
        out.update(usage_messages(stats, timestamp))
    return out


def sandbox_stats_message(attributes: Mapping, stats: Any | None, network: Mapping | None,
                          containers: list[Mapping], timestamp: int) -> Mapping:
    """CRI's PodSandboxStats: the pod cgroup's CPU, memory and process count, eth0's counters, its containers."""
    linux: dict[str, Any] = {"containers": containers}
    if stats is not None:
        linux.update(usage_messages(stats, timestamp))
        linux["process"] = {"timestamp": timestamp, "process_count": _u64(stats.process_count)}
    if network is not None:
        eth0 = {"name": "eth0", **{k: _u64(v) for k, v in network.items()}}
        linux["network"] = {"timestamp": timestamp, "default_interface": eth0}
    return {"attributes": attributes, "linux": linux}


# ---------------------------------------------------------------------------------------------- images
def pull_credentials(auth: Mapping, registry: str) -> Any:
    """The Credentials of a PullImage's AuthConfig for `registry` (host[:port] of the image), None when it
    gives none or names another registry (`server_address`: containerd ignores such an auth too).
    username/password, docker's `auth` (base64 "user:password") and `registry_token` (a bearer token for the
    registry) are honoured; `identity_token` (an OAuth refresh token) is refused: pyrunc's registry client
    does not speak that exchange."""
    from pyrunc.errors import ImageError
    from pyrunc.images.auth import Credentials, decode_auth, same_registry

    if not auth:
        return None
    server = str(auth.get("server_address") or "")
    if server and not same_registry(server, registry):
        return None
    if auth.get("username"):
        return Credentials(str(auth["username"]), str(auth.get("password") or ""))
    if auth.get("auth"):
        try:
            return decode_auth(str(auth["auth"]), "auth.auth")
        except ImageError as e:
            raise CriError(e.message) from None
    if auth.get("registry_token"):
        return Credentials("", "", registry_token=str(auth["registry_token"]))
    if auth.get("identity_token"):
        raise CriError("auth.identity_token: OAuth refresh tokens are not supported (give username and password, "
                       "or a registry_token)", "UNIMPLEMENTED")
    raise CriError("auth: no username, auth or registry_token")


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
    # The LinuxContainerResources in effect (the creation's, then each UpdateContainerResources'), and the
    # identity the process runs with, as containerd reports them.
    if facts.get("resources"):
        out["resources"] = {"linux": facts["resources"]}
    user = facts.get("user")
    if user:
        out["user"] = {"linux": {"uid": user["uid"], "gid": user["gid"],
                                 "supplemental_groups": list(user["supplemental_groups"])}}
    if state in ("CONTAINER_EXITED", "CONTAINER_UNKNOWN"):
        out.update(exit_code=int(record.get("exitCode") or 0), reason=str(record.get("reason") or ""),
                   message=str(record.get("message") or ""))
    return out
