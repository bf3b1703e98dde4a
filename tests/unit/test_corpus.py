"""The manifest corpus (tests/corpus/): realistic pods covering every v1 PodSpec and Container field,
each with its one expected outcome, as `pyrunc apply` would print it (the loader, the warnings and the
refusal of a pod bound to another node, in process; tests/integration/test_pod_fields.py sends a few
through the real CLI).

A file may hold the ConfigMaps and Secrets its pod reads, as a real one does; only its Pod documents
count for the field coverage. What the node then does with an accepted pod (admission: node labels,
extended resources, scheduling gates; missing ConfigMaps or Secrets) is not an apply outcome: see
docs/node.md, docs/configs.md and their own tests.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyrunc.errors import SpecError
from pyrunc.spec import load_objects
from pyrunc.spec import model
from pyrunc.spec.notices import pod_warnings
from pyrunc.spec.quantity import Quantity
from pyrunc.spec.schema import json_name
from pyrunc.worker.admission import node_name_problem

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
NODE = "node-1"  # the node's name in OUTCOMES (the integration test puts its own node's name in)

ACCEPTED: list[str] = []
# file -> exact stderr line(s) of `pyrunc apply`: "Warning: ..." lines for an accepted pod, or "error: ..." alone.
OUTCOMES: dict[str, list[str]] = {
    "web-full.yaml": ACCEPTED,
    "host-network-agent.yaml": ACCEPTED,
    "pod-level-resources.yaml": ACCEPTED,
    "topology-spread.yaml": [
        "Warning: spec.topologySpreadConstraints: ignored by pyrunc (one node: there is nothing to spread over)"],
    "priority-class.yaml": [
        'Warning: spec.priorityClassName: "low-priority" is not resolved by pyrunc (no PriorityClass objects): '
        "priority stays 0"],
    "pod-level-resources-too-small.yaml": [
        'error: spec.resources.requests[memory]: Invalid value: "64Mi": must be greater than or equal to aggregate '
        "container requests of 96Mi"],
    "pod-level-resources-storage.yaml": [
        'error: spec.resources.limits[ephemeral-storage]: Unsupported value: "ephemeral-storage": supported values: '
        '"cpu", "hugepages-", "memory"'],
    "pod-level-resources-container-over.yaml": [
        'error: spec.resources.containers[0][cpu].limits: Invalid value: "2": must be less than or equal to pod '
        "limits of 500m"],
    "restart-policy-rules.yaml": [
        "error: spec.containers[0].restartPolicyRules: not supported by pyrunc; spec.containers[0].restartPolicy: "
        'Unsupported value: "Never": not supported by pyrunc (per-container restart policies, the alpha '
        'ContainerRestartRules feature); supported values: "Always" on init containers'],
    "emptydir-mode.yaml": ["error: spec.volumes[0].emptyDir.mode: not supported by pyrunc"],
    "windows.yaml": ['error: spec.os.name: Unsupported value: "windows": pyrunc runs Linux pods only'],
    "runtime-class.yaml": [
        'error: spec.runtimeClassName: Unsupported value: "gvisor": not supported by pyrunc '
        "(one runtime, no RuntimeClass objects)"],
    "overhead.yaml": [
        "error: spec.overhead: Forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass "
        "defined Overhead"],
    "readiness-gates.yaml": [
        "error: spec.readinessGates: not supported by pyrunc: nothing sets custom pod conditions on a pyrunc node"],
    "resource-claims.yaml": [
        "error: spec.resourceClaims: not supported by pyrunc: dynamic resource allocation needs ResourceClaim "
        "objects and drivers; spec.containers[0].resources.claims: not supported by pyrunc: dynamic resource "
        "allocation needs ResourceClaim objects and drivers"],
    "ephemeral-containers.yaml": ["error: spec.ephemeralContainers: Forbidden: cannot be set on create"],
    "host-users-false.yaml": ["error: spec.hostUsers: Unsupported value: false: pyrunc does not support user namespaces"],
    "recursive-read-only.yaml": [
        'error: spec.containers[0].volumeMounts[0].recursiveReadOnly: Unsupported value: "Enabled": not supported '
        'by pyrunc (read-only mounts are not recursive; "IfPossible" is accepted)'],
    "volume-devices.yaml": [
        "error: spec.containers[0].volumeDevices: not supported by pyrunc; "
        "spec.volumes[0].persistentVolumeClaim: not supported by pyrunc"],
    "fqdn-too-long.yaml": [
        "error: spec.setHostnameAsFQDN: failed to construct FQDN from pod hostname and cluster domain, FQDN "
        "a-rather-long-pod-name-for-a-hostname.a-long-subdomain.a-long-namespace.svc.cluster.local is too long "
        "(64 characters is the max, 89 characters requested)"],
    "hostname-override.yaml": ["error: spec.hostnameOverride: not supported by pyrunc"],
    "bind-mount-options.yaml": ["error: spec.containers[0].volumeMounts[0].bindMountOptions: not supported by pyrunc"],
    "file-key-ref.yaml": ["error: spec.containers[0].env[0].valueFrom.fileKeyRef: not supported by pyrunc"],
    "sub-path-expr.yaml": ["error: spec.containers[0].volumeMounts[0].subPathExpr: not supported by pyrunc"],
    "apparmor-localhost.yaml": [
        'error: spec.securityContext.appArmorProfile.type: Unsupported value: "Localhost": pyrunc does not support '
        'AppArmor profiles (only "Unconfined" is accepted)'],
    "selinux.yaml": ["error: spec.containers[0].securityContext.seLinuxOptions: Forbidden: pyrunc does not support SELinux labels"],
    # ConfigMaps and Secrets through env, envFrom and volumes (docs/configs.md).
    "web-configs.yaml": ACCEPTED,
    "projected-token.yaml": [
        "error: spec.volumes[0].projected.sources[0].serviceAccountToken: not supported by pyrunc: no API server "
        "issues tokens"],
    "projected-mtls.yaml": [
        "error: spec.volumes[0].projected.sources[0].podCertificate: not supported by pyrunc: no API server issues "
        "pod certificates; spec.volumes[0].projected.sources[1].clusterTrustBundle: not supported by pyrunc: no API "
        "server publishes trust bundles"],
    "config-item-escape.yaml": [
        "error: spec.volumes[0].configMap.items[0].path: Invalid value: \"../../etc/passwd\": must not contain '..'"],
    "env-from-bad-prefix.yaml": [
        'error: spec.containers[0].envFrom[0].prefix: Invalid value: "APP=": a valid environment variable name must '
        "consist only of printable ASCII characters other than '='"],
    "config-map-key-ref-no-key.yaml": ["error: spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value"],
    # Placement (docs/node.md): accepted by apply, decided by the node's admission.
    "node-placement.yaml": ACCEPTED,
    "scheduling-gates.yaml": ACCEPTED,
    "extended-resources.yaml": ACCEPTED,
    "extended-resource-request-only.yaml": [
        "error: spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"],
    "affinity-bad-operator.yaml": [
        "error: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        '.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator'],
    "pod-anti-affinity-no-topology-key.yaml": [
        "error: spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: "
        "Required value: can not be empty; "
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: "
        'Invalid value: "": name part must be non-empty; '
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: "
        "Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character"],
    "node-name-other.yaml": [
        f'error: pod "pinned": spec.nodeName: Invalid value: "worker-7": this node is "{NODE}"; a pod bound to '
        "another node never runs here (leave nodeName out, or use a nodeSelector)"],
    "tcp-hook.yaml": [
        "error: spec.containers[0].lifecycle.preStop.tcpSocket: not supported: tcpSocket is deprecated as a "
        "lifecycle hook handler; use exec, httpGet or sleep"],
}


def apply_lines(text: str, source: str, node_name: str = NODE) -> list[str]:
    """What `pyrunc apply` prints on stderr before it contacts the node (cli/apply_cmd.py's order:
    every document loaded, then the warnings, then a pod bound to another node refused)."""
    try:
        pods, _ = load_objects(text, source)
    except SpecError as e:
        return [f"error: {e.message}"]
    lines = [f"Warning: {w}" for pod in pods for w in pod_warnings(pod)]
    for pod in pods:
        wrong_node = node_name_problem(pod, node_name)
        if wrong_node:
            return [*lines, f'error: pod "{pod.metadata.name}": {wrong_node}']
    return lines


def test_every_corpus_file_has_an_outcome() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(OUTCOMES)


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_corpus_outcome(name: str) -> None:
    assert apply_lines((CORPUS / name).read_text(), name) == OUTCOMES[name]


# -- coverage: every field the model knows appears in some corpus manifest ----------------------

# Server-set metadata and status, dropped on input; generateName and uid are set by the server too.
SERVER_SET = {"ownerReferences", "finalizers", "resourceVersion", "managedFields", "selfLink", "generation",
              "deletionTimestamp", "deletionGracePeriodSeconds", "status", "uid", "creationTimestamp",
              "generateName"}
# Volume sources refused one by one with the same line; one of them (persistentVolumeClaim) is in the corpus.
REFUSED_VOLUME_SOURCES = set(model._OTHER_VOLUME_SOURCES) - {"persistentVolumeClaim"}


def _known_keys(cls: type, seen: set[type]) -> dict[str, set[str]]:
    """class name -> every key the decoder recognises in it (fields, _RAW, _UNSUPPORTED, _DROPPED)."""
    if cls in seen:
        return {}
    seen.add(cls)
    keys = {json_name(f) for f in dataclasses.fields(cls) if f.name != "ignored"}
    keys |= set(getattr(cls, "_RAW", ())) | set(getattr(cls, "_UNSUPPORTED", {})) | set(getattr(cls, "_DROPPED", ()))
    out = {cls.__name__: keys}
    for tp in typing.get_type_hints(cls).values():  # Quantity is a value, not an object of the API
        for arg in (tp, *typing.get_args(tp), *[a for t in typing.get_args(tp) for a in typing.get_args(t)]):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg) and arg is not Quantity:
                out.update(_known_keys(arg, seen))
    return out


def _keys_in(doc: Any) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in _keys_in(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in _keys_in(v)}
    return set()


def test_corpus_covers_every_known_field() -> None:
    used: set[str] = set()
    for path in CORPUS.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc.get("kind") == "Pod":  # a ConfigMap's data keys must not pass for pod fields
                used |= _keys_in(doc)
    missing = {cls: sorted(keys - used - SERVER_SET - REFUSED_VOLUME_SOURCES)
               for cls, keys in _known_keys(model.Pod, set()).items()}
    assert {cls: keys for cls, keys in missing.items() if keys} == {}


def test_docs_fields_names_every_known_field() -> None:
    """docs/fields.md says what happens to every field the model knows (written by hand, checked here)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "fields.md").read_text()
    named = {k for cls, keys in _known_keys(model.Pod, set()).items() if cls not in ("Pod", "ObjectMeta")
             for k in keys}
    skip = SERVER_SET | REFUSED_VOLUME_SOURCES | {
        # Plain sub-fields named under their parent's line (probe actions, DNS options, selectors...).
        "path", "port", "host", "scheme", "httpHeaders", "value", "service", "seconds", "command", "add", "drop",
        "type", "localhostProfile", "user", "role", "level", "ip", "hostnames", "nameservers", "searches", "options",
        "fieldPath", "apiVersion", "resource", "containerName", "divisor", "items", "mode", "defaultMode",
        "limits", "requests", "medium", "sizeLimit", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
        "successThreshold", "failureThreshold", "exec", "httpGet", "tcpSocket", "grpc", "sleep", "postStart",
        "preStop", "stopSignal", "fieldRef", "resourceFieldRef", "name", "claims"}
    missing = sorted(k for k in named - skip if f"`{k}`" not in doc and f".{k}`" not in doc and f"{k}`" not in doc)
    assert missing == []
