"""The downward API's values, one place for env (`valueFrom`) and `downwardAPI` volumes. Pure: no I/O.

As the kubelet:
- `fieldRef` in a volume is pkg/fieldpath ExtractFieldPathAsString: metadata.name/namespace/uid, a whole
  metadata.labels/annotations map (FormatMap: `key="value"` lines, sorted), or one key of it (`['key']`);
- `fieldRef` in env first takes the runtime values (kubelet pkg/kubelet/kubelet_pods.go
  podFieldSelectorRuntimeValue: spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s)),
  then the same ExtractFieldPathAsString;
- `resourceFieldRef` is pkg/api/v1/resource ExtractContainerResourceValue: the container's limit or request,
  divided by the divisor and rounded up; a missing cpu or memory value is the node's capacity (for limits,
  the kubelet's MergeContainerResourceLimits fills in the allocatable).
Which paths are allowed where is validation's business (spec/validate.py); an unknown path gives "".
"""

from __future__ import annotations

import json
from typing import Any, Mapping


def format_map(m: Mapping[str, str]) -> str:
    """pkg/fieldpath FormatMap: `key=%q` lines in key order, no final newline.

    Go's %q and JSON agree on every printable string (quotes and backslashes escaped, non-ASCII kept).
    """
    return "\n".join(f"{k}={json.dumps(m[k], ensure_ascii=False)}" for k in sorted(m))


def metadata_field(path: str, *, name: str, namespace: str, uid: str, labels: Mapping[str, str],
                   annotations: Mapping[str, str]) -> str:
    """ExtractFieldPathAsString: the metadata fields a fieldRef may name, from the pod's metadata."""
    maps = {"metadata.labels": labels, "metadata.annotations": annotations}
    for prefix, mapping in maps.items():
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str(mapping.get(path[len(prefix) + 2:-2], ""))
    if path in maps:
        return format_map(maps[path])
    return {"metadata.name": name, "metadata.namespace": namespace, "metadata.uid": uid}.get(path, "")


def object_field(pod: Any, path: str) -> str:
    """metadata_field of a typed Pod (spec.model.Pod)."""
    meta = pod.metadata
    return metadata_field(path, name=meta.name, namespace=meta.namespace, uid=meta.uid, labels=meta.labels,
                          annotations=meta.annotations)


def object_field_v1(pod: Mapping[str, Any], path: str) -> str:
    """metadata_field of a v1 pod dict (what the printers have)."""
    meta = pod.get("metadata") or {}
    return metadata_field(path, name=str(meta.get("name", "")), namespace=str(meta.get("namespace", "")),
                          uid=str(meta.get("uid", "")), labels=meta.get("labels") or {},
                          annotations=meta.get("annotations") or {})


def env_field(pod: Any, path: str, *, node_name: str, host_ip: str, pod_ip: str) -> str:
    """podFieldSelectorRuntimeValue: the runtime's values first, then the pod's own fields."""
    runtime = {
        "spec.nodeName": node_name,
        "spec.serviceAccountName": pod.spec.service_account_name or "default",
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path in runtime:
        return runtime[path]
    return object_field(pod, path)


def resource_value(container: Any, resource: str, divisor: Any, node_cpus: int, node_memory: int) -> str:
    """ExtractContainerResourceValue: `limits.cpu` etc. of `container`, over `divisor` (a Quantity or None),
    rounded up; cpu in cores unless the divisor says otherwise, everything else in units."""
    kind, _, res = resource.partition(".")
    values = container.resources.limits if kind == "limits" else container.resources.requests
    q = values.get(res)
    if res == "cpu":
        milli = q.milli_value() if q is not None else node_cpus * 1000
        div = divisor.milli_value() if divisor is not None and divisor.milli_value() > 0 else 1000
        return str(-(-milli // div))
    amount = q.value() if q is not None else (node_memory if res == "memory" else 0)
    div = divisor.value() if divisor is not None and divisor.value() > 0 else 1
    return str(-(-amount // div))
