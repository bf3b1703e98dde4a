"""This node as the API would show it: its name, its labels and the extended resources it offers.

One place for the node's view, read by admission (worker/admission.py: nodeSelector, node affinity,
extended resources) and by the CLI (`get nodes`, `label node`). Labels come from three layers, later
ones winning:
  1. `node_labels` of the node configuration (config.py, <root>/config.json);
  2. those `pyrunc label node` set or removed, stored in <root>/node-labels.json (atomic, one writer:
     the `label` verb) as {"labels": {key: value, or null for a removed key}};
  3. the labels the kubelet always sets and keeps (its updateDefaultLabels): kubernetes.io/hostname,
     kubernetes.io/os, kubernetes.io/arch and their beta.kubernetes.io/ twins.
Everything here is pure except `node_facts`, `stored_overrides` and `host_details`, which read files.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from pyrunc.errors import PyruncError

LABELS_FILE = "node-labels.json"
NODE_WORDS = ("node", "nodes", "no")

# uname -m -> Go's GOARCH, the value of kubernetes.io/arch (runtime.GOARCH of the kubelet binary).
_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
    "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
    "loongarch64": "loong64", "mips64": "mips64",
}


class NodeFacts(NamedTuple):  # a NamedTuple, not a dataclass: on `pyrunc get`'s path (see NodeConfig)
    name: str
    labels: dict[str, str]
    extended_resources: dict[str, int]


def goarch(machine: str) -> str:
    return _GOARCH.get(machine, machine)


def kubelet_labels(node_name: str, machine: str) -> dict[str, str]:
    """The labels every kubelet sets on its node (and puts back when they are changed)."""
    arch = goarch(machine)
    return {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": "linux",
    }


def merge_labels(configured: dict[str, str], overrides: dict[str, str | None], node_name: str,
                 machine: str) -> dict[str, str]:
    labels = dict(configured)
    for key, value in overrides.items():
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
    labels.update(kubelet_labels(node_name, machine))
    return dict(sorted(labels.items()))


def labels_path(root: str) -> str:
    return os.path.join(root, LABELS_FILE)


def stored_overrides(root: str) -> dict[str, str | None]:
    from pyrunc.store.atomic import read_json

    data = read_json(labels_path(root), {}) or {}
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {str(k): (v if isinstance(v, str) else None) for k, v in labels.items()}


def node_facts(cfg: Any) -> NodeFacts:
    labels = merge_labels(cfg.node_labels, stored_overrides(cfg.root), cfg.node_name, os.uname().machine)
    return NodeFacts(cfg.node_name, labels, dict(cfg.extended_resources))


# ---------------------------------------------------------------------------------- pyrunc label node
class LabelChange(NamedTuple):
    overrides: dict[str, str | None]  # the new content of node-labels.json
    message: str  # kubectl's "node/NAME labeled" line
    warnings: list[str]


def parse_label_words(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`KEY=VALUE` and `KEY-` words -> (labels to set, keys to remove), checked as kubectl checks them."""
    from pyrunc.spec import names

    to_set: dict[str, str] = {}
    to_remove: list[str] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if names.qualified_name(key) or names.label_value(value):
                raise PyruncError(f'invalid label spec: "{word}": ' + (names.qualified_name(key) or
                                                                        names.label_value(value) or ""))
            to_set[key] = value
        elif word.endswith("-") and len(word) > 1:
            key = word[:-1]
            if names.qualified_name(key):
                raise PyruncError(f'invalid label spec: "{word}": {names.qualified_name(key)}')
            to_remove.append(key)
        else:
            raise PyruncError(f'invalid label spec: "{word}": expected KEY=VALUE or KEY-')
    both = sorted(set(to_set) & set(to_remove))
    if both:
        raise PyruncError(f"can not both modify and remove a label in the same command: {both[0]}")
    if not to_set and not to_remove:
        raise PyruncError("at least one label update is required")
    return to_set, to_remove


def change_labels(facts: NodeFacts, overrides: dict[str, str | None], to_set: dict[str, str], to_remove: list[str],
                  overwrite: bool, machine: str) -> LabelChange:
    """kubectl label on this node: the new overrides, or a PyruncError (one line) and nothing changed."""
    managed = kubelet_labels(facts.name, machine)
    current = facts.labels
    for key in list(to_set) + to_remove:
        if key in managed and to_set.get(key) != managed[key]:
            raise PyruncError(f"{key}: set by the node itself and kept by it (as the kubelet keeps its "
                              f"default labels); it cannot be changed or removed")
    for key, value in to_set.items():
        if key in current and current[key] != value and not overwrite:
            raise PyruncError(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
    new = dict(overrides)
    warnings = []
    for key in to_remove:
        if key not in current:
            warnings.append(f'label "{key}" not found.')
        new[key] = None
    new.update(to_set)
    changed = any(current.get(k) != v for k, v in to_set.items()) or any(k in current for k in to_remove)
    if not changed:
        verb = "not labeled"
    elif to_set:
        verb = "labeled"
    else:
        verb = "unlabeled"
    return LabelChange(new, f"node/{facts.name} {verb}", warnings)


# ---------------------------------------------------------------------------------- get nodes
def _field(path: str, prefix: str, sep: str | None = None) -> str:
    """The value after `prefix` on the first line starting with it ("" when the file or line is missing):
    the word after it (`sep` None) or everything after the first `sep`."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(sep, 1)[1].strip() if sep else line.split()[1]
    except (OSError, IndexError):
        pass
    return ""


def host_details() -> dict[str, Any]:
    """What `get nodes -o wide` and -o yaml show of the host (read now, nothing kept)."""
    from pyrunc.linux.host import host_ip

    os_image = _field("/etc/os-release", "PRETTY_NAME=", "=").strip('"') or "Linux"
    boot = float(_field("/proc/stat", "btime ") or 0)
    mem_kib = int(_field("/proc/meminfo", "MemTotal:") or 0)
    uname = os.uname()
    return {"address": host_ip(), "osImage": os_image, "kernelVersion": uname.release, "machine": uname.machine,
            "cpus": os.cpu_count() or 1, "memoryKi": mem_kib, "bootTime": boot}


def node_object(facts: NodeFacts, host: dict[str, Any], version: str) -> dict[str, Any]:
    """The v1 Node of this node. Its creationTimestamp is the host's boot: the node root is a tmpfs
    (/run/pyrunc) made anew at each boot, so the node "registers" then."""
    from pyrunc.status import rfc3339

    created = rfc3339(float(host.get("bootTime") or 0))
    capacity: dict[str, str] = {"cpu": str(host["cpus"]), "memory": f"{host['memoryKi']}Ki", "pods": "110"}
    capacity.update({name: str(count) for name, count in sorted(facts.extended_resources.items())})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": facts.name, "labels": dict(facts.labels), "creationTimestamp": created},
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "pyrunc is posting ready status", "lastHeartbeatTime": created,
                            "lastTransitionTime": created}],
            "addresses": [{"type": "InternalIP", "address": host["address"]},
                          {"type": "Hostname", "address": facts.name}],
            "nodeInfo": {"architecture": goarch(host["machine"]), "operatingSystem": "linux",
                         "osImage": host["osImage"], "kernelVersion": host["kernelVersion"],
                         "containerRuntimeVersion": f"pyrunc://{version}", "kubeletVersion": f"pyrunc-{version}"},
        },
    }
