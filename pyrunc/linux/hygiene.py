"""What a process of the runtime sheds before it enters a container: descriptors and dumpability.

Every path that joins a running container (exec, exec probes and hooks) forks from a process that holds
the host's things: the CLI's descriptors (a shell's `9</etc`), the supervisor's request socket and other
pods' log pipes. A process inside the container can reach a descriptor of any process it may ptrace
through /proc/PID/fd, and the magic link leads to the inode itself, outside the container's root. So,
before the first setns:

- close every descriptor >= 3 except the few the path needs (`close_fds_except`), and
- PR_SET_DUMPABLE 0: a non-dumpable process cannot be ptraced, and its /proc/PID/{fd,root,mem,...} stay
  root's of the *host* user namespace, until execve resets the flag for an ordinary binary.
"""

from __future__ import annotations

import errno
import os

from pyrunc.linux import syscalls as sc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re): `pyrunc-oci exec` does without
if TYPE_CHECKING:
    import signal
    from typing import Iterable
else:
    import _signal as signal  # the builtin under `signal`, which loads enum (for its IntEnums) on import

SYS_CLOSE_RANGE = 436  # the same number on every architecture (the syscall table unified at 424+)
PR_SET_DUMPABLE = 4
_UINT_MAX = (1 << 32) - 1


def close_range(first: int, last: int) -> None:
    """close_range(2); falls back to os.closerange on kernels before 5.9 (ENOSYS)."""
    import ctypes

    if first > last:
        return
    ret = sc._libc().syscall(SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(min(last, _UINT_MAX)),
                             ctypes.c_uint(0))
    if ret == 0:
        return
    err = ctypes.get_errno()
    if err not in (errno.ENOSYS, errno.EINVAL):
        raise OSError(err, f"close_range: {os.strerror(err)}")
    # Older kernel: close one by one up to the highest descriptor this process may hold.
    limit = os.sysconf("SC_OPEN_MAX")
    os.closerange(first, min(last, max(limit, first)) + 1)


def close_fds_except(keep: Iterable[int]) -> None:
    """Close every descriptor >= 3 that is not in `keep` (0, 1 and 2 are the caller's business)."""
    low = 3
    for fd in sorted(set(fd for fd in keep if fd >= 3)):
        close_range(low, fd - 1)
        low = fd + 1
    close_range(low, _UINT_MAX)


def set_dumpable(on: bool) -> None:
    """PR_SET_DUMPABLE: with 0, no ptrace and no /proc/PID/fd for anyone but root of the host."""
    sc.prctl(PR_SET_DUMPABLE, 1 if on else 0, what="prctl(PR_SET_DUMPABLE)")


def move_above_stdio(fds: Iterable[int]) -> dict[int, int]:
    """A close-on-exec copy >= 3 of each descriptor, so that dup2 onto 0..2 cannot overwrite a source."""
    import fcntl

    return {fd: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in set(fds)}


def reset_signals() -> None:
    """Every signal at its default and none blocked, as runc starts a process: Python ignores SIGPIPE
    and SIGXFSZ, a caller may ignore others, and an ignored signal survives execve."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    for number in sc.GLIBC_RESERVED_SIGNALS:
        try:
            sc.set_signal_disposition(number, sc.SIG_DFL)
        except OSError:
            pass  # an unknown architecture: they keep what the caller gave them
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def set_identity(uid: int, gid: int, groups: tuple[int, ...]) -> None:
    os.setgroups(list(groups))
    os.setgid(gid)
    os.setuid(uid)
