"""Admission (pyrunc/worker/admission.py) and the node's view (pyrunc/node.py), root-free, as tables.

Each case is a pod (a manifest spec), the node's labels and offered extended resources, and the pods the
node already runs; the expected outcome is None (admitted), a Rejected with the kubelet's reason and
message, or Gated.
"""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.errors import PyruncError, SpecError
from pyrunc.node import NodeFacts, change_labels, goarch, kubelet_labels, merge_labels, parse_label_words
from pyrunc.spec.load import pod_from_dict
from pyrunc.spec.model import Pod
from pyrunc.status import pod_status
from pyrunc.worker.admission import Gated, Rejected, admit, node_name_problem, pod_request
from pyrunc.worker.held import admission_facts

NODE = NodeFacts("n1", merge_labels({"disk": "ssd", "gen": "5"}, {}, "n1", "x86_64"), {"example.com/gpu": 2})
AFFINITY_MESSAGE = "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
PORTS_MESSAGE = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"


def pod(name: str = "p", container: dict[str, Any] | None = None, **spec: Any) -> Pod:
    c = {"name": "c", "image": "busybox", **(container or {})}
    return pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                          "spec": {"containers": [c], **spec}})


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


def ports(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"ports": [{"containerPort": 80, **e} for e in entries]}


def gpus(n: int, where: str = "limits") -> dict[str, Any]:
    return {"resources": {where: {"example.com/gpu": str(n)}}}


AFFINITY_CASES = [
    ("no selector", {}, True),
    ("nodeSelector match", {"nodeSelector": {"disk": "ssd"}}, True),
    ("nodeSelector on a kubelet label", {"nodeSelector": {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}, True),
    ("nodeSelector hostname", {"nodeSelector": {"kubernetes.io/hostname": "n1"}}, True),
    ("nodeSelector value differs", {"nodeSelector": {"disk": "hdd"}}, False),
    ("nodeSelector label absent", {"nodeSelector": {"gpu": "yes"}}, False),
    ("nodeSelector one of two differs", {"nodeSelector": {"disk": "ssd", "zone": "a"}}, False),
    ("In", {"affinity": required({"matchExpressions": [expr("disk", "In", "hdd", "ssd")]})}, True),
    ("In no value", {"affinity": required({"matchExpressions": [expr("disk", "In", "hdd")]})}, False),
    ("NotIn", {"affinity": required({"matchExpressions": [expr("disk", "NotIn", "hdd")]})}, True),
    ("NotIn hit", {"affinity": required({"matchExpressions": [expr("disk", "NotIn", "ssd")]})}, False),
    ("NotIn absent label", {"affinity": required({"matchExpressions": [expr("zone", "NotIn", "a")]})}, True),
    ("Exists", {"affinity": required({"matchExpressions": [expr("disk", "Exists")]})}, True),
    ("Exists absent", {"affinity": required({"matchExpressions": [expr("zone", "Exists")]})}, False),
    ("DoesNotExist", {"affinity": required({"matchExpressions": [expr("zone", "DoesNotExist")]})}, True),
    ("DoesNotExist present", {"affinity": required({"matchExpressions": [expr("disk", "DoesNotExist")]})}, False),
    ("Gt", {"affinity": required({"matchExpressions": [expr("gen", "Gt", "4")]})}, True),
    ("Gt equal", {"affinity": required({"matchExpressions": [expr("gen", "Gt", "5")]})}, False),
    ("Lt", {"affinity": required({"matchExpressions": [expr("gen", "Lt", "6")]})}, True),
    ("Lt on a non-integer label", {"affinity": required({"matchExpressions": [expr("disk", "Lt", "6")]})}, False),
    ("Gt absent label", {"affinity": required({"matchExpressions": [expr("zone", "Gt", "1")]})}, False),
    ("expressions are ANDed", {"affinity": required({"matchExpressions": [expr("disk", "In", "ssd"),
                                                                         expr("gen", "Lt", "5")]})}, False),
    ("terms are ORed", {"affinity": required({"matchExpressions": [expr("disk", "In", "hdd")]},
                                             {"matchExpressions": [expr("gen", "In", "5")]})}, True),
    ("an empty term matches nothing", {"affinity": required({})}, False),
    ("matchFields name", {"affinity": required({"matchFields": [expr("metadata.name", "In", "n1")]})}, True),
    ("matchFields other name", {"affinity": required({"matchFields": [expr("metadata.name", "In", "n2")]})}, False),
    ("matchFields NotIn", {"affinity": required({"matchFields": [expr("metadata.name", "NotIn", "n2")]})}, True),
    ("fields and expressions ANDed", {"affinity": required({"matchFields": [expr("metadata.name", "In", "n1")],
                                                            "matchExpressions": [expr("zone", "Exists")]})}, False),
    ("selector and affinity both needed", {"nodeSelector": {"disk": "hdd"},
                                           "affinity": required({"matchExpressions": [expr("disk", "Exists")]})}, False),
    ("preferred terms are ignored", {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [expr("disk", "In", "hdd")]}}]}}}, True),
    ("pod anti-affinity is not node affinity", {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}]}}}, True),
]


