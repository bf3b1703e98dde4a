"""Manifest text -> Pods, and Pods -> the v1 API form with every default filled in."""

from __future__ import annotations

from typing import Any

from pyrunc.errors import FieldError, SpecError
from pyrunc.spec.model import Container, ObjectMeta, Pod, PodSpec
from pyrunc.spec.schema import Decoder, encode
from pyrunc.spec.validate import validate_pod

# Where well-known keys live, for "unknown field" hints (podman #25081: restartPolicy under metadata).
_HOMES = (("metadata", ObjectMeta), ("spec", PodSpec), ("spec.containers[]", Container))


class PodFieldError(FieldError):
    """A FieldError of one document in a multi-document stream; the message names the pod first."""

    def __init__(self, pod: str, error: FieldError) -> None:
        super().__init__(error.path, error.detail, error.hint)
        self.pod = pod
        self.message = f"{pod}: {self.message}"
        self.args = (self.message,)


def _yaml_documents(text: str, source: str) -> list[Any]:
    import yaml  # lazy: the CLI's read-only verbs never parse YAML

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        """Safe loader that keeps timestamps as text (creationTimestamp is a string in the API)."""

    Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
    try:
        return list(yaml.load_all(text, Loader=Loader))
    except yaml.MarkedYAMLError as e:
        where = f"line {e.problem_mark.line + 1}, column {e.problem_mark.column + 1}: " if e.problem_mark else ""
        problem = e.problem or e.context or "invalid YAML"
        raise SpecError([FieldError("", f"error parsing {source}: {where}{problem}")], source) from None
    except yaml.YAMLError as e:
        raise SpecError([FieldError("", f"error parsing {source}: {e}")], source) from None


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


def pod_from_dict(data: object, source: str = "-") -> Pod:
    """One decoded document -> a validated, defaulted Pod; SpecError with every problem otherwise."""
    pod, errors = _decode_pod(data)
    if errors or pod is None:
        raise SpecError(errors, source)
    return pod


def _documents(docs: list[Any]) -> tuple[list[tuple[str, object]], list[FieldError]]:
    """Expand ``kind: List`` and drop empty documents; give each remaining one a display path."""
    out: list[tuple[str, object]] = []
    errors: list[FieldError] = []
    for n, doc in enumerate(docs):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            items = doc.get("items") or []
            if not isinstance(items, list):
                errors.append(FieldError("items", "expected array"))
                continue
            out.extend((f"document {n + 1} items[{i}]", item) for i, item in enumerate(items))
        elif doc is not None:
            out.append((f"document {n + 1}", doc))
    return out, errors


def load_manifests(text: str, source: str = "-") -> list[Pod]:
    """A YAML (or JSON) stream of Pods -> Pods. Raises SpecError carrying every FieldError of every document.

    With more than one document, each error names its pod (``pod "web": spec...``) or its position.
    An empty stream gives an empty list.
    """
    documents, errors = _documents(_yaml_documents(text, source))
    pods: list[Pod] = []
    seen: set[tuple[str, str]] = set()
    for where, data in documents:
        pod, pod_errors = _decode_pod(data)
        if pod is not None and pod.metadata.name:
            where = f'pod "{pod.metadata.name}"'
            key = (pod.metadata.namespace, pod.metadata.name)
            if key in seen:
                pod_errors.append(FieldError("metadata.name", f'Duplicate value: "{pod.metadata.name}"'))
            seen.add(key)
        if len(documents) > 1:
            pod_errors = [PodFieldError(where, e) for e in pod_errors]
        errors.extend(pod_errors)
        if pod is not None:
            pods.append(pod)
    if errors:
        raise SpecError(errors, source)
    return pods


def pod_to_dict(pod: Pod) -> dict[str, Any]:
    """The v1 API form: camelCase keys, defaults filled in, absent/empty fields omitted (Go omitempty)."""
    result: dict[str, Any] = encode(pod)
    return result
