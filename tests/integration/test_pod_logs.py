"""`pyrunc logs`: stdout and stderr, --tail, --timestamps, --previous after a restart, --follow.

The node's back-off is capped at 1 s (kubelet crashLoopBackOff.maxContainerRestartPeriod) so a
crashing container restarts quickly; waits are polled, never timed.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.integration.helpers import PYRUNC, REPO, Node, pod_yaml, poll

pytestmark = [pytest.mark.root, pytest.mark.network]

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")

PODS = pod_yaml("talk", """  - name: talk
    image: busybox
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo out-$i; done; echo err-1 >&2; trap "exit 0" TERM; sleep 3600 & wait']
  - name: crash
    image: busybox
    command: [sh, -c, 'echo run-$(cat /proc/sys/kernel/random/uuid); exit 3']
  - name: brief
    image: busybox
    command: [sh, -c, 'echo start; sleep 2; echo end']
""")


@pytest.fixture(scope="module")
def logs_node(tmp_path_factory: pytest.TempPathFactory):
    from tests.integration.helpers import _node

    yield from _node(tmp_path_factory.mktemp("logs"), crashloop_max_backoff=1)


@pytest.fixture(scope="module")
def talk(logs_node: Node) -> Node:
    logs_node.apply(PODS)
    logs_node.wait_log("talk", "talk", "err-1")
    return logs_node


def test_stdout_and_stderr_lines(talk: Node) -> None:
    out = talk.run("logs", "talk", "-c", "talk").stdout
    assert out == "out-1\nout-2\nout-3\nout-4\nout-5\nerr-1\n"


def test_tail(talk: Node) -> None:
    assert talk.run("logs", "talk", "-c", "talk", "--tail", "2").stdout == "out-5\nerr-1\n"
    assert talk.run("logs", "talk", "-c", "talk", "--tail", "0").stdout == ""


def test_timestamps(talk: Node) -> None:
    lines = talk.run("logs", "talk", "-c", "talk", "--timestamps").stdout.splitlines()
    assert len(lines) == 6
    for line in lines:
        assert RFC3339_NANO.match(line), line
    assert [line.split(" ", 1)[1] for line in lines] == ["out-1", "out-2", "out-3", "out-4", "out-5", "err-1"]


def test_default_container_named_on_stderr(talk: Node) -> None:
    proc = talk.run("logs", "talk")
    assert proc.stdout.startswith("out-1\n")
    assert 'Defaulted container "talk"' in proc.stderr


def test_previous_after_restart(talk: Node) -> None:
    poll("a restart of crash", lambda: talk.state("talk", "crash").get("restartCount", 0) >= 1)
    previous = talk.run("logs", "talk", "-c", "crash", "-p").stdout
    assert re.fullmatch(r"run-[0-9a-f-]{36}\n", previous), previous
    current = poll("the current instance's log", lambda: talk.run("logs", "talk", "-c", "crash").stdout)
    assert re.fullmatch(r"run-[0-9a-f-]{36}\n", current) and current != previous
    status = next(s for s in talk.pod_json("talk")["status"]["containerStatuses"] if s["name"] == "crash")
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 3


def test_previous_without_restart_is_an_error(talk: Node) -> None:
    proc = talk.run("logs", "talk", "-c", "talk", "-p", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "previous" in proc.stderr


def test_follow_goes_on_across_a_restart(talk: Node) -> None:
    # `brief` prints start, sleeps 2 s, prints end and exits, then restarts (restartPolicy Always):
    # its next instance writes a new log file. -f prints both lines of the first instance and goes
    # on with the next one (issue 11; kubectl's -f would end with the first instance).
    proc = subprocess.Popen([*PYRUNC, "--root", talk.root, "logs", "talk", "-c", "brief", "-f"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    import threading

    watchdog = threading.Timer(60, proc.kill)  # a broken run must not hang the suite
    watchdog.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the restart coming (back-off capped at 1 s)
            lines.append(line)
            if lines.count("start\n") >= 2:
                break
    finally:
        watchdog.cancel()
        proc.kill()  # by pid; deletion ending a follow is tested in test_cirun.py
        proc.wait()
    assert lines[0] == "start\n" and "end\n" in lines, lines
    assert lines.index("end\n") < len(lines) - 1  # a line after the first instance's end


def test_the_log_file_of_an_ended_instance_is_closed(tmp_path) -> None:  # noqa: ANN001
    """A process outliving its container's PID 1 (shared PID namespace) holds the stdout pipe until
    the restart kills it; the supervisor must still close that instance's log file afterwards."""
    import os

    from tests.integration.helpers import _node

    straggler = "  - name: c\n    image: busybox\n    command: [sh, -c, 'sleep 600 & echo first; exit 1']\n"
    for n in _node(tmp_path, crashloop_max_backoff=1):
        n.apply(pod_yaml("strag", straggler, extra_spec="  shareProcessNamespace: true\n"))
        poll("two restarts", lambda: n.state("strag", "c").get("restartCount", 0) >= 2)
        old_log = str(n.log_dir("strag", "c") / "0.log")
        assert "first" in open(old_log).read()
        daemon = n.daemon_pid()

        def old_log_open() -> bool:
            fds = os.listdir(f"/proc/{daemon}/fd")
            return any(os.path.realpath(f"/proc/{daemon}/fd/{fd}") == old_log for fd in fds)

        poll("the first instance's log file to be closed", lambda: not old_log_open())
