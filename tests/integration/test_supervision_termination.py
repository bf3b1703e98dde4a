"""Graceful termination on `delete` (the kubelet's graceful termination): the grace period, SIGTERM to PID 1,
preStop inside the grace period and before TERM, `--grace-period=0 --force`.

The pods run side by side on one node; each test deletes its own pod. What a container saw is
observed through a hostPath directory under the test's tmp dir. The only durations asserted are the
grace-period ones the issue asks for, with generous bounds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import Node, alive, poll
from tests.integration.supervision_helpers import started_node

pytestmark = [pytest.mark.root, pytest.mark.network]


def pod(name: str, command: str | list[str], out: Path, grace: int | None, extra: str = "") -> str:
    """A one-container busybox pod with `out` mounted at /out; `grace` None keeps the 30 s default."""
    cmd = command if isinstance(command, list) else ["sh", "-c", command]
    grace_line = f"  terminationGracePeriodSeconds: {grace}\n" if grace is not None else ""
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{grace_line}"
            f"  containers:\n  - name: c\n    image: busybox\n    command: {cmd!r}\n"
            f"    volumeMounts:\n    - {{name: out, mountPath: /out}}\n{extra}"
            f"  volumes:\n  - name: out\n    hostPath: {{path: {out}, type: Directory}}\n")


# busybox `sleep` as PID 1 has no TERM handler, so the kernel drops SIGTERM sent to it.
IGNORES_TERM = ["sleep", "3600"]
# Short sleeps so the shell runs its trap promptly.
HANDLES_TERM = "trap 'echo TERM >> /out/log; exit 0' TERM; echo up > /out/up; while :; do sleep 0.2; done"
PRESTOP = "    lifecycle:\n      preStop:\n        exec:\n          command: [sh, -c, 'echo prestop >> /out/log']\n"


@pytest.fixture(scope="module")
def outs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("out")
    dirs = {name: base / name for name in ("stubborn", "polite", "prestop", "forced")}
    for d in dirs.values():
        d.mkdir()
    return dirs


@pytest.fixture(scope="module")
def tnode(tmp_path_factory: pytest.TempPathFactory, outs: dict[str, Path]) -> Iterator[Node]:
    manifests = [
        pod("stubborn", IGNORES_TERM, outs["stubborn"], 3),
        pod("polite", HANDLES_TERM, outs["polite"], None),
        pod("prestop", HANDLES_TERM, outs["prestop"], 20, PRESTOP),
        pod("forced", IGNORES_TERM, outs["forced"], 30),
    ]
    with started_node(tmp_path_factory.mktemp("term"), manifests) as n:
        for name in ("stubborn", "polite", "prestop", "forced"):
            n.wait_running(name)
        yield n


def timed_delete(node: Node, name: str, *flags: str) -> float:
    """Seconds `delete pod NAME FLAGS` took (it returns when the pod is gone)."""
    node.remember_pids()
    start = time.monotonic()
    node.run("delete", "pod", name, *flags, timeout=60)
    took = time.monotonic() - start
    node.pods.discard(("default", name))
    return took


def test_term_ignoring_container_waits_out_the_grace_period(tnode: Node) -> None:
    pid = tnode.container_pid("stubborn", "c")
    took = timed_delete(tnode, "stubborn")
    assert 2.5 <= took < 15, f"delete with a 3 s grace period took {took:.1f}s"
    assert not alive(pid)
    assert tnode.run("get", "pod", "stubborn", check=False).returncode != 0


def test_term_handling_container_returns_promptly(tnode: Node, outs: dict[str, Path]) -> None:
    poll("polite's shell up", lambda: (outs["polite"] / "up").exists())
    pid = tnode.container_pid("polite", "c")
    took = timed_delete(tnode, "polite")
    assert took < 10, f"a container exiting on TERM made delete wait {took:.1f}s of its 30 s grace"
    assert (outs["polite"] / "log").read_text().splitlines() == ["TERM"], "SIGTERM never reached the container"
    assert not alive(pid)


def test_prestop_runs_before_term(tnode: Node, outs: dict[str, Path]) -> None:
    poll("prestop's shell up", lambda: (outs["prestop"] / "up").exists())
    took = timed_delete(tnode, "prestop")
    assert took < 15
    assert (outs["prestop"] / "log").read_text().splitlines() == ["prestop", "TERM"]


def test_force_delete_is_immediate(tnode: Node) -> None:
    pid = tnode.container_pid("forced", "c")
    took = timed_delete(tnode, "forced", "--grace-period=0", "--force")
    assert took < 10, f"--grace-period=0 --force waited {took:.1f}s (the pod's grace is 30 s)"
    assert not alive(pid)
