"""Logs and bulk data off RAM, checked from the host: container logs in the node's pod_logs_dir
rotated the kubelet's way and read across their files (`--tail`, `-f`); writable layers and disk
emptyDirs in the node's data_dir; nothing of a pod left there after delete, nor after a wiped state
root and a new supervisor; emptyDir.sizeLimit on disk evicting the pod.

Each node (tests/integration/helpers.py) has its own data and log directories in its temp dir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, Node, _node, mounts_under, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

MAX_SIZE = 4096
MAX_FILES = 3
ROTATED = re.compile(r"^0\.log\.\d{8}-\d{6}(\.\d+)?$")

# 300 numbered lines of ~100 bytes (~30 KiB: several rotations at 4 KiB), then `a-done`; on
# /tmp/go, 300 more and the container ends.
PAD = "x" * 90
WRITER = pod_yaml("chatty", f"""  - name: c
    image: busybox
    command: [sh, -c, 'i=1; while [ $i -le 300 ]; do echo a-$i-{PAD}; i=$((i+1)); done; echo a-done;
      while [ ! -f /tmp/go ]; do sleep 0.1; done;
      i=1; while [ $i -le 300 ]; do echo b-$i-{PAD}; i=$((i+1)); done']
""", extra_spec="  restartPolicy: Never\n")


@pytest.fixture
def small_logs(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path, container_log_max_size=MAX_SIZE, container_log_max_files=MAX_FILES)


@pytest.fixture
def many_small_logs(tmp_path: Path) -> Iterator[Node]:
    """Small files, enough of them kept that nothing is removed before a follower reads it."""
    yield from _node(tmp_path, container_log_max_size=MAX_SIZE, container_log_max_files=40)


def numbers(text: str, prefix: str) -> list[int]:
    return [int(line.split("-")[1]) for line in text.splitlines() if line.startswith(prefix + "-") and line != prefix + "-done"]


def test_logs_rotate_on_disk_and_are_read_across_files(small_logs: Node) -> None:
    n = small_logs
    n.apply(WRITER)
    n.wait_log("chatty", "c", "a-done")
    logs = n.log_dir("chatty", "c")
    names = sorted(os.listdir(logs))
    rotated = [x for x in names if ROTATED.match(x)]
    assert "0.log" in names and rotated, names
    assert len(rotated) + 1 <= MAX_FILES and set(names) == {"0.log", *rotated}, names
    for name in rotated:  # full: at the size, or the next ~140-byte record did not fit
        assert MAX_SIZE - 200 < (logs / name).stat().st_size <= MAX_SIZE
    # Nothing of the logs under the state root (RAM).
    assert not (n.pod_dir("chatty") / "logs").exists()
    # --tail reads across files: the current file holds fewer than 50 lines here.
    current_lines = (logs / "0.log").read_text().count("\n")
    assert current_lines < 50
    tail = n.run("logs", "chatty", "--tail", "50").stdout.splitlines()
    assert tail[-1] == "a-done" and numbers("\n".join(tail), "a") == list(range(252, 301))
    # Everything kept, in order: the newest lines, contiguous, oldest files removed.
    whole = numbers(n.run("logs", "chatty").stdout, "a")
    assert whole == list(range(whole[0], 301)) and whole[0] > 1


def test_follow_keeps_following_across_rotations(many_small_logs: Node) -> None:
    n = many_small_logs
    n.apply(WRITER)
    n.wait_log("chatty", "c", "a-done")
    follow = subprocess.Popen([*PYRUNC, "--root", n.root, "logs", "chatty", "-f"], stdout=subprocess.PIPE,
                              text=True, cwd=str(REPO))
    try:
        assert follow.stdout is not None
        for line in follow.stdout:  # the kept part of the first batch, then it follows
            if line == "a-done\n":
                break
        # The container may print its 300 lines and end before `touch` itself has exited: the end of a
        # PID namespace's init SIGKILLs what is left in it (137). Either way the file was made.
        go = n.exec("chatty", "c", "touch", "/tmp/go", check=False)
        assert go.returncode in (0, 137), go.stderr
        rest, _ = follow.communicate(timeout=60)  # returns once the container ended
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0
    assert numbers(rest, "b") == list(range(1, 301))  # ~30 KiB through several rotations, nothing lost
    assert len([x for x in os.listdir(n.log_dir("chatty", "c")) if ROTATED.match(x)]) >= 15  # ~84 KiB in 4 KiB files


def test_writable_layers_and_disk_empty_dirs_are_on_disk_and_go_with_the_pod(node: Node) -> None:
    node.apply(pod_yaml("bulk", sleeper("c", "    volumeMounts: [{name: scratch, mountPath: /scratch}]\n"),
                        "  volumes: [{name: scratch, emptyDir: {}}, {name: mem, emptyDir: {medium: Memory}}]\n"))
    node.wait_running("bulk")
    node.exec("bulk", "c", "sh", "-c", "echo layer > /in-layer; echo vol > /scratch/in-volume; echo hi")
    uid = node.uid("bulk")
    data = Path(node.data_dir, "pods", uid)
    assert (data / "containers" / "c" / "rootfs" / "upper" / "in-layer").read_text() == "layer\n"
    assert (node.volume_dir("bulk", "scratch") / "in-volume").read_text() == "vol\n"
    assert node.volume_dir("bulk", "scratch").parent.parent.parent == data
    # Private: an unprivileged user cannot reach a writable layer (it may hold secrets).
    for d in (Path(node.data_dir, "pods"), data):
        assert stat.S_IMODE(d.stat().st_mode) & 0o027 == 0 and d.stat().st_uid == 0, d
    # The memory-backed emptyDir stays a tmpfs under the pod's state directory.
    assert str(node.pod_dir("bulk") / "volumes" / "mem") in mounts_under(str(node.pod_dir("bulk")))
    assert not (node.pod_dir("bulk") / "containers" / "c" / "rootfs").exists()
    log_dir = node.log_dir("bulk", "c").parent
    assert log_dir.is_dir()
    node.delete("bulk")
    assert not data.exists() and not log_dir.exists()
    assert not any(Path(node.data_dir, "pods").iterdir()) and not any(Path(node.logs_dir).iterdir())


def test_a_wiped_state_root_is_reclaimed_by_the_next_supervisor(node: Node) -> None:
    node.apply(pod_yaml("lost", sleeper("c", "    volumeMounts: [{name: scratch, mountPath: /scratch}]\n"),
                        "  volumes: [{name: scratch, emptyDir: {}}]\n"))
    node.wait_running("lost")
    node.exec("lost", "c", "sh", "-c", "echo x > /scratch/f")
    uid = node.uid("lost")
    data, logs = Path(node.data_dir, "pods", uid), node.log_dir("lost", "c").parent
    assert data.is_dir() and logs.is_dir()
    # What a reboot does to /run: the supervisor and the containers are gone, and so is the state.
    os.kill(node.daemon_pid(), signal.SIGKILL)
    os.kill(node.container_pid("lost", "c"), signal.SIGKILL)
    for point in sorted(mounts_under(str(node.pod_dir("lost"))), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=True)
    shutil.rmtree(Path(node.root, "pods"))
    node.pods.discard(("default", "lost"))
    assert data.is_dir() and logs.is_dir()  # on disk, they outlived the state
    # The next supervisor (started by this apply) reclaims them, and only them.
    node.apply(pod_yaml("next", sleeper("c")))
    node.wait_running("next")
    assert not data.exists() and not logs.exists()
    assert node.log_dir("next", "c").parent.is_dir()


def test_an_empty_dir_past_its_size_limit_evicts_the_pod(tmp_path: Path) -> None:
    for n in _node(tmp_path, housekeeping_interval=1):
        n.apply(pod_yaml("hog", sleeper("w", "    volumeMounts: [{name: v, mountPath: /v}]\n") + sleeper("other"),
                         "  volumes: [{name: v, emptyDir: {sizeLimit: 1Mi}}]\n"))
        n.wait_running("hog")
        n.exec("hog", "w", "dd", "if=/dev/zero", "of=/v/big", "bs=64k", "count=32")  # 2 MiB
        status = poll("the eviction", lambda: (s := n.pod_json("hog")["status"])["phase"] == "Failed" and s)
        assert status["reason"] == "Evicted"
        assert status["message"] == 'Usage of EmptyDir volume "v" exceeds the limit "1Mi". '

        def all_ended() -> list[dict[str, object]] | None:
            sts = n.pod_json("hog")["status"]["containerStatuses"]
            return sts if all("terminated" in s["state"] for s in sts) else None

        for st in poll("the containers killed", all_ended):
            assert st["restartCount"] == 0 and st["state"]["terminated"]["exitCode"] == 137, st
        events = json.loads((n.pod_dir("hog") / "events.json").read_text())
        assert any(e["reason"] == "Evicted" and e["type"] == "Warning" for e in events)
        assert n.pod_json("hog")["status"]["phase"] == "Failed"  # nothing restarted (restartPolicy Always)
