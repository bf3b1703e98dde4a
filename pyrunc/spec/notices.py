"""Warnings for fields pyrunc accepts and does not act on, where ignoring them leaves the pod's meaning
intact (apply prints them as kubectl prints an API server's warnings: ``Warning: ...`` on stderr).

A field whose absence would change what the pod does is refused instead (model.py ``_UNSUPPORTED``,
validate.py); docs/fields.md lists every field and its status.
"""

from __future__ import annotations

from pyrunc.spec.model import BUILTIN_PRIORITY_CLASSES, Pod


def pod_warnings(pod: Pod) -> list[str]:
    spec = pod.spec
    out: list[str] = []
    if spec.ignored.get("topologySpreadConstraints"):
        # One node is one domain: spreading among nodes or zones is the scheduler's and has nothing to do.
        out.append("spec.topologySpreadConstraints: ignored by pyrunc (one node: there is nothing to spread over)")
    if spec.priority_class_name and spec.priority_class_name not in BUILTIN_PRIORITY_CLASSES:
        # A real API server refuses an unknown class; pyrunc has no PriorityClass objects to look it up in.
        # Priority only orders scheduling, preemption and node-pressure eviction, which keep their order.
        out.append(f'spec.priorityClassName: "{spec.priority_class_name}" is not resolved by pyrunc '
                   "(no PriorityClass objects): priority stays 0")
    return out
