"""Pod fields through the real CLI (issue 11 points 7 and 8): pod-level spec.resources read back from
the kernel, the defaults `get -o yaml` shows, setHostnameAsFQDN, and corpus manifests (tests/corpus/)
refused with their one line and nothing left behind (a pod bound to another node among them), or accepted
with their warning, or held by the node's admission (scheduling gates).

The cgroup numbers are the kubelet's (ResourceConfigForPod with pod-level resources, KEP 2837),
written out here rather than computed with pyrunc's arithmetic.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from pyrunc.cgroups import detect
from tests.integration.helpers import Node, pod_yaml, sleeper
from tests.unit.test_corpus import CORPUS, NODE, OUTCOMES

pytestmark = pytest.mark.root

MI = 1024 * 1024
CGROUP_ROOT = "/sys/fs/cgroup"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = Node(tmp_path_factory.mktemp("fields"), network="none", cgroup_parent=f"pyrunc-f{secrets.token_hex(4)}")
    try:
        yield n
    finally:
        n.teardown()


@pytest.fixture(scope="module")
def version(node: Node) -> int:
    driver = detect(parent=json.loads(Path(node.root, "config.json").read_text())["cgroup_parent"])
    if driver.version == 0:
        pytest.skip(f"no usable cgroups on this host: {getattr(driver, 'reason', '')}")
    return driver.version


def read_group(node: Node, version: int, qos_dir: str, pod: str, container: str | None) -> dict[str, str]:
    """memory limit, cpu quota and (v1) shares of the pod's group or one container's, from the host."""
    parent = json.loads(Path(node.root, "config.json").read_text())["cgroup_parent"]
    rel = [p for p in (parent, qos_dir, f"pod{node.uid(pod)}", container or "") if p]
    if version == 1:
        files = {"memory": "memory/memory.limit_in_bytes", "quota": "cpu/cpu.cfs_quota_us", "shares": "cpu/cpu.shares"}
        return {k: Path(CGROUP_ROOT, f.split("/")[0], *rel, f.split("/")[1]).read_text().strip() for k, f in files.items()}
    files = {"memory": "memory.max", "quota": "cpu.max"}
    got = {k: Path(CGROUP_ROOT, *rel, f).read_text().strip() for k, f in files.items()}
    got["quota"] = got["quota"].split()[0]
    return got


def want(version: int, memory: int, quota: int, shares: int) -> dict[str, str]:
    values = {"memory": str(memory), "quota": str(quota)}
    if version == 1:
        values["shares"] = str(shares)
    return values


BURSTABLE = pod_yaml("budget", sleeper("a", "    resources: {requests: {cpu: 100m, memory: 16Mi}}\n") + sleeper("b"),
                     "  resources:\n    limits: {cpu: 500m, memory: 64Mi}\n")
GUARANTEED = pod_yaml("budget-g", sleeper("a"), "  resources:\n    requests: {cpu: '1', memory: 32Mi}\n"
                                                "    limits: {cpu: '1', memory: 32Mi}\n")


def test_pod_level_limits_size_the_pod_cgroup(node: Node, version: int) -> None:
    """Pod-level limits replace the containers' (absent) ones in the pod group; the pod-level requests
    default to what the containers request (100m, 16Mi), so the pod is Burstable; a container without
    limits of its own gets the pod's in its group, and keeps its own (no) request."""
    node.apply(BURSTABLE)
    pod = node.wait_running("budget")
    assert pod["status"]["qosClass"] == "Burstable"
    assert pod["spec"]["resources"] == {"limits": {"cpu": "500m", "memory": "64Mi"},
                                        "requests": {"cpu": "100m", "memory": "16Mi"}}
    assert read_group(node, version, "burstable", "budget", None) == want(version, 64 * MI, 50000, 102)
    assert read_group(node, version, "burstable", "budget", "a") == want(version, 64 * MI, 50000, 102)
    assert read_group(node, version, "burstable", "budget", "b") == want(version, 64 * MI, 50000, 2)


def test_pod_level_requests_equal_to_limits_make_a_guaranteed_pod(node: Node, version: int) -> None:
    """QoS from the pod-level values alone: Guaranteed although the container declares nothing."""
    node.apply(GUARANTEED)
    assert node.wait_running("budget-g")["status"]["qosClass"] == "Guaranteed"
    assert read_group(node, version, "", "budget-g", None) == want(version, 32 * MI, 100000, 1024)
    assert read_group(node, version, "", "budget-g", "a") == want(version, 32 * MI, 100000, 2)


