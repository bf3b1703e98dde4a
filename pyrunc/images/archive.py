"""`pyrunc image import FILE`: image archives read as ImageSources, ingested by the store like a pull.

Four kinds, told apart by content (never by file name):

- an OCI image layout directory (`oci-layout` + `index.json` + `blobs/`), as `skopeo copy ... oci:DIR`
  and umoci write it;
- an OCI archive: a tar of such a layout (`skopeo copy ... oci-archive:FILE`, `tar -C DIR -cf FILE .`),
  and newer docker's `docker save`, which writes an OCI layout beside its manifest.json (the layout wins);
- a docker-archive (`docker save`, `podman save`, `skopeo copy ... docker-archive:FILE`): `manifest.json`
  lists each image's config and layer tars. Those layers are not stored under their blob digest, so their
  digests and sizes are computed by reading them, and an OCI manifest is written for them here, each
  layer's media type following its real compression (gzip/zstd magic bytes);
- a plain root filesystem tarball (`tar -C rootfs -c .`, plain, gzip or zstd), as `docker import` takes
  it: one layer, a config made from `changes` (Dockerfile instructions) for the host's platform, created
  at the epoch so the same tarball always gives the same image id.

Archives are untrusted input. Nothing is extracted: a tar is indexed once (headers only) and each
blob is read straight from its offset in the archive file, its size and digest verified while it is
copied (BlobWriter); member names that are absolute or hold `..`, links that lead out of the archive,
malformed manifest.json/index.json and missing or mismatched blobs are refused with one line
(PullError "invalid" or "corrupt").

A compressed tar (gzip/zstd) can only be a root filesystem tarball here: reading a docker or OCI
archive needs random access to its members, which a compressed stream does not give without
decompressing it to disk first. A compressed docker/OCI archive is refused with the command that
decompresses it (docker and podman accept them; this is the one difference, chosen to keep the
"read in place, never unpack the outer archive" rule without a temporary copy).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import posixpath
import shlex
import stat
import tarfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

import zstandard

from pyrunc.errors import ImageError
from pyrunc.images import media
from pyrunc.images.media import Descriptor, Index, Manifest, Platform
from pyrunc.images.reference import parse_ref
from pyrunc.images.source import BlobWriter, ImageSource, Progress, PullError, Resolved

__all__ = ["ArchiveImage", "open_archive", "parse_changes"]

REF_NAME = "org.opencontainers.image.ref.name"
# containerd (and docker 25+, which exports through it) puts the full name here, because the OCI
# ref.name annotation it writes beside it holds only the tag.
CONTAINERD_NAME = "io.containerd.image.name"
EPOCH = "1970-01-01T00:00:00Z"
CHUNK = 1 << 20
# Headers of a tar are held in memory while it is read: more members than this is not an image archive.
MAX_MEMBERS = 1_000_000
# Symbolic links inside an archive followed at most this many times (docker save links duplicate layers).
MAX_LINKS = 8

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
OTHER_MAGIC = {b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2"}
# The layer media type of a blob by its real compression (what its magic bytes show).
LAYER_TYPE = {"": "application/vnd.oci.image.layer.v1.tar", "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
              "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}


@dataclass(frozen=True, slots=True)
class ArchiveImage:
    source: ImageSource
    # The names the archive gives the image, normalised (docker.io/library/app:v1); may be empty. The
    # `name` given to open_archive is not among them: the store adds it.
    names: tuple[str, ...]


def _invalid(where: str, message: str) -> PullError:
    return PullError("invalid", f"{where}: {message}")


# -- reading members: a tar indexed once, or a layout directory --------------------------------------


@dataclass(frozen=True, slots=True)
class _Span:
    """Where a member's bytes are: `size` bytes at `offset` of the file `path`."""

    path: str
    offset: int
    size: int


def _member_name(name: str, where: str) -> str:
    """A member name as a clean relative path ("./blobs//x" -> "blobs/x"); absolute names and `..`
    are refused: no tool writes them into an image archive, only an attack does."""
    if name.startswith("/") or ".." in name.split("/"):
        raise _invalid(where, f"member {name!r} has an absolute name or a '..' component (refused)")
    clean = posixpath.normpath(name)
    return "" if clean == "." else clean


