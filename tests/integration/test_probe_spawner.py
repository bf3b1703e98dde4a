"""The action spawner (pyrunc/probe/spawner.py) through the real CLI: probes and hooks are forked by it, not by
the supervisor; a killed spawner is replaced; it never outlives its supervisor.

What the probes themselves do is test_supervision_probes.py's and test_probe_mechanisms.py's; here the pods
only show that exec, httpGet and tcpSocket probes and an exec postStart hook work through the spawner.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import (Node, _node, cmdline, exists, ns_id, parent_pid, poll, pod_yaml,
                                       spawner_pids, sleeper)
from tests.integration.supervision_helpers import condition, describe_events, started_node, status_of

pytestmark = [pytest.mark.root, pytest.mark.network]

# A readiness probe that runs long enough to be seen from the host: `sleep 2` inside the container.
SLOW = pod_yaml("slow", sleeper("c", """\
    readinessProbe:
      exec: {command: [sleep, "2"]}
      periodSeconds: 3
      timeoutSeconds: 10
"""))
# Applied once the spawner runs, so that its postStart hook goes through it: the hook's `sleep 3` is seen from
# the host while Running waits for it.
WEB = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo ok > /www/ok && exec httpd -f -p 8080 -h /www']
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo hooked > /tmp/hook; sleep 3; true']}
    readinessProbe:
      httpGet: {path: /ok, port: 8080}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 1
"""


@pytest.fixture(scope="module")
def snode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with started_node(tmp_path_factory.mktemp("spawner"), [SLOW]) as n:
        yield n


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def the_spawner(node: Node) -> int:
    """The daemon's one spawner, once there is one."""
    def one() -> int | None:
        found = spawner_pids(node.daemon_pid())
        node._remember_daemon()  # the leak check at teardown waits for it to be gone
        return found[0] if len(found) == 1 else None

    return int(poll("the daemon's action spawner", one))


def chain_of(node: Node, argv: list[str]) -> list[int] | None:
    """For a running process `argv` of this node's probes or hooks: [it, its parent, ..., the daemon]. None while
    there is none (the first probes may also have forked in the daemon while the spawner started)."""
    daemon = node.daemon_pid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or cmdline(int(entry)) != argv:
            continue
        chain = [int(entry)]
        while chain[-1] not in (daemon, 0, 1) and len(chain) < 8:
            parent = parent_pid(chain[-1])
            if parent is None:
                break
            chain.append(parent)
        if chain[-1] == daemon:
            return chain
    return None


def forked_by(node: Node, argv: list[str], spawner: int) -> list[int]:
    """The chain of a running `argv` whose action child is a child of `spawner`, once there is one."""
    def through() -> list[int] | None:
        chain = chain_of(node, argv)
        return chain if chain and len(chain) >= 4 and chain[-2] == spawner else None

    return poll(f"{argv} forked by the spawner {spawner}", through)  # type: ignore[no-any-return]


def test_probe_actions_are_children_of_the_spawner(snode: Node) -> None:
    daemon, spawner = snode.daemon_pid(), the_spawner(snode)
    command, joiner, action_child, *rest = forked_by(snode, ["sleep", "2"], spawner)
    assert parent_pid(action_child) == spawner != daemon
    assert rest == [spawner, daemon]
    assert ns_id(command, "pid") == ns_id(snode.container_pid("slow", "c"), "pid")  # the probe of `slow`
    assert any("pyrunc.probe.spawner" in a for a in cmdline(spawner))
    assert [comm(spawner), comm(action_child)] == ["pyrunc-spawner", "pyrunc-action"]  # as `ps` shows them
    # The spawner holds no descriptor of the daemon's or of a pod: stdio, its socket, its signal wakeup pipe (and
    # for an instant a request's message pipe), where the daemon holds dozens (log pipes, sockets, pidfds).
    fds = {int(fd): os.readlink(f"/proc/{spawner}/fd/{fd}") for fd in os.listdir(f"/proc/{spawner}/fd")}
    assert len(os.listdir(f"/proc/{daemon}/fd")) > 12, "the check below must be able to fail"
    assert fds[3].startswith("socket:") and len(fds) <= 7, fds
    assert all(fd <= 3 or target.startswith("pipe:") for fd, target in fds.items()), fds


def test_hooks_and_probes_work_through_the_spawner(snode: Node) -> None:
    spawner = the_spawner(snode)
    snode.apply(WEB)
    forked_by(snode, ["sleep", "3"], spawner)  # the postStart hook, running
    snode.wait_running("web")
    assert snode.exec("web", "c", "cat", "/tmp/hook").stdout == "hooked\n"
    poll("web ready (httpGet readiness)", lambda: condition(snode.pod_json("web"), "Ready") == "True")
    poll("slow ready (exec readiness)", lambda: condition(snode.pod_json("slow"), "Ready") == "True")
    assert status_of(snode.pod_json("web"))["restartCount"] == 0  # the tcpSocket liveness probe succeeds
    assert not [e for e in describe_events(snode, "web") if e[1] == "Unhealthy"]
    assert spawner_pids(snode.daemon_pid()) == [spawner]  # all of it through the one spawner
    log = Path(snode.root, "daemon.log").read_text()
    assert "forks its actions itself" not in log, log[-2000:]


def test_a_killed_spawner_is_replaced_and_probes_go_on(snode: Node) -> None:
    first = the_spawner(snode)
    os.kill(first, signal.SIGKILL)
    poll("a new spawner", lambda: (spawner_pids(snode.daemon_pid()) or [first])[0] != first)
    second = the_spawner(snode)
    forked_by(snode, ["sleep", "2"], second)
    poll("slow ready after the spawner's loss", lambda: condition(snode.pod_json("slow"), "Ready") == "True")
    assert status_of(snode.pod_json("slow"))["restartCount"] == 0


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path)


def test_the_spawner_leaves_with_the_daemon(node: Node) -> None:
    node.apply(SLOW)
    node.wait_running("slow")
    daemon, spawner = node.daemon_pid(), the_spawner(node)
    node.delete("slow")  # the last pod: the daemon (linger 0) exits
    poll("the daemon gone", lambda: not exists(daemon))
    poll("the spawner gone", lambda: not exists(spawner))


def test_a_sigkilled_daemon_takes_the_spawner_along(node: Node) -> None:
    node.apply(SLOW)
    node.wait_running("slow")
    daemon, spawner = node.daemon_pid(), the_spawner(node)
    os.kill(daemon, signal.SIGKILL)
    poll("the spawner gone (PR_SET_PDEATHSIG)", lambda: not exists(spawner))
    node.apply(SLOW)  # unchanged; a new daemon adopts the pod, and probes it with a new spawner
    assert node.daemon_pid() != daemon
    assert the_spawner(node) != spawner
