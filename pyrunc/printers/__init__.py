"""kubectl-exact output from v1 Pod dicts: tables, STATUS/READY/RESTARTS, json/yaml/name, describe.

Pure functions of their arguments; the caller passes ``now`` (nothing here reads the clock).
"""

from __future__ import annotations

from pyrunc.printers.columns import PodSummary, pod_status_column, ready_column, restarts_column, summarize
from pyrunc.printers.describe import describe_pod, describe_probe
from pyrunc.printers.serialize import as_json, as_list, as_name, as_yaml
from pyrunc.printers.table import no_resources, pods_table
from pyrunc.printers.timefmt import age, human_duration

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
