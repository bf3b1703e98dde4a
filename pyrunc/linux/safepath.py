"""Opening paths inside a directory that someone else controls, without ever leaving it.

A container's root, an image's layers and a shared emptyDir are written by processes we do not
trust. A path such as ``/etc/passwd`` or a volume's ``subPath`` must be resolved as if that
directory were ``/``: a symlink ``/etc -> /host/etc`` or ``data -> ../../..`` stays inside. And the
check must be the open itself, never "check the path, then use the path": between the two a
container can swap a directory for a symlink (CVE-2021-25741 in the kubelet, CVE-2021-30465 in
runc). So everything here returns a file descriptor; callers mount ``/proc/self/fd/N`` or use
``*at`` calls on it and never look the path up again.

Where the kernel has openat2(2) (5.6+), ``RESOLVE_IN_ROOT`` does the resolution in one call and
the kernel also refuses magic links (``/proc/self/root``). Elsewhere a component-by-component
walk with ``O_NOFOLLOW`` does the same in user space: each component is opened relative to the
descriptor of its parent, a symlink is read and its target resolved again from the root
descriptor (absolute) or the current directory (relative), and ``..`` never climbs above the root.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import syscalls as sc
from pyrunc.linux.libc import array, byref, c_char_p, c_int, c_size_t, c_uint64, sizeof

# linux/openat2.h
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

SYS_OPENAT2 = 437  # one number on every architecture (syscalls added after 5.1 share their numbers)
MAX_SYMLINKS = 40  # the kernel's MAXSYMLINKS

O_PATH = getattr(os, "O_PATH", 0o10000000)


_openat2_missing = False


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2); raises OSError (ENOSYS where the kernel lacks it)."""
    how = array(c_uint64, 3)(flags | os.O_CLOEXEC, mode, resolve)  # struct open_how: three u64
    try:
        return sc.syscall(SYS_OPENAT2, c_int(dirfd), c_char_p(os.fsencode(path)), byref(how),
                          c_size_t(sizeof(how)), what="openat2")
    except OSError as e:
        raise OSError(e.errno, os.strerror(e.errno or 0), path) from None


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _walk(root_fd: int, path: str, flags: int, beneath: bool, create: str = "", mode: int = 0o755) -> int:
    """User-space RESOLVE_IN_ROOT (or RESOLVE_BENEATH when `beneath`): see the module docstring.

    With `create` ("dir" or "file"), a missing component is made where the walk stands, with
    mkdirat() or openat(O_CREAT|O_EXCL|O_NOFOLLOW) relative to its parent's descriptor (the last
    one as a `create`, the others as directories), and its mode set exactly (no umask). A
    symlink met on the way, dangling or not, is followed inside the root like any other, so
    ``/etc -> /tmp/x`` makes ``<root>/tmp/x``: never a path outside the root.
    """
    todo = _split(path)
    stack = [os.dup(root_fd)]  # stack[-1] is the directory we are in; stack[0] is the root
    hops = 0
    try:
        while todo:
            part = todo[0]
            if part == "..":
                todo.pop(0)
                if len(stack) > 1:
                    os.close(stack.pop())
                elif beneath:
                    raise OSError(errno.EXDEV, "path escapes its base directory", path)
                continue
            last = len(todo) == 1
            try:
                fd = os.open(part, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            except FileNotFoundError:
                if not create:
                    raise
                hops += 1  # a create lost to a racing creator is retried, boundedly
                if hops > MAX_SYMLINKS:
                    raise
                _create_at(stack[-1], part, "file" if last and create == "file" else "dir", mode)
                continue  # look the new entry up again: it may have been swapped meanwhile
            todo.pop(0)
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(part, dir_fd=stack[-1])
                os.close(fd)
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    if beneath:
                        raise OSError(errno.EXDEV, "path escapes its base directory", path)
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo = _split(target) + todo
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            stack.append(fd)
        final = stack.pop()
        if flags & O_PATH:
            return final
        try:
            # Re-opening through the descriptor's magic link opens that very inode: no new lookup.
            return os.open(f"/proc/self/fd/{final}", (flags | os.O_CLOEXEC) & ~os.O_NOFOLLOW)
        finally:
            os.close(final)
    finally:
        for fd in stack:
            os.close(fd)


def _create_at(dir_fd: int, name: str, kind: str, mode: int) -> None:
    """mkdirat / openat(O_CREAT|O_EXCL|O_NOFOLLOW) of `name` in `dir_fd`, mode set exactly; an
    entry that appeared meanwhile (EEXIST) is left to the caller's next lookup."""
    try:
        if kind == "dir":
            os.mkdir(name, mode, dir_fd=dir_fd)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        else:
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         mode, dir_fd=dir_fd)
    except FileExistsError:
        return
    except OSError as e:
        # ENOTDIR/ELOOP: what we made was swapped for something else before we opened it;
        # the next lookup sees what is there now.
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            return
        raise
    try:
        os.fchmod(fd, mode)  # mkdir/open modes are filtered by the umask; the caller asked for this one
    finally:
        os.close(fd)


