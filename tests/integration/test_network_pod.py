"""Pod networking against the real kernel: netns, bridge, veths, nftables, HTTP by pod IP.

Every host-global thing gets a unique name (bridge pyt<hex>, subnet 10.66.<n>.0/24) and is
removed in fixture finalizers. Traffic goes only to loopback and to namespaces made here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from pyrunc.errors import NetworkError
from pyrunc.network import (
    NetConfig,
    PortMapping,
    reclaim_stale,
    remove_bridge_if_unused,
    setup_pod_network,
    teardown_pod_network,
)
from pyrunc.network.ipam import Ipam
from tests.integration.helpers import unique_subnet

pytestmark = [pytest.mark.root, pytest.mark.network]

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=check).stdout


def links() -> set[str]:
    return {line.split(":")[1].strip().split("@")[0] for line in sh("ip", "-o", "link").splitlines()}


def table_text(cfg: NetConfig) -> str:
    return sh("nft", "list", "table", "ip", cfg.table, check=False)


def leases(cfg: NetConfig) -> list[str]:
    return [lease.pod_key for lease in Ipam(os.path.join(cfg.root, "network"), cfg.subnet).leases()]


@pytest.fixture
def cfg(tmp_path):
    suffix = secrets.token_hex(4)
    c = NetConfig(root=str(tmp_path / "root"), bridge=f"pyt{suffix}", subnet=unique_subnet(100, 250))
    yield c
    with contextlib.suppress(Exception):
        reclaim_stale(c, ())
    with contextlib.suppress(Exception):
        remove_bridge_if_unused(c)
    subprocess.run(["nft", "delete", "table", "ip", c.table], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", c.bridge], capture_output=True, check=False)


@pytest.fixture
def make_netns(tmp_path):
    """A pod netns held by a bind mount on a file, as the sandbox does (<pod dir>/ns/net)."""
    made: list[str] = []

    def make(name: str) -> str:
        path = tmp_path / "pods" / name / "ns" / "net"
        path.parent.mkdir(parents=True)
        path.touch()
        sh("unshare", f"--net={path}", "true")  # util-linux: bind-mounts the new netns on path
        made.append(str(path))
        return str(path)

    yield make
    for path in made:
        subprocess.run(["umount", path], capture_output=True, check=False)


def drop_netns(path: str) -> None:
    """The pod is gone: the last reference to its netns goes, the kernel destroys it."""
    sh("umount", path)


@pytest.fixture
def httpd(tmp_path):
    """Start busybox httpd inside a netns, serving a page that names the pod."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(netns: str, name: str, port: int = 8080) -> None:
        www = tmp_path / "www" / name
        www.mkdir(parents=True)
        (www / "index.html").write_text(f"hello from {name}\n")
        procs.append(
            subprocess.Popen(["nsenter", f"--net={netns}", BUSYBOX, "httpd", "-f", "-p", str(port), "-h", str(www)])
        )
        # Wait until it listens (polled, not timed: the deadline only bounds a broken run).
        deadline = time.monotonic() + 10
        while f":{port:04X} " not in sh("nsenter", f"--net={netns}", "cat", "/proc/net/tcp", "/proc/net/tcp6"):
            assert time.monotonic() < deadline, "httpd did not start listening"
            time.sleep(0.02)

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback / test netns only
        return resp.read().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pod_gets_eth0_with_its_ip_and_serves_http_by_pod_ip(cfg, make_netns, httpd):
    ns = make_netns("web")
    net = setup_pod_network(cfg, "default/web", ns)
    assert net.gateway == cfg.gateway and net.prefix_len == 24
    addr = sh("nsenter", f"--net={ns}", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert f"inet {net.ip}/24" in addr
    assert f"default via {cfg.gateway} dev eth0" in sh("nsenter", f"--net={ns}", "ip", "route")
    assert net.host_veth in links()
    assert f"master {cfg.bridge}" in sh("ip", "-o", "link", "show", net.host_veth)
    httpd(ns, "web")
    assert get(f"http://{net.ip}:8080/") == "hello from web\n"


def test_two_pods_reach_each_other_by_ip(cfg, make_netns, httpd):
    a, b = make_netns("a"), make_netns("b")
    net_a = setup_pod_network(cfg, "default/a", a)
    net_b = setup_pod_network(cfg, "default/b", b)
    assert net_a.ip != net_b.ip
    httpd(a, "a")
    out = sh("nsenter", f"--net={b}", BUSYBOX, "wget", "-q", "-O", "-", f"http://{net_a.ip}:8080/")
    assert out == "hello from a\n"


def test_host_port_reached_on_node_loopback(cfg, make_netns, httpd):
    ns = make_netns("hp")
    port = free_port()
    udp = free_port()
    setup_pod_network(cfg, "default/hp", ns, [PortMapping(port, 8080), PortMapping(udp, 53, "UDP", "127.0.0.1")])
    httpd(ns, "hp")
    assert get(f"http://127.0.0.1:{port}/") == "hello from hp\n"
    text = table_text(cfg)
    assert f'tcp . {port} comment "default/hp"' in text
    assert f'127.0.0.1 . udp . {udp} comment "default/hp"' in text


def test_forwarding_and_masquerade_are_configured(cfg, make_netns):
    setup_pod_network(cfg, "default/x", make_netns("x"))
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"
    assert open(f"/proc/sys/net/ipv4/conf/{cfg.bridge}/route_localnet").read().strip() == "1"
    assert f"ip saddr {cfg.subnet} ip daddr != {cfg.subnet} masquerade" in table_text(cfg)


def test_thirty_pods_get_distinct_ips_and_leave_nothing(cfg, make_netns):
    keys = [f"default/p{i}" for i in range(30)]
    base = free_port() % 30000 + 20000
    nets = [setup_pod_network(cfg, key, make_netns(key[8:]), [PortMapping(base + i, 80)]) for i, key in enumerate(keys)]
    assert len({n.ip for n in nets}) == 30
    assert {n.host_veth for n in nets} <= links()
    assert table_text(cfg).count("comment") == 30
    assert table_text(cfg).count("masquerade") == 3  # node-wide rules re-applied, never duplicated
    for key in keys:
        teardown_pod_network(cfg, key)
    assert not {n.host_veth for n in nets} & links()
    assert leases(cfg) == []
    assert "comment" not in table_text(cfg)
    assert remove_bridge_if_unused(cfg) is True


def test_crashed_pod_is_reclaimed(cfg, make_netns):
    dead, alive = make_netns("dead"), make_netns("alive")
    net_dead = setup_pod_network(cfg, "default/dead", dead, [PortMapping(free_port(), 80)])
    net_alive = setup_pod_network(cfg, "default/alive", alive)
    drop_netns(dead)  # no teardown: the daemon "crashed"
    assert reclaim_stale(cfg, ["default/alive"]) == ["default/dead"]
    assert leases(cfg) == ["default/alive"]
    assert net_dead.host_veth not in links()
    assert net_alive.host_veth in links()
    assert "default/dead" not in table_text(cfg)
    assert reclaim_stale(cfg, ["default/alive"]) == []


def test_taken_host_port_is_refused_and_leaves_nothing(cfg, make_netns):
    port = free_port()
    setup_pod_network(cfg, "default/web", make_netns("web"), [PortMapping(port, 80)])
    other = make_netns("other")
    with pytest.raises(NetworkError) as err:
        setup_pod_network(cfg, "default/other", other, [PortMapping(9999, 80, "UDP"), PortMapping(port, 8080)])
    assert str(err.value) == f"hostPort {port}/TCP is already used by pod default/web"
    assert leases(cfg) == ["default/web"]
    assert cfg.host_veth("default/other") not in links()
    assert "eth0" not in sh("nsenter", f"--net={other}", "ip", "-o", "link")
    assert "default/other" not in table_text(cfg)


def test_failure_after_the_veth_unwinds_veth_and_lease(cfg, make_netns):
    ns = make_netns("broken")
    # A default route already in the netns makes the last netlink step fail (EEXIST).
    sh("nsenter", f"--net={ns}", "ip", "route", "add", "blackhole", "default")
    with pytest.raises(NetworkError, match="configure the pod's eth0"):
        setup_pod_network(cfg, "default/broken", ns, [PortMapping(free_port(), 80)])
    assert leases(cfg) == []
    assert cfg.host_veth("default/broken") not in links()
    assert "eth0" not in sh("nsenter", f"--net={ns}", "ip", "-o", "link")
    assert "comment" not in table_text(cfg)


def test_teardown_is_idempotent_and_bridge_removal_waits_for_last_pod(cfg, make_netns):
    setup_pod_network(cfg, "default/a", make_netns("a"), [PortMapping(free_port(), 80)])
    assert remove_bridge_if_unused(cfg) is False
    assert cfg.bridge in links()
    teardown_pod_network(cfg, "default/a")
    teardown_pod_network(cfg, "default/a")
    teardown_pod_network(cfg, "default/never-existed")
    assert remove_bridge_if_unused(cfg) is True
    assert cfg.bridge not in links()
    assert table_text(cfg) == ""
    assert remove_bridge_if_unused(cfg) is True


def test_setup_again_for_same_pod_replaces_the_old_attachment(cfg, make_netns):
    first = setup_pod_network(cfg, "default/re", make_netns("re1"))
    second = setup_pod_network(cfg, "default/re", make_netns("re2"))
    assert leases(cfg) == ["default/re"]
    assert second.host_veth == first.host_veth and second.host_veth in links()
