"""Thin wrappers over the Linux syscalls Python lacks (or only has from 3.12).

Each raises OSError with errno set, like the os module does. Nothing here keeps state
except the lazily opened libc handle, which is a property of the process, not of a pod.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)

if TYPE_CHECKING:
    import ctypes

# ctypes and socket are imported where they are used: `pyrunc get` needs only proc_start_time here,
# and those two imports cost it ~15 ms.

# Namespace flags (linux/sched.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NS_FLAGS = {
    "net": CLONE_NEWNET,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "pid": CLONE_NEWPID,
    "mnt": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
}

# Mount flags (linux/mount.h).
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# pivot_root(2) has no glibc wrapper, and it predates the unified syscall numbers (424+): one per
# architecture (syscall_number). aarch64 and riscv64 use the generic table.
SYS_PIVOT_ROOT = {"x86_64": 155, "i686": 217, "aarch64": 41, "riscv64": 41, "armv7l": 218, "ppc64le": 203,
                  "s390x": 217}


_LIBC: list[ctypes.CDLL] = []  # loaded once (a list, not functools.lru_cache: functools is an import more)


def _libc() -> "ctypes.CDLL":
    if _LIBC:
        return _LIBC[0]
    import ctypes

    # Not ctypes.util.find_library: it runs ldconfig in a subprocess (tens of ms on every CLI call).
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.syscall.restype = ctypes.c_long  # syscall(2) returns a long (a descriptor, a count, -1)
    _LIBC.append(libc)
    return libc


def _check(ret: int, what: str, path: str | None = None) -> None:
    if ret != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def syscall(nr: int, *args: object, what: str = "syscall") -> int:
    """A raw syscall (ctypes-typed arguments); its result, or OSError with the errno."""
    import ctypes

    ret = _libc().syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(ret)


def machine() -> str:
    """The architecture as uname names it (x86_64, aarch64, ...)."""
    return os.uname().machine


def syscall_number(table: dict[str, int], name: str) -> int:
    """`name`'s number on this machine from a per-architecture table (syscalls older than the
    unified numbering, 424+); ENOSYS for an architecture the table does not know."""
    arch = machine()
    if arch not in table:
        raise OSError(errno.ENOSYS, f"no {name}() syscall number known for {arch}")
    return table[arch]


def prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> int:
    """prctl(2) with the unused arguments zeroed (the kernel refuses some options otherwise)."""
    import ctypes

    ret = _libc().prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                        ctypes.c_ulong(0))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(ret)


def setns(fd: int, nstype: int = 0) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, nstype)
        return
    _check(_libc().setns(fd, nstype), "setns")


def setns_path(path: str, nstype: int = 0) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, nstype)
    finally:
        os.close(fd)


def unshare(flags: int) -> None:
    if hasattr(os, "unshare"):  # Python >= 3.12
        os.unshare(flags)
        return
    _check(_libc().unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    import ctypes

    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    ret = _libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(ret, f"mount {source or fstype} on {target}", target)


def umount(target: str, flags: int = 0) -> None:
    _check(_libc().umount2(target.encode(), flags), f"umount {target}", target)


def umount_quiet(target: str) -> bool:
    """Detach a mount if one is there; False when nothing was mounted (EINVAL) or the path is gone."""
    try:
        umount(target, MNT_DETACH)
        return True
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):
            return False
        raise


def pivot_root(new_root: str, put_old: str) -> None:
    nr = syscall_number(SYS_PIVOT_ROOT, "pivot_root")
    _check(_libc().syscall(nr, new_root.encode(), put_old.encode()), "pivot_root", new_root)


# rt_sigaction(2), for the two signals glibc keeps for itself (32 and 33: thread cancellation and
# setxid broadcasts). Python's signal module refuses them, glibc's sigaction() too, yet a caller may
# have them ignored, and an ignored signal survives execve.
SYS_RT_SIGACTION = {"x86_64": 13, "i686": 174, "aarch64": 134, "riscv64": 134, "armv7l": 174, "ppc64le": 173,
                    "s390x": 174}
SIG_DFL, SIG_IGN = 0, 1
GLIBC_RESERVED_SIGNALS = (32, 33)


def set_signal_disposition(signum: int, handler: int) -> None:
    """SIG_DFL or SIG_IGN for `signum` through the raw syscall (a zeroed struct sigaction with only
    the handler set means the same on every architecture: no flags, no mask, no restorer)."""
    import ctypes

    act = (ctypes.c_ulong * 8)()  # larger than any architecture's kernel struct sigaction
    act[0] = handler
    syscall(syscall_number(SYS_RT_SIGACTION, "rt_sigaction"), ctypes.c_int(signum), ctypes.byref(act), None,
            ctypes.c_size_t(8), what=f"rt_sigaction {signum}")


def set_hostname(name: str) -> None:
    import socket

    socket.sethostname(name)


def loopback_up() -> None:
    """Bring `lo` up in the current network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS).

    Done with two ioctls instead of netlink so the sandbox needs no pyroute2 import.
    """
    import fcntl
    import socket
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def set_child_subreaper() -> None:
    """Orphaned descendants (container PID 1s after their launcher exits) get reparented to us."""
    import prctl  # python-prctl

    prctl.set_child_subreaper(1)


def set_process_name(name: str) -> None:
    """What ps shows for a helper process forked from the supervisor (comm and the command line)."""
    import prctl  # python-prctl

    prctl.set_name(name[:15])
    prctl.set_proctitle(name)


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot); None if gone or a zombie.

    A pid plus its start time names one process for good: pids are reused, start times are not.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def pid_alive(pid: int, start_time: int | None) -> bool:
    if pid <= 0:
        return False
    now = proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def readable(fds: int | list[int], timeout: float | None) -> list[int]:
    """The descriptors of `fds` ready to read (or at EOF/hung up) within `timeout` seconds ([] on timeout).

    poll(2), not select(2): select takes no descriptor numbered 1024 or more (Python raises "filedescriptor
    out of range in select()"), and the supervisor holds several descriptors per container (log pipes,
    attach sockets, pidfds), so past ~100 pods its new descriptors (and those of the children it forks)
    are numbered above 1024."""
    import select

    poller = select.poll()
    for fd in [fds] if isinstance(fds, int) else fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999)))]
