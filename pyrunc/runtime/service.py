"""The runtime service: the mechanism, shaped like CRI's RuntimeService. No policy.

    sandboxes   run_pod_sandbox  adopt_pod_sandbox  stop_pod_sandbox  remove_pod_sandbox  pod_sandbox_status
    containers  create_container  start_container  stop_container(timeout)  remove_container
                container_status  list_containers  adopt_container
    node        reclaim  node_teardown  exec_sync  update_container_resources  container_stats

It knows namespaces, cgroups, networks, root filesystems, processes and their logs. It does not know
restart policies, back-off, probes, hooks, init ordering or grace periods: those are the pod worker's
(pyrunc/worker/), which calls this service, as the kubelet calls containerd through CRI.

A container instance is a `ContainerRecord` (runtime/records.py) persisted atomically at
<pod>/containers/<name>/container.json; a restart is a new instance with a new id. When an instance's
first process exits, the service records the exit (code, signal, OOMKilled, termination message) and
calls `on_exit(pod_key, record)`: the PLEG event of this runtime.

Single-threaded: every method is called from the supervisor's event loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import stat
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

from pyrunc.cgroups import detect
from pyrunc.cgroups.devices import DeviceRule, container_rules
from pyrunc.cgroups.oom import apply_oom_score_adj
from pyrunc.cgroups.raw import RawResources
from pyrunc.cgroups.plan import ContainerResources, PodCgroupPlan, PodLevelResources, describe_values, plan_pod
from pyrunc.clock import Clock
from pyrunc.config import NodeConfig
from pyrunc.errors import ContainerConfigError, ImageError, PyruncError, RuntimeFailure
from pyrunc.images.store import Image, ImageStore, InvalidImageName
from pyrunc.images.unpack import read_in_layers
from pyrunc.linux import syscalls as sc
from pyrunc.linux.host import host_ip, machine_memory
from pyrunc.network import NetConfig, PortMapping, reclaim_stale, remove_bridge_if_unused, setup_pod_network
from pyrunc.network import teardown_pod_network
from pyrunc.network.files import read_host_resolv, render_hosts, render_resolv
from pyrunc.runtime.attach import AttachPoint
from pyrunc.runtime.config import ContainerConfig, DeviceNode, Mount, SandboxFacts, cgroup_view_mounts, container_config
from pyrunc.runtime.launch import LaunchError, Pending, Stdio, begin
from pyrunc.runtime import envsources, exec_service
from pyrunc.runtime.exec_service import ExecResult
from pyrunc.runtime.records import ContainerRecord, ContainerState, ContainerStats, SandboxRecord, SandboxState
from pyrunc.sandbox import sandbox as sbx
from pyrunc.security.caps import with_ambient
from pyrunc.spec.load import pod_from_dict
from pyrunc.spec.model import Container, Pod, pod_hostname
from pyrunc.spec.quantity import Quantity
from pyrunc.store.atomic import read_json, write_json, write_text
from pyrunc.store.layout import PodLayout, layout_for_key, list_pod_keys
from pyrunc.store.logs import LogFile, LogWriter, RotationPolicy, parse_records, read_last
from pyrunc.store.paths import PodPaths, ensure_data_dir, ensure_log_dir, reclaim_orphans, remove_pod_data
from pyrunc.supervisor.loop import Loop

log = logging.getLogger("pyrunc.runtime")

TERMINATION_MESSAGE_MAX = 4096  # kubelet: a termination message is cut at 4 KiB
FALLBACK_LOG_LINES = 80  # kubelet FallbackToLogsOnError: the last 80 lines, at most 2 KiB
FALLBACK_LOG_BYTES = 2048

ExitHandler = Callable[[str, ContainerRecord], None]
WarnHandler = Callable[[PodLayout, str], None]


class CreateError(RuntimeFailure):
    """An instance could not be created or started; `reason` is the kubelet's waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class _Live:
    """What the service holds in memory for a running instance: its log pipes and stop timer."""

    layout: PodLayout
    paths: PodPaths
    record: ContainerRecord
    fallback_to_logs: bool
    readers: list[tuple[int, LogWriter]] = field(default_factory=list)
    kill_timer: int | None = None
    kill_at: float | None = None  # monotonic time of the SIGKILL a stop scheduled
    attach: AttachPoint | None = None  # the attach socket and its clients (runtime/attach.py)


@dataclass
class _Starting:
    """An instance between launch.begin and its exec (start_containers): the launch and the stdio ends the
    service keeps (log pipes' read ends, the stdin pipe's write end, the console socket)."""

    record: ContainerRecord
    spec: Container
    pending: Pending
    out_r: int
    err_r: int
    in_w: int
    console: socket.socket | None
    attach: dict[str, object] = field(default_factory=dict)  # record fields set at the cgroup attach
    oom_score_adj: int | None = None  # the config's own, else the plan's
    device_rules: tuple[DeviceRule, ...] = ()  # allows for the config's own device nodes
    raw: RawResources = RawResources()  # the config's own cgroup values



