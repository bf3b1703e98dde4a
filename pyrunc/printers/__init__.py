"""kubectl-exact output from v1 Pod dicts: tables, STATUS/READY/RESTARTS, json/yaml/name, describe.

Pure functions of their arguments; the caller passes ``now`` (nothing here reads the clock).
"""

from __future__ import annotations

from importlib import import_module

# typing.TYPE_CHECKING without importing typing (~5 ms of `pyrunc get`, cli/lean_get.py); mypy reads any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Names resolve lazily (PEP 562): `pyrunc get` needs the table, not the 20 KiB describe module.
_WHERE = {
    "PodSummary": "columns", "pod_status_column": "columns", "ready_column": "columns",
    "restarts_column": "columns", "summarize": "columns",
    "describe_pod": "describe", "describe_probe": "describe",
    "as_json": "serialize", "as_list": "serialize", "as_name": "serialize", "as_yaml": "serialize",
    "no_resources": "table", "pods_table": "table",
    "age": "timefmt", "human_duration": "timefmt",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pyrunc.printers' has no attribute {name!r}")
    return getattr(import_module(f"pyrunc.printers.{_WHERE[name]}"), name)


__all__ = [
    "PodSummary",
    "age",
    "as_json",
    "as_list",
    "as_name",
    "as_yaml",
    "describe_pod",
    "describe_probe",
    "human_duration",
    "no_resources",
    "pod_status_column",
    "pods_table",
    "ready_column",
    "restarts_column",
    "summarize",
]
