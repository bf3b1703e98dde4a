"""Image references -> read-only root filesystems on this node.

An image lives in ``<images_dir>/<registry>/<repository>/<tag>/`` with ``rootfs/`` (the shared,
read-only lower layer of every container using it) and ``config.json`` (an OCI image config).
The built-in ``busybox`` image is made by ``rootfs/busybox.sh`` from Debian's busybox-static.
Pulling from registries is a later issue; an image that is not here is ``ErrImageNeverPull``-like.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from pyrunc.errors import ImageError
from pyrunc.images.reference import ImageRef, InvalidImageName, parse_ref

__all__ = ["Image", "ImageRef", "InvalidImageName", "image_dir", "parse_ref", "resolve"]


@dataclass(frozen=True, slots=True)
class Image:
    ref: ImageRef
    rootfs: str
    image_id: str
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)



def image_dir(images_dir: str, ref: ImageRef) -> str:
    return os.path.join(images_dir, ref.registry, ref.repository, ref.digest.replace(":", "_") or ref.tag)


def resolve(images_dir: str, text: str) -> Image:
    ref = parse_ref(text)
    base = image_dir(images_dir, ref)
    try:
        with open(os.path.join(base, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise ImageError(
            f'image "{text}" is not present on this node (looked in {base})',
            hint="the built-in image is busybox (built by `make setup`); pulling from registries is not supported yet",
        ) from None
    except ValueError as e:
        raise ImageError(f"image {text}: broken config.json: {e}") from None
    c = cfg.get("config") or {}
    return Image(
        ref=ref,
        rootfs=os.path.join(base, "rootfs"),
        image_id=str(cfg.get("pyrunc.digest", "")),
        env=tuple(c.get("Env") or ()),
        entrypoint=tuple(c.get("Entrypoint") or ()),
        cmd=tuple(c.get("Cmd") or ()),
        working_dir=c.get("WorkingDir") or "",
        user=c.get("User") or "",
        stop_signal=c.get("StopSignal") or "",
        labels=dict(c.get("Labels") or {}),
    )
