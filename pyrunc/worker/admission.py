"""Admission: whether this node takes a pod, as the scheduler's gate and the kubelet's admit handlers decide.

Pure: a pod, the node's facts (pyrunc/node.py) and the other live pods of the node in, a decision out.
The daemon (supervisor/daemon.py) carries it out: an admitted pod gets a PodWorker; a gated or rejected
one a HeldPod (worker/held.py) that creates nothing. The kubelet's order is kept (its GeneralPredicates,
the scheduler's AdmissionCheck): resources first, then node affinity, then host ports; only the first
failure is reported, as the kubelet reports only reasons[0].

What pyrunc decides differently, and why:
  - An extended resource the node does not offer at all. The kubelet drops such a request before its
    check (removeMissingExtendedResources: it may be a cluster-level resource) and runs the pod, but the
    scheduler would never have bound it ("Insufficient example.com/gpu"). pyrunc is the scheduler of its
    node too, so such a pod is rejected with the kubelet's words for an insufficient resource
    (OutOf<name>, "Node didn't have enough resource: ..., capacity: 0") rather than run without its
    device. The node's offer is its `extended_resources` setting (what a device plugin would advertise).
  - spec.nodeName of another node is refused at apply (`node_name_problem`), not rejected here: the
    kubelet never even sees a pod bound to another node, and on one node such a pod could never run.
  - schedulingGates: the scheduler does not bind a gated pod; it stays Pending (PodScheduled False,
    SchedulingGated) and nothing of it is created until a re-apply removes the gates.
  - Required inter-pod (anti-)affinity (worker/podaffinity.py) is the scheduler's filter, not the
    kubelet's: a pod failing it is not rejected but stays Pending (PodScheduled False, Unschedulable)
    with the scheduler's message, and is tried again when the node's pods change. pyrunc does not
    preempt: a higher-priority pod never evicts a lower-priority one to fit (the message says no victims).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pyrunc.node import NodeFacts
from pyrunc.spec.model import Container, NodeSelectorRequirement, NodeSelectorTerm, Pod, is_sidecar
from pyrunc.worker.podaffinity import AFFINITY_REASON as POD_AFFINITY_REASON
from pyrunc.worker.podaffinity import unfit_reason

REJECTED_PREFIX = "Pod was rejected: "
NODE_AFFINITY = "NodeAffinity"
NODE_PORTS = "NodePorts"
# The scheduler plugins' ErrReason texts, which the kubelet puts in "Predicate <name> failed: <reason>".
AFFINITY_REASON = "node(s) didn't match Pod's node affinity/selector"
PORTS_REASON = "node(s) didn't have free ports for the requested pod ports"
GATED_REASON = "SchedulingGated"
GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"
_NATIVE_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")


@dataclass(frozen=True, slots=True)
class Rejected:
    """The kubelet's rejectPod: phase Failed, this reason, "Pod was rejected: " + message."""

    reason: str
    message: str

    @property
    def status_message(self) -> str:
        return REJECTED_PREFIX + self.message


@dataclass(frozen=True, slots=True)
class Gated:
    """Kept Pending: the scheduler does not bind a pod with scheduling gates."""

    gates: tuple[str, ...]


UNSCHEDULABLE_REASON = "Unschedulable"


@dataclass(frozen=True, slots=True)
class Unschedulable:
    """Kept Pending: the scheduler's filter found the node unfit (PodScheduled False, Unschedulable)."""

    message: str  # the scheduler's FitError text, as in the condition and the FailedScheduling event


Decision = Rejected | Gated | Unschedulable | None  # None: admitted


def admit(pod: Pod, node: NodeFacts, others: Sequence[Pod], scheduled: Sequence[Pod] | None = None,
          held_ports: Sequence[HostPort] = ()) -> Decision:
    """Whether `node` takes `pod`, with `others` the pods it already holds (admitted, not removed: they keep
    their ports and devices until deleted) and `scheduled` those the scheduler counts for inter-pod
    affinity (not terminal). `scheduled` None: the pod does not go through the scheduler (a static pod,
    which the kubelet runs as it is), so inter-pod affinity is not checked. `held_ports`: host ports held
    by sandboxes that are not pyrunc pods (the CRI's, whose ports are the sandbox's port mappings)."""
    if pod.spec.scheduling_gates:
        return Gated(tuple(g.name for g in pod.spec.scheduling_gates))
    for name in sorted(extended_requests(pod)):
        requested = pod_request(pod, name)
        capacity = node.extended_resources.get(name, 0)
        used = sum(pod_request(other, name) for other in others)
        if requested > capacity - used:
            return Rejected(f"OutOf{name}", f"Node didn't have enough resource: {name}, requested: {requested}, "
                                            f"used: {used}, capacity: {capacity}")
    if not matches_node(pod, node):
        return Rejected(NODE_AFFINITY, f"Predicate {NODE_AFFINITY} failed: {AFFINITY_REASON}")
    taken = [*(port for other in others for port in host_ports(other)), *held_ports]
    if any(conflicts(port, used) for port in host_ports(pod) for used in taken):
        return Rejected(NODE_PORTS, f"Predicate {NODE_PORTS} failed: {PORTS_REASON}")
    reason = unfit_reason(pod, node.labels, scheduled) if scheduled is not None else None
    if reason is not None:
        return Unschedulable(fit_error(pod, reason))
    return None


