"""postStart hooks and the three probes through the real CLI (the kubelet's prober and lifecycle handlers).

The pods run side by side on one node (crash-loop back-off shortened to 2 s). Network probes go from
the host into the pod's network namespace, so the servers are busybox `httpd` inside the pods.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.integration.helpers import Node, poll
from tests.integration.supervision_helpers import (condition, describe_events, event_count, started_node,
                                                        status_of, wait_status)

pytestmark = [pytest.mark.root, pytest.mark.network]


def pod(name: str, command: str, extra: str = "") -> str:
    """A one-container busybox pod running `sh -c COMMAND`, with `extra` YAML under the container."""
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n"
            f"  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, {command!r}]\n{extra}")


SLEEP = "trap 'exit 0' TERM; sleep 3600 & wait"

POSTSTART = pod("poststart", SLEEP, """\
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo hooked > /tmp/hook']}
""")
BADHOOK = pod("badhook", SLEEP, """\
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'exit 1']}
""")
READY = pod("ready", SLEEP, """\
    readinessProbe:
      exec: {command: [test, -f, /tmp/ready]}
      periodSeconds: 1
""")
# The served file is recreated by each new instance, so a restarted container is healthy again.
LIVE = pod("live", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www", """\
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 1
""")
# Nothing listens on 8081 until /tmp/go exists.
TCP = pod("tcp", "while [ ! -f /tmp/go ]; do sleep 0.2; done; mkdir -p /www; exec httpd -f -p 8081 -h /www", """\
    readinessProbe:
      tcpSocket: {port: 8081}
      periodSeconds: 1
""")
# The liveness probe would fail at once; it must not run until the startup probe has succeeded.
# Each startup probe leaves a line in /tmp/startup-runs, the proof that probing time has passed.
STARTUP = pod("startup", SLEEP, """\
    startupProbe:
      exec: {command: [sh, -c, 'echo run >> /tmp/startup-runs; test -f /tmp/started']}
      periodSeconds: 1
      failureThreshold: 120
    livenessProbe:
      exec: {command: [test, -f, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 1
""")

# A startup probe that never succeeds (within this module's life).
UNSTARTED = pod("unstarted", SLEEP, """\
    startupProbe:
      exec: {command: [test, -f, /never]}
      periodSeconds: 1
      failureThreshold: 120
""")


@pytest.fixture(scope="module")
def pnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    manifests = [POSTSTART, BADHOOK, READY, LIVE, TCP, STARTUP, UNSTARTED]
    with started_node(tmp_path_factory.mktemp("probes"), manifests, crashloop_max_backoff=2) as n:
        yield n


def test_poststart_effect_visible_to_exec(pnode: Node) -> None:
    pnode.wait_running("poststart")
    # Running is reported only once postStart has returned, so its file is there.
    assert pnode.exec("poststart", "c", "cat", "/tmp/hook").stdout == "hooked\n"


def test_failed_poststart_kills_and_restarts(pnode: Node) -> None:
    obj = wait_status(pnode, "badhook", "restarted", lambda st: st["restartCount"] >= 1)
    assert status_of(obj)["lastState"].get("terminated"), status_of(obj)
    events = describe_events(pnode, "badhook")
    assert ("Warning", "FailedPostStartHook") in {(t, r) for t, r, _ in events}, events


def test_readiness_flips_ready(pnode: Node) -> None:
    obj = pnode.wait_running("ready")
    assert condition(obj, "Ready") == "False"
    assert condition(obj, "ContainersReady") == "False"
    assert status_of(obj)["ready"] is False
    assert pnode.run("get", "pod", "ready").stdout.splitlines()[1].split()[1] == "0/1"
    pnode.exec("ready", "c", "touch", "/tmp/ready")
    out = pnode.run("wait", "pod/ready", "--for=condition=Ready", "--timeout=60s", timeout=90).stdout
    assert out.strip() == "pod/ready condition met"
    obj = pnode.pod_json("ready")
    assert condition(obj, "Ready") == "True"
    assert status_of(obj)["ready"] is True
    assert pnode.run("get", "pod", "ready").stdout.splitlines()[1].split()[1] == "1/1"


def test_liveness_failure_restarts(pnode: Node) -> None:
    pnode.wait_running("live")
    before = status_of(pnode.pod_json("live"))["restartCount"]
    pnode.exec("live", "c", "rm", "/www/healthz")
    wait_status(pnode, "live", "restarted by liveness", lambda st: st["restartCount"] > before)
    events = describe_events(pnode, "live")
    assert ("Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") in events, events
    assert "Killing" in {r for _, r, _ in events}, events
    killing = next(m for _, r, m in events if r == "Killing")
    assert "failed liveness probe" in killing, killing


def test_tcp_socket_readiness(pnode: Node) -> None:
    obj = pnode.wait_running("tcp")
    # Let a few probes fail first (each failure is an Unhealthy event).
    poll("failed tcp readiness probes", lambda: event_count(pnode, "tcp", "Unhealthy", "Readiness probe failed") >= 2)
    assert condition(pnode.pod_json("tcp"), "Ready") == "False"
    pnode.exec("tcp", "c", "touch", "/tmp/go")
    obj = wait_status(pnode, "tcp", "ready", lambda st: st["ready"] is True)
    assert condition(obj, "Ready") == "True"


def test_startup_probe_gates_liveness(pnode: Node) -> None:
    pnode.wait_running("startup")

    def startup_runs() -> int:
        out = pnode.exec("startup", "c", "cat", "/tmp/startup-runs", check=False).stdout
        return len(out.splitlines())

    poll("three startup probes", lambda: startup_runs() >= 3)
    st = status_of(pnode.pod_json("startup"))
    assert st["started"] is False
    assert st["restartCount"] == 0, "liveness ran (and killed) before the startup probe succeeded"
    assert event_count(pnode, "startup", "Unhealthy", "Liveness probe failed") == 0
    # Startup succeeds: liveness starts and its first failure restarts the container.
    pnode.exec("startup", "c", "touch", "/tmp/started")
    wait_status(pnode, "startup", "restarted by liveness", lambda st: st["restartCount"] >= 1)
    assert event_count(pnode, "startup", "Unhealthy", "Liveness probe failed") >= 1


def test_unstarted_container_is_not_ready(pnode: Node) -> None:
    # kubelet prober_manager UpdatePodStatus: a container whose startup probe has not succeeded is
    # started=false and, with no readiness probe, still ready=false.
    obj = pnode.wait_running("unstarted")
    st = status_of(obj)
    assert st["started"] is False
    assert st["ready"] is False, st
    assert condition(obj, "Ready") == "False"


def test_each_failed_probe_is_an_unhealthy_event(pnode: Node) -> None:
    # kubelet prober.go records "<Kind> probe failed: <output>" for every failed probe, below the
    # failureThreshold too (here 120), even when the exec output is empty.
    pnode.wait_running("unstarted")
    poll("Unhealthy events of the failing startup probe",
         lambda: event_count(pnode, "unstarted", "Unhealthy", "Startup probe failed") >= 2, timeout=15)
