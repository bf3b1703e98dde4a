"""Pod networking through the real CLI: pod IPs, HTTP, hostPorts, hostNetwork, /etc files, no leaks.

Each node here has its own root, bridge (pyt<hex>) and /24 pod subnet (tests.integration.helpers).
Traffic goes only to loopback and to the IPs of pods these tests created. Every node is checked
at teardown: the helpers' leak check (pod dirs, mounts, processes, veths, leases), then, here,
the node bridge and the nftables table `ip pyrunc_<bridge>` must be gone as well; whatever is
left is removed by name so a failed run does not leak into the next.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from pyrunc.network import NetConfig
from tests.integration.helpers import Node, alive, mounts_under, ns_id, poll, pod_yaml, sleeper

pytestmark = [pytest.mark.root, pytest.mark.network]

HTTPD = ("    command: [sh, -c, 'mkdir -p /www && echo \"hello from $(hostname)\" > /www/index.html"
         " && exec httpd -f -p 8080 -h /www']\n")


# ------------------------------------------------------------------ host-side facts
def table(n: Node) -> str:
    return f"pyrunc_{n.bridge}"


def nft_table_text(n: Node) -> str:
    """`nft list table ip pyrunc_<bridge>`, or "" when the table does not exist."""
    proc = subprocess.run(["nft", "list", "table", "ip", table(n)], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ""


def bridge_ports(n: Node) -> list[str]:
    """Links whose master is the node bridge (the host ends of the pods' veths)."""
    brif = Path("/sys/class/net", n.bridge, "brif")
    return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []


def lease_files(n: Node) -> dict[str, dict[str, Any]]:
    """<root>/network/leases/<ip> -> its JSON body."""
    leases = Path(n.root, "network", "leases")
    if not leases.is_dir():
        return {}
    return {p.name: json.loads(p.read_text()) for p in leases.iterdir() if not p.name.startswith(".")}


def host_veth(n: Node, pod: str) -> str:
    return NetConfig(root=n.root, bridge=n.bridge, subnet=n.subnet).host_veth(f"default/{pod}")


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def node_network_left(n: Node) -> list[str]:
    left = []
    if link_exists(n.bridge):
        left.append(f"bridge {n.bridge}")
    if nft_table_text(n):
        left.append(f"nft table ip {table(n)}")
    return left


def http_get(url: str) -> str:
    # No proxy: the environment may name one, and these addresses exist only on this host.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as resp:
        return resp.read().decode()


def poll_http(url: str) -> str:
    def get() -> str | None:
        try:
            return http_get(url)
        except OSError:
            return None  # httpd not listening yet

    return poll(f"HTTP answer from {url}", get)


def free_port() -> int:
    """A TCP port in 20000-40000 that nothing on the host listens on (nor any hostPort of ours)."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in 20000-40000")


def host_nameservers() -> list[str]:
    """The node's usable nameservers: loopback ones (a local stub) are not reachable from a pod."""
    path = "/etc/resolv.conf"
    servers = [line.split()[1] for line in Path(path).read_text().splitlines()
               if line.startswith("nameserver") and len(line.split()) > 1]
    if servers and all(ipaddress.ip_address(s).is_loopback for s in servers):
        path = "/run/systemd/resolve/resolv.conf"
        servers = [line.split()[1] for line in Path(path).read_text().splitlines() if line.startswith("nameserver")]
    return [s for s in servers if not ipaddress.ip_address(s).is_loopback][:3]


def remove_cgroups(pod_uid: str) -> None:
    """rmdir the (empty) cgroups of a pod in every hierarchy, deepest first, as a reboot would."""
    for group in glob.glob(f"/sys/fs/cgroup/**/pod{pod_uid}", recursive=True):
        for directory, _, _ in sorted(os.walk(group), key=lambda w: len(w[0]), reverse=True):
            os.rmdir(directory)


# ------------------------------------------------------------------ fixtures
@contextlib.contextmanager
def checked_node(base: Path) -> Iterator[Node]:
    n = Node(base)
    try:
        yield n
    finally:
        try:
            n.teardown()  # deletes the pods by name, asserts no pod dir/mount/process/veth/lease left
            poll(f"bridge and nft table of {n.bridge} removed after the last pod", lambda: not node_network_left(n))
        finally:
            subprocess.run(["nft", "delete", "table", "ip", table(n)], capture_output=True, check=False)
            subprocess.run(["ip", "link", "del", n.bridge], capture_output=True, check=False)


@pytest.fixture
def net_node(tmp_path: Path) -> Iterator[Node]:
    with checked_node(tmp_path) as n:
        yield n


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, dict[str, dict[str, Any]]]]:
    """One node with the read-only subjects: web pod "a" (+ a client container), web pod "b",
    a hostNetwork pod and a dnsPolicy None pod. Yields (node, pod JSON by name)."""
    with checked_node(tmp_path_factory.mktemp("net")) as n:
        manifest = "---\n".join([
            pod_yaml("a", f"  - name: web\n    image: busybox\n{HTTPD}" + sleeper("cli"),
                     "  hostname: alpha\n  hostAliases:\n  - ip: 192.0.2.10\n    hostnames: [foo.example, bar]\n"),
            pod_yaml("b", f"  - name: web\n    image: busybox\n{HTTPD}"),
            pod_yaml("hn", sleeper("c"), "  hostNetwork: true\n"),
            pod_yaml("dns", sleeper("c"),
                     "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [192.0.2.53, 192.0.2.54]\n"
                     "    searches: [a.example, b.example]\n"
                     "    options:\n    - name: ndots\n      value: '2'\n    - name: edns0\n"),
        ])
        n.apply(manifest)
        yield n, {name: n.wait_running(name) for name in ("a", "b", "hn", "dns")}


