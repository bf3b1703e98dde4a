"""exec and exec probes never hand the host's descriptors or terminal to a container (issue 8, item 6).

Real pods through the CLI; every fact is read from the host: /proc/PID/fd of the exec'd process and of its
joiner, /proc/PID/stat (session, controlling terminal), st_dev of a pty against the container's devpts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
from pathlib import Path
from typing import Iterator

import pytest

from tests import terminal
from tests.integration.helpers import PYRUNC, REPO, WAIT, Node, _node, pod_yaml, poll, sleeper, spawner_pids

pytestmark = pytest.mark.root

PROBE_SLEEP = "33"  # the readiness probe's `sleep` argument: finds that process among the container's
PROBED = sleeper("probed", f"""    readinessProbe:
      exec: {{command: [sleep, "{PROBE_SLEEP}"]}}
      timeoutSeconds: 60
      periodSeconds: 1
""")


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One pod (no network): `app` for exec, `probed` whose readiness probe keeps a `sleep` running inside."""
    nodes = _node(tmp_path_factory.mktemp("node"), network="none")
    node = next(nodes)
    try:
        node.apply(pod_yaml("sec", sleeper("app") + PROBED))
        node.wait_running("sec")
        yield node
    finally:
        next(nodes, None)


# --- looking from the host ----------------------------------------------------------------------------------------
def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, session, tty_nr, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def fd_targets(pid: int) -> dict[int, str]:
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    return out


def argv_of(pid: int) -> list[str]:
    try:
        return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    except OSError:
        return []


def in_container(node: Node, container: str, argv: list[str]) -> list[int]:
    """Host pids of the processes in the container's PID namespace whose command line is `argv`."""
    ns = os.readlink(f"/proc/{node.container_pid('sec', container)}/ns/pid")
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns and argv_of(int(name)) == argv:
                    found.append(int(name))
            except OSError:
                pass
    return found


def find_one(node: Node, container: str, argv: list[str]) -> int:
    return poll(f"{argv} in {container}", lambda: (in_container(node, container, argv) or [0])[0])


def assert_only_stdio(pid: int) -> dict[int, str]:
    fds = fd_targets(pid)
    assert sorted(fds) == [0, 1, 2], f"pid {pid} ({argv_of(pid)}) holds {fds}"
    return fds


def inode_set(pid: int) -> set[str]:
    """The pipes and sockets a process holds, as /proc shows them (pipe:[N], socket:[N])."""
    return {t for t in fd_targets(pid).values() if t.startswith(("pipe:", "socket:"))}


def start_exec(node: Node, *args: str, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*PYRUNC, "--root", node.root, "exec", *args], cwd=str(REPO), **kw)  # type: ignore


# --- descriptors --------------------------------------------------------------------------------------------------
def host_etc_fd() -> int:
    """An inheritable descriptor on the host's /etc, as a shell's `N</etc` (a number pytest does not use)."""
    etc = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = fcntl.fcntl(etc, fcntl.F_DUPFD, 200)
    finally:
        os.close(etc)
    os.set_inheritable(fd, True)
    return fd


def test_an_extra_descriptor_of_the_caller_is_not_visible_inside(pod: Node) -> None:
    fd = host_etc_fd()
    try:
        run = lambda *cmd: subprocess.run([*PYRUNC, "--root", pod.root, "exec", "sec", "-c", "app", "--", *cmd],
                                          pass_fds=(fd,), capture_output=True, text=True, cwd=str(REPO))
        # The control: a process started the same way on the host does see the host's /etc through it.
        control = subprocess.run(["sh", "-c", f"ls /proc/self/fd/{fd}/"], pass_fds=(fd,), capture_output=True,
                                 text=True)
        assert "passwd" in control.stdout.split()
        listing = run("ls", "/proc/self/fd")
        assert listing.returncode == 0, listing.stderr
        assert sorted(int(n) for n in listing.stdout.split()) == [0, 1, 2, 3]  # 3: ls's own directory
        through = run("ls", f"/proc/self/fd/{fd}/")
        assert through.returncode != 0 and "passwd" not in through.stdout
    finally:
        os.close(fd)


