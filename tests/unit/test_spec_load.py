from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from pyrunc.errors import SpecError
from pyrunc.spec import (
    Container, ObjectMeta, Pod, PodSpec, is_sidecar, load_manifests, parse_quantity, pod_from_dict, pod_to_dict,
)

# Examples from the Kubernetes docs (concepts/workloads/pods, tasks/access-application-cluster).
SIMPLE_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    ports:
    - containerPort: 80
"""

TWO_CONTAINER_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: two-containers
spec:
  restartPolicy: Never
  volumes:
  - name: shared-data
    emptyDir: {}
  containers:
  - name: nginx-container
    image: nginx
    volumeMounts:
    - name: shared-data
      mountPath: /usr/share/nginx/html
  - name: debian-container
    image: debian
    volumeMounts:
    - name: shared-data
      mountPath: /pod-data
    command: ["/bin/sh"]
    args: ["-c", "echo Hello from the debian container > /pod-data/index.html"]
"""

HELLO_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  containers:
  - name: hello
    image: busybox:1.28
    command: ['sh', '-c', 'echo "Hello, Kubernetes!" && sleep 3600']
"""

FULL_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: full.example
  namespace: team-a
  uid: 0b3c
  labels: {app: web, example.com/tier: front}
  annotations: {note: "x y"}
  creationTimestamp: 2024-05-01T10:00:00Z
  resourceVersion: "42"
  ownerReferences: [{kind: ReplicaSet, name: rs}]
spec:
  nodeSelector: {disk: ssd}
  tolerations: [{key: k, operator: Exists}]
  hostname: web-0
  subdomain: svc
  terminationGracePeriodSeconds: 0
  activeDeadlineSeconds: 600
  dnsPolicy: None
  dnsConfig:
    nameservers: [1.1.1.1]
    searches: [example.com]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  hostAliases: [{ip: 10.0.0.1, hostnames: [a, b]}]
  shareProcessNamespace: true
  enableServiceLinks: false
  securityContext:
    runAsUser: 1000
    fsGroup: 2000
    supplementalGroups: [3000]
    sysctls: [{name: net.ipv4.ip_forward, value: "1"}]
    seccompProfile: {type: RuntimeDefault}
  volumes:
  - {name: cache, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
  - {name: host, hostPath: {path: /var/log, type: Directory}}
  - name: info
    downwardAPI:
      defaultMode: 420
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: cpu, resourceFieldRef: {containerName: web, resource: limits.cpu, divisor: 1m}}
  initContainers:
  - name: proxy
    image: envoy@sha256:abcd
    restartPolicy: Always
    startupProbe: {tcpSocket: {port: 9901}}
  - name: setup
    image: busybox
    command: [sh, -c, "true"]
  containers:
  - name: web
    image: registry.example.com:5000/web:2.0
    workingDir: /srv
    ports:
    - {name: http, containerPort: 8080, hostPort: 18080, protocol: TCP}
    - {containerPort: 53, protocol: UDP}
    env:
    - {name: MODE, value: prod}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: MEM
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    envFrom: [{prefix: X_, configMapRef: {name: cfg, optional: true}}]
    resources:
      limits: {cpu: 500m, memory: 128Mi, example.com/gpu: 1}
      requests: {cpu: 250m}
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: host, mountPath: /host, readOnly: true, subPath: nginx, mountPropagation: HostToContainer}
    - {name: info, mountPath: /etc/podinfo}
    lifecycle:
      postStart: {exec: {command: [touch, /tmp/started]}}
      preStop: {sleep: {seconds: 5}}
      stopSignal: SIGQUIT
    livenessProbe:
      httpGet: {port: http, path: /healthz, httpHeaders: [{name: X-Probe, value: "1"}]}
      initialDelaySeconds: 3
      terminationGracePeriodSeconds: 5
    readinessProbe: {grpc: {port: 9000}, periodSeconds: 2, successThreshold: 2}
    securityContext:
      privileged: false
      capabilities: {add: [NET_ADMIN], drop: [ALL]}
      readOnlyRootFilesystem: true
    terminationMessagePolicy: FallbackToLogsOnError
    stdin: true
    tty: true
status: {phase: Running}
"""


def _one(text: str) -> Pod:
    pods = load_manifests(text, "test.yaml")
    assert len(pods) == 1
    return pods[0]


@pytest.mark.parametrize("text", [SIMPLE_POD, TWO_CONTAINER_POD, HELLO_POD, FULL_POD])
def test_examples_load_and_round_trip(text: str) -> None:
    pod = _one(text)
    again = pod_from_dict(pod_to_dict(pod))
    assert again == pod
    # and through JSON text, as the store would write it
    assert load_manifests(json.dumps(pod_to_dict(pod))) == [pod]


