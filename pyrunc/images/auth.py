"""Registry credentials and authentication challenges (pure: no network).

Credentials come from docker-style config.json files (`auths` -> `auth` = base64 "user:pass", or
`username`/`password`), their keys matched as docker matches them: `https://index.docker.io/v1/`
for Docker Hub, else the key's host[:port] with any scheme and path dropped. A password is never
shown: Credentials hides it from repr, and no message here includes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyrunc.errors import ImageError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
# Docker Hub's names: a config.json written by `docker login` uses the first.
_DOCKER_HUB_NAMES = (DOCKER_HUB_KEY, "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    # A bearer token for the registry itself (CRI's AuthConfig.registry_token): sent as it is to a bearer
    # challenge, no token server asked.
    registry_token: str = field(default="", repr=False)


def _host_of_key(key: str) -> str:
    """docker's convertToHostname: drop a scheme and everything after the host[:port]."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key.split("/", 1)[0]


def _keys_for(registry: str) -> tuple[str, ...]:
    if registry in _DOCKER_HUB_NAMES:
        return _DOCKER_HUB_NAMES
    return (registry,)


def same_registry(key: str, registry: str) -> bool:
    """Whether a credentials key (`https://host:port/v1/`, `host:port`) names `registry` (host[:port])."""
    wanted = _keys_for(registry)
    return key in wanted or _host_of_key(key) in wanted


def decode_auth(encoded: str, where: str) -> Credentials:
    """docker's `auth`: base64 of "user:password"."""
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ImageError(f"{where}: not base64 of \"user:password\"") from None
    if not sep:
        raise ImageError(f"{where}: not base64 of \"user:password\" (no colon)")
    return Credentials(user, password)


def _entry_credentials(entry: object, where: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise ImageError(f"{where}: expected an object")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        return decode_auth(encoded, f"{where}.auth")
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and name and isinstance(secret, str):
        return Credentials(name, secret)
    return None  # an identity token or a credential helper's entry: not supported, treated as none


def lookup_credentials(registry: str, auth_files: Sequence[str]) -> Credentials | None:
    """The credentials for `registry` (host[:port] of a reference) from the first file that has some."""
    wanted = _keys_for(registry)
    for path in auth_files:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as e:
            raise ImageError(f"{path}: cannot read the registry credentials: {type(e).__name__}") from None
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if auths is None:
            continue
        if not isinstance(auths, dict):
            raise ImageError(f"{path}: auths: expected an object")
        # An exact key first (docker does the same), then any key naming the same host[:port].
        for key in [k for k in wanted if k in auths] + [k for k in auths if k not in wanted]:
            if key in wanted or _host_of_key(key) in wanted:
                found = _entry_credentials(auths[key], f"{path}: auths[{key!r}]")
                if found is not None:
                    return found
    return None


@dataclass(frozen=True, slots=True)
class Challenge:
    """One WWW-Authenticate challenge: scheme ("bearer" or "basic", lowercased) and its parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str:
        return dict(self.params).get(name, "")


_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse `Bearer realm="...",service="...",scope="a b"` (and Basic, and several challenges).

    Quoted values may hold commas (a scope list) and backslash escapes; a new challenge starts at
    a bare token that is not followed by `=`.
    """
    out: list[Challenge] = []
    pos, text = 0, header.strip()
    while pos < len(text):
        m = re.match(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)", text[pos:])
        if not m:
            break
        scheme = m.group(1).lower()
        pos += m.end()
        params: list[tuple[str, str]] = []
        while pos < len(text):
            p = _PARAM.match(text, pos)
            if not p:
                break
            # A token followed by a space and another token is the next challenge's scheme.
            value = p.group(2) if p.group(2) is not None else p.group(3)
            params.append((p.group(1).lower(), re.sub(r"\\(.)", r"\1", value)))
            pos = p.end()
        out.append(Challenge(scheme, tuple(params)))
    return out


# Secret types whose data is a docker config, and the key holding it (the kubelet reads these two).
PULL_SECRET_KEYS = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}


def auths_from_pull_secrets(secrets: Sequence[tuple[str, Mapping[str, bytes]]]) -> dict[str, object]:
    """The `auths` of a docker config built from a pod's imagePullSecrets, given as (type, data), in the
    pod's order: `.dockerconfigjson` holds {"auths": {...}}, the older `.dockercfg` the auths map itself.

    For a registry named by several secrets the first one's entry is kept (the keyring tries them in
    order). A secret of another type, or whose content is not such JSON, gives nothing, as the kubelet
    skips it (its content is never put in a message: it holds passwords).
    """
    out: dict[str, object] = {}
    for kind, data in secrets:
        key = PULL_SECRET_KEYS.get(kind)
        if key is None or key not in data:
            continue
        try:
            doc = json.loads(data[key])
        except (ValueError, UnicodeDecodeError):
            continue
        auths = doc.get("auths") if isinstance(doc, dict) and kind == "kubernetes.io/dockerconfigjson" else doc
        if not isinstance(auths, dict):
            continue
        for registry, entry in auths.items():
            if isinstance(registry, str) and isinstance(entry, dict):
                out.setdefault(registry, entry)
    return out
