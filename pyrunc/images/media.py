"""The OCI image format, decoded once: media types, descriptors, manifests, indexes and image configs.

Everything here is pure: bytes in, frozen records out, ImageError (naming the field) for anything
malformed. Registries, archives and the store all speak these records, so a manifest is checked in
one place whatever it came from. Docker's v2 schema 2 types are read as their OCI equivalents;
Docker's schema 1 (signed JSON) is refused, as containerd refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from pyrunc.errors import ImageError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
# What a registry is asked for (the Accept header): every manifest and index type we can read.
ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)

# Layer media types -> compression ("" = a plain tar).
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A manifest, index or config larger than this is not an image document (registries cap manifests at 4 MiB).
MAX_DOCUMENT = 4 << 20


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value: object, where: str) -> str:
    """A digest we can verify and use as a file name: sha256 and 64 lowercase hex digits."""
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise ImageError(f"{where}: invalid or unsupported digest {value!r} (only sha256 is supported)")
    return value


def digest_hex(digest: str) -> str:
    return check_digest(digest, "digest").split(":", 1)[1]


def compression_of(media_type: str) -> str:
    """ "", "gzip" or "zstd" for a layer media type; ImageError for any other type."""
    try:
        return LAYER_TYPES[media_type]
    except KeyError:
        raise ImageError(f"unsupported layer media type {media_type!r}") from None


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


# uname -m -> (GOARCH, variant), as containerd's platforms package names them.
_ARCH = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i686": ("386", ""), "i386": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}


def host_platform() -> Platform:
    machine = os.uname().machine
    arch, variant = _ARCH.get(machine, (machine, ""))
    return Platform("linux", arch, variant)


def platform_matches(have: Platform, want: Platform) -> bool:
    """containerd's default matcher: same OS and architecture; a variant only has to match when both
    name one (arm64 images often omit v8)."""
    if have.os != want.os or have.architecture != want.architecture:
        return False
    return not (have.variant and want.variant and have.variant != want.variant)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    urls: tuple[str, ...] = ()

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform is not None:
            d["platform"] = {"os": self.platform.os, "architecture": self.platform.architecture}
            if self.platform.variant:
                d["platform"]["variant"] = self.platform.variant
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.urls:
            d["urls"] = list(self.urls)
        return d


def descriptor_of(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ImageError(f"{where}: expected an object, got {value!r:.80}")
    media_type = value.get("mediaType", "")
    size = value.get("size")
    if not isinstance(media_type, str):
        raise ImageError(f"{where}.mediaType: expected a string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageError(f"{where}.size: expected a non-negative integer, got {size!r}")
    platform = None
    p = value.get("platform")
    if isinstance(p, dict):
        platform = Platform(str(p.get("os", "")), str(p.get("architecture", "")), str(p.get("variant", "") or ""))
    annotations = value.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ImageError(f"{where}.annotations: expected an object")
    urls = value.get("urls") or []
    return Descriptor(media_type, check_digest(value.get("digest"), f"{where}.digest"), size, platform,
                      tuple(sorted((str(k), str(v)) for k, v in annotations.items())),
                      tuple(str(u) for u in urls) if isinstance(urls, list) else ())


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def _document(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT:
        raise ImageError(f"{what}: {len(data)} bytes, more than the {MAX_DOCUMENT} an image document may have")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"{what}: not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what}: expected a JSON object")
    return doc


def parse_manifest(data: bytes, media_type: str = "") -> Manifest | Index:
    """A manifest or an index. `media_type` is what the registry said (Content-Type) or the
    descriptor's; the document's own mediaType wins when present (OCI allows either)."""
    doc = _document(data, "manifest")
    kind = doc.get("mediaType") or media_type
    if kind in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise ImageError("Docker image manifest schema 1 is not supported (deprecated; push the image again "
                         "with a current client)")
    if doc.get("schemaVersion") != 2:
        raise ImageError(f"manifest: schemaVersion {doc.get('schemaVersion')!r}, expected 2")
    if not kind:  # OCI documents may omit mediaType: tell them apart by their fields
        kind = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if kind in INDEX_TYPES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise ImageError("index.manifests: expected a list")
        return Index(kind, tuple(descriptor_of(m, f"index.manifests[{i}]") for i, m in enumerate(items)))
    if kind not in MANIFEST_TYPES:
        raise ImageError(f"unsupported manifest media type {kind!r}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ImageError("manifest.layers: expected a list")
    config = descriptor_of(doc.get("config"), "manifest.config")
    if config.media_type not in CONFIG_TYPES:
        raise ImageError(f"manifest.config.mediaType: {config.media_type!r} is not an image config "
                         "(an artifact, not a container image)")
    descs = tuple(descriptor_of(m, f"manifest.layers[{i}]") for i, m in enumerate(layers))
    for i, d in enumerate(descs):
        compression_of(d.media_type)  # refuse an unknown layer type before anything is fetched
    return Manifest(kind, config, descs)


def choose_platform(index: Index, want: Platform) -> Descriptor:
    """The manifest of `index` for `want` (the host's platform), as containerd picks it: the first match."""
    for d in index.manifests:
        if d.media_type in INDEX_TYPES + MANIFEST_TYPES and d.platform is not None and platform_matches(d.platform, want):
            return d
    have = ", ".join(str(d.platform) for d in index.manifests if d.platform is not None) or "none"
    raise ImageError(f"no image for the platform {want} in the index (it has: {have})")


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an OCI image config a runtime uses (image-spec config.md)."""

    os: str = "linux"
    architecture: str = ""
    variant: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    diff_ids: tuple[str, ...] = ()
    created: str = ""
    # ExposedPorts and Volumes are ignored, as the kubelet ignores them (no anonymous volumes).
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"{where}: expected a list of strings")
    return tuple(value)


def _string(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImageError(f"{where}: expected a string")
    return value


def parse_config(data: bytes) -> ImageConfig:
    doc = _document(data, "image config")
    c = doc.get("config") or {}
    if not isinstance(c, dict):
        raise ImageError("image config.config: expected an object")
    rootfs = doc.get("rootfs") or {}
    if not isinstance(rootfs, dict) or rootfs.get("type", "layers") != "layers":
        raise ImageError("image config.rootfs: expected {\"type\": \"layers\", ...}")
    diff_ids = tuple(check_digest(d, f"image config.rootfs.diff_ids[{i}]")
                     for i, d in enumerate(_strings(rootfs.get("diff_ids"), "image config.rootfs.diff_ids")))
    labels = c.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ImageError("image config.config.Labels: expected an object")
    return ImageConfig(
        os=_string(doc.get("os"), "image config.os") or "linux",
        architecture=_string(doc.get("architecture"), "image config.architecture"),
        variant=_string(doc.get("variant"), "image config.variant"),
        env=_strings(c.get("Env"), "image config.config.Env"),
        entrypoint=_strings(c.get("Entrypoint"), "image config.config.Entrypoint"),
        cmd=_strings(c.get("Cmd"), "image config.config.Cmd"),
        working_dir=_string(c.get("WorkingDir"), "image config.config.WorkingDir"),
        user=_string(c.get("User"), "image config.config.User"),
        stop_signal=_string(c.get("StopSignal"), "image config.config.StopSignal"),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        diff_ids=diff_ids,
        created=_string(doc.get("created"), "image config.created"),
        raw=doc,
    )
