"""A second pull of an image already in the store (what the Always policy runs for a second pod)
writes no image content: no blob, no layer, no index.json rewrite; it reads no layer blob.

Against a real registry on 127.0.0.1 (Debian's docker-registry), the image pushed by skopeo.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyrunc.config import NodeConfig
from pyrunc.images.pull import pull_image
from tests.imagekit import File, ImageSpec, Layer, Layout, busybox_layer, host_arch
from tests.registry_fixture import Registry, missing_tools, push_layout, registry, registry_factory  # noqa: F401

pytestmark = [pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "-"), pytest.mark.root]


def listing(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """path -> (inode, size, mtime_ns, ctime_ns) of everything under root but locks/ (flock files)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if not rel.startswith("locks"):
                st = os.lstat(path)
                out[rel] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return out


def test_a_second_pull_writes_no_image_content(tmp_path: Path, registry: Registry) -> None:  # noqa: F811
    layout = Layout(tmp_path / "oci")
    layout.add(ImageSpec("app:v1", [busybox_layer(tmp_path), Layer([File("etc/app", b"app\n" * 1000)], "gzip")],
                         architecture=host_arch()))
    push_layout(registry, layout.close(), "app:v1", "app:v1")
    store = tmp_path / "store"
    cfg = NodeConfig(root=str(tmp_path / "root"), images_dir=str(store))
    first = pull_image(cfg, f"{registry.host}/app:v1")
    layer_blobs = [store / "blobs" / "sha256" / d.digest[7:] for d in first.layers]
    for blob in layer_blobs:  # atime at the epoch: with relatime (or strictatime) the next read moves it
        os.utime(blob, ns=(0, blob.stat().st_mtime_ns))
    before = listing(store)

    second = pull_image(cfg, f"{registry.host}/app:v1")

    after = listing(store)
    assert second.id == first.id
    used = f"used/{first.id[7:]}"  # the image's last use (for the collector's order): its mtime moves
    assert {p: v for p, v in after.items() if p != used} == {p: v for p, v in before.items() if p != used}
    assert [b.stat().st_atime_ns for b in layer_blobs] == [0] * len(layer_blobs)
