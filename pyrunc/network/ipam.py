"""Host-local address management: one lease file per pod address, under one file lock.

Layout under ``<root>/network/``::

    lock            flock(2) taken for every allocation, release and whole set-up/teardown
    last_reserved   the address handed out last; the next search starts after it
    leases/<ip>     JSON {"pod_key", "host_veth", "ports": [...]}, written tmp + rename (no fsync, as
                    store/atomic.py: the root is under /run, which a power loss empties anyway)

Like the CNI host-local plugin, addresses go round-robin from the last one handed out, so an
address just released is not reused at once (conntrack entries and ARP caches of the old pod
would otherwise still point at it). A lease is a fact on disk: it survives a crash of the
daemon, and ``reclaim_stale`` frees the ones whose pod is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pyrunc.errors import NetworkError
from pyrunc.network.model import PortMapping


@dataclass(frozen=True, slots=True)
class Lease:
    ip: str
    pod_key: str
    host_veth: str
    ports: tuple[PortMapping, ...] = ()


@dataclass(frozen=True, slots=True)
class Ipam:
    """Leases of one pod subnet kept in ``directory`` (``<root>/network``)."""

    directory: str
    subnet: str

    @property
    def _leases_dir(self) -> str:
        return os.path.join(self.directory, "leases")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the node-wide network lock (not re-entrant: flock is per open file)."""
        os.makedirs(self._leases_dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.directory, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor drops the lock

    def leases(self) -> list[Lease]:
        try:
            names = sorted(os.listdir(self._leases_dir))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.startswith("."):
                continue  # a temporary file of an interrupted write
            try:
                with open(os.path.join(self._leases_dir, name), encoding="utf-8") as f:
                    data = json.load(f)
            except (OSError, ValueError):
                continue  # vanished or torn: not a lease
            ports = tuple(PortMapping(**p) for p in data.get("ports", ()))
            found.append(Lease(ip=name, pod_key=data["pod_key"], host_veth=data["host_veth"], ports=ports))
        return found

    def find(self, pod_key: str) -> Lease | None:
        return next((lease for lease in self.leases() if lease.pod_key == pod_key), None)

    def allocate(self, pod_key: str, host_veth: str, ports: Sequence[PortMapping] = ()) -> Lease:
        """Lease a free address for ``pod_key``; call with the lock held."""
        taken = self.leases()
        for port in ports:
            for other in taken:
                if other.pod_key != pod_key and any(port.clashes_with(p) for p in other.ports):
                    raise NetworkError(f"hostPort {port.label} is already used by pod {other.pod_key}")
        ip = self._next_free({lease.ip for lease in taken})
        lease = Lease(ip=ip, pod_key=pod_key, host_veth=host_veth, ports=tuple(ports))
        body = {"pod_key": pod_key, "host_veth": host_veth, "ports": [_port_dict(p) for p in ports]}
        _write_atomic(os.path.join(self._leases_dir, ip), json.dumps(body, sort_keys=True))
        _write_atomic(os.path.join(self.directory, "last_reserved"), ip)
        return lease

    def release(self, ip: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._leases_dir, ip))

    def _next_free(self, used: set[str]) -> str:
        net = ipaddress.IPv4Network(self.subnet)
        # Usable: after the gateway (first host) up to before the broadcast address.
        first, last = int(net.network_address) + 2, int(net.broadcast_address) - 1
        start = first
        try:
            with open(os.path.join(self.directory, "last_reserved"), encoding="utf-8") as f:
                previous = int(ipaddress.IPv4Address(f.read().strip()))
            if first <= previous < last:
                start = previous + 1
        except (OSError, ValueError):
            pass
        size = last - first + 1
        for step in range(size):
            candidate = str(ipaddress.IPv4Address(first + (start - first + step) % size))
            if candidate not in used:
                return candidate
        raise NetworkError(f"no free address left in pod subnet {self.subnet} ({size} in use)")


def _port_dict(p: PortMapping) -> dict[str, object]:
    return {"host_port": p.host_port, "container_port": p.container_port, "protocol": p.protocol, "host_ip": p.host_ip}


def _write_atomic(path: str, text: str) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
