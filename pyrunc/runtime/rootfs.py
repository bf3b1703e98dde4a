"""The container's root filesystem, built inside its own mount namespace (child side).

Everything here runs in the container's first process after unshare(CLONE_NEWNS), before
exec. Because every mount is made inside that namespace, they all vanish with it: the host
never sees a container's overlay, /proc or /dev, and nothing needs unmounting on delete.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import syscalls as sc
from pyrunc.runtime.config import ContainerConfig, Mount

# Device nodes of a minimal /dev (runc's default set): name -> (major, minor, mode).
DEVICES = {
    "null": (1, 3, 0o666),
    "zero": (1, 5, 0o666),
    "full": (1, 7, 0o666),
    "random": (1, 8, 0o666),
    "urandom": (1, 9, 0o666),
    "tty": (5, 0, 0o666),
}
# Paths hidden from containers, as runc's default spec masks them.
MASKED = ("/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware")
READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def secure_join(root: str, path: str) -> str:
    """Resolve `path` inside `root`, following symlinks as if `root` were `/`.

    An image may hold a symlink like /etc -> /host/etc; a naive join would then mount onto the
    host's files. Every component is resolved relative to root (what runc's securejoin does).
    """
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, "too many symlinks", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _make_target(target: str, like_dir: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if like_dir:
        os.mkdir(target, 0o755)
    else:
        with open(target, "a"):
            pass


def bind(source: str, target: str, read_only: bool = False) -> None:
    sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
    if read_only:
        # A bind mount ignores MS_RDONLY on creation; it takes a second, remounting call.
        sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_REC)


def mount_user(rootfs: str, m: Mount) -> None:
    target = secure_join(rootfs, m.destination)
    if m.type == "cgroup2":
        # Inside the container's cgroup namespace this shows its own cgroup as the root.
        sc.mount("cgroup2", target, "cgroup2", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY)
        return
    if m.type == "tmpfs":
        _make_target(target, True)
        sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, m.data or None)
        return
    is_dir = os.path.isdir(m.source)
    _make_target(target, is_dir)
    bind(m.source, target, m.read_only)


def mount_dev(rootfs: str, shm: str) -> None:
    dev = os.path.join(rootfs, "dev")
    os.makedirs(dev, exist_ok=True)
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k")
    for name, (major, minor, mode) in DEVICES.items():
        path = os.path.join(dev, name)
        os.mknod(path, mode | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, mode)  # mknod's mode is filtered by the umask
    pts = os.path.join(dev, "pts")
    os.mkdir(pts, 0o755)
    sc.mount("devpts", pts, "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    bind(shm or "/dev/shm", os.path.join(dev, "shm"))
    os.mkdir(os.path.join(dev, "mqueue"), 0o755)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")):
        os.symlink(target, os.path.join(dev, name))


def mask_paths(rootfs: str) -> None:
    for path in MASKED:
        target = os.path.join(rootfs, path.lstrip("/"))
        if os.path.isdir(target) and not os.path.islink(target):
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY, None)
        elif os.path.exists(target):
            sc.mount("/dev/null", target, None, sc.MS_BIND)
    for path in READ_ONLY:
        target = os.path.join(rootfs, path.lstrip("/"))
        if os.path.exists(target):
            bind(target, target, read_only=True)


def build_rootfs(cfg: ContainerConfig) -> None:
    """Overlay, /proc, /sys, /dev, the pod's files and volumes, then pivot_root into it."""
    # Nothing we mount may propagate back to the host (on systemd hosts / is a shared mount).
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    root = cfg.merged
    sc.mount("overlay", root, "overlay", 0, f"lowerdir={cfg.lower},upperdir={cfg.upper},workdir={cfg.work}")
    proc = secure_join(root, "/proc")
    os.makedirs(proc, exist_ok=True)
    sc.mount("proc", proc, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    sys_ = secure_join(root, "/sys")
    os.makedirs(sys_, exist_ok=True)
    # sysfs shows the network devices of the mounter's netns: we already joined the pod's.
    sc.mount("sysfs", sys_, "sysfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY)
    mount_dev(root, cfg.shm)
    for m in cfg.mounts:
        mount_user(root, m)
    if any(m.destination == "/sys/fs/cgroup" and m.type == "tmpfs" for m in cfg.mounts):
        # cgroup v1: the tmpfs holding the per-controller binds is read-only once they are in.
        sc.mount(None, secure_join(root, "/sys/fs/cgroup"), None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)
    mask_paths(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching "." then drops it
    # without needing a directory for it inside the image (runc does the same).
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
    if cfg.read_only_rootfs:
        sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY)

