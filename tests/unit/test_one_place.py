"""Rules that used to exist twice now exist once: the two callers of each must agree.

QoS (cgroups/plan.py, which describe used to re-derive on the v1 dict), the downward API (env, volumes and
describe used three copies), the sidecar rule (typed model and v1 dicts), name patterns (store/layout.py and
spec/names.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pyrunc.cgroups.plan import qos_class
from pyrunc.printers import describe_pod
from pyrunc.runtime.config import SandboxFacts, field_ref_value
from pyrunc.sandbox.volumes import prepare_volumes
from pyrunc.spec import is_sidecar, load_manifests, pod_from_dict, pod_to_dict
from pyrunc.spec.names import dns1123_label, dns1123_subdomain
from pyrunc.spec.sidecar import sidecar_names
from pyrunc.status import pod_phase
from pyrunc.store.layout import valid_label, valid_name
from pyrunc.runtime.service import resources_of  # what the cgroup plan is given

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _pod(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": f"c{i}", "image": "busybox", "resources": r}
                                    for i, r in enumerate(resources)]}}


def _qos_line(pod: dict[str, Any]) -> str:
    line = next(x for x in describe_pod(pod, [], NOW).splitlines() if x.startswith("QoS Class:"))
    return line.split(":", 1)[1].strip()


@pytest.mark.parametrize(("resources", "qos"), [
    # Limits only: the API server defaults requests to them, so GetPodQOS says Guaranteed. describe's own copy
    # compared the undefaulted dict and said Burstable.
    ([{"limits": {"cpu": "500m", "memory": "64Mi"}}], "Guaranteed"),
    ([{"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}], "Burstable"),
    ([{"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1024Mi"}}], "Guaranteed"),
    ([{"requests": {"cpu": "0"}, "limits": {"memory": "0"}}], "BestEffort"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
    ([{"limits": {"cpu": "1"}}], "Burstable"),
])
def test_describe_qos_is_the_cgroup_plans(resources: list[dict[str, Any]], qos: str) -> None:
    raw = _pod(resources)
    typed = pod_from_dict(raw)
    assert qos_class([resources_of(c) for c in typed.spec.containers]) == qos
    assert _qos_line(raw) == qos


MANIFEST = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: 1234-abcd
  labels: {app: web, tier: front}
  annotations: {note: 'say "hi" \\ there'}
spec:
  containers:
  - name: app
    image: busybox
    resources: {limits: {cpu: 1500m, memory: 64Mi}}
    env:
    - {name: A, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: B, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['note']"}}}
    - {name: C, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: D, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
    - {name: E, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: a, fieldRef: {fieldPath: "metadata.labels['app']"}}
      - {path: b, fieldRef: {fieldPath: "metadata.annotations['note']"}}
      - {path: c, fieldRef: {fieldPath: metadata.uid}}
      - {path: d, resourceFieldRef: {containerName: app, resource: limits.cpu}}
      - {path: e, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
"""


class _Layout:
    def __init__(self, root: Path) -> None:
        self.root = root

    def volume_dir(self, volume: str) -> str:
        return str(self.root / volume)


def test_env_and_volume_give_the_same_downward_values(tmp_path: Path) -> None:
    (pod,) = load_manifests(MANIFEST, "test")
    container = pod.spec.containers[0]
    facts = SandboxFacts(namespaces={}, shm="", pod_ip="10.66.0.2", host_ip="192.0.2.1", node_name="n")
    env = {e.name: field_ref_value(pod, container, e.value_from, facts, 4, 1 << 30) for e in container.env}
    paths = prepare_volumes(pod, _Layout(tmp_path), 1 << 30, 4)
    # The atomic writer's layout: the user paths are links into ..data (the ..* entries are its own).
    files = {p.name: p.read_text(encoding="utf-8") for p in Path(paths["info"]).iterdir() if not p.name.startswith("..")}
    # The volume used to write "" for one key of a map and nothing for resourceFieldRef.
    assert env == {"A": "web", "B": 'say "hi" \\ there', "C": "1234-abcd", "D": "2", "E": "64"}
    assert {k: files[k.lower()] for k in env} == env
    # pkg/fieldpath FormatMap: key=%q lines, sorted.
    assert files["labels"] == 'app="web"\ntier="front"'
    assert files["annotations"] == 'note="say \\"hi\\" \\\\ there"'


def test_describe_shows_the_runtime_field_values() -> None:
    (pod,) = load_manifests(MANIFEST, "test")
    raw = pod_to_dict(pod)
    lines = {" ".join(x.split()) for x in describe_pod(raw, [], NOW).splitlines()}
    assert "A: web (v1:metadata.labels['app'])" in lines
    assert "C: 1234-abcd (v1:metadata.uid)" in lines


def test_sidecar_rule_agrees_on_typed_and_dict() -> None:
    raw = _pod([{}])
    raw["spec"]["restartPolicy"] = "Never"
    raw["spec"]["initContainers"] = [
        {"name": "side", "image": "busybox", "restartPolicy": "Always"},
        {"name": "init", "image": "busybox"},
    ]
    typed = pod_from_dict(raw)
    assert {c.name for c in typed.spec.init_containers if is_sidecar(c)} == sidecar_names(raw["spec"]) == {"side"}
    # A running sidecar does not hold the pod in Pending; an unfinished ordinary init container does.
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    waiting = {"waiting": {"reason": "PodInitializing"}}
    inits = [{"name": "side", "state": running}, {"name": "init", "state": {"terminated": {"exitCode": 0}}}]
    apps = [{"name": "c0", "state": running}]
    assert pod_phase(raw["spec"], inits, apps, True) == "Running"
    inits[1]["state"] = waiting
    assert pod_phase(raw["spec"], inits, apps, True) == "Pending"


@pytest.mark.parametrize("name", [
    "web", "a.b", "a-b.c-d", "x" * 63, "x" * 64, "a" * 253, "a" * 254, "", "-a", "a-", "A", "a_b", "web/../x",
    "../x", "a..b", ".a", "a.", "a\n", "é",
])
def test_layout_names_are_the_specs(name: str) -> None:
    assert valid_name(name) == (dns1123_subdomain(name) is None)
    assert valid_label(name) == (dns1123_label(name) is None)
    if "/" in name or name.startswith(".") or name == "":
        assert not valid_name(name)
