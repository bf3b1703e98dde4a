"""ConfigMaps and Secrets for the verbs: which kind the words name, and get/describe/delete/apply of them.

The objects live in the node's object store (store/objects.py), written by the CLI itself under the
store's lock: no supervisor is needed to keep them, and after every change the supervisor, when one
runs, is told (supervisor/client.py notify_objects_changed) so that its pods see the change.

Reading them is root's only: the store is a 0700 directory of 0600 files (Secrets hold credentials),
so get/describe of these kinds refuse an unprivileged user in one line instead of a PermissionError.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

from pyrunc.config import NodeConfig
from pyrunc.errors import PyruncError

# kubectl's names for the two kinds (singular, plural, short name).
OBJECT_WORDS = {"configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
                "secret": "Secret", "secrets": "Secret"}
PLURAL = {"ConfigMap": "configmaps", "Secret": "secrets"}


def object_kind(words: list[str]) -> str | None:
    """The object kind the verb's words name (`configmaps`, `cm x`, `secret/y`), None for anything else.

    Words mixing kinds (`cm/a secret/b`) are refused: each verb handles one kind per call."""
    if not words:
        return None
    if words[0] in OBJECT_WORDS:
        return OBJECT_WORDS[words[0]]
    kinds = {OBJECT_WORDS.get(w.partition("/")[0]) for w in words if "/" in w}
    if kinds == {None} or not kinds:
        return None
    if len(kinds) > 1 or None in kinds or not all("/" in w for w in words):
        raise PyruncError("pyrunc takes one kind per command: name pods, configmaps or secrets, not a mix")
    return kinds.pop()


def object_names(words: list[str]) -> list[str]:
    """`configmaps a b` or `cm/a cm/b` -> the names ([] = all)."""
    if words[0] in OBJECT_WORDS:
        return words[1:]
    return [w.partition("/")[2] for w in words]


def _new_uid() -> str:
    # uuid imported here, not at the top: this module is imported by `get`, and uuid loads the _uuid
    # extension (5-10 ms) that only a write of an object needs.
    import uuid

    return str(uuid.uuid4())


def require_root(verb: str, kind: str) -> None:
    if os.geteuid() != 0:
        raise PyruncError(f"pyrunc {verb} {PLURAL[kind]} needs root: the node's ConfigMaps and Secrets are "
                          "root's to read (a 0700 directory)", hint=f"sudo pyrunc {verb} {PLURAL[kind]} ...")


def _not_found(kind: str, name: str) -> str:
    return f'Error from server (NotFound): {PLURAL[kind]} "{name}" not found'


def _store(cfg: NodeConfig) -> Any:
    from pyrunc.store.objects import ObjectStore  # noqa: PLC0415 - only for these kinds

    return ObjectStore(cfg.root)


# ---------------------------------------------------------------------------------------------- get
def get_objects(cfg: NodeConfig, kind: str, names: list[str], args: Any) -> int:
    from pyrunc import printers  # noqa: PLC0415
    from pyrunc.printers.objects import object_name, objects_table  # noqa: PLC0415

    require_root("get", kind)
    store = _store(cfg)
    failed = False
    if names:
        found = []
        for name in names:
            obj = store.raw(kind, args.namespace, name)
            if obj is None:
                print(_not_found(kind, name), file=sys.stderr)
                failed = True
            else:
                found.append(obj)
    else:
        found = store.list(kind, None if args.all_namespaces else args.namespace)
    if args.output in ("json", "yaml"):
        doc = found[0] if len(names) == 1 and found else printers.as_list(found)
        if found or not names:
            sys.stdout.write(printers.as_json(doc) if args.output == "json" else printers.as_yaml(doc))
    elif args.output == "name":
        for obj in found:
            print(object_name(obj))
    elif found:
        sys.stdout.write(objects_table(kind, found, dt.datetime.now(dt.timezone.utc),
                                       all_namespaces=args.all_namespaces, no_headers=args.no_headers))
    elif not names:
        print(printers.no_resources(None if args.all_namespaces else args.namespace), file=sys.stderr)
    return 1 if failed else 0


# ----------------------------------------------------------------------------------------- describe
def describe_objects(cfg: NodeConfig, kind: str, names: list[str], namespace: str) -> int:
    from pyrunc.printers.objects import describe_configmap, describe_secret  # noqa: PLC0415

    require_root("describe", kind)
    store = _store(cfg)
    failed = False
    found = []
    for name in names:
        obj = store.raw(kind, namespace, name)
        if obj is None:
            print(_not_found(kind, name), file=sys.stderr)
            failed = True
        else:
            found.append(obj)
    if not names:
        found = store.list(kind, namespace)
    for i, obj in enumerate(found):
        if i:
            print()
        sys.stdout.write(describe_secret(obj) if kind == "Secret" else describe_configmap(obj))
    return 1 if failed else 0


# ------------------------------------------------------------------------------------ delete, apply
def delete_objects(cfg: NodeConfig, targets: list[tuple[str, str, str]], ignore_not_found: bool) -> int:
    """Delete (kind, namespace, name) objects: kubectl's lines; 1 when one was not found."""
    from pyrunc.supervisor.client import notify_objects_changed  # noqa: PLC0415

    store = _store(cfg)
    failed = 0
    changed = False
    for kind, namespace, name in targets:
        if store.delete(kind, namespace, name):
            changed = True
            print(f'{kind.lower()} "{name}" deleted')
        elif not ignore_not_found:
            print(_not_found(kind, name), file=sys.stderr)
            failed = 1
    if changed:
        notify_objects_changed(cfg)
    return failed


def all_names(cfg: NodeConfig, kind: str, namespace: str) -> list[str]:
    return [str((o.get("metadata") or {}).get("name", "")) for o in _store(cfg).list(kind, namespace)]


def apply_objects(cfg: NodeConfig, objects: list[Any]) -> None:
    """Store each object (`configmap/x created|configured|unchanged`), then tell the supervisor."""
    from pyrunc.status import rfc3339  # noqa: PLC0415
    from pyrunc.supervisor.client import notify_objects_changed  # noqa: PLC0415

    store = _store(cfg)
    changed = False
    try:
        for obj in objects:
            result = store.put(obj, _new_uid(), rfc3339(dt.datetime.now(dt.timezone.utc).timestamp()))
            changed = changed or result != "unchanged"
            print(f"{obj.kind.lower()}/{obj.metadata.name} {result}")
    finally:
        if changed:
            notify_objects_changed(cfg)


def create_object(cfg: NodeConfig, obj: Any, failed: str) -> None:
    """`pyrunc create`: store a new object; an existing one is kubectl's error ``failed`` + the API server's
    AlreadyExists (`failed to create configmap: configmaps "x" already exists`)."""
    from pyrunc.status import rfc3339  # noqa: PLC0415
    from pyrunc.store.objects import AlreadyExists  # noqa: PLC0415
    from pyrunc.supervisor.client import notify_objects_changed  # noqa: PLC0415

    try:
        _store(cfg).put(obj, _new_uid(), rfc3339(dt.datetime.now(dt.timezone.utc).timestamp()), exists_ok=False)
    except AlreadyExists as e:
        raise PyruncError(f"{failed}{e.message}") from None
    notify_objects_changed(cfg)
