"""Node services the pod runners use: cgroups, networking, the pod's /etc files.

Kept apart from PodRunner so the pod logic does not care which cgroup version or network mode
the node has; every method is safe to call twice (teardown paths are retried).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

from pyrunc.config import NodeConfig
from pyrunc.sandbox import sandbox as sbx
from pyrunc.supervisor.loop import Loop

log = logging.getLogger("pyrunc.node")


def machine_memory() -> int:
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def host_ip() -> str:
    """The node's primary IPv4 address: that of the default route's interface (SIOCGIFADDR)."""
    import fcntl
    import struct

    try:
        with open("/proc/net/route", encoding="utf-8") as f:
            routes = [line.split() for line in f.readlines()[1:]]
        iface = next(r[0] for r in routes if len(r) > 2 and r[1] == "00000000")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("256s", iface.encode()[:15])
            return socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
    except (OSError, StopIteration):
        return "127.0.0.1"


class Node:
    def __init__(self, cfg: NodeConfig, loop: Loop) -> None:
        self.cfg = cfg
        self.loop = loop
        self.memory = machine_memory()
        self.cpus = os.cpu_count() or 1
        self.host_ip = host_ip()
        self.served_once = False

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
            net = setup_pod_network(self._net_config(), runner.layout.key, state.namespaces["net"], ports)
            state.network = {"ip": net.ip, "prefixLen": net.prefix_len, "gateway": net.gateway, "hostVeth": net.host_veth}

        return setup

    def network_teardown(self, runner: Any) -> None:
        if self.cfg.network != "bridge" or runner.pod.spec.host_network:
            return
        from pyrunc.network import teardown_pod_network

        teardown_pod_network(self._net_config(), runner.layout.key)

    def reclaim(self, alive_keys: set[str]) -> None:
        """After a crash: remove network leftovers of pods that no longer exist."""
        if self.cfg.network != "bridge":
            return
        from pyrunc.network import reclaim_stale

        for key in reclaim_stale(self._net_config(), alive_keys):
            log.info("reclaimed the network of vanished pod %s", key)

    def remove_remains(self, layout: Any) -> None:
        if self.cfg.network == "bridge":
            from pyrunc.network import teardown_pod_network

            teardown_pod_network(self._net_config(), layout.key)
        sbx.teardown_sandbox(layout)

    def node_teardown(self) -> None:
        """The last pod is gone: remove node-wide things (bridge, NAT table, cgroup parents)."""
        if self.cfg.network == "bridge":
            from pyrunc.network import remove_bridge_if_unused

            remove_bridge_if_unused(self._net_config())

    # ------------------------------------------------------------ cgroups (wired by the cgroups issue)
    def cgroups_setup(self, runner: Any) -> None:
        pass

    def cgroups_attach(self, runner: Any, run: Any, pid: int) -> None:
        pass

    def cgroups_oom_killed(self, runner: Any, run: Any) -> bool:
        return False

    def cgroups_reset_container(self, runner: Any, run: Any) -> None:
        pass

    def cgroups_kill(self, runner: Any, run: Any) -> None:
        pass

    def cgroups_teardown(self, runner: Any) -> None:
        pass
