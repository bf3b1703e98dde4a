"""Node services the pod runners use: cgroups, networking, the pod's /etc files.

Kept apart from PodRunner so the pod logic does not care which cgroup version or network mode
the node has; every method is safe to call twice (teardown paths are retried).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any, Callable

from pyrunc.config import NodeConfig
from pyrunc.linux.host import host_ip, machine_memory
from pyrunc.sandbox import sandbox as sbx
from pyrunc.supervisor.loop import Loop

log = logging.getLogger("pyrunc.node")


class Node:
    def __init__(self, cfg: NodeConfig, loop: Loop) -> None:
        self.cfg = cfg
        self.loop = loop
        self.memory = machine_memory()
        self.cpus = os.cpu_count() or 1
        self.host_ip = host_ip()
        from pyrunc.cgroups import detect

        self.cgroups = detect(parent=cfg.cgroup_parent, weight_method=cfg.cpu_weight_conversion)

    # ------------------------------------------------------------ /etc files
    def write_etc_files(self, runner: Any) -> None:
        from pyrunc.network.files import read_host_resolv, render_hosts, render_resolv

        spec = runner.pod.spec
        etc = runner.layout.path("etc")
        os.makedirs(etc, exist_ok=True)
        hostname = (spec.hostname or runner.pod.metadata.name)[:63]
        pod_ip = (runner.sandbox.network or {}).get("ip", "") if runner.sandbox else ""
        with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
            host_hosts = f.read()
        hosts = render_hosts(pod_ip or "127.0.0.1", hostname, spec.subdomain, runner.pod.metadata.namespace,
                             [(a.ip, a.hostnames) for a in spec.host_aliases], spec.host_network, host_hosts)
        dns = spec.dns_config
        options = [o.name if o.value is None else f"{o.name}:{o.value}" for o in dns.options] if dns else []
        resolv = render_resolv(read_host_resolv(), spec.dns_policy, dns.nameservers if dns else (),
                               dns.searches if dns else (), options)
        files = {"hosts": hosts, "resolv.conf": resolv,
                 "hostname": (socket.gethostname() if spec.host_network else hostname) + "\n"}
        for name, text in files.items():
            with open(os.path.join(etc, name), "w", encoding="utf-8") as f:
                f.write(text)

    def etc_mounts(self, runner: Any) -> dict[str, str]:
        etc = runner.layout.path("etc")
        return {f"/etc/{n}": os.path.join(etc, n) for n in ("hosts", "hostname", "resolv.conf")}

    # ------------------------------------------------------------ network
    def _net_config(self) -> Any:
        from pyrunc.network import NetConfig

        return NetConfig(root=self.cfg.root, bridge=self.cfg.bridge, subnet=self.cfg.pod_subnet)

    def network_setup(self, runner: Any) -> Callable[[sbx.SandboxState], None] | None:
        if self.cfg.network != "bridge" or runner.pod.spec.host_network:
            return None

        def setup(state: sbx.SandboxState) -> None:
            from pyrunc.network import PortMapping, setup_pod_network

            ports = [PortMapping(p.host_port, p.container_port, p.protocol, p.host_ip)
                     for c in runner.pod.spec.containers + runner.pod.spec.init_containers
                     for p in c.ports if p.host_port]
            net = setup_pod_network(self._net_config(), net_key(runner.layout.key), state.namespaces["net"], ports)
            state.network = {"ip": net.ip, "prefixLen": net.prefix_len, "gateway": net.gateway, "hostVeth": net.host_veth}

        return setup

    def network_teardown(self, runner: Any) -> None:
        if self.cfg.network != "bridge" or runner.pod.spec.host_network:
            return
        from pyrunc.network import teardown_pod_network

        teardown_pod_network(self._net_config(), net_key(runner.layout.key))

    def reclaim(self, alive: dict[str, str]) -> None:
        """After a crash: remove what pods that no longer exist left behind (pod key -> uid of the living)."""
        uids = set(alive.values())
        for uid in os.listdir(self._cgroup_marks()) if os.path.isdir(self._cgroup_marks()) else []:
            if uid not in uids:
                self.cgroups.remove_pod(uid)
                os.unlink(os.path.join(self._cgroup_marks(), uid))
                log.info("reclaimed the cgroups of vanished pod %s", uid)
        if self.cfg.network != "bridge":
            return
        from pyrunc.network import reclaim_stale

        for key in reclaim_stale(self._net_config(), {net_key(k) for k in alive}):
            log.info("reclaimed the network of vanished pod %s", key)

    def _cgroup_marks(self) -> str:
        """One empty file per pod uid whose cgroups this root created: several roots may share
        the cgroup parent, so only these are ours to reclaim."""
        return os.path.join(self.cfg.root, "cgroups")

    def remove_remains(self, layout: Any) -> None:
        if self.cfg.network == "bridge":
            from pyrunc.network import teardown_pod_network

            teardown_pod_network(self._net_config(), net_key(layout.key))
        sbx.teardown_sandbox(layout)

    def node_teardown(self) -> None:
        """The last pod is gone: remove node-wide things (bridge, NAT table, cgroup parents)."""
        if self.cfg.network == "bridge":
            from pyrunc.network import remove_bridge_if_unused

            remove_bridge_if_unused(self._net_config())
        self.cgroups.cleanup_parent()

    # ------------------------------------------------------------ cgroups
    def cgroups_setup(self, runner: Any) -> None:
        """The pod's cgroup with the kubelet's values; the holder (if any) in a group of its own."""
        from pyrunc.cgroups.plan import describe_values

        plan = runner.cgroup_plan = self.cgroups_plan(runner)
        os.makedirs(self._cgroup_marks(), exist_ok=True)
        with open(os.path.join(self._cgroup_marks(), runner.uid), "w"):
            pass
        sandbox = runner.sandbox
        sandbox.qos_class = plan.qos
        self.cgroups.setup_pod(plan)
        if self.cgroups.version:
            pod_dir = next(iter(self.cgroups.paths(runner.uid, None).values()))
            sandbox.cgroups = [("Driver", f"cgroup v{self.cgroups.version}"), ("Pod cgroup", pod_dir)]
            sandbox.cgroups += [(_short_cgroup_key(k), v) for k, v in describe_values(plan, self.cgroups.version,
                                                                                   self.cfg.cpu_weight_conversion)]
        else:
            sandbox.cgroups = [("Driver", f"none: {getattr(self.cgroups, 'reason', 'no usable cgroups')}")]
        if sandbox.holder_pid:
            # cgroup v2 forbids processes in a group that delegates controllers: the holder gets a leaf.
            self.cgroups.setup_container(plan, "pause")
            self.cgroups.attach(sandbox.holder_pid, runner.uid, "pause")

    def cgroups_plan(self, runner: Any) -> Any:
        from pyrunc.cgroups.plan import plan_pod

        spec = runner.pod.spec
        return plan_pod(runner.uid, [resources_of(c) for c in spec.containers],
                        [resources_of(c) for c in spec.init_containers], machine_memory=self.memory,
                        pids_limit=self.cfg.pod_pids_limit, weight_method=self.cfg.cpu_weight_conversion)

    def cgroups_attach(self, runner: Any, run: Any, pid: int) -> None:
        """Before the container's init may exec: its cgroup with its device rules, then oom_score_adj
        (clamped if refused)."""
        from pyrunc.cgroups.devices import container_rules
        from pyrunc.cgroups.oom import apply_oom_score_adj

        plan = runner.cgroup_plan
        self.cgroups.setup_container(plan, run.name)
        # Device rules before the first task enters the group (exec'd processes join it later and
        # get them too); the pod's own group has none, as under the kubelet.
        security = run.spec.security_context
        privileged = bool(security and security.privileged)
        self.cgroups.set_devices(runner.uid, run.name, container_rules(privileged))
        if not self.cgroups.version and not privileged:
            runner.warn_once("no usable cgroups: containers' access to device nodes is not restricted")
        self.cgroups.attach(pid, runner.uid, run.name)
        run.rec["cgroupPaths"] = self.cgroups.paths(runner.uid, run.name) if self.cgroups.version else {}
        wanted = plan.oom_score_adj[run.name]
        got = apply_oom_score_adj(pid, wanted)
        run.rec["oomScoreAdj"] = got
        if got != wanted:
            runner.warn_once(f"oom_score_adj {wanted} refused by the host (no CAP_SYS_RESOURCE); clamped to {got}")

    def cgroup_mounts(self, runner: Any, run: Any) -> tuple[list[Any], bool]:
        """What the container sees at /sys/fs/cgroup: its own cgroup, read-only (mounts, cgroupns)."""
        from pyrunc.runtime.config import Mount

        if self.cgroups.version == 2:
            return [Mount(destination="/sys/fs/cgroup", source="cgroup2", type="cgroup2", read_only=True)], True
        if self.cgroups.version == 1:
            mounts = [Mount(destination="/sys/fs/cgroup", source="tmpfs", type="tmpfs", data="mode=755")]
            for controller, path in sorted(self.cgroups.paths(runner.uid, run.name).items()):
                mounts.append(Mount(destination=f"/sys/fs/cgroup/{controller}", source=path, read_only=True))
            return mounts, False
        return [], False

    def cgroups_oom_killed(self, runner: Any, run: Any) -> bool:
        try:
            return bool(self.cgroups.version) and self.cgroups.oom_killed(runner.uid, run.name)
        except OSError:
            return False

    def cgroups_reset_container(self, runner: Any, run: Any) -> None:
        if self.cgroups.version:
            self.cgroups.remove_container(runner.uid, run.name)

    def cgroups_kill(self, runner: Any, run: Any) -> None:
        if self.cgroups.version:
            self.cgroups.kill(runner.uid, run.name)

    def cgroups_teardown(self, runner: Any) -> None:
        self.cgroups.remove_pod(runner.uid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._cgroup_marks(), runner.uid))


def _short_cgroup_key(key: str) -> str:
    """`cpu:burstable/pod<uid>/web/cpu.shares` -> `web cpu.shares`; the pod's own -> `pod cpu.shares`."""
    rel = key.split(":", 1)[-1].split("/")
    at = next((i for i, part in enumerate(rel) if part.startswith("pod")), 0)
    owner = rel[at + 1] if len(rel) > at + 2 else "pod"
    return f"{owner} {rel[-1]}"


def net_key(key: str) -> str:
    """The network's name for a pod: namespace/name (what its errors and leases show)."""
    return key.replace("_", "/", 1)


def resources_of(container: Any) -> Any:
    """The spec model's requests/limits as the plain numbers the cgroup arithmetic takes."""
    from pyrunc.cgroups.plan import ContainerResources

    req, lim = container.resources.requests, container.resources.limits

    def milli(q: Any) -> int | None:
        return q.milli_value() if q is not None else None

    def value(q: Any) -> int | None:
        return q.value() if q is not None else None

    return ContainerResources(container.name, milli(req.get("cpu")), milli(lim.get("cpu")),
                              value(req.get("memory")), value(lim.get("memory")))
