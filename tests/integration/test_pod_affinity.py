"""Required inter-pod (anti-)affinity through the CLI: the scheduler's filter on the node's pods. A pod that
fails it stays Pending (PodScheduled False, Unschedulable, a FailedScheduling event from default-scheduler)
with nothing created, and runs once the node's pods change so that it fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import Node, node, poll, pod_yaml, sleeper  # noqa: F401 - node: the fixture

pytestmark = [pytest.mark.root, pytest.mark.network]

ANTI = ("0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
AFFINITY = ("0/1 nodes are available: 1 node(s) didn't match pod affinity rules. "
            "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
EXISTING = ("0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules. "
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")


def labelled(name: str, app: str, affinity: str = "") -> str:
    return pod_yaml(name, sleeper("c"), affinity, metadata=f"  labels:\n    app: {app}\n")


def required(kind: str, app: str, key: str = "kubernetes.io/hostname") -> str:
    return (f"  affinity:\n    {kind}:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"
            f"      - labelSelector:\n          matchLabels:\n            app: {app}\n        topologyKey: {key}\n")


def assert_unschedulable(node: Node, name: str, message: str) -> None:
    """Pending as a cluster shows a pod no node fits, with only its stored facts on the node."""
    pod = node.pod_json(name)
    assert pod["status"]["phase"] == "Pending"
    assert [(c["type"], c["status"], c.get("reason"), c.get("message")) for c in pod["status"]["conditions"]] == \
        [("PodScheduled", "False", "Unschedulable", message)]
    assert "nodeName" not in pod["spec"]  # not bound
    assert "containerStatuses" not in pod["status"]
    assert node.run("get", "pods", name, "--no-headers").stdout.split()[2] == "Pending"
    assert sorted(p.name for p in node.pod_dir(name).iterdir()) == ["admission.json", "events.json", "pod.json"]
    assert not (Path(node.root, "cgroups") / node.uid(name)).exists()
    lines = [line.split() for line in node.run("describe", "pod", name).stdout.splitlines()]
    event = [line for line in lines if line[:2] == ["Warning", "FailedScheduling"]]
    assert event and event[0][3] == "default-scheduler" and " ".join(event[0][4:]) == message


def test_anti_affinity_waits_for_the_pod_it_avoids_to_go(node: Node) -> None:
    node.apply(labelled("web", "web"))
    node.wait_running("web")
    assert node.apply(labelled("spread", "other", required("podAntiAffinity", "web"))).stdout == "pod/spread created\n"
    assert_unschedulable(node, "spread", ANTI)
    # Applying it again is another scheduling attempt, with the same outcome.
    assert node.apply(labelled("spread", "other", required("podAntiAffinity", "web"))).stdout == \
        "pod/spread configured\n"
    assert_unschedulable(node, "spread", ANTI)

    node.delete("web")
    node.wait_running("spread")
    assert not Path(node.pod_dir("spread"), "admission.json").exists()
    assert node.pod_json("spread")["spec"]["nodeName"]  # bound now
    described = node.run("describe", "pod", "spread").stdout
    assert described.index("FailedScheduling") < described.index("Successfully assigned default/spread")
    node.delete("spread")


def test_anti_affinity_on_a_key_the_node_lacks_never_conflicts(node: Node) -> None:
    node.apply(labelled("web", "web"))
    node.apply(labelled("zoned", "other", required("podAntiAffinity", "web", "topology.kubernetes.io/zone")))
    node.wait_running("zoned")
    node.delete("zoned")
    node.delete("web")


def test_affinity_runs_next_to_its_pod_and_waits_for_one(node: Node) -> None:
    node.apply(labelled("db", "db"))
    node.apply(labelled("near", "cache", required("podAffinity", "db")))
    node.wait_running("near")

    node.apply(labelled("lonely", "cache", required("podAffinity", "queue")))
    assert_unschedulable(node, "lonely", AFFINITY)
    # A pod it wants appears: the scheduler tries the pending pod again.
    node.apply(labelled("queue", "queue"))
    node.wait_running("lonely")
    for name in ("lonely", "queue", "near", "db"):
        node.delete(name)


def test_a_running_pods_anti_affinity_keeps_a_matching_pod_out(node: Node) -> None:
    node.apply(labelled("loner", "loner", required("podAntiAffinity", "web")))
    node.wait_running("loner")
    node.apply(labelled("web", "web"))
    assert_unschedulable(node, "web", EXISTING)
    node.delete("web")
    assert not node.pod_dir("web").exists()
    node.delete("loner")


def test_a_pod_that_completes_no_longer_counts(node: Node) -> None:
    """The scheduler forgets a Succeeded pod: the pending pod is tried again when it ends."""
    job = pod_yaml("job", "  - name: c\n    image: busybox\n"
                          "    command: [sh, -c, 'while [ ! -e /tmp/go ]; do sleep 0.1; done']\n",
                   "  restartPolicy: Never\n", metadata="  labels:\n    app: web\n")
    node.apply(job)
    node.wait_running("job")
    node.apply(labelled("after", "other", required("podAntiAffinity", "web")))
    assert_unschedulable(node, "after", ANTI)
    node.exec("job", "c", "touch", "/tmp/go")
    poll("job succeeded", lambda: node.pod_json("job")["status"]["phase"] == "Succeeded")
    node.wait_running("after")
    node.delete("after")
    node.delete("job")
