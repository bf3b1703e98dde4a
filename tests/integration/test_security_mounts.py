"""Safe mounts, masks and the holder, looked at from the host as an attacker in a container would try them.

- masked and read-only paths (containerd's defaults) in every container's /proc and /sys, none for
  privileged or procMount: Unmasked; privileged gets a writable /sys and the host's devices;
- hostile images (under a test images directory): /proc or /sys a symlink is refused as runc
  refuses it; /etc, /dev and a volume's parent symlinked to host directories stay inside the root;
- subPath: a symlink out of the volume is refused with the kubelet's message, and a symlink
  swapped in while a container keeps restarting never mounts or creates anything of the host;
- shareProcessNamespace: the holder (PID 1) shows nothing of the host through /proc/1/root,
  /proc/1/cwd or /proc/1/fd, has no capabilities and is not dumpable.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from pyrunc.runtime.config import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
from tests.imagekit import Symlink
from tests.integration.helpers import Node, import_image, seeded_store, _node, mounts_under, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

REFUSED = "must be mounted on ordinary directory"


def mountinfo(pid: int) -> dict[str, list[dict[str, str]]]:
    """Mount point -> its mounts (bottom first) as seen by `pid`: root, options, fstype, super options."""
    found: dict[str, list[dict[str, str]]] = {}
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields, after = left.split(), right.split()
            found.setdefault(fields[4], []).append(
                {"root": fields[3], "opts": fields[5], "fstype": after[0], "super": after[2] if len(after) > 2 else ""})
    return found


def waiting(node: Node, pod: str, container: str) -> dict[str, Any]:  # noqa: F811
    for status in node.pod_json(pod)["status"].get("containerStatuses", []):
        if status["name"] == container:
            return dict(status["state"].get("waiting") or {})
    return {}


def wait_waiting(node: Node, pod: str, container: str, reason: str) -> dict[str, Any]:  # noqa: F811
    return poll(f"{pod}/{container} waiting with {reason}",
                lambda: (w := waiting(node, pod, container)).get("reason") == reason and w)


def fs_path(path: Path) -> str:
    """`path` as mountinfo's root field names it: relative to the root of its filesystem."""
    best = ("", "/")
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            point, root = fields[4], fields[3]
            if (str(path) == point or str(path).startswith(point.rstrip("/") + "/")) and len(point) >= len(best[0]):
                best = (point, root)
    rest = str(path)[len(best[0].rstrip("/")):]
    return best[1].rstrip("/") + rest


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---------------------------------------------------------------- hostile images
class Images:
    """A test images directory: busybox, and busybox variants whose paths are symlinks."""

    def __init__(self, base: Path) -> None:
        self.dir = seeded_store(base / "images")
        self.host = base / "host"  # directories on the host that image symlinks point at
        for sub in ("proc", "etc", "dev", "data"):
            (self.host / sub).mkdir(parents=True)
        (self.host / "proc" / "keep").write_text("host file\n")
        self.add("busybox", {})
        self.add("proc-to-root", {"proc": "/"})
        self.add("proc-to-host", {"proc": str(self.host / "proc")})
        self.add("proc-to-image", {"proc": "/var/www"})
        self.add("sys-to-root", {"sys": "/"})
        self.add("links", {"etc": str(self.host / "etc"), "dev": str(self.host / "dev"),
                           "data": str(self.host / "data")})

    def add(self, name: str, links: dict[str, str]) -> None:
        """busybox under a layer that replaces `path` by a symlink to `target` (a directory of a lower
        layer is hidden by a non-directory above it, as overlayfs stacks layers)."""
        import_image(self.dir, name, [Symlink(path, target) for path, target in links.items()])


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    return Images(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def hostile_node(tmp_path: Path, images: Images) -> Iterator[Node]:
    yield from _node(tmp_path, images_dir=str(images.dir))


# ---------------------------------------------------------------- masks and privileged
def _present_on_host(paths: tuple[str, ...]) -> list[str]:
    return [p for p in paths if os.path.exists(p)]


def test_default_container_has_masks_and_read_only_paths(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("masked", sleeper("c")))
    pid = node.container_pid("masked", "c")
    mounts = mountinfo(pid)
    masked = _present_on_host(DEFAULT_MASKED_PATHS)
    assert len(masked) >= 3, masked  # /proc/keys, /proc/timer_list, /proc/interrupts, /sys/firmware here
    for path in masked:
        assert path in mounts, f"{path} is not masked: {sorted(mounts)}"
        top = mounts[path][-1]
        if os.path.isdir(path):
            assert top["fstype"] == "tmpfs" and "ro" in top["opts"].split(","), (path, top)
        else:  # the container's own /dev/null, bound over the file
            assert top["root"] == "/null" and mounts["/dev"][-1]["fstype"] == "tmpfs", (path, top)
    for path in _present_on_host(DEFAULT_READONLY_PATHS):
        assert "ro" in mounts[path][-1]["opts"].split(","), (path, mounts.get(path))
    assert "ro" in mounts["/sys"][-1]["opts"].split(",")
    # Writing a sysctl back with its own value: refused (and harmless if it were not).
    proc = node.exec("masked", "c", "sh", "-c", "cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness", check=False)
    assert proc.returncode != 0 and "Read-only file system" in proc.stderr
    assert node.exec("masked", "c", "cat", "/proc/keys").stdout == ""
    assert node.exec("masked", "c", "ls", "/sys/firmware").stdout == ""


def test_privileged_container_sees_host_devices_and_writable_sys(node: Node) -> None:  # noqa: F811
    node.apply(pod_yaml("priv", sleeper("c", "    securityContext: {privileged: true}\n")))
    pid = node.container_pid("priv", "c")
    mounts = mountinfo(pid)
    assert "rw" in mounts["/sys"][-1]["opts"].split(",")
    for path in DEFAULT_MASKED_PATHS + DEFAULT_READONLY_PATHS:
        assert path not in mounts, f"{path} is masked in a privileged container"
    devices = [e for e in os.scandir("/dev") if e.name not in ("console", "ptmx")
               and stat.S_ISCHR(e.stat(follow_symlinks=False).st_mode) | stat.S_ISBLK(e.stat(follow_symlinks=False).st_mode)]
    assert devices
    for entry in devices:
        host = entry.stat(follow_symlinks=False)
        inside = os.stat(f"/proc/{pid}/root/dev/{entry.name}", follow_symlinks=False)
        assert (stat.S_IFMT(inside.st_mode), inside.st_rdev) == (stat.S_IFMT(host.st_mode), host.st_rdev), entry.name
        assert stat.S_IMODE(inside.st_mode) == stat.S_IMODE(host.st_mode), entry.name
    # ptmx stays the link to the container's own devpts, not the host's multiplexer.
    assert os.readlink(f"/proc/{pid}/root/dev/ptmx") == "pts/ptmx"
    assert not os.path.exists(f"/proc/{pid}/root/dev/console")
    for sub in ("net/tun", "fuse", "loop0", "kmsg"):
        if os.path.exists(f"/dev/{sub}"):
            assert node.exec("priv", "c", "ls", f"/dev/{sub}").returncode == 0


def test_proc_mount_unmasked_needs_own_user_namespace_which_pyrunc_refuses(node: Node) -> None:  # noqa: F811
    container = sleeper("c", "    securityContext: {procMount: Unmasked}\n")
    proc = node.apply(pod_yaml("unmasked", container), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ('error: spec.containers[0].securityContext.procMount: Invalid value: '
                                   '"Unmasked": `hostUsers` must be false to use `Unmasked`')
    assert not node.pod_dir("unmasked").exists()
    # An unmasked /proc is only safe in a user namespace of the pod's own; pyrunc has none, so it
    # refuses hostUsers: false instead of running the pod as the host's root with nothing masked.
    proc = node.apply(pod_yaml("unmasked", container, "  hostUsers: false\n"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: spec.hostUsers: Unsupported value: false: pyrunc does not support user namespaces"
    assert not node.pod_dir("unmasked").exists()


# ---------------------------------------------------------------- hostile images
@pytest.mark.parametrize("image", ["proc-to-root", "proc-to-host", "proc-to-image", "sys-to-root"])
def test_image_with_symlinked_proc_or_sys_is_refused(hostile_node: Node, images: Images, image: str) -> None:
    before = listing(images.host)
    hostile_node.apply(pod_yaml("linked", sleeper("c").replace("image: busybox", f"image: {image}")))
    w = wait_waiting(hostile_node, "linked", "c", "CreateContainerError")
    fs = "sysfs" if image.startswith("sys") else "proc"
    where = "/sys" if image.startswith("sys") else "/proc"
    assert w["message"] == (f'error mounting "{fs}" to rootfs at "{where}": '
                            f'filesystem "{fs}" {REFUSED}'), w
    assert not hostile_node.state("linked", "c").get("pid")
    assert listing(images.host) == before and (images.host / "proc" / "keep").read_text() == "host file\n"
    assert not mounts_under(str(images.host))


def test_symlinked_targets_resolve_inside_the_root(hostile_node: Node, images: Images) -> None:
    """/etc, /dev and a volume's parent are absolute symlinks to host directories: the pod's
    files, /dev and the volume land at those paths *inside* the root; the host's are untouched."""
    before = listing(images.host)
    container = sleeper("c", "    volumeMounts: [{name: v, mountPath: /data/vol}]\n")
    hostile_node.apply(pod_yaml("links", container.replace("image: busybox", "image: links"),
                                "  volumes: [{name: v, emptyDir: {}}]\n"))
    pid = hostile_node.container_pid("links", "c")
    hostile_node.exec("links", "c", "sh", "-c", "echo from-pod > /data/vol/f; echo x > /dev/termination-log")
    assert "links" in hostile_node.exec("links", "c", "cat", "/etc/hosts").stdout
    assert hostile_node.exec("links", "c", "ls", "/dev/null").returncode == 0
    # Host side: nothing created in, nothing mounted on, the directories the image points at.
    assert listing(images.host) == before
    assert not mounts_under(str(images.host))
    assert (hostile_node.volume_dir("links", "v") / "f").read_text() == "from-pod\n"
    # Container side: the mounts sit at the symlinks' targets inside its own root.
    mounts = mountinfo(pid)
    for inside in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev", "data/vol", "dev/termination-log"):
        assert f"{images.host}/{inside}" in mounts, (inside, sorted(mounts))
    assert mounts[f"{images.host}/dev"][-1]["fstype"] == "tmpfs"


# ---------------------------------------------------------------- subPath
def test_sub_path_leaving_its_volume_is_refused(node: Node, tmp_path: Path) -> None:  # noqa: F811
    token = secrets.token_hex(4)
    made = tmp_path / f"made-{token}"
    extra = f"""  initContainers:
  - name: plant
    image: busybox
    command: [sh, -c, 'ln -s / /shared/esc; ln -s ../.. /shared/up']
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  volumes: [{{name: shared, emptyDir: {{}}}}]
"""
    containers = (sleeper("abs", f"    volumeMounts: [{{name: shared, mountPath: /m, subPath: 'esc{made}'}}]\n")
                  + sleeper("rel", f"    volumeMounts: [{{name: shared, mountPath: /m, subPath: 'up/made-{token}'}}]\n"))
    node.apply(pod_yaml("subesc", containers, extra))
    for name in ("abs", "rel"):
        w = wait_waiting(node, "subesc", name, "CreateContainerConfigError")
        assert w["message"] == f'failed to prepare subPath for volumeMount "shared" of container "{name}"'
        assert not node.state("subesc", name).get("pid")
    assert not made.exists()
    assert not (node.pod_dir("subesc") / f"made-{token}").exists()
    assert not any(f"made-{token}" in p for p in mounts_under("/"))


def test_sub_path_race_never_reaches_the_host(tmp_path: Path) -> None:
    """One container swaps a directory of a shared emptyDir for a symlink to / as fast as it
    can; another restarts over and over with a subPath through it. Every instance that started
    has the volume's directory at /mnt (its mount root is inside the volume), never the host's
    target directory, and nothing is ever created on the host."""
    token = secrets.token_hex(4)
    target = tmp_path / "target"  # what the subPath names on the host if the symlink were followed
    target.mkdir()
    (target / f"host-only-{token}").write_text("host\n")
    with contextlib.contextmanager(_node)(tmp_path, crashloop_max_backoff=0.5) as n:
        swapper = """  - name: swapper
    image: busybox
    command: [sh, -c, 'trap "exit 0" TERM; while :; do mkdir -p /shared/d; rm -rf /shared/d; ln -s / /shared/d; rm -f /shared/d; done & wait']
    volumeMounts: [{name: shared, mountPath: /shared}]
"""
        victim = f"""  - name: victim
    image: busybox
    command: [sh, -c, 'touch /mnt/written-{token}; sleep 1']
    volumeMounts: [{{name: shared, mountPath: /mnt, subPath: 'd{target}'}}]
"""
        n.apply(pod_yaml("race", swapper + victim, "  restartPolicy: Always\n  volumes: [{name: shared, emptyDir: {}}]\n"))
        volume = fs_path(n.volume_dir("race", "shared"))
        seen: dict[int, str] = {}

        def observe() -> bool:
            rec = n.state("race", "victim")
            pid = int(rec.get("pid") or 0)
            if pid and pid not in seen:
                try:
                    mounts = mountinfo(pid)
                    entries = os.listdir(f"/proc/{pid}/root/mnt")
                except (FileNotFoundError, ProcessLookupError):
                    return False  # it already ended: the next one is observed
                seen[pid] = mounts["/mnt"][-1]["root"]
                assert seen[pid].startswith(volume + "/d"), seen[pid]
                assert f"host-only-{token}" not in entries, entries
            assert listing(target) == [f"host-only-{token}"]
            return len(seen) >= 10 and int(rec.get("restartCount", 0)) >= 10

        poll("10 observed restarts of the victim", observe, timeout=240, interval=0.05)
        n.remember_pids()
    assert listing(target) == [f"host-only-{token}"]
    assert not Path(f"/d{target}").exists()


# ---------------------------------------------------------------- the holder
_PROBE_WITHOUT_PTRACE = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL("libc.so.6", use_errno=True)

def drop_ptrace(permitted_too):
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    assert libc.capget(ctypes.byref(hdr), ctypes.byref(data)) == 0
    data[0] &= ~(1 << 19)  # CAP_SYS_PTRACE (19) out of the effective set
    if permitted_too:
        data[1] &= ~(1 << 19)
    assert libc.capset(ctypes.byref(hdr), ctypes.byref(data)) == 0

# The control: a dumpable root process whose capabilities are a subset of the prober's.
r, w = os.pipe()
control = os.fork()
if control == 0:
    drop_ptrace(True)
    os.write(w, b"x")
    time.sleep(60)
    os._exit(0)
os.read(r, 1)
drop_ptrace(False)
for pid in (sys.argv[1], str(control)):
    try:
        os.readlink(f"/proc/{pid}/cwd")
        print("readable")
    except PermissionError:
        print("denied")
os.kill(control, 9)
os.waitpid(control, 0)
"""


def test_holder_shows_nothing_of_the_host(node: Node, tmp_path: Path) -> None:  # noqa: F811
    token = secrets.token_hex(4)
    secret = tmp_path / f"host-only-{token}"
    secret.write_text("host\n")
    node.apply(pod_yaml("shared", sleeper("a") + sleeper("b"), "  shareProcessNamespace: true\n"))
    node.wait_running("shared")
    holder = int(json.loads((node.pod_dir("shared") / "sandbox.json").read_text())["holderPid"])
    # From the host: an empty read-only root of its own, no descriptors, no capabilities.
    assert os.listdir(f"/proc/{holder}/root") == [] and os.listdir(f"/proc/{holder}/cwd") == []
    assert os.listdir(f"/proc/{holder}/fd") == []
    assert os.readlink(f"/proc/{holder}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    roots = mountinfo(holder)["/"]
    assert roots[-1]["fstype"] == "tmpfs" and "ro" in roots[-1]["opts"].split(",")
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{holder}/status").read_text().splitlines() if ":\t" in line)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[key], 16) == 0, (key, status[key])
    assert status["NoNewPrivs"].strip() == "1"
    st = os.stat(f"/proc/{holder}/status")
    assert (st.st_uid, st.st_gid) == (0, 0)
    # Not dumpable: a root process without CAP_SYS_PTRACE cannot follow its links, although the
    # holder's capabilities are a subset of the prober's; a dumpable root process with the same
    # standing stays readable to the same prober, so the probe itself is sound.
    probe = subprocess.run([sys.executable, "-c", _PROBE_WITHOUT_PTRACE, str(holder)],
                           capture_output=True, text=True, check=True).stdout.split()
    assert probe == ["denied", "readable"], probe
    # From every container: no /proc/*/root or /proc/*/fd leads to the host's file.
    script = ("echo root=$(ls -A /proc/1/root | wc -l) cwd=$(ls -A /proc/1/cwd | wc -l) fd=$(ls -A /proc/1/fd | wc -l); "
              f"cat /proc/[0-9]*/root{secret} 2>/dev/null; "
              f"find /proc/[0-9]*/root/ /proc/[0-9]*/cwd/ -maxdepth 2 2>/dev/null | grep -c .; "
              f"for f in /proc/[0-9]*/fd/*; do readlink $f; cat $f{secret} 2>/dev/null; done 2>/dev/null; "
              f"ls /proc/[0-9]*/root{tmp_path} 2>&1")
    for container in ("a", "b"):
        out = node.exec("shared", container, "sh", "-c", script, check=False).stdout
        assert "host\n" not in out and f"host-only-{token}" not in out, out
        assert out.split("\n")[0] == "root=0 cwd=0 fd=0", out
        assert int(next(line for line in out.splitlines() if line.isdigit())) > 0  # the probe saw container roots
