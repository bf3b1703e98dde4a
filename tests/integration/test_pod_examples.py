"""Every file in examples/ applies, its containers run, and it does what its header says."""

from __future__ import annotations

import urllib.request

import pytest
import yaml

from tests.integration.helpers import EXAMPLES, Node, node, poll  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

# qos-*.yaml belong to the cgroups work and are checked by its tests.
FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml") if not p.name.startswith("qos-"))


def test_the_foundation_examples_exist() -> None:
    assert {"sidecar-pair.yaml", "shared-data.yaml", "hello.yaml"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_example_applies_and_runs(node: Node, name: str) -> None:  # noqa: F811
    docs = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    out = node.apply_file(EXAMPLES / name).stdout
    for doc in docs:
        pod = doc["metadata"]["name"]
        assert f"pod/{pod} created" in out
        for c in doc["spec"]["containers"]:
            assert c["image"].startswith("busybox")
        poll(f"{pod} to have run every container", lambda: all(
            s["state"].get("running") or s["state"].get("terminated") or s["lastState"].get("terminated")
            for s in node.pod_json(pod)["status"]["containerStatuses"]))
        assert node.pod_json(pod)["status"]["phase"] == "Running"


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - the pod's own IP only
        return resp.read().decode()


def test_sidecar_pair_serves_the_dates_the_sidecar_writes(node: Node) -> None:  # noqa: F811
    node.apply_file(EXAMPLES / "sidecar-pair.yaml")
    ip = node.wait_running("sidecar-pair")["status"]["podIP"]
    page = poll("two dates served by 1st", lambda: (lambda t: t if t.count("\n") >= 2 else None)(
        _try(lambda: fetch(f"http://{ip}/"))))
    html = (node.volume_dir("sidecar-pair", "html") / "index.html").read_text()
    assert page.splitlines()[:2] == html.splitlines()[:2]
    assert node.exec("sidecar-pair", "1st", "wget", "-qO-", "http://localhost/").stdout.startswith(page.splitlines()[0])


def _try(fn):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except OSError:
        return ""


def test_shared_data_reader_sees_the_writers_text(node: Node) -> None:  # noqa: F811
    node.apply_file(EXAMPLES / "shared-data.yaml")
    node.wait_log("shared-data", "reader", "Hello from the writer container")
    writer = poll("the writer to complete", lambda: next(
        s for s in node.pod_json("shared-data")["status"]["containerStatuses"] if s["name"] == "writer"
    )["state"].get("terminated"))
    assert writer["exitCode"] == 0 and writer["reason"] == "Completed"
    assert node.exec("shared-data", "reader", "cat", "/pod-data/index.html").stdout == \
        "Hello from the writer container\n"


def test_hello_says_hello(node: Node) -> None:  # noqa: F811
    node.apply_file(EXAMPLES / "hello.yaml")
    node.wait_running("hello")
    assert node.wait_log("hello", "hello", "Hello Kubernetes!") == "Hello Kubernetes!\n"
