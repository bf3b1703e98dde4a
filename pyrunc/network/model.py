"""Plain data of pod networking: the node's settings, one hostPort, one pod's attachment.

Pure: no I/O and no pyroute2, so ``pyrunc get`` can load it for nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from pyrunc.errors import NetworkError

# Kernel interface names are at most IFNAMSIZ - 1 = 15 bytes.
IFNAME_MAX = 15
# Pod keys land in file contents and in nft comments: keep them to the characters
# Kubernetes names may contain ("namespace/name"), so nothing can break out of a quote.
_POD_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$")
PROTOCOLS = ("TCP", "UDP")


@dataclass(frozen=True, slots=True)
class NetConfig:
    """Node network settings. Leases live under ``<root>/network/``."""

    root: str
    bridge: str = "pyrunc0"
    subnet: str = "10.66.0.0/16"

    @property
    def network(self) -> ipaddress.IPv4Network:
        try:
            net = ipaddress.IPv4Network(self.subnet, strict=True)
        except ValueError as e:
            raise NetworkError(f"pod subnet {self.subnet!r} is not an IPv4 network: {e}") from None
        if net.prefixlen > 30:
            raise NetworkError(f"pod subnet {self.subnet} is too small (needs /30 or larger)")
        return net

    @property
    def gateway(self) -> str:
        """The bridge's address: the subnet's first host address (as the CNI bridge plugin)."""
        return str(self.network.network_address + 1)

    @property
    def table(self) -> str:
        """The nftables table (family ip) that holds every rule of this bridge."""
        return "pyrunc_" + re.sub(r"[^A-Za-z0-9_]", "_", self.bridge)

    def check(self) -> None:
        if not self.bridge or len(self.bridge.encode()) > IFNAME_MAX or "/" in self.bridge or " " in self.bridge:
            raise NetworkError(f"bridge name {self.bridge!r} is not a valid interface name (1-15 characters)")
        self.network  # noqa: B018 - validates the subnet

    def host_veth(self, pod_key: str) -> str:
        """Host end of a pod's veth: stable per (root, bridge, pod), so two roots never clash."""
        digest = hashlib.sha256(f"{self.root}\0{self.bridge}\0{pod_key}".encode()).hexdigest()
        return "vp" + digest[:10]


@dataclass(frozen=True, slots=True)
class PortMapping:
    """One ``ports[]`` entry with a hostPort."""

    host_port: int
    container_port: int
    protocol: str = "TCP"
    host_ip: str = ""

    def check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise NetworkError(f"hostPort {self.host_port}: protocol {self.protocol!r} is not TCP or UDP")
        for what, port in (("hostPort", self.host_port), ("containerPort", self.container_port)):
            if not 1 <= port <= 65535:
                raise NetworkError(f"{what} {port} is not in 1-65535")
        if self.host_ip:
            try:
                ipaddress.IPv4Address(self.host_ip)
            except ValueError:
                raise NetworkError(f"hostIP {self.host_ip!r} of hostPort {self.host_port} is not an IPv4 address") from None

    def clashes_with(self, other: PortMapping) -> bool:
        """Same port and protocol, on overlapping addresses ("" is every address)."""
        if (self.host_port, self.protocol) != (other.host_port, other.protocol):
            return False
        return not self.host_ip or not other.host_ip or self.host_ip == other.host_ip

    @property
    def label(self) -> str:
        return f"{self.host_port}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class PodNetwork:
    """What ``setup_pod_network`` attached; JSON-able with ``dataclasses.asdict``."""

    ip: str
    prefix_len: int
    gateway: str
    host_veth: str
    ports: tuple[PortMapping, ...] = ()


def check_pod_key(pod_key: str) -> None:
    if not _POD_KEY.match(pod_key):
        raise NetworkError(f"pod key {pod_key!r} is not a namespace/name of letters, digits, '.', '-', '_'")
