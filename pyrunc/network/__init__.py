"""Pod networking: one IP per pod on a node bridge, file-locked IPAM, hostPorts, hosts/resolv files.

Importing this package is cheap: pyroute2 is loaded only inside the functions that touch links.
"""

from __future__ import annotations

from pyrunc.network.files import read_host_resolv, render_hosts, render_resolv
from pyrunc.network.model import NetConfig, PodNetwork, PortMapping
from pyrunc.network.pod import reclaim_stale, remove_bridge_if_unused, setup_pod_network, teardown_pod_network

__all__ = [
    "NetConfig",
    "PodNetwork",
    "PortMapping",
    "read_host_resolv",
    "reclaim_stale",
    "remove_bridge_if_unused",
    "render_hosts",
    "render_resolv",
    "setup_pod_network",
    "teardown_pod_network",
]
