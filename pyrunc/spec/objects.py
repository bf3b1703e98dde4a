"""ConfigMap and Secret: the two API objects besides Pods that a node's pods read.

Decoded and validated once at the edge, like Pods (spec/load.py), into frozen records. As the API server:
- ConfigMap `data` is text, `binaryData` base64 in the manifest (bytes here); a key may not be in both.
- Secret `data` is base64 in the manifest (bytes here); `stringData` is write-only text merged over `data`
  at decode time (the API server does the same and never stores `stringData`).
- Keys are `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..` (they become file names in volumes);
  an object's whole data is at most 1 MiB (etcd's and the API server's limit for these objects).
- `immutable: true` objects refuse any later change of their data (re-apply with other data is an error).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pyrunc.errors import FieldError
from pyrunc.spec.model import ObjectMeta
from pyrunc.spec.schema import Decoder, encode, spec_field

MAX_DATA_BYTES = 1024 * 1024  # the API server's limit on a ConfigMap's or a Secret's data
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

# Secret types the API server knows, with the keys each one requires (pkg/apis/core/validation).
SECRET_TYPES: dict[str, tuple[str, ...]] = {
    "Opaque": (),
    "kubernetes.io/service-account-token": (),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/basic-auth": (),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "bootstrap.kubernetes.io/token": (),
}


def data_key(key: str) -> str | None:
    """IsConfigMapKey: what a key of data/binaryData/stringData must look like."""
    if len(key) > 253:
        return f'Invalid value: "{key[:40]}...": must be no more than 253 characters'
    if not _KEY.match(key):
        return (f'Invalid value: "{key}": a valid config key must consist of alphanumeric characters, '
                "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                "is '[-._a-zA-Z0-9]+')")
    if key in (".", ".."):
        return f'Invalid value: "{key}": must not be \'{key}\''
    return None


@dataclass(frozen=True, slots=True)
class ConfigMap:
    KIND: ClassVar[str] = "ConfigMap"
    PLURAL: ClassVar[str] = "configmaps"
    api_version: str = spec_field("v1", required=True, enum=("v1",))
    kind: str = spec_field("ConfigMap", required=True, enum=("ConfigMap",))
    metadata: ObjectMeta = spec_field(kw_only=True)
    data: dict[str, str] = spec_field(factory=dict, key_check=data_key)
    binary_data: dict[str, bytes] = spec_field(factory=dict)  # decoded from base64
    immutable: bool = False

    def keys(self) -> list[str]:
        return sorted({*self.data, *self.binary_data})

    def value(self, key: str) -> bytes | None:
        if key in self.data:
            return self.data[key].encode()
        return self.binary_data.get(key)


@dataclass(frozen=True, slots=True)
class Secret:
    KIND: ClassVar[str] = "Secret"
    PLURAL: ClassVar[str] = "secrets"
    api_version: str = spec_field("v1", required=True, enum=("v1",))
    kind: str = spec_field("Secret", required=True, enum=("Secret",))
    metadata: ObjectMeta = spec_field(kw_only=True)
    type: str = "Opaque"
    data: dict[str, bytes] = spec_field(factory=dict)  # decoded from base64, stringData merged in
    immutable: bool = False

    def keys(self) -> list[str]:
        return sorted(self.data)

    def value(self, key: str) -> bytes | None:
        return self.data.get(key)


NodeObject = ConfigMap | Secret
KINDS: dict[str, type[ConfigMap] | type[Secret]] = {"ConfigMap": ConfigMap, "Secret": Secret}


def _b64_map(raw: Any, path: str, errors: list[FieldError]) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(FieldError(path, "expected object"))
        return {}
    out: dict[str, bytes] = {}
    for key, value in raw.items():
        where = f"{path}[{key}]"
        if not isinstance(key, str) or not isinstance(value, str):
            errors.append(FieldError(where, "expected a base64 string"))
            continue
        problem = data_key(key)
        if problem:
            errors.append(FieldError(where, problem))
            continue
        try:
            out[key] = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            errors.append(FieldError(where, "illegal base64 data"))
    return out


def object_from_dict(data: dict[str, Any]) -> tuple[NodeObject | None, list[FieldError]]:
    """One decoded document of kind ConfigMap or Secret -> the record and every problem found."""
    kind = data.get("kind")
    errors: list[FieldError] = []
    raw = dict(data)
    # The base64 maps are decoded here, not by the generic decoder (it knows no bytes).
    if kind == "ConfigMap":
        binary = _b64_map(raw.pop("binaryData", None), "binaryData", errors)
        decoder = Decoder()
        cm: ConfigMap = decoder.decode(ConfigMap, raw, "")
        errors += decoder.errors
        for key in sorted(set(cm.data) & set(binary)):
            errors.append(FieldError(f"data[{key}]", f'Invalid value: "{key}": duplicate of key present in binaryData'))
        obj: NodeObject = ConfigMap(api_version=cm.api_version, kind=cm.kind, metadata=cm.metadata, data=cm.data,
                                    binary_data=binary, immutable=cm.immutable)
    elif kind == "Secret":
        encoded = _b64_map(raw.pop("data", None), "data", errors)
        text = raw.pop("stringData", None) or {}
        if not isinstance(text, dict) or not all(isinstance(v, str) for v in text.values()):
            errors.append(FieldError("stringData", "expected an object of strings"))
            text = {}
        for key in text:
            problem = data_key(str(key))
            if problem:
                errors.append(FieldError(f"stringData[{key}]", problem))
        decoder = Decoder()
        sec: Secret = decoder.decode(Secret, raw, "")
        errors += decoder.errors
        merged = {**encoded, **{str(k): v.encode() for k, v in text.items()}}
        for key in SECRET_TYPES.get(sec.type, ()):
            if key not in merged:
                errors.append(FieldError(f"data[{key}]", "Required value"))
        obj = Secret(api_version=sec.api_version, kind=sec.kind, metadata=sec.metadata, type=sec.type, data=merged,
                     immutable=sec.immutable)
    else:
        return None, [FieldError("kind", f'Unsupported value: "{kind}"')]
    size = sum(len(k) + len(v if isinstance(v, bytes) else v.encode()) for k, v in
               [*obj.data.items(), *getattr(obj, "binary_data", {}).items()])
    if size > MAX_DATA_BYTES:
        errors.append(FieldError("data", f"Too long: must have at most {MAX_DATA_BYTES} bytes"))
    return obj, errors


def object_to_dict(obj: NodeObject) -> dict[str, Any]:
    """The v1 form (base64 for bytes), as the API server returns it."""
    out: dict[str, Any] = encode(obj)
    if isinstance(obj, Secret):
        out.pop("data", None)
        if obj.data:
            out["data"] = {k: base64.b64encode(v).decode() for k, v in sorted(obj.data.items())}
    else:
        out.pop("binaryData", None)
        if obj.binary_data:
            out["binaryData"] = {k: base64.b64encode(v).decode() for k, v in sorted(obj.binary_data.items())}
    return out
