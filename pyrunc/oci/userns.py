"""User and time namespaces of pyrunc-oci (config-linux.md "User namespace mappings", "Offset for Time
Namespace").

User namespace, as runc makes it: the launcher unshares CLONE_NEWUSER first (after joining the namespaces
given by path, which belong to the host's user namespace and could not be entered from inside a new one),
then makes the other new namespaces (so the new user namespace owns them) and forks the init. The
runtime, in the host's user namespace, writes the init's uid_map and gid_map before it lets the init go
(a process cannot write a map of more than its own id for itself: the writer needs CAP_SETUID and
CAP_SETGID in the parent namespace). The init then becomes the namespace's root (setresuid/setresgid 0)
before it touches the root filesystem, so what it makes there is owned by the mapped root.

Time namespace: unshare(CLONE_NEWTIME) moves only the children (as a pid namespace does); its clock
offsets are written to /proc/self/timens_offsets after the unshare and before the first child (the init)
is forked: the kernel refuses them once a process lives in the namespace.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from pyrunc.records import NamedTuple

CLONE_NEWTIME = 0x00000080
CLOCKS = {"monotonic": 1, "boottime": 7}  # CLOCK_MONOTONIC, CLOCK_BOOTTIME: the only ones a time ns offsets


class IdMap(NamedTuple):
    container_id: int
    host_id: int
    size: int


def map_text(maps: tuple[IdMap, ...]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def maps_id(maps: tuple[IdMap, ...], container_id: int) -> bool:
    """The id is mapped in the namespace."""
    return any(m.container_id <= container_id < m.container_id + m.size for m in maps)


def host_id(maps: tuple[IdMap, ...], container_id: int) -> int | None:
    for m in maps:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + container_id - m.container_id
    return None


def write_maps(pid: int, uid_map: tuple[IdMap, ...], gid_map: tuple[IdMap, ...]) -> None:
    """From the runtime (the host's user namespace), before the init goes on. A writer without CAP_SETGID
    in the parent namespace may only write gid_map after denying setgroups (user_namespaces(7)): pyrunc-oci
    runs as root, so this is for completeness and setgroups stays allowed, as runc leaves it for root."""
    if os.geteuid() != 0:
        with open(f"/proc/{pid}/setgroups", "w", encoding="ascii") as f:
            f.write("deny")
    # One write each: the kernel takes a map in a single write(2) only.
    for name, maps in (("gid_map", gid_map), ("uid_map", uid_map)):
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, map_text(maps).encode())
        except OSError as e:
            raise OSError(e.errno, f"writing {name} of the container: {e.strerror}") from None
        finally:
            os.close(fd)


def write_time_offsets(offsets: tuple[tuple[str, int, int], ...]) -> None:
    """(clock, secs, nanosecs) to /proc/self/timens_offsets: after unshare(CLONE_NEWTIME), before fork."""
    if not offsets:
        return
    text = "".join(f"{CLOCKS[clock]} {secs} {nanosecs}\n" for clock, secs, nanosecs in offsets)
    fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def namespace_fd(uid_map: tuple[IdMap, ...], gid_map: tuple[IdMap, ...]) -> int:
    """An open /proc/PID/ns/user of a new user namespace with these maps (for an id-mapped mount): a child
    unshares it and waits; we write its maps, open the namespace, and let it exit. The namespace lives on
    as long as the descriptor does."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(ready_r)
            os.close(done_w)
            _unshare_user()
            os.write(ready_w, b"u")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"u":
            raise OSError(1, "could not make a user namespace for an id-mapped mount")
        write_maps(pid, uid_map, gid_map)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)  # the child's read returns: it exits
        os.waitpid(pid, 0)


def _unshare_user() -> None:
    from pyrunc.linux import syscalls as sc

    sc.unshare(sc.CLONE_NEWUSER)
