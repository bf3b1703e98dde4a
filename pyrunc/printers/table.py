"""``kubectl get pods`` tables (default, ``-o wide``, ``-A``) and the empty-list message."""

from __future__ import annotations

from pyrunc.printers.columns import restarts_text, summarize
from pyrunc.printers.tabwriter import TABLE_MINWIDTH, TABLE_PADDING, tabwrite
from pyrunc.printers.timefmt import age

# typing.TYPE_CHECKING without importing typing (~5 ms of `pyrunc get`, cli/lean_get.py); mypy reads any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

_HEADERS = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")
_WIDE_HEADERS = ("IP", "NODE", "NOMINATED NODE", "READINESS GATES")


def _readiness_gates(pod: dict[str, Any]) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = (pod.get("status") or {}).get("conditions") or []
    true = 0
    for gate in gates:
        for cond in conditions:
            if cond.get("type") == gate.get("conditionType"):
                true += 1 if cond.get("status") == "True" else 0
                break
    return f"{true}/{len(gates)}"


def _wide_cells(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    pod_ips = status.get("podIPs") or []
    ip = (pod_ips[0] or {}).get("ip", "") if pod_ips else ""
    return [
        ip or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        _readiness_gates(pod),
    ]


def _row(pod: dict[str, Any], now: datetime, wide: bool, all_namespaces: bool, show_labels: bool = False) -> list[str]:
    meta = pod.get("metadata") or {}
    s = summarize(pod)
    cells = [
        str(meta.get("name", "")),
        f"{s.ready}/{s.total}",
        s.reason,
        restarts_text(s, now),
        age(meta.get("creationTimestamp"), now),
    ]
    if wide:
        cells += _wide_cells(pod)
    if show_labels:
        labels = meta.get("labels") or {}
        cells.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
    if all_namespaces:
        cells.insert(0, str(meta.get("namespace", "")))
    return cells


def _sort_key(pod: dict[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def pods_table(
    pods: list[dict[str, Any]],
    now: datetime,
    *,
    wide: bool = False,
    all_namespaces: bool = False,
    no_headers: bool = False,
    show_labels: bool = False,
) -> str:
    """The ``kubectl get pods`` table, sorted by (namespace, name) like the API server's list.

    Returns "" for no pods: kubectl then prints only ``no_resources()`` (on stderr).
    """
    if not pods:
        return ""
    rows: list[list[str]] = []
    if not no_headers:
        headers = list(_HEADERS) + (list(_WIDE_HEADERS) if wide else []) + (["LABELS"] if show_labels else [])
        rows.append((["NAMESPACE"] if all_namespaces else []) + headers)
    rows += [_row(pod, now, wide, all_namespaces, show_labels) for pod in sorted(pods, key=_sort_key)]
    text = "".join("\t".join(cells) + "\n" for cells in rows)
    return tabwrite(text, minwidth=TABLE_MINWIDTH, padding=TABLE_PADDING)


def no_resources(namespace: str | None) -> str:
    """kubectl's message for an empty list; ``namespace=None`` means ``-A``."""
    if namespace is None:
        return "No resources found"
    return f"No resources found in {namespace} namespace."
