"""Attach and detach one pod: bridge, lease, veth, eth0, hostPort rules; and crash recovery.

Every set-up step pushes its undo on an ExitStack; a failure unwinds them in reverse, so a
failed set-up leaves no veth, lease or rule behind. The node-wide lock (ipam.Ipam.locked) is
held for the whole of a set-up or teardown: two processes never race on the bridge, the
nftables table or an address. That lock is the root's; the bridge, subnet and table are the
host's, so a root claims them host-wide (``claims.py``) before its first pod is attached, and
another root whose settings would share them is refused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Sequence

from pyrunc.network import claims, links, nftables
from pyrunc.network.ipam import Ipam, Lease
from pyrunc.network.model import NetConfig, PodNetwork, PortMapping, check_pod_key


# The NAT tables this process wrote (render_node_table) and has not deleted since. A pod without hostPorts
# needs nothing of nftables once its bridge's table is there: the masquerade rules match the whole subnet.
# So only the first pod of a process (the supervisor) and pods with hostPorts run `nft` at set-up (~10-20 ms
# each, most of it the kernel's commit). What this gives up: a firewall reload that flushed the chains meanwhile
# is repaired by the next pod with hostPorts or the next supervisor, no longer by every pod.
_tables_written: set[str] = set()


def _ipam(cfg: NetConfig) -> Ipam:
    return Ipam(directory=os.path.join(cfg.root, "network"), subnet=cfg.subnet)


def setup_pod_network(
    cfg: NetConfig, pod_key: str, netns_path: str, ports: Sequence[PortMapping] = ()
) -> PodNetwork:
    """Give the pod behind ``netns_path`` an eth0 with its own address on the node bridge."""
    cfg.check()
    check_pod_key(pod_key)
    for port in ports:
        port.check()
    ports = tuple(ports)
    ipam = _ipam(cfg)
    prefix_len = cfg.network.prefixlen
    with ipam.locked():
        # Before anything is made: the bridge, subnet and table must be this root's (claims.py).
        claims.claim(cfg)
        old = ipam.find(pod_key)
        if old is not None:
            # Left by a crash in the middle of a previous attempt for the same pod: start clean.
            _teardown(cfg, ipam, old)
        with links.iproute_in() as ipr, contextlib.ExitStack() as undo:
            bridge_index = links.ensure_bridge(ipr, cfg.bridge, cfg.gateway, prefix_len)
            _node_settings(cfg)
            lease = ipam.allocate(pod_key, cfg.host_veth(pod_key), ports)
            undo.callback(ipam.release, lease.ip)
            links.create_veth(ipr, lease.host_veth, netns_path, bridge_index)  # replaces a leftover of a crash
            undo.callback(links.delete_link, ipr, lease.host_veth)
            with links.iproute_in(netns_path) as ipr_pod:
                links.configure_pod_side(ipr_pod, lease.ip, prefix_len, cfg.gateway)
            if ports or cfg.table not in _tables_written:
                # One transaction: node-wide NAT (idempotent) and this pod's hostPorts, or nothing.
                script = nftables.render_node_table(cfg) + nftables.render_add_ports(cfg, pod_key, lease.ip, ports)
                nftables.nft(script, f"add the NAT rules of pod {pod_key}")
                _tables_written.add(cfg.table)
            undo.pop_all()
    return PodNetwork(ip=lease.ip, prefix_len=prefix_len, gateway=cfg.gateway, host_veth=lease.host_veth, ports=ports)


def _node_settings(cfg: NetConfig) -> None:
    """Forwarding and localhost-to-pod routing: node-wide, idempotent."""
    links.write_sysctl("net/ipv4/ip_forward", "1")
    # Without route_localnet the kernel drops a packet whose source is 127.0.0.1 as a martian
    # once the output DNAT re-routes it to the bridge: 127.0.0.1:hostPort would not work.
    links.write_sysctl(f"net/ipv4/conf/{cfg.bridge}/route_localnet", "1")


def teardown_pod_network(cfg: NetConfig, pod_key: str) -> None:
    """Remove the pod's rules, veth and lease; nothing to remove is fine."""
    ipam = _ipam(cfg)
    with ipam.locked():
        lease = ipam.find(pod_key)
        if lease is not None:
            _teardown(cfg, ipam, lease)
        else:
            with links.iproute_in() as ipr:
                links.delete_link(ipr, cfg.host_veth(pod_key))


def _teardown(cfg: NetConfig, ipam: Ipam, lease: Lease) -> None:
    # Reverse order of set-up; the lease goes last so a crash in between is found again.
    if lease.ports:
        # The table part makes the maps exist, so the deletes cannot fail on a missing table.
        script = nftables.render_node_table(cfg) + nftables.render_delete_ports(cfg, lease.pod_key, lease.ip, lease.ports)
        nftables.nft(script, f"delete the hostPorts of pod {lease.pod_key}")
    with links.iproute_in() as ipr:
        # When the pod's netns is already gone, the kernel deleted the veth pair with it.
        links.delete_link(ipr, lease.host_veth)
    ipam.release(lease.ip)


def reclaim_stale(cfg: NetConfig, alive_pod_keys: Collection[str]) -> list[str]:
    """Tear down every lease whose pod is not alive (after a crash); returns their pod keys."""
    ipam = _ipam(cfg)
    alive = set(alive_pod_keys)
    reclaimed = []
    with ipam.locked():
        for lease in ipam.leases():
            if lease.pod_key not in alive:
                _teardown(cfg, ipam, lease)
                reclaimed.append(lease.pod_key)
    return reclaimed


def remove_bridge_if_unused(cfg: NetConfig) -> bool:
    """Delete the bridge and the NAT table when no pod holds a lease and no other root owns them;
    True when removed."""
    ipam = _ipam(cfg)
    with ipam.locked():
        if ipam.leases():
            return False
        if claims.other_owner(cfg) is not None:
            return False  # another root's (this one was refused): its pods are on them
        _tables_written.discard(cfg.table)
        nftables.delete_table(cfg)
        links.forget_bridge(cfg.bridge)
        with links.iproute_in() as ipr:
            links.delete_link(ipr, cfg.bridge)
        claims.release(cfg)
    return True
