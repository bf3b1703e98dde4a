"""NAT rules of the pod network, as nftables text fed to ``nft -f -``.

Why nftables text through ``nft -f -``: one ``nft -f`` run is one kernel transaction, so a
pod's rules appear or vanish together, never half; the text is what ``nft list`` prints, so a
human can read and diff it; it needs no netlink library for nf_tables (pyroute2's is partial);
and the iptables CLI on Debian 12 is itself nf_tables underneath, so nothing is gained there.

Shape: one ``table ip pyrunc_<bridge>`` holds everything of one bridge, so removing the node's
network is one ``delete table``. Per-pod hostPorts are not rules but *map elements*:

    hostports      l4proto . port          : pod ip . container port   (hostIP unset: every local address)
    hostports_ip   host ip . l4proto . port : pod ip . container port   (hostIP set)

A pod's ports are added and deleted as elements by key, in one transaction, and each element
carries the pod key as its comment. Deleting by key needs no rule handles to be looked up
first (rule deletion does), and the lease on disk holds the keys. nft 1.0.6 (Debian 12) has no
``destroy element``, so a delete that must not fail on a missing element is written as
``add`` + ``delete`` of the same element (the add is a no-op when it exists).

Node-wide rules live in five chains. ``render_node_table`` is idempotent: it adds the table,
maps and chains (``add`` of an existing one is a no-op), *flushes* the five chains and adds
their rules again, all in the same transaction as the pod's elements. So every set-up is one
``nft`` run, needs no "does the table exist?" query first, and repairs rules someone flushed
(a firewall reload); the maps, which hold the pods' ports, are never flushed.
  * prerouting + output: packets to a local address (``fib daddr type local``) go through the
    two maps; output is what makes ``127.0.0.1:hostPort`` work from the node itself, as the
    CNI portmap plugin does.
  * postrouting: masquerade pod traffic leaving the subnet; masquerade DNAT'ed traffic from
    127.0.0.0/8 to a pod (it needs ``route_localnet=1`` on the bridge to be routed at all);
    masquerade DNAT'ed traffic from pods to pods (hairpin through a hostPort), so replies
    come back through the node and get un-NAT'ed.
  * input (filter): drop packets that enter through the bridge to 127.0.0.0/8, do not come from
    127.0.0.0/8 and are neither replies nor DNAT'ed: kube-proxy's rule for CVE-2020-8558, scoped
    to the one interface where pyrunc sets ``route_localnet=1`` (needed for ``127.0.0.1:hostPort``
    from the node), which also makes the kernel accept a packet a pod addresses to 127.0.0.1
    through its gateway; without this rule a pod could reach every host service bound to localhost.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from pyrunc.errors import NetworkError
from pyrunc.network.model import NetConfig, PortMapping

# The "dstnat" keyword is refused for the output hook by nft 1.0.6; -100 is its value.
_DSTNAT = "-100"


def render_node_table(cfg: NetConfig) -> str:
    """The table, its maps and node-wide chains with their rules; safe to feed again and again."""
    t, net, br = f"ip {cfg.table}", cfg.subnet, cfg.bridge
    return "\n".join(
        [
            f"add table {t}",
            f"add map {t} hostports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}",
            f"add map {t} hostports_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}",
            f"add chain {t} hostports",
            f"add chain {t} prerouting {{ type nat hook prerouting priority {_DSTNAT}; policy accept; }}",
            f"add chain {t} output {{ type nat hook output priority {_DSTNAT}; policy accept; }}",
            f"add chain {t} postrouting {{ type nat hook postrouting priority 100; policy accept; }}",
            f"add chain {t} input {{ type filter hook input priority 0; policy accept; }}",
            *(f"flush chain {t} {chain}" for chain in ("hostports", "prerouting", "output", "postrouting", "input")),
            f"add rule {t} hostports dnat ip to ip daddr . meta l4proto . th dport map @hostports_ip",
            f"add rule {t} hostports dnat ip to meta l4proto . th dport map @hostports",
            f"add rule {t} prerouting meta l4proto {{ tcp, udp }} fib daddr type local jump hostports",
            f"add rule {t} output meta l4proto {{ tcp, udp }} fib daddr type local jump hostports",
            f"add rule {t} postrouting ip saddr {net} ip daddr != {net} masquerade",
            f'add rule {t} postrouting oifname "{br}" ip saddr 127.0.0.0/8 ct status dnat masquerade',
            f'add rule {t} postrouting oifname "{br}" ip saddr {net} ct status dnat masquerade',
            # Written as `nft list` prints it: "!" = none of these flags. Only what enters through
            # this bridge: its route_localnet is ours to answer for (another root's bridge has its
            # own table and rule).
            f'add rule {t} input iifname "{br}" ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 '
            "ct state ! established,related ct status ! dnat drop",
            "",
        ]
    )


def _element(port: PortMapping, pod_ip: str, pod_key: str) -> tuple[str, str]:
    """(map name, element text) of one hostPort."""
    key = f"{port.protocol.lower()} . {port.host_port}"
    if port.host_ip:
        return "hostports_ip", f'{port.host_ip} . {key} comment "{pod_key}" : {pod_ip} . {port.container_port}'
    return "hostports", f'{key} comment "{pod_key}" : {pod_ip} . {port.container_port}'


def _key(port: PortMapping) -> str:
    key = f"{port.protocol.lower()} . {port.host_port}"
    return f"{port.host_ip} . {key}" if port.host_ip else key


def render_add_ports(cfg: NetConfig, pod_key: str, pod_ip: str, ports: Sequence[PortMapping]) -> str:
    lines = []
    for port in ports:
        name, element = _element(port, pod_ip, pod_key)
        lines.append(f"add element ip {cfg.table} {name} {{ {element} }}")
    return "\n".join(lines + [""])


def render_delete_ports(cfg: NetConfig, pod_key: str, pod_ip: str, ports: Sequence[PortMapping]) -> str:
    """Delete a pod's elements; succeeds whether or not they are still there (add, then delete)."""
    lines = []
    for port in ports:
        name, element = _element(port, pod_ip, pod_key)
        lines.append(f"add element ip {cfg.table} {name} {{ {element} }}")
        lines.append(f"delete element ip {cfg.table} {name} {{ {_key(port)} }}")
    return "\n".join(lines + [""])


def nft(script: str, what: str) -> None:
    """Run ``nft -f -`` on ``script`` as one transaction; NetworkError naming ``what`` on failure."""
    if not script.strip():
        return
    proc = _run(["-f", "-"], script)
    if proc.returncode != 0:
        detail = " ".join(line for line in proc.stderr.splitlines() if "Error" in line)
        raise NetworkError(f"nft could not {what}: {detail or proc.stderr.strip()}")


def delete_table(cfg: NetConfig) -> None:
    # add + delete: no error when the table is already gone.
    nft(f"add table ip {cfg.table}\ndelete table ip {cfg.table}\n", f"delete table {cfg.table}")


def _run(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
    if exe is None:
        raise NetworkError("nft not found: pod networking needs nftables", hint="apt-get install nftables")
    # LC_ALL=C: error text is matched by humans only, but keep it stable in logs.
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, env={"LC_ALL": "C"}, check=False)
