"""Image references, parsed as containerd and docker parse them.

`nginx` -> docker.io/library/nginx:latest; registries with ports; tags; `@sha256:` digests; both.
Anything outside the grammar is the kubelet's InvalidImageName, so no other text reaches a path
or a URL.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pyrunc.errors import ImageError

DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str
    repository: str
    tag: str  # "" only when the reference names a digest and no tag
    digest: str = ""

    @property
    def name(self) -> str:
        """registry/repository: the repository a registry serves (docker.io/library/busybox)."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        """The normalised reference, as containerd names images (a tag and a digest may both appear)."""
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def pull_target(self) -> str:
        """What the registry is asked for: the digest when there is one (the tag is then only a label)."""
        return self.digest or self.tag

    @property
    def default_pull_policy(self) -> str:
        """The API server's default: Always for `:latest` or no tag (and no digest), else IfNotPresent."""
        return "Always" if not self.digest and self.tag == "latest" else "IfNotPresent"


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
    return ImageRef(registry, name, tag or ("" if digest else "latest"), digest)


def registry_host(registry: str) -> str:
    """The host of `host[:port]` (`[::1]:5000` -> `::1`)."""
    if registry.startswith("["):
        return registry[1:].split("]", 1)[0]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(registry: str) -> bool:
    """A registry on this host: `localhost` or a loopback address, with any port. Docker treats these
    as insecure (plain HTTP allowed), and an offline node still reaches them."""
    host = registry_host(registry)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