@pytest.mark.parametrize(("spec", "fits"), [(s, f) for _, s, f in AFFINITY_CASES], ids=[c[0] for c in AFFINITY_CASES])
def test_node_affinity(spec: dict[str, Any], fits: bool) -> None:
    decision = admit(pod(**spec), NODE, [])
    assert decision == (None if fits else Rejected("NodeAffinity", AFFINITY_MESSAGE))


PORT_CASES = [
    ("no other pod", [], {"hostPort": 8080}, True),
    ("same port and protocol", [{"hostPort": 8080}], {"hostPort": 8080}, False),
    ("other protocol", [{"hostPort": 8080, "protocol": "UDP"}], {"hostPort": 8080}, True),
    ("other port", [{"hostPort": 8081}], {"hostPort": 8080}, True),
    ("0.0.0.0 taken, asking one IP", [{"hostPort": 8080}], {"hostPort": 8080, "hostIP": "127.0.0.1"}, False),
    ("one IP taken, asking 0.0.0.0", [{"hostPort": 8080, "hostIP": "127.0.0.1"}], {"hostPort": 8080}, False),
    ("two different IPs", [{"hostPort": 8080, "hostIP": "127.0.0.1"}], {"hostPort": 8080, "hostIP": "127.0.0.2"}, True),
    ("the same IP", [{"hostPort": 8080, "hostIP": "127.0.0.1"}], {"hostPort": 8080, "hostIP": "127.0.0.1"}, False),
    ("containerPort alone binds nothing", [{}], {}, True),
]


@pytest.mark.parametrize(("taken", "asked", "fits"), [c[1:] for c in PORT_CASES], ids=[c[0] for c in PORT_CASES])
def test_host_ports(taken: list[dict[str, Any]], asked: dict[str, Any], fits: bool) -> None:
    others = [pod("other", ports(p)) for p in taken]
    decision = admit(pod(container=ports(asked)), NODE, others)
    assert decision == (None if fits else Rejected("NodePorts", PORTS_MESSAGE))


def test_host_network_ports_count_as_host_ports() -> None:
    web = pod("web", {"ports": [{"containerPort": 8080}]}, hostNetwork=True)
    assert admit(pod(container=ports({"hostPort": 8080})), NODE, [web]) == Rejected("NodePorts", PORTS_MESSAGE)


RESOURCE_CASES = [
    ("offered", [], gpus(1), None),
    ("all of it", [], gpus(2), None),
    ("request equal to the limit", [], {"resources": {"requests": {"example.com/gpu": "1"},
                                                      "limits": {"example.com/gpu": "1"}}}, None),
    ("more than offered", [], gpus(3), (3, 0, 2)),
    ("counted across pods", [gpus(1)], gpus(2), (2, 1, 2)),
    ("fits beside another", [gpus(1)], gpus(1), None),
]


