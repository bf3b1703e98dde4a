"""Per-pod events (v1 Event shape), kept in events.json, newest last, like the kubelet's recorder:
an event repeating the previous one for the same object only bumps its count and lastTimestamp."""

from __future__ import annotations

import time
from typing import Any

from pyrunc.status import rfc3339
from pyrunc.store.atomic import read_json, write_json

MAX_EVENTS = 200


def record_event(layout: Any, node_name: str, type_: str, reason: str, message: str, container: str = "",
                 init: bool = False, now: float | None = None) -> None:
    ts = rfc3339(time.time() if now is None else now)
    events: list[dict[str, Any]] = read_json(layout.events_json, []) or []
    obj: dict[str, Any] = {"kind": "Pod", "name": layout.name, "namespace": layout.namespace}
    if container:
        obj["fieldPath"] = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
    for ev in reversed(events[-10:]):
        if ev["reason"] == reason and ev["message"] == message and ev["involvedObject"] == obj:
            ev["count"] += 1
            ev["lastTimestamp"] = ts
            write_json(layout.events_json, events)
            return
    events.append({
        "type": type_, "reason": reason, "message": message, "count": 1,
        "firstTimestamp": ts, "lastTimestamp": ts,
        "source": {"component": "kubelet", "host": node_name}, "involvedObject": obj,
    })
    write_json(layout.events_json, events[-MAX_EVENTS:])


def load_events(layout: Any) -> list[dict[str, Any]]:
    return read_json(layout.events_json, []) or []
