"""Static pods as pure rules: manifest files -> the pods they ask for -> what the daemon must do.

The kubelet's file source (``--pod-manifest-path``, pkg/kubelet/config/file.go) reads a directory of
manifests, one pod per file, and names each pod ``<name>-<nodename>`` (the name its mirror pod gets
in the API server). It marks the pod with annotations: ``kubernetes.io/config.source: file`` and
``kubernetes.io/config.hash``, a hash of the node, the file's path and the pod itself; the mirror pod
carries the same hash as ``kubernetes.io/config.mirror``. pyrunc has no API server: the pod it runs
is the one users see, so it carries all three (and ``kubernetes.io/config.seen``, when it was read).

The hash is what tells "the file's pod changed" apart from "the file was touched or re-saved":
``plan`` re-creates a pod only when its hash differs. A pod the daemon adopts after a restart carries
its hash in its stored annotations, so an unchanged file does not re-create it.

Nothing here reads a file or a clock: the watcher (manifest_dir.py) reads the directory and carries
out the actions through the daemon's own apply and delete paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from pyrunc.errors import PyruncError

SOURCE = "kubernetes.io/config.source"
HASH = "kubernetes.io/config.hash"
MIRROR = "kubernetes.io/config.mirror"
SEEN = "kubernetes.io/config.seen"
SUFFIXES = (".yaml", ".yml", ".json")
FILE_CHECK_FREQUENCY = 20.0  # seconds between rescans (the kubelet's --file-check-frequency)


def is_manifest_name(name: str) -> bool:
    """A file the source reads: not hidden (editors' swap files, `..data`), with a manifest suffix."""
    return not name.startswith(".") and name.endswith(SUFFIXES)


def static_name(name: str, node_name: str) -> str:
    """The kubelet's generatePodName: the node's name, lowercased, appended."""
    return f"{name}-{node_name.lower()}"


@dataclass(frozen=True)
class FilePod:
    """The pod one manifest file asks for, ready to apply (v1 form, named and annotated)."""

    path: str
    key: str  # <namespace>_<name>, as the pod directory (store/layout.py)
    hash: str
    manifest: dict[str, Any] = field(compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class BadFile:
    path: str
    message: str


@dataclass(frozen=True)
class RunningPod:
    key: str
    hash: str | None  # the pod's config.hash when it came from a file; None for a pod applied by a user


@dataclass(frozen=True)
class Action:
    verb: str  # "create" | "replace" | "delete"
    key: str
    pod: FilePod | None = None  # what to create (create, replace)


def config_hash(node_name: str, path: str, pod: Mapping[str, Any]) -> str:
    """As the kubelet's applyDefaults: md5 over the node, the file's path and the pod (its v1 form)."""
    h = hashlib.md5(usedforsecurity=False)
    h.update(f"host:{node_name}".encode())
    h.update(f"file:{path}".encode())
    h.update(json.dumps(pod, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def file_pod(path: str, text: str, node_name: str, seen: str) -> FilePod:
    """One manifest file -> its pod. Raises PyruncError (SpecError included) for a file that is not one pod."""
    from pyrunc.spec import load_manifests, pod_from_dict, pod_to_dict  # noqa: PLC0415 - preloaded

    pods = load_manifests(text, path)
    if len(pods) != 1:
        # The kubelet decodes one Pod per file; a stream of several is an error, not the first one.
        raise PyruncError(f"{path}: a static pod manifest holds exactly one pod, found {len(pods)}")
    manifest = pod_to_dict(pods[0])
    digest = config_hash(node_name, path, manifest)
    meta = manifest["metadata"]
    meta["name"] = static_name(meta["name"], node_name)
    meta["annotations"] = {**meta.get("annotations", {}), SOURCE: "file", HASH: digest, MIRROR: digest, SEEN: seen}
    pod = pod_from_dict(manifest, path)  # the longer name must still be a valid one
    return FilePod(path, f"{pod.metadata.namespace}_{pod.metadata.name}", digest, manifest)


def file_pods(texts: Mapping[str, str], node_name: str, seen: str) -> tuple[list[FilePod], list[BadFile]]:
    """Every readable manifest's pod, in path order; a later file naming the same pod is a bad file."""
    pods: list[FilePod] = []
    bad: list[BadFile] = []
    owner: dict[str, str] = {}
    for path in sorted(texts):
        try:
            pod = file_pod(path, texts[path], node_name, seen)
        except PyruncError as e:
            bad.append(BadFile(path, e.message))
            continue
        if pod.key in owner:
            ns, _, name = pod.key.partition("_")
            bad.append(BadFile(path, f'pod "{name}" in namespace "{ns}" is already defined by {owner[pod.key]}'))
            continue
        owner[pod.key] = path
        pods.append(pod)
    return pods, bad


def plan(files: list[FilePod], running: Mapping[str, str | None],
         busy: frozenset[str] = frozenset()) -> tuple[list[Action], list[BadFile]]:
    """What to do so that the pods from files are exactly the files' pods.

    ``running``: every pod of the node, key -> its config hash (None: applied by a user, not ours).
    ``busy``: keys with an action or a termination in flight; left alone until it ends (the watcher
    plans again then). A file whose pod name is taken by a user's pod is reported, never replaces it.
    """
    actions: list[Action] = []
    bad: list[BadFile] = []
    wanted = {pod.key for pod in files}
    for pod in files:
        if pod.key in busy:
            continue
        if pod.key not in running:
            actions.append(Action("create", pod.key, pod))
        elif running[pod.key] is None:
            ns, _, name = pod.key.partition("_")
            bad.append(BadFile(pod.path, f'pod "{name}" in namespace "{ns}" already exists and is not a static pod'))
        elif running[pod.key] != pod.hash:
            actions.append(Action("replace", pod.key, pod))
    for key, digest in sorted(running.items()):
        if digest is not None and key not in wanted and key not in busy:
            actions.append(Action("delete", key))
    return actions, bad
