"""``kubectl get nodes`` tables (default, ``-o wide``, ``--show-labels``) of this node's v1 Node (pyrunc/node.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyrunc.printers.tabwriter import TABLE_MINWIDTH, TABLE_PADDING, tabwrite
from pyrunc.printers.timefmt import age

_ROLE_PREFIX = "node-role.kubernetes.io/"


def roles(labels: dict[str, str]) -> str:
    """kubectl's ROLES column: node-role.kubernetes.io/<role> keys (and kubernetes.io/role), or <none>."""
    found = sorted({k[len(_ROLE_PREFIX):] for k in labels if k.startswith(_ROLE_PREFIX) and k[len(_ROLE_PREFIX):]}
                   | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    return ",".join(found) if found else "<none>"


def labels_text(labels: dict[str, str]) -> str:
    """kubectl's LABELS column (--show-labels): k=v sorted by key, comma-joined, or <none>."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def nodes_table(node: dict[str, Any], now: datetime, *, wide: bool, show_labels: bool, no_headers: bool) -> str:
    """``kubectl get nodes``: NAME STATUS ROLES AGE VERSION (+ -o wide columns, + LABELS)."""
    meta, status = node["metadata"], node["status"]
    info = status["nodeInfo"]
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    cells = [meta["name"], "Ready", roles(meta["labels"]), age(meta["creationTimestamp"], now), info["kubeletVersion"]]
    if wide:
        headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
        cells += [status["addresses"][0]["address"], "<none>", info["osImage"], info["kernelVersion"],
                  info["containerRuntimeVersion"]]
    if show_labels:
        headers.append("LABELS")
        cells.append(labels_text(meta["labels"]))
    rows = ([] if no_headers else [headers]) + [cells]
    return tabwrite("".join("\t".join(r) + "\n" for r in rows), minwidth=TABLE_MINWIDTH, padding=TABLE_PADDING)