def open_in(root_fd: int, path: str, flags: int = O_PATH, beneath: bool = False) -> int:
    """A descriptor of `path` resolved inside the directory `root_fd`.

    Symlinks are followed as if `root_fd` were `/` (RESOLVE_IN_ROOT); with `beneath`, a path or a
    symlink that would leave it is an error (EXDEV) instead (RESOLVE_BENEATH). Magic links
    (/proc/PID/root and friends) are never followed.
    """
    global _openat2_missing
    if not _openat2_missing:
        resolve = RESOLVE_NO_MAGICLINKS | (RESOLVE_BENEATH if beneath else RESOLVE_IN_ROOT)
        try:
            return openat2(root_fd, path.lstrip("/") or ".", flags, 0, resolve)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter that refuses it
                raise
            _openat2_missing = True
    return _walk(root_fd, path, flags, beneath)


def open_dir(path: str) -> int:
    """An O_PATH descriptor of a directory we trust by its host path (a rootfs, a volume)."""
    return os.open(path, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def resolve_in(root_fd: int, path: str, *, beneath: bool = False, create: str = "", mode: int = 0o755) -> int:
    """An O_PATH descriptor of `path` inside `root_fd`, whatever its type; with `create` ("dir"
    or "file") a missing path is made (its missing parents as directories), each component
    relative to the descriptor of its resolved parent, so a symlink swapped in meanwhile is
    never followed out. Symlinks are followed inside the root (or, with `beneath`, refused when
    they would leave it: EXDEV)."""
    if not create:
        return open_in(root_fd, path, O_PATH, beneath)
    return _walk(root_fd, path, O_PATH, beneath, create, mode)


def mkdirs_in(root_fd: int, path: str, mode: int = 0o755, beneath: bool = False) -> int:
    """Resolve `path` inside `root_fd`, creating missing directories one at a time; an O_PATH fd of it.

    Each missing component is made with mkdirat() relative to the descriptor of its (resolved)
    parent, so a symlink swapped in meanwhile is never followed out. ENOTDIR when `path` exists
    and is not a directory.
    """
    fd = resolve_in(root_fd, path, beneath=beneath, create="dir", mode=mode)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    return fd


def create_file_in(root_fd: int, path: str, mode: int = 0o644, beneath: bool = False) -> int:
    """An O_PATH descriptor of what is at `path` inside `root_fd` (a regular file created, with
    its parents, when missing); never through a symlink out of the root."""
    if not _split(path):
        raise OSError(errno.EISDIR, "a file cannot be the root itself", path)
    return resolve_in(root_fd, path, beneath=beneath, create="file", mode=mode)


def fd_path(fd: int) -> str:
    """The magic link that names the inode of `fd`: what mount(2) is given instead of a path."""
    return f"/proc/self/fd/{fd}"


def read_file_in(root: str, path: str, limit: int = 1 << 20) -> bytes | None:
    """The contents of `path` inside the directory `root` (symlinks resolved inside it), at most
    `limit` bytes; None when it is missing or not a regular file (an image's /etc/passwd)."""
    try:
        root_fd = open_dir(root)
    except OSError:
        return None
    try:
        fd = open_in(root_fd, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    finally:
        os.close(root_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)
