"""Build OCI images for tests, byte for byte, in Python: layers from entry lists, an OCI layout on disk.

The layouts written here are what `skopeo copy oci:DIR docker://...` pushes to the test registry and
what `pyrunc image import` reads. Everything is deterministic (mtime 0, sorted), so a digest is
stable across runs.

    layer = Layer([File("etc/motd", b"hi\\n"), Dir("var/empty"), Symlink("bin/x", "busybox"),
                   Whiteout("etc/removed"), Opaque("var/cache")], compression="zstd")
    write_layout(path, [ImageSpec("app:v1", [busybox_layer(), layer], cmd=["sh"])])
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    xattrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str


@dataclass(frozen=True)
class Hardlink:
    path: str
    target: str  # a name of this layer, as tar records it


@dataclass(frozen=True)
class Device:
    path: str
    kind: str = "c"  # "c" or "b"
    major: int = 1
    minor: int = 3
    mode: int = 0o666


@dataclass(frozen=True)
class Whiteout:
    path: str  # the path removed from the layers below: written as <dir>/.wh.<name>


@dataclass(frozen=True)
class Opaque:
    path: str  # a directory whose lower contents are hidden: written as <dir>/.wh..wh..opq


@dataclass(frozen=True)
class Raw:
    """A tar member exactly as given (hostile names and link targets for the unpacker's tests)."""
    info: tarfile.TarInfo
    data: bytes = b""


Entry = File | Dir | Symlink | Hardlink | Device | Whiteout | Opaque | Raw


def layer_tar(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            data = b""
            if isinstance(e, Raw):
                info, data = e.info, e.data
            elif isinstance(e, File):
                info = tarfile.TarInfo(e.path)
                info.size, info.mode, info.uid, info.gid, info.mtime = len(e.data), e.mode, e.uid, e.gid, e.mtime
                if e.xattrs:
                    info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs}
                data = e.data
            elif isinstance(e, Dir):
                info = tarfile.TarInfo(e.path)
                info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, e.mode, e.uid, e.gid
            elif isinstance(e, Symlink):
                info = tarfile.TarInfo(e.path)
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.target, 0o777
            elif isinstance(e, Hardlink):
                info = tarfile.TarInfo(e.path)
                info.type, info.linkname = tarfile.LNKTYPE, e.target
            elif isinstance(e, Device):
                info = tarfile.TarInfo(e.path)
                info.type = tarfile.CHRTYPE if e.kind == "c" else tarfile.BLKTYPE
                info.devmajor, info.devminor, info.mode = e.major, e.minor, e.mode
            elif isinstance(e, Whiteout):
                head, _, name = e.path.rpartition("/")
                info = tarfile.TarInfo(f"{head}/.wh.{name}" if head else f".wh.{name}")
            else:
                info = tarfile.TarInfo(f"{e.path.rstrip('/')}/.wh..wh..opq")
            tar.addfile(info, io.BytesIO(data) if data or info.isreg() else None)
    return out.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return data


LAYER_MEDIA = {"": "application/vnd.oci.image.layer.v1.tar", "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}


@dataclass
class Layer:
    entries: list[Entry] = field(default_factory=list)
    compression: str = "gzip"
    tar: bytes | None = None  # given directly instead of entries (the busybox rootfs, a bomb)

    def blob(self) -> tuple[bytes, bytes]:
        """(uncompressed tar, blob as stored)."""
        raw = self.tar if self.tar is not None else layer_tar(self.entries)
        return raw, compress(raw, self.compression)


@dataclass
class ImageSpec:
    name: str  # the ref.name annotation in index.json ("app:v1")
    layers: list[Layer]
    cmd: list[str] = field(default_factory=lambda: ["sh"])
    entrypoint: list[str] | None = None
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    user: str = ""
    working_dir: str = ""
    stop_signal: str = ""
    architecture: str = "amd64"
    variant: str = ""


def host_arch() -> str:
    from pyrunc.images.media import host_platform

    return host_platform().architecture


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.index: list[dict] = []

    def put(self, data: bytes) -> str:
        d = _digest(data)
        (self.path / "blobs" / "sha256" / d.split(":")[1]).write_bytes(data)
        return d

    def manifest(self, spec: ImageSpec) -> dict:
        """Writes the image's blobs; returns the manifest's descriptor."""
        layers, diff_ids = [], []
        for layer in spec.layers:
            raw, blob = layer.blob()
            diff_ids.append(_digest(raw))
            layers.append({"mediaType": LAYER_MEDIA[layer.compression], "digest": self.put(blob), "size": len(blob)})
        config_bytes = image_config(spec, diff_ids)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": self.put(config_bytes), "size": len(config_bytes)},
                    "layers": layers}
        data = json.dumps(manifest, sort_keys=True).encode()
        desc = {"mediaType": manifest["mediaType"], "digest": self.put(data), "size": len(data)}
        return desc

    def add(self, spec: ImageSpec) -> dict:
        desc = self.manifest(spec)
        self.index.append({**desc, "annotations": {"org.opencontainers.image.ref.name": spec.name}})
        return desc

    def add_index(self, name: str, specs: list[ImageSpec]) -> dict:
        """A multi-platform image: one manifest per spec, under an OCI index named `name`."""
        manifests = []
        for spec in specs:
            desc = self.manifest(spec)
            platform = {"os": "linux", "architecture": spec.architecture}
            if spec.variant:
                platform["variant"] = spec.variant
            manifests.append({**desc, "platform": platform})
        data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": manifests}, sort_keys=True).encode()
        desc = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": self.put(data), "size": len(data)}
        self.index.append({**desc, "annotations": {"org.opencontainers.image.ref.name": name}})
        return desc

    def close(self) -> Path:
        (self.path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.index}))
        return self.path


