"""Pure translation: a Pod's container + its image + the sandbox's facts -> ContainerConfig.

This is pyrunc's `specconv`: no I/O, table-tested without root. The launcher (runtime/launch.py)
consumes a ContainerConfig; `exec` reads the same config back from disk so it runs with the
container's own environment, user and working directory.
"""

from __future__ import annotations

import json
import signal
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from pyrunc.cgroups.raw import RawResources
from pyrunc.security.caps import CapabilitySets  # noqa: F401 - re-exported (defined with the capability names)
from pyrunc.spec import downward

# (kind, name) in the pod's namespace -> a ConfigMap or Secret, or None (runtime/envsources.py). The
# envsources module is imported where it is used: it brings the model's dataclasses, which `exec` avoids.
ObjectLookup = Callable[[str, str], Any]


def _no_objects(kind: str, name: str) -> Any:
    return None


DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# NamedTuples, not dataclasses: `pyrunc exec` loads a ContainerConfig, and importing dataclasses
# (with inspect) would cost it ~15 ms. They are just as immutable.
class Mount(NamedTuple):
    destination: str
    source: str
    type: str = "bind"  # "bind" | "tmpfs" | "cgroup2"
    read_only: bool = False
    data: str = ""  # mount data for tmpfs (size=...)
    # A volume's subPath: resolved by the container's init *beneath* `source` (never following a
    # symlink out of it) at mount time, not by the supervisor ahead of time (CVE-2021-25741).
    sub_path: str = ""
    volume: str = ""  # the volumeMount's name, for the kubelet's subPath error message


# containerd's default masked and read-only paths (its default OCI spec, plus /proc/interrupts as
# runc's and Docker's current defaults): hidden from, or read-only in, every container that is not
# privileged and does not ask for procMount: Unmasked.
DEFAULT_MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


class DeviceNode(NamedTuple):
    """A host device node made in the container at `path` (CRI's `devices`): its type ("c" or "b"), numbers,
    mode and owner as on the host, and the access ("rwm" letters) its device cgroup rule allows."""

    path: str
    kind: str
    major: int
    minor: int
    mode: int
    uid: int
    gid: int
    access: str


