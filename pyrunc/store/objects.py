"""The node's ConfigMaps and Secrets, under the node root (RAM: Secrets never reach a disk, as the
kubelet keeps them in tmpfs).

    <root>/objects/                          0700
        <namespace>/<configmaps|secrets>/<name>.json   0600, the v1 form (spec/objects.py object_to_dict)
        .lock                                one writer at a time (flock), readers need no lock

Each object file is replaced atomically (store/atomic.py), so a reader sees the old or the new object.
`resourceVersion` counts changes of one object; a pod's volumes compare it to know what to rewrite.
Only DNS-1123 names reach a path (the namespace a label, the name a subdomain), checked here again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

from pyrunc.errors import PyruncError
from pyrunc.spec.objects import KINDS, ConfigMap, NodeObject, Secret, object_from_dict, object_to_dict
from pyrunc.store.atomic import read_json, write_json
from pyrunc.store.layout import valid_label, valid_name

class AlreadyExists(PyruncError):
    """An object of that kind and name is stored already (the API server's AlreadyExists)."""


PLURALS = {"configmaps": ConfigMap, "secrets": Secret}


def objects_dir(root: str) -> str:
    return os.path.join(root, "objects")


class ObjectStore:
    def __init__(self, root: str) -> None:
        self.dir = objects_dir(root)

    def _path(self, kind: str, namespace: str, name: str) -> str:
        if not (valid_label(namespace) and valid_name(name)):
            raise PyruncError(f'invalid name "{namespace}/{name}"')
        return os.path.join(self.dir, namespace, KINDS[kind].PLURAL, f"{name}.json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.dir, 0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def get(self, kind: str, namespace: str, name: str) -> NodeObject | None:
        """The object, or None when there is none (or its name could never be stored)."""
        if kind not in KINDS or not (valid_label(namespace) and valid_name(name)):
            return None
        data = read_json(self._path(kind, namespace, name))
        if not isinstance(data, dict):
            return None
        obj, errors = object_from_dict(data)
        return obj if not errors else None

    def raw(self, kind: str, namespace: str, name: str) -> dict[str, object] | None:
        """The stored v1 form (with uid, resourceVersion, creationTimestamp)."""
        if kind not in KINDS or not (valid_label(namespace) and valid_name(name)):
            return None
        data = read_json(self._path(kind, namespace, name))
        return data if isinstance(data, dict) else None

    def resource_version(self, kind: str, namespace: str, name: str) -> str:
        """"" when absent: a volume compares it to what it last wrote."""
        data = self.raw(kind, namespace, name) or {}
        meta = data.get("metadata")
        return str(meta.get("resourceVersion", "")) if isinstance(meta, dict) else ""

    def put(self, obj: NodeObject, uid: str, timestamp: str, *, exists_ok: bool = True) -> str:
        """Store ``obj``: "created", "configured" (data, labels or annotations changed) or "unchanged".

        ``uid`` and ``timestamp`` are used for a new object only. An immutable object's data may not change.
        ``exists_ok=False`` (`pyrunc create`) refuses an existing object with AlreadyExists, under the lock.
        """
        meta = obj.metadata
        path = self._path(obj.kind, meta.namespace, meta.name)
        with self._locked():
            old = read_json(path)
            new = object_to_dict(obj)
            new_meta = new.setdefault("metadata", {})
            if isinstance(old, dict) and not exists_ok:
                raise AlreadyExists(f'{KINDS[obj.kind].PLURAL} "{meta.name}" already exists')
            if isinstance(old, dict):
                old_meta = dict(old.get("metadata") or {})
                version = old_meta.pop("resourceVersion", "0")
                for k in ("uid", "creationTimestamp"):
                    new_meta[k] = old_meta.get(k, "")
                if old == {**new, "metadata": {**new_meta, "resourceVersion": version}}:
                    return "unchanged"
                if old.get("immutable") and {k: old.get(k) for k in ("data", "binaryData", "type")} != \
                        {k: new.get(k) for k in ("data", "binaryData", "type")}:
                    raise PyruncError(f'{obj.kind} "{meta.name}" is invalid: data: Forbidden: field is immutable '
                                      "when `immutable` is set")
                new_meta["resourceVersion"] = str(int(version) + 1 if str(version).isdigit() else 1)
                result = "configured"
            else:
                new_meta.update(uid=uid, creationTimestamp=timestamp, resourceVersion="1")
                result = "created"
            # Each level made 0700 itself (makedirs applies the mode to the last level only).
            for level in (os.path.dirname(os.path.dirname(path)), os.path.dirname(path)):
                os.makedirs(level, 0o700, exist_ok=True)
            write_json(path, new)
            return result

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        if kind not in KINDS or not (valid_label(namespace) and valid_name(name)):
            return False
        with self._locked():
            try:
                os.unlink(self._path(kind, namespace, name))
                return True
            except FileNotFoundError:
                return False

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, object]]:
        """The stored v1 forms of every object of ``kind`` (in ``namespace``, or all), by namespace and name."""
        plural = KINDS[kind].PLURAL
        try:
            namespaces = sorted(os.listdir(self.dir)) if namespace is None else [namespace]
        except FileNotFoundError:
            return []
        out = []
        for ns in namespaces:
            if not valid_label(ns):
                continue
            try:
                names = sorted(os.listdir(os.path.join(self.dir, ns, plural)))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for file in names:
                if file.endswith(".json") and valid_name(file[:-5]):
                    data = read_json(os.path.join(self.dir, ns, plural, file))
                    if isinstance(data, dict):
                        out.append(data)
        return out
