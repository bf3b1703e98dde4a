"""`pyrunc image import` readers against archives written by the real tools: skopeo's docker-archive
and oci-archive, GNU tar's OCI archives and root filesystem tarballs, umoci's layouts.

Each archive is opened, resolved for the host's platform, and every blob fetched and checked: its
digest, the manifest's layers against the config's diff_ids, the config's Cmd, the names normalised.
No root needed: everything here is file work.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from pyrunc.images import media
from pyrunc.images.archive import ArchiveImage, open_archive
from pyrunc.images.media import Descriptor, host_platform
from pyrunc.images.source import NoProgress, PullError
from tests.imagekit import File, ImageSpec, Layer, Layout, busybox_layer, busybox_rootfs

HOST = host_platform()
NEED_SKOPEO = pytest.mark.skipif(shutil.which("skopeo") is None,
                                 reason="skopeo is not installed (Debian package skopeo; scripts/setup.sh --test)")
NEED_UMOCI = pytest.mark.skipif(shutil.which("umoci") is None,
                                reason="umoci is not installed (Debian package umoci; scripts/setup.sh --test)")
NEED_BUSYBOX = pytest.mark.skipif(not Path("/bin/busybox").exists(),
                                  reason="busybox-static is not installed (the built-in image is made from it)")


def run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def uncompressed(blob: bytes, desc: Descriptor) -> bytes:
    compression = media.compression_of(desc.media_type)
    if compression == "gzip":
        return gzip.decompress(blob)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


def check_image(image: ArchiveImage, tmp: Path) -> tuple[media.ImageConfig, list[bytes]]:
    """Resolve, fetch every blob verified, check the layers against the config; (config, layer tars)."""
    resolved = image.source.resolve(HOST)
    blobs = {}
    for desc in (resolved.parsed.config, *resolved.parsed.layers):
        dest = tmp / f"fetched-{desc.hex}"
        image.source.fetch_blob(desc, str(dest), NoProgress())
        blobs[desc.digest] = dest.read_bytes()
        assert sha(blobs[desc.digest]) == desc.digest and len(blobs[desc.digest]) == desc.size
    config = media.parse_config(blobs[resolved.parsed.config.digest])
    tars = [uncompressed(blobs[d.digest], d) for d in resolved.parsed.layers]
    assert [sha(t) for t in tars] == list(config.diff_ids)
    return config, tars


def names_in(tar: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return {m.name.removeprefix("./") for m in t}


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout with app:v1: the busybox root filesystem (gzip) and a small plain layer."""
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed (the built-in image is made from it)")
    tmp = tmp_path_factory.mktemp("archive-layout")
    lay = Layout(tmp / "lay")
    lay.add(ImageSpec("app:v1", [busybox_layer(tmp), Layer([File("etc/motd", b"imported\n")], compression="")],
                      cmd=["sh", "-c", "cat /etc/motd"], architecture=HOST.architecture, variant=HOST.variant))
    return lay.close()


def layout_manifest(layout: Path) -> dict:
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())


def check_app(image: ArchiveImage, tmp: Path, layout: Path) -> None:
    assert image.names == ("docker.io/library/app:v1",)
    config, tars = check_image(image, tmp)
    assert config.cmd == ("sh", "-c", "cat /etc/motd")
    assert len(tars) == 2 and "bin/busybox" in names_in(tars[0]) and names_in(tars[1]) == {"etc/motd"}
    # Whatever the tool did to the manifest and the layers' compression, the image id is the config's.
    assert image.source.resolve(HOST).parsed.config.digest == layout_manifest(layout)["config"]["digest"]


@NEED_SKOPEO
def test_skopeo_docker_archive(layout: Path, tmp_path: Path) -> None:
    run("skopeo", "copy", "-q", f"oci:{layout}:app:v1", f"docker-archive:{tmp_path / 'd.tar'}:app:v1")
    (image,) = open_archive(str(tmp_path / "d.tar"))
    assert image.source.description.startswith("docker-archive:")
    check_app(image, tmp_path, layout)


@NEED_SKOPEO
def test_skopeo_oci_archive_keeps_the_manifest(layout: Path, tmp_path: Path) -> None:
    run("skopeo", "copy", "-q", f"oci:{layout}:app:v1", f"oci-archive:{tmp_path / 'o.tar'}:app:v1")
    (image,) = open_archive(str(tmp_path / "o.tar"))
    assert image.source.description.startswith("oci-archive:")
    check_app(image, tmp_path, layout)
    # skopeo writes the manifest again (its own key order): the archive's index.json names it.
    with tarfile.open(tmp_path / "o.tar") as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert image.source.resolve(HOST).manifest.digest == index["manifests"][0]["digest"]


@NEED_SKOPEO
def test_skopeo_oci_layout_directory(layout: Path, tmp_path: Path) -> None:
    run("skopeo", "copy", "-q", f"oci:{layout}:app:v1", f"oci:{tmp_path / 'copy'}:app:v1")
    (image,) = open_archive(str(tmp_path / "copy"))
    check_app(image, tmp_path, layout)