class _TarMembers:
    """An uncompressed tar, its headers read once (tarfile in random-access mode); each read opens
    the file again at the member's offset, so blobs can be copied from several threads at once."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where
        self._files: dict[str, _Span] = {}
        self._links: dict[str, tuple[str, bool]] = {}  # name -> (target, symbolic)
        try:
            with tarfile.open(path, "r:") as tar:
                for count, m in enumerate(tar, 1):
                    if count > MAX_MEMBERS:
                        raise _invalid(where, f"more than {MAX_MEMBERS} members")
                    name = _member_name(m.name, where)
                    if m.isreg():
                        if m.issparse():
                            continue  # its bytes are not contiguous: never a blob of an image archive
                        self._files[name] = _Span(path, m.offset_data, m.size)
                        self._links.pop(name, None)
                    elif m.issym() or m.islnk():
                        self._links[name] = (m.linkname, m.issym())
                        self._files.pop(name, None)
        except tarfile.TarError as e:
            raise _invalid(where, f"not a readable tar archive ({e})") from None

    def names(self) -> Iterator[str]:
        yield from self._files
        yield from self._links

    def lookup(self, name: str) -> _Span | None:
        for _ in range(MAX_LINKS + 1):
            span = self._files.get(name)
            if span is not None:
                return span
            link = self._links.get(name)
            if link is None:
                return None
            target, symbolic = link
            # A symbolic link is relative to its own directory; a hard link names another member.
            joined = posixpath.join(posixpath.dirname(name), target) if symbolic else target
            if target.startswith("/") or posixpath.normpath(joined).split("/")[0] == "..":
                raise _invalid(self.where, f"member {name!r} links to {target!r}, outside the archive (refused)")
            name = _member_name(posixpath.normpath(joined), self.where)
        raise _invalid(self.where, f"member {name!r}: more than {MAX_LINKS} links to follow")


class _DirMembers:
    """An OCI layout directory. Every component is opened without following symbolic links, so a
    layout cannot make us read a file outside it."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where

    def lookup(self, name: str) -> _Span | None:
        parts = _member_name(name, self.where).split("/")
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                try:
                    nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    return None
                except OSError as e:
                    raise _invalid(self.where, f"{name}: {e.strerror} (a symbolic link is refused)") from None
                os.close(fd)
                fd = nfd
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
        finally:
            os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _invalid(self.where, f"{name} is not a regular file (a symbolic link or special file is refused)")
        return _Span(os.path.join(self.path, *parts), 0, st.st_size)


_Members = _TarMembers | _DirMembers


def _open_span(span: _Span) -> IO[bytes]:
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    f = os.fdopen(os.open(span.path, flags), "rb")
    f.seek(span.offset)
    return f


def _read_span(span: _Span) -> Iterator[bytes]:
    left = span.size
    with _open_span(span) as f:
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise PullError("corrupt", f"{span.path}: ends before the member does (truncated archive)")
            left -= len(chunk)
            yield chunk


def _read_document(members: _Members, name: str, what: str) -> bytes:
    span = members.lookup(name)
    if span is None:
        raise _invalid(members.where, f"no {name}")
    if span.size > media.MAX_DOCUMENT:
        raise _invalid(members.where, f"{what} {name} is {span.size} bytes, more than an image document may have")
    return b"".join(_read_span(span))


