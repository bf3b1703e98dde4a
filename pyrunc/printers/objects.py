"""kubectl's output for ConfigMaps and Secrets, from their stored v1 dicts (pure; the caller passes ``now``).

    get configmaps    NAME  DATA  AGE            (DATA = keys of data + binaryData)
    get secrets       NAME  TYPE  DATA  AGE
    describe          kubectl's describeConfigMap / describeSecret: a Secret's values are never printed,
                      only their sizes (kubectl prints a service-account token's value; pyrunc does not).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyrunc.printers.describe import _Writer

from pyrunc.printers.tabwriter import TABLE_MINWIDTH, TABLE_PADDING, tabwrite
from pyrunc.printers.timefmt import age

Obj = dict[str, Any]


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def data_count(obj: Obj) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def objects_table(kind: str, objects: list[Obj], now: datetime, *, all_namespaces: bool = False,
                  no_headers: bool = False) -> str:
    """The ``kubectl get configmaps|secrets`` table ("" for none: the caller says "No resources found")."""
    if not objects:
        return ""
    secret = kind == "Secret"
    rows: list[list[str]] = []
    if not no_headers:
        rows.append((["NAMESPACE"] if all_namespaces else []) + ["NAME"] + (["TYPE"] if secret else [])
                    + ["DATA", "AGE"])
    for obj in sorted(objects, key=lambda o: (str(_meta(o).get("namespace", "")), str(_meta(o).get("name", "")))):
        meta = _meta(obj)
        rows.append((([str(meta.get("namespace", ""))] if all_namespaces else []) + [str(meta.get("name", ""))]
                     + ([str(obj.get("type", ""))] if secret else [])
                     + [str(data_count(obj)), age(meta.get("creationTimestamp"), now)]))
    return tabwrite("".join("\t".join(cells) + "\n" for cells in rows), minwidth=TABLE_MINWIDTH, padding=TABLE_PADDING)


def object_name(obj: Obj) -> str:
    """``-o name``: ``configmap/x``, ``secret/y``."""
    return f"{str(obj.get('kind', '')).lower()}/{_meta(obj).get('name', '')}"


def _decoded_size(value: object) -> int:
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return 0


def _header(obj: Obj) -> "_Writer":
    """A describe writer holding the lines every object starts with: name, namespace, labels, annotations."""
    from pyrunc.printers.describe import _annotations, _labels, _Writer  # noqa: PLC0415 - get needs none of it

    meta = _meta(obj)
    w = _Writer(datetime.min)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels") or {})
    _annotations(w, meta.get("annotations") or {})
    return w


def describe_configmap(obj: Obj) -> str:
    """describeConfigMap: each text value printed whole under its key; binary values by size only."""
    w = _header(obj)
    # Keys sorted: kubectl ranges over a Go map (random order); sorted is one of its orders, and stable.
    w.write(0, "\nData\n====\n")
    for key, value in sorted((obj.get("data") or {}).items()):
        w.write(0, f"{key}:\n----\n")
        w.write(0, f"{value}\n")
    w.write(0, "\nBinaryData\n====\n")
    for key, value in sorted((obj.get("binaryData") or {}).items()):
        w.write(0, f"{key}: {_decoded_size(value)} bytes\n")
    w.write(0, "\n")
    w.write(0, "Events:\t<none>\n")  # no controller writes events about these objects on a node
    return w.text()


def describe_secret(obj: Obj) -> str:
    """describeSecret: the type, then each key with its size in bytes. Never a value."""
    w = _header(obj)
    w.write(0, f"\nType:\t{obj.get('type', '')}\n")
    w.write(0, "\nData\n====\n")
    for key, value in sorted((obj.get("data") or {}).items()):
        w.write(0, f"{key}:\t{_decoded_size(value)} bytes\n")
    return w.text()
