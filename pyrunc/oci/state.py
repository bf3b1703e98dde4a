"""The read side of a container's state under --root (container.py writes it: its docstring has the layout),
and the few helpers that `create` and `exec` share.

Lean on purpose: `pyrunc-oci exec` (and state, kill, ps, pause ...) load this module, not container.py. Only
builtin modules at import: state.json is read with json's C scanner (store/leanjson.py), not the json package
(which loads re and enum: ~10 ms of every exec); State is a plain class, not a NamedTuple (typing, which
loads re too); fcntl, socket and ctypes are loaded by the function that needs them.

The status is derived on read, as runc does: no state.json yet = creating (stopped once the lock is free:
its create died); init gone (or its pid reused: the start time differs) = stopped; FIFO still there =
created; else running (paused when its freezer says so).
"""

from __future__ import annotations

import os

from pyrunc.errors import PyruncError
from pyrunc.linux import syscalls as sc
from pyrunc.oci import OCI_VERSION, check_id

STATE = "state.json"
FIFO = "exec.fifo"  # init.py's FIFO (tests/unit/test_oci_args.py keeps them equal): init.py is only loaded to create
CGROUPS = "cgroups.json"
PR_SET_CHILD_SUBREAPER = 36


class OciError(PyruncError):
    """A lifecycle error (runc's words where it has some)."""


class State:
    """A container as read now. A plain class with slots (see the module docstring: no NamedTuple here)."""

    __slots__ = ("id", "pid", "start_time", "bundle", "rootfs", "created", "annotations", "cgroups", "status")

    def __init__(self, id: str, pid: int, start_time: int, bundle: str, rootfs: str, created: str,
                 annotations: dict[str, str], cgroups: dict[str, str], status: str) -> None:
        self.id, self.pid, self.start_time, self.bundle, self.rootfs = id, pid, start_time, bundle, rootfs
        self.created, self.annotations, self.cgroups, self.status = created, annotations, cgroups, status

    def __repr__(self) -> str:
        return f"State({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable dicts inside: as a NamedTuple of them, not hashable

    def to_oci(self) -> dict[str, object]:
        """runc's `state` output: the spec's state plus rootfs, created and owner; annotations when any."""
        out: dict[str, object] = {"ociVersion": OCI_VERSION, "id": self.id, "pid": self.pid if self.status in (
            "created", "running", "paused") else 0, "status": self.status, "bundle": self.bundle, "rootfs": self.rootfs,
            "created": self.created, "owner": ""}
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def container_dir(root: str, container_id: str) -> str:
    return os.path.join(root, check_id(container_id))


def read_json(path: str) -> dict | None:
    """A fact file (written whole by store/atomic.py, so never torn); None when missing or not a JSON object
    (a corrupt file is treated as missing, as atomic.read_json does)."""
    from pyrunc.store import leanjson

    try:
        with open(path, "rb") as f:
            value = leanjson.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    return value if isinstance(value, dict) else None


def _locked(where: str) -> bool:
    """A `create` holds the directory's lock (it is running)."""
    import fcntl

    try:
        fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def load_with_facts(root: str, container_id: str) -> tuple[State, dict]:
    """The container's state and its state.json as read for it (exec needs both: one read)."""
    where = container_dir(root, container_id)
    if not os.path.isdir(where):
        raise OciError(f"container {container_id} does not exist")
    facts = read_json(os.path.join(where, STATE))
    if facts is None:
        groups = read_json(os.path.join(where, CGROUPS)) or {}
        status = "creating" if _locked(where) else "stopped"
        return State(container_id, 0, 0, "", "", "", {}, dict(groups), status), {}
    pid, start = int(facts["pid"]), int(facts["start_time"])
    if not sc.pid_alive(pid, start):
        status = "stopped"
    elif os.path.exists(os.path.join(where, FIFO)):
        status = "created"
    else:
        from pyrunc.oci.freeze import is_frozen

        status = "paused" if is_frozen(dict(facts.get("cgroups") or {})) else "running"
    return State(container_id, pid, start, facts["bundle"], facts["rootfs"], facts["created"],
                 dict(facts.get("annotations") or {}), dict(facts.get("cgroups") or {}), status), facts


def load(root: str, container_id: str) -> State:
    return load_with_facts(root, container_id)[0]


def list_all(root: str) -> list[State]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            out.append(load(root, name))
        except (PyruncError, OSError, ValueError, KeyError):
            continue
    return out


# --- shared by create (container.py) and exec ----------------------------------------------------------------------
def connect_console_socket(path: str) -> int:
    """A connected descriptor of `--console-socket PATH`, where the pty master is sent (SCM_RIGHTS), as runc's."""
    import socket  # only with a terminal: ~2-3 ms of the start-up otherwise

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise OciError(f"--console-socket {path}: {e.strerror}") from None
    return sock.detach()


def set_child_subreaper() -> None:
    """Through ctypes (loaded for the init's security anyway), not python-prctl: one import less."""
    sc.prctl(PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")


def _write_pid_file(path: str, pid: int) -> None:
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(str(pid))  # runc writes the bare number, no newline
    os.replace(tmp, path)