class RuntimeService:
    def __init__(self, cfg: NodeConfig, loop: Loop, clock: Clock, on_exit: ExitHandler, warn: WarnHandler) -> None:
        self.cfg = cfg
        self.images = ImageStore(cfg.images_dir)
        self.loop = loop
        self.clock = clock
        self.on_exit = on_exit
        self.warn = warn
        self.memory = machine_memory()
        self.cpus = os.cpu_count() or 1
        self.host_ip = host_ip()
        self.cgroups = detect(parent=cfg.cgroup_parent, weight_method=cfg.cpu_weight_conversion)
        self._live: dict[str, _Live] = {}  # container id -> its pipes and timers
        # A container's first process is a grandchild (launch.py forks twice); as a subreaper, the
        # service becomes its parent when the launcher exits, and so learns how it ends.
        sc.set_child_subreaper()
        self._created: dict[str, ContainerConfig] = {}  # container id -> config, from create to start
        self._load_placements()

    def _load_placements(self) -> None:
        """The pods whose cgroup is a group the caller named (CRI's cgroup_parent): their mark files hold it."""
        marks = self._cgroup_marks()
        for uid in os.listdir(marks) if os.path.isdir(marks) else []:
            with contextlib.suppress(OSError, PyruncError), open(os.path.join(marks, uid), encoding="utf-8") as f:
                group = f.read().strip()
                if group:
                    self.cgroups.place(uid, group)

    def paths(self, pod: Pod) -> PodPaths:
        """Where the pod's writable layers, disk emptyDirs and logs are (off the state root's RAM)."""
        return PodPaths.of(self.cfg, pod.metadata.namespace, pod.metadata.name, pod.metadata.uid)

    # ================================================================== sandboxes
    def run_pod_sandbox(self, pod: Pod, layout: PodLayout, ports: Sequence[PortMapping] | None = None,
                        cgroup_parent: str = "") -> sbx.SandboxState:
        """Namespaces, network, cgroups and the pod's /etc files, undone in reverse on any failure.
        `ports`: the sandbox's host port mappings when given (CRI's come with the sandbox), else the hostPorts
        of the pod's containers. `cgroup_parent`: the pod's cgroup is this group (a kubelet's, which sizes it)
        instead of pod<uid> under the node's parent (cgroups/base.py place())."""
        with contextlib.ExitStack() as undo:
            undo.callback(self.remove_pod_sandbox, pod, layout, None)
            hostname = pod_hostname(pod)
            state = sbx.create_sandbox(layout, pod.spec, hostname, setup_network=self._network_setup(pod, layout, ports))
            self._cgroups_setup(pod, state, cgroup_parent)
            write_json(layout.sandbox_json, state.to_dict())
            self._write_etc_files(pod, layout, state)
            undo.pop_all()
        return state

    def pod_sandbox_status(self, layout: PodLayout) -> sbx.SandboxState | None:
        return sbx.load_sandbox(layout)

    def stop_pod_sandbox(self, pod: Pod, layout: PodLayout) -> None:
        """SIGKILL whatever of the pod still runs (its containers' cgroups)."""
        for record in self.list_containers(pod, layout):
            if record.state is ContainerState.RUNNING:
                self.stop_container(record.id, 0.0)

    def release_pod_network(self, pod: Pod, layout: PodLayout) -> None:
        """The pod's address, veth and hostPort rules go, its network namespace stays (empty): CRI's
        StopPodSandbox reclaims network resources, as containerd tears the network down at stop. Idempotent."""
        if not self._bridged(pod):
            return
        teardown_pod_network(self._net_config(), net_key(layout.key))
        state = sbx.load_sandbox(layout)
        if state is not None and state.network:
            state.network = {}
            write_json(layout.sandbox_json, state.to_dict())

    def remove_pod_sandbox(self, pod: Pod, layout: PodLayout, state: sbx.SandboxState | None) -> None:
        """Idempotent: log readers, cgroups, network, mounts, files: everything of the pod goes."""
        for cid, live in list(self._live.items()):
            if live.layout == layout:
                self._forget(cid)
        self.cgroups.remove_pod(pod.metadata.uid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._cgroup_marks(), pod.metadata.uid))
        if self._bridged(pod):
            teardown_pod_network(self._net_config(), net_key(layout.key))
        sbx.teardown_sandbox(layout, state)
        self.images.release_under(layout.dir)
        remove_pod_data(self.paths(pod))

    def remove_remains(self, layout: PodLayout) -> None:
        """A pod directory without a pod (its creation never finished): remove what it holds."""
        if self.cfg.network == "bridge":
            teardown_pod_network(self._net_config(), net_key(layout.key))
        sbx.teardown_sandbox(layout)
        self.images.release_under(layout.dir)

    def cgroup_plan(self, pod: Pod) -> PodCgroupPlan:
        spec = pod.spec
        return plan_pod(pod.metadata.uid, [resources_of(c) for c in spec.containers],
                        [resources_of(c) for c in spec.init_containers], machine_memory=self.memory,
                        pids_limit=self.cfg.pod_pids_limit, weight_method=self.cfg.cpu_weight_conversion,
                        pod_level=pod_level_of(pod))

    def _bridged(self, pod: Pod) -> bool:
        return self.cfg.network == "bridge" and not pod.spec.host_network

    def _net_config(self) -> NetConfig:
        return NetConfig(root=self.cfg.root, bridge=self.cfg.bridge, subnet=self.cfg.pod_subnet)

    def _network_setup(self, pod: Pod, layout: PodLayout,
                       given: Sequence[PortMapping] | None) -> Callable[[sbx.SandboxState], None] | None:
        if not self._bridged(pod):
            return None

        def setup(state: sbx.SandboxState) -> None:
            ports = list(given) if given is not None else [
                PortMapping(p.host_port, p.container_port, p.protocol, p.host_ip)
                for c in pod.spec.containers + pod.spec.init_containers for p in c.ports if p.host_port]
            net = setup_pod_network(self._net_config(), net_key(layout.key), state.namespaces["net"], ports)
            state.network = {"ip": net.ip, "prefixLen": net.prefix_len, "gateway": net.gateway, "hostVeth": net.host_veth}

        return setup

    def _write_etc_files(self, pod: Pod, layout: PodLayout, state: sbx.SandboxState) -> None:
        spec = pod.spec
        etc = layout.path("etc")
        os.makedirs(etc, exist_ok=True)
        hostname = (spec.hostname or pod.metadata.name)[:63]  # /etc/hosts names the short one
        pod_ip = (state.network or {}).get("ip", "")
        with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
            host_hosts = f.read()
        hosts = render_hosts(pod_ip or "127.0.0.1", hostname, spec.subdomain, pod.metadata.namespace,
                             [(a.ip, a.hostnames) for a in spec.host_aliases], spec.host_network, host_hosts)
        dns = spec.dns_config
        options = [o.name if o.value is None else f"{o.name}:{o.value}" for o in dns.options] if dns else []
        resolv = render_resolv(read_host_resolv(), spec.dns_policy, dns.nameservers if dns else (),
                               dns.searches if dns else (), options)
        files = {"hosts": hosts, "resolv.conf": resolv,
                 "hostname": (socket.gethostname() if spec.host_network else pod_hostname(pod)) + "\n"}
        for name, text in files.items():
            with open(os.path.join(etc, name), "w", encoding="utf-8") as f:
                f.write(text)

    @staticmethod
    def _etc_mounts(layout: PodLayout) -> dict[str, str]:
        etc = layout.path("etc")
        return {f"/etc/{n}": os.path.join(etc, n) for n in ("hosts", "hostname", "resolv.conf")}

    def _cgroup_marks(self) -> str:
        """One empty file per pod uid whose cgroups this root created: several roots may share
        the cgroup parent, so only these are ours to reclaim."""
        return os.path.join(self.cfg.root, "cgroups")

    def _cgroups_setup(self, pod: Pod, state: sbx.SandboxState, cgroup_parent: str = "") -> None:
        """The pod's cgroup with the kubelet's values; the holder (if any) in a group of its own."""
        plan = self.cgroup_plan(pod)
        uid = pod.metadata.uid
        os.makedirs(self._cgroup_marks(), exist_ok=True)
        if cgroup_parent and self.cgroups.version:
            self.cgroups.place(uid, cgroup_parent)
        with open(os.path.join(self._cgroup_marks(), uid), "w", encoding="utf-8") as mark:
            mark.write(cgroup_parent if self.cgroups.version else "")
        state.qos_class = plan.qos
        self.cgroups.setup_pod(plan)
        if self.cgroups.version:
            pod_dir = next(iter(self.cgroups.paths(uid, None).values()))
            state.cgroups = [("Driver", f"cgroup v{self.cgroups.version}"), ("Pod cgroup", pod_dir)]
            state.cgroups += [(_short_cgroup_key(k), v) for k, v in describe_values(plan, self.cgroups.version,
                                                                                  self.cfg.cpu_weight_conversion)]
        else:
            state.cgroups = [("Driver", f"none: {getattr(self.cgroups, 'reason', 'no usable cgroups')}")]
        if state.holder_pid:
            # cgroup v2 forbids processes in a group that delegates controllers: the holder gets a leaf.
            self.cgroups.setup_container(plan, "pause")
            self.cgroups.attach(state.holder_pid, uid, "pause")

    # ================================================================== containers
    def create_container(self, pod: Pod, layout: PodLayout, spec: Container, attempt: int,
                         volumes: dict[str, str], log_path: str = "", *,
                         masked_paths: tuple[str, ...] | None = None,
                         readonly_paths: tuple[str, ...] | None = None,
                         oom_score_adj: int | None = None,
                         devices: Sequence[tuple[str, str, str]] = (),
                         raw_resources: RawResources = RawResources(),
                         username: str = "", ambient_capabilities: Sequence[str] = ()) -> ContainerRecord:
        """A new instance, CREATED: image resolved, fresh writable layer, config written. Its log goes to
        `log_path` when given (CRI's, under the sandbox's log directory), else to the pod's log directory.
        `masked_paths` and `readonly_paths`, when given, replace the defaults of a container that is not
        privileged (CRI's request carries its own lists); `oom_score_adj`, when given, replaces the one of
        the pod's cgroup plan (CRI's request carries the kubelet's). `devices` are host device nodes
        (host path, path in the container, access letters of "rwm") made in the container and allowed by its
        device cgroup (CRI's request); a host path that is not a device node is a CreateContainerConfigError.
        `raw_resources` are cgroup values written as given after the planned ones (CRI's cpuset, swap, ...).
        `username` replaces the image's USER (CRI's run_as_username), looked up in the image's /etc/passwd.
        `ambient_capabilities` are raised in the process's ambient set (security/caps.py with_ambient).

        Raises CreateError with the kubelet's reason (InvalidImageName, ErrImagePull,
        CreateContainerConfigError, CreateContainerError)."""
        container_id = uuid.uuid4().hex + uuid.uuid4().hex
        os.makedirs(layout.container_dir(spec.name), exist_ok=True)
        try:
            # The lease keeps the image (and its layers) in the store while this instance exists.
            image = self.images.lease(container_id, spec.image, owner=layout.container_dir(spec.name))
        except InvalidImageName as e:  # nothing was looked up on disk
            raise CreateError("InvalidImageName", e.message) from None
        except ImageError as e:
            raise CreateError("ErrImagePull", e.message) from None
        try:
            cfg = self._container_config(pod, layout, spec, image, volumes, masked_paths, readonly_paths,
                                         oom_score_adj, tuple(host_device(*d) for d in devices), raw_resources,
                                         username, tuple(ambient_capabilities))
        except ContainerConfigError as e:
            self.images.release(container_id)
            raise CreateError("CreateContainerConfigError", e.message) from None
        except (OSError, PyruncError) as e:
            self.images.release(container_id)
            raise CreateError("CreateContainerError", str(e)) from None
        record = ContainerRecord(
            id=container_id, name=spec.name, attempt=attempt, state=ContainerState.CREATED,
            image=spec.image, image_id=image.repo_digest or image.image_id, created_at=self.clock.wall(),
            log_path=log_path or self.paths(pod).log_file(spec.name, attempt), stop_signal=cfg.stop_signal)
        self._save(layout, record)
        self._created[record.id] = cfg
        return record

    def _container_config(self, pod: Pod, layout: PodLayout, spec: Container, image: Image,
                          volumes: dict[str, str], masked_paths: tuple[str, ...] | None = None,
                          readonly_paths: tuple[str, ...] | None = None,
                          oom_score_adj: int | None = None,
                          devices: tuple[DeviceNode, ...] = (),
                          raw_resources: RawResources = RawResources(),
                          username: str = "", ambient: tuple[str, ...] = ()) -> ContainerConfig:
        # Fail closed: without verified sandbox facts the container is not created (never the host's namespaces).
        sandbox = sbx.verified_sandbox(layout, pod.spec, sbx.load_sandbox(layout))
        cdir = layout.container_dir(spec.name)
        os.makedirs(cdir, exist_ok=True)
        paths = self.paths(pod)
        ensure_data_dir(paths)
        layer = paths.layer(spec.name)  # on disk: what a container writes is not RAM
        # Each instance gets a fresh writable layer, as containerd gives each new container.
        shutil.rmtree(layer, ignore_errors=True)
        for d in ("upper", "work", "merged"):
            os.makedirs(os.path.join(layer, d), exist_ok=True)
        term_log = os.path.join(cdir, "termination-log")
        with open(term_log, "w"):
            pass
        os.chmod(term_log, 0o666)  # as the kubelet makes it: whatever user the container runs as writes its message
        facts = SandboxFacts(
            namespaces=sandbox.namespaces, shm=sandbox.shm, etc_files=self._etc_mounts(layout),
            volumes=volumes, pod_ip=(sandbox.network or {}).get("ip", ""),
            host_ip=self.host_ip, node_name=self.cfg.node_name,
        )
        cg_mounts, cgroupns = self._cgroup_mounts(pod.metadata.uid, spec.name)
        cfg = container_config(pod, spec, image, facts, layout=layout, node_cpus=self.cpus, node_memory=self.memory,
                               read_image_file=lambda path: read_in_layers(image.layers, path),
                               seccomp_profile_root=self.cfg.seccomp_profile_root,
                               seccomp_default=self.cfg.seccomp_default, layer=layer,
                               cgroup_mounts=cg_mounts, cgroupns=cgroupns,
                               lookup=envsources.store_lookup(self.cfg.root, pod.metadata.namespace),
                               username=username)
        if not cfg.privileged:
            if masked_paths is not None:
                cfg = cfg._replace(masked_paths=masked_paths)
            if readonly_paths is not None:
                cfg = cfg._replace(readonly_paths=readonly_paths)
        if oom_score_adj is not None:
            cfg = cfg._replace(oom_score_adj=oom_score_adj)
        if devices:
            cfg = cfg._replace(devices=devices)
        if raw_resources:
            cfg = cfg._replace(raw_resources=raw_resources)
        if ambient:
            cfg = cfg._replace(capabilities=with_ambient(cfg.capabilities, ambient))
        write_text(layout.container_config(spec.name), cfg.to_json())  # 0600: it holds the env
        return cfg

    def start_container(self, pod: Pod, layout: PodLayout, record: ContainerRecord) -> ContainerRecord:
        """Run a CREATED instance. Returns it RUNNING, or EXITED with reason StartError when its
        process could not start. Raises CreateError for failures before anything ran."""
        result = self.start_containers(pod, layout, [record])[0]
        if isinstance(result, CreateError):
            raise result
        return result

    def start_containers(self, pod: Pod, layout: PodLayout,
                         records: Sequence[ContainerRecord]) -> list[ContainerRecord | CreateError]:
        """start_container for several CREATED instances of a pod at once, one result per record, in order.

        Every container's processes are forked first, then each is released into its cgroups, then each
        exec is awaited: one container's set-up (namespaces, seccomp filter, rootfs) overlaps another's
        and the supervisor's cgroup writes. The supervisor stays single-threaded; only its children run
        side by side. The caller decides which instances may start together (worker/plan.py)."""
        plan = self.cgroup_plan(pod)
        results: list[ContainerRecord | CreateError | _Starting] = []
        try:
            for record in records:
                try:
                    results.append(self._begin_start(pod, layout, record))
                except CreateError as e:
                    results.append(e)
                except (OSError, PyruncError) as e:
                    results.append(CreateError("CreateContainerError", str(e)))
            for i, starting in enumerate(results):
                if isinstance(starting, _Starting):
                    results[i] = self._release(pod, layout, starting, plan) or starting
            for i, starting in enumerate(results):
                if isinstance(starting, _Starting):
                    results[i] = self._finish_start(pod, layout, starting)
        except BaseException:
            for starting in results:  # an unexpected error: no launch is left half-way
                if isinstance(starting, _Starting):
                    starting.pending.abort()
                    self._close_stdio(starting)
            raise
        return [r for r in results if not isinstance(r, _Starting)]

    def _begin_start(self, pod: Pod, layout: PodLayout, record: ContainerRecord) -> _Starting:
        """Fork the instance's launcher (launch.begin); its stdio pipes stay with the service."""
        cfg = self._created.pop(record.id, None)
        if cfg is None:  # created by an earlier supervisor
            cfg = ContainerConfig.from_json(_read_text(layout.container_config(record.name)))
        spec = _container_spec(pod, record.name)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        # stdin: true / tty: true, as containerd's shim holds them: the write end of a stdin pipe, or the
        # master of a pty the container's init allocates from its own devpts and sends back (launch.py).
        console: tuple[socket.socket, socket.socket] | None = None
        in_r = in_w = -1
        if cfg.tty:
            console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stdio = Stdio(console=console[1].fileno())
        elif cfg.stdin:
            in_r, in_w = os.pipe()
            stdio = Stdio(stdin=in_r)
        else:
            stdio = Stdio()
        try:
            pending = begin(cfg, out_w, err_w, readers=() if cfg.tty else (out_r, err_r), stdio=stdio)
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            if console is not None:
                console[0].close()
            raise
        finally:
            # Only the container holds the write ends now (the launcher took copies): its exit is our EOF.
            # Closed before the next container is forked, which must not hold them either.
            os.close(out_w)
            os.close(err_w)
            if console is not None:
                console[1].close()
            if in_r >= 0:
                os.close(in_r)
        return _Starting(record, spec, pending, out_r, err_r, in_w, console[0] if console is not None else None,
                         oom_score_adj=cfg.oom_score_adj,
                         device_rules=tuple(DeviceRule(n.kind, n.major, n.minor, n.access, allow=True)
                                            for n in cfg.devices),
                         raw=cfg.raw_resources)

    def _release(self, pod: Pod, layout: PodLayout, starting: _Starting,
                 plan: PodCgroupPlan) -> ContainerRecord | CreateError | None:
        """Into its cgroups, then let its init go; the failed record or error when that fails, else None."""

        def before_go(pid: int) -> None:
            starting.attach.update(self._attach_cgroups(pod, layout, starting.spec, plan, pid, starting.oom_score_adj,
                                                        starting.device_rules, starting.raw))

        try:
            starting.pending.release(before_go)
        except LaunchError as e:
            return self._launch_failed(layout, starting, e)
        return None

    def _finish_start(self, pod: Pod, layout: PodLayout, starting: _Starting) -> ContainerRecord | CreateError:
        try:
            launched = starting.pending.finish()
        except LaunchError as e:
            return self._launch_failed(layout, starting, e)
        record, spec = starting.record, starting.spec
        master = -1
        out_r, err_r = starting.out_r, starting.err_r
        if starting.console is not None:
            # Sent by the init before its exec, which finish() saw succeed: already in the socket.
            with starting.console:
                _, fds, _, _ = socket.recv_fds(starting.console, 1, 1, socket.MSG_DONTWAIT)
            master = fds[0] if fds else os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            os.set_inheritable(master, False)
            os.close(out_r)  # with a terminal, everything the container writes comes through the master
            os.close(err_r)
        running = record.with_(state=ContainerState.RUNNING, pid=launched.pid, start_time=launched.start_time,
                               started_at=self.clock.wall(), **starting.attach)
        self._save(layout, running)
        live = _Live(layout, self.paths(pod), running, spec.termination_message_policy == "FallbackToLogsOnError")
        self._live[running.id] = live
        if master >= 0:
            self._attach_logs(live, master, None)
            live.attach = self._attach_point(layout, running.name, os.dup(master) if spec.stdin else -1,
                                             os.dup(master), spec.stdin_once)
        else:
            self._attach_logs(live, out_r, err_r)
            live.attach = self._attach_point(layout, running.name, starting.in_w, -1, spec.stdin_once)
        cid = running.id
        self.loop.watch_child(launched.pid, lambda _pid, st: self._exited(cid, st))
        return running

    @staticmethod
    def _close_stdio(starting: _Starting) -> None:
        for fd in (starting.out_r, starting.err_r, starting.in_w):
            if fd >= 0:
                os.close(fd)
        starting.out_r = starting.err_r = starting.in_w = -1
        if starting.console is not None:
            starting.console.close()

    def _launch_failed(self, layout: PodLayout, starting: _Starting, e: LaunchError) -> ContainerRecord | CreateError:
        """The launch is over (its processes are gone): close what the service held for it; a CreateError for
        a failure before anything ran, else the instance EXITED with reason StartError (recorded)."""
        self._close_stdio(starting)
        if e.stage in ("create", "config"):  # "config": a subPath the init could not prepare
            reason = "CreateContainerConfigError" if e.stage == "config" else "CreateContainerError"
            return CreateError(reason, e.message)
        now = self.clock.wall()
        failed = starting.record.with_(state=ContainerState.EXITED, started_at=now, finished_at=now, exit_code=128,
                                       reason="StartError", message=e.message)
        self._save(layout, failed)
        return failed

    def adopt_container(self, pod: Pod, layout: PodLayout, record: ContainerRecord) -> ContainerRecord:
        """After a supervisor restart: watch a RUNNING instance that still runs; one that ended unseen
        is recorded UNKNOWN (and reported through on_exit, from the loop)."""
        if record.state is not ContainerState.RUNNING:
            return record
        spec = _container_spec(pod, record.name)
        live = _Live(layout, self.paths(pod), record, spec.termination_message_policy == "FallbackToLogsOnError")
        self._live[record.id] = live
        if sc.pid_alive(record.pid, record.start_time):
            self._reopen_logs(live)
            # Output only: the stdin pipe or the terminal master went with the old supervisor.
            live.attach = self._attach_point(layout, record.name, -1, -1, False)
            self.loop.watch_foreign(record.pid, lambda _pid, st: self._exited(record.id, st))
        else:
            self.loop.call_later(0, lambda: self._exited(record.id, None))
        return record

    def reopen_container_log(self, container_id: str) -> None:
        """CRI ReopenContainerLog: the instance's log file opened again at its path. Raises RuntimeFailure
        when it does not run (its output has no writer to reopen), OSError when the file cannot be opened."""
        live = self._live.get(container_id)
        if live is None or live.record.state is not ContainerState.RUNNING or not live.readers:
            raise RuntimeFailure(f"container {container_id} is not running")
        live.readers[0][1].log.reopen()  # the streams share one LogFile

    def stop_container(self, container_id: str, timeout: float) -> None:
        """CRI StopContainer: the stop signal now, SIGKILL after `timeout` seconds (0: SIGKILL now).
        A second call with an earlier end shortens the first; the exit arrives through on_exit."""
        live = self._live.get(container_id)
        if live is None or live.record.state is not ContainerState.RUNNING:
            return
        now = self.clock.monotonic()
        if timeout <= 0:
            self._kill(live)
            return
        if live.kill_at is not None:
            if now + timeout < live.kill_at:
                self.loop.cancel(live.kill_timer)
                live.kill_at = now + timeout
                live.kill_timer = self.loop.call_later(timeout, lambda: self._kill(live))
            return
        self._signal(live.record, live.record.stop_signal)
        live.kill_at = now + timeout
        live.kill_timer = self.loop.call_later(timeout, lambda: self._kill(live))

    def remove_container(self, pod: Pod, layout: PodLayout, record: ContainerRecord) -> None:
        """An exited instance goes: its cgroup and writable layer (its log stays, for `logs -p`)."""
        self._forget(record.id)
        self.images.release(record.id)
        if self.cgroups.version:
            self.cgroups.remove_container(pod.metadata.uid, record.name)
        layer = self.paths(pod).layer(record.name)
        if os.path.isdir(layer):
            for mnt in sbx.mounts_below(layer):
                sc.umount_quiet(mnt)
            shutil.rmtree(layer, ignore_errors=True)

    def container_status(self, layout: PodLayout, name: str) -> ContainerRecord | None:
        data = read_json(layout.container_record(name))
        return ContainerRecord.from_json(data) if data else None

    def list_containers(self, pod: Pod, layout: PodLayout) -> list[ContainerRecord]:
        names = [c.name for c in pod.spec.init_containers + pod.spec.containers]
        return [r for r in (self.container_status(layout, n) for n in names) if r is not None]

    # CRI ExecSync and Exec: light enough for `pyrunc exec` and probes to call directly (exec_service.py).
    @staticmethod
    def exec_sync(layout: PodLayout, name: str, argv: Sequence[str], timeout: float) -> ExecResult:
        """Blocking: the supervisor's loop calls it only in a child process (probes, hooks)."""
        return exec_service.exec_sync(exec_service.target(layout, name), argv, timeout)

    @staticmethod
    def exec(layout: PodLayout, name: str, argv: Sequence[str], stdin: bool = False,
             tty: bool = False) -> tuple[int, str]:
        return exec_service.exec_stream(exec_service.target(layout, name), argv, stdin=stdin, tty=tty)

    def set_created_raw_resources(self, layout: PodLayout, record: ContainerRecord, raw: RawResources) -> None:
        """A CREATED instance's own cgroup values replaced before it starts (CRI UpdateContainerResources)."""
        cfg = self._created.get(record.id)
        if cfg is None:  # created by an earlier supervisor
            cfg = ContainerConfig.from_json(_read_text(layout.container_config(record.name)))
        cfg = cfg._replace(raw_resources=raw)
        write_text(layout.container_config(record.name), cfg.to_json())
        if record.id in self._created:
            self._created[record.id] = cfg

    def container_identity(self, layout: PodLayout, name: str) -> tuple[int, int, tuple[int, ...]]:
        """(uid, gid, supplementary groups) the container `name` runs with, from its config."""
        cfg = ContainerConfig.from_json(_read_text(layout.container_config(name)))
        return cfg.uid, cfg.gid, cfg.additional_gids

    def update_container_resources(self, pod: Pod, name: str, resources: ContainerResources,
                                   raw: RawResources = RawResources()) -> None:
        """CRI UpdateContainerResources: the container's cgroup values computed anew from `resources`, then
        `raw` written as given (the pod's own group is the caller's to size, as the kubelet sizes it)."""
        spec = pod.spec
        apps = [resources if c.name == name else resources_of(c) for c in spec.containers]
        inits = [resources if c.name == name else resources_of(c) for c in spec.init_containers]
        plan = plan_pod(pod.metadata.uid, apps, inits, machine_memory=self.memory,
                        pids_limit=self.cfg.pod_pids_limit, weight_method=self.cfg.cpu_weight_conversion,
                        pod_level=pod_level_of(pod))
        if self.cgroups.version:
            self.cgroups.setup_container(plan, name)
            if raw:
                self.cgroups.set_raw(pod.metadata.uid, name, raw, resources.memory_limit)

    def container_stats(self, pod: Pod, name: str | None) -> ContainerStats:
        """CRI ContainerStats: CPU time and memory of the container's cgroup (`name` None: the pod's).
        Raises CgroupError when the group cannot be read (a container that never started has none)."""
        stats = self.cgroups.stats(pod.metadata.uid, name)
        procs = len(self.cgroups.procs(pod.metadata.uid, name)) if name is None else 0
        return ContainerStats(name=name or "", timestamp=self.clock.wall(), cpu_usage_ns=stats.cpu_usage_ns,
                              memory_working_set=stats.memory_working_set, memory_usage=stats.memory_usage,
                              memory_rss=stats.memory_rss, page_faults=stats.page_faults,
                              major_page_faults=stats.major_page_faults, process_count=procs)

    def writable_layer_usage(self, pod: Pod, name: str) -> tuple[str, int, int]:
        """(directory, bytes, inodes) of what the container wrote: its writable layer's upper directory."""
        upper = os.path.join(self.paths(pod).layer(name), "upper")
        used = inodes = 0
        for dirpath, dirs, files in os.walk(upper):
            for entry in (*dirs, *files):
                with contextlib.suppress(OSError):
                    used += os.lstat(os.path.join(dirpath, entry)).st_blocks * 512
                inodes += 1
        return upper, used, inodes

    @staticmethod
    def pod_network_usage(layout: PodLayout) -> dict[str, int] | None:
        """The pod's eth0 counters (rx/tx bytes and errors), None without a pod network. Read on the host end
        of its veth pair, where the directions are the other way round: what the pod sends, the host end
        receives (a veth pair drops nothing between its ends)."""
        state = sbx.load_sandbox(layout)
        veth = str(((state.network if state else None) or {}).get("hostVeth", ""))
        if not veth:
            return None
        base = f"/sys/class/net/{veth}/statistics"
        try:
            def read(counter: str) -> int:
                with open(os.path.join(base, counter), encoding="ascii") as f:
                    return int(f.read().strip() or 0)

            return {"rx_bytes": read("tx_bytes"), "rx_errors": read("tx_errors"),
                    "tx_bytes": read("rx_bytes"), "tx_errors": read("rx_errors")}
        except (OSError, ValueError):
            return None

    def list_pod_sandboxes(self) -> list[SandboxRecord]:
        """CRI ListPodSandbox: every pod sandbox under this root, as recorded."""
        out = []
        for key in list_pod_keys(self.cfg.root):
            record = self.pod_sandbox_record(layout_for_key(self.cfg.root, key))
            if record is not None:
                out.append(record)
        return out

    def pod_sandbox_record(self, layout: PodLayout) -> SandboxRecord | None:
        """CRI PodSandboxStatus: READY while every namespace the pod owns verifies (sandbox.verified_sandbox)."""
        manifest = read_json(layout.pod_json)
        state = sbx.load_sandbox(layout)
        if not manifest or state is None:
            return None
        meta = manifest.get("metadata", {})
        try:
            sbx.verified_sandbox(layout, pod_from_dict(manifest).spec, state)
            ready = SandboxState.READY
        except PyruncError:  # a namespace that does not verify (or a pod.json that does not decode)
            ready = SandboxState.NOTREADY
        return SandboxRecord(id=str(meta.get("uid", "")), namespace=layout.namespace, name=layout.name,
                             state=ready, created_at=str(meta.get("creationTimestamp", "")),
                             ip=str((state.network or {}).get("ip", "")),
                             namespaces=dict(state.namespaces))

    # ================================================================== exits
    def _exited(self, container_id: str, status: int | None) -> None:
        live = self._live.pop(container_id, None)
        if live is None:
            return
        self.loop.cancel(live.kill_timer)
        for fd, writer in list(live.readers):
            self._pump(live, fd, writer, final=True)
        if live.attach is not None:
            live.attach.close()  # attached clients see the end of the output
        record = live.record
        now = self.clock.wall()
        if status is None:
            ended = record.with_(state=ContainerState.UNKNOWN, finished_at=now, exit_code=137,
                                 reason="ContainerStatusUnknown",
                                 message="The container exited while pyrunc's supervisor was not running; "
                                         "its exit status is unknown")
        else:
            code = os.waitstatus_to_exitcode(status)
            sig = 0
            if code < 0:
                sig, code = -code, 128 - code
            reason = "OOMKilled" if self._oom_killed(live.paths.uid, record) else ("Completed" if code == 0 else "Error")
            ended = record.with_(state=ContainerState.EXITED, finished_at=now, exit_code=code, signal=sig,
                                 reason=reason, message=self._termination_message(live, code))
        self._save(live.layout, ended)
        self.on_exit(live.layout.key, ended)

    def _oom_killed(self, uid: str, record: ContainerRecord) -> bool:
        try:
            return bool(self.cgroups.version) and self.cgroups.oom_killed(uid, record.name)
        except OSError:
            return False

    def _termination_message(self, live: _Live, code: int) -> str:
        try:
            with open(os.path.join(live.layout.container_dir(live.record.name), "termination-log"), "rb") as f:
                text = f.read(TERMINATION_MESSAGE_MAX).decode(errors="replace")
        except OSError:
            text = ""
        if not text and code != 0 and live.fallback_to_logs:
            text = self._log_tail(live.record)
        return text

    @staticmethod
    def _log_tail(record: ContainerRecord) -> str:
        try:
            data = read_last(record.log_path, 64 * 1024)
        except OSError:
            return ""
        lines = [r.content for r in parse_records(data)][-FALLBACK_LOG_LINES:]
        return b"\n".join(lines)[-FALLBACK_LOG_BYTES:].decode(errors="replace")

    def _signal(self, record: ContainerRecord, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)

    def _kill(self, live: _Live) -> None:
        """SIGKILL to a PID namespace's init kills every process in it; the cgroup kill reaches the
        rest (shared or host PID namespaces, processes that escaped)."""
        live.kill_timer = None
        if live.record.id not in self._live:
            return
        self._signal(live.record, signal.SIGKILL)
        if self.cgroups.version:
            self.cgroups.kill(live.paths.uid, live.record.name)

    def _forget(self, container_id: str) -> None:
        live = self._live.pop(container_id, None)
        if live is None:
            return
        self.loop.cancel(live.kill_timer)
        if live.attach is not None:
            live.attach.close()
        for fd, writer in live.readers:
            self.loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                writer.close()
            with contextlib.suppress(OSError):
                os.close(fd)
        live.readers = []

    def _attach_point(self, layout: PodLayout, name: str, input_fd: int, tty_master: int,
                      stdin_once: bool) -> AttachPoint | None:
        """The container's attach socket; the descriptors given become its. None (logged) when it cannot be made:
        the container runs on, only not attachable."""
        try:
            return AttachPoint(self.loop, layout.container_dir(name), input_fd, tty_master, stdin_once)
        except OSError as e:
            log.warning("no attach socket for %s/%s: %s", layout.key, name, e)
            for fd in (input_fd, tty_master):
                if fd >= 0:
                    os.close(fd)
            return None

    # ================================================================== logs
    def _attach_logs(self, live: _Live, out_r: int, err_r: int | None) -> None:
        """Log pumps for the container's stdout and stderr (err_r None: a terminal, whose one stream is stdout)."""
        ensure_log_dir(live.paths, live.record.name)
        policy = RotationPolicy(self.cfg.container_log_max_size, self.cfg.container_log_max_files)
        streams = [(out_r, "stdout")] + ([] if err_r is None else [(err_r, "stderr")])
        logfile = LogFile(live.record.log_path, streams=len(streams), policy=policy)
        for fd, stream in streams:
            writer = LogWriter(logfile, stream)
            os.set_blocking(fd, False)
            live.readers.append((fd, writer))
            self.loop.add_reader(fd, self._pumper(live, fd, writer))

    def _pumper(self, live: _Live, fd: int, writer: LogWriter) -> Callable[[], None]:
        return lambda: self._pump(live, fd, writer)

    def _reopen_logs(self, live: _Live) -> None:
        """After a supervisor restart: the pipes still exist, held by the container; open new read ends."""
        fds = []
        for n in (1, 2):
            try:
                fd = os.open(f"/proc/{live.record.pid}/fd/{n}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                if os.isatty(fd):  # tty: true: the container's terminal, whose master is gone; never read its input
                    os.close(fd)
                    raise OSError(errno.ENOTTY, "a terminal")
                fds.append(fd)
            except OSError:
                fds.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
        self._attach_logs(live, fds[0], fds[1])

    def _pump(self, live: _Live, fd: int, writer: LogWriter, final: bool = False) -> None:
        if all(f != fd for f, _ in live.readers):
            return
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                if final:
                    writer.flush()
                return
            except OSError:
                data = b""
            if not data:
                writer.close()
                self.loop.remove_reader(fd)
                os.close(fd)
                live.readers = [(f, w) for f, w in live.readers if f != fd]
                return
            writer.feed(data)
            if live.attach is not None:
                live.attach.output(writer.stream.decode(), data)

    # ================================================================== cgroups of a container
    def _attach_cgroups(self, pod: Pod, layout: PodLayout, spec: Container, plan: PodCgroupPlan,
                        pid: int, oom_score_adj: int | None = None,
                        device_rules: tuple[DeviceRule, ...] = (),
                        raw: RawResources = RawResources()) -> dict[str, object]:
        """Before the container's init may exec: its cgroup with its device rules, then oom_score_adj
        (clamped if refused). Returns the record fields it sets."""
        uid = pod.metadata.uid
        self.cgroups.setup_container(plan, spec.name)
        if raw:
            self.cgroups.set_raw(uid, spec.name, raw, resources_of(spec).memory_limit)
        # Device rules before the first task enters the group (exec'd processes join it later and
        # get them too); the pod's own group has none, as under the kubelet.
        security = spec.security_context
        privileged = bool(security and security.privileged)
        # The container's own device nodes (CRI's devices) are exceptions to the default deny; a privileged
        # container allows every device already.
        rules = container_rules(privileged) + (() if privileged else device_rules)
        self.cgroups.set_devices(uid, spec.name, rules)
        if not self.cgroups.version and not privileged:
            self._degraded(layout, "no usable cgroups: containers' access to device nodes is not restricted")
        self.cgroups.attach(pid, uid, spec.name)
        wanted = oom_score_adj if oom_score_adj is not None else plan.oom_score_adj[spec.name]
        got = apply_oom_score_adj(pid, wanted)
        if got != wanted:
            self._degraded(layout, f"oom_score_adj {wanted} refused by the host (no CAP_SYS_RESOURCE); clamped to {got}")
        paths = self.cgroups.paths(uid, spec.name) if self.cgroups.version else {}
        return {"cgroup_paths": paths, "oom_score_adj": got}

    def _degraded(self, layout: PodLayout, message: str) -> None:
        """A degraded-but-running condition (a clamped oom_score_adj): recorded once in the sandbox's
        facts (describe shows it), then reported through `warn` (the worker's event)."""
        state = sbx.load_sandbox(layout)
        if state is None or message in state.warnings:
            return
        state.warnings.append(message)
        write_json(layout.sandbox_json, state.to_dict())
        self.warn(layout, message)

    def _cgroup_mounts(self, uid: str, name: str) -> tuple[list[Mount], bool]:
        """What the container sees at /sys/fs/cgroup: its own cgroup, read-only (mounts, cgroupns)."""
        paths = self.cgroups.paths(uid, name) if self.cgroups.version == 1 else {}
        return cgroup_view_mounts(self.cgroups.version, paths)

    # ================================================================== node
    def reclaim(self, alive: dict[str, str]) -> None:
        """After a crash: remove what pods that no longer exist left behind (pod key -> uid of the living)."""
        uids = set(alive.values())
        marks = self._cgroup_marks()
        for uid in os.listdir(marks) if os.path.isdir(marks) else []:
            if uid not in uids:
                self.cgroups.remove_pod(uid)
                os.unlink(os.path.join(marks, uid))
                log.info("reclaimed the cgroups of vanished pod %s", uid)
        for path in reclaim_orphans(self.cfg, uids):
            log.info("reclaimed %s", path)
        # Image leases of containers whose directories are gone (a wiped state root, a reboot): listing
        # the leases removes those, so the images they named can be removed again.
        self.images.leases()
        if self.cfg.network != "bridge":
            return
        for key in reclaim_stale(self._net_config(), {net_key(k) for k in alive}):
            log.info("reclaimed the network of vanished pod %s", key)

    def node_teardown(self) -> None:
        """The last pod is gone: remove node-wide things (bridge, NAT table, cgroup parents)."""
        if self.cfg.network == "bridge":
            remove_bridge_if_unused(self._net_config())
        self.cgroups.cleanup_parent()

    def _save(self, layout: PodLayout, record: ContainerRecord) -> None:
        os.makedirs(layout.container_dir(record.name), exist_ok=True)
        write_json(layout.container_record(record.name), record.to_json())
        live = self._live.get(record.id)
        if live is not None:
            live.record = record


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _container_spec(pod: Pod, name: str) -> Container:
    for c in pod.spec.init_containers + pod.spec.containers:
        if c.name == name:
            return c
    raise KeyError(name)


def _short_cgroup_key(key: str) -> str:
    """`cpu:burstable/pod<uid>/web/cpu.shares` -> `web cpu.shares`; the pod's own -> `pod cpu.shares`."""
    rel = key.split(":", 1)[-1].split("/")
    at = next((i for i, part in enumerate(rel) if part.startswith("pod")), 0)
    owner = rel[at + 1] if len(rel) > at + 2 else "pod"
    return f"{owner} {rel[-1]}"


def net_key(key: str) -> str:
    """The network's name for a pod: namespace/name (what its errors and leases show)."""
    return key.replace("_", "/", 1)


def resources_of(container: Container) -> ContainerResources:
    """The spec model's requests/limits as the plain numbers the cgroup arithmetic takes."""
    req, lim = container.resources.requests, container.resources.limits

    def milli(q: Quantity | None) -> int | None:
        return q.milli_value() if q is not None else None

    def value(q: Quantity | None) -> int | None:
        return q.value() if q is not None else None

    return ContainerResources(container.name, milli(req.get("cpu")), milli(lim.get("cpu")),
                              value(req.get("memory")), value(lim.get("memory")))


def pod_level_of(pod: Pod) -> PodLevelResources | None:
    """The pod's spec.resources (cpu and memory) as the cgroup arithmetic takes them; None when unset."""
    res = pod.spec.resources
    if res is None:
        return None

    def get(values: dict[str, Quantity], name: str, milli: bool) -> int | None:
        q = values.get(name)
        if q is None:
            return None
        return q.milli_value() if milli else q.value()

    return PodLevelResources(get(res.requests, "cpu", True), get(res.limits, "cpu", True),
                             get(res.requests, "memory", False), get(res.limits, "memory", False))


def host_device(host_path: str, container_path: str, access: str) -> DeviceNode:
    """The device node at `host_path` on the host, to be made at `container_path` with `access` ("" = rwm, as
    containerd's default). Its type, numbers, mode and owner are the host node's (containerd's DeviceFromPath)."""
    access = access or "rwm"
    if not access or set(access) - set("rwm") or len(set(access)) != len(access):
        raise ContainerConfigError(f"device {host_path}: permissions {access!r} must be letters of 'rwm'")
    if not container_path.startswith("/") or ".." in container_path.split("/"):
        raise ContainerConfigError(f"device {host_path}: container path {container_path!r} must be absolute, "
                                   "without '..'")
    try:
        info = os.stat(host_path)
    except OSError as e:
        raise ContainerConfigError(f"device {host_path}: {e.strerror} on the host") from None
    if stat.S_ISCHR(info.st_mode):
        kind = "c"
    elif stat.S_ISBLK(info.st_mode):
        kind = "b"
    else:
        raise ContainerConfigError(f"device {host_path}: not a character or block device on the host")
    return DeviceNode(container_path, kind, os.major(info.st_rdev), os.minor(info.st_rdev), info.st_mode,
                      info.st_uid, info.st_gid, "".join(a for a in "rwm" if a in access))