def _json(data: bytes, where: str, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise _invalid(where, f"{what} is not JSON ({e})") from None


def _copy(span: _Span, desc: Descriptor, dest: str, progress: Progress) -> None:
    """Copy a member into `dest`, verifying size and digest (BlobWriter). A partial `dest` is not
    resumed: copying a local file again costs little, and a prefix left by anything else would
    only fail the digest at the end."""
    if span.size != desc.size:
        raise PullError("corrupt", f"blob {desc.digest}: the archive holds {span.size} bytes, "
                        f"its descriptor says {desc.size}")
    writer = BlobWriter(desc, dest)
    progress.start(desc, 0)
    try:
        for chunk in _read_span(span):
            writer.write(chunk)
            progress.advance(desc, len(chunk))
    except OSError as e:
        writer.abort()
        raise PullError("invalid", f"blob {desc.digest}: cannot read it from the archive: {e}") from None
    except BaseException:
        writer.abort()
        raise
    writer.finish()
    progress.done(desc)


def _write_bytes(data: bytes, desc: Descriptor, dest: str, progress: Progress) -> None:
    writer = BlobWriter(desc, dest)
    progress.start(desc, 0)
    writer.write(data)
    writer.finish()
    progress.advance(desc, len(data))
    progress.done(desc)


def _normalise(name: str, where: str) -> str:
    try:
        return str(parse_ref(name))
    except ImageError as e:
        raise _invalid(where, f"the image name {name!r} is not a valid reference ({e})") from None


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


# -- OCI layouts (directories and tars) --------------------------------------------------------------


class _OciSource:
    """One entry of an OCI layout's index.json: a manifest, or an index to choose a platform from."""

    def __init__(self, members: _Members, entry: Descriptor, description: str) -> None:
        self.members = members
        self.entry = entry
        self.description = description

    def _document(self, desc: Descriptor) -> bytes:
        span = self.members.lookup(f"blobs/sha256/{desc.hex}")
        if span is None:
            raise _invalid(self.description, f"the archive has no blob {desc.digest}")
        if desc.size > media.MAX_DOCUMENT or span.size != desc.size:
            raise PullError("corrupt", f"{self.description}: blob {desc.digest} holds {span.size} bytes, "
                            f"its descriptor says {desc.size}")
        data = b"".join(_read_span(span))
        if media.sha256_digest(data) != desc.digest:
            raise PullError("corrupt", f"{self.description}: blob {desc.digest} does not match its digest")
        return data

    def _parse(self, data: bytes, desc: Descriptor) -> Manifest | Index:
        try:
            return media.parse_manifest(data, desc.media_type)
        except ImageError as e:
            raise _invalid(self.description, f"{desc.digest}: {e}") from None

    def resolve(self, platform: Platform) -> Resolved:
        target_bytes = self._document(self.entry)
        parsed = self._parse(target_bytes, self.entry)
        if isinstance(parsed, Manifest):
            return Resolved(self.entry, target_bytes, self.entry, target_bytes, parsed)
        try:
            chosen = media.choose_platform(parsed, platform)
        except ImageError as e:
            raise PullError("not_found", f"{self.description}: {e}") from None
        manifest_bytes = self._document(chosen)
        manifest = self._parse(manifest_bytes, chosen)
        if not isinstance(manifest, Manifest):
            raise _invalid(self.description, f"{chosen.digest}: an index inside an index is not supported")
        return Resolved(self.entry, target_bytes, chosen, manifest_bytes, manifest)

    def fetch_blob(self, desc: Descriptor, dest: str, progress: Progress) -> None:
        span = self.members.lookup(f"blobs/sha256/{media.digest_hex(desc.digest)}")
        if span is None:
            raise _invalid(self.description, f"the archive has no blob {desc.digest}")
        _copy(span, desc, dest, progress)

    def close(self) -> None:
        pass


def _oci_images(members: _Members, description: str) -> list[ArchiveImage]:
    layout = _json(_read_document(members, "oci-layout", "oci-layout"), description, "oci-layout")
    if not isinstance(layout, dict) or not isinstance(layout.get("imageLayoutVersion"), str):
        raise _invalid(description, 'oci-layout: expected {"imageLayoutVersion": "1.0.0"}')
    doc = _json(_read_document(members, "index.json", "index.json"), description, "index.json")
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
        raise _invalid(description, "index.json: expected an object with a manifests list")
    # The same image listed under several names (one entry per name) is one image with several names.
    entries: dict[str, tuple[Descriptor, list[str]]] = {}
    for i, item in enumerate(doc["manifests"]):
        try:
            entry = media.descriptor_of(item, f"index.json manifests[{i}]")
        except ImageError as e:
            raise _invalid(description, str(e)) from None
        if entry.media_type not in media.MANIFEST_TYPES + media.INDEX_TYPES:
            continue  # an artifact (a signature, an attestation): not an image
        annotations = dict(entry.annotations)
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME)
        names = entries.setdefault(entry.digest, (entry, []))[1]
        if name:
            names.append(_normalise(name, description))
    images = []
    for entry, names in entries.values():
        label = f"{description}:{names[0]}" if names else f"{description}@{entry.digest}"
        images.append(ArchiveImage(_OciSource(members, entry, label), _unique(names)))
    return images


