"""Manifest text -> Pods, and Pods -> the v1 API form with every default filled in."""

from __future__ import annotations

from typing import Any

from pyrunc.errors import FieldError, SpecError
from pyrunc.spec.model import Container, ObjectMeta, Pod, PodSpec
from pyrunc.spec.objects import KINDS as OBJECT_KINDS
from pyrunc.spec.objects import NodeObject, object_from_dict
from pyrunc.spec.schema import Decoder, encode
from pyrunc.spec.validate import validate_pod
from pyrunc.spec.documents import (MAX_DEPTH, MAX_INT_DIGITS, MAX_MANIFEST_BYTES, PodFieldError,  # noqa: F401 - re-exported
                                   check_node_tree, expand_documents, yaml_documents)

# Where well-known keys live, for "unknown field" hints (podman #25081: restartPolicy under metadata).
_HOMES = (("metadata", ObjectMeta), ("spec", PodSpec), ("spec.containers[]", Container))


def _decode_pod(data: object) -> tuple[Pod | None, list[FieldError]]:
    if isinstance(data, dict) and data.get("kind") not in (None, "Pod"):
        kind = data.get("kind")
        return None, [FieldError("kind", f'Unsupported value: "{kind}": pyrunc runs Pods only (kind: Pod, or a List of Pods)')]
    decoder = Decoder(_HOMES, hinted=(Pod,))
    pod: Pod = decoder.decode(Pod, data, "")
    # "volumes[0]: must specify a volume type" only repeats "volumes[0].configMap: not supported": drop it.
    decoded_under = {e.path.rsplit(".", 1)[0] for e in decoder.errors}
    checked = [e for e in validate_pod(pod) if not (e.detail.startswith("must specify a") and e.path in decoded_under)]
    return pod, decoder.errors + checked


def pod_from_dict(data: object, source: str = "-", allow_no_containers: bool = False) -> Pod:
    """One decoded document -> a validated, defaulted Pod; SpecError with every problem otherwise.
    `allow_no_containers`: a CRI sandbox's pod, whose containers come one by one after it (pyrunc/cri/)."""
    pod, errors = _decode_pod(data)
    if allow_no_containers:
        errors = [e for e in errors if (e.path, e.detail) != ("spec.containers", "Required value")]
    if errors or pod is None:
        raise SpecError(errors, source)
    return pod


def load_manifests(text: str, source: str = "-") -> list[Pod]:
    """A YAML (or JSON) stream of Pods -> Pods. Raises SpecError carrying every FieldError of every document.

    With more than one document, each error names its pod (``pod "web": spec...``) or its position.
    An empty stream gives an empty list.
    """
    pods, _ = _load(text, source, with_objects=False)
    return pods


def load_objects(text: str, source: str = "-") -> tuple[list[Pod], list[NodeObject]]:
    """A stream mixing Pods, ConfigMaps and Secrets (or Lists of them) -> (pods, objects), every document
    validated first: SpecError with every problem of every document, each naming its object
    (``configmap "x": data[a/b]: ...``)."""
    return _load(text, source, with_objects=True)


def _decode_object(data: dict[str, Any]) -> tuple[NodeObject | None, list[FieldError]]:
    obj, errors = object_from_dict(data)
    if obj is not None and not obj.metadata.name:
        errors.insert(0, FieldError("metadata.name", "Required value: name or generateName is required"))
    return obj, errors


def _load(text: str, source: str, with_objects: bool) -> tuple[list[Pod], list[NodeObject]]:
    return load_documents(yaml_documents(text, source), source, with_objects)


def load_documents(docs: list[Any], source: str, with_objects: bool = True) -> tuple[list[Pod], list[NodeObject]]:
    """load_objects (load_manifests without ``with_objects``) of a stream already parsed (yaml_documents)."""
    documents, errors = expand_documents(docs)
    pods: list[Pod] = []
    objects: list[NodeObject] = []
    seen: set[tuple[str, str, str]] = set()
    for where, data in documents:
        kind = data.get("kind") if isinstance(data, dict) else None
        item: Pod | NodeObject | None
        # isinstance: a `kind` that is a list or a mapping is unhashable and must not reach the lookup
        if with_objects and isinstance(data, dict) and isinstance(kind, str) and kind in OBJECT_KINDS:
            item, item_errors = _decode_object(data)
            named = True  # always named: "data[a]: ..." alone does not say which object of the file
        elif with_objects and kind not in (None, "Pod"):
            item, item_errors = None, [FieldError("kind", f'Unsupported value: "{kind}": pyrunc runs Pods, '
                                                          "ConfigMaps and Secrets only (or a List of them)")]
            named = False
        else:
            item, item_errors = _decode_pod(data)
            named = False
        if item is not None and item.metadata.name:
            label = type(item).__name__.lower()
            where = f'{label} "{item.metadata.name}"'
            key = (label, item.metadata.namespace, item.metadata.name)
            if key in seen:
                item_errors.append(FieldError("metadata.name", f'Duplicate value: "{item.metadata.name}"'))
            seen.add(key)
        if len(documents) > 1 or (named and item_errors):
            item_errors = [PodFieldError(where, e) for e in item_errors]
        errors.extend(item_errors)
        if isinstance(item, Pod):
            pods.append(item)
        elif item is not None:
            objects.append(item)
    if errors:
        raise SpecError(errors, source)
    return pods, objects


def pod_to_dict(pod: Pod) -> dict[str, Any]:
    """The v1 API form: camelCase keys, defaults filled in, absent/empty fields omitted (Go omitempty)."""
    result: dict[str, Any] = encode(pod)
    return result
