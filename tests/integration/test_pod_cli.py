"""The kubectl-shaped verbs against a real node: get, apply (created/unchanged/configured),
delete (leaves nothing), NotFound for every verb."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import Node, alive, mounts_under, node, pod_yaml, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]


def rfc3339(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def test_get_empty_node(node: Node) -> None:  # noqa: F811
    proc = node.run("get", "pods")
    assert proc.stdout == "" and proc.stderr.strip() == "No resources found in default namespace."
    assert not Path(node.root, "daemon.json").exists(), "a read must not start the supervisor"


@pytest.mark.parametrize("verb", [("get", "pod"), ("describe", "pod"), ("delete", "pod"), ("logs",),
                                  ("exec",)])
def test_missing_pod_is_not_found(node: Node, verb: tuple[str, ...]) -> None:  # noqa: F811
    args = [*verb, "ghost"] + (["--", "true"] if verb == ("exec",) else [])
    proc = node.run(*args, check=False)
    assert proc.returncode == 1
    assert proc.stderr == 'Error from server (NotFound): pods "ghost" not found\n'
    assert not Path(node.root, "pods").exists() or not any(Path(node.root, "pods").iterdir())


def test_get_outputs(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("web", sleeper("a") + sleeper("b"), metadata="  labels: {app: web}\n"))
    obj = node.wait_running("web")
    table = node.run("get", "pods").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:4] == ["web", "2/2", "Running", "0"]
    wide = node.run("get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert wide[1].split()[5] == obj["status"]["podIP"]
    assert node.run("get", "pods", "-o", "name").stdout == "pod/web\n"
    assert node.run("get", "pods", "-A").stdout.splitlines()[0].split()[0] == "NAMESPACE"

    meta, status = obj["metadata"], obj["status"]
    assert obj["apiVersion"] == "v1" and obj["kind"] == "Pod"
    assert meta["name"] == "web" and meta["namespace"] == "default" and meta["labels"] == {"app": "web"}
    assert len(meta["uid"]) == 36
    rfc3339(meta["creationTimestamp"])
    assert status["phase"] == "Running"
    assert status["podIP"].startswith(node.subnet.rsplit(".", 1)[0] + ".")
    assert status["qosClass"] == "BestEffort"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert [s["name"] for s in status["containerStatuses"]] == ["a", "b"]
    for s in status["containerStatuses"]:
        assert s["ready"] is True and s["restartCount"] == 0
        rfc3339(s["state"]["running"]["startedAt"])
    as_yaml = yaml.safe_load(node.run("get", "pod", "web", "-o", "yaml").stdout)
    assert as_yaml["metadata"]["uid"] == meta["uid"]
    listed = json.loads(node.run("get", "pods", "-o", "json").stdout)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["web"]


def test_apply_unchanged_and_configured(node: Node, tmp_path: Path) -> None:  # noqa: F811
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(pod_yaml("conf", sleeper("a"), metadata="  labels: {v: '1'}\n"))
    assert node.run("apply", "-f", str(manifest)).stdout == "pod/conf created\n"
    node.pods.add(("default", "conf"))
    first = node.wait_running("conf")
    pid = node.container_pid("conf", "a")
    assert node.run("apply", "-f", str(manifest)).stdout == "pod/conf unchanged\n"

    # A label change: configured in place, same uid, the container keeps running (not restarted).
    manifest.write_text(pod_yaml("conf", sleeper("a"), metadata="  labels: {v: '2'}\n"))
    assert node.run("apply", "-f", str(manifest)).stdout == "pod/conf configured\n"
    relabelled = node.pod_json("conf")
    assert relabelled["metadata"]["labels"] == {"v": "2"}
    assert relabelled["metadata"]["uid"] == first["metadata"]["uid"]
    assert node.container_pid("conf", "a") == pid
    assert relabelled["status"]["containerStatuses"][0]["restartCount"] == 0

    # A spec change replaces the pod: new uid, new process.
    manifest.write_text(pod_yaml("conf", sleeper("a", "    env: [{name: X, value: y}]\n"),
                                 metadata="  labels: {v: '2'}\n"))
    assert node.run("apply", "-f", str(manifest)).stdout == "pod/conf configured\n"
    replaced = node.wait_running("conf")
    assert replaced["metadata"]["uid"] != first["metadata"]["uid"]
    assert node.container_pid("conf", "a") != pid
    assert not alive(pid, node.pids[pid])


def test_apply_multi_document_from_stdin_and_delete_file(node: Node, tmp_path: Path) -> None:  # noqa: F811
    text = pod_yaml("m1", sleeper("a")) + "---\n" + pod_yaml("m2", sleeper("a"))
    proc = node.apply(text)  # apply -f - (stdin)
    assert proc.stdout == "pod/m1 created\npod/m2 created\n"
    node.wait_running("m1")
    node.wait_running("m2")
    manifest = tmp_path / "two.yaml"
    manifest.write_text(text)
    proc = node.run("delete", "-f", str(manifest), "--grace-period=0", "--force")
    assert 'pod "m1" force deleted' in proc.stdout and 'pod "m2" force deleted' in proc.stdout
    node.pods.clear()
    assert node.run("get", "pods").stderr.startswith("No resources found")
    assert not node.leftovers()


def test_delete_leaves_nothing(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("gone", sleeper("a") + sleeper("b"),
                        "  volumes:\n  - {name: m, emptyDir: {medium: Memory}}\n"))
    node.wait_running("gone")
    pids = [node.container_pid("gone", "a"), node.container_pid("gone", "b")]
    veths = list(Path("/sys/class/net", node.bridge, "brif").iterdir())
    assert veths and mounts_under(node.root)
    assert list(Path(node.root, "network", "leases").iterdir())
    proc = node.run("delete", "pod", "gone")  # graceful: the containers trap TERM
    assert proc.stdout == 'pod "gone" deleted\n'
    node.pods.clear()
    assert not any(alive(pid) for pid in pids)
    assert not node.pod_dir("gone").exists()
    assert mounts_under(node.root) == []
    assert not any(v.exists() for v in veths)
    assert not list(Path(node.root, "network", "leases").iterdir())
    assert node.leftovers() == []
    proc = node.run("delete", "pod", "gone", check=False)
    assert proc.returncode == 1 and "NotFound" in proc.stderr
