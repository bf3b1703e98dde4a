"""The supervisor daemon is not the pods: SIGKILL it and the containers keep running, status turns
Unknown (derived from facts, not a stale Running), and the next mutating command takes over."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.helpers import Node, alive, exists, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]


def test_supervisor_killed_pods_survive_and_are_taken_over(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("keep", sleeper("a") + sleeper("b")))
    before = node.wait_running("keep")
    pids = {c: node.container_pid("keep", c) for c in ("a", "b")}
    daemon = node.daemon_pid()

    os.kill(daemon, signal.SIGKILL)
    poll("the daemon to be gone", lambda: not exists(daemon))
    assert all(alive(pid) for pid in pids.values()), "containers must outlive their supervisor"
    unknown = node.pod_json("keep")
    assert unknown["status"]["phase"] == "Unknown"
    row = node.run("get", "pods").stdout.splitlines()[1].split()
    assert row[:3] == ["keep", "0/2", "Unknown"], row

    # Any mutating command starts a new supervisor, which adopts the running pod.
    node.apply(pod_yaml("other", sleeper("a")))
    assert node.daemon_pid() != daemon
    after = node.wait_running("keep")
    assert after["status"]["phase"] == "Running"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert {c: node.container_pid("keep", c) for c in ("a", "b")} == pids
    assert [s["restartCount"] for s in after["status"]["containerStatuses"]] == \
        [s["restartCount"] for s in before["status"]["containerStatuses"]]

    # The adopted pod is really supervised: deleting it stops its processes.
    node.delete("keep")
    assert not any(alive(pid) for pid in pids.values())


def test_delete_takes_over_after_supervisor_killed(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("orphan", sleeper("a")))
    node.wait_running("orphan")
    pid = node.container_pid("orphan", "a")
    daemon = node.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    poll("the daemon to be gone", lambda: not exists(daemon))
    node.delete("orphan")
    assert not alive(pid)
    assert node.leftovers() == []


def test_supervisor_lingers_after_its_last_pod_then_leaves(tmp_path) -> None:  # noqa: ANN001
    """With daemon_linger, a pod created right after the last delete finds the supervisor warm;
    idle for longer, it leaves by itself (and the pod's own things are gone at delete already)."""
    from tests.integration.helpers import _node

    for n in _node(tmp_path, daemon_linger=2):
        n.apply(pod_yaml("brief", sleeper("a")))
        n.wait_running("brief")
        daemon = n.daemon_pid()
        n.delete("brief")
        assert exists(daemon), "the supervisor should linger after its last pod"
        assert not os.path.exists(os.path.join(n.root, "pods", "default_brief"))
        n.apply(pod_yaml("again", sleeper("a")))
        assert n.daemon_pid() == daemon, "a pod applied within the linger reuses the supervisor"
        n.delete("again")
        poll("the lingering supervisor to leave", lambda: not exists(daemon), timeout=15)


def test_container_writing_to_stdout_survives_a_killed_supervisor(node: Node) -> None:  # noqa: F811
    """With no supervisor reading its log pipe, a chatty container must not die of SIGPIPE; the next
    supervisor drains what it wrote meanwhile, so the log has no gap."""
    chatty = ("  - name: c\n    image: busybox\n    command: [sh, -c, "
              "'i=0; while true; do i=$((i+1)); echo line $i; sleep 0.02; done']\n")
    node.apply(pod_yaml("chatty", chatty))
    node.wait_running("chatty")
    pid = node.container_pid("chatty", "c")
    daemon = node.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    poll("the daemon to be gone", lambda: not exists(daemon))
    time.sleep(2)  # ~100 writes with nobody reading the pipe (SIGPIPE would end it at the first)
    assert alive(pid), "the container died while no supervisor read its stdout"
    node.apply(pod_yaml("other", sleeper("a")))  # a new supervisor adopts chatty
    poll("the log to catch up", lambda: "line 300" in node.run("logs", "chatty").stdout, timeout=30)
    numbers = [int(line.split()[1]) for line in node.run("logs", "chatty").stdout.splitlines()]
    assert numbers == list(range(1, len(numbers) + 1)), "lines were lost while no supervisor ran"
    assert node.container_pid("chatty", "c") == pid


def test_one_apply_on_an_idle_node_starts_one_supervisor(node: Node) -> None:  # noqa: F811
    """The CLI's build check (a ping) must not let a supervisor that has nothing to do leave before the
    request that follows it (daemon_linger is 0 here): one apply, one supervisor start."""
    node.apply(pod_yaml("once", sleeper("a")))
    log = open(os.path.join(node.root, "daemon.log"), encoding="utf-8").read()
    starts = [line for line in log.splitlines() if " serving " in line]
    assert len(starts) == 1, log
    node.delete("once")
