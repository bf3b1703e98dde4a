"""`get -o yaml` shows the pod as a cluster stores it (issue 11 point 7): a table of manifest fragments
and the defaulted v1 form they must come back as. Which defaults come from where:
  API defaulting (SetDefaults_*): dnsPolicy, restartPolicy, terminationGracePeriodSeconds, schedulerName,
    enableServiceLinks, securityContext {}, terminationMessagePath/Policy, imagePullPolicy by tag, probe
    timeouts/periods/thresholds, httpGet path and scheme, ports protocol, fieldRef apiVersion, hostPath
    type "", downwardAPI defaultMode 420, hostPort = containerPort with hostNetwork, pod-level requests;
  admission plugins: serviceAccountName/serviceAccount "default" (ServiceAccount), priority 0 and
    preemptionPolicy (Priority), the not-ready/unreachable tolerations (DefaultTolerationSeconds).
"""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.spec.load import pod_from_dict, pod_to_dict


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def _c(**extra: Any) -> dict[str, Any]:
    return {"name": "c", "image": "busybox:1.36", **extra}


NOT_READY = {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300}
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}

MINIMAL_SPEC = {
    "containers": [{"name": "c", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent", "resources": {},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
    "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
    "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
    "serviceAccount": "default", "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
    "tolerations": [NOT_READY, UNREACHABLE],
}


def test_a_minimal_pod_comes_back_as_a_cluster_stores_it() -> None:
    out = pod_to_dict(pod_from_dict(_pod({"containers": [_c()]})))
    assert out == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                   "spec": MINIMAL_SPEC}


# (what the manifest says, where to look in the v1 form, what must be there)
CASES: list[tuple[str, dict[str, Any], tuple[Any, ...], Any]] = [
    ("no tag pulls Always", {"containers": [_c(image="busybox")]}, ("containers", 0, "imagePullPolicy"), "Always"),
    (":latest pulls Always", {"containers": [_c(image="busybox:latest")]}, ("containers", 0, "imagePullPolicy"),
     "Always"),
    ("a digest pulls IfNotPresent", {"containers": [_c(image="busybox@sha256:" + "a" * 64)]},
     ("containers", 0, "imagePullPolicy"), "IfNotPresent"),
    ("port protocol", {"containers": [_c(ports=[{"containerPort": 80}])]}, ("containers", 0, "ports"),
     [{"containerPort": 80, "protocol": "TCP"}]),
    ("hostNetwork ports are host ports", {"hostNetwork": True, "containers": [_c(ports=[{"containerPort": 80}])]},
     ("containers", 0, "ports"), [{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}]),
    ("probe defaults", {"containers": [_c(livenessProbe={"httpGet": {"port": 80}})]}, ("containers", 0, "livenessProbe"),
     {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
      "successThreshold": 1, "failureThreshold": 3}),
    ("zero probe fields are defaulted", {"containers": [_c(readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 0})]},
     ("containers", 0, "readinessProbe", "periodSeconds"), 10),
    ("fieldRef apiVersion", {"containers": [_c(env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])]},
     ("containers", 0, "env", 0, "valueFrom", "fieldRef"), {"apiVersion": "v1", "fieldPath": "metadata.name"}),
    ("emptyDir", {"containers": [_c()], "volumes": [{"name": "v", "emptyDir": {}}]}, ("volumes", 0), {"name": "v", "emptyDir": {}}),
    ("hostPath type", {"containers": [_c()], "volumes": [{"name": "v", "hostPath": {"path": "/tmp"}}]},
     ("volumes", 0, "hostPath"), {"path": "/tmp", "type": ""}),
    ("downwardAPI defaultMode", {"containers": [_c()], "volumes": [{"name": "v", "downwardAPI": {"items": [
        {"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}, ("volumes", 0, "downwardAPI", "defaultMode"), 420),
    ("serviceAccountName mirrors serviceAccount", {"serviceAccount": "robot", "containers": [_c()]},
     ("serviceAccountName",), "robot"),
    ("serviceAccount mirrors serviceAccountName", {"serviceAccountName": "robot", "containers": [_c()]},
     ("serviceAccount",), "robot"),
    ("a built-in priority class resolves", {"priorityClassName": "system-node-critical", "containers": [_c()]},
     ("priority",), 2000001000),
    ("a covering toleration is not doubled", {"tolerations": [{"operator": "Exists"}], "containers": [_c()]},
     ("tolerations",), [{"operator": "Exists"}]),
    ("a not-ready toleration of one's own is kept", {"tolerations": [{**NOT_READY, "tolerationSeconds": 5}],
                                                     "containers": [_c()]},
     ("tolerations",), [{**NOT_READY, "tolerationSeconds": 5}, UNREACHABLE]),
    ("explicit values stay", {"dnsPolicy": "Default", "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                              "containers": [_c()]}, ("restartPolicy",), "Never"),
    ("pod-level requests from the containers'", {"resources": {"limits": {"memory": "1Gi"}},
                                                 "containers": [_c(resources={"requests": {"memory": "100Mi"}}),
                                                                {**_c(), "name": "d",
                                                                 "resources": {"requests": {"memory": "200Mi"}}}]},
     ("resources",), {"limits": {"memory": "1Gi"}, "requests": {"memory": "300Mi"}}),
    ("pod-level requests from the limit when no container requests", {"resources": {"limits": {"cpu": "2"}},
                                                                      "containers": [_c()]},
     ("resources",), {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}),
    ("container request from its limit", {"containers": [_c(resources={"limits": {"cpu": "1"}})]},
     ("containers", 0, "resources"), {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}),
]


@pytest.mark.parametrize("spec,where,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_defaulted(spec: dict[str, Any], where: tuple[Any, ...], expected: Any) -> None:
    out: Any = pod_to_dict(pod_from_dict(_pod(spec)))["spec"]
    for key in where:
        out = out[key]
    assert out == expected


@pytest.mark.parametrize("spec", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_the_defaulted_form_is_a_fixed_point(spec: dict[str, Any]) -> None:
    """Applying what `get -o yaml` printed gives the same pod (defaults are not applied twice)."""
    once = pod_to_dict(pod_from_dict(_pod(spec)))
    assert pod_to_dict(pod_from_dict(once)) == once
