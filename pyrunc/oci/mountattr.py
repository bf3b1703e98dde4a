"""Mount attributes set with mount_setattr(2) (Linux 5.12+): runc's recursive option words (`rro`,
`rnosuid`, ... applied to the mount and every mount below it) and id-mapped mounts (`idmap`, `ridmap`).

The words are runc's (libcontainer/specconv): each sets or clears one MOUNT_ATTR_* bit; the atime words
replace the whole atime mode, so they clear MOUNT_ATTR__ATIME first.
"""

from __future__ import annotations

import errno

SYS_MOUNT_SETATTR = 442  # the same on every architecture (added after the unified numbering)
AT_EMPTY_PATH, AT_RECURSIVE = 0x1000, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_STRICTATIME = 0x70, 0x0, 0x10, 0x20
MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_IDMAP, MOUNT_ATTR_NOSYMFOLLOW = 0x80, 0x100000, 0x200000

# word -> (bits to clear, bits to set)
RECURSIVE_WORDS: dict[str, tuple[int, int]] = {
    "rro": (0, MOUNT_ATTR_RDONLY), "rrw": (MOUNT_ATTR_RDONLY, 0),
    "rnosuid": (0, MOUNT_ATTR_NOSUID), "rsuid": (MOUNT_ATTR_NOSUID, 0),
    "rnodev": (0, MOUNT_ATTR_NODEV), "rdev": (MOUNT_ATTR_NODEV, 0),
    "rnoexec": (0, MOUNT_ATTR_NOEXEC), "rexec": (MOUNT_ATTR_NOEXEC, 0),
    "rnodiratime": (0, MOUNT_ATTR_NODIRATIME), "rdiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rrelatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME), "rnorelatime": (MOUNT_ATTR__ATIME, 0),
    "rnoatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME), "ratime": (MOUNT_ATTR__ATIME, 0),
    "rstrictatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_STRICTATIME), "rnostrictatime": (MOUNT_ATTR__ATIME, 0),
    "rnosymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
}


def combine(words: list[str]) -> tuple[int, int]:
    """(attr_clr, attr_set) of the words in order: a later word wins over an earlier one."""
    clear = set_ = 0
    for word in words:
        c, s = RECURSIVE_WORDS[word]
        if c == MOUNT_ATTR__ATIME:  # an atime mode: clear the whole field, set the mode (0 = relatime)
            set_ = (set_ & ~MOUNT_ATTR__ATIME) | s
            clear |= MOUNT_ATTR__ATIME
        else:
            set_ = (set_ & ~c) | s
            clear = (clear | c) & ~s
    return clear, set_


def set_attributes(fd: int, clear: int, set_: int, recursive: bool = True, userns_fd: int = -1) -> None:
    """mount_setattr on the mount `fd` is the root of (an O_PATH descriptor, or a detached tree)."""
    from pyrunc.linux import syscalls as sc  # here: config.py reads this module's words on every verb
    from pyrunc.linux.libc import array, byref, c_char_p, c_int, c_size_t, c_uint, c_uint64, sizeof

    # struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    attr = array(c_uint64, 4)(set_, clear, 0, max(userns_fd, 0))
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    try:
        sc.syscall(SYS_MOUNT_SETATTR, c_int(fd), c_char_p(b""), c_uint(flags), byref(attr), c_size_t(sizeof(attr)),
                   what="mount_setattr")
    except OSError as e:
        if e.errno == errno.ENOSYS:
            raise OSError(e.errno, "mount attributes need mount_setattr (Linux 5.12 or later)") from None
        raise


def idmapped_tree(source: str, userns_fd: int, recursive_tree: bool, recursive_idmap: bool) -> int:
    """A detached copy of `source` (open_tree OPEN_TREE_CLONE: its submounts too when `recursive_tree`)
    with its ids mapped through the user namespace `userns_fd` (the top mount only, or all of them when
    `recursive_idmap`: runc's idmap and ridmap). Made by the runtime, in the host's user namespace: the
    kernel wants CAP_SYS_ADMIN over the filesystem's own namespace. The init moves it onto its target."""
    import os

    from pyrunc.linux import mountfd

    src = os.open(source, os.O_PATH | os.O_CLOEXEC)
    try:
        mnt = mountfd._open_tree_clone(src, recursive_tree)
    finally:
        os.close(src)
    try:
        set_attributes(mnt, 0, MOUNT_ATTR_IDMAP, recursive=recursive_idmap, userns_fd=userns_fd)
    except OSError as e:
        os.close(mnt)
        why = "this kernel or filesystem cannot id-map mounts" if e.errno in (errno.EINVAL, errno.ENOSYS) else e.strerror
        raise OSError(e.errno, f"id-mapped mount of {source}: {why}") from None
    return mnt
