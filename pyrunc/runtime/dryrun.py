"""`pyrunc apply --dry-run -o plan`: what the runtime would do for a pod, computed by the same pure
planners the runtime uses, and nothing done.

    namespaces    sandbox/sandbox.py NamespacePlan           mounts      runtime/config.py container_config
    cgroups       cgroups/plan.py plan_pod + v1/v2_files    security    security/ (capabilities, seccomp)
    network       network/nftables.py (the rules text)      identity    runtime/users.py (with the image, if present)

`host_facts` reads what the plan depends on from the host (cgroup version and hierarchies, memory,
CPUs, the runtime's capabilities, the image store); `plan_pod_run` is pure given those facts. What
cannot be known before the pod runs is said in words: the pod uid (`<uid>`), its address ("next
free address from 10.66.0.0/16": no lease is taken), the user when the image is not in the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pyrunc.cgroups.plan import ContainerResources, PodCgroupPlan, plan_pod, qos_dir, v1_files, v2_files
from pyrunc.config import NodeConfig
from pyrunc.errors import ContainerConfigError, PyruncError
from pyrunc.runtime.config import ContainerConfig, Mount, SandboxFacts, cgroup_view_mounts, container_config
from pyrunc.sandbox.sandbox import SHM_SIZE, NamespacePlan
from pyrunc.spec.model import Container, Pod
from pyrunc.store.layout import PodLayout
from pyrunc.store.paths import PodPaths

UID = "<uid>"  # the pod uid is given by the daemon when the pod is created


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What the plan reads from this host (host_facts) and from the image store (`image`)."""

    cgroup_version: int  # 0: no usable cgroups
    cgroup_mounts: Mapping[str, str]  # v1: controller -> hierarchy mount point; v2: {"": mount root}
    cgroup_reason: str
    memory: int
    cpus: int
    host_ip: str
    capabilities: tuple[str, ...]  # the runtime's own bounding set
    image: Callable[[str], Any]  # image name -> images.store.Image, or None when not in the store


@dataclass(frozen=True, slots=True)
class PlannedMount:
    source: str
    target: str
    type: str
    options: str


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    name: str
    kind: str  # "init container", "sidecar", "container"
    image: str
    image_present: bool
    error: str  # the kubelet's reason and message when the container could not be created; "" if it can
    namespaces: tuple[tuple[str, str], ...]  # (kind, what the container does: joins / new / host's)
    mounts: tuple[PlannedMount, ...]
    cgroup_dirs: tuple[str, ...]
    cgroup_files: tuple[tuple[str, str], ...]
    oom_score_adj: int
    devices: tuple[str, ...]
    capabilities: tuple[str, ...]  # the effective set
    bounding: tuple[str, ...]
    no_new_privs: bool
    seccomp: str
    user: str
    env: tuple[tuple[str, str], ...]
    args: tuple[str, ...]
    cwd: str


@dataclass(frozen=True, slots=True)
class PodPlan:
    name: str
    namespace: str
    qos: str
    namespaces: tuple[tuple[str, str], ...]  # (kind, how it is made)
    sysctls: tuple[tuple[str, str], ...]
    sandbox_mounts: tuple[PlannedMount, ...]
    etc_files: tuple[tuple[str, str], ...]
    cgroup_driver: str
    cgroup_dirs: tuple[str, ...]
    cgroup_files: tuple[tuple[str, str], ...]
    network: tuple[tuple[str, str], ...]
    nftables: str
    containers: tuple[ContainerPlan, ...] = field(default_factory=tuple)


