"""Everything the supervisor may run, imported before it serves.

The supervisor lives for as long as it has pods, while the files it was started from may change
or go (an upgrade, a `git pull`, a removed checkout). Python imports a module when the import
statement first runs, so a module imported inside a function would be read from whatever is on
disk *then*: another version, or nothing (``ModuleNotFoundError`` in the middle of creating a
container). Containers are forks of the supervisor and inherit its modules, so the same holds
for the code that runs in a container's first process before it execs.

So the supervisor imports, at start: every module of the package but the CLI's verbs and the
printers (which only the CLI runs), the third-party modules the package imports inside functions,
and the standard-library ones imported inside functions on its path. It also reads the data file
it would read later (the seccomp default profile). A test (tests/unit/test_supervisor_protocol.py)
finds every function-level import in the package and checks that preload covers it.

``watch_late_imports`` then logs any import of a module that was not loaded yet, in the
supervisor's own process: a missing entry shows as one line in daemon.log instead of a
failure after the next upgrade.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pyrunc

log = logging.getLogger("pyrunc.preload")

# Packages only the CLI runs: the supervisor never needs them (nor pays their memory). pyrunc-oci
# (pyrunc/oci/) is its own program with no resident process.
# The CRI server's edge (pyrunc/cri/__init__.py) runs in its own process with grpcio, and its streaming server
# (Exec, Attach, PortForward URLs: pyrunc/cri/streaming.py) in it too: never in the supervisor.
CLI_ONLY = ("pyrunc.cli", "pyrunc.printers", "pyrunc.oci",
            "pyrunc.cri.api_pb2", "pyrunc.cri.server", "pyrunc.cri.codegen", "pyrunc.cri.execsync",
            "pyrunc.cri.streaming", "pyrunc.cri.stream_session", "pyrunc.cri.websocket", "pyrunc.cri.spdy",
            "pyrunc.cri.spdy_session", "pyrunc.cri.conn")

# Imported inside functions on the supervisor's path (the network, cgroup v1 and seccomp libraries
# are heavy: `pyrunc get` must not pay for them, so the package imports them late).
THIRD_PARTY = (
    "pyroute2",
    "pyroute2.netlink.exceptions",
    "cgroupspy.controllers",
    "cgroupspy.nodes",
    "pyseccomp",
    "prctl",
    "yaml",
    "tqdm",  # pyrunc.images.progress (bars on a TTY)
)
STDLIB = (
    "ctypes", "ctypes.util", "fcntl", "gc", "http.client", "re", "select", "socket", "ssl", "stat",
    "struct", "termios", "time", "tty", "urllib.parse", "logging", "encodings.idna", "encodings.ascii",
)



def package_modules() -> list[str]:
    """Every module of the pyrunc package the supervisor may run (all but the CLI-only ones)."""
    names = []
    for info in pkgutil.walk_packages(pyrunc.__path__, prefix="pyrunc."):
        if info.name == "pyrunc.__main__" or info.name.startswith(tuple(p for p in CLI_ONLY)):
            continue
        names.append(info.name)
    return sorted(names)


def preload(network: bool = True, extra: Sequence[str] = ()) -> list[str]:
    """Import everything listed above; returns the names imported. ``network=False`` (a node whose
    pods get no network) leaves pyroute2 out: it is ~0.4 s of the supervisor's start. A missing
    optional library is logged, not fatal (the node may run without it until a pod needs it)."""
    loaded = []
    third_party = THIRD_PARTY if network else tuple(n for n in THIRD_PARTY if not n.startswith("pyroute2"))
    for name in [*package_modules(), *third_party, *STDLIB, *extra]:
        try:
            importlib.import_module(name)
        except ImportError as e:
            if name.startswith("pyrunc."):
                raise
            log.warning("cannot preload %s: %s", name, e)
            continue
        loaded.append(name)
    _warm_data(network)
    return loaded


def _warm_data(network: bool) -> None:
    """Data files read at run time, read now (their content is cached by the module)."""
    from pyrunc.security import seccomp  # noqa: PLC0415 - imported above already; named for the reader

    seccomp.runtime_default()
    if not network:
        return
    # pyroute2 imports link-kind and message modules while it builds its first socket.
    from pyroute2 import IPRoute  # noqa: PLC0415

    try:
        with IPRoute() as ipr:
            ipr.link_lookup(ifname="lo")
    except OSError as e:  # no netlink (a locked-down test box): nothing to warm
        log.warning("cannot warm pyroute2: %s", e)


class _LateImportWatch:
    """A meta-path finder that finds nothing: it only logs imports that come after preload."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if os.getpid() == self.pid and fullname not in sys.modules:
            log.warning("late import of %s after start-up: add it to pyrunc/supervisor/preload.py", fullname)
        return None


def watch_late_imports() -> None:
    sys.meta_path.insert(0, _LateImportWatch(os.getpid()))
