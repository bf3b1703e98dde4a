"""pyrunc-oci exec through its launcher (-I -S: the lean path, docs/performance.md), seen from the host: the
exit statuses, the signals it forwards, the descriptors it passes and closes, a container with seccomp (whose
filter needs the virtualenv's pyseccomp: the launcher loads site for it).

tests/integration/test_oci_verbs.py runs exec through `python -m pyrunc.oci` (with site) for every flag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_oci import SLEEP, Oci, oci, rootfs  # noqa: F401 - fixtures

pytestmark = [pytest.mark.root]
REPO = Path(__file__).resolve().parents[2]
WAIT = 60


@pytest.fixture
def launcher(tmp_path: Path) -> list[str]:
    dest = tmp_path / "pyrunc-oci"
    subprocess.run(["sh", str(REPO / "scripts" / "write-launcher.sh"), sys.executable, str(REPO), str(dest), "oci"],
                   check=True)
    return [str(dest)]


def _exec(oci: Oci, launcher: list[str], *args: str) -> subprocess.CompletedProcess:
    # Files, not pipes: a detached command keeps them open (no EOF while it lives).
    with open(oci.tmp / "out", "w+") as so, open(oci.tmp / "err", "w+") as se:
        done = subprocess.run([*launcher, "--root", str(oci.root), "exec", *args], stdin=subprocess.DEVNULL,
                              stdout=so, stderr=se, timeout=WAIT)
        so.seek(0)
        se.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, so.read(), se.read())


def test_statuses_and_flags_through_the_launcher(oci: Oci, launcher: list[str]) -> None:
    oci.run_detached("lx1", oci.bundle(SLEEP))
    out = _exec(oci, launcher, "-e", "GREETING=hi", "--cwd", "/tmp", "-u", "1000:1001", "-g", "7", "lx1",
                "sh", "-c", "echo $GREETING; pwd; id -u; id -G; exit 7")
    assert out.returncode == 7, out.stderr
    assert out.stdout.split() == ["hi", "/tmp", "1000", "1001", "7"]
    assert _exec(oci, launcher, "lx1", "sh", "-c", "kill -9 $$").returncode == 128 + 9
    out = _exec(oci, launcher, "lx1", "no-such-program")
    assert out.returncode == 255 and out.stderr.startswith("error: ") and "executable file not found" in out.stderr
    pid_file = oci.tmp / "lx1.pid"
    out = _exec(oci, launcher, "--detach", "--pid-file", str(pid_file), "lx1", "sleep", "300")
    assert out.returncode == 0, out.stderr
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00300\x00"


def test_the_foreground_forwards_signals(oci: Oci, launcher: list[str]) -> None:
    oci.run_detached("lx2", oci.bundle(SLEEP))
    proc = subprocess.Popen([*launcher, "--root", str(oci.root), "exec", "lx2", "sh", "-c",
                             "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 42, err
    assert out == "got-term\n"


def test_descriptors_preserved_and_closed(oci: Oci, launcher: list[str]) -> None:
    """--preserve-fds 1 passes fd 3; the caller's fd 4 stays outside (the joiner closes what is not its own)."""
    oci.run_detached("lx3", oci.bundle(SLEEP))
    (oci.tmp / "three").write_text("through-3\n")
    (oci.tmp / "four").write_text("not-for-the-container\n")
    out = subprocess.run(["sh", "-c", 'exec "$@" 3<"$THREE" 4<"$FOUR"', "sh", *launcher, "--root", str(oci.root),
                          "exec", "--preserve-fds", "1", "lx3", "sh", "-c",
                          "for f in 3 4; do [ -e /proc/$$/fd/$f ] && echo has$f; done; read line <&3; echo $line"],
                         env={**os.environ, "THREE": str(oci.tmp / "three"), "FOUR": str(oci.tmp / "four")},
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["has3", "through-3"]


def test_a_container_with_seccomp(oci: Oci, launcher: list[str]) -> None:
    """The first exec compiles the filter in the joiner with pyseccomp (the launcher starts without site, exec
    loads it) and keeps its program in the container's directory; the next execs load that program, the same
    filter as libseccomp's export of it. A filter with flags (loaded by seccomp(2) with them) is not kept."""
    from pyrunc.security.seccomp import compile_filter

    profile = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}

    def edit(doc: dict[str, Any]) -> None:
        doc["linux"]["seccomp"] = profile
        doc["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})

    oci.run_detached("lx4", oci.bundle(SLEEP, edit))
    kept = oci.root / "lx4" / "seccomp.bpf"
    assert not kept.exists()
    for _ in range(2):
        out = _exec(oci, launcher, "lx4", "sh", "-c", "mkdir /tmp/a; echo mkdir=$?; grep Seccomp: /proc/self/status")
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["mkdir=1", "Seccomp:", "2"]
        assert kept.exists()
    with open(oci.tmp / "fresh.bpf", "wb") as f:
        compile_filter(profile).export_bpf(f)
    assert kept.read_bytes() == (oci.tmp / "fresh.bpf").read_bytes()
    assert kept.stat().st_mode & 0o777 == 0o600

    profile["flags"] = ["SECCOMP_FILTER_FLAG_LOG"]
    oci.run_detached("lx5", oci.bundle(SLEEP, edit))
    out = _exec(oci, launcher, "lx5", "sh", "-c", "mkdir /tmp/a; echo mkdir=$?")
    assert out.stdout.split() == ["mkdir=1"], out.stderr
    assert not (oci.root / "lx5" / "seccomp.bpf").exists()