def pod_ip(obj: dict[str, Any]) -> str:
    return str(obj["status"]["podIP"])


# ------------------------------------------------------------------ one IP per pod, HTTP
def test_pod_ip_is_from_the_subnet_on_a_veth_of_the_bridge(pods: tuple[Node, dict[str, Any]]) -> None:
    n, objs = pods
    subnet = ipaddress.ip_network(n.subnet)
    ips = {name: pod_ip(objs[name]) for name in ("a", "b")}
    assert len(set(ips.values())) == 2
    for name, ip in ips.items():
        assert ipaddress.ip_address(ip) in subnet and ip != str(subnet.network_address + 1)
        assert objs[name]["status"]["podIPs"] == [{"ip": ip}]
        assert objs[name]["status"]["hostIP"]
        veth = host_veth(n, name)
        assert os.path.basename(os.readlink(f"/sys/class/net/{veth}/master")) == n.bridge
        assert lease_files(n)[ip]["pod_key"] == f"default/{name}"
    wide = n.run("get", "pods", "-o", "wide").stdout
    assert any(line.split()[0] == "a" and ips["a"] in line.split() for line in wide.splitlines())


def test_host_reaches_pod_by_ip(pods: tuple[Node, dict[str, Any]]) -> None:
    _, objs = pods
    assert poll_http(f"http://{pod_ip(objs['a'])}:8080/") == "hello from alpha\n"
    assert poll_http(f"http://{pod_ip(objs['b'])}:8080/") == "hello from b\n"


def test_pod_reaches_pod_by_ip(pods: tuple[Node, dict[str, Any]]) -> None:
    n, objs = pods
    url = f"http://{pod_ip(objs['b'])}:8080/"
    poll_http(url)  # b's httpd is up
    # No `wget -T`: Debian 12's busybox 1.35 wget segfaults with it; the CLI run has its own timeout.
    assert n.exec("a", "cli", "wget", "-qO-", url).stdout == "hello from b\n"


def test_containers_of_a_pod_share_localhost(pods: tuple[Node, dict[str, Any]]) -> None:
    n, objs = pods
    poll_http(f"http://{pod_ip(objs['a'])}:8080/")
    assert n.exec("a", "cli", "wget", "-qO-", "http://localhost:8080/").stdout == "hello from alpha\n"
    # Same netns: the cli container sees the web container's listening socket.
    assert ns_id(n.container_pid("a", "cli"), "net") == ns_id(n.container_pid("a", "web"), "net")


# ------------------------------------------------------------------ /etc files
def test_etc_hosts_has_pod_ip_hostname_and_aliases(pods: tuple[Node, dict[str, Any]]) -> None:
    n, objs = pods
    hosts = n.exec("a", "cli", "cat", "/etc/hosts").stdout
    lines = [line.split() for line in hosts.splitlines() if line and not line.startswith("#")]
    assert ["127.0.0.1", "localhost"] in lines
    assert [pod_ip(objs["a"]), "alpha"] in lines
    assert ["192.0.2.10", "foo.example", "bar"] in lines
    assert n.exec("a", "cli", "cat", "/etc/hostname").stdout == "alpha\n"
    assert n.exec("a", "cli", "hostname").stdout == "alpha\n"


def test_resolv_conf_comes_from_the_host(pods: tuple[Node, dict[str, Any]]) -> None:
    n, _ = pods
    resolv = n.exec("a", "cli", "cat", "/etc/resolv.conf").stdout
    servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
    assert servers == host_nameservers()


def test_dns_policy_none_uses_exactly_dns_config(pods: tuple[Node, dict[str, Any]]) -> None:
    n, _ = pods
    assert n.exec("dns", "c", "cat", "/etc/resolv.conf").stdout == (
        "search a.example b.example\n"
        "nameserver 192.0.2.53\n"
        "nameserver 192.0.2.54\n"
        "options ndots:2 edns0\n"
    )


# ------------------------------------------------------------------ hostNetwork
def test_host_network_pod_uses_the_host_netns_and_files(pods: tuple[Node, dict[str, Any]]) -> None:
    n, objs = pods
    pid = n.container_pid("hn", "c")
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    status = objs["hn"]["status"]
    assert status["podIP"] == status["hostIP"] and status["podIPs"] == [{"ip": status["hostIP"]}]
    assert not any(lease["pod_key"] == "default/hn" for lease in lease_files(n).values())
    assert not link_exists(host_veth(n, "hn"))
    hosts = n.exec("hn", "c", "cat", "/etc/hosts").stdout
    assert Path("/etc/hosts").read_text() in hosts
    assert n.exec("hn", "c", "cat", "/etc/hostname").stdout == socket.gethostname() + "\n"