@pytest.mark.parametrize(("held", "asked", "short"), [c[1:] for c in RESOURCE_CASES], ids=[c[0] for c in RESOURCE_CASES])
def test_extended_resources(held: list[dict[str, Any]], asked: dict[str, Any], short: tuple[int, int, int] | None) -> None:
    decision = admit(pod(container=asked), NODE, [pod("o", h) for h in held])
    if short is None:
        assert decision is None
    else:
        requested, used, capacity = short
        assert decision == Rejected("OutOfexample.com/gpu", f"Node didn't have enough resource: example.com/gpu, "
                                                            f"requested: {requested}, used: {used}, capacity: {capacity}")


def test_an_extended_resource_the_node_does_not_offer() -> None:
    decision = admit(pod(container={"resources": {"limits": {"vendor.io/fpga": "1"}}}), NODE, [])
    assert decision == Rejected("OutOfvendor.io/fpga",
                                "Node didn't have enough resource: vendor.io/fpga, requested: 1, used: 0, capacity: 0")
    assert isinstance(decision, Rejected)
    assert decision.status_message.startswith("Pod was rejected: Node didn't have enough resource")


def test_native_resources_are_not_extended() -> None:
    heavy = {"resources": {"limits": {"cpu": "64", "memory": "1Ti", "hugepages-2Mi": "0"}}}
    assert admit(pod(container=heavy), NODE, []) is None


def test_pod_request_counts_init_and_sidecars() -> None:
    p = pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "big-init", "image": "busybox", **gpus(3)},
                           {"name": "side", "image": "busybox", "restartPolicy": "Always", **gpus(1)}],
        "containers": [{"name": "a", "image": "busybox", **gpus(1)}, {"name": "b", "image": "busybox", **gpus(1)}]}})
    assert pod_request(p, "example.com/gpu") == 3  # max(init alone 3, apps 2 + sidecar 1)


def test_order_resources_then_affinity_then_ports() -> None:
    others = [pod("o", ports({"hostPort": 9000}))]
    bad_all = pod(container={**ports({"hostPort": 9000}), **gpus(5)}, nodeSelector={"disk": "hdd"})
    decision = admit(bad_all, NODE, others)
    assert isinstance(decision, Rejected) and decision.reason == "OutOfexample.com/gpu"
    decision = admit(pod(container=ports({"hostPort": 9000}), nodeSelector={"disk": "hdd"}), NODE, others)
    assert isinstance(decision, Rejected) and decision.reason == "NodeAffinity"


def test_scheduling_gates_come_first() -> None:
    gated = pod(schedulingGates=[{"name": "example.com/wait"}, {"name": "b"}], nodeSelector={"disk": "hdd"})
    assert admit(gated, NODE, []) == Gated(("example.com/wait", "b"))


def test_node_name() -> None:
    assert node_name_problem(pod(), "n1") is None
    assert node_name_problem(pod(nodeName="n1"), "n1") is None
    problem = node_name_problem(pod(nodeName="n2"), "n1")
    assert problem is not None and problem.startswith('spec.nodeName: Invalid value: "n2"')


# ------------------------------------------------------------------ the status a held pod shows
MANIFEST = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_rejected_status() -> None:
    facts = admission_facts(Rejected("NodeAffinity", AFFINITY_MESSAGE))
    status = pod_status(MANIFEST, {}, None, lambda pid, st: False, 0.0, True, admission=facts)
    assert status["phase"] == "Failed"
    assert status["reason"] == "NodeAffinity"
    assert status["message"] == "Pod was rejected: " + AFFINITY_MESSAGE
    assert "containerStatuses" not in status


def test_gated_status() -> None:
    facts = admission_facts(Gated(("g",)))
    status = pod_status(MANIFEST, {}, None, lambda pid, st: False, 0.0, True, admission=facts)
    assert status["phase"] == "Pending"
    assert status["conditions"] == [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                     "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "SchedulingGated",
                                     "message": "Scheduling is blocked due to non-empty scheduling gates"}]


