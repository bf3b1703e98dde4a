"""The registry client's pure decisions: where a registry is reached, challenges, credentials, progress."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyrunc.errors import ImageError
from pyrunc.images.auth import Challenge, Credentials, lookup_credentials, parse_challenges
from pyrunc.images.progress import TqdmProgress, make_progress
from pyrunc.images.registry import Endpoint, api_host, endpoints, is_loopback, realm_allowed
from pyrunc.images.source import NoProgress


@pytest.mark.parametrize("registry", ["localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "127.1.2.3:80",
                                      "[::1]", "[::1]:5000"])
def test_loopback_registries(registry: str) -> None:
    assert is_loopback(registry)


@pytest.mark.parametrize("registry", ["docker.io", "registry.example.com:5000", "10.0.0.1:5000", "128.0.0.1",
                                      "localhost.example.com", "[fe80::1]:5000", "ghcr.io"])
def test_other_registries(registry: str) -> None:
    assert not is_loopback(registry)


def test_docker_hub_is_served_from_registry_1() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert endpoints("docker.io", ()) == (Endpoint("https", "registry-1.docker.io", True, "never"),)
    assert api_host("quay.io") == "quay.io"


def test_a_remote_registry_is_never_reached_over_http() -> None:
    for registry in ("docker.io", "registry.example.com:5000", "10.1.2.3:5000"):
        eps = endpoints(registry, ("other.example.com:5000",))
        assert [e.scheme for e in eps] == ["https"] and eps[0].verify and eps[0].fallback == "never"


def test_loopback_tries_verified_https_then_http() -> None:
    assert endpoints("127.0.0.1:5000", ()) == (Endpoint("https", "127.0.0.1:5000", True, "not_cert"),
                                               Endpoint("http", "127.0.0.1:5000", False, "never"))
    assert [e.scheme for e in endpoints("localhost:5000", ())] == ["https", "http"]


def test_an_insecure_registry_gets_unverified_https_then_http() -> None:
    eps = endpoints("registry.lan:5000", ("registry.lan:5000",))
    assert eps == (Endpoint("https", "registry.lan:5000", False, "any"),
                   Endpoint("http", "registry.lan:5000", False, "never"))
    # host[:port] is matched exactly: another port of the same host is not insecure.
    assert [e.scheme for e in endpoints("registry.lan:5001", ("registry.lan:5000",))] == ["https"]


def test_token_realms_over_http_only_on_loopback_or_insecure_hosts() -> None:
    assert realm_allowed("https://auth.docker.io/token", ())
    assert realm_allowed("http://127.0.0.1:8080/token", ())
    assert not realm_allowed("http://auth.example.com/token", ())
    assert realm_allowed("http://auth.example.com/token", ("auth.example.com",))
    assert not realm_allowed("ftp://auth.example.com/token", ())


def test_challenges() -> None:
    hub = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull"')
    assert hub == [Challenge("bearer", (("realm", "https://auth.docker.io/token"), ("service", "registry.docker.io"),
                                        ("scope", "repository:library/busybox:pull")))]
    assert parse_challenges('Basic realm="Registry Realm"') == [Challenge("basic", (("realm", "Registry Realm"),))]
    several = parse_challenges('Basic realm="a, b", Bearer realm="https://x/token",scope="repository:a:pull,push"')
    assert [c.scheme for c in several] == ["basic", "bearer"]
    assert several[0].get("realm") == "a, b" and several[1].get("scope") == "repository:a:pull,push"
    assert parse_challenges("") == []
    assert parse_challenges('bearer realm="x\\"y"')[0].get("realm") == 'x"y'


def _config(tmp: Path, auths: object, name: str = "config.json") -> str:
    path = tmp / name
    path.write_text(json.dumps({"auths": auths}))
    return str(path)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_credentials_from_docker_config_files(tmp_path: Path) -> None:
    hub = _config(tmp_path, {"https://index.docker.io/v1/": {"auth": _b64("hub:pw:with:colons")}}, "a.json")
    assert lookup_credentials("docker.io", [hub]) == Credentials("hub", "pw:with:colons")
    assert lookup_credentials("quay.io", [hub]) is None
    urls = _config(tmp_path, {"https://registry.lan:5000/v2/": {"username": "u", "password": "p"},
                              "registry.lan": {"auth": _b64("other:port")}}, "b.json")
    assert lookup_credentials("registry.lan:5000", [urls]) == Credentials("u", "p")
    assert lookup_credentials("registry.lan", [urls]) == Credentials("other", "port")
    # Files are searched in order; a missing file is skipped.
    found = lookup_credentials("docker.io", [str(tmp_path / "missing.json"), urls, hub])
    assert found == Credentials("hub", "pw:with:colons")


def test_bad_config_files_are_named_without_secrets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ImageError, match="bad.json"):
        lookup_credentials("docker.io", [str(bad)])
    nocolon = _config(tmp_path, {"registry.lan": {"auth": _b64("secretwithoutcolon")}}, "c.json")
    with pytest.raises(ImageError) as e:
        lookup_credentials("registry.lan", [nocolon])
    assert "c.json" in str(e.value) and "secretwithoutcolon" not in str(e.value)
    notb64 = _config(tmp_path, {"registry.lan": {"auth": "!!!"}}, "d.json")
    with pytest.raises(ImageError, match="not base64"):
        lookup_credentials("registry.lan", [notb64])


def test_a_password_never_shows_in_a_repr() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))


def test_progress_is_quiet_off_a_terminal() -> None:
    # pytest captures stderr: not a TTY.
    assert isinstance(make_progress(quiet=False), NoProgress)
    assert isinstance(make_progress(quiet=True), NoProgress)


def test_progress_bars_count_bytes(tmp_path: Path) -> None:
    from pyrunc.images.media import Descriptor

    out = (tmp_path / "bars").open("w")
    progress = TqdmProgress(out)
    desc = Descriptor("application/vnd.oci.image.layer.v1.tar", "sha256:" + "ab" * 32, 2048)
    progress.start(desc, already=1024)
    progress.advance(desc, 1024)
    progress.done(desc)
    out.close()
    text = (tmp_path / "bars").read_text()
    assert "abababababab" in text and "2.00k" in text and "100%" in text


def test_only_the_registry_client_imports_httpx() -> None:
    code = ("import sys, pyrunc.cli.main, pyrunc.images, pyrunc.images.source, pyrunc.images.progress, "
            "pyrunc.images.auth; print(sorted(m for m in ('httpx', 'tqdm') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