def host_facts(cfg: NodeConfig) -> HostFacts:
    """Read (never write) what the plan needs from this host."""
    from pyrunc.cgroups import detect
    from pyrunc.images.store import ImageStore
    from pyrunc.linux.host import host_ip, machine_memory
    from pyrunc.security.caps import runtime_capabilities

    driver = detect(parent=cfg.cgroup_parent, weight_method=cfg.cpu_weight_conversion)
    mounts: dict[str, str] = {}
    if driver.version == 1:
        from pyrunc.cgroups.v1 import OPTIONAL, REQUIRED

        v1 = getattr(driver, "mounts")
        mounts = {c: v1[c] for c in (*REQUIRED, *OPTIONAL) if c in v1}
    elif driver.version == 2:
        mounts = {"": getattr(driver, "mount_root")}
    store = ImageStore(cfg.images_dir)

    def image(name: str) -> Any:
        if not os.path.isdir(cfg.images_dir):
            return None
        try:
            return store.runnable(name)
        except PyruncError:
            return None

    return HostFacts(driver.version, mounts, getattr(driver, "reason", ""), machine_memory(), os.cpu_count() or 1,
                     host_ip(), runtime_capabilities(), image)


# ---------------------------------------------------------------------------------------- cgroups
def _rel(parent: str, qos: str, name: str | None) -> str:
    return os.path.join(parent, qos_dir(qos), f"pod{UID}", *([name] if name else []))


def cgroup_dirs(facts: HostFacts, parent: str, qos: str, name: str | None) -> dict[str, str]:
    """controller -> directory of the pod's (name None) or a container's group, as the drivers make them."""
    return {c: os.path.join(root, _rel(parent, qos, name)) for c, root in sorted(facts.cgroup_mounts.items())}


def cgroup_files(facts: HostFacts, parent: str, plan: PodCgroupPlan, name: str | None,
                 weight_method: str) -> list[tuple[str, str]]:
    """(file path, value) in the order the driver writes them (cgroups/v1.py, v2.py)."""
    values = plan.pod if name is None else plan.containers[name]
    rel = _rel(parent, plan.qos, name)
    if facts.cgroup_version == 1:
        out = []
        for controller_file, value in v1_files(values):
            controller, filename = controller_file.split("/")
            out.append((os.path.join(facts.cgroup_mounts[controller], rel, filename), value))
        return out
    if facts.cgroup_version == 2:
        base = os.path.join(facts.cgroup_mounts[""], rel)
        rows = [(os.path.join(base, f), v) for f, v in v2_files(values, weight_method, container=name is not None)]
        limited = values.memory_limit is not None
        # cgroups/v2.py: no swap for a limited group (the kubelet's NoSwap), when the kernel accounts swap.
        rows.append((os.path.join(base, "memory.swap.max"), "0" if limited else "max"))
        return rows
    return []


# ---------------------------------------------------------------------------------------- mounts
def _mount_options(m: Mount) -> str:
    opts = ["ro" if m.read_only else "rw"]
    if m.type == "bind":
        opts.insert(0, "rbind")
    elif m.type == "tmpfs":
        opts += ["nosuid", "nodev"] + ([m.data] if m.data else [])
    elif m.type == "cgroup2":
        opts += ["nosuid", "nodev", "noexec"]
    if m.sub_path:
        opts.append(f"subPath={m.sub_path}")
    return ",".join(opts)


def rootfs_mounts(cfg: ContainerConfig) -> list[PlannedMount]:
    """Every mount of a container in the order runtime/rootfs.py build_rootfs makes them (keep in step)."""
    sys_opts = "nosuid,nodev,noexec" + ("" if cfg.privileged else ",ro")
    mounts = [
        PlannedMount("overlay", "/", "overlay", f"lowerdir=<{len(cfg.lower.split(':')) if cfg.lower else 0} image "
                     f"layer(s)>,upperdir={cfg.upper},workdir={cfg.work}"),
        PlannedMount("proc", "/proc", "proc", "nosuid,nodev,noexec"),
        PlannedMount("sysfs", "/sys", "sysfs", sys_opts),
        PlannedMount("tmpfs", "/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"),
        PlannedMount("devpts", "/dev/pts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"),
        PlannedMount(cfg.shm or "/dev/shm (the host's)", "/dev/shm", "bind", "rbind,rw"),
        PlannedMount("mqueue", "/dev/mqueue", "mqueue", "nosuid,nodev,noexec"),
    ]
    for m in cfg.mounts:
        mounts.append(PlannedMount(m.source, m.destination, m.type, _mount_options(m)))
    if any(m.destination == "/sys/fs/cgroup" and m.type == "tmpfs" for m in cfg.mounts):
        mounts.append(PlannedMount("", "/sys/fs/cgroup", "remount", "ro"))
    for path in cfg.masked_paths:
        mounts.append(PlannedMount("/dev/null or an empty tmpfs", path, "mask", "ro"))
    for path in cfg.readonly_paths:
        mounts.append(PlannedMount(path, path, "bind", "rbind,ro"))
    mounts.append(PlannedMount("", "pivot_root", "pivot_root", "the old root detached"))
    if cfg.read_only_rootfs:
        mounts.append(PlannedMount("", "/", "remount", "bind,ro"))
    return mounts


