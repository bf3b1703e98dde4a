"""Node labels and admission through the CLI: nodeSelector, `label node`, hostPort conflicts (NodePorts),
schedulingGates, extended resources, spec.nodeName of another node. A pod that is not admitted stays
visible and holds nothing: no sandbox, no container, no cgroup, no IP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import Node, _node, alive, pod_yaml, poll, sleeper

pytestmark = [pytest.mark.root, pytest.mark.network]

AFFINITY_MESSAGE = ("Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node "
                    "affinity/selector")


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path, node_labels={"disk": "ssd"}, extended_resources={"example.com/gpu": 1})


def status_column(node: Node, name: str) -> str:
    out = node.run("get", "pods", name, "--no-headers").stdout.split()
    return out[2]


def phase(node: Node, name: str) -> tuple[str, str]:
    status = node.pod_json(name)["status"]
    return status.get("phase", ""), status.get("reason", "")


def assert_holds_nothing(node: Node, name: str) -> None:
    """Only its stored facts: no sandbox, no containers, no lease, no cgroup."""
    files = sorted(p.name for p in node.pod_dir(name).iterdir())
    assert files == ["admission.json", "events.json", "pod.json"] or files == ["admission.json", "pod.json"], files
    leases = Path(node.root, "network", "leases")
    assert not leases.is_dir() or not any(p.name.endswith(name) for p in leases.iterdir())
    marks = Path(node.root, "cgroups")
    uid = node.uid(name)
    assert not (marks / uid).exists()


def test_node_selector_match_runs(n: Node) -> None:
    n.apply(pod_yaml("fits", sleeper("c"), "  nodeSelector:\n    disk: ssd\n    kubernetes.io/os: linux\n"))
    n.wait_running("fits")


def test_mismatch_is_rejected_then_label_node_and_reapply_runs_it(n: Node) -> None:
    manifest = pod_yaml("picky", sleeper("c"), "  nodeSelector:\n    zone: a\n")
    assert n.apply(manifest).stdout == "pod/picky created\n"
    assert phase(n, "picky") == ("Failed", "NodeAffinity")
    status = n.pod_json("picky")["status"]
    assert status["message"] == AFFINITY_MESSAGE
    assert "containerStatuses" not in status
    assert status_column(n, "picky") == "NodeAffinity"
    assert_holds_nothing(n, "picky")
    described = n.run("describe", "pod", "picky").stdout
    lines = [line.split() for line in described.splitlines()]
    assert ["Status:", "Failed"] in lines
    assert ["Reason:", "NodeAffinity"] in lines
    assert ["Message:", *AFFINITY_MESSAGE.split()] in lines
    event = [line for line in lines if line[:2] == ["Warning", "NodeAffinity"]]
    assert event and " ".join(event[0][4:]) == AFFINITY_MESSAGE.removeprefix("Pod was rejected: ")
    # Applying it again changes nothing while the node does not match.
    n.apply(manifest)
    assert phase(n, "picky") == ("Failed", "NodeAffinity")

    assert n.run("label", "node", "zone=a").stdout == f"node/{node_name(n)} labeled\n"
    assert "zone=a" in n.run("get", "nodes", "--show-labels").stdout
    assert n.apply(manifest).stdout == "pod/picky configured\n"
    n.wait_running("picky")
    assert not Path(n.pod_dir("picky"), "admission.json").exists()


def test_required_node_affinity(n: Node) -> None:
    affinity = """  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: disk, operator: In, values: [nvme]}
        - matchExpressions:
          - {key: disk, operator: NotIn, values: [ssd]}