class ContainerConfig(NamedTuple):
    pod_key: str
    name: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    lower: str
    upper: str
    work: str
    merged: str
    # kind -> "host" | "new" | path of a namespace file to join (net, ipc, uts, pid)
    namespaces: Mapping[str, str]
    mounts: tuple[Mount, ...]
    cgroupns: bool = False  # a cgroup namespace rooted at the container's own cgroup (cgroup v2)
    shm: str = ""  # host path bind-mounted at /dev/shm ("" = the host's own, for hostIPC)
    stop_signal: int = int(signal.SIGTERM)
    read_only_rootfs: bool = False
    stdin: bool = False
    tty: bool = False
    termination_message_path: str = "/dev/termination-log"
    termination_log: str = ""  # host side of terminationMessagePath
    # Process security, applied to the init and to every exec'd process (runc applies the
    # container's process settings to `runc exec` too).
    capabilities: CapabilitySets = CapabilitySets()
    no_new_privileges: bool = False
    seccomp: str = ""  # an OCI runtime-spec `linux.seccomp` object as JSON text; "" = unconfined
    # Filesystem view: paths (inside the container) hidden or made read-only; privileged = all
    # devices, writable /sys, nothing masked.
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    privileged: bool = False
    oom_score_adj: int | None = None  # the caller's own value (CRI's request); None: the pod's cgroup plan's
    devices: tuple[DeviceNode, ...] = ()  # host device nodes given to the container (CRI's request)
    raw_resources: RawResources = RawResources()  # cgroup values given as they are (CRI's cpuset, swap, ...)

    def to_json(self) -> str:
        d = self._asdict()
        d["mounts"] = [m._asdict() for m in self.mounts]
        d["devices"] = [n._asdict() for n in self.devices]
        d["raw_resources"] = self.raw_resources.to_dict()
        d["namespaces"] = dict(self.namespaces)
        d["capabilities"] = self.capabilities._asdict()
        return json.dumps(d, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "ContainerConfig":
        d = json.loads(text)
        d["mounts"] = tuple(Mount(**m) for m in d["mounts"])
        d["devices"] = tuple(DeviceNode(**n) for n in d.get("devices", ()))
        d["raw_resources"] = RawResources.from_dict(d.get("raw_resources") or {})
        for k in ("args", "additional_gids", "masked_paths", "readonly_paths"):
            d[k] = tuple(d.get(k, ()))
        d["env"] = tuple((k, v) for k, v in d["env"])
        d.pop("sysctls", None)  # written by earlier versions; sysctls are the sandbox's (sandbox.py)
        d["capabilities"] = CapabilitySets(**{k: tuple(v) for k, v in d.get("capabilities", {}).items()})
        return ContainerConfig(**d)


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes `$(VAR)` expansion: `$$` escapes a `$`, unknown or unterminated references stay as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            value = lookup(name) if name else None
            out.append(value if value is not None else text[i : end + 1])
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def container_env(env_vars: Sequence[Any], field_value: Callable[[Any], str | None],
                  first: Mapping[str, str] = MappingProxyType({})) -> dict[str, str]:
    """The kubelet's env of a container (makeEnvironmentVariables): `first` (the envFrom variables,
    runtime/envsources.py), then the Pod's `env` in order overriding them, each `$(VAR)` expanded from the
    variables defined before it only. A `valueFrom` whose value is None (an optional reference to a missing
    object or key) sets nothing. The image's ENV is the runtime's, merged later: the kubelet never sees it,
    so it never expands it."""
    defined: dict[str, str] = dict(first)
    for var in env_vars:
        if var.value_from is not None:
            value = field_value(var.value_from)
            if value is not None:
                defined[var.name] = value
        else:
            defined[var.name] = expand(var.value, defined.get)
    return defined


def with_image_env(image_env: Sequence[str], own: Mapping[str, str]) -> list[tuple[str, str]]:
    """The process's env: the image's `K=V` entries first, the container's own overriding them."""
    result: dict[str, str] = {}
    for item in image_env:
        k, _, v = item.partition("=")
        result[k] = v
    result.update(own)
    return list(result.items())


def resolve_env(env_vars: Sequence[Any], image_env: Sequence[str], field_value: Callable[[Any], str]) -> list[tuple[str, str]]:
    """Image env first, then the container's env (container_env) overriding it."""
    return with_image_env(image_env, container_env(env_vars, field_value))


def resolve_command(command: Sequence[str], args: Sequence[str], image_entrypoint: Sequence[str],
                    image_cmd: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Kubernetes rules: command replaces ENTRYPOINT (and drops CMD); args replace CMD."""
    if command:
        argv = list(command) + list(args)
    elif args:
        argv = list(image_entrypoint) + list(args)
    else:
        argv = list(image_entrypoint) + list(image_cmd)
    # Only what the Pod spec wrote is expanded; the image's own words are taken literally.
    if command or args:
        spec_part = len(argv) - len(args) if not command else 0
        argv = argv[:spec_part] + [expand(a, env.get) for a in argv[spec_part:]]
    return argv


def signal_number(name: str) -> int:
    """`SIGTERM`, `TERM`, `15` -> 15 (an image's STOPSIGNAL or lifecycle.stopSignal)."""
    if not name:
        return int(signal.SIGTERM)
    if name.isdigit():
        return int(name)
    up = name.upper()
    if not up.startswith("SIG"):
        up = "SIG" + up
    try:
        return int(getattr(signal, up))
    except AttributeError:
        return int(signal.SIGTERM)


class SandboxFacts(NamedTuple):
    """What the sandbox provides to every member container."""

    namespaces: Mapping[str, str]  # kind -> "host" | "new" | ns file path
    shm: str  # host path bind-mounted at /dev/shm ("" = the host's /dev/shm)
    etc_files: Mapping[str, str] = MappingProxyType({})  # /etc/hosts etc. -> host path
    volumes: Mapping[str, str] = MappingProxyType({})  # volume name -> host path
    pod_ip: str = ""
    host_ip: str = ""
    node_name: str = ""


def field_ref_value(pod: Any, container: Any, source: Any, facts: SandboxFacts, node_cpus: int, node_memory: int,
                    lookup: ObjectLookup = _no_objects) -> str | None:
    """The downward API for env: a fieldRef or resourceFieldRef value (spec/downward.py); a
    configMapKeyRef or secretKeyRef from `lookup` (runtime/envsources.py: None = optional and missing)."""
    if getattr(source, "config_map_key_ref", None) is not None or getattr(source, "secret_key_ref", None) is not None:
        from pyrunc.runtime import envsources

        return envsources.key_ref(source, pod.metadata.namespace, lookup)
    if source.field_ref is not None:
        return downward.env_field(pod, source.field_ref.field_path, node_name=facts.node_name,
                                  host_ip=facts.host_ip, pod_ip=facts.pod_ip)
    ref = source.resource_field_ref
    if ref is not None:
        return downward.resource_value(container, ref.resource, ref.divisor, node_cpus, node_memory)
    return ""


def container_config(pod: Any, container: Any, image: Any, facts: SandboxFacts, *, layout: Any,
                     node_cpus: int = 1, node_memory: int = 0,
                     read_image_file: Callable[[str], bytes | None] = lambda path: None,
                     seccomp_profile_root: str = "", seccomp_default: bool = False, layer: str = "",
                     cgroup_mounts: Sequence[Mount] = (), cgroupns: bool = False,
                     lookup: ObjectLookup = _no_objects, username: str = "") -> ContainerConfig:
    """Everything the launcher needs to start `container` of `pod`, decided up front.

    `username`, when given, replaces the image's USER (CRI's run_as_username): looked up in the image's
    /etc/passwd like the image's own, the securityContext's runAsGroup still applying.

    `read_image_file` returns a file of the image (resolved inside its root), for the user
    database; ContainerConfigError (runAsNonRoot) and UserLookupError (an unknown user) mean the
    container cannot be created. `layer` is the directory of the writable layer (upper, work and
    merged below it; default: under the container's state directory); `cgroup_mounts` and `cgroupns`
    are what the container sees of its cgroup (the runtime service's driver decides them). `lookup`
    finds the ConfigMaps and Secrets of the pod's namespace that env refers to; a missing one that is not
    optional is a ContainerConfigError (the kubelet's CreateContainerConfigError).
    """
    from pyrunc.runtime import envsources
    from pyrunc.runtime.users import ImageUsers, resolve_identity
    from pyrunc.spec.model import pod_hostname  # here: `exec` reads a ContainerConfig without the model (~70 ms)

    identity = resolve_identity(pod, container, username or image.user, ImageUsers(read_image_file))
    cdir = layout.container_dir(container.name)
    layer = layer or f"{cdir}/rootfs"

    def field_value(source: Any) -> str | None:
        return field_ref_value(pod, container, source, facts, node_cpus, node_memory, lookup)

    first, _ = envsources.env_from(getattr(container, "env_from", ()), lookup)
    own_env = container_env(container.env, field_value, first)
    env = with_image_env(image.env or (DEFAULT_PATH,), own_env)
    if "HOSTNAME" not in dict(env):  # containerd's CRI sets it to the pod's hostname
        env.append(("HOSTNAME", pod_hostname(pod)))
    # command and args expand from the kubelet's env only (ExpandContainerCommandAndArgs with the
    # kubelet's list): neither the image's ENV nor containerd's HOSTNAME is visible to it.
    argv = resolve_command(container.command, container.args, image.entrypoint, image.cmd, own_env)

    sc = container.security_context
    mounts: list[Mount] = []
    for dest, src in sorted(facts.etc_files.items()):
        mounts.append(Mount(destination=dest, source=src))
    mounts.append(Mount(destination=container.termination_message_path, source=f"{cdir}/termination-log"))
    # The kubelet mounts these read-only whatever the volumeMount says (their files are its to rewrite).
    read_only_volumes = {v.name for v in pod.spec.volumes if is_projection(v)}
    for vm in container.volume_mounts:
        # The subPath stays relative: the container's init resolves it beneath the volume.
        mounts.append(Mount(destination=vm.mount_path, source=facts.volumes[vm.name],
                            read_only=vm.read_only or vm.name in read_only_volumes, sub_path=vm.sub_path,
                            volume=vm.name))
    privileged = bool(sc is not None and sc.privileged)
    masked, readonly = filesystem_view(privileged, sc.proc_mount if sc is not None else "")

    from pyrunc.security import container_security  # capabilities, no_new_privs, seccomp

    security = container_security(pod, container, identity.uid, seccomp_profile_root=seccomp_profile_root,
                                  seccomp_default=seccomp_default)
    stop = container.lifecycle.stop_signal if container.lifecycle is not None and container.lifecycle.stop_signal else image.stop_signal
    return ContainerConfig(
        pod_key=layout.key,
        name=container.name,
        args=tuple(argv),
        env=tuple(env),
        cwd=container.working_dir or image.working_dir or "/",
        uid=identity.uid,
        gid=identity.gid,
        additional_gids=identity.additional_gids,
        lower=":".join(image.layers),  # topmost layer first, as overlayfs stacks them
        upper=f"{layer}/upper",
        work=f"{layer}/work",
        merged=f"{layer}/merged",
        namespaces=dict(facts.namespaces),
        mounts=(*mounts, *cgroup_mounts),
        cgroupns=cgroupns,
        shm=facts.shm,
        stop_signal=signal_number(stop),
        read_only_rootfs=bool(sc is not None and sc.read_only_root_filesystem),
        stdin=container.stdin,
        tty=container.tty,
        termination_message_path=container.termination_message_path,
        termination_log=f"{cdir}/termination-log",
        capabilities=security.capabilities,
        no_new_privileges=security.no_new_privileges,
        seccomp=security.seccomp,
        privileged=security.privileged,
        masked_paths=masked,
        readonly_paths=readonly,
    )


def is_projection(vol: Any) -> bool:
    """configMap, secret, projected and downwardAPI volumes: written by the atomic writer, mounted read-only."""
    return any(getattr(vol, kind, None) is not None for kind in ("config_map", "secret", "projected", "downward_api"))


def cgroup_view_mounts(version: int, controller_paths: Mapping[str, str]) -> tuple[list[Mount], bool]:
    """What a container sees at /sys/fs/cgroup (mounts, whether it gets a cgroup namespace): on v2 a
    read-only cgroup2 mount in its own cgroup namespace; on v1 a tmpfs holding a read-only bind of its
    group in each controller hierarchy (`controller_paths`: controller -> the container's directory)."""
    if version == 2:
        return [Mount(destination="/sys/fs/cgroup", source="cgroup2", type="cgroup2", read_only=True)], True
    if version == 1:
        mounts = [Mount(destination="/sys/fs/cgroup", source="tmpfs", type="tmpfs", data="mode=755")]
        for controller, path in sorted(controller_paths.items()):
            mounts.append(Mount(destination=f"/sys/fs/cgroup/{controller}", source=path, read_only=True))
        return mounts, False
    return [], False


def filesystem_view(privileged: bool, proc_mount: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(masked paths, read-only paths): containerd's defaults, none for a privileged container or
    for procMount: Unmasked (containerd clears both lists for either)."""
    if privileged or proc_mount == "Unmasked":
        return (), ()
    return DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
