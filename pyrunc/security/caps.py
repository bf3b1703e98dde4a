"""Linux capabilities: names and numbers, containerd's default set, and the CRI rules that turn a
container's securityContext into the five capability sets of its process.

Pure, except `runtime_capabilities()` (what the runtime itself holds, read once from /proc). The
sets are applied by pyrunc/security/process.py.
"""

from __future__ import annotations


TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, Iterable, NamedTuple
else:
    from pyrunc.records import NamedTuple

# The numbers are in linux/privileges.py, which applies them without loading this package (whose __init__
# loads typing): re-exported here.
from pyrunc.linux.privileges import CAP_NAMES, CAP_NUMBERS, by_number, last_cap, mask  # noqa: F401


class CapabilitySets(NamedTuple):
    """The five capability sets of the container's process, as capability names ("CAP_CHOWN")."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


# containerd's default set for every non-privileged container (its oci.defaultUnixCaps()):
# CapBnd = CapEff = 00000000a80425fb for root.
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def canonical(name: str) -> str | None:
    """`net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN` -> "CAP_NET_ADMIN"; "ALL" -> "ALL"; None if unknown.

    The CRI names capabilities without the prefix; containerd upper-cases them and adds it. Manifests
    written for other tools often carry the prefix already: both are accepted.
    """
    up = name.strip().upper()
    if up == "ALL":
        return "ALL"
    full = up if up.startswith("CAP_") else "CAP_" + up
    return full if full in CAP_NUMBERS else None


def names_of(bits: int) -> tuple[str, ...]:
    return tuple(name for n, name in enumerate(CAP_NAMES) if bits >> n & 1)


# Read once per process (a dict, not functools.lru_cache: functools is an import more for pyrunc-oci).
_READ: dict[str, Any] = {}


def runtime_capabilities() -> tuple[str, ...]:
    """The bounding set of the runtime itself: "all capabilities" for privileged containers and
    `add: [ALL]` (containerd takes its own current set too: a container can never get more than the
    runtime has; here root lacks CAP_SYS_RESOURCE, for instance)."""
    if "bounding" not in _READ:
        _READ["bounding"] = _bounding_set()
    value: tuple[str, ...] = _READ["bounding"]
    return value


def _bounding_set() -> tuple[str, ...]:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapBnd:"):
                    return names_of(int(line.split()[1], 16))
    except (OSError, ValueError):
        pass
    return CAP_NAMES[: last_cap() + 1]


def _add_drop(caps: Any) -> tuple[list[str], list[str]]:
    add = [c for c in (canonical(x) for x in caps.add) if c is not None]
    drop = [c for c in (canonical(x) for x in caps.drop) if c is not None]
    return add, drop


def capability_sets(security_context: Any, uid: int, all_caps: Iterable[str] = CAP_NAMES) -> "CapabilitySets":
    """The process's capability sets for a container securityContext (or None) and its uid.

    containerd's CRI rules, in its order: start from the default set; `privileged` = every capability
    the runtime has, add/drop ignored; else `add: [ALL]` = all of them, then `drop: [ALL]` = none, then
    each named add, then each named drop (so a drop wins over an add of the same capability).

    Inheritable and ambient are always empty (containerd since CVE-2022-24769: a non-empty inheritable
    set lets a non-root exec of a file with inheritable file capabilities gain them). For a non-root
    uid, effective and permitted are empty: that is what the kernel leaves after execve for a non-root
    user without ambient capabilities, written down so /proc/PID/status and the config agree. The
    bounding set stays, so a setuid-root binary or file capabilities never exceed it.
    """

    everything = by_number(c for c in all_caps if c in CAP_NUMBERS)
    caps = getattr(security_context, "capabilities", None)
    if security_context is not None and security_context.privileged:
        bounding = everything
    else:
        current = list(DEFAULT_CAPS)
        if caps is not None:
            add, drop = _add_drop(caps)
            if "ALL" in add:
                current = list(everything)
            if "ALL" in drop:
                current = []
            current += [c for c in add if c != "ALL"]
            current = [c for c in current if c not in drop]
        bounding = by_number(current)
    effective = bounding if uid == 0 else ()
    return CapabilitySets(bounding=bounding, effective=effective, permitted=effective, inheritable=(), ambient=())


def with_ambient(sets: "CapabilitySets", names: Iterable[str]) -> "CapabilitySets":
    """`sets` with ambient capabilities `names` (CRI's add_ambient_capabilities): each in the inheritable and
    ambient sets, as containerd's WithAmbientCapabilities sets both, and in permitted and effective, where the
    kernel puts the ambient set at execve for any user (so a non-root process holds them; the kernel raises an
    ambient capability only when it is permitted and inheritable). One outside the bounding set cannot be held:
    ContainerConfigError."""
    from pyrunc.errors import ContainerConfigError

    wanted: list[str] = []
    for name in names:
        full = canonical(name)
        if full is None or full == "ALL":
            raise ContainerConfigError(f"ambient capability {name!r}: not a capability name")
        if full not in sets.bounding:
            raise ContainerConfigError(f"ambient capability {full}: not in the container's bounding set "
                                       "(add it to the capabilities too)")
        wanted.append(full)
    if not wanted:
        return sets
    ambient = by_number(wanted)
    return sets._replace(inheritable=ambient, ambient=ambient,
                         permitted=by_number({*sets.permitted, *ambient}),
                         effective=by_number({*sets.effective, *ambient}))
