"""The pod sandbox seen from the host: namespaces through /proc/PID/ns/*, hostname, /etc/hosts.

Two pods on one node are applied once (module fixture) and only read by the tests; pods that
change the namespace layout (shared PID, host namespaces) get their own node.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import Node, module_node, node, ns_id, pod_yaml, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

POD_NS = ("net", "ipc", "uts")

ALIASES = """  hostname: custom-host
  hostAliases:
  - ip: 10.1.2.3
    hostnames: [foo.local, bar.local]
"""


@pytest.fixture(scope="module")
def pods(module_node: Node) -> Node:  # noqa: F811
    module_node.apply(pod_yaml("ns-one", sleeper("a") + sleeper("b")) + "---\n"
                      + pod_yaml("ns-two", sleeper("c"), ALIASES))
    module_node.wait_running("ns-one")
    module_node.wait_running("ns-two")
    return module_node


@pytest.mark.parametrize("kind", POD_NS)
def test_net_ipc_uts_shared_within_pod_distinct_across_pods_and_host(pods: Node, kind: str) -> None:
    a, b, c = (pods.container_pid("ns-one", "a"), pods.container_pid("ns-one", "b"),
               pods.container_pid("ns-two", "c"))
    assert ns_id(a, kind) == ns_id(b, kind)
    assert ns_id(a, kind) != ns_id(c, kind)
    assert ns_id(a, kind) != ns_id("self", kind)
    assert ns_id(c, kind) != ns_id("self", kind)


def test_namespace_files_hold_the_pods_namespaces(pods: Node) -> None:
    """sandbox's ns/{net,ipc,uts} bind mounts are the very namespaces the containers are in."""
    a = pods.container_pid("ns-one", "a")
    for kind in POD_NS:
        held = Path(pods.pod_dir("ns-one"), "ns", kind)
        assert held.stat().st_ino == Path(f"/proc/{a}/ns/{kind}").stat().st_ino


def test_mount_namespace_per_container(pods: Node) -> None:
    a, b = pods.container_pid("ns-one", "a"), pods.container_pid("ns-one", "b")
    assert len({ns_id(a, "mnt"), ns_id(b, "mnt"), ns_id("self", "mnt")}) == 3


def test_pid_namespace_per_container_by_default(pods: Node) -> None:
    a, b = pods.container_pid("ns-one", "a"), pods.container_pid("ns-one", "b")
    assert len({ns_id(a, "pid"), ns_id(b, "pid"), ns_id("self", "pid")}) == 3
    assert pods.exec("ns-one", "a", "sh", "-c", "echo $$").stdout.strip() != ""
    # Each container is PID 1 of its own namespace and sees only its own processes.
    ps = pods.exec("ns-one", "a", "ps", "-o", "pid,args").stdout
    assert "sleep 3600" in ps and ps.count("trap") == 1


def test_hostname_is_pod_name(pods: Node) -> None:
    assert pods.exec("ns-one", "a", "hostname").stdout.strip() == "ns-one"
    assert pods.exec("ns-one", "b", "cat", "/etc/hostname").stdout.strip() == "ns-one"


def test_spec_hostname_overrides(pods: Node) -> None:
    assert pods.exec("ns-two", "c", "hostname").stdout.strip() == "custom-host"


def test_etc_hosts_has_pod_ip_hostname_and_aliases(pods: Node) -> None:
    ip = pods.pod_json("ns-two")["status"]["podIP"]
    lines = [line.split() for line in pods.exec("ns-two", "c", "cat", "/etc/hosts").stdout.splitlines()]
    assert ["127.0.0.1", "localhost"] in lines
    assert [ip, "custom-host"] in lines
    assert ["10.1.2.3", "foo.local", "bar.local"] in lines
    one_ip = pods.pod_json("ns-one")["status"]["podIP"]
    assert one_ip != ip
    assert [one_ip, "ns-one"] in [line.split() for line in
                                  pods.exec("ns-one", "a", "cat", "/etc/hosts").stdout.splitlines()]


def test_share_process_namespace(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("shared-pid", sleeper("a") + sleeper("b"), "  shareProcessNamespace: true\n"))
    node.wait_running("shared-pid")
    a, b = node.container_pid("shared-pid", "a"), node.container_pid("shared-pid", "b")
    assert ns_id(a, "pid") == ns_id(b, "pid") != ns_id("self", "pid")
    # PID 1 of the shared namespace is the sandbox's holder (the pod's "pause").
    holder = json.loads((node.pod_dir("shared-pid") / "sandbox.json").read_text())["holderPid"]
    assert holder and ns_id(holder, "pid") == ns_id(a, "pid")
    nspid = [line for line in Path(f"/proc/{holder}/status").read_text().splitlines() if line.startswith("NSpid:")]
    assert nspid[0].split()[-1] == "1"
    # One container's ps sees the other's processes: two shells and two sleeps.
    ps = node.exec("shared-pid", "a", "ps", "-o", "pid,args").stdout
    assert ps.count("sleep 3600") >= 4 and "    1 " in ps
    node.delete("shared-pid")
    assert not node.leftovers()


def test_host_namespaces(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("host-ns", sleeper("a"), "  hostNetwork: true\n  hostPID: true\n  hostIPC: true\n"))
    node.wait_running("host-ns")
    a = node.container_pid("host-ns", "a")
    for kind in ("net", "pid", "ipc"):
        assert ns_id(a, kind) == ns_id("self", kind), kind
    assert ns_id(a, "mnt") != ns_id("self", "mnt")
    # hostPID: the container sees the host's processes, this test's among them.
    import os

    assert f" {os.getpid()} " in node.exec("host-ns", "a", "ps", "-o", "pid,args").stdout.replace("\n", " \n ")
