"""Pod volumes on the host side: emptyDir directories (or tmpfs), hostPath checks, and the volumes
written through the atomic writer (configMap, secret, projected, downwardAPI: sandbox/projections.py
says what they hold, sandbox/atomic_writer.py writes it).

Disk emptyDirs live in the pod's data directory on disk (store/paths.py), memory-backed ones are a
tmpfs under the pod's state directory; configMap and downwardAPI files (small) there too, and secret
and projected volumes on a tmpfs of their own there (as the kubelet: a Secret never reaches a disk).
Containers bind-mount these paths; only the tmpfs volumes are host mounts, and the sandbox teardown
detaches every mount below the pod directory anyway.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import Any

from pyrunc.errors import FieldError
from pyrunc.linux import syscalls as sc
from pyrunc.runtime.envsources import Lookup
from pyrunc.sandbox import atomic_writer
from pyrunc.sandbox.projections import in_memory, is_projection, volume_payload
from pyrunc.spec.model import EmptyDirVolumeSource
from pyrunc.store.paths import PodPaths, ensure_data_dir


def volume_path(vol: Any, layout: Any, data: PodPaths) -> str | None:
    """Where volume `vol` of the pod is on the host (None: a kind pyrunc does not have)."""
    if vol.empty_dir is not None:
        return layout.volume_dir(vol.name) if vol.empty_dir.medium == "Memory" else data.empty_dir(vol.name)
    if vol.host_path is not None:
        return str(vol.host_path.path)
    if is_projection(vol):
        return str(layout.volume_dir(vol.name))
    return None


def _no_objects(kind: str, name: str) -> None:
    return None


def prepare_volumes(pod: Any, layout: Any, node_memory: int, data: PodPaths, node_cpus: int = 0,
                    lookup: Lookup = _no_objects) -> dict[str, str]:
    """Create every volume of the pod; return volume name -> host path.

    With a pod `fsGroup`, the volumes that support ownership management (emptyDir, downwardAPI;
    never hostPath) are then made group-owned by it, as the kubelet's SetVolumeOwnership does.
    Like the kubelet, these ephemeral volumes ignore `fsGroupChangePolicy` (they always get the
    full walk); the policy is implemented in set_volume_ownership for volumes that honour it.
    `node_memory` and `node_cpus` (0: this machine's count) stand for limits a container does not set.
    `lookup` finds the ConfigMaps and Secrets of the pod's namespace; a missing one raises
    VolumeSetUpError (sandbox/projections.py), retried by the pod worker as the kubelet retries a mount.
    """
    paths: dict[str, str] = {}
    fs_group = pod.spec.security_context.fs_group if pod.spec.security_context is not None else None
    for i, vol in enumerate(pod.spec.volumes):
        where = f"spec.volumes[{i}]"
        if vol.empty_dir is not None:
            if vol.empty_dir.medium != "Memory":
                ensure_data_dir(data)
            paths[vol.name] = _empty_dir(str(volume_path(vol, layout, data)), vol.empty_dir, pod, node_memory)
            if fs_group is not None:
                set_volume_ownership(paths[vol.name], fs_group)
        elif vol.host_path is not None:
            paths[vol.name] = check_host_path(vol.host_path.path, vol.host_path.type, f"{where}.hostPath")
        elif is_projection(vol):
            paths[vol.name] = layout.volume_dir(vol.name)
            write_projection(vol, pod, layout, lookup, node_cpus, node_memory)
    return paths


def write_projection(vol: Any, pod: Any, layout: Any, lookup: Lookup, node_cpus: int, node_memory: int) -> bool:
    """(Re)write a configMap/secret/projected/downwardAPI volume through the atomic writer; False when its
    content was already current. The content is computed first: a missing object changes nothing."""
    payload = volume_payload(vol, pod, lookup, node_cpus, node_memory)
    path = layout.volume_dir(vol.name)
    if not os.path.isdir(path) or (in_memory(vol) and not os.path.ismount(path)):
        # The kubelet wraps these in an emptyDir (a Memory one for secret and projected volumes).
        _empty_dir(path, EmptyDirVolumeSource(medium="Memory" if in_memory(vol) else ""), pod, node_memory)
    changed = atomic_writer.write(path, payload)
    fs_group = pod.spec.security_context.fs_group if pod.spec.security_context is not None else None
    if changed and fs_group is not None:
        set_volume_ownership(path, fs_group, read_only=True)
    return changed


# The kubelet's masks (pkg/volume/volume_linux.go): group read-write (read-only volumes: read),
# plus search and setgid on directories so that what is created there belongs to fsGroup.
_RW_MASK = 0o660
_RO_MASK = 0o440
_EXEC_MASK = 0o110


def set_volume_ownership(path: str, fs_group: int, policy: str = "", read_only: bool = False) -> bool:
    """Make the volume at `path` group-owned by `fs_group`, recursively; False when skipped.

    `policy` "OnRootMismatch" skips the walk when the root already has the group, the mode bits
    and the setgid bit (the kubelet's requiresPermissionChange); "" or "Always" always walks.
    The walk never follows a symlink: the volume may hold whatever a container left there (a
    symlink to a host file planted before a restart), so every step is relative to the descriptor
    of an already-opened directory, directories are opened with O_NOFOLLOW, symlinks are only
    lchown'ed (fchownat AT_SYMLINK_NOFOLLOW) and never chmod'ed, and other files are chmod'ed with
    fchmodat(AT_SYMLINK_NOFOLLOW), which refuses a symlink swapped in meanwhile.
    Children are done before their directory, the root last, so an interrupted walk is redone.
    """
    root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if policy == "OnRootMismatch" and not _root_needs_change(root, fs_group, read_only):
            return False
        _walk_ownership(root, fs_group, read_only)
        _own_dir(root, fs_group, read_only)
        return True
    finally:
        os.close(root)


def _root_needs_change(fd: int, fs_group: int, read_only: bool) -> bool:
    st = os.fstat(fd)
    want = (_RO_MASK if read_only else _RW_MASK) | _EXEC_MASK
    return st.st_gid != fs_group or st.st_mode & want != want or not st.st_mode & stat.S_ISGID


def _own_dir(fd: int, fs_group: int, read_only: bool) -> None:
    os.fchown(fd, -1, fs_group)
    mask = (_RO_MASK if read_only else _RW_MASK) | _EXEC_MASK | stat.S_ISGID
    os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | mask)


def _walk_ownership(top: int, fs_group: int, read_only: bool) -> None:
    """Every entry below the open directory `top`, depth first, directories after their contents."""
    # A stack of (directory fd, names still to visit); each fd is ours to close.
    stack: list[tuple[int, list[str]]] = [(os.dup(top), os.listdir(top))]
    try:
        while stack:
            dfd, names = stack[-1]
            if not names:
                stack.pop()
                if stack:  # the root itself is done by the caller
                    _own_dir(dfd, fs_group, read_only)
                os.close(dfd)
                continue
            name = names.pop()
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed meanwhile
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                except (FileNotFoundError, NotADirectoryError, OSError) as e:
                    if isinstance(e, (FileNotFoundError, NotADirectoryError)) or e.errno == errno.ELOOP:
                        continue  # swapped for something else meanwhile: not a directory we walk
                    raise
                stack.append((sub, os.listdir(sub)))
                continue
            _own_entry(dfd, name, st, fs_group, read_only)
    finally:
        for dfd, _ in stack:
            os.close(dfd)


def _own_entry(dfd: int, name: str, st: os.stat_result, fs_group: int, read_only: bool) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.chown(name, -1, fs_group, dir_fd=dfd, follow_symlinks=False)  # lchown: never follows
    if stat.S_ISLNK(st.st_mode):
        return  # chmod would reach the link's target; the kubelet skips symlinks too
    mask = _RO_MASK if read_only else _RW_MASK
    try:
        os.chmod(name, stat.S_IMODE(st.st_mode) | mask, dir_fd=dfd, follow_symlinks=False)
    except (FileNotFoundError, NotImplementedError):
        pass  # gone, or a symlink swapped in after the lstat: fchmodat(NOFOLLOW) refused it


def _empty_dir(path: str, src: Any, pod: Any, node_memory: int) -> str:
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)  # the kubelet makes emptyDir world-writable so any container user can use it
    if src.medium == "Memory":
        # Without sizeLimit, the kubelet sizes memory-backed volumes to the pod's memory limits,
        # or to node allocatable memory when the pod has none.
        size = src.size_limit.value() if src.size_limit is not None else _pod_memory_limit(pod) or node_memory
        opts = "mode=1777" + (f",size={size}" if size else "")
        sc.mount("tmpfs", path, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, opts)
    return path


def _pod_memory_limit(pod: Any) -> int:
    pod_level = getattr(pod.spec, "resources", None)
    if pod_level is not None and "memory" in pod_level.limits:  # a pod-level limit bounds the whole pod
        return int(pod_level.limits["memory"].value())
    total = 0
    for c in pod.spec.containers:
        q = c.resources.limits.get("memory")
        if q is None:
            return 0
        total += q.value()
    return total


def check_host_path(path: str, kind: str, where: str) -> str:
    """hostPath `type` semantics: create what *OrCreate asks for, verify the rest."""
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, 0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "a"):
            pass
        os.chmod(path, 0o644)
    if not kind:
        return path
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FieldError(f"{where}.path", f"hostPath type check failed: {path} does not exist") from None
    want = {
        "DirectoryOrCreate": stat.S_ISDIR, "Directory": stat.S_ISDIR,
        "FileOrCreate": stat.S_ISREG, "File": stat.S_ISREG,
        "Socket": stat.S_ISSOCK, "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK,
    }[kind]
    if not want(mode):
        raise FieldError(f"{where}.path", f"hostPath type check failed: {path} is not a {kind}")
    return path