def fit_error(pod: Pod, reason: str) -> str:
    """FitError.Error() for one node failing with `reason`, followed by what preemption (the PostFilter)
    said. Unmet affinity is UnschedulableAndUnresolvable: removing pods cannot help. Anti-affinity is
    Unschedulable: preemption looks for lower-priority victims and, pyrunc not preempting, finds none.
    (Recent schedulers with other PostFilter plugins may add their own words; these are the default's.)"""
    if pod.spec.preemption_policy == "Never":
        post = "preemption: not eligible due to preemptionPolicy=Never."
    elif reason == POD_AFFINITY_REASON:
        post = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    else:
        post = "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    return f"0/1 nodes are available: 1 {reason}. {post}"


def node_name_problem(pod: Pod, node_name: str) -> str | None:
    """The refusal of a pod bound to another node (one line), or None."""
    wanted = pod.spec.node_name
    if not wanted or wanted == node_name:
        return None
    return (f'spec.nodeName: Invalid value: "{wanted}": this node is "{node_name}"; a pod bound to another '
            f"node never runs here (leave nodeName out, or use a nodeSelector)")


# ------------------------------------------------------------------ extended resources
def is_extended(name: str) -> bool:
    """IsExtendedResourceName: domain-qualified, outside kubernetes.io, not a quota name (requests.*)."""
    if name in _NATIVE_RESOURCES or name.startswith("hugepages-") or "/" not in name:
        return False
    domain = name.partition("/")[0]
    return domain != "kubernetes.io" and not domain.endswith(".kubernetes.io") and not name.startswith("requests.")


def extended_requests(pod: Pod) -> set[str]:
    return {name for c in pod.spec.init_containers + pod.spec.containers
            for name in (*c.resources.requests, *c.resources.limits) if is_extended(name)}


def _request(c: Container, name: str) -> int:
    # A request left out is defaulted from the limit (extended resources may not be overcommitted).
    q = c.resources.requests.get(name) or c.resources.limits.get(name)
    return q.value() if q is not None else 0


def pod_request(pod: Pod, name: str) -> int:
    """resourcehelper.PodRequests for one resource: app containers and sidecars add up; a plain init
    container runs alone (with the sidecars started before it), so only the largest such moment counts."""
    sidecars = 0
    init_peak = 0
    for c in pod.spec.init_containers:
        if is_sidecar(c):
            sidecars += _request(c, name)
            init_peak = max(init_peak, sidecars)
        else:
            init_peak = max(init_peak, sidecars + _request(c, name))
    return max(sum(_request(c, name) for c in pod.spec.containers) + sidecars, init_peak)


# ------------------------------------------------------------------ node affinity
def matches_node(pod: Pod, node: NodeFacts) -> bool:
    """nodeSelector (every pair) and required node affinity (any term), as GetRequiredNodeAffinity.Match."""
    if any(node.labels.get(key) != value for key, value in pod.spec.node_selector.items()):
        return False
    affinity = pod.spec.affinity
    node_affinity = affinity.node_affinity if affinity is not None else None
    required = node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    if required is None:
        return True
    return any(term_matches(term, node) for term in required.node_selector_terms)


def term_matches(term: NodeSelectorTerm, node: NodeFacts) -> bool:
    """A term with neither expressions nor fields matches nothing (it selects no node)."""
    if not term.match_expressions and not term.match_fields:
        return False
    fields = {"metadata.name": node.name}
    return (all(requirement_matches(r, node.labels) for r in term.match_expressions)
            and all(requirement_matches(r, fields) for r in term.match_fields))


def requirement_matches(req: NodeSelectorRequirement, labels: dict[str, str]) -> bool:
    present = req.key in labels
    value = labels.get(req.key, "")
    if req.operator == "In":
        return present and value in req.values
    if req.operator == "NotIn":
        return not present or value not in req.values
    if req.operator == "Exists":
        return present
    if req.operator == "DoesNotExist":
        return not present
    if req.operator in ("Gt", "Lt") and present and len(req.values) == 1:
        # Both sides must parse as integers; a label that does not never matches (labels.Selector).
        try:
            have, bound = int(value), int(req.values[0])
        except ValueError:
            return False
        return have > bound if req.operator == "Gt" else have < bound
    return False


# ------------------------------------------------------------------ host ports
@dataclass(frozen=True, slots=True)
class HostPort:
    protocol: str
    ip: str
    port: int


def host_ports(pod: Pod) -> Iterator[HostPort]:
    """Every hostPort the pod binds. Init containers count too: pyrunc's runtime maps theirs for the whole
    life of the sandbox (runtime/service.py), so two pods holding one would collide there."""
    for c in _containers(pod):
        for p in c.ports:
            port = p.host_port or (p.container_port if pod.spec.host_network else 0)
            if port:
                yield HostPort(p.protocol or "TCP", p.host_ip or "0.0.0.0", port)


def _containers(pod: Pod) -> Iterable[Container]:
    return pod.spec.init_containers + pod.spec.containers


def conflicts(a: HostPort, b: HostPort) -> bool:
    """HostPortInfo.CheckConflict: same protocol and port, and the same IP or either on 0.0.0.0."""
    if (a.protocol, a.port) != (b.protocol, b.port):
        return False
    return a.ip == b.ip or "0.0.0.0" in (a.ip, b.ip)
