"""What a configMap, secret, projected or downwardAPI volume holds: path -> (bytes, mode). Pure: the
objects come through `lookup` (runtime/envsources.py's), the pod's own fields from the Pod.

As the kubelet's volume plugins (pkg/volume/configmap, secret, projected, downwardapi MakePayload and
CollectData):
- without `items`, every key is a file named after it (a ConfigMap's `data` and `binaryData`);
  with `items`, only those keys, at their paths; a missing key is an error unless the source is optional;
- a file's mode is its item's `mode`, else the volume's `defaultMode`, else 0644 (the API server's
  default for all four kinds, Secrets included);
- an object that does not exist: an error (`configmap "x" not found`: the mount fails, FailedMount, the
  pod stays ContainerCreating and the mount is retried) unless optional: then the source is empty;
- a projected volume gathers every source's error and reports them together (an aggregate).
"""

from __future__ import annotations

import os
from typing import Any

from pyrunc.errors import PyruncError
from pyrunc.runtime.config import is_projection as is_projection  # one definition, re-exported
from pyrunc.runtime.envsources import Lookup
from pyrunc.sandbox.atomic_writer import FileProjection
from pyrunc.spec import downward
from pyrunc.spec.objects import ConfigMap, NodeObject, Secret

DEFAULT_MODE = 0o644  # the API server's defaultMode of configMap, secret, projected and downwardAPI volumes


class VolumeSetUpError(PyruncError):
    """A volume whose content cannot be made now (a missing object or key): retried, as the kubelet's mount."""

    def __init__(self, volume: str, message: str) -> None:
        super().__init__(message)
        self.volume = volume


def in_memory(vol: Any) -> bool:
    """Secret and projected volumes are a tmpfs, as the kubelet's (their wrapped emptyDir is Memory)."""
    return getattr(vol, "secret", None) is not None or getattr(vol, "projected", None) is not None


def _object_files(obj: NodeObject) -> dict[str, bytes]:
    if isinstance(obj, ConfigMap):
        return {**{k: v.encode() for k, v in obj.data.items()}, **obj.binary_data}
    assert isinstance(obj, Secret)
    return dict(obj.data)


def object_payload(kind: str, name: str, items: Any, default_mode: int | None, optional: bool | None,
                   lookup: Lookup) -> dict[str, FileProjection]:
    """MakePayload of one ConfigMap or Secret source; raises PyruncError with the kubelet's message."""
    mode = DEFAULT_MODE if default_mode is None else default_mode
    obj = lookup(kind, name)
    if obj is None:
        if optional:
            return {}
        raise PyruncError(f'{kind.lower()} "{name}" not found')
    files = _object_files(obj)
    if not items:
        return {key: FileProjection(data, mode) for key, data in files.items()}
    payload = {}
    for item in items:
        if item.key not in files:
            if optional:
                continue
            what = "configmap references non-existent config key" if kind == "ConfigMap" else \
                "references non-existent secret key"
            raise PyruncError(f"{what}: {item.key}")
        payload[item.path] = FileProjection(files[item.key], item.mode if item.mode is not None else mode)
    return payload


def downward_payload(items: Any, default_mode: int | None, pod: Any, node_cpus: int,
                     node_memory: int) -> dict[str, FileProjection]:
    """CollectData: one file per item, the same values env gets (spec/downward.py)."""
    mode = DEFAULT_MODE if default_mode is None else default_mode
    containers = {c.name: c for c in [*pod.spec.init_containers, *pod.spec.containers]}
    payload = {}
    for item in items:
        if item.field_ref is not None:
            text = downward.object_field(pod, item.field_ref.field_path)
        elif item.resource_field_ref is not None and item.resource_field_ref.container_name in containers:
            ref = item.resource_field_ref
            text = downward.resource_value(containers[ref.container_name], ref.resource, ref.divisor,
                                           node_cpus, node_memory)
        else:
            continue
        payload[item.path] = FileProjection(text.encode(), item.mode if item.mode is not None else mode)
    return payload


def volume_payload(vol: Any, pod: Any, lookup: Lookup, node_cpus: int = 0,
                   node_memory: int = 0) -> dict[str, FileProjection]:
    """The files of volume `vol`; raises VolumeSetUpError naming the volume."""
    cpus = node_cpus or os.cpu_count() or 1
    try:
        if vol.config_map is not None:
            src = vol.config_map
            return object_payload("ConfigMap", src.name, src.items, src.default_mode, src.optional, lookup)
        if vol.secret is not None:
            src = vol.secret
            return object_payload("Secret", src.secret_name, src.items, src.default_mode, src.optional, lookup)
        if vol.downward_api is not None:
            return downward_payload(vol.downward_api.items, vol.downward_api.default_mode, pod, cpus, node_memory)
    except PyruncError as e:
        raise VolumeSetUpError(vol.name, e.message) from None
    if vol.projected is None:
        raise ValueError(f"volume {vol.name} is not a projection")
    payload: dict[str, FileProjection] = {}
    errors: list[str] = []
    mode = vol.projected.default_mode
    for source in vol.projected.sources:
        try:
            if source.config_map is not None:
                cm = source.config_map
                payload.update(object_payload("ConfigMap", cm.name, cm.items, mode, cm.optional, lookup))
            elif source.secret is not None:
                sec = source.secret
                payload.update(object_payload("Secret", sec.name, sec.items, mode, sec.optional, lookup))
            elif source.downward_api is not None:
                payload.update(downward_payload(source.downward_api.items, mode, pod, cpus, node_memory))
        except PyruncError as e:
            errors.append(e.message)
    if errors:
        # utilerrors.NewAggregate: one error as itself, several as "[a, b]".
        raise VolumeSetUpError(vol.name, errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")
    return payload


def referenced_objects(vol: Any) -> set[tuple[str, str]]:
    """(kind, name) of every object the volume reads."""
    refs: set[tuple[str, str]] = set()
    if getattr(vol, "config_map", None) is not None:
        refs.add(("ConfigMap", vol.config_map.name))
    if getattr(vol, "secret", None) is not None:
        refs.add(("Secret", vol.secret.secret_name))
    if getattr(vol, "projected", None) is not None:
        for source in vol.projected.sources:
            if source.config_map is not None:
                refs.add(("ConfigMap", source.config_map.name))
            if source.secret is not None:
                refs.add(("Secret", source.secret.name))
    return refs


def uses_metadata(vol: Any) -> bool:
    """Whether the volume shows labels or annotations (rewritten when they change)."""
    items = list(vol.downward_api.items) if getattr(vol, "downward_api", None) is not None else []
    if getattr(vol, "projected", None) is not None:
        for source in vol.projected.sources:
            if source.downward_api is not None:
                items += source.downward_api.items
    return any(i.field_ref is not None and i.field_ref.field_path.startswith(("metadata.labels", "metadata.annotations"))
               for i in items)