def test_get_o_yaml_shows_the_pod_as_a_cluster_stores_it(node: Node) -> None:
    node.apply(pod_yaml("defaults", "  - name: a\n    image: busybox\n    command: [sleep, '3600']\n"
                                    "    ports: [{containerPort: 8080}]\n"
                                    "    readinessProbe: {httpGet: {port: 8080}}\n"
                                    "    volumeMounts: [{name: d, mountPath: /d}, {name: h, mountPath: /h}]\n",
                        "  volumes:\n  - {name: d, emptyDir: {}}\n  - {name: h, hostPath: {path: /tmp}}\n"))
    spec = yaml.safe_load(node.run("get", "pod", "defaults", "-o", "yaml").stdout)["spec"]
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"  # no tag: latest
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert c["readinessProbe"] == {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert (c["terminationMessagePath"], c["terminationMessagePolicy"], c["resources"]) == \
        ("/dev/termination-log", "File", {})
    assert spec["volumes"] == [{"name": "d", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/tmp", "type": ""}}]
    for key, value in {"dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "schedulerName": "default-scheduler",
                       "restartPolicy": "Always", "securityContext": {}, "priority": 0,
                       "preemptionPolicy": "PreemptLowerPriority", "serviceAccountName": "default",
                       "serviceAccount": "default"}.items():
        assert spec[key] == value, key
    assert [t["key"] for t in spec["tolerations"]] == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]


def test_set_hostname_as_fqdn(node: Node) -> None:
    node.apply(pod_yaml("fq", sleeper("a"), "  hostname: web\n  subdomain: svc1\n  setHostnameAsFQDN: true\n"))
    node.wait_running("fq")
    fqdn = "web.svc1.default.svc.cluster.local"
    assert node.exec("fq", "a", "hostname").stdout.strip() == fqdn
    assert node.exec("fq", "a", "cat", "/etc/hostname").stdout.strip() == fqdn
    assert node.exec("fq", "a", "sh", "-c", "echo $HOSTNAME").stdout.strip() == fqdn


REFUSED = ["pod-level-resources-too-small.yaml", "restart-policy-rules.yaml", "emptydir-mode.yaml", "windows.yaml",
           "host-users-false.yaml", "readiness-gates.yaml", "projected-token.yaml", "config-item-escape.yaml",
           "extended-resource-request-only.yaml", "pod-anti-affinity-no-topology-key.yaml",
           # refused by apply itself, after the loader accepted it: only the CLI knows the node's name
           "node-name-other.yaml"]


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_corpus_manifest_leaves_nothing(tmp_path: Path, name: str) -> None:
    n = Node(tmp_path, node_name=NODE)
    try:
        proc = n.run("apply", "-f", str(CORPUS / name), check=False)
        assert (proc.returncode, proc.stdout, proc.stderr.splitlines()) == (1, "", OUTCOMES[name])
        assert not list(Path(n.root, "pods").glob("*")) and not list(Path(n.root, "cgroups").glob("*"))
        assert not Path(n.root, "objects").exists()
        assert not list(Path(n.data_dir).glob("pods/*"))
    finally:
        n.teardown()


def test_a_gated_corpus_pod_waits_with_nothing_created(node: Node) -> None:
    """Accepted by apply (no output on stderr), held by the node's admission: Pending, SchedulingGated."""
    proc = node.apply((CORPUS / "scheduling-gates.yaml").read_text())
    assert (proc.stdout, proc.stderr.splitlines()) == ("pod/gated-job created\n", OUTCOMES["scheduling-gates.yaml"])
    pod = node.pod_json("gated-job")
    assert pod["status"]["phase"] == "Pending"
    assert [(c["type"], c["status"], c.get("reason")) for c in pod["status"]["conditions"]] == \
        [("PodScheduled", "False", "SchedulingGated")]
    assert "SchedulingGated" in node.run("get", "pod", "gated-job").stdout
    assert sorted(p.name for p in node.pod_dir("gated-job").iterdir()) == ["admission.json", "pod.json"]
    node.delete("gated-job")


def test_a_warned_corpus_manifest_runs(node: Node) -> None:
    proc = node.apply((CORPUS / "topology-spread.yaml").read_text())
    assert proc.stderr.splitlines() == OUTCOMES["topology-spread.yaml"]
    assert proc.stdout == "pod/spread created\n"
    node.wait_running("spread")
