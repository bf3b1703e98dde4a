"""pyrunc-oci's verbs on a living container: exec, ps, pause/resume, update, events, and `run` in the
foreground with a terminal; each seen from the host (/proc/PID/ns, /proc/PID/status, cgroupfs). The bundles
and the teardown leak check are test_oci.py's."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import WAIT, poll
from tests.integration.test_oci import (PYRUNC_OCI, SLEEP, Oci, container_cgroup, hello_through, oci, rootfs,  # noqa: F401
                                        status)

pytestmark = [pytest.mark.root]
NAMESPACES = ("ipc", "uts", "net", "pid", "mnt", "cgroup")


def _ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _cgroups(pid: int) -> list[str]:
    return sorted(Path(f"/proc/{pid}/cgroup").read_text().splitlines())


def _running(oci: Oci, cid: str, edit: Any = None) -> int:
    def full(doc: dict[str, Any]) -> None:
        doc["linux"]["namespaces"].append({"type": "cgroup"})
        if edit is not None:
            edit(doc)

    return oci.run_detached(cid, oci.bundle(SLEEP, full))


def test_exec_joins_the_container_with_its_security(oci: Oci) -> None:
    init = _running(oci, "ex1")
    pid_file = oci.tmp / "exec.pid"
    oci("exec", "--detach", "--pid-file", str(pid_file), "ex1", "sleep", "300")
    pid = int(pid_file.read_text())
    for kind in NAMESPACES:
        assert _ns(pid, kind) == _ns(init, kind), kind
    assert _cgroups(pid) == _cgroups(init)
    mine, theirs = status(pid), status(init)
    for key in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb", "Seccomp", "NoNewPrivs", "Uid", "Gid"):
        assert mine[key] == theirs[key], key
    assert int(mine["NSpid"].split()[-1]) > 1  # a new process inside the pid namespace, not its init
    out = oci("ps", "--format", "json", "ex1")
    assert sorted(json.loads(out.stdout)) == sorted([init, pid])
    table = oci("ps", "ex1").stdout.splitlines()
    assert "PID" in table[0].split() and len(table) == 3
    assert {int(line.split()[1]) for line in table[1:]} == {init, pid}


def test_exec_flags_status_and_errors(oci: Oci) -> None:
    _running(oci, "ex2")
    out = oci("exec", "--env", "GREETING=hi", "--cwd", "/tmp", "--user", "1000:1001", "ex2",
              "sh", "-c", "echo $GREETING; pwd; id -u; id -g; exit 7", check=False)
    assert out.returncode == 7, out.stderr
    assert out.stdout.split() == ["hi", "/tmp", "1000", "1001"]
    out = oci("exec", "--cap", "CAP_SYS_ADMIN", "ex2", "grep", "CapEff", "/proc/self/status")
    eff = int(out.stdout.split()[1], 16)
    assert eff & (1 << 21)  # CAP_SYS_ADMIN, which the default config does not give
    out = oci("exec", "--no-new-privs", "ex2", "grep", "NoNewPrivs", "/proc/self/status")
    assert out.stdout.split()[1] == "1"
    out = oci("exec", "ex2", "no-such-program", check=False)
    assert out.returncode == 255 and "executable file not found" in out.stderr
    out = oci("exec", "ex2", check=False)
    assert out.returncode == 1 and out.stderr.startswith("error: ") and len(out.stderr.splitlines()) == 1
    out = oci("exec", "nobody-here", "true", check=False)
    assert out.returncode == 1 and "does not exist" in out.stderr


def test_exec_process_file(oci: Oci) -> None:
    _running(oci, "ex3")
    doc = {"args": ["sh", "-c", "echo $FROM; id -u"], "env": ["FROM=file", "PATH=/bin:/usr/bin"], "cwd": "/",
           "user": {"uid": 5, "gid": 5}, "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                                          "permitted": ["CAP_KILL"]}}
    (oci.tmp / "process.json").write_text(json.dumps(doc))
    out = oci("exec", "--process", str(oci.tmp / "process.json"), "ex3")
    assert out.stdout.split() == ["file", "5"]
    doc["args"] = ["grep", "CapBnd", "/proc/self/status"]
    (oci.tmp / "process.json").write_text(json.dumps(doc))
    out = oci("exec", "--process", str(oci.tmp / "process.json"), "ex3")
    assert int(out.stdout.split()[1], 16) == 1 << 5  # CAP_KILL alone


def test_exec_tty_through_the_console_socket(oci: Oci) -> None:
    _running(oci, "ex4")
    path = str(oci.tmp / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    pid_file = oci.tmp / "tty.pid"
    proc = subprocess.Popen([*PYRUNC_OCI, "--root", str(oci.root), "exec", "--tty", "--detach", "--console-socket",
                             path, "--pid-file", str(pid_file), "ex4", "sh", "-c", "tty; echo ready; read l; echo got=$l"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    conn, _ = listener.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    listener.close()
    assert proc.wait(WAIT) == 0, proc.stderr.read() if proc.stderr else ""
    (master,) = fds
    assert os.isatty(master)
    text = hello_through(master)
    assert text.decode().splitlines()[0].startswith("/dev/pts/")


def _through_a_terminal(argv: list[str], typed: bytes, until: bytes) -> tuple[int, bytes]:
    """Run argv with a pty as its controlling terminal and stdio (as a user's shell would), type `typed`
    once `until` shows, return its exit status and what it wrote."""
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    text = b""
    sent = False
    while True:
        ready, _, _ = select.select([master], [], [], WAIT)
        if not ready:
            os.kill(pid, 9)
            pytest.fail(f"no output from {argv}: {text!r}")
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
        if not sent and until in text:
            os.write(master, typed)
            sent = True
    _, st = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(st), text


def test_exec_tty_in_the_foreground_relays_the_terminal(oci: Oci) -> None:
    _running(oci, "ex5")
    code, text = _through_a_terminal([*PYRUNC_OCI, "--root", str(oci.root), "exec", "--tty", "ex5", "sh", "-c",
                                      "tty; echo ready; read l; echo got=$l; exit 4"], b"hello\n", b"ready")
    assert code == 4, text
    assert b"/dev/pts/" in text and b"got=hello" in text


def test_run_in_the_foreground_with_a_terminal(oci: Oci) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["process"]["terminal"] = True
        doc["process"]["args"] = ["sh", "-c", "tty; echo ready; read l; echo got=$l; exit 3"]

    bundle = oci.bundle([], edit)
    oci.ids.add("fg")
    code, text = _through_a_terminal([*PYRUNC_OCI, "--root", str(oci.root), "run", "--bundle", str(bundle), "fg"],
                                     b"there\n", b"ready")
    assert code == 3, text
    assert b"/dev/" in text and b"got=there" in text
    assert not (oci.root / "fg").exists()


def test_pause_and_resume(oci: Oci) -> None:
    init = _running(oci, "pz")
    oci("pause", "pz")
    assert oci.state("pz")["status"] == "paused"
    assert status(init)["State"].startswith(("D", "S"))
    freezer = Path("/sys/fs/cgroup/freezer")
    if freezer.is_dir():
        assert (container_cgroup(init, "freezer") / "freezer.state").read_text().strip() == "FROZEN"
    else:
        assert "frozen 1" in (container_cgroup(init, "pids") / "cgroup.events").read_text()
    out = oci("exec", "pz", "true", check=False)
    assert out.returncode == 1 and "paused" in out.stderr
    assert oci("pause", "pz", check=False).returncode == 1
    out = oci("delete", "pz", check=False)
    assert out.returncode == 1 and "paused" in out.stderr
    oci("resume", "pz")
    assert oci.state("pz")["status"] == "running"
    assert oci("resume", "pz", check=False).returncode == 1
    oci("pause", "pz")
    oci("delete", "--force", "pz")  # a frozen container is killed all the same
    assert not (oci.root / "pz").exists()


def test_update_changes_cgroupfs(oci: Oci) -> None:
    init = _running(oci, "up")
    oci("update", "--memory", "64m", "--pids-limit", "33", "--cpu-quota", "30000", "--cpu-period", "60000",
        "--cpu-shares", "512", "up")
    v1 = Path("/sys/fs/cgroup/memory").is_dir()
    if v1:
        assert (container_cgroup(init, "memory") / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (container_cgroup(init, "cpu") / "cpu.cfs_quota_us").read_text().strip() == "30000"
        assert (container_cgroup(init, "cpu") / "cpu.cfs_period_us").read_text().strip() == "60000"
        assert (container_cgroup(init, "cpu") / "cpu.shares").read_text().strip() == "512"
    else:
        group = container_cgroup(init, "memory")
        assert (group / "memory.max").read_text().strip() == str(64 << 20)
        assert (group / "cpu.max").read_text().strip() == "30000 60000"
    assert (container_cgroup(init, "pids") / "pids.max").read_text().strip() == "33"
    (oci.tmp / "res.json").write_text(json.dumps({"pids": {"limit": 44}, "memory": {"limit": 32 << 20}}))
    oci("update", "--resources", str(oci.tmp / "res.json"), "up")
    assert (container_cgroup(init, "pids") / "pids.max").read_text().strip() == "44"
    out = oci("update", "--resources", "-", "--pids-limit", "55", "up", input=b'{"pids": {"limit": 1}}', stdin=None)
    assert out.returncode == 0
    assert (container_cgroup(init, "pids") / "pids.max").read_text().strip() == "55"  # the flag wins
    out = oci("update", "--memory", "lots", "up", check=False)
    assert out.returncode == 1 and out.stderr.startswith("error: --memory")


def test_events_stats_json(oci: Oci) -> None:
    _running(oci, "ev")
    oci("update", "--pids-limit", "40", "ev")
    event = json.loads(oci("events", "--stats", "ev").stdout)
    assert event["type"] == "stats" and event["id"] == "ev"
    data = event["data"]
    assert data["pids"] == {"current": 1, "limit": 40}
    assert data["cpu"]["usage"]["total"] > 0
    assert data["memory"]["usage"]["usage"] > 0 and "limit" in data["memory"]["usage"]
    proc = subprocess.Popen([*PYRUNC_OCI, "--root", str(oci.root), "events", "--interval", "100ms", "ev"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline()) if proc.stdout else {}
        second = json.loads(proc.stdout.readline()) if proc.stdout else {}
        assert first["type"] == second["type"] == "stats"
        oci("kill", "ev", "KILL")
        assert proc.wait(WAIT) == 0  # the stream ends with the container
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_oom_event_on_cgroup_v1(oci: Oci) -> None:
    if not Path("/sys/fs/cgroup/memory").is_dir():
        pytest.skip("the OOM eventfd is cgroup v1's (v2: memory.events, polled)")
    _running(oci, "oom", lambda d: d["linux"].setdefault("resources", {}).update(memory={"limit": 16 << 20,
                                                                                        "swap": 16 << 20}))
    proc = subprocess.Popen([*PYRUNC_OCI, "--root", str(oci.root), "events", "--interval", "60s", "oom"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout and json.loads(proc.stdout.readline())["type"] == "stats"
        oci("exec", "oom", "sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#x}", check=False)
        assert json.loads(proc.stdout.readline()) == {"type": "oom", "id": "oom"}
    finally:
        proc.kill()
        proc.wait()


def test_verbs_on_a_stopped_container(oci: Oci) -> None:
    oci.ids.add("gone")
    bundle = oci.bundle(["true"])
    oci("run", "--detach", "--bundle", str(bundle), "gone")
    poll("the container to stop", lambda: oci.state("gone")["status"] == "stopped")
    for verb in (["exec", "gone", "true"], ["ps", "gone"], ["pause", "gone"], ["update", "--pids-limit", "3", "gone"],
                 ["events", "--stats", "gone"]):
        out = oci(*verb, check=False)
        assert out.returncode in (1, 255) and out.stderr.startswith("error: "), verb
