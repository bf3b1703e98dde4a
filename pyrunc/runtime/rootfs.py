"""The container's root filesystem, built inside its own mount namespace (child side).

Everything here runs in the container's first process after unshare(CLONE_NEWNS), before
exec. Because every mount is made inside that namespace, they all vanish with it: the host
never sees a container's overlay, /proc or /dev, and nothing needs unmounting on delete.

Every path inside the container's root comes from the image or from a volume a container can
write, so none is ever used as a path string: each mount target (and a volume's subPath) is
resolved inside the root by pyrunc.linux.safepath into a descriptor, created there with *at calls
when missing, and mounted through /proc/self/fd/N (pyrunc.linux.mountfd). A symlink such as
``/etc -> /host/etc`` or ``/dev -> /`` therefore resolves to ``<root>/host/etc`` or ``<root>``,
never to the host. The device nodes and links of /dev are made relative to the descriptor of
the fresh /dev tmpfs. Masked and read-only paths are looked up the same way in the new /proc
and /sys, after they are mounted.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import mountfd, safepath
from pyrunc.linux import syscalls as sc
from pyrunc.linux.safepath import O_PATH, fd_path
from pyrunc.runtime.launch import LaunchError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)

if TYPE_CHECKING:  # pyrunc-oci's init uses this module's /dev and masks, not the pods' config (dataclasses: ~10 ms)
    from pyrunc.runtime.config import ContainerConfig, DeviceNode, Mount

# Device nodes of a minimal /dev (runc's default set): name -> (major, minor, mode).
DEVICES = {
    "null": (1, 3, 0o666),
    "zero": (1, 5, 0o666),
    "full": (1, 7, 0o666),
    "random": (1, 8, 0o666),
    "urandom": (1, 9, 0o666),
    "tty": (5, 0, 0o666),
}
# A privileged container gets every device node of the host's /dev except these directories
# (each is the container's own, or not device nodes) and these names (the console belongs to a
# terminal, /dev/ptmx is a link to the container's own devpts): containerd's host-device walk.
HOST_DEV_SKIP_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})
HOST_DEV_SKIP_NAMES = frozenset({"ptmx"})  # at the top of /dev; "console" is skipped at any depth

_DIR = O_PATH | os.O_DIRECTORY


def _open_at(dir_fd: int, name: str) -> int:
    """An O_PATH descriptor of `name` in `dir_fd`, never following a symlink (for our own tmpfs)."""
    return os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def _mkdir_at(dir_fd: int, name: str, mode: int) -> int:
    try:
        os.mkdir(name, mode, dir_fd=dir_fd)
        os.chmod(name, mode, dir_fd=dir_fd)  # exact mode, whatever the umask (our own fresh tmpfs)
    except FileExistsError:
        pass
    fd = _open_at(dir_fd, name)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name)
    return fd


def _new_fs_root(root: int, path: str, covered: int) -> int:
    """After mounting a new filesystem on `covered`, the root of that mount, looked up in-root.

    The descriptor of a mount point names the covered directory, not the mount stacked on it,
    so operations inside the new filesystem need this second lookup. It is checked to have left
    the covered filesystem, i.e. to be the filesystem just mounted.
    """
    fd = safepath.open_in(root, path, _DIR)
    if os.fstat(fd).st_dev == os.fstat(covered).st_dev:
        os.close(fd)
        raise OSError(errno.EBUSY, "the mount target changed while it was being mounted", path)
    return fd


def _mount_new_fs(root: int, path: str, fstype: str, flags: int, data: str | None = None) -> None:
    target = safepath.mkdirs_in(root, path)
    try:
        sc.mount(fstype, fd_path(target), fstype, flags, data)
    finally:
        os.close(target)


def _ordinary_dir(root: int, name: str, fstype: str) -> int:
    """The directory /NAME right under the root for proc or sysfs, made when missing.

    runc refuses to mount these anywhere but on a real directory: an image whose /proc is a
    symlink (to / or to a directory of its own) would otherwise have /proc mounted elsewhere and
    its masks applied to the wrong tree. pyrunc does the same: CreateContainerError.
    """
    try:
        os.mkdir(name, 0o555, dir_fd=root)
    except FileExistsError:
        pass
    fd = _open_at(root, name)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise LaunchError("create", f'error mounting "{fstype}" to rootfs at "/{name}": '
                                    f'filesystem "{fstype}" must be mounted on ordinary directory')
    return fd


def mount_kernel_fs(root: int, privileged: bool) -> None:
    """/proc, then /sys (read-only unless privileged)."""
    base = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    proc = _ordinary_dir(root, "proc", "proc")
    try:
        sc.mount("proc", fd_path(proc), "proc", base)
    finally:
        os.close(proc)
    sys_ = _ordinary_dir(root, "sys", "sysfs")
    try:
        # sysfs shows the network devices of the mounter's netns: we already joined the pod's.
        sc.mount("sysfs", fd_path(sys_), "sysfs", base | (0 if privileged else sc.MS_RDONLY))
    finally:
        os.close(sys_)


def _mknod_at(dev: int, name: str, mode: int, rdev: int, uid: int = 0, gid: int = 0) -> None:
    try:
        os.mknod(name, mode, rdev, dir_fd=dev)
    except FileExistsError:
        return  # a default node, or one the host lists twice
    os.chmod(name, stat.S_IMODE(mode), dir_fd=dev)  # mknod's mode is filtered by the umask
    os.chown(name, uid, gid, dir_fd=dev, follow_symlinks=False)


def copy_host_devices(dev: int, host: str = "/dev", top: bool = True) -> None:
    """Every character and block device of the host's `host` directory, made in `dev` with
    mknodat as on the host (type, numbers, mode, owner), subdirectories included."""
    with os.scandir(host) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name in HOST_DEV_SKIP_DIRS:
                    continue
                sub = _mkdir_at(dev, entry.name, 0o755)
                try:
                    copy_host_devices(sub, entry.path, top=False)
                finally:
                    os.close(sub)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                if entry.name == "console" or (top and entry.name in HOST_DEV_SKIP_NAMES):
                    continue
                _mknod_at(dev, entry.name, st.st_mode, st.st_rdev, st.st_uid, st.st_gid)


def mount_dev(root: int, shm: str, privileged: bool = False) -> None:
    """A tmpfs /dev with runc's nodes and links, devpts, /dev/shm (the pod's) and mqueue."""
    covered = safepath.mkdirs_in(root, "/dev")
    try:
        sc.mount("tmpfs", fd_path(covered), "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k")
        dev = _new_fs_root(root, "/dev", covered)
    finally:
        os.close(covered)
    try:
        for name, (major, minor, mode) in DEVICES.items():
            _mknod_at(dev, name, mode | stat.S_IFCHR, os.makedev(major, minor))
        if privileged:
            copy_host_devices(dev)
        pts = _mkdir_at(dev, "pts", 0o755)
        try:
            sc.mount("devpts", fd_path(pts), "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620,gid=5")
        finally:
            os.close(pts)
        os.symlink("pts/ptmx", "ptmx", dir_fd=dev)
        shm_dir = _mkdir_at(dev, "shm", 0o1777)
        src = os.open(shm or "/dev/shm", _DIR | os.O_CLOEXEC)  # a host path of ours (or the host's)
        try:
            mountfd.bind(src, shm_dir)
        finally:
            os.close(src)
            os.close(shm_dir)
        mq = _mkdir_at(dev, "mqueue", 0o755)
        try:
            # mqueue shows the mounter's IPC namespace: the pod's (already joined).
            sc.mount("mqueue", fd_path(mq), "mqueue", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        finally:
            os.close(mq)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")):
            os.symlink(target, name, dir_fd=dev)
    finally:
        os.close(dev)


def make_device(root: int, node: DeviceNode) -> None:
    """A device node the config gives (CRI's devices) at its path in the container, parents made beneath the
    root (the path is the container's, so it is resolved inside it), as on the host (type, numbers, mode,
    owner). It replaces what the path held (a default node of /dev: the request names its own)."""
    parent = safepath.mkdirs_in(root, os.path.dirname(node.path) or "/")
    try:
        name = os.path.basename(node.path)
        try:
            os.unlink(name, dir_fd=parent)
        except FileNotFoundError:  # not contextlib.suppress: contextlib is one import more for pyrunc-oci's init
            pass
        kind = stat.S_IFCHR if node.kind == "c" else stat.S_IFBLK
        _mknod_at(parent, name, stat.S_IMODE(node.mode) | kind, os.makedev(node.major, node.minor), node.uid, node.gid)
    finally:
        os.close(parent)


def _open_source(m: Mount, container: str) -> int:
    """An O_PATH descriptor of a bind mount's source.

    Sources are host paths the runtime chose (pod files, volumes, cgroups) and are opened as
    such; a subPath is not: it lies in a volume containers write, so it is resolved beneath the
    volume's descriptor (a symlink or `..` leaving it is an error), missing directories created
    there with the volume directory's mode, as the kubelet does.
    """
    if not m.sub_path:
        return os.open(m.source, O_PATH | os.O_CLOEXEC)
    try:
        volume = safepath.open_dir(m.source)
        try:
            mode = stat.S_IMODE(os.fstat(volume).st_mode)
            return safepath.resolve_in(volume, m.sub_path, beneath=True, create="dir", mode=mode)
        finally:
            os.close(volume)
    except OSError:
        # The kubelet's words (and reason: CreateContainerConfigError); the detail would tell a
        # pod's author about the host's filesystem.
        raise LaunchError("config", f'failed to prepare subPath for volumeMount "{m.volume or m.destination}" '
                                    f'of container "{container}"') from None


def mount_user(root: int, m: Mount, container: str = "") -> None:
    """One mount of the container's config (pod files, volumes, cgroups), on an in-root target."""
    if m.type == "cgroup2":
        # Inside the container's cgroup namespace this shows its own cgroup as the root.
        _mount_new_fs(root, m.destination, "cgroup2", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY)
        return
    if m.type == "tmpfs":
        _mount_new_fs(root, m.destination, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, m.data or None)
        return
    src = _open_source(m, container)
    try:
        if stat.S_ISDIR(os.fstat(src).st_mode):
            target = safepath.mkdirs_in(root, m.destination)
        else:
            target = safepath.create_file_in(root, m.destination)
        try:
            mountfd.bind(src, target, m.read_only, reopen=lambda: safepath.open_in(root, m.destination))
        finally:
            os.close(target)
    finally:
        os.close(src)


def _remount_read_only(root: int, path: str) -> None:
    """Remount the tmpfs at `path` (ours, just made) read-only, through an in-root lookup of it."""
    fd = safepath.open_in(root, path, _DIR)
    try:
        sc.mount(None, fd_path(fd), None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)
    finally:
        os.close(fd)


def mask_paths(root: int, masked: tuple[str, ...], readonly: tuple[str, ...]) -> None:
    """runc's masks: a directory gets an empty read-only tmpfs, anything else the container's
    /dev/null; read-only paths are bound onto themselves read-only. Each path is looked up in
    the container's new /proc and /sys (in-root); a missing one is skipped."""
    null = safepath.open_in(root, "/dev/null") if masked else -1
    try:
        for path in masked:
            try:
                fd = safepath.open_in(root, path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    sc.mount("tmpfs", fd_path(fd), "tmpfs", sc.MS_RDONLY, None)
                else:
                    mountfd.bind(null, fd, recursive=False)
            finally:
                os.close(fd)
    finally:
        if null >= 0:
            os.close(null)
    for path in readonly:
        try:
            fd = safepath.open_in(root, path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        def reopen(p: str = path) -> int:  # not functools.partial: functools is an import more for pyrunc-oci's init
            return safepath.open_in(root, p)

        try:
            mountfd.bind(fd, fd, read_only=True, reopen=reopen)
        finally:
            os.close(fd)


def build_rootfs(cfg: ContainerConfig) -> None:
    """Overlay, /proc, /sys, /dev, the pod's files and volumes, masks, then pivot_root into it."""
    # Nothing we mount may propagate back to the host (on systemd hosts / is a shared mount).
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    # cfg.merged is the runtime's own directory under the pod; from here on only its descriptor is used.
    sc.mount("overlay", cfg.merged, "overlay", 0, f"lowerdir={cfg.lower},upperdir={cfg.upper},workdir={cfg.work}")
    root = safepath.open_dir(cfg.merged)
    try:
        mount_kernel_fs(root, cfg.privileged)
        mount_dev(root, cfg.shm, cfg.privileged)
        for node in cfg.devices:
            make_device(root, node)
        for m in cfg.mounts:
            mount_user(root, m, cfg.name)
        if any(m.destination == "/sys/fs/cgroup" and m.type == "tmpfs" for m in cfg.mounts):
            # cgroup v1: the tmpfs holding the per-controller binds is read-only once they are in.
            _remount_read_only(root, "/sys/fs/cgroup")
        mask_paths(root, cfg.masked_paths, cfg.readonly_paths)
        # pivot_root(".", ".") stacks the old root under the new one; detaching "." then drops it
        # without needing a directory for it inside the image (runc does the same).
        os.fchdir(root)
    finally:
        os.close(root)
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
    if cfg.read_only_rootfs:
        sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY)