# -- docker-archive ---------------------------------------------------------------------------------


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _sniff(head: bytes) -> str:
    """The compression a blob's first bytes show: "", "gzip" or "zstd"."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return ""


def _decompressor(compression: str, raw: Any) -> _Readable:
    """`raw` is any object with read(n): a file, or _Limited (gzip's and zstandard's stubs want real files)."""
    if compression == "gzip":
        gz: _Readable = gzip.GzipFile(fileobj=raw, mode="rb")
        return gz
    if compression == "zstd":
        reader: _Readable = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return reader
    plain: _Readable = raw
    return plain


class _HashingReader:
    """A file object that hashes what is read through it (the uncompressed bytes: a layer's diff_id)."""

    def __init__(self, inner: _Readable) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> str:
        while self.read(CHUNK):
            pass
        return "sha256:" + self.hash.hexdigest()


def _layer_digests(span: _Span, where: str) -> tuple[str, str, str]:
    """(compression, blob digest, diff_id) of a layer member, read once for the blob digest and
    once more, decompressed, for the diff_id when it is compressed."""
    blob = hashlib.sha256()
    head = b""
    for chunk in _read_span(span):
        if len(head) < 4:
            head += chunk[:4]
        blob.update(chunk)
    compression = _sniff(head)
    digest = "sha256:" + blob.hexdigest()
    if not compression:
        return compression, digest, digest
    with _open_span(span) as f:
        limited = _Limited(f, span.size)
        try:
            diff_id = _HashingReader(_decompressor(compression, limited)).drain()
        except PullError:
            raise
        except Exception as e:  # gzip's OSError/EOFError, zstandard.ZstdError (not an OSError)
            raise _invalid(where, f"a {compression} layer that does not decompress ({e})") from None
    return compression, digest, diff_id


class _Limited:
    """At most `size` bytes of a file object (a member's bytes, not those of the members after it)."""

    def __init__(self, inner: IO[bytes], size: int) -> None:
        self.inner = inner
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            n = self.left
        data = self.inner.read(n)
        self.left -= len(data)
        return data

    def readable(self) -> bool:
        return True


class _DockerSource:
    """One entry of a docker-archive's manifest.json, served as an OCI manifest written here."""

    def __init__(self, members: _TarMembers, config: str, layers: tuple[str, ...], description: str) -> None:
        self.members = members
        self.config_name = config
        self.layer_names = layers
        self.description = description
        self._lock = threading.Lock()
        self._resolved: Resolved | None = None
        self._spans: dict[str, _Span] = {}  # digest -> member, for fetch_blob
        self._memory: dict[str, bytes] = {}  # digest -> bytes (the written manifest, the config)

    def _span(self, name: str) -> _Span:
        span = self.members.lookup(_member_name(name, self.description))
        if span is None:
            raise _invalid(self.description, f"manifest.json names {name!r}, which the archive does not hold")
        return span

    def resolve(self, platform: Platform) -> Resolved:
        # The platform is the config's: a docker-archive holds one platform per image, and the store
        # (like docker load) takes it as it is.
        with self._lock:
            if self._resolved is None:
                self._resolved = self._build()
            return self._resolved

    def _build(self) -> Resolved:
        config = _read_document(self.members, _member_name(self.config_name, self.description), "config")
        try:
            parsed_config = media.parse_config(config)
        except ImageError as e:
            raise _invalid(self.description, f"{self.config_name}: {e}") from None
        if len(parsed_config.diff_ids) != len(self.layer_names):
            raise _invalid(self.description, f"the config lists {len(parsed_config.diff_ids)} layers, "
                           f"manifest.json {len(self.layer_names)}")
        config_desc = Descriptor(media.OCI_CONFIG, media.sha256_digest(config), len(config))
        self._memory[config_desc.digest] = config
        layers = []
        for name, diff_id in zip(self.layer_names, parsed_config.diff_ids):
            span = self._span(name)
            compression, digest, got = _layer_digests(span, f"{self.description}: {name}")
            # docker load checks the same: a layer is what the config says it is, or it is refused.
            if got != diff_id:
                raise PullError("corrupt", f"{self.description}: layer {name} has the content {got}, "
                                f"its config says {diff_id}")
            layers.append(Descriptor(LAYER_TYPE[compression], digest, span.size))
            self._spans[digest] = span
        manifest = {"schemaVersion": 2, "mediaType": media.OCI_MANIFEST, "config": config_desc.to_json(),
                    "layers": [d.to_json() for d in layers]}
        data = json.dumps(manifest, separators=(",", ":")).encode()
        desc = Descriptor(media.OCI_MANIFEST, media.sha256_digest(data), len(data))
        self._memory[desc.digest] = data
        return Resolved(desc, data, desc, data, Manifest(media.OCI_MANIFEST, config_desc, tuple(layers)))

    def fetch_blob(self, desc: Descriptor, dest: str, progress: Progress) -> None:
        self.resolve(media.host_platform())  # the digests are known once resolved
        if desc.digest in self._memory:
            _write_bytes(self._memory[desc.digest], desc, dest, progress)
            return
        span = self._spans.get(desc.digest)
        if span is None:
            raise _invalid(self.description, f"the archive has no blob {desc.digest}")
        _copy(span, desc, dest, progress)

    def close(self) -> None:
        pass


def _docker_images(members: _TarMembers, description: str) -> list[ArchiveImage]:
    doc = _json(_read_document(members, "manifest.json", "manifest.json"), description, "manifest.json")
    if not isinstance(doc, list) or not doc:
        raise _invalid(description, "manifest.json: expected a non-empty list of images")
    images = []
    for i, item in enumerate(doc):
        where = f"manifest.json[{i}]"
        if not isinstance(item, dict):
            raise _invalid(description, f"{where}: expected an object")
        config, layers, tags = item.get("Config"), item.get("Layers"), item.get("RepoTags") or []
        if not isinstance(config, str) or not config:
            raise _invalid(description, f"{where}.Config: expected a member name")
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            raise _invalid(description, f"{where}.Layers: expected a list of member names")
        if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
            raise _invalid(description, f"{where}.RepoTags: expected a list of names")
        for name in [config, *layers]:
            _member_name(name, description)  # refuse a name leading out before anything is read
        names = _unique([_normalise(t, description) for t in tags])
        label = f"{description}:{tags[0]}" if tags else f"{description}:{config}"
        images.append(ArchiveImage(_DockerSource(members, config, tuple(layers), label), names))
    return images


# -- plain root filesystem tarballs -----------------------------------------------------------------


class _RootfsSource:
    """A root filesystem tarball as a one-layer image (docker import)."""

    def __init__(self, path: str, layer: Descriptor, config: bytes, description: str) -> None:
        self.path = path
        self.layer = layer
        self.config = config
        self.description = description
        self.config_desc = Descriptor(media.OCI_CONFIG, media.sha256_digest(config), len(config))
        manifest = {"schemaVersion": 2, "mediaType": media.OCI_MANIFEST, "config": self.config_desc.to_json(),
                    "layers": [layer.to_json()]}
        self.manifest = json.dumps(manifest, separators=(",", ":")).encode()
        self.manifest_desc = Descriptor(media.OCI_MANIFEST, media.sha256_digest(self.manifest), len(self.manifest))

    def resolve(self, platform: Platform) -> Resolved:
        parsed = Manifest(media.OCI_MANIFEST, self.config_desc, (self.layer,))
        return Resolved(self.manifest_desc, self.manifest, self.manifest_desc, self.manifest, parsed)

    def fetch_blob(self, desc: Descriptor, dest: str, progress: Progress) -> None:
        if desc.digest == self.layer.digest:
            _copy(_Span(self.path, 0, self.layer.size), desc, dest, progress)
        elif desc.digest == self.config_desc.digest:
            _write_bytes(self.config, desc, dest, progress)
        elif desc.digest == self.manifest_desc.digest:
            _write_bytes(self.manifest, desc, dest, progress)
        else:
            raise _invalid(self.description, f"the archive has no blob {desc.digest}")

    def close(self) -> None:
        pass


def _rootfs_image(path: str, compression: str, diff_id: str | None, name: str | None, changes: Sequence[str],
                  description: str) -> ArchiveImage:
    """`diff_id` is None for an uncompressed tarball: the blob is the tar, its digest the diff_id."""
    if name is None:
        raise PullError("invalid", "a plain root filesystem tarball needs a name: pyrunc image import FILE NAME")
    blob = hashlib.sha256()
    size = 0
    for chunk in _read_span(_Span(path, 0, os.path.getsize(path))):
        blob.update(chunk)
        size += len(chunk)
    layer = Descriptor(LAYER_TYPE[compression], "sha256:" + blob.hexdigest(), size)
    diff_id = diff_id or layer.digest
    platform = media.host_platform()
    config: dict[str, Any] = {"architecture": platform.architecture, "os": platform.os, "created": EPOCH,
                              "config": parse_changes(changes),
                              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                              "history": [{"created": EPOCH, "created_by": "pyrunc image import"}]}
    if platform.variant:
        config["variant"] = platform.variant
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return ArchiveImage(_RootfsSource(path, layer, data, description), ())


def _scan_stream(path: str, compression: str, description: str) -> tuple[set[str], str]:
    """One pass over a compressed tar: the top-level member names (to tell a rootfs from an image
    archive) and the sha256 of the uncompressed tar (the layer's diff_id). Member names are checked
    as the random-access reader checks them."""
    top: set[str] = set()
    with open(path, "rb") as raw:
        reader = _HashingReader(_decompressor(compression, raw))
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for count, m in enumerate(tar, 1):
                    if count > MAX_MEMBERS:
                        raise _invalid(description, f"more than {MAX_MEMBERS} members")
                    name = _member_name(m.name, description)
                    if name and "/" not in name:
                        top.add(name)
            diff_id = reader.drain()
        except tarfile.TarError as e:
            raise _invalid(description, f"a {compression} file that is not a tar archive ({e})") from None
        except PullError:
            raise
        except Exception as e:  # gzip's BadGzipFile/EOFError, zstandard.ZstdError
            raise _invalid(description, f"a {compression} file that does not decompress ({e})") from None
    return top, diff_id


# -- changes (docker import --change) ---------------------------------------------------------------


def _exec_or_shell(value: str) -> list[str]:
    """Dockerfile's two forms: a JSON list of strings (exec form), else a shell command run by /bin/sh -c."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None  # not JSON: Dockerfile then takes the text as a shell command
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return parsed
    return ["/bin/sh", "-c", value]


def _pairs(instruction: str, value: str, legacy: bool) -> list[tuple[str, str]]:
    """`K=V K2="V 2"` pairs, or (for ENV and LABEL) the older `K V` form: the rest of the line is the value."""
    try:
        words = shlex.split(value)
    except ValueError as e:
        raise PullError("invalid", f"--change {instruction} {value}: {e}") from None
    if not words:
        raise PullError("invalid", f"--change {instruction}: needs at least one argument")
    if "=" not in words[0] and legacy:
        key, _, rest = value.strip().partition(" ")
        if not rest.strip():
            raise PullError("invalid", f"--change {instruction} {value}: needs a value ({instruction} KEY=VALUE)")
        return [(key, rest.strip())]
    pairs = []
    for word in words:
        key, eq, val = word.partition("=")
        if not eq or not key:
            raise PullError("invalid", f"--change {instruction} {value}: {word!r} is not KEY=VALUE")
        pairs.append((key, val))
    return pairs


def _list_or_words(value: str) -> list[str]:
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return parsed
    return value.split()


def parse_changes(changes: Sequence[str]) -> dict[str, Any]:
    """The `config` object of an image config from Dockerfile instructions, as `docker import --change`
    applies them in order. Variables ($X) are not expanded (docker import expands only those set by
    earlier ENV changes; nothing relies on it for a root filesystem import)."""
    conf: dict[str, Any] = {}
    env: list[str] = []
    labels: dict[str, str] = {}
    for change in changes:
        instruction, _, value = change.strip().partition(" ")
        key, value = instruction.upper(), value.strip()
        if key in ("CMD", "ENTRYPOINT"):
            if not value:
                raise PullError("invalid", f"--change {key}: needs a command")
            conf["Cmd" if key == "CMD" else "Entrypoint"] = _exec_or_shell(value)
        elif key == "ENV":
            for k, v in _pairs(key, value, legacy=True):
                env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
        elif key == "LABEL":
            labels.update(_pairs(key, value, legacy=True))
        elif key == "WORKDIR":
            if not value:
                raise PullError("invalid", "--change WORKDIR: needs a directory")
            # A relative WORKDIR continues from the previous one, as in a Dockerfile.
            conf["WorkingDir"] = posixpath.join(conf.get("WorkingDir") or "/", value)
        elif key in ("USER", "STOPSIGNAL"):
            if not value or len(value.split()) != 1:
                raise PullError("invalid", f"--change {key} {value}: takes exactly one argument")
            conf["User" if key == "USER" else "StopSignal"] = value
        elif key == "EXPOSE":
            ports = conf.setdefault("ExposedPorts", {})
            for port in value.split():
                number, _, proto = port.partition("/")
                if not number.replace("-", "").isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                    raise PullError("invalid", f"--change EXPOSE {value}: {port!r} is not PORT[/PROTOCOL]")
                ports[f"{number}/{proto or 'tcp'}"] = {}
        elif key == "VOLUME":
            volumes = conf.setdefault("Volumes", {})
            for path in _list_or_words(value):
                volumes[path] = {}
        else:
            raise PullError("invalid", f"--change {instruction}: not an instruction an import can apply "
                            "(CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)")
    if env:
        conf["Env"] = env
    if labels:
        conf["Labels"] = labels
    return conf


# -- open_archive -----------------------------------------------------------------------------------


def _magic(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(6)


def open_archive(path: str, name: str | None = None, changes: Sequence[str] = ()) -> list[ArchiveImage]:
    """The images of the archive or layout at `path`, each as an ImageSource (see the module doc).

    `name` names the image of an archive holding exactly one (the store adds it to the archive's own
    names); a root filesystem tarball must be given one. `changes` apply to a root filesystem tarball only.
    """
    if name is not None:
        parse_ref(name)  # InvalidImageName before anything is read
    try:
        st = os.stat(path)
    except OSError as e:
        raise PullError("not_found", f"{path}: {e.strerror}") from None
    try:
        if stat.S_ISDIR(st.st_mode):
            kind, images = "OCI layout", _oci_images(_DirMembers(path, f"oci:{path}"), f"oci:{path}")
        elif not stat.S_ISREG(st.st_mode):
            raise PullError("invalid", f"{path}: not a file or a directory")
        else:
            kind, images = _open_file(path, name, changes)
    except OSError as e:
        raise PullError("invalid", f"{path}: cannot read it: {e.strerror or e}") from None
    if changes and kind != "tarball":
        raise PullError("invalid", f"{path}: changes apply only to a plain root filesystem tarball, "
                        f"not to a {kind} archive (its images have their own config)")
    if not images:
        raise _invalid(path, "the archive holds no image")
    if name is not None and len(images) > 1:
        raise PullError("invalid", f"{path}: the archive holds {len(images)} images; a name can only be "
                        "given to an archive holding one (import it without a name)")
    return images


def _open_file(path: str, name: str | None, changes: Sequence[str]) -> tuple[str, list[ArchiveImage]]:
    # Members are read by opening the archive again without following a symbolic link (so that a
    # layout's blob cannot be one): the archive itself may well be one, so its real path is used.
    real = os.path.realpath(path)
    head = _magic(real)
    for magic, what in OTHER_MAGIC.items():
        if head.startswith(magic):
            raise PullError("invalid", f"{path}: {what}-compressed; only plain, gzip and zstd tar files can be "
                            "imported (decompress it first)")
    compression = _sniff(head)
    if compression:
        top, diff_id = _scan_stream(real, compression, f"tarball:{path}")
        if "manifest.json" in top or {"oci-layout", "index.json"} <= top:
            tool = "gunzip" if compression == "gzip" else "zstd -d"
            raise PullError("invalid", f"{path}: a {compression}-compressed image archive; decompress it first "
                            f"({tool} {path}) and import the tar (image archives are read in place, which "
                            "needs an uncompressed tar)")
        return "tarball", [_rootfs_image(real, compression, diff_id, name, changes, f"tarball:{path}")]
    members = _TarMembers(real, path)
    top = {n for n in members.names() if "/" not in n}
    if {"oci-layout", "index.json"} <= top:
        members.where = f"oci-archive:{path}"
        return "OCI", _oci_images(members, f"oci-archive:{path}")
    if "manifest.json" in top:
        members.where = f"docker-archive:{path}"
        return "docker", _docker_images(members, f"docker-archive:{path}")
    if "repositories" in top:
        raise PullError("invalid", f"{path}: a docker archive without manifest.json (docker before 1.10): "
                        "save it again with a current docker")
    return "tarball", [_rootfs_image(real, "", None, name, changes, f"tarball:{path}")]