def test_two_container_pod_model() -> None:
    pod = _one(TWO_CONTAINER_POD)
    assert pod.metadata == ObjectMeta(name="two-containers")
    assert pod.spec.restart_policy == "Never"
    assert [c.name for c in pod.spec.containers] == ["nginx-container", "debian-container"]
    debian = pod.spec.containers[1]
    assert debian.command == ("/bin/sh",)
    assert debian.args[0] == "-c"
    assert debian.volume_mounts[0].mount_path == "/pod-data"
    assert pod.spec.volumes[0].empty_dir is not None and pod.spec.volumes[0].empty_dir.medium == ""


def test_defaults_printed_like_the_api_server() -> None:
    d = pod_to_dict(_one(SIMPLE_POD))
    assert d["apiVersion"] == "v1" and d["kind"] == "Pod"
    assert d["metadata"] == {"name": "nginx", "namespace": "default"}
    spec = d["spec"]
    for key, value in {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                       "schedulerName": "default-scheduler", "enableServiceLinks": True, "securityContext": {}}.items():
        assert spec[key] == value, key
    c = spec["containers"][0]
    assert c == {
        "name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    assert "hostNetwork" not in spec and "initContainers" not in spec


def test_probe_and_http_defaults() -> None:
    pod = _one(FULL_POD)
    web = pod.spec.containers[0]
    live = pod_to_dict(pod)["spec"]["containers"][0]["livenessProbe"]
    assert live["timeoutSeconds"] == 1 and live["periodSeconds"] == 10
    assert live["successThreshold"] == 1 and live["failureThreshold"] == 3
    assert live["httpGet"]["scheme"] == "HTTP" and live["httpGet"]["port"] == "http"
    assert web.readiness_probe is not None and web.readiness_probe.period_seconds == 2
    startup = pod.spec.init_containers[0].startup_probe
    assert startup is not None and startup.tcp_socket is not None and startup.tcp_socket.port == 9901
    assert pod_to_dict(pod)["spec"]["initContainers"][0]["startupProbe"]["tcpSocket"] == {"port": 9901}
    hello = pod_to_dict(_one(HELLO_POD.replace("    command:", "    readinessProbe: {httpGet: {port: 80}}\n    command:")))
    assert hello["spec"]["containers"][0]["readinessProbe"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}


def test_zero_probe_fields_take_the_default() -> None:
    pod = _one(SIMPLE_POD + '    livenessProbe: {exec: {command: ["true"]}, timeoutSeconds: 0, periodSeconds: 0}\n')
    probe = pod.spec.containers[0].liveness_probe
    assert probe is not None and probe.timeout_seconds == 1 and probe.period_seconds == 10


def test_full_pod_fields() -> None:
    pod = _one(FULL_POD)
    spec = pod.spec
    assert pod.metadata.creation_timestamp == "2024-05-01T10:00:00Z"
    assert pod.metadata.labels == {"app": "web", "example.com/tier": "front"}
    assert spec.termination_grace_period_seconds == 0
    assert spec.enable_service_links is False
    assert pod_to_dict(pod)["spec"]["enableServiceLinks"] is False
    # The toleration of key "k" (any effect) covers neither node-problem taint: DefaultTolerationSeconds adds both.
    assert spec.ignored == {"tolerations": [
        {"key": "k", "operator": "Exists"},
        {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
        {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]}
    assert spec.node_selector == {"disk": "ssd"}
    assert pod_to_dict(pod)["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert spec.security_context.ignored == {}
    assert spec.security_context.seccomp_profile is not None
    assert spec.security_context.seccomp_profile.type == "RuntimeDefault"
    assert spec.dns_config is not None and spec.dns_config.options[1].value is None
    assert [is_sidecar(c) for c in spec.init_containers] == [True, False]
    web = spec.containers[0]
    assert web.ports[1].protocol == "UDP"
    assert web.security_context is not None and web.security_context.privileged is False
    assert pod_to_dict(pod)["spec"]["containers"][0]["securityContext"]["privileged"] is False
    assert web.lifecycle is not None and web.lifecycle.pre_stop is not None
    assert web.lifecycle.pre_stop.sleep is not None and web.lifecycle.pre_stop.sleep.seconds == 5
    assert spec.volumes[0].empty_dir is not None and spec.volumes[0].empty_dir.size_limit == parse_quantity("64Mi")
    assert "status" not in pod_to_dict(pod) and "resourceVersion" not in pod_to_dict(pod)["metadata"]


def test_requests_default_to_limits() -> None:
    web = _one(FULL_POD).spec.containers[0]
    assert web.resources.requests == {
        "cpu": parse_quantity("250m"), "memory": parse_quantity("128Mi"), "example.com/gpu": parse_quantity(1)}
    assert str(web.resources.requests["memory"]) == "128Mi"
    printed = pod_to_dict(_one(FULL_POD))["spec"]["containers"][0]["resources"]
    assert printed["requests"] == {"cpu": "250m", "memory": "128Mi", "example.com/gpu": "1"}


@pytest.mark.parametrize(("image", "policy"), [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("localhost:5000/busybox", "Always"), ("localhost:5000/busybox:1", "IfNotPresent"),
    ("busybox@sha256:abc", "IfNotPresent"), ("busybox:latest@sha256:abc", "IfNotPresent"),
])
def test_image_pull_policy_default(image: str, policy: str) -> None:
    assert Container(name="c", image=image).image_pull_policy == policy
    pod = _one(SIMPLE_POD.replace("nginx:1.14.2", image))
    assert pod.spec.containers[0].image_pull_policy == policy


def test_explicit_image_pull_policy_kept() -> None:
    pod = _one(SIMPLE_POD.replace("    ports:", "    imagePullPolicy: Never\n    ports:"))
    assert pod.spec.containers[0].image_pull_policy == "Never"


def test_model_is_frozen() -> None:
    pod = _one(SIMPLE_POD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pod.spec.restart_policy = "Never"  # type: ignore[misc]
    assert isinstance(pod.spec.containers, tuple)
    assert dataclasses.replace(pod.metadata, uid="u1").uid == "u1"


def test_direct_construction_gets_defaults() -> None:
    pod = Pod(metadata=ObjectMeta(name="p"), spec=PodSpec(containers=(Container(name="c", image="busybox"),)))
    assert pod_from_dict(pod_to_dict(pod)) == pod


def test_multiple_documents_and_lists() -> None:
    text = SIMPLE_POD + "---\n" + HELLO_POD + "\n---\n---\n" + json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [json.loads(json.dumps(pod_to_dict(_one(TWO_CONTAINER_POD))))]})
    assert [p.metadata.name for p in load_manifests(text)] == ["nginx", "hello", "two-containers"]
    assert load_manifests("") == []
    assert load_manifests("---\n# nothing\n---\n") == []


def test_errors_in_later_documents_name_the_pod() -> None:
    bad = HELLO_POD.replace("image: busybox:1.28", "image: ''")
    with pytest.raises(SpecError) as e:
        load_manifests(SIMPLE_POD + "---\n" + bad, "pods.yaml")
    assert [str(x) for x in e.value.errors] == ['pod "hello": spec.containers[0].image: Required value']
    assert e.value.source == "pods.yaml"


def test_single_document_errors_are_plain_paths() -> None:
    with pytest.raises(SpecError) as e:
        load_manifests(HELLO_POD.replace("image: busybox:1.28", "image: ''"))
    assert str(e.value) == "spec.containers[0].image: Required value"


def test_duplicate_pod_names_in_one_stream() -> None:
    with pytest.raises(SpecError) as e:
        load_manifests(HELLO_POD + "---\n" + HELLO_POD)
    assert str(e.value.errors[0]) == 'pod "hello": metadata.name: Duplicate value: "hello"'


def test_yaml_error_reports_line() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: [1, 2\n"
    with pytest.raises(SpecError) as e:
        load_manifests(text, "pod.yaml")
    assert len(e.value.errors) == 1 and e.value.errors[0].path == ""
    assert str(e.value).startswith("error parsing pod.yaml: line 5, column ")


def test_other_kind_is_rejected() -> None:
    with pytest.raises(SpecError) as e:
        load_manifests("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
    assert str(e.value).startswith('kind: Unsupported value: "Service"')


def test_all_errors_are_collected() -> None:
    data: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "A"},
                            "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c"}]}}
    with pytest.raises(SpecError) as e:
        pod_from_dict(data, "x")
    assert sorted(str(x) for x in e.value.errors) == [
        'metadata.name: Invalid value: "A": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric '
        "characters, '-' or '.', and must start and end with an alphanumeric character",
        'spec.containers[0].image: Required value',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]
    # the CLI's one line names every field
    line = str(e.value)
    assert "\n" not in line and all(str(x) in line for x in e.value.errors)


def test_document_that_is_not_an_object() -> None:
    with pytest.raises(SpecError) as e:
        load_manifests("- a\n- b\n")
    assert str(e.value) == "expected object, got array"


def test_yaml_keeps_plain_yaml_types_strict() -> None:
    # YAML 1.1 reads an unquoted `yes` as a boolean; the API wants a string there, as kubectl would say.
    with pytest.raises(SpecError) as e:
        load_manifests(HELLO_POD + "    env: [{name: DEBUG, value: yes}]\n")
    assert str(e.value) == "spec.containers[0].env[0].value: expected string, got boolean true"
