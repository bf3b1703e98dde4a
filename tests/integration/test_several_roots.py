"""Several roots on one host (issue 9 item 10).

The bridge, its pod subnet and its nftables table are the host's: one root owns them (a claim
under /run/pyrunc-claims), and a second root whose settings would share them is refused in one
line naming the settings to change, with nothing of its pod left. Roots with their own bridge and
subnet run side by side, and the last pod of one going (its bridge and table with it) leaves the
other's network working.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import Node, _node, mounts_under, pod_yaml, poll, sleeper

pytestmark = [pytest.mark.root, pytest.mark.network]

CLAIMS = Path("/run/pyrunc-claims")
HTTPD = ("    command: [sh, -c, 'mkdir -p /www && echo \"hello from $(hostname)\" > /www/index.html"
         " && exec httpd -f -p 8080 -h /www']\n")


@pytest.fixture
def node_a(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path / "a")


@pytest.fixture
def node_b(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path / "b")


def default_network(n: Node) -> None:
    """Leave the root's network settings at their defaults (bridge pyrunc0, 10.66.0.0/16)."""
    config = Path(n.root, "config.json")
    settings = json.loads(config.read_text())
    del settings["bridge"], settings["pod_subnet"]
    config.write_text(json.dumps(settings))
    n.bridge, n.subnet = "pyrunc0", "10.66.0.0/16"


def claimed_roots() -> list[str]:
    return sorted(json.loads(p.read_text())["root"] for p in CLAIMS.glob("*.json")) if CLAIMS.is_dir() else []


def pod_ip(n: Node, name: str) -> str:
    return str(n.pod_json(name)["status"]["podIP"])


def http_get(url: str) -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def test_a_second_root_with_the_default_network_is_refused(node_a: Node, node_b: Node) -> None:
    if Path("/sys/class/net/pyrunc0").exists():
        pytest.skip("this host's own pyrunc uses bridge pyrunc0")
    default_network(node_a)
    default_network(node_b)
    node_a.apply(pod_yaml("roots-a", sleeper("c")))
    node_a.wait_running("roots-a")
    assert node_a.root in claimed_roots()

    proc = node_b.apply(pod_yaml("roots-b", sleeper("c")), check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and f"root {node_a.root}" in lines[0]
    assert f'set "bridge" and "pod_subnet" in {node_b.root}/config.json' in lines[0]
    # Nothing of the refused pod is left, and the first root's pod and network are untouched.
    assert not node_b.pod_dir("roots-b").exists() and mounts_under(node_b.root) == []
    # (node_b.leftovers() would count root a's veths: they are on the same bridge name.)
    leases = Path(node_b.root, "network", "leases")
    assert not (leases.is_dir() and any(leases.iterdir())) and node_b.root not in claimed_roots()
    assert node_b.run("get", "pods").stderr.strip() == "No resources found in default namespace."
    node_b.pods.clear()
    assert node_a.pod_json("roots-a")["status"]["phase"] == "Running"
    assert Path("/sys/class/net/pyrunc0").exists()

    # Once the first root's last pod is gone, the network is free: its claim went with its bridge.
    node_a.delete("roots-a")
    assert not Path("/sys/class/net/pyrunc0").exists() and node_a.root not in claimed_roots()
    node_b.apply(pod_yaml("roots-b", sleeper("c")))
    node_b.wait_running("roots-b")
    assert node_b.root in claimed_roots()


def test_roots_with_their_own_networks_run_side_by_side(node_a: Node, node_b: Node) -> None:
    node_a.apply(pod_yaml("side-a", "  - name: web\n    image: busybox\n" + HTTPD))
    node_b.apply("---\n".join(pod_yaml(name, "  - name: web\n    image: busybox\n" + HTTPD)
                              for name in ("side-b1", "side-b2")))
    for n, name in ((node_a, "side-a"), (node_b, "side-b1"), (node_b, "side-b2")):
        n.wait_running(name)
    assert {node_a.root, node_b.root} <= set(claimed_roots())
    ips = {"b1": pod_ip(node_b, "side-b1"), "b2": pod_ip(node_b, "side-b2")}
    assert poll("b2 answers", lambda: http_get(f"http://{ips['b2']}:8080/")) == "hello from side-b2\n"

    node_a.delete("side-a")  # the last pod of root a: its bridge, table and claim go
    assert not Path("/sys/class/net", node_a.bridge).exists() and node_a.root not in claimed_roots()
    # Root b's bridge, claim and pods are untouched: pod to pod, and host to pod.
    assert Path("/sys/class/net", node_b.bridge).exists() and node_b.root in claimed_roots()
    assert node_b.exec("side-b1", "web", "wget", "-qO-", f"http://{ips['b2']}:8080/").stdout == "hello from side-b2\n"
    assert http_get(f"http://{ips['b1']}:8080/") == "hello from side-b1\n"
    assert os.path.isdir(node_b.pod_dir("side-b1"))
