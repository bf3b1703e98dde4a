"""Names at the door: image references by the distribution grammar, -n as a DNS-1123 label,
pod names as DNS-1123 subdomains, all before any path is built from them."""

from __future__ import annotations

import importlib
import json
import os

import pytest

from pyrunc.cli.main import Parser, main
from pyrunc.errors import ImageError, PyruncError
from pyrunc.images.store import ImageRef, ImageStore, InvalidImageName, parse_ref
from pyrunc.store.layout import layout_for_key, list_pod_keys, pod_exists, valid_label, valid_name

SHA = "a" * 64


@pytest.mark.parametrize("text, ref", [
    ("busybox", ImageRef("docker.io", "library/busybox", "latest")),
    ("busybox:1.36.1", ImageRef("docker.io", "library/busybox", "1.36.1")),
    ("library/busybox:latest", ImageRef("docker.io", "library/busybox", "latest")),
    ("docker.io/library/busybox", ImageRef("docker.io", "library/busybox", "latest")),
    ("user/app_x__y-z.v:Tag_1.0-rc", ImageRef("docker.io", "user/app_x__y-z.v", "Tag_1.0-rc")),
    ("localhost/app", ImageRef("localhost", "app", "latest")),
    ("localhost:5000/team/app:v1", ImageRef("localhost:5000", "team/app", "v1")),
    ("registry.k8s.io/pause:3.9", ImageRef("registry.k8s.io", "pause", "3.9")),
    ("[::1]:5000/app", ImageRef("[::1]:5000", "app", "latest")),
    (f"busybox@sha256:{SHA}", ImageRef("docker.io", "library/busybox", "", f"sha256:{SHA}")),
    (f"quay.io/a/b:1@sha512:{'0' * 128}", ImageRef("quay.io", "a/b", "1", f"sha512:{'0' * 128}")),
])
def test_references_in_the_grammar(text: str, ref: ImageRef) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text, why", [
    ("busybox@/tmp/x", "invalid reference format"),
    ("busybox:..", "invalid reference format"),
    ("busybox:.", "invalid reference format"),
    ("../x", "invalid reference format"),
    ("x/../y", "invalid reference format"),
    ("/busybox", "invalid reference format"),
    ("busybox/", "invalid reference format"),
    ("busybox@sha256:short", "invalid reference format"),
    (f"busybox@sha256:{'A' * 64}", "invalid checksum digest format"),
    (f"busybox@sha256:{SHA}0", "invalid checksum digest format"),
    (f"busybox@md5:{'a' * 32}", "unsupported digest algorithm"),
    ("Busybox", "repository name must be lowercase"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("a" * 256, "repository name must not be more than 255 characters"),
    (SHA, "cannot specify 64-byte hexadecimal strings"),
    ("", "invalid reference format"),
    (" busybox", "invalid reference format"),
    ("busybox\n", "invalid reference format"),
    ("busybox:1\0", "invalid reference format"),
    ("büsybox", "invalid reference format"),
    ("busybox:ta\u0433", "invalid reference format"),  # \w of the tag is ASCII only
])
def test_hostile_references_are_refused_with_the_kubelet_message(text: str, why: str) -> None:
    with pytest.raises(InvalidImageName) as e:
        parse_ref(text)
    assert e.value.message.startswith(f'Failed to apply default image tag "{text}": couldn\'t parse image name "{text}": ')
    assert why in e.value.message
    assert isinstance(e.value, ImageError)


def test_a_refused_reference_never_reaches_a_host_path(tmp_path) -> None:
    # An "image" the hostile reference would name if it were joined to a path: it must stay unread.
    target = tmp_path / "hostile"
    target.mkdir()
    (target / "config.json").write_text(json.dumps({"config": {"Cmd": ["/bin/evil"]}}))
    images = tmp_path / "images"
    images.mkdir()
    store = ImageStore(str(images))
    for text in (f"busybox@{target}", f"busybox:..{target}", f"../../..{target}"):
        with pytest.raises(InvalidImageName):
            store.runnable(text)
    # References name images by the index only: nothing is looked up under a path made of them.
    for text in ("busybox", f"busybox@sha256:{SHA}", "localhost:5000/a/b:c.d"):
        assert store.find(text) is None
    assert sorted(p.name for p in images.iterdir()) == []


@pytest.mark.parametrize("value, ok", [
    ("default", True), ("kube-system", True), ("a" * 63, True), ("0", True),
    ("../x", False), ("a/b", False), ("a.b", False), ("A", False), ("-a", False), ("a_b", False),
    ("", False), ("a" * 64, False), ("a\n", False), (".", False), ("..", False),
    ("web/../x", False), ("web/x", False), ("web/", False),  # a valid prefix is not a valid name
])
def test_namespace_is_a_dns_label(value: str, ok: bool) -> None:
    assert valid_label(value) is ok


@pytest.mark.parametrize("value", ["../x", "a/b", "x\n", "..", "A", "a_b", "", "web/../x", "web/x", "web.", "web\n"])
def test_pod_name_must_be_a_dns_subdomain(value: str, tmp_path) -> None:
    assert not valid_name(value)
    assert not pod_exists(str(tmp_path), "default", value)


def test_listing_skips_directories_that_are_not_pod_keys(tmp_path) -> None:
    pods = tmp_path / "pods"
    for key in ("default_web", "a.b_web", "..", "default_x\n", "kube-system_db.1"):
        (pods / key).mkdir(parents=True, exist_ok=True)
    assert list_pod_keys(str(tmp_path)) == ["default_web", "kube-system_db.1"]
    with pytest.raises(ValueError):
        layout_for_key(str(tmp_path), "a.b_web")


VERBS_WITH_NAMESPACE = {
    "get": ["pods"], "describe": ["pod", "x"], "logs": ["x"], "exec": ["x"], "delete": ["pod", "x"],
    "wait": ["pod/x", "--for=delete"], "top": ["pod"],
}


@pytest.mark.parametrize("verb", sorted(VERBS_WITH_NAMESPACE))
@pytest.mark.parametrize("namespace", ["../../x", "a/b", "Default", "a.b", ""])
def test_every_verb_refuses_a_bad_namespace(verb: str, namespace: str) -> None:
    module = importlib.import_module(f"pyrunc.cli.{verb}_cmd")
    parser = Parser(prog=f"pyrunc {verb}")
    module.add_arguments(parser)
    with pytest.raises(PyruncError) as e:
        parser.parse_args([*VERBS_WITH_NAMESPACE[verb], "-n", namespace])
    assert e.value.message.startswith(f'-n/--namespace: Invalid value: "{namespace}"')
    args = parser.parse_args([*VERBS_WITH_NAMESPACE[verb], "--namespace", "kube-system"])
    assert args.namespace == "kube-system"


def test_bad_namespace_is_one_line_and_exit_1(tmp_path, capsys) -> None:
    root = tmp_path / "root"
    assert main(["--root", str(root), "get", "pods", "-n", "../../etc"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith('error: -n/--namespace: Invalid value: "../../etc": ')
    assert not root.exists()  # nothing was made or read under the root


def test_get_of_a_hostile_pod_name_is_not_found(tmp_path, capsys) -> None:
    (tmp_path / "secret").mkdir()
    assert main(["--root", str(tmp_path / "root"), "get", "pod", "../../secret", "-o", "json"]) == 1
    assert capsys.readouterr().err == 'Error from server (NotFound): pods "../../secret" not found\n'
