"""Upgrades under running pods (issue 9 item 9).

A supervisor started from one install keeps serving its root while that install's files change or
go. The CLI and the supervisor compare their build and protocol on every request: a supervisor
of another build hands the node over (it exits leaving the pods running, as after a SIGKILL) and
the CLI starts a supervisor of its own build, which adopts them. Tested by starting a supervisor
from a copy of the package that differs from the current one (an older build), removing the copy,
then applying and deleting pods with the current CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import REPO, Node, alive, exists, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]


def old_install(base: Path) -> Path:
    """A copy of the package whose files differ from the current ones: another build, same version."""
    copy = base / "old-install"
    shutil.copytree(REPO / "pyrunc", copy / "pyrunc", ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "pyrunc" / "supervisor" / "daemon.py", "a", encoding="utf-8") as f:
        f.write("\n# an older build of this file\n")
    return copy


def run_from(install: Path, n: Node, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI of `install` (its own directory first on the path, as its entry point would have it)."""
    env = {**os.environ, "PYTHONPATH": str(install)}
    proc = subprocess.run([sys.executable, "-m", "pyrunc", "--root", n.root, *args], input=input, env=env,
                          cwd=str(install), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"old CLI {args}: {proc.stdout}{proc.stderr}"
    return proc


def first_on_path(pid: int) -> str:
    """The first PYTHONPATH entry of a process: where its `pyrunc` package was imported from."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    return env.get(b"PYTHONPATH", b"").decode().split(os.pathsep)[0]


def test_supervisor_of_a_removed_install_hands_over_to_the_current_one(node: Node, tmp_path: Path) -> None:  # noqa: F811
    install = old_install(tmp_path)
    first = pod_yaml("upgrade-a", sleeper("c"))
    node.pods.add(("default", "upgrade-a"))
    assert run_from(install, node, "apply", "-f", "-", input=first).stdout == "pod/upgrade-a created\n"
    node.wait_running("upgrade-a")
    container = node.container_pid("upgrade-a", "c")
    old = node.daemon_pid()
    node.daemon_pids.add(old)
    assert first_on_path(old) == str(install), "the supervisor must run the copy"

    shutil.rmtree(install)  # the install it runs from is gone (an upgrade, a removed checkout)

    assert node.apply(pod_yaml("upgrade-b", sleeper("c"))).stdout == "pod/upgrade-b created\n"
    new = node.daemon_pid()
    # Dead: it may stay a zombie until its parent reaps it (init here: the CLI that started it is gone).
    assert new != old and not alive(old), "the supervisor of the removed install must have left"
    assert first_on_path(new) == str(REPO)
    # The first pod's container ran on through the handover and was adopted, not restarted.
    node.wait_running("upgrade-a")
    node.wait_running("upgrade-b")
    assert node.container_pid("upgrade-a", "c") == container and alive(container)
    assert node.pod_json("upgrade-a")["status"]["containerStatuses"][0]["restartCount"] == 0
    log = Path(node.root, "daemon.log").read_text()
    assert "handing over" in log and f"daemon {old} exits (handed over)" in log
    assert "late import of pyrunc" not in log

    node.delete("upgrade-a")
    node.delete("upgrade-b")
    assert not alive(container)
    # The node fixture's teardown checks that nothing of either pod, nor the supervisor, is left.
