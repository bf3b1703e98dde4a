"""ConfigMaps and Secrets in env and in volume payloads, pure (runtime/envsources.py, sandbox/projections.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.errors import ContainerConfigError
from pyrunc.runtime import envsources
from pyrunc.runtime.config import SandboxFacts, container_env, field_ref_value
from pyrunc.sandbox.projections import VolumeSetUpError, volume_payload
from pyrunc.spec import load_manifests
from pyrunc.spec.model import ConfigMapEnvSource, EnvFromSource
from pyrunc.spec.objects import NodeObject, object_from_dict

OBJECTS: dict[tuple[str, str], NodeObject] = {}
for doc in (
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"},
     "data": {"mode": "prod", "LEVEL": "3", "shared": "from-cm"}, "binaryData": {"bin": "AAE="}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {"shared": "from-other"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "admin", "pass": "s3cr3t"}},
):
    obj, errors = object_from_dict(doc)
    assert obj is not None and not errors
    OBJECTS[(obj.kind, obj.metadata.name)] = obj


def lookup(kind: str, name: str) -> NodeObject | None:
    return OBJECTS.get((kind, name))


POD = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team}
spec:
  containers:
  - name: app
    image: busybox
    envFrom:
    - {configMapRef: {name: app}, prefix: CFG_}
    - configMapRef: {name: app}
    - configMapRef: {name: other}
    - secretRef: {name: absent, optional: true}
    env:
    - {name: shared, value: "env wins over envFrom"}
    - name: USER
      valueFrom: {secretKeyRef: {name: creds, key: user}}
    - name: GREETING
      value: "$(USER) in $(mode)"
    - name: MAYBE
      valueFrom: {configMapKeyRef: {name: app, key: nope, optional: true}}
    - name: MAYBE_OBJ
      valueFrom: {secretKeyRef: {name: absent, key: k, optional: true}}
  volumes:
  - name: cm
    configMap: {name: app, defaultMode: 0440, items: [{key: mode, path: conf/mode}, {key: bin, path: bin, mode: 0600}]}
  - name: all
    configMap: {name: app}
  - name: sec
    secret: {secretName: creds}
  - name: maybe
    secret: {secretName: absent, optional: true}
  - name: proj
    projected:
      defaultMode: 0400
      sources:
      - configMap: {name: app, items: [{key: mode, path: mode}]}
      - secret: {name: creds, items: [{key: user, path: user, mode: 0444}]}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
"""


def _pod() -> Any:
    (pod,) = load_manifests(POD, "test")
    return pod


def _env(pod: Any) -> dict[str, str]:
    c = pod.spec.containers[0]
    facts = SandboxFacts(namespaces={}, shm="")
    first, skipped = envsources.env_from(c.env_from, lookup)
    assert skipped == []
    return container_env(c.env, lambda src: field_ref_value(pod, c, src, facts, 1, 0, lookup), first)


def test_env_order_and_precedence() -> None:
    env = _env(_pod())
    assert env["CFG_mode"] == "prod" and env["mode"] == "prod" and env["LEVEL"] == "3"
    assert env["shared"] == "env wins over envFrom"  # env over envFrom; "other" over "app" before that
    assert env["USER"] == "admin"
    assert env["GREETING"] == "admin in prod"  # $(VAR) sees envFrom and earlier env
    assert "MAYBE" not in env and "MAYBE_OBJ" not in env  # optional and missing: not set at all
    assert "bin" not in env and "CFG_bin" not in env  # binaryData never reaches env


def test_later_env_from_overrides_earlier() -> None:
    first, _ = envsources.env_from(_pod().spec.containers[0].env_from, lookup)
    assert first["shared"] == "from-other"


@pytest.mark.parametrize(("ref", "message"), [
    ({"configMapKeyRef": {"name": "gone", "key": "k"}}, 'configmap "gone" not found'),
    ({"configMapKeyRef": {"name": "app", "key": "k"}}, "couldn't find key k in ConfigMap team/app"),
    ({"secretKeyRef": {"name": "gone", "key": "k"}}, 'secret "gone" not found'),
    ({"secretKeyRef": {"name": "creds", "key": "k"}}, "couldn't find key k in Secret team/creds"),
])
def test_missing_required_reference(ref: dict[str, Any], message: str) -> None:
    doc = POD.replace("    - name: MAYBE\n", f"    - name: BAD\n      valueFrom: {ref}\n    - name: MAYBE\n")
    (pod,) = load_manifests(doc, "test")
    with pytest.raises(ContainerConfigError) as e:
        _env(pod)
    assert e.value.message == message


def test_missing_env_from_object() -> None:
    with pytest.raises(ContainerConfigError, match='^configmap "gone" not found$'):
        envsources.env_from([EnvFromSource(config_map_ref=ConfigMapEnvSource(name="gone"))], lookup)


def test_invalid_keys_are_skipped_and_reported() -> None:
    src = EnvFromSource(prefix="A=", config_map_ref=ConfigMapEnvSource(name="other"))  # validation would refuse it
    env, skipped = envsources.env_from([src], lookup)
    assert env == {}
    assert [s.message("ns") for s in skipped] == [
        "Keys [A=shared] from the EnvFrom configMap ns/other were skipped since they are considered invalid "
        "environment variable names."]


def test_volume_payloads() -> None:
    pod = _pod()
    vols = {v.name: v for v in pod.spec.volumes}
    cm = volume_payload(vols["cm"], pod, lookup)
    assert cm == {"conf/mode": (b"prod", 0o440), "bin": (b"\x00\x01", 0o600)}
    everything = volume_payload(vols["all"], pod, lookup)
    assert sorted(everything) == ["LEVEL", "bin", "mode", "shared"] and everything["mode"].mode == 0o644
    assert volume_payload(vols["sec"], pod, lookup) == {"pass": (b"s3cr3t", 0o644), "user": (b"admin", 0o644)}
    assert volume_payload(vols["maybe"], pod, lookup) == {}
    assert volume_payload(vols["proj"], pod, lookup) == {
        "mode": (b"prod", 0o400), "user": (b"admin", 0o444), "name": (b"p", 0o400)}


def test_volume_errors() -> None:
    (pod,) = load_manifests(POD.replace("{key: bin, path: bin, mode: 0600}", "{key: nope, path: x}")
                            .replace("secret: {name: creds, items", "secret: {name: gone, items"), "test")
    vols = {v.name: v for v in pod.spec.volumes}
    with pytest.raises(VolumeSetUpError) as e:
        volume_payload(vols["cm"], pod, lookup)
    assert (e.value.volume, e.value.message) == ("cm", "configmap references non-existent config key: nope")
    with pytest.raises(VolumeSetUpError, match='^secret "gone" not found$'):
        volume_payload(vols["proj"], pod, lookup)
