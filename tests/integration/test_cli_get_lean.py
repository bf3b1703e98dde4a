"""`pyrunc get` through the lean path (cli/lean_get.py) prints what the full CLI prints, byte for byte, for pods
in every kind of state, with the supervisor running and after it was killed (phases then Unknown)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.integration.helpers import REPO, Node, exists, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

# The full CLI, as the console script ran it before the lean path (cli/main.py, argparse and all).
FULL = [sys.executable, "-c", "import sys; from pyrunc.cli.main import main; sys.exit(main())"]
# The console script's entry point: `get` lines it takes go to cli/lean_get.py.
LEAN = [sys.executable, "-m", "pyrunc"]

PODS = "\n---\n".join([
    pod_yaml("run", sleeper("a") + sleeper("b")),
    pod_yaml("crash", "  - name: c\n    image: busybox\n    command: [sh, -c, 'exit 1']\n"),
    pod_yaml("done", "  - name: ok\n    image: busybox\n    command: ['true']\n"
                     "  - name: bad\n    image: busybox\n    command: [sh, -c, 'exit 3']\n",
             extra_spec="  restartPolicy: Never\n"),
    pod_yaml("failed", "  - name: bad\n    image: busybox\n    command: [sh, -c, 'exit 3']\n",
             extra_spec="  restartPolicy: Never\n"),
    pod_yaml("init", sleeper("app"),
             extra_spec="  initContainers:\n  - name: setup\n    image: busybox\n    command: [sleep, '3600']\n"),
    pod_yaml("notready", sleeper("a", "    readinessProbe:\n      exec:\n        command: ['false']\n"
                                      "      periodSeconds: 1\n")),
    pod_yaml("noimage", "  - name: x\n    image: nosuch.invalid/none:1\n    imagePullPolicy: Never\n"),
    pod_yaml("gated", sleeper("a"), extra_spec="  schedulingGates:\n  - name: example.com/wait\n"),
    pod_yaml("elsewhere", sleeper("a"), metadata="  namespace: other\n"),
])
STATES = ("CrashLoopBackOff", "Completed", "Error", "Init:0/1", "0/1     Running", "ErrImageNeverPull", "SchedulingGated")
NAMES = ("run", "crash", "done", "failed", "init", "notready", "noimage", "gated")
LINES = [
    ["get", "pods"], ["get", "pods", "-o", "wide"], ["get", "pods", "-A"], ["get", "po", "-A", "-owide"],
    ["get", "pods", "-n", "other"], ["get", "pod", "elsewhere", "--namespace=other", "-o", "json"],
    ["get", "pods", "--no-headers"], ["get", "pods", "-o", "json"], ["get", "pods", "-n", "empty"],
    ["get", "pods", "-A", "-o", "json"],
    *(["get", "pod", name, "-o", "json"] for name in NAMES), *(["get", "pods", name, "-o", "wide"] for name in NAMES),
]


def both(node: Node, line: list[str]) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    out = []
    for cli in (FULL, LEAN):
        proc = subprocess.run([*cli, "--root", node.root, *line], capture_output=True, text=True, cwd=str(REPO),
                              timeout=60)
        out.append((proc.returncode, proc.stdout, proc.stderr))
    return out[0], out[1]


def same_output(node: Node, line: list[str]) -> None:
    """The two CLIs agree on `line`. Asked again when they differ: a second (AGE, "5s ago") or a container's
    state (a back-off ending) may change between the two calls; a real difference stays."""
    seen: list[object] = []

    def agree() -> bool:
        full, lean = both(node, line)
        seen[:] = [full, lean]
        return full == lean

    for _ in range(5):
        if agree():
            return
    full, lean = seen
    assert lean == full, f"pyrunc {' '.join(line)}: the lean path and the full CLI differ"


def lean_path_taken(node: Node, line: list[str]) -> bool:
    """The line was answered without the full CLI: argparse (which cli/main.py imports first) never loaded."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *LEAN[1:], "--root", node.root, *line],
                          capture_output=True, text=True, cwd=str(REPO), timeout=60)
    return proc.returncode == 0 and "argparse" not in proc.stderr


def test_lean_get_prints_what_the_full_cli_prints(node: Node) -> None:  # noqa: F811
    node.apply(PODS)
    node.wait_running("run")
    node.wait_running("elsewhere", namespace="other")
    listed = [""]

    def every_state() -> bool:
        listed[0] = node.run("get", "pods").stdout
        return all(word in listed[0] for word in STATES)

    try:
        poll("every state there", every_state, timeout=60)
    finally:
        print(listed[0])  # shown by pytest when the wait fails
    assert all(lean_path_taken(node, line) for line in (["get", "pods"], ["get", "pod", "run", "-o", "json"],
                                                       ["get", "pods", "-A", "-o", "wide"]))
    assert not lean_path_taken(node, ["get", "pods", "-o", "yaml"])  # not one of its lines: the full CLI's
    for line in LINES:
        same_output(node, line)

    # Without a supervisor the facts say less (phase Unknown, "not running" message): the same either way.
    daemon = node.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    poll("the daemon to be gone", lambda: not exists(daemon))
    assert "Unknown" in node.run("get", "pods").stdout
    for line in LINES:
        same_output(node, line)


def test_lean_get_leaves_what_it_does_not_take_to_the_full_cli(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("one", sleeper("a")))
    node.wait_running("one")
    for line in (["get", "pod", "missing"], ["get", "pod", "missing", "-o", "json"], ["get", "pods", "-n", "Bad_NS"],
                 ["get", "pods", "-o", "yaml"], ["get", "pod/one"], ["get", "pods", "-o", "bogus"],
                 ["get", "pods", "one", "missing"],
                 ["get", "pod", "-o", "json", "one"], ["-n", "default", "get", "pods"], ["get", "pods", "--debug"]):
        same_output(node, line)
    assert both(node, ["get", "pod", "missing"])[1][0] == 1
