"""attach to a container's main process: `stdin`/`tty` containers, through the CLI (issue 11, item 6)."""

from __future__ import annotations

import subprocess
import termios
from pathlib import Path

import pytest

from tests import terminal
from tests.integration.helpers import PYRUNC, REPO, WAIT, Node, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = pytest.mark.root

SHELL = """  - name: shell
    image: busybox
    command: [sh]
    stdin: true
    tty: true
"""
READER = """  - name: reader
    image: busybox
    command: [sh, -c, 'while read line; do echo "got:$line"; echo "err:$line" >&2; done; echo stdin-closed']
    stdin: true
{once}"""


class Terminal(terminal.Terminal):
    """The shared test terminal, running `pyrunc attach`."""

    def start(self, node: Node, *args: str) -> subprocess.Popen[bytes]:
        return self.run(node.root, "attach", *args)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=WAIT)


def test_attach_it_to_a_tty_container_sends_a_line_and_sees_the_reply(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("term", SHELL))
    node.wait_running("term")
    socket_file = node.pod_dir("term") / "containers" / "shell" / "attach.sock"
    assert oct(socket_file.stat().st_mode & 0o777) == "0o600"
    term = Terminal(rows=33, cols=111)
    caller = term.start(node, "-it", "term")
    try:
        term.expect("If you don't see a command prompt, try pressing enter.")
        term.type("\r")
        term.expect("# ")
        term.type("tty; stty size; echo RE''ADY\r")  # quoted: the echo of what is typed never matches
        out = term.expect("READY\r\n")
        assert "/dev/pts/0" in out and "33 111" in out, out
        assert termios.tcgetattr(term.slave) != term.modes  # raw while attached
    finally:
        stop(caller)  # the attach goes; the container and its terminal stay
        term.close()
    assert node.pod_json("term")["status"]["containerStatuses"][0]["restartCount"] == 0
    # A second session: the shell is still there, its input open (no stdinOnce); what it printed is in the log.
    term = Terminal()
    caller = term.start(node, "-it", "term", "-c", "shell")
    try:
        term.type("echo SEC''OND\r")
        term.expect("SECOND\r\n")
        term.type("exit 0\r")  # the main process ends: so does the attach
        assert caller.wait(timeout=WAIT) == 0
        assert termios.tcgetattr(term.slave) == term.modes, "the caller's terminal modes were not restored"
    finally:
        stop(caller)
        term.close()
    node.wait_log("term", "shell", "READY", "-p")  # the instance that exited: restartPolicy Always made another


def attach_reading(node: Node, tmp_path: Path, *args: str, text: str, input: bytes) -> str:
    """`attach ARGS` fed `input` (then EOF); its output (both streams) once `text` is in it; then it is killed:
    without stdinOnce an attach streams for as long as the container runs, as kubectl's."""
    out = tmp_path / "attach.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen([*PYRUNC, "--root", node.root, "attach", *args], cwd=str(REPO), stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
        try:
            assert proc.stdin is not None
            proc.stdin.write(input)
            proc.stdin.close()
            return str(poll(f"{text!r} through attach", lambda: text in out.read_text() and out.read_text()))
        finally:
            stop(proc)


def test_attach_i_without_tty_relays_stdin_and_both_streams(node: Node, tmp_path: Path) -> None:  # noqa: F811
    node.apply(pod_yaml("rd", READER.format(once="")))
    node.wait_running("rd")
    out = attach_reading(node, tmp_path, "-i", "rd", text="err:hello", input=b"hello\n")
    assert "got:hello" in out
    # Without stdinOnce the container's stdin stays open after the session (and its EOF): it still reads.
    out = attach_reading(node, tmp_path, "-i", "rd", text="got:again", input=b"again\n")
    assert "stdin-closed" not in out
    assert "running" in node.pod_json("rd")["status"]["containerStatuses"][0]["state"]
    node.wait_log("rd", "reader", "got:again")


def test_stdin_once_closes_the_containers_stdin_after_the_first_session(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("once", READER.format(once="    stdinOnce: true\n"), "  restartPolicy: Never\n"))
    node.wait_running("once")
    proc = node.run("attach", "-i", "once", input="only\n")
    assert "got:only" in proc.stdout
    poll("the container ends on its stdin's EOF",
         lambda: node.pod_json("once")["status"]["phase"] == "Succeeded")
    assert "stdin-closed" in node.run("logs", "once").stdout


def test_attach_without_i_streams_output_only(node: Node, tmp_path: Path) -> None:  # noqa: F811
    ticker = """  - name: tick
    image: busybox
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done']
"""
    node.apply(pod_yaml("tick", ticker))
    node.wait_running("tick")
    attach_reading(node, tmp_path, "tick", text="tick-", input=b"")


def test_attach_refuses_what_the_container_was_not_started_with(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("plain", sleeper("app")))
    node.wait_running("plain")
    proc = node.run("attach", "-i", "plain", check=False)
    assert (proc.returncode, proc.stderr) == (1, 'error: container app: -i needs a container started with "stdin: true"\n')
    proc = node.run("attach", "nope", check=False)
    assert (proc.returncode, proc.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')
