"""The node's image store: an OCI image layout, each layer unpacked once and shared by every container.

    <images_dir>/                      (/var/lib/pyrunc/images; shared by every state root)
      oci-layout, index.json           the OCI image layout: one index entry per image name
      blobs/sha256/<hex>               manifests, indexes, configs and compressed layers, verified
      layers/<diff_id hex[:20]>/diff/  a layer unpacked (overlayfs lower directory), read-only to containers
      layers/<...>/diff_id             the layer's full uncompressed digest (checked on use)
      ingest/<hex>.partial             an interrupted download, resumed by the next pull
      tmp/<pid>-<n>/                   layers being unpacked (removed when their process is gone)
      leases/<container id>.json       a container using an image: it cannot be removed
      used/<config hex>                its mtime: when the image was last pulled or used (GC order)
      locks/                           flock(2) files

Concurrency, across processes (two daemons of different roots, `pyrunc image pull` beside a pod):
  - each blob and each layer is written under its own lock, and only ever appears under its final
    name whole and verified (rename), so concurrent pulls of one image download each blob once;
  - an ingest holds `locks/gc` shared from start to finish; removing unreferenced content holds it
    exclusively, so content of a pull in progress is never swept;
  - `locks/index` serialises index.json updates, lease creation and the in-use check of `rm`.

The store is the mechanism (CRI's ImageService). Pull policy, events and back-off are the pod
worker's (worker/images.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyrunc.errors import ImageError
from pyrunc.images.media import (
    INDEX_TYPES, OCI_INDEX, Descriptor, ImageConfig, Manifest, Platform, check_digest, descriptor_of,
    host_platform, parse_config, parse_manifest, sha256_digest,
)
from pyrunc.images.reference import ImageRef, InvalidImageName, parse_ref
from pyrunc.images.source import ImageSource, NoProgress, Progress, PullError

if TYPE_CHECKING:  # the unpacker (tarfile, gzip) is imported only when a layer is unpacked
    from pyrunc.images.unpack import UnpackLimits

__all__ = ["Image", "ImageRef", "ImageStore", "InvalidImageName", "NotPresent", "StoredImage", "parse_ref"]

REF_NAME = "org.opencontainers.image.ref.name"
MANIFEST_ANNOTATION = "io.pyrunc.image.manifest"  # the platform's manifest when the name points to an index
# Room for lowerdir in the one page of overlay options, leaving ~600 bytes for upperdir and workdir.
OVERLAY_LOWER_MAX = 3500
SHORT = 20  # hex digits of a layer directory's name: short enough for ~70 layers in one overlay mount
# An interrupted download older than this is not worth resuming (containerd expires ingests after a day).
INGEST_EXPIRY = 24 * 3600.0


class NotPresent(ImageError):
    """The image is not in the store."""


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image of the store: its names, what they point to, and the decoded config."""

    id: str  # the config's digest, as docker and containerd name an image
    names: tuple[str, ...]
    target: Descriptor  # what the names point to (an index or a manifest)
    manifest: Descriptor  # the platform's manifest
    layers: tuple[Descriptor, ...]  # compressed layer blobs, bottom first
    config: ImageConfig
    size: int  # bytes of its content (manifest, config and layer blobs), as containerd reports it

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return self.config.diff_ids

    def repo_digests(self) -> tuple[str, ...]:
        """name@digest of every name, as the kubelet's imageID shows it."""
        seen: list[str] = []
        for n in self.names:
            ref = parse_ref(n)
            d = f"{ref.name}@{self.target.digest}"
            if d not in seen:
                seen.append(d)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Image:
    """What a container is made from: the lower directories (top first) and the config."""

    ref: ImageRef
    layers: tuple[str, ...]  # overlayfs lower directories, topmost first
    image_id: str
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    repo_digest: str = ""


@dataclass(frozen=True, slots=True)
class PruneResult:
    removed: tuple[str, ...]  # image ids
    reclaimed: int  # bytes


