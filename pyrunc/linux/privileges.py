"""Applying a container's process security to the process about to exec: capabilities,
no_new_privs and seccomp, in runc's order.

    ProcessSecurity(cfg)  in the host's context (the container's init before pivot_root, the exec
                      joiner before chroot): compile the seccomp filter, while libseccomp can
                      still be found; nothing changes for the process yet.
    .enter(identity)  in the container, replacing the bare setgroups/setgid/setuid:
        1. no_new_privs (allowPrivilegeEscalation: false)
        2. drop the bounding set (needs CAP_SETPCAP, so while still root)
        3. seccomp now if no_new_privs is off: loading a filter without no_new_privs needs
           CAP_SYS_ADMIN, which the final sets usually lack (runc does the same)
        4. keep-caps on, identity(), keep-caps off: setuid() to a non-root uid would otherwise
           clear the permitted set before capset() could choose it
        5. capset(): effective, permitted, inheritable; then the ambient set
        6. seccomp now if no_new_privs is on: as late as possible, so that the runtime's own
           few remaining syscalls (chdir, sigaction, execve) are all the filter must allow

capset(2) and prctl(2) go through _ctypes (linux/libc.py): python-prctl is built against libcap and knows
neither the ambient set nor the capabilities newer than its libcap.

Here, in pyrunc/linux, with the capability numbers it needs (security/caps.py re-exports them), not in
pyrunc/security: that package's __init__ loads typing (and with it re, enum: ~10 ms), and `pyrunc-oci exec`'s
joiner loads this module on the path of every exec (docs/performance.md). security/process.py re-exports it.
"""

from __future__ import annotations

import errno

from pyrunc.linux import syscalls as sc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# linux/capability.h, by number. CAP_CHECKPOINT_RESTORE (40) is the last one as of Linux 6.x; a
# kernel may know fewer (/proc/sys/kernel/cap_last_cap) and those are then simply not applied.
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS: dict[str, int] = {name: n for n, name in enumerate(CAP_NAMES)}


def by_number(names: Iterable[str]) -> tuple[str, ...]:
    """Capability names in kernel order, without duplicates."""
    return tuple(sorted(set(names), key=CAP_NUMBERS.__getitem__))


def mask(names: Iterable[str]) -> int:
    """The bit mask of /proc/PID/status (CapEff: 00000000a80425fb is mask(DEFAULT_CAPS))."""
    bits = 0
    for name in names:
        bits |= 1 << CAP_NUMBERS[name]
    return bits


_last_cap: list[int] = []  # read once (not functools.lru_cache: functools is an import of its own)


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    if not _last_cap:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last_cap.append(min(int(f.read()), len(CAP_NAMES) - 1))
        except (OSError, ValueError):
            _last_cap.append(len(CAP_NAMES) - 1)
    return _last_cap[0]


def _prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> None:
    sc.prctl(option, arg2, arg3, what=what)


def set_no_new_privs() -> None:
    _prctl(PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")


def drop_bounding(keep: tuple[str, ...]) -> None:
    wanted = mask(keep)
    for n in range(last_cap() + 1):
        if not wanted >> n & 1:
            _prctl(PR_CAPBSET_DROP, n, what=f"dropping {CAP_NAMES[n]} from the bounding set")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) with the v3 ABI: two 32-bit words per set. The header (u32 version, int pid) and the two
    data records (u32 effective, permitted, inheritable) as flat u32 arrays: the same bytes as the C structs."""
    from pyrunc.linux.libc import array, c_uint32, get_errno

    header = array(c_uint32, 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = array(c_uint32, 6)()
    for word in (0, 1):
        shift = 32 * word
        data[3 * word] = (effective >> shift) & 0xFFFFFFFF
        data[3 * word + 1] = (permitted >> shift) & 0xFFFFFFFF
        data[3 * word + 2] = (inheritable >> shift) & 0xFFFFFFFF
    if sc._libc().capset(header, data) != 0:
        err = get_errno()
        raise OSError(err, f"capset: {errno.errorcode.get(err, err)}")


def set_ambient(names: tuple[str, ...]) -> None:
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="clearing the ambient set")
    for name in names:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NUMBERS[name], what=f"raising ambient {name}")


def _known(names: tuple[str, ...]) -> tuple[str, ...]:
    """Only the capabilities this kernel knows (runc, too, ignores the others)."""
    last = last_cap()
    return tuple(n for n in names if CAP_NUMBERS[n] <= last)


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class BpfFilter:
    """A seccomp filter compiled before (libseccomp's export of the same filter: pyseccomp's export_bpf),
    loaded as libseccomp loads a filter without flags: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog).
    pyrunc-oci exec keeps the program of a container's filter, so that its later execs load neither json nor
    pyseccomp (oci/exec.py)."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise ValueError(f"a BPF program is a whole number of 8-byte instructions, not {len(program)} bytes")
        from pyrunc.linux.libc import Structure, addressof, array, c_char, c_ushort, c_void_p

        class SockFprog(Structure):  # linux/filter.h struct sock_fprog
            _fields_ = [("len", c_ushort), ("filter", c_void_p)]

        self._code = array(c_char, len(program)).from_buffer_copy(program)
        self._prog = SockFprog(len(program) // 8, addressof(self._code))
        self._address = addressof(self._prog)

    def load(self) -> None:
        sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self._address, what="prctl(PR_SET_SECCOMP)")


class ProcessSecurity:
    """A container's capabilities, no_new_privs and seccomp filter, ready to apply. The filter is the OCI
    JSON of `cfg.seccomp`, compiled here, or a compiled program in `cfg.seccomp_bpf` (BpfFilter), if any."""

    def __init__(self, cfg: Any) -> None:
        self.caps = cfg.capabilities
        self.no_new_privs = bool(cfg.no_new_privileges)
        last_cap()  # read now (cached): inside the container /proc may be masked or another procfs
        sc._libc()  # loaded now (cached): after pivot_root or chroot the host's libc.so.6 is out of reach
        self.filter: Any = None
        program = getattr(cfg, "seccomp_bpf", b"")
        if program:
            self.filter = BpfFilter(program)
        elif cfg.seccomp:
            from pyrunc.security.seccomp import compile_filter
            from pyrunc.store import leanjson  # not json: it loads re (and enum), ~10 ms

            self.filter = compile_filter(leanjson.loads(cfg.seccomp))

    def _load_seccomp(self) -> None:
        if self.filter is not None:
            self.filter.load()

    def enter(self, identity: Callable[[], None], last: Callable[[], None] | None = None) -> None:
        """Become the container's process: see the module docstring for the order and why. `last` runs
        after the capabilities are set and before a no_new_privs filter is loaded (pyrunc-oci's wait on
        its exec FIFO, where runc waits)."""
        caps = self.caps
        if self.no_new_privs:
            set_no_new_privs()
        drop_bounding(_known(caps.bounding))
        if not self.no_new_privs:
            self._load_seccomp()
        _prctl(PR_SET_KEEPCAPS, 1, what="prctl(PR_SET_KEEPCAPS)")
        identity()
        _prctl(PR_SET_KEEPCAPS, 0, what="prctl(PR_SET_KEEPCAPS)")
        capset(mask(_known(caps.effective)), mask(_known(caps.permitted)),
               mask(_known(caps.inheritable)))
        set_ambient(_known(caps.ambient))
        if last is not None:
            last()
        if self.no_new_privs:
            self._load_seccomp()

