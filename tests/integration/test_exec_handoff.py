"""`pyrunc exec` handed to the supervisor (supervisor/exec_handoff.py), and its fallbacks (cli/entry.py).

Real pods through the CLI; who runs what is read from the host's /proc: the command's joiner is a child of
a fork of the supervisor (the exec child), which holds the caller's stdio and nothing of the supervisor's.
The isolation checks every exec must pass are tests/integration/test_security_exec.py's (they run this path).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, WAIT, Node, _node, pod_yaml, poll, sleeper

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    nodes = _node(tmp_path_factory.mktemp("node"), network="none")
    node = next(nodes)
    try:
        node.apply(pod_yaml("hand", sleeper("app") + sleeper("side")))
        node.wait_running("hand")
        yield node
    finally:
        next(nodes, None)


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def inodes(pid: int) -> set[str]:
    out = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            continue
        if target.startswith(("pipe:", "socket:")):
            out.add(target)
    return out


def host_pids(node: Node, container: str, argv: list[str]) -> list[int]:
    """Host pids of the processes in the container's PID namespace running `argv`."""
    ns = os.readlink(f"/proc/{node.container_pid('hand', container)}/ns/pid")
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")[:-1]
            if os.readlink(f"/proc/{name}/ns/pid") == ns and [a.decode() for a in cmdline] == argv:
                found.append(int(name))
        except OSError:
            pass
    return found


def start(node: Node, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*PYRUNC, "--root", node.root, "exec", *args], cwd=str(REPO), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def test_the_exec_runs_in_a_fork_of_the_supervisor_that_holds_nothing_of_it(pod: Node) -> None:
    daemon = pod.daemon_pid()
    caller = start(pod, "hand", "-c", "app", "--", "sleep", "41")
    try:
        cmd = poll("sleep 41 inside", lambda: (host_pids(pod, "app", ["sleep", "41"]) or [0])[0])
        joiner = parent(cmd)
        exec_child = parent(joiner)
        assert parent(exec_child) == daemon, "the exec did not run in a child of the supervisor"
        assert exec_child != caller.pid
        supervisor = inodes(daemon)
        assert supervisor, "the daemon holds pipes and sockets: the check below must be able to fail"
        assert not inodes(exec_child) & supervisor, "the exec child kept descriptors of the supervisor"
        # It holds the caller's own stdout and stderr (relayed from the command's pipes, never passed in).
        assert {os.readlink(f"/proc/{caller.pid}/fd/{n}") for n in (1, 2)} <= inodes(exec_child)
        assert not inodes(cmd) & inodes(caller.pid)
    finally:
        caller.send_signal(signal.SIGINT)  # forwarded: CLI -> exec child -> joiner -> the command
        _, err = caller.communicate(timeout=WAIT)
    assert caller.returncode == 128 + signal.SIGINT, err


def test_output_status_and_stdin_through_the_supervisor(pod: Node) -> None:
    proc = pod.run("exec", "-i", "hand", "-c", "side", "--", "sh", "-c", "cat; echo to-err >&2; exit 7",
                   input="piped in\n", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "piped in\n", "to-err\n")
    missing = pod.run("exec", "hand", "-c", "side", "--", "no-such-command", check=False)
    assert missing.returncode == 127
    assert missing.stderr == 'error: exec: "no-such-command": executable file not found in $PATH\n'


def test_a_killed_cli_ends_its_exec_child(pod: Node) -> None:
    """As when the CLI process relayed the exec itself: the relay stops once its caller is gone."""
    daemon = pod.daemon_pid()
    caller = start(pod, "hand", "-c", "app", "--", "sleep", "42")
    cmd = poll("sleep 42 inside", lambda: (host_pids(pod, "app", ["sleep", "42"]) or [0])[0])
    exec_child = parent(parent(cmd))
    assert parent(exec_child) == daemon
    caller.kill()
    caller.wait(timeout=WAIT)
    poll("the exec child gone", lambda: not os.path.exists(f"/proc/{exec_child}"))
    os.kill(cmd, signal.SIGKILL)  # the command itself is the container's (as before): not left to the teardown


def test_errors_are_the_full_clis(pod: Node) -> None:
    """Whatever the lean path does not take, the full CLI answers, word for word as before."""
    nopod = pod.run("exec", "nothere", "--", "true", check=False)
    assert (nopod.returncode, nopod.stderr) == (1, 'Error from server (NotFound): pods "nothere" not found\n')
    bad = pod.run("exec", "hand", "-c", "nope", "--", "true", check=False)
    assert (bad.returncode, bad.stderr) == (1, "error: container nope is not valid for pod hand\n")
    flag = pod.run("exec", "hand", "--bogus", "--", "true", check=False)
    assert flag.returncode == 1 and flag.stderr.startswith("error: unrecognized arguments: --bogus")
    nocmd = pod.run("exec", "hand", check=False)
    assert (nocmd.returncode, nocmd.stderr) == (1, "error: you must specify at least one command for the container\n")
    namespace = pod.run("exec", "-n", "Bad_NS", "hand", "--", "true", check=False)
    assert namespace.returncode == 1 and namespace.stderr.startswith("error: -n/--namespace: ")


def test_in_process_without_a_supervisor_that_takes_it(pod: Node) -> None:
    """PYRUNC_EXEC_IN_PROCESS=1, or a supervisor without the exec socket: the CLI runs the exec itself."""
    caller = start(pod, "hand", "-c", "app", "--", "sleep", "43", env={"PYRUNC_EXEC_IN_PROCESS": "1"})
    try:
        cmd = poll("sleep 43 inside", lambda: (host_pids(pod, "app", ["sleep", "43"]) or [0])[0])
        assert parent(parent(cmd)) == caller.pid
    finally:
        caller.send_signal(signal.SIGTERM)
        caller.communicate(timeout=WAIT)
    assert caller.returncode == 128 + signal.SIGTERM
    sock = Path(pod.root, "exec.sock")
    moved = Path(pod.root, "exec.sock.away")
    sock.rename(moved)  # as an older supervisor, which has daemon.sock only
    try:
        proc = pod.run("exec", "hand", "-c", "side", "--", "sh", "-c", "echo here; exit 5", check=False)
        assert (proc.returncode, proc.stdout) == (5, "here\n")
        assert os.path.exists(f"/proc/{pod.daemon_pid()}"), "the supervisor handed over"
    finally:
        moved.rename(sock)


@pytest.mark.parametrize("closed", ["0", "1", "2"])
def test_a_closed_stdio_descriptor_is_sent_as_dev_null(pod: Node, closed: str) -> None:
    """The CLI's socket must not take the closed number and be sent as that stream."""
    cli = " ".join([*PYRUNC, "--root", pod.root, "exec", "-i", "hand", "-c", "side", "--", "sh", "-c",
                    "'cat; echo out; echo err >&2; ls -l /proc/self/fd/ >&2; exit 6'"])
    proc = subprocess.run(["sh", "-c", f"{cli} {closed}<&-"], input="in\n", capture_output=True, text=True,
                          cwd=str(REPO), timeout=WAIT)
    assert proc.returncode == 6, proc.stderr
    assert proc.stdout == {"0": "out\n", "1": "", "2": "in\nout\n"}[closed]
    assert "socket:" not in proc.stderr
    assert ("err\n" in proc.stderr) == (closed != "2")