@NEED_BUSYBOX
def test_gnu_tar_of_a_layout_is_an_oci_archive(layout: Path, tmp_path: Path) -> None:
    run("tar", "-C", str(layout), "-cf", str(tmp_path / "t.tar"), ".")
    (image,) = open_archive(str(tmp_path / "t.tar"), name="renamed:v2")
    check_app(image, tmp_path, layout)


def skopeo_archive_edited(layout: Path, tmp_path: Path, edit: Callable[[tarfile.TarInfo, bytes], bytes]) -> None:
    """skopeo's docker-archive of app:v1 rewritten to tmp_path/bad.tar, each regular member through `edit`."""
    run("skopeo", "copy", "-q", f"oci:{layout}:app:v1", f"docker-archive:{tmp_path / 'd.tar'}:app:v1")
    with tarfile.open(tmp_path / "d.tar") as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(tmp_path / "bad.tar", "w") as out:
        for m, data in members:
            if data is not None:
                data = edit(m, data)
                m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)


@NEED_SKOPEO
def test_skopeo_docker_archive_with_a_tampered_layer(layout: Path, tmp_path: Path) -> None:
    def tamper(m: tarfile.TarInfo, data: bytes) -> bytes:
        if m.name.endswith(".tar") and b"imported\n" in data:
            return data.replace(b"imported\n", b"tampered\n")  # same size: only the digest tells
        return data

    skopeo_archive_edited(layout, tmp_path, tamper)
    (image,) = open_archive(str(tmp_path / "bad.tar"))
    with pytest.raises(PullError, match="has the content .* its config says") as e:
        image.source.resolve(HOST)
    assert e.value.kind == "corrupt"


@NEED_SKOPEO
def test_skopeo_docker_archive_whose_manifest_points_outside(layout: Path, tmp_path: Path) -> None:
    def outside(m: tarfile.TarInfo, data: bytes) -> bytes:
        if m.name == "manifest.json":
            doc = json.loads(data)
            doc[0]["Layers"][0] = "../../../etc/passwd"
            return json.dumps(doc).encode()
        return data

    skopeo_archive_edited(layout, tmp_path, outside)
    with pytest.raises(PullError, match="'../../../etc/passwd' has an absolute name or a '..' component"):
        open_archive(str(tmp_path / "bad.tar"))


@NEED_UMOCI
@NEED_BUSYBOX
def test_umoci_layout(tmp_path: Path) -> None:
    rootfs = busybox_rootfs(tmp_path / "bb")
    lay = f"{tmp_path / 'umoci'}"
    run("umoci", "init", "--layout", lay)
    run("umoci", "new", "--image", f"{lay}:tool:v1")
    run("umoci", "insert", "--rootless", "--image", f"{lay}:tool:v1", str(rootfs / "bin"), "/bin")
    run("umoci", "config", "--image", f"{lay}:tool:v1", "--config.cmd", "sh",
        "--config.env", "GREETING=hi")
    (image,) = open_archive(lay)
    assert image.names == ("docker.io/library/tool:v1",)
    config, tars = check_image(image, tmp_path)
    assert config.cmd == ("sh",) and "GREETING=hi" in config.env
    assert any("bin/busybox" in names_in(t) for t in tars)


@NEED_BUSYBOX
@pytest.mark.parametrize("compress", ["", "-z", "--zstd"])
def test_rootfs_tarball_from_gnu_tar(tmp_path: Path, compress: str) -> None:
    if compress == "--zstd" and shutil.which("zstd") is None:
        pytest.skip("zstd is not installed (Debian package zstd)")
    rootfs = busybox_rootfs(tmp_path / "bb")
    path = tmp_path / "rootfs.tar"
    run("tar", *([compress] if compress else []), "-C", str(rootfs), "-cf", str(path), ".")
    changes = ['CMD ["sh"]', "ENV GREETING=hello", "WORKDIR /root", "USER 0:0", "STOPSIGNAL SIGTERM"]
    (image,) = open_archive(str(path), name="bb:v1", changes=changes)
    assert image.names == ()
    resolved = image.source.resolve(HOST)
    expected = {"": "application/vnd.oci.image.layer.v1.tar", "-z": "application/vnd.oci.image.layer.v1.tar+gzip",
                "--zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}[compress]
    assert [d.media_type for d in resolved.parsed.layers] == [expected]
    assert resolved.parsed.layers[0].digest == sha(path.read_bytes())
    config, (tar,) = check_image(image, tmp_path)
    assert "bin/busybox" in names_in(tar)
    assert (config.cmd, config.env, config.working_dir, config.user, config.stop_signal) == (
        ("sh",), ("GREETING=hello",), "/root", "0:0", "SIGTERM")
    assert (config.os, config.architecture, config.created) == ("linux", HOST.architecture, "1970-01-01T00:00:00Z")
    (again,) = open_archive(str(path), name="other", changes=changes)
    assert again.source.resolve(HOST).parsed.config.digest == resolved.parsed.config.digest
