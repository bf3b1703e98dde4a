"""Local helpers shared by the test_supervision_* modules (no tests here; helpers.py is not ours to edit)."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tests.integration.helpers import Node, _node, poll


@contextmanager
def started_node(base: Path, manifests: list[str], **settings: Any) -> Iterator[Node]:
    """A node (torn down and leak-checked on exit) with `manifests` applied in one `apply`."""
    with contextmanager(_node)(base, **settings) as n:
        n.apply("---\n".join(manifests))
        yield n


def describe_events(node: Node, pod: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of each row of `describe pod`'s Events table (columns are 2+ spaces apart)."""
    out = node.run("describe", "pod", pod).stdout
    rows = out.split("\nEvents:", 1)[1].splitlines()[3:] if "\nEvents:" in out else []
    events = []
    for row in rows:
        cells = re.split(r"\s{2,}", row.strip())
        if len(cells) >= 5:
            events.append((cells[0], cells[1], cells[4]))
    return events


def event_count(node: Node, pod: str, reason: str, message_start: str = "") -> int:
    """How many times (the `(xN over ...)` of the Age column) the event was recorded; 0 when never."""
    out = node.run("describe", "pod", pod).stdout
    rows = out.split("\nEvents:", 1)[1].splitlines()[3:] if "\nEvents:" in out else []
    for row in rows:
        cells = re.split(r"\s{2,}", row.strip())
        if len(cells) >= 5 and cells[1] == reason and cells[4].startswith(message_start):
            m = re.search(r"\(x(\d+) over", cells[2])
            return int(m.group(1)) if m else 1
    return 0


def get_row(node: Node, pod: str) -> list[str]:
    """The `get pods` row of `pod`, split on whitespace: NAME READY STATUS RESTARTS... AGE."""
    for line in node.run("get", "pods").stdout.splitlines()[1:]:
        if line.split()[0] == pod:
            return line.split()
    raise AssertionError(f"pod {pod} not in `get pods`")


def status_of(obj: dict[str, Any], container: str = "c", init: bool = False) -> dict[str, Any]:
    """The container status named `container` in a pod's JSON."""
    key = "initContainerStatuses" if init else "containerStatuses"
    return next(s for s in obj["status"].get(key, []) if s["name"] == container)


def condition(obj: dict[str, Any], kind: str) -> str:
    """The status ("True"/"False") of a pod condition, "" when absent."""
    return next((c["status"] for c in obj["status"].get("conditions", []) if c["type"] == kind), "")


def wait_status(node: Node, pod: str, what: str, pred: Any, container: str = "c",
                init: bool = False) -> dict[str, Any]:
    """Poll until `pred(container status)` holds; return the pod's JSON."""
    def check() -> dict[str, Any] | None:
        obj = node.pod_json(pod)
        try:
            st = status_of(obj, container, init)
        except StopIteration:
            return None
        return obj if pred(st) else None

    return poll(f"{pod}/{container}: {what}", check)