# ---------------------------------------------------------------------------------------- the plan
class _NoImage:
    """Stands for an image that is not in the store: no config of its own."""

    layers: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir = ""
    user = ""
    stop_signal = ""


class _NonRootStandIn(_NoImage):
    user = "65534"


def _resources(c: Container) -> ContainerResources:
    from pyrunc.runtime.service import resources_of

    return resources_of(c)


def plan_pod_run(pod: Pod, cfg: NodeConfig, facts: HostFacts) -> PodPlan:
    from pyrunc.cgroups.devices import container_rules, v1_writes
    from pyrunc.network.model import NetConfig
    from pyrunc.network import nftables
    from pyrunc.runtime.sysctls import pod_sysctls
    from pyrunc.security.seccomp import effective_profile
    from pyrunc.spec.sidecar import restartable

    spec = pod.spec
    layout = PodLayout(cfg.root, pod.metadata.namespace, pod.metadata.name)
    paths = PodPaths(cfg.root, cfg.data_dir, cfg.pod_logs_dir, pod.metadata.namespace, pod.metadata.name, UID)
    ns_plan = NamespacePlan.for_pod(spec)

    # Namespaces the sandbox makes (pinned by bind mounts under the pod directory) or takes from the host.
    namespaces: list[tuple[str, str]] = []
    facts_ns: dict[str, str] = {}
    for kind in ("net", "ipc", "uts"):
        if getattr(ns_plan, kind) == "new":
            namespaces.append((kind, f"new, pinned at {layout.ns_file(kind)}"))
            facts_ns[kind] = layout.ns_file(kind)
        else:
            namespaces.append((kind, "the host's"))
            facts_ns[kind] = "host"
    if ns_plan.pid == "shared":
        namespaces.append(("pid", "new, shared by the pod: PID 1 is pyrunc-pause (the holder)"))
        facts_ns["pid"] = "/proc/<holder>/ns/pid"
    else:
        namespaces.append(("pid", "the host's" if ns_plan.pid == "host" else "one new per container (not shared)"))
        facts_ns["pid"] = ns_plan.pid
    shm = layout.path("shm") if ns_plan.ipc == "new" else ""
    sandbox_mounts = [PlannedMount("shm", shm, "tmpfs", f"nosuid,nodev,noexec,mode=1777,size={SHM_SIZE}")] if shm else []
    etc = {f"/etc/{n}": layout.path("etc", n) for n in ("hosts", "hostname", "resolv.conf")}

    # cgroups: the kubelet's arithmetic (cgroups/plan.py), the files the driver would write.
    inits, apps = [_resources(c) for c in spec.init_containers], [_resources(c) for c in spec.containers]
    cg = plan_pod(UID, apps, inits, machine_memory=facts.memory, pids_limit=cfg.pod_pids_limit,
                  weight_method=cfg.cpu_weight_conversion)
    if facts.cgroup_version:
        driver = f"cgroup v{facts.cgroup_version}"
    else:
        driver = f"none: {facts.cgroup_reason or 'no usable cgroups'} (limits are not enforced)"
    pod_dirs = cgroup_dirs(facts, cfg.cgroup_parent, cg.qos, None)

    # Network: the veth pair, the address, the bridge and the nftables rules (network/pod.py).
    network: list[tuple[str, str]] = []
    nft = ""
    bridged = cfg.network == "bridge" and not spec.host_network
    if bridged:
        net = NetConfig(root=cfg.root, bridge=cfg.bridge, subnet=cfg.pod_subnet)
        key = layout.key.replace("_", "/", 1)
        from pyrunc.network.model import PortMapping

        ports = [PortMapping(p.host_port, p.container_port, p.protocol, p.host_ip)
                 for c in spec.containers + spec.init_containers for p in c.ports if p.host_port]
        network = [
            ("bridge", f"{cfg.bridge} {net.gateway}/{net.network.prefixlen} (made with the first pod)"),
            ("veth", f"{net.host_veth(key)} on {cfg.bridge} <-> eth0 in the pod's network namespace"),
            ("address", f"next free address from {cfg.pod_subnet} (a lease under {cfg.root}/network/leases)"),
            ("default route", f"via {net.gateway}"),
            ("sysctls", f"net.ipv4.ip_forward=1, net.ipv4.conf.{cfg.bridge}.route_localnet=1"),
        ]
        network += [("hostPort", f"{p.protocol} {p.host_ip or '*'}:{p.host_port} -> <pod IP>:{p.container_port}")
                    for p in ports]
        nft = nftables.render_node_table(net) + nftables.render_add_ports(net, key, "<pod IP>", ports)
    elif spec.host_network:
        network = [("network", "the host's network namespace, /etc/hosts and /etc/resolv.conf")]
    else:
        network = [("network", "none (node setting network: none): loopback only")]

    containers = []
    for c in (*spec.init_containers, *spec.containers):
        kind = "container"
        if c in spec.init_containers:
            kind = "sidecar" if restartable(c.restart_policy) else "init container"
        containers.append(_container_plan(pod, c, kind, cfg, facts, layout, paths, facts_ns, shm, etc, cg,
                                          effective_profile, container_rules, v1_writes))
    return PodPlan(
        name=pod.metadata.name, namespace=pod.metadata.namespace, qos=cg.qos, namespaces=tuple(namespaces),
        sysctls=tuple(pod_sysctls(spec)), sandbox_mounts=tuple(sandbox_mounts), etc_files=tuple(etc.items()),
        cgroup_driver=driver, cgroup_dirs=tuple(pod_dirs.values()),
        cgroup_files=tuple(cgroup_files(facts, cfg.cgroup_parent, cg, None, cfg.cpu_weight_conversion)),
        network=tuple(network), nftables=nft, containers=tuple(containers))


