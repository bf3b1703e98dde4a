"""The image store as a user drives it: `pyrunc image pull|ls|inspect|rm|prune|gc|import` through the
real CLI, against a real registry on 127.0.0.1 (Debian's docker-registry), each test with a store and
a registry of its own. Every outcome is checked from the host: the files of the store, a sentinel
directory next to it (hostile layers write nothing outside), the registry's requests (CutProxy).

The CLI runs with PYRUNC_IMAGES pointing at the test's store and a `--root` of its own whose
config.json sets `offline: true` (no registry off this host is ever contacted). Pods (images in
use, imported images that run) come from tests/integration/helpers.py's Node with `images_dir=`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.imagekit import (
    File, Hardlink, ImageSpec, Layer, Layout, Raw, Symlink, busybox_layer, docker_archive, gzip_bomb, host_arch,
)
from tests.integration.helpers import PYRUNC, REPO, WAIT, Node, _node, poll, pod_yaml
from tests.registry_fixture import (
    CutProxy,
    Registry,
    free_port,
    missing_tools,
    push_layout,
    registry,  # noqa: F401 (a fixture)
    registry_factory,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "-")]

# Keeps the sleeping containers quick to stop: sh traps TERM.
SLEEP = "trap 'exit 0' TERM; sleep 3600 & wait"


# ------------------------------------------------------------------------------------------ helpers

class Store:
    """A store of the test's own, the CLI pointed at it, and a sentinel directory beside it."""

    def __init__(self, base: Path, **settings: Any) -> None:
        self.dir = base / "store"
        self.root = base / "cli-root"
        self.root.mkdir(parents=True)
        (self.root / "config.json").write_text(json.dumps({"offline": True, **settings}))
        self.sentinel = base / "sentinel"
        self.sentinel.mkdir()
        (self.sentinel / "file").write_text("the host's own file\n")

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [*PYRUNC, "--root", str(self.root), "image", *args]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PYRUNC_IMAGES": str(self.dir)}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self._argv(args), capture_output=True, text=True, timeout=120, cwd=str(REPO),
                              env=self._env())
        if check and proc.returncode != 0:
            raise AssertionError(f"pyrunc image {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self._argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=str(REPO), env=self._env())

    def fails(self, *args: str) -> str:
        """Run a verb that must fail: exit 1, one `error:` line (a `hint:` line may follow), no
        traceback. Returns the error line."""
        proc = self.cli(*args, check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
        assert lines and lines[0].startswith("error: "), proc.stderr
        assert all(line.startswith("hint: ") for line in lines[1:]), proc.stderr
        assert "Traceback" not in proc.stderr
        return lines[0]

    # -- what is on disk -------------------------------------------------------------------
    def ls(self, sub: str) -> set[str]:
        d = self.dir / sub
        return set(os.listdir(d)) if d.is_dir() else set()

    def blobs(self) -> set[str]:
        return {f"sha256:{n}" for n in self.ls("blobs/sha256")}

    def layers(self) -> set[str]:
        return self.ls("layers")

    def layer_inodes(self) -> dict[str, int]:
        return {n: os.stat(self.dir / "layers" / n / "diff").st_ino for n in self.layers()}

    def index_names(self) -> list[str]:
        try:
            doc = json.loads((self.dir / "index.json").read_text())
        except FileNotFoundError:
            return []
        return [m.get("annotations", {}).get("org.opencontainers.image.ref.name", "") for m in doc["manifests"]]

    def referenced(self) -> tuple[set[str], set[str]]:
        """(blobs, layer directories) the images of index.json refer to, read from the store's files."""
        doc = json.loads((self.dir / "index.json").read_text())
        blobs: set[str] = set()
        layers: set[str] = set()
        for entry in doc["manifests"]:
            blobs.add(entry["digest"])
            manifest = json.loads(self.blob(entry["digest"]))
            blobs |= {manifest["config"]["digest"]} | {lay["digest"] for lay in manifest["layers"]}
            config = json.loads(self.blob(manifest["config"]["digest"]))
            layers |= {d.split(":")[1][:20] for d in config["rootfs"]["diff_ids"]}
        return blobs, layers

    def blob(self, digest: str) -> bytes:
        return (self.dir / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()

    def assert_whole(self) -> None:
        """Under a final name only whole content: every blob matches its digest, every layer
        directory has the diff_id it is named by."""
        for digest in self.blobs():
            assert "sha256:" + hashlib.sha256(self.blob(digest)).hexdigest() == digest
        for name in self.layers():
            diff_id = (self.dir / "layers" / name / "diff_id").read_text()
            assert diff_id.startswith(f"sha256:{name}"), (name, diff_id)

    def assert_only_referenced(self) -> None:
        """No blob, layer directory, staging directory or partial download beyond what the index uses."""
        blobs, layers = self.referenced()
        assert self.blobs() == blobs
        assert self.layers() == layers
        assert self.ls("tmp") == set()
        assert self.ls("ingest") == set()

    def sentinel_state(self) -> list[tuple[str, int, int, int, bytes]]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.sentinel):
            for name in sorted(dirnames + filenames):
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                data = Path(p).read_bytes() if os.path.isfile(p) and not os.path.islink(p) else b""
                out.append((os.path.relpath(p, self.sentinel), st.st_mode, st.st_nlink, st.st_ino, data))
        return sorted(out)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


@pytest.fixture
def proxies() -> Iterator[Callable[[Registry], CutProxy]]:
    """start(registry) -> a CutProxy in front of it; every proxy is stopped at teardown."""
    started: list[CutProxy] = []

    def start(reg: Registry) -> CutProxy:
        started.append(CutProxy(reg.port))
        return started[-1]

    yield start
    for p in started:
        p.stop()


def spec(name: str, layers: list[Layer], cmd: list[str] | None = None) -> ImageSpec:
    return ImageSpec(name, layers, cmd=cmd or ["sh"], architecture=host_arch())


def push(reg: Registry, tmp: Path, specs: list[ImageSpec], aliases: dict[str, list[str]] | None = None) -> Path:
    """A layout of `specs` pushed to `reg` under their names (and the aliases given per name)."""
    lay = Layout(tmp / f"layout-{len(list(tmp.glob('layout-*')))}")
    for s in specs:
        lay.add(s)
    path = lay.close()
    for s in specs:
        for dest in [s.name, *(aliases or {}).get(s.name, [])]:
            push_layout(reg, path, s.name, dest)
    return path


def manifest_of(layout: Path, name: str) -> dict[str, Any]:
    for m in json.loads((layout / "index.json").read_text())["manifests"]:
        if m["annotations"]["org.opencontainers.image.ref.name"] == name:
            return dict(json.loads((layout / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes()))
    raise KeyError(name)


def noise(n: int, seed: bytes = b"") -> bytes:
    """`n` bytes that do not compress (so a blob is as large as asked), deterministic."""
    out = bytearray()
    block = hashlib.sha256(seed).digest()
    while len(out) < n:
        block = hashlib.sha512(block).digest()
        out += block
    return bytes(out[:n])


@dataclass
class BlobLayer(Layer):
    """A layer given as its compressed blob (a decompression bomb)."""

    blob_bytes: bytes = b""

    def blob(self) -> tuple[bytes, bytes]:
        return gzip.decompress(self.blob_bytes), self.blob_bytes


# ----------------------------------------------------------------------------- 1. hostile layers

def _raw(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"") -> Raw:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, linkname, len(data), 0o644
    return Raw(info, data)


# store/tmp/<staging>/diff/ is where a layer is unpacked: four `..` reach the directory holding the
# store and the sentinel.
UP = "../../../../"
HOSTILE: dict[str, tuple[Callable[[Path], list[Any]], str]] = {
    "tar-slip": (lambda s: [_raw(f"{UP}sentinel/slipped", data=b"x")], ".."),
    "absolute name": (lambda s: [_raw(f"{s}/absolute", data=b"x")], "absolute"),
    "file through a symlink": (lambda s: [Symlink("escape", str(s)), File("escape/through", b"x")], "symlink"),
    "relative symlink then a file": (lambda s: [Symlink("up", UP + "sentinel"), File("up/through", b"x")],
                                     "symlink"),
    "hard link out": (lambda s: [_raw("linked", tarfile.LNKTYPE, f"{UP}sentinel/file"),
                                 File("linked", b"overwritten\n")], "link"),
    "hard link through a symlink": (lambda s: [Symlink("up", str(s)), Hardlink("linked", "up/file"),
                                               File("linked", b"overwritten\n")], "link"),
    "absolute hard link": (lambda s: [_raw("linked", tarfile.LNKTYPE, f"{s}/file"),
                                      File("linked", b"overwritten\n")], "link"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_layer_is_refused_and_nothing_is_written_outside(
        case: str, store: Store, registry: Registry, tmp_path: Path) -> None:
    entries, word = HOSTILE[case]
    before = store.sentinel_state()
    push(registry, tmp_path, [spec("evil:v1", [Layer([File("etc/motd", b"fine\n")]),
                                               Layer(entries(store.sentinel))])])
    line = store.fails("pull", f"{registry.host}/evil:v1")
    assert word in line.lower() and "layer" in line, line
    assert store.sentinel_state() == before
    assert store.index_names() == []
    assert store.ls("tmp") == set()
    # The harmless layer beside it may be unpacked (it is content like any other); the hostile one is not.
    assert len(store.layers()) <= 1
    assert store.ls("ingest") == set()
    # What the failed pull left is unreferenced content: prune takes it all.
    store.cli("prune")
    assert store.blobs() == set() and store.layers() == set()


def test_a_decompression_bomb_is_stopped_by_the_node_limit(registry: Registry, tmp_path: Path) -> None:
    store = Store(tmp_path, image_max_layer_bytes=4 << 20)
    before = store.sentinel_state()
    bomb = gzip_bomb(32 << 20)
    assert len(bomb) < 1 << 20
    push(registry, tmp_path, [spec("bomb:v1", [BlobLayer(compression="gzip", blob_bytes=bomb)])])
    line = store.fails("pull", f"{registry.host}/bomb:v1")
    assert "limit" in line or "large" in line or "bytes" in line, line
    assert store.sentinel_state() == before
    assert store.index_names() == [] and store.layers() == set() and store.ls("tmp") == set()
    # The same image within a node's default limit unpacks: the refusal was the limit.
    Store(tmp_path / "roomy").cli("pull", f"{registry.host}/bomb:v1")


# ----------------------------------------------------------------------------- 2. a corrupted blob

def test_a_corrupted_blob_fails_the_pull_and_stores_nothing(store: Store, registry: Registry,
                                                           tmp_path: Path) -> None:
    layout = push(registry, tmp_path, [spec("app:v1", [Layer([File("etc/data", noise(50_000))], "")])])
    layer = manifest_of(layout, "app:v1")["layers"][0]["digest"]
    blob = registry.blob_path(layer)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, other bytes
    blob.write_bytes(bytes(data))
    line = store.fails("pull", f"{registry.host}/app:v1")
    assert "digest" in line and layer in line, line
    assert layer not in store.blobs()
    assert store.ls("ingest") == set() and store.ls("tmp") == set() and store.layers() == set()
    assert store.index_names() == []


# ----------------------------------------------------------------------------- 3. interrupted pulls

def test_a_cut_transfer_is_resumed_with_a_range_request(store: Store, registry: Registry, tmp_path: Path,
                                                        proxies: Callable[[Registry], CutProxy]) -> None:
    layout = push(registry, tmp_path, [spec("app:v1", [Layer([File("data/big", noise(1 << 20))], "")])])
    layer = manifest_of(layout, "app:v1")["layers"][0]["digest"]
    proxy = proxies(registry)
    proxy.cut(layer, 300_000)
    store.cli("pull", f"{proxy.host}/app:v1")
    ranges = proxy.ranges(f"/blobs/{layer}")
    assert ranges[0] == "" and len(ranges) == 2, ranges
    start = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 300_000, ranges
    assert store.index_names() == [f"{proxy.host}/app:v1"]
    assert (store.dir / "layers").is_dir() and len(store.layers()) == 1
    assert store.blob(layer) == registry.blob_path(layer).read_bytes()
    store.assert_only_referenced()


def test_a_killed_pull_leaves_only_a_partial_and_the_next_pull_resumes(
        store: Store, registry: Registry, tmp_path: Path, proxies: Callable[[Registry], CutProxy]) -> None:
    layout = push(registry, tmp_path, [spec("app:v1", [Layer([File("etc/small", b"small\n")]),
                                                       Layer([File("data/big", noise(1 << 20))], "")])])
    layer = manifest_of(layout, "app:v1")["layers"][1]["digest"]
    proxy = proxies(registry)
    proxy.stall(layer, 200_000)  # the transfer hangs there (never released: the pull is killed)
    name = f"{proxy.host}/app:v1"
    pull = store.popen("pull", name)
    partial = store.dir / "ingest" / (layer.split(":")[1] + ".partial")
    try:
        # Killed once the small layer is done (unpacked) and part of the big one has arrived: what is
        # left half-made is then that part alone, whatever the order the two layers were fetched in.
        poll("the partial download", lambda: partial.exists() and partial.stat().st_size > 0
             and len(store.layers()) == 1)
    finally:
        pull.send_signal(signal.SIGKILL)
        pull.communicate(timeout=WAIT)
    kept = partial.stat().st_size
    assert 0 < kept <= 200_000
    # Only ingest/ and tmp/ hold what the kill left half-made: no name, no blob or layer of the big
    # one; what is under a final name (the manifest, the config, the small layer) is whole.
    assert store.index_names() == []
    assert layer not in store.blobs()
    assert store.ls("ingest") == {partial.name}
    assert all(n.startswith(f"{pull.pid}-") for n in store.ls("tmp")), store.ls("tmp")
    store.assert_whole()
    big_layer = json.loads(store.blob(manifest_of(layout, "app:v1")["config"]["digest"]))["rootfs"]["diff_ids"][1]
    assert big_layer.split(":")[1][:20] not in store.layers()

    store.cli("pull", name)
    assert proxy.ranges(f"/blobs/{layer}") == ["", f"bytes={kept}-"]
    assert store.index_names() == [name]
    assert store.blob(layer) == registry.blob_path(layer).read_bytes()
    store.cli("prune")
    assert store.index_names() == [name]
    store.assert_only_referenced()
    store.assert_whole()
    assert len(store.layers()) == 2


def test_ctrl_c_stops_a_stalled_pull_at_once(registry: Registry, tmp_path: Path,
                                             proxies: Callable[[Registry], CutProxy]) -> None:
    # A registry timeout longer than the wait below: the pull can only end through the interrupt.
    store = Store(tmp_path, registry_timeout=600)
    layout = push(registry, tmp_path, [spec("app:v1", [Layer([File("data/big", noise(1 << 20))], "")])])
    layer = manifest_of(layout, "app:v1")["layers"][0]["digest"]
    proxy = proxies(registry)
    hold = proxy.stall(layer, 100_000)
    pull = store.popen("pull", f"{proxy.host}/app:v1")
    partial = store.dir / "ingest" / (layer.split(":")[1] + ".partial")
    try:
        poll("the partial download", lambda: partial.exists() and partial.stat().st_size > 0)
        pull.send_signal(signal.SIGINT)
        out, err = pull.communicate(timeout=WAIT)
    finally:
        if pull.poll() is None:
            pull.kill()
            pull.communicate()
        hold.set()
    assert pull.returncode == 130 and "Traceback" not in err, err
    assert layer not in store.blobs() and store.layers() == set() and store.index_names() == []
    assert partial.exists()  # kept for the next pull to resume


# ----------------------------------------------------------------------------- 4. concurrent pulls

def test_two_concurrent_pulls_download_each_blob_once(store: Store, registry: Registry, tmp_path: Path,
                                                      proxies: Callable[[Registry], CutProxy]) -> None:
    layout = push(registry, tmp_path, [spec("app:v1", [Layer([File("etc/a", noise(100_000, b"a"))], ""),
                                                       Layer([File("etc/b", noise(200_000, b"b"))], ""),
                                                       Layer([File("etc/c", b"c\n")])])])
    manifest = manifest_of(layout, "app:v1")
    blobs = [manifest["config"]["digest"]] + [lay["digest"] for lay in manifest["layers"]]
    proxy = proxies(registry)
    # The first layer's transfer holds until both pulls have asked for the manifest: the second one
    # then meets the first mid-pull, not after it.
    hold = proxy.stall(blobs[1], 10_000)
    name = f"{proxy.host}/app:v1"
    pulls = [store.popen("pull", name), store.popen("pull", name)]
    try:
        poll("both pulls resolving the manifest", lambda: proxy.count("/manifests/") >= 2)
    finally:
        hold.set()
        outcomes = [p.communicate(timeout=WAIT * 2) for p in pulls]
    for p, (out, err) in zip(pulls, outcomes):
        assert p.returncode == 0, err
    for digest in blobs:
        assert proxy.count(f"/blobs/{digest}") == 1, (digest, proxy.requests)
    assert store.index_names() == [name]
    assert len(store.layers()) == 3
    store.assert_only_referenced()


# ----------------------------------------------------------------------------- 5. ls, inspect, rm, prune, gc

def _import_unnamed(store: Store, tmp: Path) -> str:
    """A docker-archive without RepoTags imported: an image without a name (`<none>`); returns its id."""
    archive = docker_archive(tmp / "unnamed.tar", [(spec("", [Layer([File("etc/unnamed", b"u\n")], "")]), [])])
    out = store.cli("import", "-q", str(archive)).stdout.split()
    assert len(out) == 1 and out[0].startswith("sha256:"), out
    return out[0]


def test_ls_inspect_rm_untag_and_prune(store: Store, registry: Registry, tmp_path: Path) -> None:
    layout = push(registry, tmp_path, [spec("app:v1", [Layer([File("etc/app", b"app\n")]),
                                                       Layer([File("etc/more", noise(3000))], "")]),
                                       spec("small:v1", [Layer([File("etc/small", b"small\n")])])],
                  aliases={"app:v1": ["alias:v2"]})
    app, alias, small = (f"{registry.host}/{n}" for n in ("app:v1", "alias:v2", "small:v1"))
    for n in (app, alias, small):
        store.cli("pull", "-q", n)
    unnamed = _import_unnamed(store, tmp_path)

    info = json.loads(store.cli("inspect", app).stdout)
    m = manifest_of(layout, "app:v1")
    assert info["id"] == m["config"]["digest"]
    assert sorted(info["repoTags"]) == sorted([app, alias])
    assert [lay["digest"] for lay in info["layers"]] == [lay["digest"] for lay in m["layers"]]
    config = json.loads(store.blob(info["id"]))
    assert [lay["diffID"] for lay in info["layers"]] == config["rootfs"]["diff_ids"]
    manifest_size = len(store.blob(info["digest"]))
    assert info["size"] == manifest_size + m["config"]["size"] + sum(lay["size"] for lay in m["layers"])
    assert info["inUse"] == 0

    rows = [line.split() for line in store.cli("ls").stdout.splitlines()]
    assert rows[0] == ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]
    by_name = {(r[0], r[1]): r[2] for r in rows[1:]}
    short = info["id"][7:20]
    assert by_name[(f"{registry.host}/app", "v1")] == short
    assert by_name[(f"{registry.host}/alias", "v2")] == short
    assert by_name[("<none>", "<none>")] == unnamed[7:20]
    sizes = {r[2]: r[3] for r in rows[1:]}
    assert 1000 <= info["size"] < 1_000_000 and sizes[short] == f"{info['size'] / 1000:.3g}kB", (info, rows)
    assert len(rows) == 5
    assert sorted(store.cli("ls", "-q", "--no-trunc").stdout.split()) == sorted(
        {info["id"], unnamed, json.loads(store.cli("inspect", small).stdout)["id"]})

    # Untagging one of two names keeps the content.
    blobs, layers = store.blobs(), store.layers()
    out = store.cli("rm", alias).stdout
    assert out == f"Untagged: {alias}\n"
    assert store.blobs() == blobs and store.layers() == layers
    assert sorted(json.loads(store.cli("inspect", app).stdout)["repoTags"]) == [app]

    # By a prefix of the id: every name goes, then the content only that image used.
    small_id = json.loads(store.cli("inspect", small).stdout)["id"]
    out = store.cli("rm", small_id[7:19]).stdout
    assert out == f"Untagged: {small}\nDeleted: {small_id}\n"
    assert small_id not in store.blobs()
    store.assert_only_referenced()
    store.fails("inspect", small)

    # prune: only the image without a name; prune -a: every unused one.
    out = store.cli("prune").stdout
    assert f"deleted: {unnamed}" in out and info["id"] not in out
    assert unnamed not in store.blobs() and app in store.index_names()
    store.assert_only_referenced()
    out = store.cli("prune", "-a").stdout
    assert f"deleted: {info['id']}" in out
    assert store.index_names() == [] and store.blobs() == set() and store.layers() == set()
    assert store.cli("ls", "-q").stdout == ""


@pytest.fixture
def pod_node(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path / "node", images_dir=str(tmp_path / "store"))


def test_an_image_in_use_is_refused_by_rm_prune_and_gc(registry: Registry, tmp_path: Path,
                                                        pod_node: Node) -> None:
    store = Store(tmp_path, image_gc_high_threshold=0, image_gc_low_threshold=0, image_minimum_gc_age=0)
    push(registry, tmp_path, [spec("app:v1", [busybox_layer(tmp_path), Layer([File("etc/app", b"app\n")])]),
                              spec("other:v1", [Layer([File("etc/other", b"other\n")])]),
                              spec("third:v1", [Layer([File("etc/third", b"third\n")])])])
    app, other, third = (f"{registry.host}/{n}" for n in ("app:v1", "other:v1", "third:v1"))
    store.cli("pull", app)
    store.cli("pull", other)
    app_id = json.loads(store.cli("inspect", app).stdout)["id"]
    pod_node.apply(pod_yaml("user", f"  - name: c\n    image: {app}\n    imagePullPolicy: Never\n"
                                    f"    command: [sh, -c, \"{SLEEP}\"]\n"))
    pod_node.wait_running("user")
    assert json.loads(store.cli("inspect", app).stdout)["inUse"] == 1

    line = store.fails("rm", app)
    assert "in use" in line and "user" in line, line
    line = store.fails("rm", app_id[7:19])
    assert "in use" in line, line
    # As docker rmi: every name is tried, and the status says that one could not go.
    proc = store.cli("rm", app, other, check=False)
    assert proc.returncode == 1 and "in use" in proc.stderr and f"Untagged: {other}" in proc.stdout, proc
    out = store.cli("prune", "-a").stdout
    assert app_id not in out and store.index_names() == [app]
    store.cli("pull", third)
    out = store.cli("gc").stdout
    assert app_id not in out and len(out.splitlines()) == 1  # third went, app stays
    assert store.index_names() == [app]
    store.assert_only_referenced()
    # The pod still runs on its layers.
    assert pod_node.exec("user", "c", "cat", "/etc/app").stdout == "app\n"

    pod_node.delete("user")
    assert store.cli("rm", app).stdout == f"Untagged: {app}\nDeleted: {app_id}\n"
    assert store.index_names() == [] and store.blobs() == set() and store.layers() == set()
    assert store.ls("leases") == set()


def test_gc_removes_an_image_once_its_pod_is_gone(registry: Registry, tmp_path: Path, pod_node: Node) -> None:
    store = Store(tmp_path, image_gc_high_threshold=0, image_gc_low_threshold=0, image_minimum_gc_age=0)
    push(registry, tmp_path, [spec("app:v1", [busybox_layer(tmp_path)])])
    app = f"{registry.host}/app:v1"
    store.cli("pull", app)
    pod_node.apply(pod_yaml("user", f"  - name: c\n    image: {app}\n    imagePullPolicy: Never\n"
                                    f"    command: [sh, -c, \"{SLEEP}\"]\n"))
    pod_node.wait_running("user")
    assert store.cli("gc").stdout == ""
    assert store.index_names() == [app]
    pod_node.delete("user")
    assert store.cli("gc").stdout.startswith("deleted: sha256:")
    assert store.index_names() == [] and store.blobs() == set() and store.layers() == set()


# ----------------------------------------------------------------------------- 6. import, then run

def test_imported_archives_and_a_rootfs_tarball_run_and_share_layers(store: Store, tmp_path: Path,
                                                                     pod_node: Node) -> None:
    base = busybox_layer(tmp_path, compression="")

    def says(word: str) -> list[str]:
        return ["sh", "-c", f"cat /etc/which; echo {word}; {SLEEP}"]

    dock = docker_archive(tmp_path / "docker.tar", [(spec("", [base, Layer([File("etc/which", b"docker\n")], "")],
                                                          says("from-docker")), ["local/dock:v1"])])
    lay = Layout(tmp_path / "oci")
    lay.add(spec("oci:v1", [base, Layer([File("etc/which", b"oci\n")])], says("from-oci")))
    oci = tmp_path / "oci.tar"
    subprocess.run(["skopeo", "--insecure-policy", "copy", f"oci:{lay.close()}:oci:v1", f"oci-archive:{oci}"],
                   check=True, capture_output=True, timeout=120)
    plain = tmp_path / "rootfs.tar"
    plain.write_bytes(base.blob()[0])

    store.cli("import", str(dock))
    store.cli("import", str(oci), "local/oci:v1")
    store.cli("import", str(plain), "local/plain:v1", "--change",
              'CMD ["sh", "-c", "echo from-plain-tarball; ' + SLEEP + '"]')
    names = store.index_names()
    assert {"docker.io/local/dock:v1", "docker.io/local/oci:v1", "docker.io/local/plain:v1"} <= set(names)
    # busybox (shared by all three), the docker and the OCI image's own layers.
    assert len(store.layers()) == 3
    inodes = store.layer_inodes()

    def containers() -> str:
        return "".join(f"  - name: {c}\n    image: local/{c}:v1\n    imagePullPolicy: Never\n"
                       for c in ("dock", "oci", "plain"))

    pod_node.apply(pod_yaml("first", containers()))
    pod_node.wait_running("first")
    assert pod_node.wait_log("first", "dock", "from-docker") == "docker\nfrom-docker\n"
    assert pod_node.wait_log("first", "oci", "from-oci") == "oci\nfrom-oci\n"
    pod_node.wait_log("first", "plain", "from-plain-tarball")
    assert pod_node.exec("first", "plain", "cat", "/etc/which", check=False).returncode != 0

    pod_node.apply(pod_yaml("second", containers()))
    pod_node.wait_running("second")
    assert pod_node.exec("second", "oci", "cat", "/etc/which").stdout == "oci\n"
    assert store.layer_inodes() == inodes


# ----------------------------------------------------------------------------- 7. errors

def test_pull_errors_are_one_line(store: Store, registry: Registry) -> None:
    line = store.fails("pull", f"{registry.host}/missing:v1")
    assert "not found" in line and "missing" in line, line
    line = store.fails("pull", "Not//Valid")
    assert "Not//Valid" in line and "invalid" in line, line
    port = free_port()
    line = store.fails("pull", f"127.0.0.1:{port}/app:v1")
    assert f"127.0.0.1:{port}" in line and "refused" in line, line
    line = store.fails("pull", "docker.io/library/nginx:latest")
    assert "offline" in line and "docker.io" in line, line
    line = store.fails("pull", "nginx")
    assert "offline" in line, line
    assert store.index_names() == [] and store.blobs() == set()
