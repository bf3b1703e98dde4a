"""A supervisor that fails safely, and `pyrunc wait` (issue 3 points 8 and 9).

SIGKILL the supervisor daemon: containers keep running and show `Unknown`; the next `apply` starts a
new daemon that takes the pods over with their restart counts, notices what ended meanwhile, and
leaves no zombie behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, Node, alive, exists, node, poll, proc_stat, sleeper, pod_yaml  # noqa: F401
from tests.integration.supervision_helpers import get_row, started_node, status_of, wait_status

pytestmark = [pytest.mark.root, pytest.mark.network]


def pod(name: str, command: str, out: Path, restart: str = "Always") -> str:
    """A one-container busybox pod with an emptyDir at /data and the hostPath `out` at /out."""
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 0\n"
            f"  restartPolicy: {restart}\n  containers:\n  - name: c\n    image: busybox\n"
            f"    command: [sh, -c, {command!r}]\n"
            f"    volumeMounts:\n    - {{name: data, mountPath: /data}}\n    - {{name: out, mountPath: /out}}\n"
            f"  volumes:\n  - name: data\n    emptyDir: {{}}\n"
            f"  - name: out\n    hostPath: {{path: {out}, type: Directory}}\n")


# First run: exit 3 at once. Later runs: stay up.
FLAKY = "[ -f /data/ran ] && exec sleep 3600; touch /data/ran; exit 3"
# First run: stay up until /out/go appears, then exit 1. Later runs: stay up.
BLINK = "[ -f /data/ran ] && exec sleep 3600; touch /data/ran; while [ ! -f /out/go ]; do sleep 0.2; done; exit 1"


def zombies_of(parents: set[int]) -> list[int]:
    """Pids in state Z whose parent is one of `parents`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) in parents:
            found.append(int(entry))
    return found


def restart_count(n: Node, name: str) -> int:
    return int(status_of(n.pod_json(name))["restartCount"])


def test_killed_supervisor_then_takeover(node: Node, tmp_path: Path) -> None:  # noqa: F811
    cfg = Path(node.root, "config.json")  # shorten the back-off before the node's first command
    cfg.write_text(json.dumps(json.loads(cfg.read_text()) | {"crashloop_max_backoff": 2}))
    out = tmp_path / "out"
    out.mkdir()
    node.apply("---\n".join([pod("flaky", FLAKY, out), pod("blink", BLINK, out)]))
    wait_status(node, "flaky", "restarted once and running",
                lambda st: st["restartCount"] == 1 and "running" in st["state"])
    node.wait_running("blink")
    assert restart_count(node, "blink") == 0
    pids = {name: node.container_pid(name, "c") for name in ("flaky", "blink")}
    blink_start = proc_stat(pids["blink"])[1]
    daemon = node.daemon_pid()

    os.kill(daemon, signal.SIGKILL)
    poll("the daemon to be gone", lambda: not exists(daemon))
    assert all(alive(pid) for pid in pids.values()), "containers must outlive their supervisor"
    for name in ("flaky", "blink"):
        assert node.pod_json(name)["status"]["phase"] == "Unknown"
        assert get_row(node, name)[2] == "Unknown"

    # blink's first instance ends while nobody supervises it.
    (out / "go").touch()
    poll("blink's first instance to end", lambda: not alive(pids["blink"], blink_start))

    node.apply(pod_yaml("unrelated", sleeper("a")))
    new_daemon = node.daemon_pid()
    assert new_daemon != daemon
    flaky = node.wait_running("flaky")
    assert flaky["status"]["phase"] == "Running"
    assert status_of(flaky)["restartCount"] == 1
    assert node.container_pid("flaky", "c") == pids["flaky"], "the running container was replaced"
    # The exit that happened meanwhile counts as one restart, and blink runs again.
    blink = wait_status(node, "blink", "restarted after the takeover",
                        lambda st: st["restartCount"] == 1 and "running" in st["state"])
    assert blink["status"]["phase"] == "Running"
    assert node.container_pid("blink", "c") != pids["blink"]

    # Nothing is left unreaped: neither blink's first PID 1 nor any child of a pyrunc daemon.
    poll("blink's first instance reaped", lambda: not exists(pids["blink"], blink_start))
    poll("no zombie children of the daemon", lambda: not zombies_of({new_daemon}))


@pytest.fixture(scope="module")
def wout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wait-out")


@pytest.fixture(scope="module")
def wnode(tmp_path_factory: pytest.TempPathFactory, wout: Path) -> Iterator[Node]:
    out = wout
    manifests = [pod("done", "while [ ! -f /out/go ]; do sleep 0.2; done; exit 0", out, restart="Never"),
                 pod_yaml("gone", sleeper("a")), pod_yaml("steady", sleeper("a"))]
    with started_node(tmp_path_factory.mktemp("wait"), manifests) as n:
        yield n


def start_wait(n: Node, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PYRUNC, "--root", n.root, "wait", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(REPO))


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("pyrunc wait did not return") from None
    return proc.returncode, stdout, stderr


def test_wait_for_jsonpath_phase(wnode: Node, wout: Path) -> None:
    wnode.wait_running("done")
    waiter = start_wait(wnode, "pod/done", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=60s")
    assert wnode.pod_json("done")["status"]["phase"] == "Running"
    (wout / "go").touch()
    rc, stdout, stderr = finish(waiter)
    assert rc == 0, stderr
    assert stdout.strip() == "pod/done condition met"
    assert wnode.pod_json("done")["status"]["phase"] == "Succeeded"


def test_wait_for_delete(wnode: Node) -> None:
    wnode.wait_running("gone")
    waiter = start_wait(wnode, "pod/gone", "--for=delete", "--timeout=60s")
    wnode.delete("gone")
    rc, stdout, stderr = finish(waiter)
    assert rc == 0, stderr
    assert stdout.strip() == "pod/gone deleted"


def test_wait_timeout_is_an_error(wnode: Node) -> None:
    wnode.wait_running("steady")
    proc = wnode.run("wait", "pod/steady", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=1s", check=False)
    assert proc.returncode != 0
    assert "timed out waiting for the condition on pods/steady" in proc.stderr
    assert proc.stderr.count("\n") <= 1, proc.stderr
