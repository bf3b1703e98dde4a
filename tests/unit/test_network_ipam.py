"""IPAM: leases on disk under a lock (pure file I/O, no root)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from pyrunc.errors import NetworkError
from pyrunc.network.ipam import Ipam
from pyrunc.network.model import PortMapping


def _ipam(tmp_path, subnet="10.66.9.0/29") -> Ipam:
    return Ipam(directory=str(tmp_path / "network"), subnet=subnet)


def _alloc(ipam: Ipam, key: str, ports=()):
    with ipam.locked():
        return ipam.allocate(key, "vp" + key[-10:].rjust(10, "0"), ports)


def test_first_address_is_after_the_gateway(tmp_path):
    ipam = _ipam(tmp_path)
    assert _alloc(ipam, "default/a").ip == "10.66.9.2"
    assert _alloc(ipam, "default/b").ip == "10.66.9.3"


def test_lease_records_pod_veth_and_ports_on_disk(tmp_path):
    ipam = _ipam(tmp_path)
    ports = (PortMapping(8080, 80), PortMapping(53, 53, "UDP", "127.0.0.1"))
    with ipam.locked():
        lease = ipam.allocate("default/web", "vp0123456789", ports)
    assert os.path.exists(tmp_path / "network" / "leases" / lease.ip)
    again = Ipam(directory=str(tmp_path / "network"), subnet="10.66.9.0/29").find("default/web")
    assert again == lease


def test_release_then_round_robin_does_not_reuse_at_once(tmp_path):
    ipam = _ipam(tmp_path)
    a = _alloc(ipam, "default/a")
    ipam.release(a.ip)
    assert ipam.find("default/a") is None
    assert _alloc(ipam, "default/b").ip == "10.66.9.3"


def test_released_address_is_reused_after_wrapping(tmp_path):
    ipam = _ipam(tmp_path)  # /29: .2 .. .6 usable (.1 gateway, .7 broadcast)
    got = [_alloc(ipam, f"default/p{i}").ip for i in range(5)]
    assert got == [f"10.66.9.{i}" for i in range(2, 7)]
    ipam.release("10.66.9.3")
    assert _alloc(ipam, "default/new").ip == "10.66.9.3"


def test_exhaustion_is_a_network_error(tmp_path):
    ipam = _ipam(tmp_path)
    for i in range(5):
        _alloc(ipam, f"default/p{i}")
    with pytest.raises(NetworkError, match=r"no free address left in pod subnet 10\.66\.9\.0/29"):
        _alloc(ipam, "default/one-too-many")


def test_taken_host_port_names_the_other_pod(tmp_path):
    ipam = _ipam(tmp_path)
    _alloc(ipam, "default/web", (PortMapping(8080, 80),))
    with pytest.raises(NetworkError) as err:
        _alloc(ipam, "default/other", (PortMapping(8080, 9000),))
    assert str(err.value) == "hostPort 8080/TCP is already used by pod default/web"
    assert ipam.find("default/other") is None


def test_host_ip_and_protocol_make_ports_distinct(tmp_path):
    ipam = _ipam(tmp_path)
    _alloc(ipam, "default/a", (PortMapping(8080, 80, "TCP", "127.0.0.1"),))
    _alloc(ipam, "default/b", (PortMapping(8080, 80, "TCP", "127.0.0.2"), PortMapping(8080, 80, "UDP")))
    with pytest.raises(NetworkError, match="hostPort 8080/TCP is already used by pod default/a"):
        _alloc(ipam, "default/c", (PortMapping(8080, 80),))  # every address overlaps 127.0.0.1


def test_leases_ignores_temporary_and_torn_files(tmp_path):
    ipam = _ipam(tmp_path)
    _alloc(ipam, "default/a")
    leases_dir = tmp_path / "network" / "leases"
    (leases_dir / ".10.66.9.3.99.tmp").write_text("{")
    (leases_dir / "10.66.9.4").write_text("{torn")
    assert [lease.pod_key for lease in ipam.leases()] == ["default/a"]


def _allocate_many(directory: str, tag: str, count: int, out) -> None:
    ipam = Ipam(directory=directory, subnet="10.66.0.0/24")
    got = []
    for i in range(count):
        with ipam.locked():
            got.append(ipam.allocate(f"default/{tag}-{i}", f"vp{tag}{i:08d}", ()).ip)
    out.put(got)


def test_two_processes_never_get_the_same_address(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_allocate_many, args=(str(tmp_path / "network"), tag, 60, out)) for tag in "ab"]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    everything = results[0] + results[1]
    assert len(everything) == 120
    assert len(set(everything)) == 120
    assert len(Ipam(directory=str(tmp_path / "network"), subnet="10.66.0.0/24").leases()) == 120
