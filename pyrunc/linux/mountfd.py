"""Mounting by descriptor: bind mounts whose source and target are open files, never paths.

A target resolved with pyrunc.linux.safepath is an O_PATH descriptor; mount(2) is given its magic
link ``/proc/self/fd/N`` so the kernel mounts on that very inode, not on whatever the path names
now (runc's fix for CVE-2021-30465). One catch: the magic link names the *covered* directory, not
a mount stacked on it later, so a read-only bind cannot be finished with a second
``MS_REMOUNT|MS_RDONLY`` on the same link (EINVAL: not a mount root). Where the kernel has the
new mount API (5.12+: open_tree, mount_setattr, move_mount), a bind is therefore a detached copy
of the source, made read-only while still detached, then moved onto the target: one step, no
path. On older kernels the classic bind is remounted through a fresh in-root lookup, checked to
be the mount just made.
"""

from __future__ import annotations

import errno
import os

from pyrunc.linux import syscalls as sc
from pyrunc.linux.libc import array, byref, c_char_p, c_int, c_size_t, c_uint, c_uint64, sizeof
from pyrunc.linux.safepath import fd_path

# Syscall numbers added after 5.1 are the same on every architecture.

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Callable
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_RDONLY = 0x1

_new_api: bool | None = None  # None: not tried yet


def _syscall(nr: int, *args: object) -> int:
    return sc.syscall(nr, *args)


def _open_tree_clone(src_fd: int, recursive: bool) -> int:
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    return _syscall(SYS_OPEN_TREE, c_int(src_fd), c_char_p(b""), c_uint(flags))


def _set_read_only(mnt_fd: int) -> None:
    # struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    attr = array(c_uint64, 4)(MOUNT_ATTR_RDONLY, 0, 0, 0)
    _syscall(SYS_MOUNT_SETATTR, c_int(mnt_fd), c_char_p(b""),
             c_uint(AT_EMPTY_PATH | AT_RECURSIVE), byref(attr), c_size_t(sizeof(attr)))


def _move_mount(mnt_fd: int, target_fd: int) -> None:
    _syscall(SYS_MOVE_MOUNT, c_int(mnt_fd), c_char_p(b""), c_int(target_fd),
             c_char_p(b""), c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))


def mount_id(fd: int) -> int:
    """The id of the mount `fd` is on (``mnt_id`` of /proc/self/fdinfo, as in mountinfo)."""
    with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    raise OSError(errno.ENOSYS, "no mnt_id in fdinfo")


def bind(src_fd: int, target_fd: int, read_only: bool = False, recursive: bool = True,
         reopen: Callable[[], int] | None = None) -> None:
    """Bind-mount the inode of `src_fd` onto the inode of `target_fd` (both O_PATH descriptors).

    `reopen` (old kernels only, for read-only binds) returns a new descriptor of the target looked
    up again inside the root, i.e. the root of the mount just stacked there.
    """
    global _new_api
    if _new_api is not False:
        try:
            mnt = _open_tree_clone(src_fd, recursive)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter that refuses it
                raise
            _new_api = False
        else:
            _new_api = True
            try:
                if read_only:
                    _set_read_only(mnt)
                _move_mount(mnt, target_fd)
            finally:
                os.close(mnt)
            return
    covered = mount_id(target_fd)
    sc.mount(fd_path(src_fd), fd_path(target_fd), None, sc.MS_BIND | (sc.MS_REC if recursive else 0))
    if not read_only:
        return
    if reopen is None:
        raise OSError(errno.EINVAL, "a read-only bind needs the target looked up again on this kernel")
    top = reopen()
    try:
        if not _is_bind_of(top, src_fd, covered):
            # The path no longer leads to what we just mounted (swapped meanwhile): remount
            # nothing else. The caller fails the container; its mount namespace dies with it.
            raise OSError(errno.EBUSY, "the mount target changed while it was being mounted")
        sc.mount(None, fd_path(top), None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | (sc.MS_REC if recursive else 0))
    finally:
        os.close(top)


def _is_bind_of(top: int, src_fd: int, covered: int) -> bool:
    """`top` is the root of a mount stacked on mount `covered` whose root is the inode of `src_fd`."""
    a, b = os.fstat(top), os.fstat(src_fd)
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
        return False
    mid = mount_id(top)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if int(fields[0]) == mid:
                return int(fields[1]) == covered
    return False
