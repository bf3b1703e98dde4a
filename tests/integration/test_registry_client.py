"""RegistrySource against a real registry on 127.0.0.1 (Debian's docker-registry), images pushed by skopeo.

No root needed. Skipped with the reason when docker-registry or skopeo is missing.

TLS choice: a loopback registry is tried over verified HTTPS first and over plain HTTP only when
HTTPS failed for another reason than a certificate that does not verify. So a TLS registry on
127.0.0.1 whose CA is not in certs_dir fails verification (no silent downgrade, no HTTP), unless
the registry is listed in `insecure` (then TLS is not verified, as docker does for insecure
registries).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyrunc.images import media
from pyrunc.images.media import Platform, host_platform
from pyrunc.images.reference import parse_ref
from pyrunc.images.registry import Credentials, RegistrySettings, RegistrySource
from pyrunc.images.source import NoProgress, PullError
from tests.imagekit import File, ImageSpec, Layer, Layout, busybox_layer
from tests.registry_fixture import (
    CutProxy,
    Registry,
    manifest_digest,
    missing_tools,
    push_layout,
    registry_factory,  # noqa: F401 (a fixture)
    sha256_file,
    start_registry,
)

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "-")

HOST = host_platform()
OTHER = Platform("linux", "arm64", "v8") if HOST.architecture != "arm64" else Platform("linux", "amd64")
USER, PASSWORD = "alice", "pa55-w0rd-secret"


def small_image(name: str, arch: str = HOST.architecture, variant: str = "") -> ImageSpec:
    return ImageSpec(name, [Layer([File("etc/motd", f"{name} {arch}\n".encode())], "gzip"),
                            Layer([File("etc/zstd", b"z" * 5000)], "zstd")], architecture=arch, variant=variant)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("layout")
    lay = Layout(tmp / "oci")
    lay.add(ImageSpec("app:v1", [busybox_layer(tmp), Layer([File("etc/app", b"gzip\n")], "gzip"),
                                 Layer([File("etc/zstd", b"zstd\n" * 100)], "zstd"),
                                 Layer([File("etc/plain", b"plain\n")], "")],
                      architecture=HOST.architecture, variant=HOST.variant))
    lay.add_index("multi:v1", [small_image("multi", OTHER.architecture, OTHER.variant),
                               small_image("multi", HOST.architecture, HOST.variant)])
    lay.add(ImageSpec("docker:v1", [Layer([File("etc/d", b"docker\n")], "gzip")], architecture=HOST.architecture))
    lay.add(small_image("small:v1"))
    return lay.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, layout: Path) -> Iterator[Registry]:
    """One plain registry holding app:v1 (busybox + gzip/zstd/plain layers), multi:v1 (an index), docker:v1."""
    reg = start_registry(tmp_path_factory.mktemp("shared") / "registry")
    try:
        push_layout(reg, layout, "app:v1", "app:v1")
        push_layout(reg, layout, "multi:v1", "multi:v1", index=True)
        push_layout(reg, layout, "docker:v1", "docker:v1", docker_v2=True)
        yield reg
    finally:
        reg.stop()


def source(text: str, **settings: object) -> RegistrySource:
    return RegistrySource(parse_ref(text), RegistrySettings(timeout=10, **settings))  # type: ignore[arg-type]


def fetch_all(src: RegistrySource, resolved_manifest: media.Manifest, dest: Path) -> list[Path]:
    out = []
    for desc in (resolved_manifest.config, *resolved_manifest.layers):
        path = dest / desc.hex
        src.fetch_blob(desc, str(path), NoProgress())
        assert sha256_file(path) == desc.digest and path.stat().st_size == desc.size
        out.append(path)
    return out


def auth_file(tmp: Path, key: str, user: str, password: str, form: str = "auth") -> str:
    entry = ({"auth": base64.b64encode(f"{user}:{password}".encode()).decode()} if form == "auth"
             else {"username": user, "password": password})
    path = tmp / f"config-{form}.json"
    path.write_text(json.dumps({"auths": {key: entry}}))
    return str(path)


# --------------------------------------------------------------------------------- manifests, blobs

def test_resolve_a_tag_and_a_digest_and_fetch_verified_blobs(shared: Registry, layout: Path, tmp_path: Path) -> None:
    digest = manifest_digest(layout, "app:v1")
    with source(f"{shared.host}/app:v1") as src:
        by_tag = src.resolve(HOST)
        assert src.endpoint is not None and src.endpoint.scheme == "http"  # HTTPS tried first, then HTTP
        assert by_tag.target.digest == digest and by_tag.manifest == by_tag.target
        assert by_tag.parsed.media_type == media.OCI_MANIFEST
        # skopeo kept each layer's compression: a zstd layer stays zstd, a plain tar stays plain.
        assert [media.compression_of(d.media_type) for d in by_tag.parsed.layers] == ["gzip", "gzip", "zstd", ""]
        fetch_all(src, by_tag.parsed, tmp_path)
    with source(f"{shared.host}/app@{digest}") as src:
        by_digest = src.resolve(HOST)
    assert by_digest.target_bytes == by_tag.target_bytes and media.sha256_digest(by_digest.target_bytes) == digest


def test_an_index_gives_the_hosts_platform(shared: Registry, layout: Path, tmp_path: Path) -> None:
    with source(f"{shared.host}/multi:v1") as src:
        resolved = src.resolve(HOST)
        assert resolved.target.media_type == media.OCI_INDEX
        assert resolved.target.digest == manifest_digest(layout, "multi:v1")
        assert resolved.manifest.platform is not None and resolved.manifest.platform.architecture == HOST.architecture
        assert media.sha256_digest(resolved.manifest_bytes) == resolved.manifest.digest
        config_path = fetch_all(src, resolved.parsed, tmp_path)[0]
        assert media.parse_config(config_path.read_bytes()).architecture == HOST.architecture
        with pytest.raises(PullError) as e:
            src.resolve(Platform("linux", "mips64le"))
    assert e.value.kind == "not_found"
    assert "mips64le" in str(e.value) and str(HOST) in str(e.value) and str(OTHER) in str(e.value)


def test_docker_schema2_manifests(shared: Registry, tmp_path: Path) -> None:
    with source(f"{shared.host}/docker:v1") as src:
        resolved = src.resolve(HOST)
        assert resolved.parsed.media_type == media.DOCKER_MANIFEST
        assert resolved.parsed.config.media_type == media.DOCKER_CONFIG
        assert [d.media_type for d in resolved.parsed.layers] == ["application/vnd.docker.image.rootfs.diff.tar.gzip"]
        fetch_all(src, resolved.parsed, tmp_path)


def test_missing_tags_repositories_and_blobs_are_not_found(shared: Registry, tmp_path: Path) -> None:
    for text in (f"{shared.host}/app:nope", f"{shared.host}/nothing/here:v1"):
        with source(text) as src, pytest.raises(PullError) as e:
            src.resolve(HOST)
        assert e.value.kind == "not_found"
        assert str(e.value).startswith(f'failed to resolve reference "{parse_ref(text)}"')
        assert str(e.value).endswith("not found")
    missing = media.Descriptor(media.OCI_CONFIG, "sha256:" + "0" * 64, 10)
    with source(f"{shared.host}/app:v1") as src, pytest.raises(PullError) as e:
        src.fetch_blob(missing, str(tmp_path / "blob"), NoProgress())
    assert e.value.kind == "not_found" and not (tmp_path / "blob").exists()
    # A foreign layer is fetched from the registry or refused: its URLs are never contacted.
    foreign = media.Descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "sha256:" + "1" * 64,
                               10, urls=("https://example.invalid/layer.tar.gz",))
    with source(f"{shared.host}/app:v1") as src, pytest.raises(PullError) as e:
        src.fetch_blob(foreign, str(tmp_path / "foreign"), NoProgress())
    assert e.value.kind == "not_found" and "foreign layer" in str(e.value) and "example.invalid" in str(e.value)


def test_a_corrupted_blob_is_refused_and_nothing_is_left(registry_factory: Callable[..., Registry], layout: Path,
                                                         tmp_path: Path) -> None:
    reg = registry_factory()
    push_layout(reg, layout, "small:v1", "small:v1")
    with source(f"{reg.host}/small:v1") as src:
        layer = src.resolve(HOST).parsed.layers[1]
        stored = reg.blob_path(layer.digest)
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, another digest
        stored.write_bytes(bytes(data))
        dest = tmp_path / "layer"
        with pytest.raises(PullError) as e:
            src.fetch_blob(layer, str(dest), NoProgress())
    assert e.value.kind == "corrupt" and layer.digest in str(e.value)
    assert not dest.exists()


def test_a_cut_transfer_resumes_with_a_range(shared: Registry, tmp_path: Path) -> None:
    proxy = CutProxy(shared.port)
    try:
        with source(f"{proxy.host}/app:v1") as src:
            busybox = src.resolve(HOST).parsed.layers[0]
            cut_at = busybox.size // 3
            proxy.cut(f"/blobs/{busybox.digest}", cut_at)
            dest = tmp_path / "busybox"
            src.fetch_blob(busybox, str(dest), NoProgress())
        assert sha256_file(dest) == busybox.digest
        ranges = proxy.ranges(f"/blobs/{busybox.digest}")
        assert ranges[0] == "" and len(ranges) == 2
        assert ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0, ranges
    finally:
        proxy.stop()


def test_a_partial_file_left_by_an_earlier_pull_is_continued(shared: Registry, tmp_path: Path) -> None:
    proxy = CutProxy(shared.port)
    try:
        with source(f"{proxy.host}/app:v1") as src:
            busybox = src.resolve(HOST).parsed.layers[0]
            whole = tmp_path / "whole"
            src.fetch_blob(busybox, str(whole), NoProgress())
            dest = tmp_path / "partial"
            dest.write_bytes(whole.read_bytes()[:1000])
            src.fetch_blob(busybox, str(dest), NoProgress())
        assert sha256_file(dest) == busybox.digest
        assert proxy.ranges(f"/blobs/{busybox.digest}") == ["", "bytes=1000-"]  # once whole, once the rest
    finally:
        proxy.stop()


def test_a_registry_that_is_down_is_unreachable(registry_factory: Callable[..., Registry]) -> None:
    reg = registry_factory()
    reg.stop_process()
    with source(f"{reg.host}/app:v1") as src, pytest.raises(PullError) as e:
        src.resolve(HOST)
    assert e.value.kind == "unreachable"
    assert "connection refused" in str(e.value) and f"http://{reg.host}/v2/" in str(e.value)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


# ----------------------------------------------------------------------------------------------- auth

def test_basic_auth_with_credentials_from_a_docker_config(registry_factory: Callable[..., Registry], layout: Path,
                                                          tmp_path: Path) -> None:
    reg = registry_factory(auth="basic", users={USER: PASSWORD})
    push_layout(reg, layout, "small:v1", "small:v1", creds=(USER, PASSWORD))
    good = auth_file(tmp_path, f"http://{reg.host}/v1/", USER, PASSWORD)  # a URL-form key, as older docker wrote
    with source(f"{reg.host}/small:v1", auth_files=("/nonexistent/config.json", good)) as src:
        fetch_all(src, src.resolve(HOST).parsed, tmp_path)

    wrong = auth_file(tmp_path, reg.host, USER, "not-the-password", form="username")
    with source(f"{reg.host}/small:v1", auth_files=(wrong,)) as src, pytest.raises(PullError) as e:
        src.resolve(HOST)
    assert e.value.kind == "unauthorized" and USER in str(e.value) and "not-the-password" not in str(e.value)

    with source(f"{reg.host}/small:v1") as src, pytest.raises(PullError) as e:
        src.resolve(HOST)
    assert e.value.kind == "unauthorized" and "no credentials" in str(e.value)


def test_bearer_tokens_anonymous(registry_factory: Callable[..., Registry], layout: Path, tmp_path: Path) -> None:
    reg = registry_factory(auth="token", users={USER: PASSWORD}, anonymous_pull=True)
    push_layout(reg, layout, "small:v1", "small:v1", creds=(USER, PASSWORD))
    assert reg.token_server is not None
    reg.token_server.requests.clear()
    with source(f"{reg.host}/small:v1") as src:
        fetch_all(src, src.resolve(HOST).parsed, tmp_path)
    asked = reg.token_server.requests
    assert asked and all(r["user"] is None for r in asked)
    assert ["repository:small:pull"] in [r["scope"] for r in asked]
    assert len(asked) == 1  # cached per scope: one token for the manifest and every blob


def test_bearer_tokens_with_credentials(registry_factory: Callable[..., Registry], layout: Path,
                                        tmp_path: Path) -> None:
    reg = registry_factory(auth="token", users={USER: PASSWORD}, anonymous_pull=False)
    push_layout(reg, layout, "small:v1", "small:v1", creds=(USER, PASSWORD))
    assert reg.token_server is not None
    reg.token_server.requests.clear()
    src = RegistrySource(parse_ref(f"{reg.host}/small:v1"), RegistrySettings(timeout=10),
                         Credentials(USER, PASSWORD))
    with src:
        fetch_all(src, src.resolve(HOST).parsed, tmp_path)
    assert {r["user"] for r in reg.token_server.requests} == {USER}

    # No credentials: the token server grants nothing and the registry refuses the token.
    with source(f"{reg.host}/small:v1") as anonymous, pytest.raises(PullError) as e:
        anonymous.resolve(HOST)
    assert e.value.kind == "unauthorized"
    # Wrong credentials: the token server itself refuses them.
    wrong = RegistrySource(parse_ref(f"{reg.host}/small:v1"), RegistrySettings(timeout=10), Credentials(USER, "bad"))
    with wrong, pytest.raises(PullError) as e:
        wrong.resolve(HOST)
    assert e.value.kind == "unauthorized" and "failed to authorize" in str(e.value) and "bad" not in str(e.value)


# ------------------------------------------------------------------------------------------------ TLS

def test_tls_with_the_ca_in_certs_dir(registry_factory: Callable[..., Registry], layout: Path, tmp_path: Path) -> None:
    reg = registry_factory(tls=True)
    push_layout(reg, layout, "small:v1", "small:v1")
    assert reg.ca_cert is not None
    certs = tmp_path / "certs.d"
    for name in (reg.host, f"localhost:{reg.port}"):
        (certs / name).mkdir(parents=True)
        (certs / name / "ca.crt").write_bytes(reg.ca_cert.read_bytes())
        with source(f"{name}/small:v1", certs_dir=str(certs)) as src:
            fetch_all(src, src.resolve(HOST).parsed, tmp_path)
            assert src.endpoint is not None and (src.endpoint.scheme, src.endpoint.verify) == ("https", True)


def test_tls_without_the_ca_fails_verification_unless_insecure(registry_factory: Callable[..., Registry],
                                                               layout: Path, tmp_path: Path) -> None:
    reg = registry_factory(tls=True)
    push_layout(reg, layout, "small:v1", "small:v1")
    with source(f"{reg.host}/small:v1", certs_dir=str(tmp_path / "empty")) as src, pytest.raises(PullError) as e:
        src.resolve(HOST)
    # A certificate that does not verify is final: no fallback to plain HTTP on the same port.
    assert e.value.kind == "unreachable" and "certificate" in str(e.value) and f"https://{reg.host}" in str(e.value)
    assert src.endpoint is None
    with source(f"{reg.host}/small:v1", insecure=(reg.host,)) as src:
        fetch_all(src, src.resolve(HOST).parsed, tmp_path)
        assert src.endpoint is not None and (src.endpoint.scheme, src.endpoint.verify) == ("https", False)


def test_a_tampered_manifest_is_refused(registry_factory: Callable[..., Registry], layout: Path) -> None:
    reg = registry_factory()
    push_layout(reg, layout, "small:v1", "small:v1")
    digest = manifest_digest(layout, "small:v1")
    stored = reg.blob_path(digest)
    stored.write_bytes(stored.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    for text in (f"{reg.host}/small:v1", f"{reg.host}/small@{digest}"):
        with source(text) as src, pytest.raises(PullError) as e:
            src.resolve(HOST)
        assert e.value.kind == "corrupt" and digest in str(e.value), text


def test_blobs_fetched_from_several_threads_at_once(registry_factory: Callable[..., Registry], layout: Path,
                                                    tmp_path: Path) -> None:
    reg = registry_factory(auth="token", users={USER: PASSWORD})
    push_layout(reg, layout, "app:v1", "app:v1", creds=(USER, PASSWORD))
    with source(f"{reg.host}/app:v1") as src:
        parsed = src.resolve(HOST).parsed
        blobs = (parsed.config, *parsed.layers)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda d: src.fetch_blob(d, str(tmp_path / d.hex), NoProgress()), blobs))
    assert all(sha256_file(tmp_path / d.hex) == d.digest for d in blobs)
