"""Every validation rule with a bad manifest: the exact path and a fragment of the message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pyrunc.errors import SpecError
from pyrunc.spec import pod_from_dict, pod_to_dict

BASE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web"},
    "spec": {
        "containers": [
            {"name": "app", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    },
}

Mutate = Callable[[dict[str, Any]], None]


def _c0(d: dict[str, Any]) -> dict[str, Any]:
    return d["spec"]["containers"][0]  # type: ignore[no-any-return]


def _set(getter: Callable[[dict[str, Any]], dict[str, Any]], **values: Any) -> Mutate:
    return lambda d: getter(d).update(values)


def _spec(**values: Any) -> Mutate:
    return _set(lambda d: d["spec"], **values)


def _container(**values: Any) -> Mutate:
    return _set(_c0, **values)


def _meta(**values: Any) -> Mutate:
    return _set(lambda d: d["metadata"], **values)


def _init(**values: Any) -> Mutate:
    return _spec(initContainers=[{"name": "init", "image": "busybox", **values}])


def _errors(mutate: Mutate) -> list[str]:
    d = copy.deepcopy(BASE)
    mutate(d)
    with pytest.raises(SpecError) as e:
        pod_from_dict(d, "t.yaml")
    return [str(x) for x in e.value.errors]


def test_base_is_valid() -> None:
    assert pod_from_dict(copy.deepcopy(BASE)).metadata.name == "web"


CASES: list[tuple[str, Mutate, str]] = [
    # unknown and misplaced fields
    ("typo", _container(workdir="/"), 'spec.containers[0].workdir: unknown field "workdir" (did you mean "workingDir"?)'),
    ("misplaced", _meta(restartPolicy="Never"), 'metadata.restartPolicy: unknown field "restartPolicy" (restartPolicy belongs in spec)'),
    ("unknown top", lambda d: d.update(bogus=1), 'bogus: unknown field "bogus"'),
    ("unknown deep", _container(livenessProbe={"exec": {"command": ["true"]}, "foo": 1}), "spec.containers[0].livenessProbe.foo: unknown field"),
    # types
    ("int as string", _container(ports=[{"containerPort": "eighty"}]), 'spec.containers[0].ports[0].containerPort: expected integer, got string "eighty"'),
    ("bool not int", _container(ports=[{"containerPort": True}]), "spec.containers[0].ports[0].containerPort: expected integer, got boolean true"),
    ("int not string", _container(image=5), "spec.containers[0].image: expected string, got integer 5"),
    ("float not int", _spec(terminationGracePeriodSeconds=1.5), "spec.terminationGracePeriodSeconds: expected integer, got number 1.5"),
    ("list not object", lambda d: d.update(spec=[]), "spec: expected object, got array"),
    ("object not list", _container(command={"a": 1}), "spec.containers[0].command: expected array, got object"),
    ("list item", _container(args=["a", 1]), "spec.containers[0].args[1]: expected string, got integer 1"),
    ("label value int", _meta(labels={"app": 1}), "metadata.labels.app: expected string, got integer 1"),
    ("bool not string", _container(env=[{"name": "A", "value": True}]), "spec.containers[0].env[0].value: expected string, got boolean true"),
    # required
    ("pod name", lambda d: d["metadata"].pop("name"), "metadata.name: Required value"),
    ("no metadata", lambda d: d.pop("metadata"), "metadata.name: Required value"),
    ("no containers", _spec(containers=[]), "spec.containers: Required value"),
    ("no spec", lambda d: d.pop("spec"), "spec.containers: Required value"),
    ("container name", lambda d: _c0(d).pop("name"), "spec.containers[0].name: Required value"),
    ("image", lambda d: _c0(d).pop("image"), "spec.containers[0].image: Required value"),
    ("empty image", _container(image=""), "spec.containers[0].image: Required value"),
    ("env name", _container(env=[{"value": "x"}]), "spec.containers[0].env[0].name: Required value"),
    ("apiVersion", lambda d: d.pop("apiVersion"), "apiVersion: Required value"),
    ("apiVersion v2", lambda d: d.update(apiVersion="v2"), 'apiVersion: Unsupported value: "v2"'),
    # names
    ("pod name upper", _meta(name="Web"), 'metadata.name: Invalid value: "Web"'),
    ("pod name long", _meta(name="a" * 254), "metadata.name: Invalid value"),
    ("namespace", _meta(namespace="a.b"), 'metadata.namespace: Invalid value: "a.b"'),
    ("container ../x", _container(name="../x"), 'spec.containers[0].name: Invalid value: "../x"'),
    ("container a/b", _container(name="a/b"), 'spec.containers[0].name: Invalid value: "a/b"'),
    ("container A", _container(name="A"), 'spec.containers[0].name: Invalid value: "A"'),
    ("container dots", _container(name="a.b"), 'spec.containers[0].name: Invalid value: "a.b"'),
    ("container long", _container(name="a" * 64), "spec.containers[0].name: Invalid value"),
    ("volume name", lambda d: d["spec"]["volumes"][0].update(name="../data"), 'spec.volumes[0].name: Invalid value: "../data"'),
    ("port name digits", _container(ports=[{"name": "8080", "containerPort": 1}]), 'spec.containers[0].ports[0].name: Invalid value: "8080": must contain at least one letter'),
    ("port name long", _container(ports=[{"name": "a" * 16, "containerPort": 1}]), "spec.containers[0].ports[0].name: Invalid value"),
    ("port name upper", _container(ports=[{"name": "HTTP", "containerPort": 1}]), 'spec.containers[0].ports[0].name: Invalid value: "HTTP"'),
    ("dup container", _init(name="app"), 'spec.containers[0].name: Duplicate value: "app"'),
    ("dup volume", lambda d: d["spec"]["volumes"].append({"name": "data", "emptyDir": {}}), 'spec.volumes[1].name: Duplicate value: "data"'),
    ("dup mountPath", _container(volumeMounts=[{"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/d"}]),
     'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique'),
    ("missing volume", _container(volumeMounts=[{"name": "nope", "mountPath": "/d"}]), 'spec.containers[0].volumeMounts[0].name: Not found: "nope"'),
    ("relative mountPath", _container(volumeMounts=[{"name": "data", "mountPath": "d"}]), 'spec.containers[0].volumeMounts[0].mountPath: Invalid value: "d": must be an absolute path'),
    ("subPath ..", _container(volumeMounts=[{"name": "data", "mountPath": "/d", "subPath": "a/../.."}]), "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"a/../..\": must not contain '..'"),
    ("procMount Unmasked", _container(securityContext={"procMount": "Unmasked"}),
     'spec.containers[0].securityContext.procMount: Invalid value: "Unmasked": `hostUsers` must be false to use `Unmasked`'),
    ("procMount Unmasked hostUsers true", lambda d: (d["spec"].update(hostUsers=True), _c0(d).update(securityContext={"procMount": "Unmasked"})),
     "spec.containers[0].securityContext.procMount: Invalid value"),
    ("subPath abs", _container(volumeMounts=[{"name": "data", "mountPath": "/d", "subPath": "/etc"}]), "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"/etc\": must be a relative path"),
    ("env =", _container(env=[{"name": "A=B"}]), 'spec.containers[0].env[0].name: Invalid value: "A=B"'),
    ("env not ascii", _container(env=[{"name": "\u00e9t\u00e9"}]),
     'spec.containers[0].env[0].name: Invalid value: "\u00e9t\u00e9": a valid environment variable name must consist '
     "only of printable ASCII characters other than '='"),
    ("env control", _container(env=[{"name": "A\tB"}]), 'spec.containers[0].env[0].name: Invalid value: "A\tB"'),
    ("label key", _meta(labels={"-bad": "x"}), 'metadata.labels.-bad: Invalid value: "-bad"'),
    ("label key prefix", _meta(labels={"Example.com/x": "y"}), "metadata.labels.Example.com/x: Invalid value"),
    ("label value long", _meta(labels={"a": "v" * 64}), "metadata.labels.a: Invalid value"),
    ("annotation key", _meta(annotations={"a b": "x"}), 'metadata.annotations.a b: Invalid value: "a b"'),
    ("hostname", _spec(hostname="Web_0"), 'spec.hostname: Invalid value: "Web_0"'),
    ("subdomain", _spec(subdomain="a.b"), 'spec.subdomain: Invalid value: "a.b"'),
    # enums
    ("restartPolicy", _spec(restartPolicy="Sometimes"), 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    ("dnsPolicy", _spec(dnsPolicy="Google"), 'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"'),
    ("dns None", _spec(dnsPolicy="None"), "spec.dnsConfig: Required value"),
    ("dns None empty", _spec(dnsPolicy="None", dnsConfig={"searches": ["a"]}), "spec.dnsConfig.nameservers: Required value"),
    ("protocol", _container(ports=[{"containerPort": 1, "protocol": "tcp"}]), 'spec.containers[0].ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", "UDP", "SCTP"'),
    ("pull policy", _container(imagePullPolicy="Sometimes"), 'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"'),
    ("message policy", _container(terminationMessagePolicy="Logs"), 'spec.containers[0].terminationMessagePolicy: Unsupported value: "Logs"'),
    ("hostPath type", lambda d: d["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/x", "type": "Dir"}}), 'spec.volumes[1].hostPath.type: Unsupported value: "Dir"'),
    ("medium", lambda d: d["spec"]["volumes"][0].update(emptyDir={"medium": "Disk"}), 'spec.volumes[0].emptyDir.medium: Unsupported value: "Disk": supported values: "Memory", "HugePages"'),
    ("scheme", _container(livenessProbe={"httpGet": {"port": 80, "scheme": "FTP"}}), 'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"'),
    ("container restartPolicy value", _init(restartPolicy="Never"), 'spec.initContainers[0].restartPolicy: Unsupported value: "Never": not supported by pyrunc (per-container restart policies, the alpha ContainerRestartRules feature); supported values: "Always" on init containers'),
    ("restartPolicy on app container", _container(restartPolicy="Always"), "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"),
    # numbers
    ("port 0", _container(ports=[{"containerPort": 0}]), "spec.containers[0].ports[0].containerPort: Required value"),
    ("port high", _container(ports=[{"containerPort": 70000}]), "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("hostPort high", _container(ports=[{"containerPort": 80, "hostPort": 65536}]), "spec.containers[0].ports[0].hostPort: Invalid value: 65536"),
    ("hostNetwork hostPort", lambda d: (d["spec"].update(hostNetwork=True), _c0(d).update(ports=[{"containerPort": 80, "hostPort": 8080}])),
     "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"),
    ("dup port name", _container(ports=[{"name": "p", "containerPort": 1}, {"name": "p", "containerPort": 2}]), 'spec.containers[0].ports[1].name: Duplicate value: "p"'),
    ("grace negative", _spec(terminationGracePeriodSeconds=-1), "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"),
    ("deadline", _spec(activeDeadlineSeconds=0), "spec.activeDeadlineSeconds: Invalid value: 0: must be greater than or equal to 1"),
    # resources
    ("bad quantity", _container(resources={"limits": {"memory": "12Q"}}), 'spec.containers[0].resources.limits.memory: invalid quantity "12Q"'),
    ("negative", _container(resources={"requests": {"cpu": "-1"}}), 'spec.containers[0].resources.requests.cpu: Invalid value: "-1": must be greater than or equal to 0'),
    ("request > limit", _container(resources={"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}),
     'spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m'),
    # extended resources and hugepages cannot be overcommitted; extended ones are whole numbers
    ("extended request only", _container(resources={"requests": {"example.com/gpu": "1"}}),
     "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"),
    ("extended request below limit", _container(resources={"requests": {"example.com/gpu": "1"},
                                                           "limits": {"example.com/gpu": "2"}}),
     'spec.containers[0].resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2'),
    ("hugepages request below limit", _container(resources={"requests": {"hugepages-2Mi": "2Mi", "memory": "8Mi"},
                                                            "limits": {"hugepages-2Mi": "4Mi", "memory": "8Mi"}}),
     'spec.containers[0].resources.requests: Invalid value: "2Mi": must be equal to hugepages-2Mi limit of 4Mi'),
    ("extended fraction", _container(resources={"limits": {"example.com/gpu": "1500m"}}),
     'spec.containers[0].resources.limits[example.com/gpu]: Invalid value: "1500m": must be an integer'),
    ("resource name", _container(resources={"limits": {"gpu": "1"}}), 'spec.containers[0].resources.limits.gpu: Invalid value: "gpu": must be a standard resource type or fully qualified'),
    ("sizeLimit", lambda d: d["spec"]["volumes"][0].update(emptyDir={"sizeLimit": "1MB"}), 'spec.volumes[0].emptyDir.sizeLimit: invalid quantity "1MB"'),
    # volumes
    ("no volume type", lambda d: d["spec"]["volumes"][0].pop("emptyDir"), "spec.volumes[0]: must specify a volume type"),
    ("two volume types", lambda d: d["spec"]["volumes"][0].update(hostPath={"path": "/x"}), "spec.volumes[0]: may not specify more than 1 volume type"),
    ("configMap name", lambda d: d["spec"]["volumes"].append({"name": "cm", "configMap": {}}), "spec.volumes[1].configMap.name: Required value"),
    ("secret name", lambda d: d["spec"]["volumes"].append({"name": "s", "secret": {"items": []}}), "spec.volumes[1].secret.secretName: Required value"),
    ("item key", lambda d: d["spec"]["volumes"].append({"name": "cm", "configMap": {"name": "x", "items": [{"key": "a/b", "path": "p"}]}}),
     'spec.volumes[1].configMap.items[0].key: Invalid value: "a/b": a valid config key'),
    ("item path absolute", lambda d: d["spec"]["volumes"].append({"name": "cm", "configMap": {"name": "x", "items": [{"key": "k", "path": "/etc/p"}]}}),
     'spec.volumes[1].configMap.items[0].path: Invalid value: "/etc/p": must be a relative path'),
    ("item path dotdot", lambda d: d["spec"]["volumes"].append({"name": "s", "secret": {"secretName": "x", "items": [{"key": "k", "path": "a/../../b"}]}}),
     "spec.volumes[1].secret.items[0].path: Invalid value: \"a/../../b\": must not contain '..'"),
    ("item path ..data", lambda d: d["spec"]["volumes"].append({"name": "s", "secret": {"secretName": "x", "items": [{"key": "k", "path": "..data"}]}}),
     "spec.volumes[1].secret.items[0].path: Invalid value: \"..data\": must not start with '..'"),
    ("item path missing", lambda d: d["spec"]["volumes"].append({"name": "cm", "configMap": {"name": "x", "items": [{"key": "k"}]}}),
     "spec.volumes[1].configMap.items[0].path: Required value"),
    ("item mode", lambda d: d["spec"]["volumes"].append({"name": "cm", "configMap": {"name": "x", "items": [{"key": "k", "path": "p", "mode": 512}]}}),
     "spec.volumes[1].configMap.items[0].mode: Invalid value: 512: must be a number between 0 and 0777"),
    ("defaultMode", lambda d: d["spec"]["volumes"].append({"name": "s", "secret": {"secretName": "x", "defaultMode": -1}}),
     "spec.volumes[1].secret.defaultMode: Invalid value: -1"),
    ("projected token", lambda d: d["spec"]["volumes"].append({"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}),
     "spec.volumes[1].projected.sources[0].serviceAccountToken: not supported by pyrunc: no API server issues tokens"),
    ("projected bundle", lambda d: d["spec"]["volumes"].append({"name": "p", "projected": {"sources": [{"clusterTrustBundle": {"path": "t"}}]}}),
     "spec.volumes[1].projected.sources[0].clusterTrustBundle: not supported by pyrunc"),
    ("projected two", lambda d: d["spec"]["volumes"].append({"name": "p", "projected": {"sources": [{"configMap": {"name": "a"}, "secret": {"name": "b"}}]}}),
     "spec.volumes[1].projected.sources[0]: may not specify more than 1 volume type per source"),
    ("projected duplicate", lambda d: d["spec"]["volumes"].append({"name": "p", "projected": {"sources": [
        {"configMap": {"name": "a", "items": [{"key": "k", "path": "same"}]}},
        {"downwardAPI": {"items": [{"path": "same", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}}),
     'spec.volumes[1].projected.sources[1].downwardAPI.items[0].path: Invalid value: "same": conflicting duplicate paths'),
    ("pvc volume", lambda d: d["spec"]["volumes"].append({"name": "pv", "persistentVolumeClaim": {"claimName": "x"}}), "spec.volumes[1].persistentVolumeClaim: not supported by pyrunc"),
    ("hostPath relative", lambda d: d["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "x"}}), 'spec.volumes[1].hostPath.path: Invalid value: "x": must be an absolute path'),
    ("downward path", lambda d: d["spec"]["volumes"].append({"name": "i", "downwardAPI": {"items": [{"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}]}}),
     "spec.volumes[1].downwardAPI.items[0].path: Invalid value: \"../x\": must not contain '..'"),
    ("downward env-only field", lambda d: d["spec"]["volumes"].append({"name": "i", "downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "status.podIP"}}]}}),
     'spec.volumes[1].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: "status.podIP"'),
    ("downward resource needs container", lambda d: d["spec"]["volumes"].append({"name": "i", "downwardAPI": {"items": [{"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}}]}}),
     "spec.volumes[1].downwardAPI.items[0].resourceFieldRef.containerName: Required value"),
    ("downward mode", lambda d: d["spec"]["volumes"].append({"name": "i", "downwardAPI": {"defaultMode": 4096}}), "spec.volumes[1].downwardAPI.defaultMode: Invalid value: 4096"),
    # env
    ("configMapKeyRef key", _container(env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c"}}}]),
     "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value"),
    ("secretKeyRef name", _container(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"key": "k"}}}]),
     "spec.containers[0].env[0].valueFrom.secretKeyRef.name: Required value"),
    ("secretKeyRef bad key", _container(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a b"}}}]),
     'spec.containers[0].env[0].valueFrom.secretKeyRef.key: Invalid value: "a b"'),
    ("two valueFrom", _container(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}, "fieldRef": {"fieldPath": "metadata.name"}}}]),
     "spec.containers[0].env[0].valueFrom: may not specify more than 1 valueFrom source type"),
    ("fileKeyRef", _container(env=[{"name": "A", "valueFrom": {"fileKeyRef": {"path": "x"}}}]),
     "spec.containers[0].env[0].valueFrom.fileKeyRef: not supported by pyrunc"),
    ("envFrom empty", _container(envFrom=[{"prefix": "X_"}]), "spec.containers[0].envFrom[0]: must specify one of: `configMapRef` or `secretRef`"),
    ("envFrom two", _container(envFrom=[{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]),
     "spec.containers[0].envFrom[0]: may not have more than one field specified at a time"),
    ("envFrom prefix", _container(envFrom=[{"prefix": "A=", "configMapRef": {"name": "a"}}]),
     'spec.containers[0].envFrom[0].prefix: Invalid value: "A="'),
    ("envFrom name", _container(envFrom=[{"secretRef": {"name": "Bad_Name"}}]), "spec.containers[0].envFrom[0].secretRef.name: Invalid value"),
    ("value and valueFrom", _container(env=[{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]),
     "spec.containers[0].env[0].valueFrom: may not be specified when `value` is not empty"),
    ("fieldPath", _container(env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.hostname"}}}]),
     'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.hostname"'),
    ("resourceFieldRef resource", _container(env=[{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]),
     'spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: Unsupported value: "limits.gpu"'),
    ("resourceFieldRef container", _container(env=[{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "containerName": "x"}}}]),
     'spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName: Not found: "x"'),
    # probes
    ("probe no handler", _container(livenessProbe={"periodSeconds": 5}), "spec.containers[0].livenessProbe: must specify a handler type"),
    ("probe two handlers", _container(readinessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}), "spec.containers[0].readinessProbe: may not specify more than 1 handler type"),
    ("probe period", _container(livenessProbe={"exec": {}, "periodSeconds": -1}), "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 1"),
    ("probe delay", _container(livenessProbe={"exec": {}, "initialDelaySeconds": -1}), "spec.containers[0].livenessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0"),
    ("liveness success", _container(livenessProbe={"exec": {}, "successThreshold": 2}), "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"),
    ("startup success", _container(startupProbe={"exec": {}, "successThreshold": 3}), "spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1"),
    ("probe grace", _container(livenessProbe={"exec": {}, "terminationGracePeriodSeconds": 0}), "spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0"),
    ("readiness grace", _container(readinessProbe={"exec": {}, "terminationGracePeriodSeconds": 5}), "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: must not be set for readinessProbes"),
    ("named port", _container(livenessProbe={"httpGet": {"port": "web"}}), 'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "web": must be the name of a port of this container'),
    ("tcp named port", _container(readinessProbe={"tcpSocket": {"port": "db"}}), 'spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: "db"'),
    ("probe port range", _container(livenessProbe={"tcpSocket": {"port": 0}}), "spec.containers[0].livenessProbe.tcpSocket.port: Required value"),
    ("grpc port str", _container(livenessProbe={"grpc": {"port": "http"}}), 'spec.containers[0].livenessProbe.grpc.port: expected integer, got string "http"'),
    # lifecycle and init containers
    ("hook tcpSocket", _container(lifecycle={"preStop": {"tcpSocket": {"port": 80}}}), "spec.containers[0].lifecycle.preStop.tcpSocket: not supported: tcpSocket is deprecated"),
    ("hook no handler", _container(lifecycle={"postStart": {}}), "spec.containers[0].lifecycle.postStart: must specify a handler type"),
    ("hook two handlers", _container(lifecycle={"postStart": {"exec": {}, "sleep": {"seconds": 1}}}), "spec.containers[0].lifecycle.postStart: may not specify more than 1 handler type"),
    ("hook named port", _container(lifecycle={"preStop": {"httpGet": {"port": "admin"}}}), 'spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: "admin"'),
    ("stop signal", _container(lifecycle={"stopSignal": "SIGFOO"}), 'spec.containers[0].lifecycle.stopSignal: Unsupported value: "SIGFOO"'),
    ("init liveness", _init(livenessProbe={"exec": {}}), "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"),
    ("init readiness", _init(readinessProbe={"exec": {}}), "spec.initContainers[0].readinessProbe: Forbidden"),
    ("init startup", _init(startupProbe={"exec": {}}), "spec.initContainers[0].startupProbe: Forbidden"),
    ("init lifecycle", _init(lifecycle={"preStop": {"exec": {}}}), "spec.initContainers[0].lifecycle: Forbidden"),
    ("init mount", _init(volumeMounts=[{"name": "gone", "mountPath": "/x"}]), 'spec.initContainers[0].volumeMounts[0].name: Not found: "gone"'),
    ("other kind", lambda d: d.update(kind="Deployment"), 'kind: Unsupported value: "Deployment"'),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(mutate: Mutate, expected: str) -> None:
    errors = _errors(mutate)
    assert any(e.startswith(expected) for e in errors), errors


def test_sidecar_may_have_probes_and_hooks() -> None:
    d = copy.deepcopy(BASE)
    d["spec"]["initContainers"] = [{"name": "side", "image": "busybox", "restartPolicy": "Always",
                                    "startupProbe": {"exec": {"command": ["true"]}},
                                    "readinessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2},
                                    "lifecycle": {"preStop": {"sleep": {"seconds": 1}}}}]
    assert pod_from_dict(d).spec.init_containers[0].restart_policy == "Always"


def test_not_supported_source_reports_once() -> None:
    errors = _errors(lambda d: d["spec"]["volumes"].append({"name": "pv", "persistentVolumeClaim": {"claimName": "x"}}))
    assert errors == ["spec.volumes[1].persistentVolumeClaim: not supported by pyrunc"]


def test_config_sources_accepted() -> None:
    d = copy.deepcopy(BASE)
    d["spec"]["volumes"] += [
        {"name": "cm", "configMap": {"name": "app", "items": [{"key": "k", "path": "conf/k.txt", "mode": 0o600}],
                                     "defaultMode": 0o640, "optional": True}},
        {"name": "s", "secret": {"secretName": "creds"}},
        {"name": "p", "projected": {"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "app"}}, {"secret": {"name": "creds", "items": [{"key": "u", "path": "user"}]}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}}]
    _c0(d).update(envFrom=[{"prefix": "CFG_", "configMapRef": {"name": "app"}}, {"secretRef": {"name": "creds", "optional": True}}],
                  env=[{"name": "U", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "u", "optional": False}}}])
    pod = pod_from_dict(d)
    c = pod.spec.containers[0]
    assert c.env_from[0].prefix == "CFG_" and c.env_from[0].config_map_ref is not None
    assert c.env[0].value_from is not None and c.env[0].value_from.secret_key_ref is not None
    cm = pod.spec.volumes[-3].config_map
    assert cm is not None and cm.items[0].mode == 0o600 and cm.default_mode == 0o640
    projected = pod.spec.volumes[-1].projected
    assert projected is not None and len(projected.sources) == 3
    assert pod_to_dict(pod)["spec"]["volumes"][-3]["configMap"]["items"][0] == {"key": "k", "path": "conf/k.txt", "mode": 0o600}


def test_one_bad_list_item_keeps_later_indexes() -> None:
    errors = _errors(lambda d: d["spec"]["containers"].insert(0, "oops"))
    assert errors == ["spec.containers[0]: expected object, got string \"oops\""]


def test_errors_are_one_line() -> None:
    for _, mutate, _ in CASES:
        assert all("\n" not in e for e in _errors(mutate))


def test_own_user_namespace_is_refused_not_ignored() -> None:
    # pyrunc has no user namespaces: hostUsers: false (which is what makes procMount: Unmasked safe)
    # is refused instead of running the pod in the host's user namespace.
    d = copy.deepcopy(BASE)
    d["spec"]["hostUsers"] = False
    _c0(d)["securityContext"] = {"procMount": "Unmasked"}
    assert _errors(lambda x: x.update(d)) == [
        "spec.hostUsers: Unsupported value: false: pyrunc does not support user namespaces"]


# A name check that matched only a prefix would pass "web" and let the rest of the value through:
# every name that becomes a path component (and every path inside a volume) is checked whole.
# "web\n" matters too: Python's `$` also matches before a trailing newline.
_PREFIX_TRAPS = ["web/../x", "web/x", "web/..", "web/", "web\n", "web x", "web_x"]
_NAMED_PATHS: list[tuple[str, Callable[[str], Mutate], str]] = [
    ("pod name", lambda v: _meta(name=v), "metadata.name"),
    ("namespace", lambda v: _meta(namespace=v), "metadata.namespace"),
    ("container", lambda v: _container(name=v), "spec.containers[0].name"),
    ("init container", lambda v: _init(name=v), "spec.initContainers[0].name"),
    ("volume", lambda v: lambda d: d["spec"]["volumes"][0].update(name=v), "spec.volumes[0].name"),
    ("hostname", lambda v: _spec(hostname=v), "spec.hostname"),
]


@pytest.mark.parametrize("value", _PREFIX_TRAPS)
@pytest.mark.parametrize(("make", "field"), [c[1:] for c in _NAMED_PATHS], ids=[c[0] for c in _NAMED_PATHS])
def test_a_valid_prefix_does_not_make_a_valid_name(make: Callable[[str], Mutate], field: str, value: str) -> None:
    errors = _errors(make(value))
    assert any(e.startswith(f"{field}: Invalid value: ") for e in errors), errors


@pytest.mark.parametrize("value", ["web/../x", "web/..", "../web", "..", "a/../../b"])
def test_paths_inside_a_volume_never_climb_out(value: str) -> None:
    sub_path = _container(volumeMounts=[{"name": "data", "mountPath": "/d", "subPath": value}])
    assert f"spec.containers[0].volumeMounts[0].subPath: Invalid value: \"{value}\": must not contain '..'" in _errors(sub_path)
    item = {"path": value, "fieldRef": {"fieldPath": "metadata.name"}}
    downward = _spec(volumes=[{"name": "data", "downwardAPI": {"items": [item]}}])
    assert f"spec.volumes[0].downwardAPI.items[0].path: Invalid value: \"{value}\": must not contain '..'" in _errors(downward)


@pytest.mark.parametrize("value", ["web", "web/x", "web/..x", "web/x..", "...", "a/./b"])
def test_dots_that_are_not_a_parent_step_are_fine_in_a_sub_path(value: str) -> None:
    d = copy.deepcopy(BASE)
    _c0(d)["volumeMounts"] = [{"name": "data", "mountPath": "/d", "subPath": value}]
    assert pod_from_dict(d).spec.containers[0].volume_mounts[0].sub_path == value
