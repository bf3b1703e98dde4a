"""Image archives read as ImageSources: OCI layouts and archives, docker-archives, root filesystem
tarballs, and hostile archives refused. Pure file work: archives are built here with tests/imagekit.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zstandard

from pyrunc.images import media
from pyrunc.images.archive import ArchiveImage, open_archive, parse_changes
from pyrunc.images.media import Descriptor, Platform, host_platform
from pyrunc.images.reference import InvalidImageName
from pyrunc.images.source import PullError
from tests.imagekit import (
    Dir,
    File,
    ImageSpec,
    Layer,
    Layout,
    docker_archive,
    layer_tar,
    tar_layout,
    tar_members,
    write_layout,
)

HOST = host_platform()
LAYER_TYPES = {"": "application/vnd.oci.image.layer.v1.tar", "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def start(self, desc: Descriptor, already: int) -> None:
        self.calls.append(("start", desc.digest, already))

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        self.calls.append(("advance", desc.digest, nbytes))

    def done(self, desc: Descriptor) -> None:
        self.calls.append(("done", desc.digest, 0))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def spec(name: str = "app:v1", compressions: tuple[str, ...] = ("gzip",), cmd: list[str] | None = None,
         arch: str = HOST.architecture) -> ImageSpec:
    layers = [Layer([Dir("etc"), File("etc/motd", f"{name} {i}\n".encode())], compression=c)
              for i, c in enumerate(compressions)]
    return ImageSpec(name, layers, cmd=cmd or ["sh"], architecture=arch, variant=HOST.variant)


def fetch_all(image: ArchiveImage, tmp: Path, platform: Platform = HOST) -> dict[str, bytes]:
    """Resolve, then fetch the config and every layer as the store would: digest -> bytes."""
    resolved = image.source.resolve(platform)
    assert media.sha256_digest(resolved.manifest_bytes) == resolved.manifest.digest
    assert media.sha256_digest(resolved.target_bytes) == resolved.target.digest
    blobs = {}
    for desc in (resolved.parsed.config, *resolved.parsed.layers):
        dest = tmp / f"blob-{desc.hex}"
        image.source.fetch_blob(desc, str(dest), Recorder())
        data = dest.read_bytes()
        assert sha(data) == desc.digest and len(data) == desc.size
        blobs[desc.digest] = data
    return blobs


def config_of(image: ArchiveImage, tmp: Path) -> media.ImageConfig:
    resolved = image.source.resolve(HOST)
    return media.parse_config(fetch_all(image, tmp)[resolved.parsed.config.digest])


def uncompressed(blob: bytes, media_type: str) -> bytes:
    compression = media.compression_of(media_type)
    if compression == "gzip":
        return gzip.decompress(blob)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


def check_layers_match_config(image: ArchiveImage, tmp: Path) -> None:
    resolved = image.source.resolve(HOST)
    blobs = fetch_all(image, tmp)
    config = media.parse_config(blobs[resolved.parsed.config.digest])
    got = [sha(uncompressed(blobs[d.digest], d.media_type)) for d in resolved.parsed.layers]
    assert got == list(config.diff_ids)


# -- OCI layouts -------------------------------------------------------------------------------------


def test_oci_layout_directory_lists_each_image_with_its_normalised_name(tmp_path: Path) -> None:
    write_layout(tmp_path / "lay", [spec("app:v1", cmd=["echo", "one"]), spec("quay.io/x/other:v2", ("zstd", ""))])
    images = open_archive(str(tmp_path / "lay"))
    assert [i.names for i in images] == [("docker.io/library/app:v1",), ("quay.io/x/other:v2",)]
    assert config_of(images[0], tmp_path).cmd == ("echo", "one")
    resolved = images[1].source.resolve(HOST)
    assert [d.media_type for d in resolved.parsed.layers] == [LAYER_TYPES["zstd"], LAYER_TYPES[""]]
    check_layers_match_config(images[1], tmp_path)


def test_oci_index_chooses_the_platform(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "lay")
    other = "s390x" if HOST.architecture != "s390x" else "amd64"
    layout.add_index("multi:v1", [spec("multi:v1", cmd=["other"], arch=other), spec("multi:v1", cmd=["host"])])
    layout.close()
    (image,) = open_archive(str(tmp_path / "lay"))
    resolved = image.source.resolve(HOST)
    assert resolved.target.media_type == media.OCI_INDEX and resolved.manifest != resolved.target
    assert config_of(image, tmp_path).cmd == ("host",)
    assert image.source.resolve(Platform("linux", other)).manifest != resolved.manifest
    with pytest.raises(PullError, match="no image for the platform linux/mips64"):
        image.source.resolve(Platform("linux", "mips64"))


def test_oci_archive_from_tar_with_dot_slash_names(tmp_path: Path) -> None:
    write_layout(tmp_path / "lay", [spec("app:v1", ("", "gzip"))])
    archive = tar_layout(tmp_path / "lay", tmp_path / "oci.tar")
    (image,) = open_archive(str(archive))
    assert image.names == ("docker.io/library/app:v1",)
    assert image.source.description.startswith("oci-archive:")
    check_layers_match_config(image, tmp_path)


@pytest.mark.parametrize("kind", ["oci", "docker", "rootfs"])
def test_an_archive_reached_through_a_symbolic_link(tmp_path: Path, kind: str) -> None:
    if kind == "oci":
        write_layout(tmp_path / "lay", [spec("app:v1", ("",))])
        tar_layout(tmp_path / "lay", tmp_path / "real.tar")
    elif kind == "docker":
        docker_archive(tmp_path / "real.tar", [(spec("app:v1", ("gzip",)), ["app:v1"])])
    else:
        (tmp_path / "real.tar").write_bytes(ROOTFS)
    (tmp_path / "link.tar").symlink_to(tmp_path / "real.tar")
    (image,) = open_archive(str(tmp_path / "link.tar"), name="app:v1")
    check_layers_match_config(image, tmp_path)


def test_the_same_manifest_under_two_names_is_one_image(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "lay")
    desc = layout.add(spec("app:v1"))
    layout.index.append({**desc, "annotations": {"org.opencontainers.image.ref.name": "app:latest"}})
    layout.close()
    (image,) = open_archive(str(tmp_path / "lay"))
    assert image.names == ("docker.io/library/app:v1", "docker.io/library/app:latest")


def test_containerd_name_annotation_wins_over_a_bare_tag(tmp_path: Path) -> None:
    # docker 25+ writes ref.name = the tag alone, and the full name in containerd's annotation.
    layout = Layout(tmp_path / "lay")
    desc = layout.add(spec("latest"))
    layout.index[0] = {**desc, "annotations": {"org.opencontainers.image.ref.name": "latest",
                                               "io.containerd.image.name": "docker.io/library/busybox:latest"}}
    layout.close()
    (image,) = open_archive(str(tmp_path / "lay"))
    assert image.names == ("docker.io/library/busybox:latest",)


# -- docker-archives --------------------------------------------------------------------------------


def test_docker_archive_with_plain_gzip_and_zstd_layers(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "d.tar", [(spec("app:v1", ("", "gzip", "zstd"), cmd=["run"]), ["app:v1"])])
    (image,) = open_archive(str(archive))
    assert image.names == ("docker.io/library/app:v1",)
    resolved = image.source.resolve(HOST)
    assert resolved.parsed.media_type == media.OCI_MANIFEST
    assert media.parse_manifest(resolved.manifest_bytes) == resolved.parsed
    assert [d.media_type for d in resolved.parsed.layers] == [LAYER_TYPES[""], LAYER_TYPES["gzip"], LAYER_TYPES["zstd"]]
    assert config_of(image, tmp_path).cmd == ("run",)
    check_layers_match_config(image, tmp_path)
    # The config keeps its bytes: the image id is docker's (the digest of the config file).
    config_name = json.loads(tarfile.open(archive).extractfile("manifest.json").read())[0]["Config"]  # type: ignore[union-attr]
    assert resolved.parsed.config.digest == "sha256:" + config_name.removesuffix(".json")


def test_docker_archive_with_several_images_and_linked_layers(tmp_path: Path) -> None:
    shared = Layer([File("etc/shared", b"same\n")], compression="")
    one = ImageSpec("one", [shared, Layer([File("a", b"1")], compression="")], architecture=HOST.architecture)
    two = ImageSpec("two", [shared, Layer([File("b", b"2")], compression="")], architecture=HOST.architecture)
    archive = docker_archive(tmp_path / "d.tar", [(one, ["one:v1", "one:latest"]), (two, [])])
    with tarfile.open(archive) as tar:
        assert any(m.issym() for m in tar)  # the second image's first layer is a link to the first's
    images = open_archive(str(archive))
    assert [i.names for i in images] == [("docker.io/library/one:v1", "docker.io/library/one:latest"), ()]
    for image in images:
        check_layers_match_config(image, tmp_path)
    assert images[0].source.resolve(HOST).parsed.layers[0] == images[1].source.resolve(HOST).parsed.layers[0]
    with pytest.raises(PullError, match="holds 2 images; a name can only be given"):
        open_archive(str(archive), name="x:v1")


def test_a_name_for_a_single_image_archive_is_accepted_and_checked(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "d.tar", [(spec(), ["app:v1"])])
    (image,) = open_archive(str(archive), name="mine:v2")
    assert image.names == ("docker.io/library/app:v1",)  # the store adds the given name
    with pytest.raises(InvalidImageName):
        open_archive(str(archive), name="Not A Name")


def test_newer_docker_save_is_read_through_its_oci_layout(tmp_path: Path) -> None:
    # docker 25+ writes an OCI layout and, for older loaders, a manifest.json beside it.
    write_layout(tmp_path / "lay", [spec("app:v1", ("",))])
    manifest = [{"Config": "blobs/sha256/missing", "RepoTags": ["legacy:v1"], "Layers": []}]
    (tmp_path / "lay" / "manifest.json").write_text(json.dumps(manifest))
    (image,) = open_archive(str(tar_layout(tmp_path / "lay", tmp_path / "d.tar", prefix="")))
    assert image.names == ("docker.io/library/app:v1",)
    assert image.source.description.startswith("oci-archive:")
    check_layers_match_config(image, tmp_path)


def test_docker_archive_layer_that_is_not_what_the_config_says(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "d.tar", [(spec("app:v1", ("",)), ["app:v1"])])
    with tarfile.open(archive) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    layer = layer_tar([File("etc/motd", b"evil\n")])
    members = [(n, layer if n.endswith("layer.tar") else d) for n, d in members]
    (image,) = open_archive(str(tar_members(tmp_path / "bad.tar", members)))  # type: ignore[arg-type]
    with pytest.raises(PullError, match="has the content sha256:.*its config says") as e:
        image.source.resolve(HOST)
    assert e.value.kind == "corrupt"


# -- root filesystem tarballs ---------------------------------------------------------------------


ROOTFS = layer_tar([Dir("./bin"), File("./bin/sh", b"#!fake\n", mode=0o755), Dir("./etc"), File("./etc/hostname", b"x\n")])


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
def test_rootfs_tarball_is_a_one_layer_image(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "rootfs.tar"
    blob = {"": ROOTFS, "gzip": gzip.compress(ROOTFS, mtime=0),
            "zstd": zstandard.ZstdCompressor().compress(ROOTFS)}[compression]
    path.write_bytes(blob)
    (image,) = open_archive(str(path), name="mine", changes=["CMD /bin/sh", "ENV A=1"])
    assert image.names == ()
    resolved = image.source.resolve(HOST)
    (layer,) = resolved.parsed.layers
    assert (layer.media_type, layer.digest, layer.size) == (LAYER_TYPES[compression], sha(blob), len(blob))
    config = config_of(image, tmp_path)
    assert config.diff_ids == (sha(ROOTFS),)
    assert (config.os, config.architecture, config.variant) == (HOST.os, HOST.architecture, HOST.variant)
    assert config.created == "1970-01-01T00:00:00Z"
    assert config.cmd == ("/bin/sh", "-c", "/bin/sh") and config.env == ("A=1",)
    # The same tarball and changes give the same image id, wherever the file is.
    copy = tmp_path / "elsewhere.tar"
    copy.write_bytes(blob)
    (again,) = open_archive(str(copy), name="other", changes=["CMD /bin/sh", "ENV A=1"])
    assert again.source.resolve(HOST).parsed.config.digest == resolved.parsed.config.digest


def test_rootfs_tarball_needs_a_name(tmp_path: Path) -> None:
    (tmp_path / "r.tar").write_bytes(ROOTFS)
    with pytest.raises(PullError, match="a plain root filesystem tarball needs a name: pyrunc image import FILE NAME"):
        open_archive(str(tmp_path / "r.tar"))


def test_changes_only_apply_to_a_rootfs_tarball(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "d.tar", [(spec(), ["app:v1"])])
    with pytest.raises(PullError, match="changes apply only to a plain root filesystem tarball"):
        open_archive(str(archive), changes=["CMD sh"])


def test_parse_changes_as_docker_import_applies_them() -> None:
    conf = parse_changes([
        'CMD ["nginx", "-g", "daemon off;"]', "entrypoint /docker-entrypoint.sh start",
        "ENV PATH=/usr/bin:/bin LANG=C.UTF-8", "ENV GREETING hello world", "ENV LANG=en",
        "WORKDIR /srv", "WORKDIR app", "USER 101:101", "STOPSIGNAL SIGQUIT",
        'LABEL a=1 "b c"="d e"', "LABEL old style", "EXPOSE 80 53/udp", 'VOLUME ["/data"]', "VOLUME /cache /tmp/x",
    ])
    assert conf == {
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Entrypoint": ["/bin/sh", "-c", "/docker-entrypoint.sh start"],
        "Env": ["PATH=/usr/bin:/bin", "GREETING=hello world", "LANG=en"],
        "WorkingDir": "/srv/app", "User": "101:101", "StopSignal": "SIGQUIT",
        "Labels": {"a": "1", "b c": "d e", "old": "style"},
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Volumes": {"/data": {}, "/cache": {}, "/tmp/x": {}},
    }
    assert parse_changes(["CMD [not json"]) == {"Cmd": ["/bin/sh", "-c", "[not json"]}


@pytest.mark.parametrize(("change", "message"), [
    ("RUN apt-get update", "--change RUN: not an instruction an import can apply"),
    ("ONBUILD RUN x", "--change ONBUILD: not an instruction"),
    ("ENV", "ENV: needs at least one argument"),
    ("ENV A", "needs a value"),
    ("LABEL =x", "is not KEY=VALUE"),
    ("EXPOSE http", "'http' is not PORT"),
    ("USER a b", "takes exactly one argument"),
    ("CMD", "CMD: needs a command"),
])
def test_parse_changes_refuses_with_the_instruction_named(change: str, message: str) -> None:
    with pytest.raises(PullError, match=message):
        parse_changes([change])


# -- fetching --------------------------------------------------------------------------------------


def test_fetch_reports_progress_and_starts_a_partial_copy_over(tmp_path: Path) -> None:
    write_layout(tmp_path / "lay", [spec("app:v1", ("",))])
    (image,) = open_archive(str(tar_layout(tmp_path / "lay", tmp_path / "oci.tar")))
    layer = image.source.resolve(HOST).parsed.layers[0]
    whole = (tmp_path / "lay" / "blobs" / "sha256" / layer.hex).read_bytes()
    dest = tmp_path / "partial"
    dest.write_bytes(b"left by an interrupted copy, not a prefix of the blob")
    progress = Recorder()
    image.source.fetch_blob(layer, str(dest), progress)
    assert dest.read_bytes() == whole
    assert progress.calls[0] == ("start", layer.digest, 0) and progress.calls[-1] == ("done", layer.digest, 0)
    assert sum(n for kind, _, n in progress.calls if kind == "advance") == len(whole)


def test_fetch_from_several_threads_at_once(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "d.tar", [(spec("app:v1", ("", "gzip", "", "zstd", "")), ["app:v1"])])
    (image,) = open_archive(str(archive))
    resolved = image.source.resolve(HOST)
    descs = [resolved.parsed.config, *resolved.parsed.layers]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda d: image.source.fetch_blob(d, str(tmp_path / d.hex), Recorder()), descs))
    assert all(sha((tmp_path / d.hex).read_bytes()) == d.digest for d in descs)


def test_a_blob_not_in_the_image_is_refused(tmp_path: Path) -> None:
    write_layout(tmp_path / "lay", [spec()])
    (image,) = open_archive(str(tmp_path / "lay"))
    desc = Descriptor(LAYER_TYPES[""], sha(b"nothing"), 7)
    with pytest.raises(PullError, match="the archive has no blob sha256:"):
        image.source.fetch_blob(desc, str(tmp_path / "x"), Recorder())
    assert not (tmp_path / "x").exists()


# -- hostile and broken archives ----------------------------------------------------------------------


def layout_members(tmp: Path) -> list[tuple[str, bytes | tarfile.TarInfo]]:
    write_layout(tmp / "lay", [spec("app:v1", ("",))])
    out: list[tuple[str, bytes | tarfile.TarInfo]] = []
    for p in sorted((tmp / "lay").rglob("*")):
        if p.is_file():
            out.append((str(p.relative_to(tmp / "lay")), p.read_bytes()))
    return out


@pytest.mark.parametrize("name", ["../x", "/etc/x", "blobs/../../x"])
def test_member_leading_out_is_refused(tmp_path: Path, name: str) -> None:
    archive = tar_members(tmp_path / "bad.tar", [*layout_members(tmp_path), (name, b"x")])
    with pytest.raises(PullError, match="absolute name or a '..' component") as e:
        open_archive(str(archive))
    assert e.value.kind == "invalid"


def test_blob_with_wrong_content_is_corrupt_and_nothing_is_left(tmp_path: Path) -> None:
    members = layout_members(tmp_path)
    (image,) = open_archive(str(tmp_path / "lay"))
    layer = image.source.resolve(HOST).parsed.layers[0]
    path = f"blobs/sha256/{layer.hex}"
    members = [(n, d if n != path else bytes(layer.size)) for n, d in members]  # same size, other bytes
    (bad,) = open_archive(str(tar_members(tmp_path / "bad.tar", members)))
    dest = tmp_path / "dest"
    with pytest.raises(PullError, match="digest mismatch") as e:
        bad.source.fetch_blob(layer, str(dest), Recorder())
    assert e.value.kind == "corrupt" and not dest.exists()


def test_manifest_blob_with_wrong_content_is_corrupt(tmp_path: Path) -> None:
    write_layout(tmp_path / "lay", [spec()])
    index = json.loads((tmp_path / "lay" / "index.json").read_text())
    blob = tmp_path / "lay" / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    blob.write_bytes(blob.read_bytes().replace(b"layers", b"Layers"))
    (image,) = open_archive(str(tmp_path / "lay"))
    with pytest.raises(PullError, match="does not match its digest"):
        image.source.resolve(HOST)


@pytest.mark.parametrize(("manifest", "message"), [
    ([{"Config": "../../etc/passwd", "RepoTags": ["a:b"], "Layers": []}], "absolute name or a '..' component"),
    ([{"Config": "c.json", "RepoTags": ["a:b"], "Layers": ["/etc/shadow"]}], "absolute name or a '..' component"),
    ({"Config": "c.json"}, "expected a non-empty list"),
    ([{"Config": "c.json", "Layers": "x"}], r"manifest.json\[0\].Layers: expected a list"),
    ([{"Config": "c.json", "RepoTags": ["Bad Name"], "Layers": []}], "'Bad Name' is not a valid reference"),
])
def test_malformed_or_escaping_manifest_json(tmp_path: Path, manifest: object, message: str) -> None:
    archive = tar_members(tmp_path / "bad.tar", [("manifest.json", json.dumps(manifest).encode())])
    with pytest.raises(PullError, match=message) as e:
        open_archive(str(archive))
    assert e.value.kind == "invalid"


def test_manifest_json_that_is_not_json(tmp_path: Path) -> None:
    archive = tar_members(tmp_path / "bad.tar", [("manifest.json", b"[{")])
    with pytest.raises(PullError, match="manifest.json is not JSON"):
        open_archive(str(archive))


def test_a_link_leading_out_of_the_archive_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("c.json")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    manifest = [{"Config": "c.json", "RepoTags": ["a:b"], "Layers": []}]
    archive = tar_members(tmp_path / "bad.tar", [("c.json", link), ("manifest.json", json.dumps(manifest).encode())])
    (image,) = open_archive(str(archive))
    with pytest.raises(PullError, match="links to '../../../etc/passwd', outside the archive"):
        image.source.resolve(HOST)


def test_a_missing_blob_is_invalid(tmp_path: Path) -> None:
    members = [(n, d) for n, d in layout_members(tmp_path) if not n.startswith("blobs/")]
    (image,) = open_archive(str(tar_members(tmp_path / "bad.tar", members)))
    with pytest.raises(PullError, match="the archive has no blob sha256:") as e:
        image.source.resolve(HOST)
    assert e.value.kind == "invalid"
    manifest = [{"Config": "c.json", "RepoTags": ["a:b"], "Layers": ["l.tar"]}]
    (image,) = open_archive(str(tar_members(tmp_path / "d.tar", [("manifest.json", json.dumps(manifest).encode())])))
    with pytest.raises(PullError, match="no c.json"):
        image.source.resolve(HOST)


@pytest.mark.parametrize(("index", "message"), [
    (b"{", "index.json is not JSON"),
    (b'{"manifests": {}}', "expected an object with a manifests list"),
    (b'{"manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "md5:x", "size": 1}]}',
     "invalid or unsupported digest"),
])
def test_malformed_index_json(tmp_path: Path, index: bytes, message: str) -> None:
    archive = tar_members(tmp_path / "bad.tar", [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)])
    with pytest.raises(PullError, match=message):
        open_archive(str(archive))


def test_layout_directory_with_a_symlinked_blob_is_refused(tmp_path: Path) -> None:
    write_layout(tmp_path / "lay", [spec()])
    (image,) = open_archive(str(tmp_path / "lay"))
    config = image.source.resolve(HOST).parsed.config
    blob = tmp_path / "lay" / "blobs" / "sha256" / config.hex
    (tmp_path / "outside").write_bytes(blob.read_bytes())
    blob.unlink()
    blob.symlink_to(tmp_path / "outside")
    with pytest.raises(PullError, match="not a regular file"):
        image.source.fetch_blob(config, str(tmp_path / "dest"), Recorder())


def test_compressed_image_archive_is_refused_with_how_to_read_it(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "d.tar", [(spec(), ["app:v1"])])
    (tmp_path / "d.tar.gz").write_bytes(gzip.compress(archive.read_bytes()))
    with pytest.raises(PullError, match=r"a gzip-compressed image archive; decompress it first \(gunzip "):
        open_archive(str(tmp_path / "d.tar.gz"))


@pytest.mark.parametrize(("data", "message"), [
    (lzma.compress(ROOTFS), "xz-compressed"),
    (b"not a tar at all" * 100, "not a readable tar archive"),
    (gzip.compress(b"not a tar" * 100), "a gzip file that is not a tar archive"),
    (b"\x1f\x8b\x08\x00garbage" * 10, "a gzip file that"),
])
def test_files_that_are_not_archives(tmp_path: Path, data: bytes, message: str) -> None:
    (tmp_path / "f").write_bytes(data)
    with pytest.raises(PullError, match=message):
        open_archive(str(tmp_path / "f"), name="x")


def test_missing_path_and_empty_archive(tmp_path: Path) -> None:
    with pytest.raises(PullError, match="No such file") as e:
        open_archive(str(tmp_path / "nothing.tar"))
    assert e.value.kind == "not_found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(PullError, match="no oci-layout"):
        open_archive(str(tmp_path / "empty"))


def test_rootfs_tarball_with_a_member_leading_out_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("../../etc/cron.d/x")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.addfile(info, io.BytesIO())
    for name, blob in (("plain.tar", data.getvalue()), ("z.tar.gz", gzip.compress(data.getvalue()))):
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(PullError, match="absolute name or a '..' component"):
            open_archive(str(tmp_path / name), name="x")
    assert not os.path.exists(tmp_path / "etc")