_seq = itertools.count()


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = root

    # ------------------------------------------------------------------ paths and locks
    def blob_path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", check_digest(digest, "digest").split(":", 1)[1])

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", check_digest(diff_id, "diff_id").split(":", 1)[1][:SHORT])

    def layer_present(self, diff_id: str) -> bool:
        try:
            with open(os.path.join(self.layer_dir(diff_id), "diff_id"), encoding="ascii") as f:
                return f.read().strip() == diff_id
        except OSError:
            return False

    def _ensure_dirs(self) -> None:
        # Root's alone, as containerd's and docker's stores: unpacked layers hold the images' setuid
        # binaries and devices, and blobs may hold what an image's author meant to keep private; a
        # local user who could reach them could run an image's setuid-root binary on the host.
        # Containers never need these paths: overlayfs reads its lower directories with the
        # credentials of whoever mounted it (root).
        os.makedirs(self.root, 0o700, exist_ok=True)
        if os.stat(self.root).st_mode & 0o077:
            os.chmod(self.root, 0o700)
        for d in ("blobs/sha256", "layers", "ingest", "tmp", "leases", "used", "locks"):
            os.makedirs(os.path.join(self.root, d), 0o700, exist_ok=True)
        layout = os.path.join(self.root, "oci-layout")
        if not os.path.exists(layout):
            self._write_file(layout, b'{"imageLayoutVersion":"1.0.0"}')

    @contextlib.contextmanager
    def _lock(self, name: str, shared: bool = False) -> Iterator[None]:
        self._ensure_dirs()
        fd = os.open(os.path.join(self.root, "locks", name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        tmp = f"{path}.tmp.{os.getpid()}.{next(_seq)}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    # ------------------------------------------------------------------ the index
    def _read_index(self) -> list[dict[str, object]]:
        try:
            with open(os.path.join(self.root, "index.json"), "rb") as f:
                doc = json.loads(f.read())
        except FileNotFoundError:
            return []
        except ValueError as e:
            raise ImageError(f"{self.root}/index.json: broken: {e}") from None
        entries = doc.get("manifests") if isinstance(doc, dict) else None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def _write_index(self, entries: list[dict[str, object]]) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        self._write_file(os.path.join(self.root, "index.json"), json.dumps(doc, indent=1, sort_keys=True).encode())

    def _read_blob(self, digest: str) -> bytes:
        try:
            with open(self.blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ImageError(f"the image store lacks blob {digest} (run `pyrunc image pull` again)") from None

    def _load(self, target: Descriptor, manifest_digest: str, names: Sequence[str]) -> StoredImage:
        if target.media_type in INDEX_TYPES:
            mdata = self._read_blob(manifest_digest)
            manifest_desc = Descriptor(json.loads(mdata).get("mediaType", ""), manifest_digest, len(mdata))
        else:
            mdata = self._read_blob(target.digest)
            manifest_desc = target
        m = parse_manifest(mdata, manifest_desc.media_type)
        if not isinstance(m, Manifest):
            raise ImageError(f"{manifest_digest}: expected a manifest, found an index")
        config = parse_config(self._read_blob(m.config.digest))
        size = len(mdata) + m.config.size + sum(d.size for d in m.layers)
        return StoredImage(m.config.digest, tuple(names), target, manifest_desc, m.layers, config, size)

    def images(self) -> list[StoredImage]:
        """Every image, once per id, with all its names (the order of index.json)."""
        by_target: dict[tuple[str, str], list[str]] = {}
        targets: dict[tuple[str, str], Descriptor] = {}
        for i, e in enumerate(self._read_index()):
            try:
                desc = descriptor_of(e, f"index.json manifests[{i}]")
            except ImageError:
                continue
            ann = dict(desc.annotations)
            key = (desc.digest, ann.get(MANIFEST_ANNOTATION, ""))
            targets[key] = desc
            by_target.setdefault(key, []).append(ann.get(REF_NAME, ""))
        out: dict[str, StoredImage] = {}
        for key, names in by_target.items():
            try:
                img = self._load(targets[key], key[1], [n for n in names if n])
            except ImageError:
                continue  # a half-removed or damaged entry: `prune` clears it
            prev = out.get(img.id)
            out[img.id] = img if prev is None else StoredImage(
                prev.id, prev.names + img.names, prev.target, prev.manifest, prev.layers, prev.config, prev.size)
        return list(out.values())

    def find(self, text: str) -> StoredImage | None:
        """By name (`busybox`, `localhost:5000/a:v1`, `name@sha256:...`), by id (`sha256:<hex>`) or a
        unique prefix of the id's hex (at least 4 digits), as docker and crictl accept them."""
        images = self.images()
        hexpart = text[7:] if text.startswith("sha256:") else text
        if 4 <= len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
            hits = [i for i in images if i.id[7:].startswith(hexpart)]
            if len(hits) == 1:
                return hits[0]
            if text.startswith("sha256:") or len(hits) > 1:
                return None
        ref = parse_ref(text)
        wanted = str(ref)
        for img in images:
            if wanted in img.names:
                return img
        if ref.digest:  # name@digest of an image pulled by tag: the repository and the digest match
            for img in images:
                if ref.digest in (img.target.digest, img.manifest.digest) and any(
                        parse_ref(n).name == ref.name for n in img.names):
                    return img
        return None

    def runnable(self, text: str) -> Image:
        """The image a container named `text` runs: NotPresent when it is not in the store."""
        ref = parse_ref(text)
        img = self.find(text)
        if img is None:
            raise NotPresent(f'image "{text}" is not present on this node',
                             hint=f"pull it: pyrunc image pull {text}")
        dirs = []
        for diff_id in reversed(img.diff_ids):  # overlayfs wants the topmost layer first
            if not self.layer_present(diff_id):
                raise NotPresent(f'image "{text}": layer {diff_id} is missing from the store',
                                 hint=f"pull it again: pyrunc image pull {text}")
            dirs.append(os.path.join(self.layer_dir(diff_id), "diff"))
        # mount(2) takes the overlay's options in one page: lowerdir, upperdir and workdir together.
        if len(":".join(dirs)) > OVERLAY_LOWER_MAX:
            raise ImageError(f'image "{text}" has {len(dirs)} layers: too many for one overlay mount here '
                             f"(the store's path {self.root} is long; at most about "
                             f"{OVERLAY_LOWER_MAX // (len(dirs[0]) + 1)} layers fit)")
        c = img.config
        return Image(ref=ref, layers=tuple(dirs), image_id=img.id, env=c.env, entrypoint=c.entrypoint, cmd=c.cmd,
                     working_dir=c.working_dir, user=c.user, stop_signal=c.stop_signal, labels=dict(c.labels),
                     repo_digest=(img.repo_digests() or ("",))[0])

    # ------------------------------------------------------------------ ingest (pull and import)
    def ingest(self, source: ImageSource, names: Sequence[str], platform: Platform | None = None,
               progress: Progress | None = None, workers: int = 4,
               limits: UnpackLimits | None = None) -> StoredImage:
        """Bring the image `source` resolves to into the store under `names`: missing blobs fetched
        (concurrently, verified), missing layers unpacked, then the names written to index.json.

        Raises PullError (from the source or the unpacker) with nothing half-made left under a final
        name: what an interruption leaves (ingest/, tmp/) is resumed or swept later."""
        from pyrunc.images.unpack import UnpackLimits, unpack_layer  # the unpacker only when ingesting

        platform = platform or host_platform()
        progress = progress or NoProgress()
        self._ensure_dirs()
        with self._lock("gc", shared=True):
            resolved = source.resolve(platform)
            for desc, data in ((resolved.target, resolved.target_bytes), (resolved.manifest, resolved.manifest_bytes)):
                if sha256_digest(data) != desc.digest:
                    raise PullError("corrupt", f"{source.description}: document {desc.digest} does not match its digest")
                self._put_document(desc.digest, data)
            m = resolved.parsed
            self._fetch(source, m.config, progress)
            config = parse_config(self._read_blob(m.config.digest))
            if len(config.diff_ids) != len(m.layers):
                raise PullError("invalid", f"{source.description}: the config lists {len(config.diff_ids)} layers, "
                                f"the manifest {len(m.layers)}")
            if config.architecture and (config.os, config.architecture) != (platform.os, platform.architecture):
                raise PullError("invalid", f"{source.description}: the image is for {config.os}/{config.architecture}, "
                                f"this node is {platform}")
            unpack_limits = limits or UnpackLimits()

            def one_layer(i: int) -> None:
                desc, diff_id = m.layers[i], config.diff_ids[i]
                if self.layer_present(diff_id):
                    return  # shared with an image already here: no I/O at all
                with self._lock(f"layer-{diff_id[7:7 + SHORT]}"):
                    if self.layer_present(diff_id):
                        return
                    self._fetch(source, desc, progress)
                    staging = self._staging()
                    try:
                        unpack_layer(self.blob_path(desc.digest), desc.media_type, os.path.join(staging, "diff"),
                                     unpack_limits, expected_diff_id=diff_id)
                        self._write_file(os.path.join(staging, "diff_id"), diff_id.encode())
                        final = self.layer_dir(diff_id)
                        shutil.rmtree(final, ignore_errors=True)  # a damaged leftover under the short name
                        os.rename(staging, final)
                    finally:
                        shutil.rmtree(staging, ignore_errors=True)

            pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(m.layers))))
            try:
                for f in [pool.submit(one_layer, i) for i in range(len(m.layers))]:
                    f.result()
            except BaseException as e:
                # No layer is started after a failure. A failed layer waits for those in flight (they
                # clean up after themselves); Ctrl-C does not: a transfer cannot be interrupted in its
                # thread, and waiting would hold the user until it ends (`pyrunc image pull` then
                # leaves at once; what the threads leave is resumed or swept, as after a SIGKILL).
                pool.shutdown(wait=not isinstance(e, KeyboardInterrupt), cancel_futures=True)
                raise
            pool.shutdown()
            manifest_digest = resolved.manifest.digest if resolved.target.media_type in INDEX_TYPES else ""
            with self._lock("index"):
                old_entries = self._read_index()
                names = [str(parse_ref(n)) for n in names]
                entries = [e for e in old_entries if _annotation(e, REF_NAME) not in names]
                for n in names:
                    entries.append(_entry(resolved.target, n, manifest_digest))
                # An image of an archive without names (`docker save` of an untagged image) is kept
                # under one entry without a name (`<none>`, as docker lists it; plain `prune` removes
                # it) while it has no name; a name given later replaces that entry.
                this = (resolved.target.digest, manifest_digest)
                named = any(_entry_key(e) == this and _annotation(e, REF_NAME) for e in entries)
                entries = [e for e in entries if _entry_key(e) != this or _annotation(e, REF_NAME)]
                if not named:
                    entries.append(_entry(resolved.target, "", manifest_digest))
                if sorted(map(_canonical, entries)) != sorted(map(_canonical, old_entries)):
                    self._write_index(entries)  # a pull of what is already there writes nothing
            self.touch(m.config.digest)
            return self._load(resolved.target, manifest_digest, names)

    def _put_document(self, digest: str, data: bytes) -> None:
        path = self.blob_path(digest)
        if not os.path.exists(path):
            self._write_file(path, data)

    def _fetch(self, source: ImageSource, desc: Descriptor, progress: Progress) -> None:
        """The blob into blobs/, once: under its lock, resumed from ingest/ when a part is there."""
        path = self.blob_path(desc.digest)
        if os.path.exists(path):
            return
        with self._lock(f"blob-{desc.hex[:SHORT]}"):
            if os.path.exists(path):
                return
            partial = os.path.join(self.root, "ingest", desc.hex + ".partial")
            source.fetch_blob(desc, partial, progress)
            os.chmod(partial, 0o644)
            os.rename(partial, path)

    def _staging(self) -> str:
        d = os.path.join(self.root, "tmp", f"{os.getpid()}-{next(_seq)}-{time.monotonic_ns()}")
        os.makedirs(d, 0o700)
        return d

    # ------------------------------------------------------------------ in use: leases
    def lease(self, container_id: str, text: str, owner: str) -> Image:
        """Record that the container `container_id` (whose directory is `owner`) uses image `text`;
        returns the image. While the lease holds (and `owner` exists), `rm` refuses the image and its
        layers stay. Under the index lock, so an `rm` cannot slip between the lookup and the lease."""
        with self._lock("index"):
            image = self.runnable(text)
            lease = {"image": image.image_id, "layers": list(image.layers), "owner": owner, "name": text}
            self._write_file(os.path.join(self.root, "leases", f"{_safe_id(container_id)}.json"),
                             json.dumps(lease).encode(), 0o600)
        self.touch(image.image_id)
        return image

    def release(self, container_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.root, "leases", f"{_safe_id(container_id)}.json"))

    def release_under(self, prefix: str) -> None:
        """Every lease whose owner is `prefix` or below it (a pod's directory, when the pod goes)."""
        d = os.path.join(self.root, "leases")
        prefix = prefix.rstrip("/") + "/"
        for n in _listdir(d):
            path = os.path.join(d, n)
            try:
                with open(path, encoding="utf-8") as f:
                    owner = str(json.load(f)["owner"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if (owner.rstrip("/") + "/").startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def leases(self) -> dict[str, list[str]]:
        """image id -> owners of live leases; a lease whose owner directory is gone is removed (a
        container of a crashed supervisor, or of a state root lost with a reboot)."""
        out: dict[str, list[str]] = {}
        d = os.path.join(self.root, "leases")
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return out
        for n in names:
            path = os.path.join(d, n)
            try:
                with open(path, encoding="utf-8") as f:
                    lease = json.load(f)
                owner, image = str(lease["owner"]), str(lease["image"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not os.path.isdir(owner):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            out.setdefault(image, []).append(owner)
        return out

    def touch(self, image_id: str) -> None:
        path = os.path.join(self.root, "used", image_id.split(":", 1)[1])
        with contextlib.suppress(OSError):
            with open(path, "a"):
                pass
            os.utime(path)

    def last_used(self, image_id: str) -> float:
        try:
            return os.stat(os.path.join(self.root, "used", image_id.split(":", 1)[1])).st_mtime
        except OSError:
            return 0.0

    # ------------------------------------------------------------------ removal
    def remove(self, text: str) -> tuple[list[str], list[str]]:
        """`pyrunc image rm`: untag the name (or every name, for an id); the image's content goes when
        no name is left. Refused while a container uses it. Returns (untagged names, deleted ids)."""
        with self._lock("index"):
            img = self.find(text)
            if img is None:
                raise NotPresent(f'image "{text}" not found')
            users = self.leases().get(img.id)
            if users:
                raise ImageError(f'image "{text}" ({img.id[7:19]}) is in use by {len(users)} container(s), '
                                 f"for one {_owner_text(users[0])}", hint="delete the pods that use it first")
            by_id = not _is_name(text, img)
            untag = list(img.names) if by_id else [str(parse_ref(text))]
            this = (img.target.digest, img.manifest.digest if img.target.media_type in INDEX_TYPES else "")
            # By id, the image's entry without a name goes too (an image imported without one).
            entries = [e for e in self._read_index()
                       if _annotation(e, REF_NAME) not in untag and not (by_id and _entry_key(e) == this)]
            self._write_index(entries)
        deleted = [] if set(img.names) - set(untag) else [img.id]
        if deleted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, "used", img.id[7:]))
            self.sweep()
        return untag, deleted

    def prune(self, all_unused: bool = True, min_age: float = 0.0, now: float | None = None) -> PruneResult:
        """Remove every image no container uses (`all_unused`; otherwise only images without a name),
        not used for `min_age` seconds, then sweep unreferenced content."""
        now = time.time() if now is None else now
        removed: list[str] = []
        with self._lock("index"):
            in_use = self.leases()
            keep_targets: set[str] = set()
            entries = self._read_index()
            for img in self.images():
                if img.id in in_use or (not all_unused and img.names) or now - self.last_used(img.id) < min_age:
                    keep_targets.add(img.target.digest)
                    continue
                removed.append(img.id)
            self._write_index([e for e in entries if e.get("digest") in keep_targets])
        for image_id in removed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, "used", image_id[7:]))
        return PruneResult(tuple(removed), self.sweep())

    def sweep(self) -> int:
        """Remove content no image and no lease refers to, leftovers of dead processes in tmp/, and
        expired partial downloads; returns the bytes freed. Waits for ingests in progress."""
        freed = 0
        with self._lock("gc"):
            blobs: set[str] = set()
            layers: set[str] = set()
            for e in self._read_index():
                d = e.get("digest")
                if isinstance(d, str):
                    blobs.add(d)
                m = _annotation(e, MANIFEST_ANNOTATION)
                if m:
                    blobs.add(m)
            for img in self.images():
                blobs |= {img.target.digest, img.manifest.digest, img.id} | {d.digest for d in img.layers}
                layers |= {self.layer_dir(d) for d in img.diff_ids}
            for lease_layers in self._lease_layers():
                layers |= {os.path.dirname(p) for p in lease_layers}
            bdir = os.path.join(self.root, "blobs", "sha256")
            for n in _listdir(bdir):
                if f"sha256:{n}" not in blobs:
                    freed += _remove(os.path.join(bdir, n))
            ldir = os.path.join(self.root, "layers")
            for n in _listdir(ldir):
                if os.path.join(ldir, n) not in layers:
                    freed += _remove(os.path.join(ldir, n))
            tdir = os.path.join(self.root, "tmp")
            for n in _listdir(tdir):
                pid = n.split("-", 1)[0]
                if not (pid.isdigit() and os.path.exists(f"/proc/{pid}")):
                    freed += _remove(os.path.join(tdir, n))
            idir = os.path.join(self.root, "ingest")
            for n in _listdir(idir):
                p = os.path.join(idir, n)
                with contextlib.suppress(OSError):
                    if time.time() - os.stat(p).st_mtime > INGEST_EXPIRY or not n.endswith(".partial"):
                        freed += _remove(p)
            # Half-written files of a writer killed before its rename (`<name>.tmp.<pid>.<n>`, _write_file).
            for d in (self.root, os.path.join(self.root, "leases"), bdir):
                for n in _listdir(d):
                    _, sep, rest = n.partition(".tmp.")
                    pid = rest.split(".", 1)[0]
                    if sep and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                        freed += _remove(os.path.join(d, n))
        return freed

    def _lease_layers(self) -> list[list[str]]:
        out = []
        d = os.path.join(self.root, "leases")
        for n in _listdir(d):
            try:
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    lease = json.load(f)
                if os.path.isdir(str(lease["owner"])):
                    out.append([str(p) for p in lease["layers"]])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return out

    # ------------------------------------------------------------------ garbage collection
    def usage_percent(self) -> float:
        st = os.statvfs(self.root if os.path.isdir(self.root) else os.path.dirname(self.root))
        total = st.f_blocks * st.f_frsize
        return 100.0 * (total - st.f_bavail * st.f_frsize) / total if total else 0.0

    def collect(self, high: int, low: int, min_age: float, now: float | None = None) -> PruneResult:
        """The kubelet's image garbage collection: above `high` percent of the image filesystem used,
        remove unused images (least recently used first, none younger than `min_age`) until usage is
        below `low` percent."""
        now = time.time() if now is None else now
        if self.usage_percent() < high:
            return PruneResult((), 0)
        in_use = self.leases()
        candidates = sorted((i for i in self.images() if i.id not in in_use and now - self.last_used(i.id) >= min_age),
                            key=lambda i: self.last_used(i.id))
        removed: list[str] = []
        freed = 0
        for img in candidates:
            if self.usage_percent() < low:
                break
            try:
                for name in img.names or (img.id,):
                    self.remove(name)
            except ImageError:
                continue  # in use since we looked
            removed.append(img.id)
            freed += img.size
        return PruneResult(tuple(removed), freed)


