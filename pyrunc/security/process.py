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

capset(2) and prctl(2) go through ctypes: python-prctl is built against libcap and knows neither
the ambient set nor the capabilities newer than its libcap.
"""

from __future__ import annotations

import ctypes
import errno

from pyrunc.linux import syscalls as sc
from pyrunc.security import caps as capsets
from pyrunc.store import leanjson

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, Callable

PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> None:
    sc.prctl(option, arg2, arg3, what=what)


def set_no_new_privs() -> None:
    _prctl(PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")


def drop_bounding(keep: tuple[str, ...]) -> None:
    wanted = capsets.mask(keep)
    for n in range(capsets.last_cap() + 1):
        if not wanted >> n & 1:
            _prctl(PR_CAPBSET_DROP, n, what=f"dropping {capsets.CAP_NAMES[n]} from the bounding set")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) with the v3 ABI: two 32-bit words per set."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for word in (0, 1):
        shift = 32 * word
        data[word].effective = (effective >> shift) & 0xFFFFFFFF
        data[word].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[word].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if sc._libc().capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {errno.errorcode.get(err, err)}")


def set_ambient(names: tuple[str, ...]) -> None:
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="clearing the ambient set")
    for name in names:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capsets.CAP_NUMBERS[name], what=f"raising ambient {name}")


def _known(names: tuple[str, ...]) -> tuple[str, ...]:
    """Only the capabilities this kernel knows (runc, too, ignores the others)."""
    last = capsets.last_cap()
    return tuple(n for n in names if capsets.CAP_NUMBERS[n] <= last)


class ProcessSecurity:
    """A container's capabilities, no_new_privs and seccomp filter, ready to apply."""

    def __init__(self, cfg: Any) -> None:
        self.caps = cfg.capabilities
        self.no_new_privs = bool(cfg.no_new_privileges)
        capsets.last_cap()  # read now (cached): inside the container /proc may be masked or another procfs
        sc._libc()  # loaded now (cached): after pivot_root or chroot the host's libc.so.6 is out of reach
        self.filter = None
        if cfg.seccomp:
            from pyrunc.security.seccomp import compile_filter

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
        capset(capsets.mask(_known(caps.effective)), capsets.mask(_known(caps.permitted)),
               capsets.mask(_known(caps.inheritable)))
        set_ambient(_known(caps.ambient))
        if last is not None:
            last()
        if self.no_new_privs:
            self._load_seccomp()

