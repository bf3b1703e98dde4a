"""The ``kubectl get events`` table: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (NAMESPACE first with -A).

kubectl sorts nothing by default (the API server's order); here events come from several files
(each pod's, the node's), so they are listed oldest last-seen first, as one would read a log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyrunc.printers.tabwriter import TABLE_MINWIDTH, TABLE_PADDING, tabwrite
from pyrunc.printers.timefmt import parse_time, since


def events_table(events: list[tuple[str, dict[str, Any]]], now: datetime, all_namespaces: bool = False,
                 no_headers: bool = False) -> str:
    """``events``: (namespace, event) pairs; a Node's events belong to the default namespace, as in the API."""
    def last_seen(item: tuple[str, dict[str, Any]]) -> float:
        when = parse_time(item[1].get("lastTimestamp"))
        return when.timestamp() if when else float("-inf")

    rows = [] if no_headers else [["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]]
    if all_namespaces and not no_headers:
        rows[0].insert(0, "NAMESPACE")
    for namespace, event in sorted(events, key=last_seen):
        obj = event.get("involvedObject") or {}
        count = int(event.get("count") or 1)
        seen = since(parse_time(event.get("lastTimestamp")), now)
        if count > 1:  # kubectl: "5m (x3 over 10m)"
            seen += f" (x{count} over {since(parse_time(event.get('firstTimestamp')), now)})"
        cells = [seen, str(event.get("type", "")), str(event.get("reason", "")),
                 f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}", str(event.get("message", "")).strip()]
        rows.append([namespace, *cells] if all_namespaces else cells)
    return tabwrite("".join("\t".join(r) + "\n" for r in rows), minwidth=TABLE_MINWIDTH, padding=TABLE_PADDING)
