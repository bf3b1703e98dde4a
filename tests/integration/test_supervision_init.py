"""Init containers and native sidecars through the real CLI (the kubelet's init container and sidecar ordering).

Progress is gated by trigger files the test creates in a hostPath directory, so every intermediate
state is observed for sure rather than caught in a race.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import Node, poll
from tests.integration.supervision_helpers import get_row, started_node, status_of, wait_status

pytestmark = [pytest.mark.root, pytest.mark.network]


def container(name: str, command: str, extra: str = "") -> str:
    """A busybox container with the hostPath volume `out` at /out."""
    return (f"  - name: {name}\n    image: busybox\n    command: [sh, -c, {command!r}]\n"
            f"    volumeMounts:\n    - {{name: out, mountPath: /out}}\n{extra}")


def pod(name: str, out: Path, inits: str, apps: str, restart: str = "Always", grace: int = 10) -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  terminationGracePeriodSeconds: {grace}\n  restartPolicy: {restart}\n"
            f"  initContainers:\n{inits}  containers:\n{apps}"
            f"  volumes:\n  - name: out\n    hostPath: {{path: {out}, type: Directory}}\n")


def wait_for(trigger: str) -> str:
    return f"while [ ! -f /out/{trigger} ]; do sleep 0.2; done; "


def on_term(word: str) -> str:
    """Runs until TERM, then appends `word` to /out/stop (short sleeps so the trap runs promptly)."""
    return f"trap 'echo {word} >> /out/stop; exit 0' TERM; while :; do sleep 0.2; done"


def ordered_pod(out: Path) -> str:
    return pod("ordered", out,
               container("init1", wait_for("go1") + "echo init1 >> /out/order")
               + container("init2", wait_for("go2") + "echo init2 >> /out/order"),
               container("app", "echo app >> /out/order; cat /out/order; " + on_term("app")))


def failing_init_pod(out: Path) -> str:
    return pod("initfail", out, container("init", "exit 1"), container("app", "echo app ran > /out/app"),
               restart="Never", grace=0)


def sidecar_pod(out: Path) -> str:
    # The sidecar is "started" only once its startup probe sees /out/go; init2 must wait for that.
    side = container("side", on_term("sidecar"), """\
    restartPolicy: Always
    startupProbe:
      exec: {command: [test, -f, /out/go]}
      periodSeconds: 1
      failureThreshold: 300
""")
    return pod("sidecar", out, side + container("init2", "echo init2 > /out/init2"), container("main", on_term("main")))


@pytest.fixture(scope="module")
def outs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("out")
    dirs = {name: base / name for name in ("ordered", "initfail", "sidecar")}
    for d in dirs.values():
        d.mkdir()
    return dirs


@pytest.fixture(scope="module")
def inode(tmp_path_factory: pytest.TempPathFactory, outs: dict[str, Path]) -> Iterator[Node]:
    manifests = [ordered_pod(outs["ordered"]), failing_init_pod(outs["initfail"]), sidecar_pod(outs["sidecar"])]
    with started_node(tmp_path_factory.mktemp("init"), manifests) as n:
        yield n


def status_column(node: Node, pod: str, want: str) -> str:
    return poll(f"{pod} STATUS {want}", lambda: get_row(node, pod)[2] == want and want)


def test_init_containers_run_in_order_before_the_app(inode: Node, outs: dict[str, Path]) -> None:
    out = outs["ordered"]
    status_column(inode, "ordered", "Init:0/2")
    obj = inode.pod_json("ordered")
    assert obj["status"]["phase"] == "Pending"
    app_waiting = status_of(obj, "app")["state"].get("waiting", {}).get("reason")  # checked last
    (out / "go1").touch()
    status_column(inode, "ordered", "Init:1/2")
    assert (out / "order").read_text().splitlines() == ["init1"]
    (out / "go2").touch()
    inode.wait_running("ordered")
    text = inode.wait_log("ordered", "app", "app")
    assert text.split() == ["init1", "init2", "app"]
    obj = inode.pod_json("ordered")
    assert [s["state"]["terminated"]["reason"] for s in obj["status"]["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    assert get_row(inode, "ordered")[1:3] == ["1/1", "Running"]
    # kubelet_pods.go: an app container of a pod with init containers waits as PodInitializing.
    assert app_waiting == "PodInitializing"


def test_failing_init_container_fails_the_pod_under_never(inode: Node, outs: dict[str, Path]) -> None:
    poll("initfail Failed", lambda: inode.pod_json("initfail")["status"]["phase"] == "Failed")
    obj = inode.pod_json("initfail")
    term = status_of(obj, "init", init=True)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (1, "Error")
    assert "running" not in status_of(obj, "app")["state"]
    assert get_row(inode, "initfail")[2] == "Init:Error"
    assert not (outs["initfail"] / "app").exists(), "the app ran although its init container failed"


def test_sidecar_gates_next_init_outlives_init_and_stops_last(inode: Node, outs: dict[str, Path]) -> None:
    out = outs["sidecar"]
    wait_status(inode, "sidecar", "sidecar running", lambda st: "running" in st["state"], "side", init=True)
    # The sidecar runs but its startup probe has not succeeded: init2 must not have started.
    obj = inode.pod_json("sidecar")
    assert status_of(obj, "side", init=True)["started"] is False
    assert "running" not in status_of(obj, "init2", init=True)["state"]
    assert "terminated" not in status_of(obj, "init2", init=True)["state"]
    assert not (out / "init2").exists(), "init2 ran before the sidecar's startup probe succeeded"
    (out / "go").touch()
    obj = inode.wait_running("sidecar")
    assert (out / "init2").exists()
    side = status_of(obj, "side", init=True)
    assert "running" in side["state"] and side["started"] is True, side
    assert status_of(obj, "init2", init=True)["state"]["terminated"]["reason"] == "Completed"
    assert "running" in status_of(obj, "main")["state"]
    assert get_row(inode, "sidecar")[1] == "2/2"  # kubectl counts a running sidecar in READY

    inode.remember_pids()
    inode.run("delete", "pod", "sidecar", timeout=60)
    inode.pods.discard(("default", "sidecar"))
    assert (out / "stop").read_text().splitlines() == ["main", "sidecar"]