# ------------------------------------------------------------------ egress
def test_forwarding_and_masquerade_for_the_pod_subnet(pods: tuple[Node, dict[str, Any]]) -> None:
    n, _ = pods
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    rules = nft_table_text(n)
    assert f"ip saddr {n.subnet} ip daddr != {n.subnet} masquerade" in rules
    assert "type nat hook postrouting" in rules


# ------------------------------------------------------------------ hostPort
def test_host_port_reached_on_loopback_and_a_clash_is_refused_cleanly(net_node: Node) -> None:
    n = net_node
    port = free_port()
    ports = f"    ports:\n    - containerPort: 8080\n      hostPort: {port}\n"
    n.apply(pod_yaml("hp", f"  - name: web\n    image: busybox\n{HTTPD}{ports}"))
    n.wait_running("hp")
    assert poll_http(f"http://127.0.0.1:{port}/") == "hello from hp\n"

    # Admission rejects the second pod as the kubelet does (NodePorts): it stays visible, Failed, holding nothing.
    n.apply(pod_yaml("hp2", sleeper("c", ports)))
    status = n.pod_json("hp2")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "NodePorts")
    # Nothing of hp2 is made: no sandbox, mounts, veth, lease or map element.
    assert not (n.pod_dir("hp2") / "sandbox.json").exists() and not mounts_under(str(n.pod_dir("hp2")))
    assert not link_exists(host_veth(n, "hp2"))
    assert [lease["pod_key"] for lease in lease_files(n).values()] == ["default/hp"]
    assert "default/hp2" not in nft_table_text(n)
    # The first pod keeps its port.
    assert http_get(f"http://127.0.0.1:{port}/") == "hello from hp\n"


# ------------------------------------------------------------------ many pods, then none
def test_thirty_pods_get_distinct_ips_and_leave_nothing(net_node: Node) -> None:
    n = net_node
    names = [f"p{i}" for i in range(30)]
    n.apply("---\n".join(pod_yaml(name, sleeper("c")) for name in names))

    def all_ips() -> dict[str, str] | None:
        items = json.loads(n.run("get", "pods", "-o", "json").stdout)["items"]
        ips = {i["metadata"]["name"]: i["status"].get("podIP", "") for i in items}
        return ips if len(ips) == 30 and all(ips.values()) else None

    ips = poll("30 pod IPs", all_ips)
    subnet = ipaddress.ip_network(n.subnet)
    assert len(set(ips.values())) == 30
    assert all(ipaddress.ip_address(ip) in subnet for ip in ips.values())
    veths = {host_veth(n, name) for name in names}
    assert set(bridge_ports(n)) == veths
    assert set(lease_files(n)) == set(ips.values())

    n.remember_pids()
    n.run("delete", "pod", *names, "--grace-period=0", "--force")
    n.pods.clear()
    poll("the node network removed after the last pod", lambda: not node_network_left(n))
    assert not [v for v in veths if link_exists(v)]
    assert not lease_files(n)
    assert not bridge_ports(n)


# ------------------------------------------------------------------ crash recovery
def test_next_run_reclaims_what_a_killed_pod_left(net_node: Node) -> None:
    n = net_node
    port = free_port()
    ports = f"    ports:\n    - containerPort: 8080\n      hostPort: {port}\n"
    n.apply(pod_yaml("dead", sleeper("c", ports)))
    n.wait_running("dead")
    ip = next(ip for ip, lease in lease_files(n).items() if lease["pod_key"] == "default/dead")
    veth = host_veth(n, "dead")

    # The supervisor dies first, so nothing restarts or cleans up the containers it held.
    daemon = n.daemon_pid()
    os.kill(daemon, 9)
    poll("the supervisor dead", lambda: not alive(daemon))
    pid = n.container_pid("dead", "c")
    os.kill(pid, 9)
    poll("the container dead", lambda: not alive(pid))
    # What a reboot leaves: no namespaces, cgroups or pod directory; the lease and the nft map
    # element stay (on disk and, here, in the kernel, as a daemon crash without reboot leaves them).
    pod_dir = str(n.pod_dir("dead"))
    uid = json.loads(Path(pod_dir, "pod.json").read_text())["metadata"]["uid"]
    for point in sorted(mounts_under(pod_dir), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=True)
    shutil.rmtree(pod_dir)
    remove_cgroups(uid)
    assert ip in lease_files(n)
    assert "default/dead" in nft_table_text(n)

    # The next apply starts a new supervisor, which reclaims the dead pod's network.
    n.apply(pod_yaml("next", sleeper("c", ports)))  # the same hostPort: free again
    obj = n.wait_running("next")
    assert n.daemon_pid() != daemon
    assert [lease["pod_key"] for lease in lease_files(n).values()] == ["default/next"]
    assert not link_exists(veth)
    table_text = nft_table_text(n)
    assert "default/dead" not in table_text and f"{pod_ip(obj)} . 8080" in table_text
    assert bridge_ports(n) == [host_veth(n, "next")]
