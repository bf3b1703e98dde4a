"""Pull and import, with the node's settings: what `pyrunc image pull|import` and the pod worker's
pull child run. The store does the work; this module only builds the sources.

The pod worker never pulls inside the supervisor (it is single-threaded and forks containers): it
runs `pyrunc image pull --result FILE NAME` as a child and reads FILE when the child ends
(worker/puller.py). The result is one JSON object:

    {"ok": true, "id": "sha256:...", "size": 123, "repoDigest": "docker.io/library/x@sha256:..."}
    {"ok": false, "kind": "not_found", "message": "..."}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyrunc.config import NodeConfig
from pyrunc.errors import ImageError
from pyrunc.images.media import Platform
from pyrunc.images.reference import is_loopback, parse_ref
from pyrunc.images.source import Progress, PullError
from pyrunc.images.store import ImageStore, StoredImage

if TYPE_CHECKING:
    from pyrunc.images.auth import Credentials
    from pyrunc.images.unpack import UnpackLimits


def _limits(cfg: NodeConfig) -> UnpackLimits:
    from pyrunc.images.unpack import UnpackLimits

    return UnpackLimits(max_bytes=cfg.image_max_layer_bytes, max_entries=cfg.image_max_layer_entries)


def pull_image(cfg: NodeConfig, text: str, progress: Progress | None = None,
               platform: Platform | None = None, credentials: Credentials | None = None) -> StoredImage:
    """Pull `text` from its registry into the node's store (blobs already there are not fetched again).
    `credentials`: the caller's (CRI's PullImage auth), else those of the node's auth files."""
    from pyrunc.images.registry import RegistrySettings, RegistrySource, lookup_credentials

    ref = parse_ref(text)
    if cfg.offline and not is_loopback(ref.registry):
        raise PullError("unreachable", f"the node is offline: registry {ref.registry} is not contacted",
                        hint="offline is set in the node configuration (config.json); loopback registries still work")
    settings = RegistrySettings(insecure=cfg.insecure_registries, certs_dir=cfg.registry_certs_dir,
                                auth_files=cfg.auth_files, timeout=cfg.registry_timeout)
    creds = credentials if credentials is not None else lookup_credentials(ref.registry, cfg.auth_files)
    source = RegistrySource(ref, settings, creds)
    try:
        return ImageStore(cfg.images_dir).ingest(source, [str(ref)], platform, progress, limits=_limits(cfg))
    finally:
        source.close()


def import_archive(cfg: NodeConfig, path: str, name: str | None = None, changes: Sequence[str] = (),
                   progress: Progress | None = None) -> list[StoredImage]:
    """`pyrunc image import`: every image of a docker-archive, OCI archive or layout, or one image
    made from a plain root filesystem tarball (which needs `name`)."""
    from pyrunc.images.archive import open_archive

    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file or directory")
    store = ImageStore(cfg.images_dir)
    out = []
    for item in open_archive(path, name, changes):
        names = list(item.names)
        if name and str(parse_ref(name)) not in names:
            names.append(name)
        try:
            out.append(store.ingest(item.source, names, progress=progress, limits=_limits(cfg)))
        finally:
            item.source.close()
    return out


def result_of(image: StoredImage) -> dict[str, object]:
    return {"ok": True, "id": image.id, "size": image.size, "repoDigest": (image.repo_digests() or ("",))[0]}


def write_result(path: str, result: dict[str, object]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, path)
