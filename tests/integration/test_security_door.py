"""Issue 8 points 8, 9 and 11, from the host: hostile image names wait with InvalidImageName, pod state
is not readable by an unprivileged user, and a pod whose sandbox record was lost never gets a container
in the host's namespaces (fail closed)."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
from pathlib import Path

import pytest

from tests.integration.helpers import Node, alive, exists, node, ns_id, poll, pod_yaml, sleeper  # noqa: F401
from tests.integration.supervision_helpers import status_of, wait_status

pytestmark = [pytest.mark.root, pytest.mark.network]


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
            except OSError:
                continue
    return found


# --------------------------------------------------------------------------- names at the door
@pytest.mark.parametrize("image", ["busybox@/tmp/x", "busybox:..", "../x", "busybox@sha256:short"])
def test_hostile_image_reference_waits_with_invalid_image_name(node: Node, image: str) -> None:  # noqa: F811
    containers = f"  - name: c\n    image: {json.dumps(image)}\n    command: [sleep, '3600']\n"
    node.apply(pod_yaml("badimage", containers))
    st = wait_status(node, "badimage", "waiting InvalidImageName",
                     lambda s: s["state"].get("waiting", {}).get("reason") == "InvalidImageName")["status"]
    waiting = status_of({"status": st})["state"]["waiting"]
    assert waiting["message"] == (f'Failed to apply default image tag "{image}": couldn\'t parse image name '
                                  f'"{image}": invalid reference format')
    rec = node.state("badimage", "c")
    assert not rec.get("pid"), "nothing may have been started"


# --------------------------------------------------------------------------- state permissions
def _as_nobody(fn) -> tuple[str, int]:
    """Run fn() as uid/gid 65534 in a forked child: ("ok", 0), or ("oserror", errno)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                fn()
                os.write(w, b"ok 0")
            except OSError as e:
                os.write(w, f"oserror {e.errno}".encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    what, code = data.split()
    return what, int(code)


def test_pod_state_is_not_readable_by_an_unprivileged_user(node: Node) -> None:  # noqa: F811
    # A non-root container user: its emptyDir and its root stay writable although the pod directory
    # they live under is 0750 root (the mounts are made as root before the user is taken on).
    containers = sleeper("a", "    securityContext: {runAsUser: 1000, runAsGroup: 1000}\n"
                              "    volumeMounts: [{name: scratch, mountPath: /scratch}]\n"
                              "    env: [{name: SECRET, value: hunter2}]\n")
    node.apply(pod_yaml("private", containers, "  volumes: [{name: scratch, emptyDir: {}}]\n"))
    node.wait_running("private")
    pod = node.pod_dir("private")
    files = [pod / "pod.json", pod / "sandbox.json", pod / "events.json",
             pod / "containers" / "a" / "state.json", pod / "containers" / "a" / "container.json",
             pod / "containers" / "a" / "config.json"]
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        # uid 65534 cannot open it (refused at the 0750 directories, and by the file's own mode above).
        assert _as_nobody(lambda p=path: open(p).close()) == ("oserror", errno.EACCES), path
    for d in (Path(node.root, "pods"), pod):
        mode = stat.S_IMODE(d.stat().st_mode)
        assert mode & 0o027 == 0 and (d.stat().st_uid, d.stat().st_gid) == (0, 0), f"{d} is {oct(mode)}"
    assert _as_nobody(lambda: os.listdir(pod)) == ("oserror", errno.EACCES)
    assert _as_nobody(lambda: os.listdir(Path(node.root, "pods"))) == ("oserror", errno.EACCES)
    # The log files: 0640 root, as the kubelet's CRI logs are.
    logs = list(node.log_dir("private", "a").glob("*.log*"))
    assert logs, "the container has no log file"
    for log in logs:
        assert stat.S_IMODE(log.stat().st_mode) & 0o037 == 0, log
    # The supervisor's request socket: root only.
    sock = Path(node.root, "daemon.sock")
    assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0 and sock.stat().st_uid == 0
    assert stat.S_IMODE(Path(node.root, "daemon.log").stat().st_mode) & 0o077 == 0
    # Root still reads everything, the container's user still writes its emptyDir.
    assert node.pod_json("private")["spec"]["containers"][0]["env"] == [{"name": "SECRET", "value": "hunter2"}]
    out = node.exec("private", "a", "sh", "-c", "id -u; echo hi > /scratch/f && cat /scratch/f && touch /tmp/t && echo ok")
    assert out.stdout == "1000\nhi\nok\n"
    assert (node.volume_dir("private", "scratch") / "f").stat().st_uid == 1000
    assert stat.S_IMODE(node.volume_dir("private", "scratch").stat().st_mode) == 0o777


# --------------------------------------------------------------------------- fail closed
# First run: stay up until /out/go appears, then exit 1. Later runs would stay up.
BLINK = "[ -f /data/ran ] && exec sleep 3600; touch /data/ran; while [ ! -f /out/go ]; do sleep 0.2; done; exit 1"


def test_lost_sandbox_record_never_means_host_namespaces(node: Node, tmp_path: Path) -> None:  # noqa: F811
    cfg = Path(node.root, "config.json")
    cfg.write_text(json.dumps(json.loads(cfg.read_text()) | {"crashloop_max_backoff": 2}))
    out = tmp_path / "out"
    out.mkdir()
    containers = (f"  - name: c\n    image: busybox\n    command: [sh, -c, {BLINK!r}]\n"
                  "    volumeMounts: [{name: data, mountPath: /data}, {name: out, mountPath: /out}]\n")
    volumes = f"  volumes: [{{name: data, emptyDir: {{}}}}, {{name: out, hostPath: {{path: {out}}}}}]\n"
    node.apply(pod_yaml("lost", containers, volumes))
    node.wait_running("lost")
    first = node.container_pid("lost", "c")
    host_net = ns_id("self", "net")
    assert ns_id(first, "net") != host_net

    # A crash that lost the record: the file is gone and the supervisor with it.
    (node.pod_dir("lost") / "sandbox.json").unlink()
    daemon = node.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    poll("the daemon to be gone", lambda: not exists(daemon))
    # The container ends while nobody supervises it: the next supervisor must restart it (Always).
    (out / "go").touch()
    poll("the first instance to end", lambda: not alive(first))

    node.apply(pod_yaml("other", sleeper("a")))  # starts a new supervisor, which adopts "lost"
    new_daemon = node.daemon_pid()
    assert new_daemon != daemon
    obj = wait_status(node, "lost", "waiting CreateContainerError",
                      lambda s: s["state"].get("waiting", {}).get("reason") == "CreateContainerError")
    message = status_of(obj)["state"]["waiting"]["message"]
    assert "sandbox record (sandbox.json) is missing" in message and "host's namespaces" in message
    # From the host: no process of the new supervisor runs in the host's network namespace, and
    # the pod's container never got a new process.
    node.wait_running("other")
    # Containers are the supervisor's children (it is their subreaper) with a mount namespace of
    # their own; its other children (nft, ...) share the host's and are not containers.
    host_mnt = ns_id("self", "mnt")
    containers = [pid for pid in children_of(new_daemon) if exists(pid) and ns_id(pid, "mnt") != host_mnt]
    assert containers == [node.container_pid("other", "a")], containers
    assert all(ns_id(pid, "net") != host_net for pid in containers)
    rec = node.state("lost", "c")
    assert not rec.get("pid") and rec.get("restartCount", 0) >= 1