def test_kubectl_status_column_of_held_pods() -> None:
    from pyrunc.printers.columns import pod_status_column

    for decision, shown in ((Gated(("g",)), "SchedulingGated"), (Rejected("NodePorts", PORTS_MESSAGE), "NodePorts")):
        status = pod_status(MANIFEST, {}, None, lambda pid, st: False, 0.0, True, admission=admission_facts(decision))
        assert pod_status_column({**MANIFEST, "status": status}) == shown


# ------------------------------------------------------------------ the spec fields
@pytest.mark.parametrize(("spec", "error"), [
    ({"affinity": required({"matchExpressions": [expr("disk", "In")]})}, "must be specified when `operator` is 'In'"),
    ({"affinity": required({"matchExpressions": [expr("disk", "Exists", "x")]})}, "may not be specified"),
    ({"affinity": required({"matchExpressions": [expr("gen", "Gt", "1", "2")]})}, "single value"),
    ({"affinity": required({"matchExpressions": [expr("disk", "Near", "x")]})},
         'operator: Invalid value: "Near": not a valid selector operator'),
    ({"affinity": required({"matchFields": [expr("metadata.labels", "In", "x")]})}, "not a valid field selector key"),
    ({"affinity": required()}, "must have at least one node selector term"),
    ({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "preference": {}}]}}}, "must be in the range 1-100"),
    ({"nodeSelector": {"bad key": "x"}}, "spec.nodeSelector.bad key"),
    ({"schedulingGates": [{}]}, "spec.schedulingGates[0].name: Required value"),
])
def test_invalid_fields(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(SpecError) as e:
        pod(**spec)
    assert error in str(e.value)


# ------------------------------------------------------------------ node labels
def test_kubelet_labels_win_and_overrides_apply() -> None:
    labels = merge_labels({"disk": "ssd", "kubernetes.io/os": "windows", "zone": "a"}, {"zone": None, "rack": "r1"},
                          "n1", "aarch64")
    assert labels == {"beta.kubernetes.io/arch": "arm64", "beta.kubernetes.io/os": "linux", "disk": "ssd",
                      "kubernetes.io/arch": "arm64", "kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux",
                      "rack": "r1"}
    assert kubelet_labels("n1", "x86_64")["kubernetes.io/arch"] == goarch("x86_64") == "amd64"


@pytest.mark.parametrize(("words", "overwrite", "result"), [
    (["zone=a"], False, ({"zone": "a"}, "node/n1 labeled")),
    (["disk=ssd"], False, ({"disk": "ssd"}, "node/n1 not labeled")),
    (["disk=hdd"], True, ({"disk": "hdd"}, "node/n1 labeled")),
    (["disk-"], False, ({"disk": None}, "node/n1 unlabeled")),
    (["disk=hdd"], False, "'disk' already has a value (ssd), and --overwrite is false"),
    (["kubernetes.io/hostname=x"], True, "kubernetes.io/hostname: set by the node itself"),
    (["kubernetes.io/os-"], False, "kubernetes.io/os: set by the node itself"),
    (["a b=c"], False, 'invalid label spec: "a b=c"'),
    (["a=b c"], False, 'invalid label spec: "a=b c"'),
    (["a=1", "a-"], False, "can not both modify and remove a label in the same command: a"),
    (["justaword"], False, 'invalid label spec: "justaword"'),
])
def test_label_changes(words: list[str], overwrite: bool, result: tuple[dict[str, Any], str] | str) -> None:
    def change() -> tuple[dict[str, Any], str]:
        to_set, to_remove = parse_label_words(words)
        done = change_labels(NODE, {}, to_set, to_remove, overwrite, "x86_64")
        return done.overrides, done.message

    if isinstance(result, str):
        with pytest.raises(PyruncError) as e:
            change()
        assert result in e.value.message
    else:
        assert change() == result


# ------------------------------------------------------------------ get nodes / --show-labels
def test_nodes_table_columns() -> None:
    from datetime import datetime, timezone

    from pyrunc.node import node_object
    from pyrunc.printers.nodes import nodes_table

    facts = NodeFacts("n1", {**NODE.labels, "node-role.kubernetes.io/worker": ""}, {"example.com/gpu": 2})
    host = {"address": "192.0.2.9", "osImage": "Debian", "kernelVersion": "6.1.0", "machine": "x86_64", "cpus": 2,
            "memoryKi": 1024, "bootTime": 1_700_000_000.0}
    obj = node_object(facts, host, "1.2.3")
    assert obj["status"]["capacity"] == {"cpu": "2", "memory": "1024Ki", "pods": "110", "example.com/gpu": "2"}
    now = datetime.fromtimestamp(1_700_000_000.0 + 3 * 86400, timezone.utc)
    lines = nodes_table(obj, now, wide=False, show_labels=True, no_headers=False).splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "LABELS"]
    assert lines[1].split() == ["n1", "Ready", "worker", "3d", "pyrunc-1.2.3",
                                ",".join(f"{k}={v}" for k, v in sorted(facts.labels.items()))]
    wide = nodes_table(obj, now, wide=True, show_labels=False, no_headers=True).split()
    assert wide == ["n1", "Ready", "worker", "3d", "pyrunc-1.2.3", "192.0.2.9", "<none>", "Debian", "6.1.0",
                    "pyrunc://1.2.3"]


