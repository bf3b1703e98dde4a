"""The static pod source's pure rules: file names, the pod of a file (name, annotations, hash), the plan."""

from __future__ import annotations

import pytest

from pyrunc.errors import PyruncError
from pyrunc.supervisor.static_pods import (HASH, MIRROR, SEEN, SOURCE, Action, BadFile, file_pod, file_pods,
                                           is_manifest_name, plan)

WEB = """apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
"""
SEEN_AT = "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("name,ok", [
    ("web.yaml", True), ("web.yml", True), ("web.json", True), (".web.yaml", False), (".web.yaml.swp", False),
    ("web.yaml~", False), ("web.txt", False), ("README", False), ("..data", False), ("web.yaml.bak", False),
])
def test_manifest_names(name: str, ok: bool) -> None:
    assert is_manifest_name(name) is ok


def test_file_pod_is_named_and_annotated_as_the_kubelets() -> None:
    pod = file_pod("/m/web.yaml", WEB, "Node-1", SEEN_AT)
    meta = pod.manifest["metadata"]
    assert meta["name"] == "web-node-1"  # generatePodName lowercases the node's name
    assert meta["namespace"] == "default"
    assert pod.key == "default_web-node-1"
    assert meta["labels"] == {"app": "web"}
    notes = meta["annotations"]
    assert notes[SOURCE] == "file"
    assert notes[HASH] == notes[MIRROR] == pod.hash
    assert notes[SEEN] == SEEN_AT
    assert len(pod.hash) == 32


def test_hash_is_stable_and_follows_the_pod_the_file_and_the_node() -> None:
    base = file_pod("/m/web.yaml", WEB, "n1", SEEN_AT).hash
    assert file_pod("/m/web.yaml", WEB + "\n# a comment\n", "n1", "2027-01-01T00:00:00Z").hash == base
    assert file_pod("/m/web.yaml", WEB.replace("3600", "3601"), "n1", SEEN_AT).hash != base
    assert file_pod("/m/web.yaml", WEB.replace("app: web", "app: www"), "n1", SEEN_AT).hash != base
    assert file_pod("/m/other.yaml", WEB, "n1", SEEN_AT).hash != base
    assert file_pod("/m/web.yaml", WEB, "n2", SEEN_AT).hash != base


def test_json_manifest() -> None:
    text = ('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j", "namespace": "kube-system"},'
            ' "spec": {"containers": [{"name": "c", "image": "busybox"}]}}')
    assert file_pod("/m/j.json", text, "n", SEEN_AT).key == "kube-system_j-n"


@pytest.mark.parametrize("text,words", [
    ("", "exactly one pod, found 0"),
    (WEB + "---\n" + WEB.replace("name: web", "name: two"), "exactly one pod, found 2"),
    ("kind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c}]}\n", "image"),
    ("metadata: [", "error parsing /m/x.yaml"),
    (WEB.replace("name: web", "name: " + "w" * 252), "metadata.name"),  # too long once the node is appended
])
def test_bad_files(text: str, words: str) -> None:
    with pytest.raises(PyruncError) as e:
        file_pod("/m/x.yaml", text, "n", SEEN_AT)
    assert words in e.value.message


def test_file_pods_reports_bad_and_duplicate_files_and_keeps_the_others() -> None:
    pods, bad = file_pods({"/m/b.yaml": WEB, "/m/a.yaml": "kind: [", "/m/c.yaml": WEB}, "n", SEEN_AT)
    assert [p.path for p in pods] == ["/m/b.yaml"]
    assert [b.path for b in bad] == ["/m/a.yaml", "/m/c.yaml"]
    assert "already defined by /m/b.yaml" in bad[1].message


def _pods(*names: str) -> list:  # type: ignore[type-arg]
    return [file_pod(f"/m/{n}.yaml", WEB.replace("name: web", f"name: {n}"), "n", SEEN_AT) for n in names]


def test_plan_creates_what_is_missing_and_leaves_what_runs() -> None:
    a, b = _pods("a", "b")
    actions, bad = plan([a, b], {a.key: a.hash})
    assert actions == [Action("create", b.key, b)] and bad == []


def test_plan_replaces_a_changed_pod() -> None:
    (a,) = _pods("a")
    actions, _ = plan([a], {a.key: "0" * 32})
    assert actions == [Action("replace", a.key, a)]


def test_plan_deletes_static_pods_without_a_file_and_never_a_users_pod() -> None:
    actions, bad = plan([], {"default_gone-n": "1" * 32, "default_mine": None})
    assert actions == [Action("delete", "default_gone-n")] and bad == []


def test_plan_reports_a_file_whose_name_a_users_pod_holds() -> None:
    (a,) = _pods("a")
    actions, bad = plan([a], {a.key: None})
    assert actions == []
    assert bad == [BadFile(a.path, 'pod "a-n" in namespace "default" already exists and is not a static pod')]


def test_plan_leaves_busy_pods_alone() -> None:
    a, b = _pods("a", "b")
    actions, _ = plan([a, b], {a.key: "0" * 32, "default_gone-n": "1" * 32},
                      busy=frozenset({a.key, b.key, "default_gone-n"}))
    assert actions == []


def test_plan_of_nothing_is_nothing() -> None:
    assert plan([], {}) == ([], [])
    (a,) = _pods("a")
    assert plan([a], {a.key: a.hash}) == ([], [])
