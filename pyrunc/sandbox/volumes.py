"""Pod volumes on the host side: emptyDir directories (or tmpfs) under the pod, hostPath checks.

Containers bind-mount these paths; only memory-backed emptyDirs are host mounts, and the
sandbox teardown detaches every mount below the pod directory anyway.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from pyrunc.errors import FieldError
from pyrunc.linux import syscalls as sc


def prepare_volumes(pod: Any, layout: Any, node_memory: int) -> dict[str, str]:
    """Create every volume of the pod; return volume name -> host path."""
    paths: dict[str, str] = {}
    for i, vol in enumerate(pod.spec.volumes):
        where = f"spec.volumes[{i}]"
        if vol.empty_dir is not None:
            paths[vol.name] = _empty_dir(layout.volume_dir(vol.name), vol.empty_dir, pod, node_memory)
        elif vol.host_path is not None:
            paths[vol.name] = check_host_path(vol.host_path.path, vol.host_path.type, f"{where}.hostPath")
        elif getattr(vol, "downward_api", None) is not None:
            paths[vol.name] = _downward_api(layout.volume_dir(vol.name), vol.downward_api, pod)
    return paths


def _empty_dir(path: str, src: Any, pod: Any, node_memory: int) -> str:
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)  # the kubelet makes emptyDir world-writable so any container user can use it
    if src.medium == "Memory":
        # Without sizeLimit, the kubelet sizes memory-backed volumes to the pod's memory limits,
        # or to node allocatable memory when the pod has none.
        size = src.size_limit.value() if src.size_limit is not None else _pod_memory_limit(pod) or node_memory
        opts = "mode=1777" + (f",size={size}" if size else "")
        sc.mount("tmpfs", path, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, opts)
    return path


def _pod_memory_limit(pod: Any) -> int:
    total = 0
    for c in pod.spec.containers:
        q = c.resources.limits.get("memory")
        if q is None:
            return 0
        total += q.value()
    return total


def check_host_path(path: str, kind: str, where: str) -> str:
    """hostPath `type` semantics: create what *OrCreate asks for, verify the rest."""
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, 0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "a"):
            pass
        os.chmod(path, 0o644)
    if not kind:
        return path
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FieldError(f"{where}.path", f"hostPath type check failed: {path} does not exist") from None
    want = {
        "DirectoryOrCreate": stat.S_ISDIR, "Directory": stat.S_ISDIR,
        "FileOrCreate": stat.S_ISREG, "File": stat.S_ISREG,
        "Socket": stat.S_ISSOCK, "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK,
    }[kind]
    if not want(mode):
        raise FieldError(f"{where}.path", f"hostPath type check failed: {path} is not a {kind}")
    return path


def _downward_api(path: str, src: Any, pod: Any) -> str:
    os.makedirs(path, exist_ok=True)
    meta = pod.metadata
    for item in src.items:
        ref = item.field_ref
        if ref is None:
            continue
        if ref.field_path in ("metadata.labels", "metadata.annotations"):
            data = meta.labels if ref.field_path.endswith("labels") else meta.annotations
            text = "\n".join(f'{k}="{v}"' for k, v in sorted(data.items()))
        else:
            text = {"metadata.name": meta.name, "metadata.namespace": meta.namespace,
                    "metadata.uid": meta.uid}.get(ref.field_path, "")
        target = os.path.join(path, item.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
    return path
