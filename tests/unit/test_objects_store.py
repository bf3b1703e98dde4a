"""ConfigMap/Secret records (spec/objects.py) and their store under the node root (store/objects.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pyrunc.errors import PyruncError
from pyrunc.spec.objects import ConfigMap, Secret, object_from_dict, object_to_dict
from pyrunc.store.objects import ObjectStore


def _decode(doc: dict[str, object]) -> tuple[object, list[str]]:
    obj, errors = object_from_dict(doc)
    return obj, [e.message for e in errors]


def test_secret_string_data_is_merged_over_data_and_printed_back_as_base64() -> None:
    obj, errors = _decode({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                           "data": {"a": "b25l", "b": "dHdv"}, "stringData": {"b": "zwei"}})
    assert errors == [] and isinstance(obj, Secret)
    assert obj.data == {"a": b"one", "b": b"zwei"}
    assert object_to_dict(obj)["data"] == {"a": "b25l", "b": "endlaQ=="}
    assert "stringData" not in object_to_dict(obj)


@pytest.mark.parametrize("doc, expected", [
    ({"kind": "Secret", "data": {"p": "!!"}}, "data[p]: illegal base64 data"),
    ({"kind": "Secret", "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}, "data[tls.key]: Required value"),
    ({"kind": "ConfigMap", "data": {"a/b": "x"}}, "a valid config key must consist of alphanumeric"),
    ({"kind": "ConfigMap", "data": {"..": "x"}}, "must not be '..'"),
    ({"kind": "ConfigMap", "data": {"k": "x"}, "binaryData": {"k": "eA=="}}, "duplicate of key present in binaryData"),
    ({"kind": "ConfigMap", "data": {"k": "x" * (1024 * 1024)}}, "data: Too long: must have at most 1048576 bytes"),
    ({"kind": "ConfigMap", "data": {"k": 3}}, "data.k: expected string, got integer 3"),
])
def test_bad_objects_name_the_field(doc: dict[str, object], expected: str) -> None:
    _, errors = _decode({"apiVersion": "v1", "metadata": {"name": "o"}, **doc})
    assert any(expected in e for e in errors), errors


def _cm(name: str, data: dict[str, str], immutable: bool = False) -> ConfigMap:
    obj, errors = object_from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                    "data": data, "immutable": immutable})
    assert not errors and isinstance(obj, ConfigMap)
    return obj


def test_store_versions_changes_and_keeps_identity(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    assert store.put(_cm("c", {"k": "1"}), "uid-1", "T1") == "created"
    assert store.put(_cm("c", {"k": "1"}), "uid-2", "T2") == "unchanged"
    assert store.resource_version("ConfigMap", "default", "c") == "1"
    assert store.put(_cm("c", {"k": "2"}), "uid-3", "T3") == "configured"
    raw = store.raw("ConfigMap", "default", "c")
    assert raw is not None and raw["metadata"] == {"name": "c", "namespace": "default", "uid": "uid-1",
                                                   "creationTimestamp": "T1", "resourceVersion": "2"}
    got = store.get("ConfigMap", "default", "c")
    assert isinstance(got, ConfigMap) and got.data == {"k": "2"}
    assert [o["metadata"]["name"] for o in store.list("ConfigMap")] == ["c"]  # type: ignore[index]
    assert store.list("Secret") == []
    assert store.delete("ConfigMap", "default", "c") and not store.delete("ConfigMap", "default", "c")
    assert store.get("ConfigMap", "default", "c") is None and store.resource_version("ConfigMap", "default", "c") == ""


def test_immutable_data_cannot_change(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    store.put(_cm("c", {"k": "1"}, immutable=True), "u", "T")
    with pytest.raises(PyruncError, match="field is immutable"):
        store.put(_cm("c", {"k": "2"}, immutable=True), "u", "T")


def test_store_is_private(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    store.put(_cm("c", {"k": "1"}), "u", "T")
    assert stat.S_IMODE(os.stat(tmp_path / "objects").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "objects/default/configmaps/c.json").st_mode) == 0o600


def test_names_that_cannot_be_paths_are_never_used(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    assert store.get("ConfigMap", "default", "../x") is None
    assert store.get("ConfigMap", "a_b", "x") is None
    assert not store.delete("Secret", "default", "a/b")
