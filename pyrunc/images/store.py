"""Image references -> read-only root filesystems on this node.

An image lives in ``<images_dir>/<registry>/<repository>/<tag>/`` with ``rootfs/`` (the shared,
read-only lower layer of every container using it) and ``config.json`` (an OCI image config).
The built-in ``busybox`` image is made by ``rootfs/busybox.sh`` from Debian's busybox-static.
Pulling from registries is a later issue; an image that is not here is ``ErrImageNeverPull``-like.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from pyrunc.errors import ImageError

DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str
    repository: str
    tag: str
    digest: str = ""

    def __str__(self) -> str:
        s = f"{self.registry}/{self.repository}"
        return f"{s}@{self.digest}" if self.digest else f"{s}:{self.tag}"


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


class InvalidImageName(ImageError):
    """A reference outside the distribution grammar: the kubelet's InvalidImageName."""

    def __init__(self, text: str, why: str = "invalid reference format") -> None:
        super().__init__(f'Failed to apply default image tag "{text}": couldn\'t parse image name "{text}": {why}')


# The grammar of distribution's reference package (the one the kubelet and containerd use),
# written out here; every part that becomes a path component below is checked by it:
#   reference  := name [ ":" tag ] [ "@" digest ]
#   name       := [ domain "/" ] path-component { "/" path-component }     (at most 255 characters)
#   domain     := host [ ":" port ],  host := domain-name | "[" IPv6 "]"
#   path-component := [a-z0-9]+ { separator [a-z0-9]+ },  separator := "." | "_" | "__" | "-"*
#   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
#   digest     := algorithm ":" hex   (sha256: 64 lowercase hex digits; sha384: 96; sha512: 128)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?",
    re.ASCII,
)
_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_MAX = 255


def parse_ref(text: str) -> ImageRef:
    """Normalise like the docker reference parser (busybox -> docker.io/library/busybox:latest);
    InvalidImageName for anything outside the grammar, so no other text ever reaches a path."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        # Name the likely cause as the reference parser does, when it is that simple.
        lowered = _REFERENCE.fullmatch(text.lower()) if text and text != text.lower() else None
        raise InvalidImageName(text, "repository name must be lowercase" if lowered else "invalid reference format")
    name, tag, digest = match.group("name"), match.group("tag") or "", match.group("digest") or ""
    if len(name) > NAME_MAX:
        raise InvalidImageName(text, f"repository name must not be more than {NAME_MAX} characters")
    if digest:
        algorithm, hexpart = digest.split(":", 1)
        if algorithm not in _DIGEST_HEX_LEN:
            raise InvalidImageName(text, f"unsupported digest algorithm {algorithm!r}")
        if len(hexpart) != _DIGEST_HEX_LEN[algorithm] or hexpart != hexpart.lower():
            raise InvalidImageName(text, "invalid checksum digest format")
    registry = DEFAULT_REGISTRY
    first, sep, rest = name.partition("/")
    # The first component is a registry only if it looks like a host (docker's splitDockerDomain).
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, name = first, rest
    if re.fullmatch(r"[a-f0-9]{64}", name):
        raise InvalidImageName(text, "invalid repository name (64 hex digits), cannot specify 64-byte hexadecimal strings")
    if registry == DEFAULT_REGISTRY and "/" not in name:
        name = f"library/{name}"
    return ImageRef(registry, name, tag or "latest", digest)


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
