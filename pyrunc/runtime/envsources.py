"""Env values from ConfigMaps and Secrets, as the kubelet's makeEnvironmentVariables. Pure: the objects
come through `lookup` (the node's object store, or a dict in tests).

- `envFrom` comes first, its sources in order (a later source overrides an earlier one); then `env`, in
  order, overriding them (runtime/config.py container_env). Only a ConfigMap's `data` is used, never its
  `binaryData`; a Secret's `data` as text.
- A missing object or key is an error (the container waits in CreateContainerConfigError, retried at the
  next sync) unless the reference is `optional: true`: then it is skipped.
- envFrom keys that, with the prefix, are not valid variable names are skipped and reported (the kubelet's
  InvalidEnvironmentVariableNames event). With the API server's current rule (any name without `=`, the
  RelaxedEnvironmentVariableValidation rule pyrunc validates with) a key can never be invalid, since
  config keys are `[-._a-zA-Z0-9]+` and the prefix is validated; the check is kept as the kubelet has it.
The messages are the kubelet's: they name objects and keys, never a value.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from pyrunc.errors import ContainerConfigError
from pyrunc.spec import names
from pyrunc.spec.objects import ConfigMap, NodeObject, Secret

# (kind, name) in the pod's namespace -> the object, or None when there is none
Lookup = Callable[[str, str], "NodeObject | None"]


class InvalidKeys(NamedTuple):
    """envFrom keys left out: the kubelet's InvalidEnvironmentVariableNames event."""

    kind: str  # "configMap" | "secret", as the kubelet's message says
    name: str
    keys: tuple[str, ...]

    def message(self, namespace: str) -> str:
        return (f"Keys [{', '.join(self.keys)}] from the EnvFrom {self.kind} {namespace}/{self.name} were skipped "
                "since they are considered invalid environment variable names.")


def store_lookup(root: str, namespace: str) -> Lookup:
    """The node's object store (store/objects.py) as a Lookup for the pod's namespace, read at each call."""
    from pyrunc.store.objects import ObjectStore

    store = ObjectStore(root)
    return lambda kind, name: store.get(kind, namespace, name)


def _not_found(kind: str, name: str) -> ContainerConfigError:
    # The kubelet's object managers answer NotFound with the singular resource name: `configmap "x" not found`.
    return ContainerConfigError(f'{kind.lower()} "{name}" not found')


def _text(obj: NodeObject) -> dict[str, str]:
    if isinstance(obj, ConfigMap):
        return dict(obj.data)
    assert isinstance(obj, Secret)
    return {k: v.decode("utf-8", "surrogateescape") for k, v in obj.data.items()}


def env_from(sources: Any, lookup: Lookup) -> tuple[dict[str, str], list[InvalidKeys]]:
    """The variables of a container's `envFrom` (in order, later ones overriding) and the keys skipped."""
    env: dict[str, str] = {}
    skipped: list[InvalidKeys] = []
    for src in sources:
        if src.config_map_ref is not None:
            kind, ref, label = "ConfigMap", src.config_map_ref, "configMap"
        elif src.secret_ref is not None:
            kind, ref, label = "Secret", src.secret_ref, "secret"
        else:
            continue
        obj = lookup(kind, ref.name)
        if obj is None:
            if ref.optional:
                continue
            raise _not_found(kind, ref.name)
        invalid = []
        for key, value in sorted(_text(obj).items()):
            full = src.prefix + key
            if names.env_var_name(full) is not None or not full:
                invalid.append(full)
                continue
            env[full] = value
        if invalid:
            skipped.append(InvalidKeys(label, ref.name, tuple(sorted(invalid))))
    return env, skipped


def key_ref(source: Any, namespace: str, lookup: Lookup) -> str | None:
    """The value of a configMapKeyRef or secretKeyRef; None when it is optional and missing (the variable is
    then not set at all). Raises ContainerConfigError with the kubelet's message otherwise."""
    if source.config_map_key_ref is not None:
        kind, ref = "ConfigMap", source.config_map_key_ref
    elif source.secret_key_ref is not None:
        kind, ref = "Secret", source.secret_key_ref
    else:
        raise ValueError("not an object reference")
    obj = lookup(kind, ref.name)
    if obj is None:
        if ref.optional:
            return None
        raise _not_found(kind, ref.name)
    values = _text(obj)
    if ref.key not in values:
        if ref.optional:
            return None
        raise ContainerConfigError(f"couldn't find key {ref.key} in {kind} {namespace}/{ref.name}")
    return values[ref.key]


def is_object_ref(source: Any) -> bool:
    return source.config_map_key_ref is not None or source.secret_key_ref is not None