"""
    n.apply(pod_yaml("aff", sleeper("c"), affinity))
    assert phase(n, "aff") == ("Failed", "NodeAffinity")
    assert_holds_nothing(n, "aff")
    n.delete("aff")
    assert not n.pod_dir("aff").exists()


def test_host_port_conflict_rejects_the_second_and_the_first_keeps_running(n: Node) -> None:
    port = "    ports:\n    - {containerPort: 80, hostPort: 18089}\n"
    n.apply(pod_yaml("first", sleeper("c", port)))
    n.wait_running("first")
    pid = n.container_pid("first", "c")
    n.apply(pod_yaml("second", sleeper("c", port)))
    assert phase(n, "second") == ("Failed", "NodePorts")
    assert n.pod_json("second")["status"]["message"] == (
        "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports")
    assert status_column(n, "second") == "NodePorts"
    assert_holds_nothing(n, "second")
    assert alive(pid)
    assert phase(n, "first")[0] == "Running"
    # Another protocol on the same port is free.
    n.apply(pod_yaml("udp", sleeper("c", "    ports:\n    - {containerPort: 80, hostPort: 18089, protocol: UDP}\n")))
    n.wait_running("udp")
    n.delete("second")
    assert n.run("get", "pod", "second", check=False).returncode == 1


def test_scheduling_gates_keep_the_pod_pending_until_removed(n: Node) -> None:
    gates = "  schedulingGates:\n  - name: example.com/wait\n"
    n.apply(pod_yaml("gated", sleeper("c"), gates))
    obj = n.pod_json("gated")
    assert obj["status"]["phase"] == "Pending"
    assert obj["status"]["conditions"][0]["reason"] == "SchedulingGated"
    assert "nodeName" not in obj["spec"]
    assert status_column(n, "gated") == "SchedulingGated"
    assert_holds_nothing(n, "gated")
    assert n.apply(pod_yaml("gated", sleeper("c"))).stdout == "pod/gated configured\n"
    n.wait_running("gated")


def test_extended_resources(n: Node) -> None:
    fpga = sleeper("c", "    resources:\n      limits: {vendor.io/fpga: 1}\n")
    n.apply(pod_yaml("fpga", fpga))
    assert phase(n, "fpga") == ("Failed", "OutOfvendor.io/fpga")
    assert n.pod_json("fpga")["status"]["message"] == (
        "Pod was rejected: Node didn't have enough resource: vendor.io/fpga, requested: 1, used: 0, capacity: 0")
    assert_holds_nothing(n, "fpga")

    gpu = sleeper("c", "    resources:\n      limits: {example.com/gpu: 1}\n")
    n.apply(pod_yaml("gpu1", gpu))
    n.wait_running("gpu1")
    n.apply(pod_yaml("gpu2", gpu))  # the node offers one: counted across pods
    assert phase(n, "gpu2") == ("Failed", "OutOfexample.com/gpu")
    assert "requested: 1, used: 1, capacity: 1" in n.pod_json("gpu2")["status"]["message"]


def test_node_name_of_another_node_is_refused(n: Node) -> None:
    proc = n.apply(pod_yaml("elsewhere", sleeper("c"), "  nodeName: some-other-node\n"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: pod "elsewhere": spec.nodeName: Invalid value: "some-other-node"')
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not n.pod_dir("elsewhere").exists()
    # Its own name is fine.
    n.apply(pod_yaml("here", sleeper("c"), f"  nodeName: {node_name(n)}\n"))
    n.wait_running("here")


def test_get_nodes_shows_the_labels(n: Node) -> None:
    table = n.run("get", "nodes").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert table[1].split()[:3] == [node_name(n), "Ready", "<none>"]
    obj = json.loads(n.run("get", "node", node_name(n), "-o", "json").stdout)
    labels = obj["metadata"]["labels"]
    assert labels["disk"] == "ssd" and labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/hostname"] == node_name(n)
    assert obj["status"]["capacity"]["example.com/gpu"] == "1"
    refused = n.run("label", "node", "disk=hdd", check=False)
    assert (refused.returncode, refused.stderr) == (1, "error: 'disk' already has a value (ssd), and --overwrite is false\n")
    n.run("label", "node", "disk=hdd", "--overwrite")
    n.run("label", "node", "disk-")
    assert "disk" not in json.loads(n.run("get", "nodes", "-o", "json").stdout)["items"][0]["metadata"]["labels"]


def node_name(node: Node) -> str:
    return str(json.loads(node.run("get", "nodes", "-o", "json").stdout)["items"][0]["metadata"]["name"])


def test_a_restarted_supervisor_keeps_rejected_and_gated_pods(n: Node) -> None:
    import os
    import signal

    n.apply(pod_yaml("picky", sleeper("c"), "  nodeSelector:\n    zone: b\n"))
    n.apply(pod_yaml("gated", sleeper("c"), "  schedulingGates:\n  - name: example.com/wait\n"))
    daemon = n.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    poll("the supervisor gone", lambda: not alive(daemon))
    n.apply(pod_yaml("other", sleeper("c")))  # a new supervisor, which adopts the two
    n.wait_running("other")
    assert n.daemon_pid() != daemon
    assert phase(n, "picky") == ("Failed", "NodeAffinity")
    assert status_column(n, "gated") == "SchedulingGated"
    assert_holds_nothing(n, "picky")
    assert_holds_nothing(n, "gated")
    n.delete("picky")
    n.delete("gated")
    assert not n.pod_dir("picky").exists() and not n.pod_dir("gated").exists()
