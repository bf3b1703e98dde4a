"""Which host-wide per-pod resources a root made: the reclaim rule for shared places.

Several roots (``--root``) may share host-wide places where each pod has a subdirectory or group
named by its uid: the cgroup parent (``pod<uid>``), ``/var/lib/pyrunc`` (writable layers, disk
emptyDirs) and ``/var/log/pods`` (``<namespace>_<name>_<uid>``). Pod uids never collide, but a
root reclaiming "what no living pod of mine uses" by listing such a place would remove every
other root's pods' data. The rule:

    A root reclaims only the uids whose marker it wrote itself.

Before it creates anything of a pod in a shared place, a root writes the marker
``<root>/owned/<place>/<uid>`` (an empty file; ``<place>`` names the shared place, e.g. ``data``,
``logs``); it removes the marker after it removed the pod's data there. After a crash (or a
reboot that wiped ``/run`` but not ``/var``), the reclaim walks the root's own markers, never the
shared directory: every marked uid that is not a living pod of the root is removed, then its
marker. A directory in a shared place without a marker of the root is another root's (or a
previous, wiped root's: see ``orphans`` for that case, which is for a node-wide clean-up an
operator asks for, never for a root's routine reclaim).

The cgroup markers predate this module and live in ``<root>/cgroups/<uid>`` (same rule).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Collection

_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")  # a pod uid: one plain path component


def _dir(root: str, place: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", place):
        raise ValueError(f"invalid shared place name {place!r}")
    return os.path.join(root, "owned", place)


def _check(uid: str) -> str:
    if not _UID.match(uid):
        raise ValueError(f"invalid pod uid {uid!r}")
    return uid


def mark(root: str, place: str, uid: str) -> None:
    """Record that ``root`` is about to create pod ``uid``'s data in ``place`` (before creating it)."""
    directory = _dir(root, place)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with open(os.path.join(directory, _check(uid)), "w", encoding="ascii"):
        pass


def unmark(root: str, place: str, uid: str) -> None:
    """After pod ``uid``'s data in ``place`` was removed."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(_dir(root, place), _check(uid)))


def marked(root: str, place: str) -> set[str]:
    try:
        return {n for n in os.listdir(_dir(root, place)) if _UID.match(n)}
    except FileNotFoundError:
        return set()


def reclaimable(root: str, place: str, alive: Collection[str]) -> list[str]:
    """The uids ``root`` may remove from ``place``: marked by it and not a living pod of it."""
    return sorted(marked(root, place) - set(alive))


def orphans(existing: Collection[str], roots: Collection[str], place: str) -> list[str]:
    """Uids present in a shared place that no listed root marked (for an operator's node-wide clean-up)."""
    claimed: set[str] = set()
    for root in roots:
        claimed |= marked(root, place)
    return sorted(set(existing) - claimed)
