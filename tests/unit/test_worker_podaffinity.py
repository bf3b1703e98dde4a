"""Required inter-pod (anti-)affinity on one node (pyrunc/worker/podaffinity.py, through admission.admit),
root-free, as tables: the incoming pod, the pods the scheduler counts on the node, the expected reason."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.errors import SpecError
from pyrunc.node import NodeFacts, merge_labels
from pyrunc.spec.load import pod_from_dict
from pyrunc.spec.model import Pod
from pyrunc.status import pod_status
from pyrunc.worker.admission import Unschedulable, admit
from pyrunc.worker.held import admission_facts
from pyrunc.worker.podaffinity import (AFFINITY_REASON, ANTI_AFFINITY_REASON, EXISTING_ANTI_AFFINITY_REASON,
                                       unfit_reason)

NODE = NodeFacts("n1", merge_labels({"topology.kubernetes.io/zone": "z1"}, {}, "n1", "x86_64"), {})
HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def pod(name: str, labels: dict[str, str] | None = None, namespace: str = "default", affinity: Any = None,
        anti: Any = None, **spec: Any) -> Pod:
    aff: dict[str, Any] = {}
    if affinity is not None:
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": affinity}
    if anti is not None:
        aff["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": anti}
    return pod_from_dict({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec,
                                   **({"affinity": aff} if aff else {})}})


def term(match: dict[str, str] | None = None, key: str = HOST, exprs: list[dict[str, Any]] | None = None,
         **more: Any) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if match is not None:
        selector["matchLabels"] = match
    if exprs is not None:
        selector["matchExpressions"] = exprs
    return {"labelSelector": selector, "topologyKey": key, **more}


WEB = pod("web", {"app": "web", "tier": "front"})
WEB_SHOP = pod("web", {"app": "web"}, namespace="shop")
DB = pod("db", {"app": "db"})

CASES: list[tuple[str, Pod, list[Pod], str | None]] = [
    # required affinity
    ("affinity met", pod("a", affinity=[term({"app": "web"})]), [WEB], None),
    ("affinity to no pod", pod("a", affinity=[term({"app": "web"})]), [DB], AFFINITY_REASON),
    ("affinity on an empty node", pod("a", affinity=[term({"app": "web"})]), [], AFFINITY_REASON),
    ("affinity, zone topology", pod("a", affinity=[term({"app": "web"}, ZONE)]), [WEB], None),
    ("affinity, the node lacks the topology key", pod("a", affinity=[term({"app": "web"}, "example.com/rack")]),
     [WEB], AFFINITY_REASON),
    ("affinity terms ANDed on one pod", pod("a", affinity=[term({"app": "web"}), term({"app": "db"})]),
     [WEB, DB], AFFINITY_REASON),
    ("affinity terms met by one pod", pod("a", affinity=[term({"app": "web"}), term({"tier": "front"})]), [WEB], None),
    ("affinity In", pod("a", affinity=[term(exprs=[{"key": "app", "operator": "In", "values": ["db", "web"]}])]),
     [WEB], None),
    ("affinity NotIn", pod("a", {"app": "web"},
                           affinity=[term(exprs=[{"key": "app", "operator": "NotIn", "values": ["web"]}])]),
     [WEB], AFFINITY_REASON),
    # ... where a pod without the label matches its own term: the first-pod rule lets it in
    ("affinity NotIn, first pod", pod("a", affinity=[term(exprs=[{"key": "app", "operator": "NotIn", "values": ["web"]}])]),
     [WEB], None),
    ("affinity Exists", pod("a", affinity=[term(exprs=[{"key": "tier", "operator": "Exists"}])]), [WEB], None),
    ("affinity DoesNotExist", pod("a", affinity=[term(exprs=[{"key": "tier", "operator": "DoesNotExist"}])]),
     [DB], None),
    ("an empty selector selects every pod", pod("a", affinity=[term({})]), [DB], None),
    ("no selector selects no pod", pod("a", affinity=[{"topologyKey": HOST}]), [DB], AFFINITY_REASON),
    # namespaces
    ("affinity to another namespace's pod", pod("a", affinity=[term({"app": "web"})]), [WEB_SHOP], AFFINITY_REASON),
    ("namespaces names it", pod("a", affinity=[term({"app": "web"}, namespaces=["shop"])]), [WEB_SHOP], None),
    ("namespaces replace the pod's own", pod("a", affinity=[term({"app": "web"}, namespaces=["shop"])]), [WEB],
     AFFINITY_REASON),
    ("an empty namespaceSelector selects every namespace",
     pod("a", affinity=[term({"app": "web"}, namespaceSelector={})]), [WEB_SHOP], None),
    ("namespaceSelector on the namespace's name label",
     pod("a", affinity=[term({"app": "web"}, namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "shop"}})]),
     [WEB_SHOP], None),
    ("namespaceSelector on a label namespaces do not have",
     pod("a", affinity=[term({"app": "web"}, namespaceSelector={"matchLabels": {"team": "x"}})]), [WEB_SHOP],
     AFFINITY_REASON),
    # the first pod of a group with affinity to itself
    ("first pod matching its own term", pod("a", {"app": "web"}, affinity=[term({"app": "web"})]), [], None),
    ("first pod not matching its own term", pod("a", {"app": "db"}, affinity=[term({"app": "web"})]), [],
     AFFINITY_REASON),
    ("first pod, but the topology key is missing", pod("a", {"app": "web"}, affinity=[term({"app": "web"}, "x/y")]),
     [], AFFINITY_REASON),
    ("self-affinity is not first when another pod matches",
     pod("a", {"app": "web", "tier": "front"}, affinity=[term({"app": "web"}), term({"tier": "front"})]),
     [pod("w", {"app": "web"})], None),
    # matchLabelKeys / mismatchLabelKeys: the owner's values merged into the selector
    ("matchLabelKeys, same release", pod("a", {"release": "v2"}, affinity=[term({"app": "web"}, matchLabelKeys=["release"])]),
     [pod("w", {"app": "web", "release": "v2"})], None),
    ("matchLabelKeys, other release", pod("a", {"release": "v2"}, affinity=[term({"app": "web"}, matchLabelKeys=["release"])]),
     [pod("w", {"app": "web", "release": "v1"})], AFFINITY_REASON),
    ("matchLabelKeys the owner lacks are left out", pod("a", affinity=[term({"app": "web"}, matchLabelKeys=["release"])]),
     [pod("w", {"app": "web", "release": "v1"})], None),
    ("mismatchLabelKeys", pod("a", {"tenant": "blue"}, anti=[term({"app": "cache"}, mismatchLabelKeys=["tenant"])]),
     [pod("c", {"app": "cache", "tenant": "blue"})], None),
    ("mismatchLabelKeys, other tenant", pod("a", {"tenant": "blue"}, anti=[term({"app": "cache"}, mismatchLabelKeys=["tenant"])]),
     [pod("c", {"app": "cache", "tenant": "red"})], ANTI_AFFINITY_REASON),
    # required anti-affinity
    ("anti-affinity against a running pod", pod("a", anti=[term({"app": "web"})]), [WEB], ANTI_AFFINITY_REASON),
    ("anti-affinity, no matching pod", pod("a", anti=[term({"app": "web"})]), [DB], None),
    ("anti-affinity, the node lacks the key: no conflict", pod("a", anti=[term({"app": "web"}, "example.com/rack")]),
     [WEB], None),
    ("anti-affinity, other namespace", pod("a", anti=[term({"app": "web"})]), [WEB_SHOP], None),
    ("anti-affinity, any term conflicts", pod("a", anti=[term({"app": "x"}), term({"app": "db"}, ZONE)]), [DB],
     ANTI_AFFINITY_REASON),
    ("anti-affinity to itself on an empty node", pod("a", {"app": "web"}, anti=[term({"app": "web"})]), [], None),
    # the existing pods' anti-affinity (symmetry)
    ("a running pod's anti-affinity keeps it out", pod("a", {"app": "web"}),
     [pod("b", {"app": "db"}, anti=[term({"app": "web"})])], EXISTING_ANTI_AFFINITY_REASON),
    ("a running pod's anti-affinity in its own namespace", pod("a", {"app": "web"}, namespace="shop"),
     [pod("b", anti=[term({"app": "web"})])], None),
    ("a running pod's anti-affinity on a key the node lacks", pod("a", {"app": "web"}),
     [pod("b", anti=[term({"app": "web"}, "x/y")])], None),
    # order: affinity, then anti-affinity, then the running pods' anti-affinity
    ("affinity is reported first", pod("a", {"app": "web"}, affinity=[term({"app": "x"})], anti=[term({"app": "db"})]),
     [DB, pod("b", anti=[term({"app": "web"})])], AFFINITY_REASON),
    ("anti-affinity before the running pods'", pod("a", {"app": "web"}, anti=[term({"app": "db"})]),
     [pod("b", {"app": "db"}, anti=[term({"app": "web"})])], ANTI_AFFINITY_REASON),
    # preferred terms change nothing on one node
    ("preferred terms are only preferences", pod_from_dict({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "affinity": {
            "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term({"app": "x"})}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term({"app": "web"})}]}}}}), [WEB], None),
]


@pytest.mark.parametrize(("incoming", "others", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(incoming: Pod, others: list[Pod], reason: str | None) -> None:
    assert unfit_reason(incoming, NODE.labels, others) == reason


def test_admission_keeps_it_pending_with_the_schedulers_message() -> None:
    anti = pod("a", anti=[term({"app": "web"})])
    assert admit(anti, NODE, [WEB], [WEB]) == Unschedulable(
        "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
    lonely = pod("a", affinity=[term({"app": "web"})])
    assert admit(lonely, NODE, [], []) == Unschedulable(
        "0/1 nodes are available: 1 node(s) didn't match pod affinity rules. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
    never = pod("a", anti=[term({"app": "web"})], preemptionPolicy="Never")
    assert admit(never, NODE, [WEB], [WEB]) == Unschedulable(
        "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. "
        "preemption: not eligible due to preemptionPolicy=Never.")


def test_terminal_pods_do_not_count_but_hold_their_ports() -> None:
    """`others` (ports, devices) and `scheduled` (inter-pod affinity) are separate lists: a completed pod is
    in the first only. No `scheduled` at all: a static pod, which no scheduler places."""
    anti = pod("a", anti=[term({"app": "web"})])
    assert admit(anti, NODE, [WEB], []) is None
    assert admit(anti, NODE, [WEB], None) is None


def test_unschedulable_status() -> None:
    facts = admission_facts(Unschedulable("0/1 nodes are available: ..."))
    manifest = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status = pod_status(manifest, {}, None, lambda pid, st: False, 0.0, True, admission=facts)
    assert status == {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "lastProbeTime": None,
        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Unschedulable",
        "message": "0/1 nodes are available: ..."}]}
    from pyrunc.printers.columns import pod_status_column
    assert pod_status_column({**manifest, "status": status}) == "Pending"


BASE = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
INVALID = [
    ("no topologyKey", {"labelSelector": {}}, f"{BASE}.topologyKey: Required value: can not be empty"),
    ("topologyKey not a label key", {"topologyKey": "a b"}, f'{BASE}.topologyKey: Invalid value: "a b": name part'),
    ("bad operator", term(exprs=[{"key": "a", "operator": "Gt", "values": ["1"]}]),
     f'{BASE}.labelSelector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator'),
    ("In without values", term(exprs=[{"key": "a", "operator": "In"}]),
     f"{BASE}.labelSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ("Exists with values", term(exprs=[{"key": "a", "operator": "Exists", "values": ["x"]}]),
     f"{BASE}.labelSelector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or "
     "'DoesNotExist'"),
    ("bad value", term(exprs=[{"key": "a", "operator": "In", "values": ["a b"]}]),
     f'{BASE}.labelSelector.matchExpressions[0].values[0]: Invalid value: "a b": a valid label must be'),
    ("bad matchLabels value", term({"a": "-x"}), f'{BASE}.labelSelector.matchLabels: Invalid value: "-x"'),
    ("bad namespaceSelector key", term({}, namespaceSelector={"matchLabels": {"a b": "x"}}),
     f'{BASE}.namespaceSelector.matchLabels: Invalid value: "a b"'),
    ("bad namespace", term({}, namespaces=["Shop"]), f'{BASE}.namespace: Invalid value: "Shop"'),
    ("matchLabelKeys without a selector", {"topologyKey": HOST, "matchLabelKeys": ["app"]},
     f"{BASE}.matchLabelKeys: Forbidden: must not be specified when labelSelector is not set"),
    ("matchLabelKeys also in the selector", term({"app": "x"}, matchLabelKeys=["app"]),
     f'{BASE}[0]: Invalid value: "app": exists in both matchLabelKeys and labelSelector'),
    ("a key in both lists", term({}, matchLabelKeys=["rel"], mismatchLabelKeys=["rel"]),
     f'{BASE}.matchLabelKeys[0]: Invalid value: "rel": exists in both matchLabelKeys and mismatchLabelKeys'),
]


@pytest.mark.parametrize(("bad", "error"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_terms(bad: dict[str, Any], error: str) -> None:
    with pytest.raises(SpecError) as e:
        pod("a", {"app": "web"}, anti=[bad])
    assert error in str(e.value)


def test_preferred_weight_range() -> None:
    with pytest.raises(SpecError) as e:
        pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
                       "spec": {"containers": [{"name": "c", "image": "busybox"}], "affinity": {"podAffinity": {
                           "preferredDuringSchedulingIgnoredDuringExecution": [{"podAffinityTerm": term({})}]}}}})
    assert str(e.value).endswith("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: "
                                 "Invalid value: 0: must be in the range 1-100")
