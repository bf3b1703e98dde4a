"""emptyDir.sizeLimit on disk, enforced the kubelet's way: a disk emptyDir has no size of its own
(it is a directory), so the kubelet's eviction manager measures its usage every housekeeping
period and evicts the whole pod once a volume uses more than its limit (pkg/kubelet/eviction,
emptyDirLimitEviction): the pod's containers are killed without a grace period and the pod ends
in phase Failed with reason `Evicted` and the message below. Memory-backed emptyDirs are a tmpfs
sized by their limit; the kernel enforces that (ENOSPC), so they are not measured.

`emptydir_eviction` decides (pure); `measure_usage` measures (like `du -s`: allocated blocks, each
inode once, without following symlinks or crossing into another filesystem).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

REASON = "Evicted"  # the kubelet's eviction.Reason


@dataclass(frozen=True, slots=True)
class VolumeLimit:
    volume: str
    limit: int  # bytes
    text: str  # as written in the manifest, for the message


@dataclass(frozen=True, slots=True)
class Eviction:
    reason: str
    message: str


def disk_limits(pod: Any) -> tuple[VolumeLimit, ...]:
    """The disk emptyDirs of `pod` that have a sizeLimit."""
    out = []
    for vol in pod.spec.volumes:
        src = vol.empty_dir
        if src is not None and src.medium != "Memory" and src.size_limit is not None:
            out.append(VolumeLimit(vol.name, src.size_limit.value(), str(src.size_limit)))
    return tuple(out)


def emptydir_eviction(usage: Mapping[str, int], limits: Sequence[VolumeLimit]) -> Eviction | None:
    """The eviction due when a volume uses more than its (positive) limit, the first one in order."""
    for lim in limits:
        used = usage.get(lim.volume)
        if used is not None and lim.limit > 0 and used > lim.limit:
            return Eviction(REASON, f'Usage of EmptyDir volume "{lim.volume}" exceeds the limit "{lim.text}". ')
    return None


def measure_usage(path: str) -> int:
    """Bytes allocated under `path` (0 when it does not exist)."""
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return 0
    seen: set[int] = set()
    total = 0
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            continue
        if st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
        try:
            entries = list(os.scandir(d))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for e in entries:
            try:
                est = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed meanwhile
            if est.st_dev != top.st_dev:
                continue  # a mount point inside: another filesystem, not this volume's usage
            if stat.S_ISDIR(est.st_mode):
                stack.append(e.path)
            elif est.st_ino not in seen:
                seen.add(est.st_ino)
                total += est.st_blocks * 512
    return total
