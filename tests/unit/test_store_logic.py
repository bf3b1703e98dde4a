"""The image store's bookkeeping (images/store.py) on a temporary store: names, ids, leases, removal,
sweeping and garbage collection. Images come from OCI layouts built byte for byte (tests/imagekit.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pyrunc.errors import ImageError
from pyrunc.images.archive import open_archive
from pyrunc.images.store import ImageStore, NotPresent
from tests import imagekit as k

pytestmark = pytest.mark.root  # unpacking sets owners and makes device nodes


def _ingest(store: ImageStore, tmp: Path, name: str, *layers: k.Layer) -> str:
    layout = k.write_layout(tmp / f"layout-{name.replace(':', '-').replace('/', '-')}",
                            [k.ImageSpec(name, list(layers), architecture=k.host_arch())])
    (item,) = open_archive(str(layout))
    return store.ingest(item.source, item.names).id


BASE = k.Layer([k.File("bin/tool", b"#!/bin/sh\n", mode=0o755), k.Dir("etc")], compression="")


def test_names_ids_and_shared_layers(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    a = _ingest(store, tmp_path, "a:v1", BASE, k.Layer([k.File("etc/a", b"a")]))
    b = _ingest(store, tmp_path, "b:v1", BASE, k.Layer([k.File("etc/b", b"b")]))
    assert len(os.listdir(tmp_path / "store" / "layers")) == 3  # BASE unpacked once, shared
    assert store.find("a:v1").id == a and store.find("docker.io/library/a:v1").id == a  # type: ignore[union-attr]
    assert store.find(a).id == a and store.find(a[7:19]).id == a  # type: ignore[union-attr]
    assert store.find("c:v1") is None and store.find("a:v2") is None
    img = store.runnable("b:v1")
    assert img.image_id == b and len(img.layers) == 2
    assert (Path(img.layers[0]) / "etc" / "b").read_bytes() == b"b"  # topmost first
    assert (Path(img.layers[1]) / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    repo = img.repo_digest
    assert repo.startswith("docker.io/library/b@sha256:") and store.find(repo).id == b  # type: ignore[union-attr]
    with pytest.raises(NotPresent):
        store.runnable("c:v1")


def test_a_lease_keeps_an_image_until_released(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    image_id = _ingest(store, tmp_path, "a:v1", BASE)
    owner = tmp_path / "pods" / "default_web" / "containers" / "c"
    owner.mkdir(parents=True)
    store.lease("cid1", "a:v1", str(owner))
    with pytest.raises(ImageError, match="in use by 1 container.*container c of pod default/web"):
        store.remove("a:v1")
    assert store.prune(all_unused=True).removed == ()
    assert store.find("a:v1") is not None
    store.release("cid1")
    assert store.remove("a:v1") == (["docker.io/library/a:v1"], [image_id])
    assert store.find(image_id) is None
    assert os.listdir(tmp_path / "store" / "layers") == [] and os.listdir(tmp_path / "store" / "blobs" / "sha256") == []


def test_a_lease_whose_container_is_gone_does_not_count(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    _ingest(store, tmp_path, "a:v1", BASE)
    owner = tmp_path / "gone"
    owner.mkdir()
    store.lease("cid1", "a:v1", str(owner))
    owner.rmdir()  # a crashed supervisor's container, a root lost with a reboot
    assert store.leases() == {}
    assert not os.listdir(tmp_path / "store" / "leases")
    store.remove("a:v1")


def test_release_under_a_pod_directory(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    _ingest(store, tmp_path, "a:v1", BASE)
    for c in ("x", "y"):
        (tmp_path / "pod" / "containers" / c).mkdir(parents=True)
        store.lease(f"cid-{c}", "a:v1", str(tmp_path / "pod" / "containers" / c))
    (tmp_path / "pod2" / "containers" / "z").mkdir(parents=True)
    store.lease("cid-z", "a:v1", str(tmp_path / "pod2" / "containers" / "z"))
    store.release_under(str(tmp_path / "pod"))
    assert sorted(os.listdir(tmp_path / "store" / "leases")) == ["cid-z.json"]


def test_untagging_one_of_two_names_keeps_the_content(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    image_id = _ingest(store, tmp_path, "a:v1", BASE)
    _ingest(store, tmp_path, "a:v2", BASE)  # the same image under a second name
    assert store.find("a:v1").names == ("docker.io/library/a:v1", "docker.io/library/a:v2")  # type: ignore[union-attr]
    assert store.remove("a:v1") == (["docker.io/library/a:v1"], [])
    assert store.runnable("a:v2").image_id == image_id
    assert store.remove(image_id[7:19]) == (["docker.io/library/a:v2"], [image_id])  # by id: every name


def test_sweep_removes_what_nothing_refers_to(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    _ingest(store, tmp_path, "a:v1", BASE)
    root = tmp_path / "store"
    (root / "blobs" / "sha256" / ("0" * 64)).write_bytes(b"orphan")
    (root / "layers" / ("1" * 20)).mkdir()
    (root / "tmp" / "999999999-1-1").mkdir()  # a dead process's unpacking
    mine = root / "tmp" / f"{os.getpid()}-1-1"
    mine.mkdir()  # a live process's: kept
    old = root / "ingest" / ("2" * 64 + ".partial")
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    fresh = root / "ingest" / ("3" * 64 + ".partial")
    fresh.write_bytes(b"x")
    (root / "index.json.tmp.999999999.3").write_bytes(b"{")  # a writer killed before its rename
    (root / f"index.json.tmp.{os.getpid()}.4").write_bytes(b"{")  # a live one's: kept
    assert store.sweep() > 0
    assert not (root / "index.json.tmp.999999999.3").exists() and (root / f"index.json.tmp.{os.getpid()}.4").exists()
    assert not (root / "blobs" / "sha256" / ("0" * 64)).exists() and not (root / "layers" / ("1" * 20)).exists()
    assert sorted(os.listdir(root / "tmp")) == [mine.name]
    assert sorted(os.listdir(root / "ingest")) == [fresh.name]
    assert store.runnable("a:v1")  # what is referenced stays


def test_garbage_collection_removes_unused_images_least_recently_used_first(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    old = _ingest(store, tmp_path, "old:v1", k.Layer([k.File("o", b"o")]))
    new = _ingest(store, tmp_path, "new:v1", k.Layer([k.File("n", b"n")]))
    used = _ingest(store, tmp_path, "used:v1", k.Layer([k.File("u", b"u")]))
    now = time.time()
    os.utime(tmp_path / "store" / "used" / old[7:], (now - 1000,) * 2)
    os.utime(tmp_path / "store" / "used" / new[7:], (now - 500,) * 2)
    (tmp_path / "c").mkdir()
    store.lease("cid", "used:v1", str(tmp_path / "c"))
    assert store.collect(high=100, low=100, min_age=0).removed == ()  # below the high threshold: nothing
    # Above it (0 %), and never below the low one: every unused image, oldest first; not the young one.
    assert store.collect(high=0, low=0, min_age=600, now=now).removed == (old,)
    assert store.collect(high=0, low=0, min_age=0, now=now).removed == (new,)
    assert [i.id for i in store.images()] == [used]


def test_the_store_is_roots_alone(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    _ingest(store, tmp_path, "a:v1", k.Layer([k.File("bin/su", b"x", mode=0o4755)]))
    assert os.stat(tmp_path / "store").st_mode & 0o777 == 0o700
