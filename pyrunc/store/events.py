"""Per-pod events (v1 Event shape), kept in events.json, newest last, like the kubelet's recorder:
an event repeating the previous one for the same object only bumps its count and lastTimestamp.
Events about the node itself (a bad static pod manifest) go to <root>/events.json the same way."""

from __future__ import annotations

import os
import time
from typing import Any

from pyrunc.status import rfc3339
from pyrunc.store.atomic import read_json, write_json

MAX_EVENTS = 200


def record_event(layout: Any, node_name: str, type_: str, reason: str, message: str, container: str = "",
                 init: bool = False, now: float | None = None, component: str = "kubelet") -> None:
    """`component` is the event's source: the kubelet (on this node) or the scheduler (default-scheduler,
    which names no host)."""
    obj: dict[str, Any] = {"kind": "Pod", "name": layout.name, "namespace": layout.namespace}
    if container:
        obj["fieldPath"] = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
    source = {"component": component, "host": node_name} if component == "kubelet" else {"component": component}
    _record(layout.events_json, obj, source, type_, reason, message, now)


def node_events_json(root: str) -> str:
    """Events about the node itself (a bad static pod manifest): <root>/events.json."""
    return os.path.join(root, "events.json")


def record_node_event(root: str, node_name: str, type_: str, reason: str, message: str,
                      now: float | None = None) -> None:
    _record(node_events_json(root), {"kind": "Node", "name": node_name}, {"component": "kubelet", "host": node_name},
            type_, reason, message, now)


def load_node_events(root: str) -> list[dict[str, Any]]:
    return read_json(node_events_json(root), []) or []


def _record(path: str, obj: dict[str, Any], source: dict[str, str], type_: str, reason: str, message: str,
            now: float | None) -> None:
    ts = rfc3339(time.time() if now is None else now)
    events: list[dict[str, Any]] = read_json(path, []) or []
    for ev in reversed(events[-10:]):
        if ev["reason"] == reason and ev["message"] == message and ev["involvedObject"] == obj:
            ev["count"] += 1
            ev["lastTimestamp"] = ts
            write_json(path, events)
            return
    events.append({
        "type": type_, "reason": reason, "message": message, "count": 1,
        "firstTimestamp": ts, "lastTimestamp": ts,
        "source": source, "involvedObject": obj,
    })
    write_json(path, events[-MAX_EVENTS:])


def load_events(layout: Any) -> list[dict[str, Any]]:
    return read_json(layout.events_json, []) or []
