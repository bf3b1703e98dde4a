"""The scheduler's InterPodAffinity filter, for the one node pyrunc is.

Pure: a pod, the node's labels and the pods the scheduler counts on the node in, the first failing
reason (or None) out. worker/admission.py calls it last, as the scheduler runs this filter after node
affinity, ports and resources; the daemon keeps a pod that fails it Pending (worker/held.py) and asks
again whenever the node's pods change, as the scheduler requeues it on pod events.

The scheduler's rules, read on one node (every topology domain is this node's, or none):
  - A term's namespaces: its `namespaces`, plus those its `namespaceSelector` selects; with neither, the
    namespace of the pod that owns the term. A namespace's labels are those the API server always sets
    (kubernetes.io/metadata.name: <name>): pyrunc has no Namespace objects to carry more.
  - A term's selector: no labelSelector selects no pod, an empty one every pod; `matchLabelKeys` and
    `mismatchLabelKeys` add `key In/NotIn [the owner's value]` for the keys the owner's labels have (the
    API server merges them into the stored selector at create).
  - Required affinity: the node must carry every term's topologyKey, and some pod on it must match
    every term at once. Unless no pod matches them all and the pod matches its own terms: the first pod
    of a group with affinity to itself is let in, or it would wait forever.
  - Required anti-affinity: fails when a term whose topologyKey the node carries matches a pod on it
    (a key the node lacks is a domain the node is in for nobody: it never conflicts).
  - Symmetry: a pod on the node whose required anti-affinity matches the incoming pod fails it too.
The checks run in the scheduler's order (affinity, anti-affinity, existing pods' anti-affinity) and only
the first failure is reported, as its Filter returns.

Preferred terms only score nodes: with one node there is nothing to rank, so they change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyrunc.spec.model import LabelSelector, LabelSelectorRequirement, Pod, PodAffinity, PodAffinityTerm

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# The plugin's ErrReason texts, as they appear in the FitError message.
AFFINITY_REASON = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_REASON = "node(s) didn't satisfy existing pods anti-affinity rules"


@dataclass(frozen=True, slots=True)
class Term:
    """A required term as the scheduler holds it (framework.AffinityTerm): resolved against its owner."""

    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None  # None: selects no namespace
    selector: LabelSelector | None  # None: selects no pod
    topology_key: str


def required_terms(owner: Pod, affinity: PodAffinity | None) -> list[Term]:
    if affinity is None:
        return []
    return [_term(owner, t) for t in affinity.required_during_scheduling_ignored_during_execution]


def _term(owner: Pod, term: PodAffinityTerm) -> Term:
    if not term.namespaces and term.namespace_selector is None:
        namespaces = frozenset({owner.metadata.namespace})
    else:
        namespaces = frozenset(term.namespaces)
    selector = term.label_selector
    if selector is not None:
        labels = owner.metadata.labels
        merged = [LabelSelectorRequirement(k, "In", (labels[k],)) for k in term.match_label_keys if k in labels]
        merged += [LabelSelectorRequirement(k, "NotIn", (labels[k],)) for k in term.mismatch_label_keys if k in labels]
        selector = LabelSelector(selector.match_labels, (*selector.match_expressions, *merged))
    return Term(namespaces, term.namespace_selector, selector, term.topology_key)


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels)."""
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    return all(_requirement_matches(r, labels) for r in selector.match_expressions)


def _requirement_matches(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    if req.operator == "In":
        return req.key in labels and labels[req.key] in req.values
    if req.operator == "NotIn":
        return req.key not in labels or labels[req.key] not in req.values
    if req.operator == "Exists":
        return req.key in labels
    if req.operator == "DoesNotExist":
        return req.key not in labels
    return False  # refused at apply (validate.py): never reached for a stored pod


def term_matches(term: Term, pod: Pod) -> bool:
    """AffinityTerm.Matches: the pod is in one of the term's namespaces and its labels are selected."""
    namespace = pod.metadata.namespace
    in_namespace = namespace in term.namespaces or selector_matches(term.namespace_selector,
                                                                    {NAMESPACE_NAME_LABEL: namespace})
    return in_namespace and selector_matches(term.selector, pod.metadata.labels)


def unfit_reason(pod: Pod, node_labels: Mapping[str, str], others: Sequence[Pod]) -> str | None:
    """The filter's first failing reason for `pod` on the node, or None when it fits. `others`: the pods
    the scheduler counts on the node (bound and not terminal), the incoming pod not among them."""
    affinity = pod.spec.affinity
    if affinity is not None:
        wanted = required_terms(pod, affinity.pod_affinity)
        if wanted and not _affinity_met(pod, wanted, node_labels, others):
            return AFFINITY_REASON
        for term in required_terms(pod, affinity.pod_anti_affinity):
            if term.topology_key in node_labels and any(term_matches(term, other) for other in others):
                return ANTI_AFFINITY_REASON
    for other in others:
        if other.spec.affinity is None:
            continue
        for term in required_terms(other, other.spec.affinity.pod_anti_affinity):
            if term.topology_key in node_labels and term_matches(term, pod):
                return EXISTING_ANTI_AFFINITY_REASON
    return None


def _affinity_met(pod: Pod, terms: list[Term], node_labels: Mapping[str, str], others: Sequence[Pod]) -> bool:
    if any(term.topology_key not in node_labels for term in terms):
        return False  # every topology label must exist on the node, even for the first pod
    if any(all(term_matches(term, other) for term in terms) for other in others):
        return True
    # No pod matches them all: the first of a group with affinity to itself may start it.
    return all(term_matches(term, pod) for term in terms)
