"""ConfigMaps and Secrets at the CLI's edge: mixed manifest streams, kubectl's printers for the two kinds,
`pyrunc create`'s key building, the docker-registry secret and the pull-secret keyring."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pyrunc.cli.create_cmd import (configmap_data, dockerconfigjson, env_file_entries, file_entries, parse_file_source,
                                   parse_literal, secret_data)
from pyrunc.cli.objects_view import object_kind, object_names
from pyrunc.errors import PyruncError, SpecError
from pyrunc.images.auth import auths_from_pull_secrets, lookup_credentials
from pyrunc.printers.objects import describe_configmap, describe_secret, object_name, objects_table
from pyrunc.spec import load_manifests, load_objects
from pyrunc.spec.objects import ConfigMap, Secret
from pyrunc.store.objects import AlreadyExists, ObjectStore

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: busybox}]\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1'}\n"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\nstringData: {password: hunter2}\n"


# ------------------------------------------------------------------------------- manifests
def test_a_stream_mixing_the_three_kinds_gives_pods_and_objects_in_file_order() -> None:
    pods, objects = load_objects("---\n".join([POD, CM, SECRET]))
    assert [p.metadata.name for p in pods] == ["web"]
    assert [(type(o), o.metadata.name) for o in objects] == [(ConfigMap, "cfg"), (Secret, "sec")]
    assert objects[1].data == {"password": b"hunter2"}


def test_a_list_of_objects_is_expanded() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b", "namespace": "team"}}]})
    _, objects = load_objects(text)
    assert [(o.kind, o.metadata.namespace, o.metadata.name) for o in objects] == [("ConfigMap", "default", "a"),
                                                                                   ("Secret", "team", "b")]


def test_every_document_is_checked_and_each_error_names_its_object() -> None:
    bad = CM.replace("{a: '1'}", "{'a/b': '1'}")
    with pytest.raises(SpecError) as e:
        load_objects("---\n".join([bad, POD.replace("busybox", "''"), SECRET.replace("stringData: {password: hunter2}",
                                                                                     "data: {k: '!!'}")]))
    messages = [err.message for err in e.value.errors]
    assert messages[0].startswith('configmap "cfg": data') and "a valid config key" in messages[0]
    assert any(m.startswith('pod "web": spec.containers[0].image') for m in messages)
    assert 'secret "sec": data[k]: illegal base64 data' in messages


def test_a_single_bad_object_is_named_too() -> None:
    with pytest.raises(SpecError, match=r'^secret "s": data\[tls.key\]: Required value'):
        load_objects("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n"
                     "data: {tls.crt: eA==}\n")


def test_an_object_needs_a_name_and_a_name_once_per_kind() -> None:
    with pytest.raises(SpecError, match="metadata.name: Required value"):
        load_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(SpecError, match='configmap "cfg": metadata.name: Duplicate value: "cfg"'):
        load_objects("---\n".join([CM, CM]))
    # The same name in two kinds is two objects.
    assert len(load_objects("---\n".join([CM, CM.replace("ConfigMap", "Secret").replace("data: {a: '1'}",
                                                                                         "data: {}")]))[1]) == 2


def test_other_kinds_are_refused_naming_the_three_kinds_and_pods_only_callers_keep_refusing_objects() -> None:
    with pytest.raises(SpecError, match='kind: Unsupported value: "Deployment": pyrunc runs Pods, ConfigMaps and '
                                        "Secrets only"):
        load_objects("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
    with pytest.raises(SpecError, match="pyrunc runs Pods only"):
        load_manifests(CM)


# ------------------------------------------------------------------------------- CLI words
def test_the_kind_words_of_kubectl() -> None:
    assert object_kind(["cm"]) == "ConfigMap" and object_kind(["configmaps", "a"]) == "ConfigMap"
    assert object_kind(["secret/a", "secret/b"]) == "Secret" and object_names(["secret/a", "secret/b"]) == ["a", "b"]
    assert object_kind(["pods"]) is None and object_kind(["pod/x"]) is None
    with pytest.raises(PyruncError, match="one kind per command"):
        object_kind(["cm/a", "secret/b"])


# ------------------------------------------------------------------------------- printers
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _stored(kind: str, name: str, ns: str = "default", **body: object) -> dict[str, object]:
    created = (NOW - timedelta(seconds=75)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            **body}


def test_get_tables_have_kubectls_columns() -> None:
    cms = [_stored("ConfigMap", "b", data={"x": "1"}, binaryData={"y": "AA=="}), _stored("ConfigMap", "a")]
    assert objects_table("ConfigMap", cms, NOW) == "NAME   DATA   AGE\na      0      75s\nb      2      75s\n"
    secrets = [_stored("Secret", "reg", "team", type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": "e30="})]
    assert objects_table("Secret", secrets, NOW, all_namespaces=True) == (
        "NAMESPACE   NAME   TYPE                             DATA   AGE\n"
        "team        reg    kubernetes.io/dockerconfigjson   1      75s\n")
    assert objects_table("Secret", [], NOW) == ""
    assert object_name(secrets[0]) == "secret/reg"


def test_describe_configmap_prints_each_value_and_binary_sizes() -> None:
    cm = _stored("ConfigMap", "cfg", data={"b.conf": "line1\nline2\n", "a": "1"}, binaryData={"blob": "AAEC"})
    cm["metadata"]["labels"] = {"app": "web"}  # type: ignore[index]
    assert describe_configmap(cm) == (
        "Name:         cfg\nNamespace:    default\nLabels:       app=web\nAnnotations:  <none>\n\n"
        "Data\n====\na:\n----\n1\nb.conf:\n----\nline1\nline2\n\n\n"
        "BinaryData\n====\nblob: 3 bytes\n\nEvents:  <none>\n")


def test_describe_secret_never_prints_a_value() -> None:
    secret = _stored("Secret", "sec", type="Opaque",
                     data={"password": base64.b64encode(b"hunter2").decode(), "user": base64.b64encode(b"ad").decode()})
    text = describe_secret(secret)
    assert text == ("Name:         sec\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\n"
                    "Type:  Opaque\n\nData\n====\npassword:  7 bytes\nuser:      2 bytes\n")
    assert "hunter2" not in text and "aHVudGVyMg" not in text


# ------------------------------------------------------------------------------- create
def test_literal_and_file_sources_as_kubectl_parses_them() -> None:
    assert parse_literal("k=v=w") == ("k", "v=w") and parse_literal("k=") == ("k", "")
    for bad in ("=v", "novalue"):
        with pytest.raises(PyruncError, match=f"invalid literal source {bad}, expected key=value"):
            parse_literal(bad)
    assert parse_file_source("/a/b.txt") == ("b.txt", "/a/b.txt")
    assert parse_file_source("k=/a/b.txt") == ("k", "/a/b.txt")
    for bad, message in (("=/a", "key name for file path /a missing"), ("k=", "file path for key name k missing"),
                         ("a=b=c", "key names or file paths cannot contain '='")):
        with pytest.raises(PyruncError, match=message):
            parse_file_source(bad)


def test_a_directory_gives_its_regular_files_and_refuses_a_key(tmp_path: Path) -> None:
    (tmp_path / "b.conf").write_text("b")
    (tmp_path / "a.conf").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a.conf")
    os.mkfifo(tmp_path / "fifo")
    assert file_entries([str(tmp_path)]) == [("a.conf", str(tmp_path / "a.conf")), ("b.conf", str(tmp_path / "b.conf"))]
    with pytest.raises(PyruncError, match="cannot give a key name for a directory path"):
        file_entries([f"k={tmp_path}"])
    with pytest.raises(PyruncError, match=f"error reading {tmp_path}/none: no such file or directory"):
        file_entries([str(tmp_path / "none")])
    # kubectl's flag is a string slice: commas separate sources.
    assert [k for k, _ in file_entries([f"x={tmp_path}/a.conf,y={tmp_path}/b.conf"])] == ["x", "y"]


def test_configmap_data_keeps_non_utf8_files_in_binary_data_and_refuses_duplicates(tmp_path: Path) -> None:
    (tmp_path / "text").write_text("hello\n")
    (tmp_path / "blob").write_bytes(b"\xff\xfe\x00")
    data, binary = configmap_data("c", ["lit=1"], [str(tmp_path / "text"), str(tmp_path / "blob")], [])
    assert data == {"text": "hello\n", "lit": "1"} and binary == {"blob": b"\xff\xfe\x00"}
    with pytest.raises(PyruncError, match='cannot add key "text", another key by that name already exists in Data '
                                          'for ConfigMap "c"'):
        configmap_data("c", ["text=2"], [str(tmp_path / "text")], [])
    with pytest.raises(PyruncError, match='cannot add key "blob", another key by that name already exists in '
                                          "BinaryData"):
        configmap_data("c", ["blob=2"], [str(tmp_path / "blob")], [])
    with pytest.raises(PyruncError, match='"a/b" is not a valid key name for a ConfigMap: a valid config key must'):
        configmap_data("c", ["a/b=1"], [], [])
    with pytest.raises(PyruncError, match="from-env-file cannot be combined with from-file or from-literal"):
        configmap_data("c", ["a=1"], [], ["x"])


def test_env_files_as_kubectl_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "app.env"
    env.write_bytes(b"\xef\xbb\xbfA=1\n# comment\n\n   B=x=y\nFROM_ENV\n")
    monkeypatch.setenv("FROM_ENV", "outside")
    assert env_file_entries(str(env), "config") == [("A", "1"), ("B", "x=y"), ("FROM_ENV", "outside")]
    env.write_text("1BAD=x\n")
    with pytest.raises(PyruncError, match='"1BAD" is not a valid key name: a valid environment variable name'):
        env_file_entries(str(env), "config")
    with pytest.raises(PyruncError, match="env secret file cannot be a directory"):
        env_file_entries(str(tmp_path), "secret")


def test_secret_data_literals_then_files_and_duplicates_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"\x00\x01")
    assert secret_data(["user=admin"], [str(tmp_path / "key")], []) == {"user": b"admin", "key": b"\x00\x01"}
    with pytest.raises(PyruncError, match="^cannot add key user, another key by that name already exists$"):
        secret_data(["user=a", "user=b"], [], [])


def test_dockerconfigjson_is_kubectls_bytes() -> None:
    got = dockerconfigjson("reg.example:5000", "alice", "s3<cret>", "a@example.com")
    assert got == (b'{"auths":{"reg.example:5000":{"username":"alice","password":"s3\\u003ccret\\u003e",'
                   b'"email":"a@example.com","auth":"YWxpY2U6czM8Y3JldD4="}}}')
    assert base64.b64decode(json.loads(got)["auths"]["reg.example:5000"]["auth"]) == b"alice:s3<cret>"
    assert b"email" not in dockerconfigjson("r", "u", "p", "")  # omitempty


# ------------------------------------------------------------------------------- pull secrets
def test_pull_secrets_make_a_docker_config_first_secret_first(tmp_path: Path) -> None:
    first = dockerconfigjson("reg:5000", "alice", "one", "")
    second = dockerconfigjson("reg:5000", "bob", "two", "")
    legacy = json.dumps({"https://old:443": {"auth": base64.b64encode(b"carol:three").decode()}}).encode()
    auths = auths_from_pull_secrets([
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": first}),
        ("Opaque", {".dockerconfigjson": second}),  # not a pull secret type: ignored
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": second}),
        ("kubernetes.io/dockercfg", {".dockercfg": legacy}),
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b"not json"}),
    ])
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": auths}))
    found = lookup_credentials("reg:5000", [str(path)])
    assert found is not None and (found.username, found.password) == ("alice", "one")
    old = lookup_credentials("old:443", [str(path)])
    assert old is not None and old.username == "carol"


def test_create_refuses_an_existing_object_under_the_lock(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    cm = load_objects(CM)[1][0]
    assert store.put(cm, "u1", "t", exists_ok=False) == "created"
    with pytest.raises(AlreadyExists, match='^configmaps "cfg" already exists$'):
        store.put(cm, "u2", "t", exists_ok=False)
    ns_dir = tmp_path / "objects" / "default"
    assert oct(ns_dir.stat().st_mode & 0o777) == "0o700"


def test_the_supervisor_is_told_of_a_change_only_when_one_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyrunc.config import load_config
    from pyrunc.errors import DaemonError
    from pyrunc.store import supervisor as facts
    from pyrunc.supervisor import client

    cfg = load_config(str(tmp_path))
    sent: list[dict[str, object]] = []

    def fake_request(_cfg: object, msg: dict[str, object]) -> dict[str, object]:
        sent.append(msg)
        raise DaemonError("unknown request 'objects-changed'")  # today's supervisor: ignored

    monkeypatch.setattr(client, "request", fake_request)
    monkeypatch.setattr(facts, "daemon_running", lambda root: False)
    client.notify_objects_changed(cfg)
    assert sent == [] and not (tmp_path / "daemon.sock").exists()  # none started
    monkeypatch.setattr(facts, "daemon_running", lambda root: True)
    client.notify_objects_changed(cfg)
    assert sent == [{"op": "objects-changed"}]