def _canonical(entry: dict[str, object]) -> str:
    return json.dumps(entry, sort_keys=True)


def _annotation(entry: dict[str, object], key: str) -> str:
    ann = entry.get("annotations")
    value = ann.get(key) if isinstance(ann, dict) else None
    return value if isinstance(value, str) else ""


def _entry(target: Descriptor, name: str, manifest_digest: str) -> dict[str, object]:
    """An index.json entry: the target's descriptor, its name, the platform's manifest of an index."""
    ann = {REF_NAME: name} if name else {}
    if manifest_digest:
        ann[MANIFEST_ANNOTATION] = manifest_digest
    return {**target.to_json(), "annotations": ann}


def _entry_key(entry: dict[str, object]) -> tuple[str, str]:
    """What an index.json entry points to: (its digest, the platform's manifest when it is an index)."""
    digest = entry.get("digest")
    return (digest if isinstance(digest, str) else "", _annotation(entry, MANIFEST_ANNOTATION))


def _is_name(text: str, img: StoredImage) -> bool:
    try:
        return str(parse_ref(text)) in img.names
    except InvalidImageName:
        return False


def _owner_text(owner: str) -> str:
    """A container directory (<root>/pods/<ns>_<name>/containers/<c>) as `pod ns/name container c`."""
    parts = owner.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "containers":
        ns, _, name = parts[-3].partition("_")
        return f"container {parts[-1]} of pod {ns}/{name}"
    return owner


def _safe_id(container_id: str) -> str:
    if not container_id or not all(c.isalnum() or c in "-_" for c in container_id):
        raise ValueError(f"bad container id {container_id!r}")
    return container_id


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _remove(path: str) -> int:
    size = 0
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _dirs, files in os.walk(path):
            for f in files:
                with contextlib.suppress(OSError):
                    size += os.lstat(os.path.join(dirpath, f)).st_size
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            size = os.lstat(path).st_size
            os.unlink(path)
    return size