def write_layout(path: Path, specs: list[ImageSpec]) -> Path:
    layout = Layout(path)
    for spec in specs:
        layout.add(spec)
    return layout.close()


_BUSYBOX_TAR: bytes | None = None


def busybox_rootfs(dest: Path) -> Path:
    """The built-in busybox root filesystem, built by rootfs/busybox.sh into `dest` (its rootfs/)."""
    subprocess.run(["sh", str(REPO / "rootfs" / "busybox.sh"), str(dest)], check=True, capture_output=True)
    return Path(dest) / "rootfs"


def tar_dir(root: Path) -> bytes:
    """A deterministic tar of a directory tree (hard links kept as links), as a layer."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                info = tar.gettarinfo(full, arcname=os.path.relpath(full, root))
                info.mtime, info.uname, info.gname = 0, "", ""
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return out.getvalue()


def _builtin_layer() -> bytes | None:
    """The layer of the node's built-in busybox image (scripts/builtin-image.sh imports it, uncompressed)."""
    store = Path(os.environ.get("PYRUNC_IMAGES") or "/var/lib/pyrunc/images")
    try:
        index = json.loads((store / "index.json").read_text())
        entry = next(e for e in index["manifests"]
                     if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == "docker.io/library/busybox:latest")
        manifest = json.loads((store / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
        (layer,) = manifest["layers"]
        if layer["mediaType"] != LAYER_MEDIA[""]:
            return None
        return (store / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
    except (OSError, ValueError, KeyError, StopIteration):
        return None


def busybox_layer(tmp: Path, compression: str = "gzip") -> Layer:
    """A layer holding the whole busybox root filesystem: the built-in image's own layer when the node
    has it (the same bytes, so stores share the unpacked layer), else built by rootfs/busybox.sh."""
    global _BUSYBOX_TAR
    if _BUSYBOX_TAR is None:
        _BUSYBOX_TAR = _builtin_layer() or tar_dir(busybox_rootfs(Path(tmp) / "busybox-build"))
    return Layer(tar=_BUSYBOX_TAR, compression=compression)


# -- docker-archives and tars of layouts (the import tests) -------------------------------------------


def image_config(spec: ImageSpec, diff_ids: list[str]) -> bytes:
    """The config Layout.manifest writes for `spec`, as bytes."""
    conf: dict = {"Env": spec.env, "Cmd": spec.cmd}
    for key, value in (("Entrypoint", spec.entrypoint), ("User", spec.user), ("WorkingDir", spec.working_dir),
                       ("StopSignal", spec.stop_signal)):
        if value:
            conf[key] = value
    config = {"architecture": spec.architecture, "os": "linux", "config": conf,
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "created": "1970-01-01T00:00:00Z"}
    if spec.variant:
        config["variant"] = spec.variant
    return json.dumps(config, sort_keys=True).encode()


def tar_members(path: Path, members: list[tuple[str, bytes | tarfile.TarInfo]]) -> Path:
    """A tar of (name, bytes) files, or TarInfo members (links, hostile names) given whole."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            if isinstance(data, tarfile.TarInfo):
                tar.addfile(data)
                continue
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return Path(path)


def docker_archive(path: Path, images: list[tuple[ImageSpec, list[str]]], link_duplicates: bool = True) -> Path:
    """A `docker save` archive (the format before docker 25): manifest.json, `<id>.json` configs and
    `<id>/layer.tar` layers stored as each Layer's compression says (docker writes plain tars; other
    tools gzip them). A layer seen twice is a symbolic link to the first copy, as docker writes it."""
    members: list[tuple[str, bytes | tarfile.TarInfo]] = []
    manifest, seen = [], {}
    for spec, tags in images:
        layer_names, diff_ids = [], []
        for layer in spec.layers:
            raw, blob = layer.blob()
            diff_ids.append(_digest(raw))
            name = f"{_digest(blob).split(':')[1]}/layer.tar"
            if blob in seen and link_duplicates:
                link = tarfile.TarInfo(f"dup{len(members)}/layer.tar")
                link.type, link.linkname = tarfile.SYMTYPE, f"../{seen[blob]}"
                members.append((link.name, link))
                name = link.name
            elif blob not in seen:
                seen[blob] = name
                members.append((name, blob))
            layer_names.append(name)
        config = image_config(spec, diff_ids)
        config_name = f"{_digest(config).split(':')[1]}.json"
        members.append((config_name, config))
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": layer_names})
    members.append(("manifest.json", json.dumps(manifest).encode()))
    return tar_members(path, members)


def tar_layout(layout: Path, dest: Path, prefix: str = "./") -> Path:
    """An OCI archive: the layout directory as a tar, its names as `tar -C DIR -cf FILE .` writes them."""
    members: list[tuple[str, bytes | tarfile.TarInfo]] = []
    for dirpath, dirnames, filenames in os.walk(layout):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            members.append((prefix + os.path.relpath(full, layout), Path(full).read_bytes()))
    return tar_members(dest, members)

def gzip_bomb(size: int, name: str = "zeros", chunk: int = 16 << 20) -> bytes:
    """A gzip layer blob whose tar holds one file of `size` zero bytes (a decompression bomb),
    built in a fraction of a second: gzip members concatenate, so one member of `chunk` zeros is
    repeated instead of compressing `size` bytes. `size` must be a multiple of `chunk`."""
    info = tarfile.TarInfo(name)
    info.size = size
    header = gzip.compress(info.tobuf(tarfile.PAX_FORMAT), mtime=0)
    zeros = gzip.compress(bytes(chunk), compresslevel=9, mtime=0)
    return header + zeros * (size // chunk)