def test_the_callers_stdio_files_are_relayed_not_passed(pod: Node, tmp_path: Path) -> None:
    """Host files on stdin and stdout: the command gets pipes (reopening /proc/self/fd/N reaches no host
    file), reads the input and its output still lands in the file."""
    source, sink_path = tmp_path / "in", tmp_path / "out"
    source.write_text("from the host\n")
    script = "cat; readlink /proc/self/fd/0; readlink /proc/self/fd/1; echo overwritten > /proc/self/fd/0"
    with open(source, "rb") as stdin, open(sink_path, "wb") as sink:
        proc = subprocess.run([*PYRUNC, "--root", pod.root, "exec", "-i", "sec", "-c", "app", "--", "sh", "-c", script],
                              stdin=stdin, stdout=sink, stderr=subprocess.PIPE, cwd=str(REPO), timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    assert source.read_text() == "from the host\n"
    lines = sink_path.read_text().splitlines()
    assert len(lines) == 3 and lines[0] == "from the host", lines
    assert all(t.startswith("pipe:[") for t in lines[1:]), lines


def test_an_exec_process_holds_only_its_stdio_and_leads_its_session(pod: Node) -> None:
    fd = host_etc_fd()
    try:
        caller = start_exec(pod, "sec", "-c", "app", "--", "sleep", "32", pass_fds=(fd,),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        os.close(fd)
    try:
        cmd = find_one(pod, "app", ["sleep", "32"])
        fds = assert_only_stdio(cmd)
        assert fds[0] == "/dev/null"
        assert fds[1].startswith("pipe:[") and fds[2].startswith("pipe:[")
        callers = fd_targets(caller.pid)
        assert not {fds[1], fds[2]} & {callers[1], callers[2]}, "the caller's own stdout/stderr went inside"
        state = stat_fields(cmd)
        assert int(state[3]) == cmd, "not a session leader"
        assert int(state[4]) == 0, "it has a controlling terminal"
        joiner = int(state[1])  # outside the container's PID namespace: seen from the host only
        assert_only_stdio(joiner)
        assert int(stat_fields(joiner)[3]) == joiner
        assert os.readlink(f"/proc/{joiner}/ns/pid") != os.readlink(f"/proc/{cmd}/ns/pid")
    finally:
        caller.send_signal(signal.SIGTERM)  # forwarded through the joiner to the command
        _, err = caller.communicate(timeout=WAIT)
    assert caller.returncode == 128 + signal.SIGTERM, err


def test_a_signal_ending_the_command_is_128_plus_n(pod: Node) -> None:
    assert pod.exec("sec", "app", "sh", "-c", "kill -9 $$", check=False).returncode == 137


def test_an_exec_probe_holds_nothing_of_the_supervisor(pod: Node) -> None:
    daemon = pod.daemon_pid()
    cmd = find_one(pod, "probed", ["sleep", PROBE_SLEEP])
    fds = assert_only_stdio(cmd)
    assert fds[0] == "/dev/null" and fds[1] == fds[2] and fds[1].startswith("pipe:[")
    state = stat_fields(cmd)
    assert int(state[3]) == cmd and int(state[4]) == 0
    joiner = int(state[1])
    assert_only_stdio(joiner)
    supervisor = inode_set(daemon)
    assert supervisor, "the daemon holds pipes and sockets: the check below must be able to fail"
    assert not (inode_set(cmd) | inode_set(joiner)) & supervisor
    # The probe child (outside the container) holds its message pipe to the daemon and the command's output. It
    # is a child of the daemon's action spawner (pyrunc/probe/spawner.py), or of the daemon while that starts.
    child = int(stat_fields(joiner)[1])
    forker = int(stat_fields(child)[1])
    assert forker == daemon or forker in spawner_pids(daemon), argv_of(forker)
    shared = inode_set(child) & supervisor
    assert len(shared) == 1 and not any(t.startswith("socket:") for t in inode_set(child)), fd_targets(child)


# --- terminals ----------------------------------------------------------------------------------------------------
class Terminal(terminal.Terminal):
    """The shared test terminal, running `pyrunc exec`."""

    def __init__(self, rows: int = 33, cols: int = 111) -> None:
        super().__init__(rows, cols)

    def start(self, node: Node, *args: str, stdin: bool = True) -> subprocess.Popen[bytes]:
        return self.run(node.root, "exec", *args, stdin=stdin)

    @contextlib.contextmanager
    def session(self, node: Node, *args: str, stdin: bool = True) -> Iterator[subprocess.Popen[bytes]]:
        """The CLI on this terminal; whatever happens, it is gone (killed if still running) and the
        terminal closed at the end."""
        caller = self.start(node, *args, stdin=stdin)
        try:
            yield caller
        finally:
            if caller.poll() is None:
                caller.kill()
                caller.wait()
            self.close()


def test_exec_it_gets_a_pty_of_the_containers_devpts(pod: Node) -> None:
    term = Terminal(rows=33, cols=111)
    with term.session(pod, "-it", "sec", "-c", "app", "--", "sh") as caller:
        term.expect("# ")  # the prompt: the pty is there and the relay runs
        term.type("tty; stty size; echo RE''ADY\r")  # quoted: the echo of what is typed never matches
        out = term.expect("READY\r\n")
        assert "/dev/pts/" in out and "33 111" in out, out
        shell = find_one(pod, "app", ["sh"])
        fds = fd_targets(shell)
        # The path is as the test's root sees the container's devpts (in the QEMU guest the test runs
        # chrooted, so the kernel prefixes it); the device number below is what proves whose pty it is.
        assert re.search(r"/dev/pts/\d+$", fds[0]) and fds[0] == fds[1] == fds[2], fds
        inside = os.stat(f"/proc/{shell}/fd/0")
        container_pts = os.stat(f"/proc/{pod.container_pid('sec', 'app')}/root/dev/pts")
        assert inside.st_dev == container_pts.st_dev, "the pty is not from the container's devpts"
        assert inside.st_dev != os.stat("/dev/pts").st_dev
        outer = os.fstat(term.slave)
        for pid in (shell, int(stat_fields(shell)[1])):  # the shell and its joiner
            for fd in fd_targets(pid):
                st = os.stat(f"/proc/{pid}/fd/{fd}")
                assert (st.st_dev, st.st_ino) != (outer.st_dev, outer.st_ino), "the caller's terminal went in"
        assert int(stat_fields(shell)[3]) == shell and int(stat_fields(shell)[4]) == inside.st_rdev  # its ctty
        # Ctrl-C is a byte for the pty inside: the container's line discipline interrupts the sleep.
        term.type("sleep 100\r")
        find_one(pod, "app", ["sleep", "100"])
        term.type("\x03")
        poll("sleep 100 interrupted", lambda: not in_container(pod, "app", ["sleep", "100"]))
        term.type("echo rc=$?\r")
        term.expect("rc=130")
        term.type("exit 3\r")
        assert caller.wait(timeout=WAIT) == 3
        assert termios.tcgetattr(term.slave) == term.modes, "the caller's terminal modes were not restored"


def test_window_size_changes_follow_the_caller(pod: Node) -> None:
    term = Terminal(rows=20, cols=70)
    with term.session(pod, "-it", "sec", "-c", "app", "--", "sh") as caller:
        term.expect("# ")
        term.type("stty size; echo O''NE\r")
        assert "20 70" in term.expect("ONE\r\n")
        fcntl.ioctl(term.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 41, 132, 0, 0))
        # The kernel signals the foreground group of a terminal's session; the CLI here has none: by hand.
        os.kill(caller.pid, signal.SIGWINCH)
        term.type("stty size; echo T''WO\r")
        out = term.expect("TWO\r\n")
        assert "41 132" in out.split("ONE\r\n", 1)[1], out
        term.type("exit 0\r")
        assert caller.wait(timeout=WAIT) == 0


def test_without_t_a_terminal_of_the_caller_is_relayed_through_pipes(pod: Node) -> None:
    term = Terminal()
    with term.session(pod, "-i", "sec", "-c", "app", "--", "sh", "-c", "echo HELLO; exec sleep 35") as caller:
        term.expect("HELLO")  # relayed to the caller's terminal
        cmd = find_one(pod, "app", ["sleep", "35"])
        fds = assert_only_stdio(cmd)
        assert all(t.startswith("pipe:[") for t in fds.values()), fds
        assert int(stat_fields(cmd)[4]) == 0, "it has a controlling terminal"
        assert int(stat_fields(cmd)[3]) == cmd
        caller.send_signal(signal.SIGTERM)
        caller.wait(timeout=WAIT)


def test_t_without_a_terminal_on_stdin_says_so_and_runs_without_one(pod: Node) -> None:
    proc = pod.run("exec", "-it", "sec", "-c", "app", "--", "sh", "-c", "tty; cat", input="piped\n", check=False)
    assert "Unable to use a TTY - input is not a terminal or the right kind of file" in proc.stderr
    assert proc.stdout == "not a tty\npiped\n" and proc.returncode == 0


def test_t_without_i_is_no_tty_as_in_kubectl(pod: Node) -> None:
    """kubectl's SetupTTY: without -i there is no stdin stream, so no TTY either, and no message."""
    term = Terminal()
    with term.session(pod, "-t", "sec", "-c", "app", "--", "sh", "-c", "tty; echo D''ONE") as caller:
        out = term.expect("DONE")
        assert "not a tty" in out and "Unable to use a TTY" not in out, out
        assert caller.wait(timeout=WAIT) == 0


def test_exec_it_ends_on_sigterm_with_the_terminal_restored_and_the_pty_hung_up(pod: Node) -> None:
    term = Terminal()
    with term.session(pod, "-it", "sec", "-c", "app", "--", "sh") as caller:
        term.expect("# ")
        shell = find_one(pod, "app", ["sh"])
        assert termios.tcgetattr(term.slave) != term.modes  # raw while relaying
        caller.send_signal(signal.SIGTERM)
        assert caller.wait(timeout=WAIT) == 128 + signal.SIGTERM
        assert termios.tcgetattr(term.slave) == term.modes
        poll("the shell inside hung up", lambda: shell not in in_container(pod, "app", ["sh"]))