def _container_plan(pod: Pod, c: Container, kind: str, cfg: NodeConfig, facts: HostFacts, layout: PodLayout,
                    paths: PodPaths, facts_ns: dict[str, str], shm: str, etc: dict[str, str], cg: PodCgroupPlan,
                    effective_profile: Any, container_rules: Any, v1_writes: Any) -> ContainerPlan:
    from pyrunc.images.unpack import read_in_layers
    from pyrunc.sandbox.volumes import volume_path

    image = facts.image(c.image)
    present = image is not None
    volumes = {v.name: str(volume_path(v, layout, paths) or f"<{v.name}>") for v in pod.spec.volumes}
    sandbox = SandboxFacts(namespaces=facts_ns, shm=shm, etc_files=etc, volumes=volumes, pod_ip="<pod IP>",
                           host_ip=facts.host_ip, node_name=cfg.node_name)
    dirs = cgroup_dirs(facts, cfg.cgroup_parent, cg.qos, c.name)
    cg_mounts, cgroupns = cgroup_view_mounts(facts.cgroup_version, dirs if facts.cgroup_version == 1 else {})
    sc = c.security_context
    run_as = sc.run_as_user if sc is not None and sc.run_as_user is not None else None
    psc = pod.spec.security_context
    if run_as is None and psc is not None:
        run_as = psc.run_as_user
    def configure(img: Any, read: Callable[[str], bytes | None]) -> ContainerConfig:
        return container_config(pod, c, img, sandbox, layout=layout, node_cpus=facts.cpus, node_memory=facts.memory,
                                read_image_file=read, seccomp_profile_root=cfg.seccomp_profile_root,
                                seccomp_default=cfg.seccomp_default, layer=paths.layer(c.name),
                                cgroup_mounts=cg_mounts, cgroupns=cgroupns)

    try:
        if present:
            config = configure(image, lambda p: read_in_layers(image.layers, p))
        else:
            try:
                config = configure(_NoImage(), lambda p: None)
            except ContainerConfigError:
                if run_as is not None:
                    raise
                # runAsNonRoot and the user is the image's, unknown here: plan the rest as a non-root user.
                config = configure(_NonRootStandIn(), lambda p: None)
    except PyruncError as e:  # ContainerConfigError included: the container would not be created
        return ContainerPlan(c.name, kind, c.image, present, f"CreateContainerConfigError: {e.message}", (), (), (),
                             (), 0, (), (), (), False, "", "", (), (), "")
    if present or run_as is not None:
        user = f"uid={config.uid} gid={config.gid}" + (
            f" groups={','.join(str(g) for g in config.additional_gids)}" if config.additional_gids else "")
        if not present:
            user += " (gid and groups: from image)"
    else:
        user = "from image (image not present: would be pulled)"
    ns_rows = []
    for k in ("net", "ipc", "uts"):
        ns_rows.append((k, "the host's" if facts_ns[k] == "host" else f"joins {facts_ns[k]} (setns)"))
    pid = facts_ns["pid"]
    ns_rows.append(("pid", {"host": "the host's", "new": "new (unshare)"}.get(pid, f"joins the holder's {pid}")))
    ns_rows.append(("mnt", "new (unshare): the mounts below"))
    ns_rows.append(("cgroup", "new, rooted at its own group" if config.cgroupns else "the host's (cgroup v1)"))
    ptype, pname = effective_profile(sc, psc, cfg.seccomp_default)
    if config.privileged:
        seccomp = "Unconfined (privileged)"
    elif ptype == "Localhost":
        seccomp = f"Localhost: {os.path.join(cfg.seccomp_profile_root, pname)}"
    elif ptype == "RuntimeDefault":
        seccomp = "RuntimeDefault (containerd's default profile" + (", the node's seccomp_default)" if not (
            (sc is not None and sc.seccomp_profile) or (psc is not None and psc.seccomp_profile)) else ")")
    else:
        seccomp = "Unconfined"
    devices: tuple[str, ...] = ()
    if facts.cgroup_version == 1:
        devices = tuple(f"{f} {v}" for f, v in v1_writes(container_rules(config.privileged)))
    elif facts.cgroup_version == 2:
        devices = tuple(r.cgroup_string() + (" allow" if r.allow else " deny")
                        for r in container_rules(config.privileged)) + ("(as a BPF_PROG_TYPE_CGROUP_DEVICE program)",)
    args = config.args if present or c.command else tuple(config.args) + ("(+ the image's entrypoint/cmd)",)
    env = config.env if present else tuple((k, v) for k, v in config.env if not (k == "PATH" and not c.env)) + (
        ("(image env)", "from image"),)
    return ContainerPlan(
        name=c.name, kind=kind, image=c.image if present else f"{c.image} (image not present: would be pulled)",
        image_present=present, error="", namespaces=tuple(ns_rows),
        mounts=tuple(rootfs_mounts(config)), cgroup_dirs=tuple(dirs.values()),
        cgroup_files=tuple(cgroup_files(facts, cfg.cgroup_parent, cg, c.name, cfg.cpu_weight_conversion)),
        oom_score_adj=cg.oom_score_adj[c.name], devices=devices, capabilities=config.capabilities.effective,
        bounding=config.capabilities.bounding,
        no_new_privs=config.no_new_privileges, seccomp=seccomp, user=user, env=tuple(env), args=tuple(args),
        cwd=config.cwd if present or c.working_dir else f"{config.cwd} (unless the image sets WORKDIR)")