def test_pods_show_labels() -> None:
    from datetime import datetime, timezone

    from pyrunc.printers.table import pods_table

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    pods = [{"metadata": {"name": "a", "labels": {"b": "2", "a": "1"}}, "spec": {"containers": []}, "status": {}},
            {"metadata": {"name": "b"}, "spec": {"containers": []}, "status": {}}]
    lines = pods_table(pods, now, show_labels=True).splitlines()
    assert lines[0].split()[-1] == "LABELS"
    assert lines[1].split()[-1] == "a=1,b=2"
    assert lines[2].split()[-1] == "<none>"


# ------------------------------------------------------------------ node settings
@pytest.mark.parametrize(("settings", "error"), [
    ({"node_labels": ["disk"]}, "node_labels: expected an object"),
    ({"node_labels": {"disk": 1}}, "node_labels.disk: expected a string"),
    ({"node_labels": {"bad key": "x"}}, "node_labels.bad key: Invalid value"),
    ({"node_labels": {"disk": "a b"}}, "node_labels.disk: Invalid value"),
    ({"extended_resources": {"example.com/gpu": -1}}, "extended_resources.example.com/gpu: expected a whole number"),
    ({"extended_resources": {"example.com/gpu": "2"}}, "expected a whole number"),
    ({"extended_resources": {"gpu": 1}}, "extended_resources.gpu: not an extended resource name"),
    ({"extended_resources": {"kubernetes.io/gpu": 1}}, "not an extended resource name"),
])
def test_node_settings_refused(tmp_path: Any, settings: dict[str, Any], error: str) -> None:
    import json

    from pyrunc.config import load_config

    (tmp_path / "config.json").write_text(json.dumps(settings))
    with pytest.raises(PyruncError) as e:
        load_config(str(tmp_path))
    assert error in e.value.message


def test_node_settings_read(tmp_path: Any) -> None:
    import json

    from pyrunc.config import load_config
    from pyrunc.node import node_facts

    (tmp_path / "config.json").write_text(json.dumps({"node_labels": {"disk": "ssd"},
                                                      "extended_resources": {"example.com/gpu": 2}}))
    (tmp_path / "node-labels.json").write_text(json.dumps({"labels": {"disk": None, "zone": "a"}}))
    facts = node_facts(load_config(str(tmp_path)))
    assert "disk" not in facts.labels and facts.labels["zone"] == "a"
    assert facts.extended_resources == {"example.com/gpu": 2}
