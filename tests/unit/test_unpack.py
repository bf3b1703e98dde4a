"""Unpacking OCI layers: every entry type with its metadata, whiteouts through a real overlayfs,
and hostile layers refused with the layer directory removed and nothing written outside it.

Layers are built byte for byte with tests/imagekit.py; hostile members with `Raw`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from pyrunc.images.source import PullError
from pyrunc.images.unpack import LayerError, UnpackLimits, UnpackResult, read_in_layers, unpack_layer
from tests.imagekit import (
    LAYER_MEDIA, Device, Dir, Entry, File, Hardlink, Opaque, Raw, Symlink, Whiteout, compress, gzip_bomb, layer_tar,
)

pytestmark = pytest.mark.root  # chown, mknod, trusted.* xattrs, overlayfs

CAP_NET_BIND_SERVICE = (0x02000001).to_bytes(4, "little") + (1 << 10).to_bytes(4, "little") + bytes(12)  # v2, effective


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> Raw:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return Raw(info, data)


def write_blob(tmp: Path, tar: bytes, compression: str = "gzip", name: str = "blob") -> str:
    blob = tmp / name
    blob.write_bytes(compress(tar, compression))
    return str(blob)


def unpack(tmp: Path, entries: list[Entry], compression: str = "gzip", name: str = "layer") -> Path:
    tar = layer_tar(entries)
    dest = tmp / name
    result = unpack_layer(write_blob(tmp, tar, compression, name + ".blob"), LAYER_MEDIA[compression], str(dest))
    assert result == UnpackResult("sha256:" + hashlib.sha256(tar).hexdigest(), len(tar), result.entries)
    return dest


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every path under `root` with its mode, size and contents (symlinks not followed)."""
    seen: dict[str, tuple[int, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            data = Path(p).read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(p).encode() if stat.S_ISLNK(st.st_mode) else b""
            seen[os.path.relpath(p, root)] = (st.st_mode, st.st_size, data)
    return seen


def user_xattrs(directory: Path) -> bool:
    probe = directory / "xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A sentinel directory next to the layer: a hostile layer must not change it."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret").write_text("host\n")
    return d


def refused(tmp: Path, tar: bytes, compression: str = "gzip", limits: UnpackLimits = UnpackLimits(),
            expected_diff_id: str | None = None, blob: bytes | None = None) -> PullError:
    """Unpack a hostile layer: the error, `dest` gone, and nothing else under `tmp` changed."""
    path = tmp / "hostile.blob"
    path.write_bytes(blob if blob is not None else compress(tar, compression))
    dest = tmp / "work" / "layer"
    dest.parent.mkdir(exist_ok=True)
    before = snapshot(tmp)
    with pytest.raises(PullError) as caught:
        unpack_layer(str(path), LAYER_MEDIA[compression], str(dest), limits, expected_diff_id)
    assert not os.path.lexists(dest)
    assert snapshot(tmp) == before
    assert "\n" not in str(caught.value)
    return caught.value


# -- what a layer holds ------------------------------------------------------------------------

def test_every_entry_type_keeps_its_metadata(tmp_path: Path) -> None:
    entries: list[Entry] = [
        File("d/setuid", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1001, mtime=1_000_000,
             xattrs=(("user.origin", "layer"), ("trusted.note", "kept"))),
        File("d/sgid", b"", mode=0o2711, gid=50, mtime=5),
        member("d/cap", data=b"binary", mode=0o755, uid=7, gid=7, mtime=9,
               pax_headers={"SCHILY.xattr.security.capability": CAP_NET_BIND_SERVICE.decode("latin-1")}),
        member("d", tarfile.DIRTYPE, mode=0o1777, uid=33, gid=34, mtime=2_000_000),  # after its contents
        member("exact", data=b"x", mode=0o640, pax_headers={"mtime": "1700000000.123456789"}),
        Hardlink("d/again", "d/setuid"),
        member("links/abs", tarfile.SYMTYPE, linkname="/etc/passwd", uid=5, gid=6, mtime=77),
        Symlink("links/rel", "../d/setuid"),
        Device("dev/null", "c", 1, 3, 0o666),
        Device("dev/loop9", "b", 7, 9, 0o660),
        member("run/fifo", tarfile.FIFOTYPE, mode=0o620, uid=2, gid=3),
        member(".", tarfile.DIRTYPE, mode=0o755, mtime=3),
    ]
    layer = unpack(tmp_path, entries)

    st = os.stat(layer / "d/setuid")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) == (0o4755, 1000, 1001, 1_000_000 * 10**9)
    assert (layer / "d/setuid").read_bytes() == b"#!/bin/sh\n"
    assert os.getxattr(layer / "d/setuid", "trusted.note") == b"kept"
    if user_xattrs(tmp_path):  # elsewhere skipped, as containerd skips them
        assert os.getxattr(layer / "d/setuid", "user.origin") == b"layer"
    assert stat.S_IMODE(os.stat(layer / "d/sgid").st_mode) == 0o2711
    # chown clears a file capability: it is set after the owner, so it is still there.
    assert os.getxattr(layer / "d/cap", "security.capability") == CAP_NET_BIND_SERVICE
    assert os.stat(layer / "d/cap").st_uid == 7

    st = os.stat(layer / "d")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o1777, 33, 34)
    assert st.st_mtime_ns == 2_000_000 * 10**9  # set after the files written inside it
    assert os.stat(layer / "exact").st_mtime_ns == 1700000000_123456789
    assert os.stat(layer).st_mtime_ns == 3 * 10**9 and stat.S_IMODE(os.stat(layer).st_mode) == 0o755

    assert os.stat(layer / "d/again").st_ino == os.stat(layer / "d/setuid").st_ino
    assert os.stat(layer / "d/setuid").st_nlink == 2

    st = os.lstat(layer / "links/abs")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(layer / "links/abs") == "/etc/passwd"
    assert (st.st_uid, st.st_gid, st.st_mtime_ns) == (5, 6, 77 * 10**9)
    assert os.readlink(layer / "links/rel") == "../d/setuid"
    assert stat.S_IMODE(os.stat(layer / "links").st_mode) == 0o755  # a parent made on the way

    st = os.lstat(layer / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o666
    st = os.lstat(layer / "dev/loop9")
    assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, 9)
    st = os.lstat(layer / "run/fifo")
    assert stat.S_ISFIFO(st.st_mode) and (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o620, 2, 3)


def test_xattrs_a_filesystem_refuses_are_skipped(tmp_path: Path) -> None:
    # user.* xattrs are not allowed on symlinks and devices (EPERM): skipped, as containerd does.
    xattrs = {"SCHILY.xattr.user.skipped": "x", "SCHILY.xattr.trusted.kept": "y"}
    layer = unpack(tmp_path, [member("l", tarfile.SYMTYPE, linkname="/x", pax_headers=xattrs),
                              member("null", tarfile.CHRTYPE, devmajor=1, devminor=3, pax_headers=xattrs)])
    for name in ("l", "null"):
        assert os.getxattr(layer / name, "trusted.kept", follow_symlinks=False) == b"y"
        assert os.listxattr(layer / name, follow_symlinks=False) == ["trusted.kept"]
    err = refused(tmp_path, layer_tar([member("f", pax_headers={"SCHILY.xattr.security.capability": "bad"})]))
    assert "entry 'f': cannot set the xattr security.capability: Invalid argument" in str(err)


@pytest.mark.parametrize("compression", ["gzip", "zstd", ""])
def test_compressions_and_the_diff_id(tmp_path: Path, compression: str) -> None:
    entries: list[Entry] = [Dir("etc"), File("etc/motd", b"hello\n" * 1000), Symlink("motd", "etc/motd")]
    tar = layer_tar(entries)
    dest = tmp_path / "layer"
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    result = unpack_layer(write_blob(tmp_path, tar, compression), LAYER_MEDIA[compression], str(dest),
                          expected_diff_id=diff_id)
    assert result == UnpackResult(diff_id, len(tar), 3)
    assert (dest / "motd").read_bytes() == b"hello\n" * 1000
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o755


def test_the_diff_id_covers_the_padding_after_the_archive(tmp_path: Path) -> None:
    tar = layer_tar([File("a", b"1")]) + bytes(50 * 512)  # more zeros than tarfile reads
    result = unpack_layer(write_blob(tmp_path, tar), LAYER_MEDIA["gzip"], str(tmp_path / "layer"))
    assert result.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest() and result.size == len(tar)


@pytest.mark.parametrize("tar", [bytes(1024), b"", bytes(10240)], ids=["end-blocks", "no-bytes", "one-record"])
def test_empty_layers(tmp_path: Path, tar: bytes) -> None:
    # An empty stream ends where Go's archive/tar (containerd, docker) ends it: at a block boundary.
    result = unpack_layer(write_blob(tmp_path, tar), LAYER_MEDIA["gzip"], str(tmp_path / "layer"))
    assert result == UnpackResult("sha256:" + hashlib.sha256(tar).hexdigest(), len(tar), 0)
    assert os.listdir(tmp_path / "layer") == []


def test_multi_frame_zstd_and_multi_member_gzip(tmp_path: Path) -> None:
    import zstandard

    tar = layer_tar([File("a", b"A" * 5000), File("b", b"B" * 5000)])
    half = len(tar) // 2
    blobs = {"zstd": zstandard.ZstdCompressor().compress(tar[:half]) + zstandard.ZstdCompressor().compress(tar[half:]),
             "gzip": gzip.compress(tar[:half]) + gzip.compress(tar[half:])}
    for compression, blob in blobs.items():
        path = tmp_path / f"{compression}.blob"
        path.write_bytes(blob)
        dest = tmp_path / compression
        unpack_layer(str(path), LAYER_MEDIA[compression], str(dest))
        assert (dest / "b").read_bytes() == b"B" * 5000


def test_later_entries_replace_earlier_ones_as_tar_does(tmp_path: Path) -> None:
    layer = unpack(tmp_path, [
        File("f", b"first"), File("f", b"second"),                  # a file over a file
        Dir("d", mode=0o700), File("d/x"), Dir("d", mode=0o750),    # a directory entry updates an existing one
        Dir("gone"), File("gone/inner"), File("gone", b"file now"),  # a file replaces a directory and its contents
        File("was-file"), Dir("was-file"),
        Symlink("l", "f"), File("l", b"not a link"),
        File("t", b"old"), File("t", b"new"), Hardlink("h", "t"),
    ])
    assert (layer / "f").read_bytes() == b"second"
    assert stat.S_IMODE(os.stat(layer / "d").st_mode) == 0o750 and (layer / "d/x").exists()
    assert (layer / "gone").read_bytes() == b"file now"
    assert (layer / "was-file").is_dir()
    assert not (layer / "l").is_symlink() and (layer / "l").read_bytes() == b"not a link"
    assert (layer / "h").read_bytes() == b"new"


def test_an_entry_replaces_a_directory_beside_the_last_one_written(tmp_path: Path) -> None:
    """The parent directory's descriptor is the one the previous entry used (it is kept open
    between entries): removing a directory in it must not close it under the unpacker."""
    layer = unpack(tmp_path, [
        Dir("p"), Dir("p/gone"), File("p/gone/inner"), File("p/other"), File("p/gone", b"file now"),
        Dir("p/d2"), File("p/d2/x"), File("p/y"), Symlink("p/d2", "y"),
        Dir("p/d3"), File("p/z"), Hardlink("p/d3", "p/z"),
        Dir("p/d4"), File("p/w"), Whiteout("p/d4"), File("p/after"),
    ])
    assert (layer / "p/gone").read_bytes() == b"file now" and (layer / "p/other").exists()
    assert os.readlink(layer / "p/d2") == "y"
    assert os.stat(layer / "p/d3").st_ino == os.stat(layer / "p/z").st_ino
    assert stat.S_ISCHR(os.lstat(layer / "p/d4").st_mode) and (layer / "p/after").exists()


def test_whiteouts_become_overlayfs_whiteouts(tmp_path: Path) -> None:
    layer = unpack(tmp_path, [Whiteout("etc/gone"), Opaque("var/cache"), Opaque("opq-only"),
                              File("etc/back"), Whiteout("etc/back"),   # the later entry wins
                              member(".wh..wh.plnk/123", data=b"aufs")])  # AUFS bookkeeping: skipped
    st = os.lstat(layer / "etc/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and stat.S_IMODE(st.st_mode) == 0
    assert not os.path.lexists(layer / "etc/.wh.gone")
    assert os.getxattr(layer / "var/cache", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(layer / "opq-only", "trusted.overlay.opaque") == b"y"  # made when missing
    assert os.listdir(layer / "var/cache") == []
    assert stat.S_ISCHR(os.lstat(layer / "etc/back").st_mode)
    assert not os.path.lexists(layer / ".wh..wh.plnk")


def test_overlay_of_two_unpacked_layers_shows_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    bottom = unpack(tmp_path, [File("etc/keep", b"k"), File("etc/gone", b"g"), File("etc/replaced", b"old"),
                               File("var/cache/old", b"o"), File("var/cache/sub/x", b"x"), File("tree/a/b", b"b")],
                    name="bottom")
    top = unpack(tmp_path, [Whiteout("etc/gone"), File("etc/replaced", b"new"), Opaque("var/cache"),
                            File("var/cache/new", b"n"), Whiteout("tree"), Whiteout("never-was"),
                            member("hidden", data=b"h", pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
                            member("od", tarfile.DIRTYPE, mode=0o755,
                                   pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y"})],
                 name="top", compression="zstd")
    # overlayfs' own xattrs are never taken from the layer's author.
    with pytest.raises(OSError):
        os.getxattr(top / "od", "trusted.overlay.opaque")
    merged = tmp_path / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={top}:{bottom}", str(merged)], check=True)
    try:
        assert sorted(os.listdir(merged)) == ["etc", "hidden", "od", "var"]
        assert sorted(os.listdir(merged / "etc")) == ["keep", "replaced"]
        assert (merged / "etc/replaced").read_bytes() == b"new"
        assert os.listdir(merged / "var/cache") == ["new"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    layers = [str(top), str(bottom)]
    assert read_in_layers(layers, "/etc/keep") == b"k"
    assert read_in_layers(layers, "/etc/replaced") == b"new"
    assert read_in_layers(layers, "/etc/gone") is None
    assert read_in_layers(layers, "/var/cache/old") is None
    assert read_in_layers(layers, "/var/cache/new") == b"n"
    assert read_in_layers(layers, "/tree/a/b") is None


# -- hostile layers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "text"), [
    ("../evil", "'..' component"),
    ("a/../../evil", "'..' component"),
    ("./../outside/secret", "'..' component"),
    ("/evil", "absolute name '/evil'"),
    ("OUTSIDE/evil", "absolute name"),
])
def test_names_that_leave_the_layer_are_refused(tmp_path: Path, outside: Path, name: str, text: str) -> None:
    name = name.replace("OUTSIDE", str(outside))
    err = refused(tmp_path, layer_tar([File("ok", b"fine"), member(name, data=b"pwned")]))
    assert isinstance(err, LayerError) and err.kind == "invalid"
    assert text in str(err) and f"entry {name!r}" in str(err)


def test_a_file_through_a_symlink_is_refused(tmp_path: Path, outside: Path) -> None:
    err = refused(tmp_path, layer_tar([Symlink("a", str(outside)), File("a/evil", b"pwned")]))
    assert "entry 'a/evil': parent 'a' is a symlink: refused" in str(err)
    # Inside the layer too: a parent is never a symlink, wherever it points.
    err = refused(tmp_path, layer_tar([Dir("sub"), Symlink("a", "sub"), File("a/evil")]))
    assert "parent 'a' is a symlink" in str(err)
    err = refused(tmp_path, layer_tar([Symlink("a", str(outside)), Dir("a/b/c")]))
    assert "entry 'a/b/c': parent 'a' is a symlink" in str(err)
    err = refused(tmp_path, layer_tar([File("f"), File("f/evil")]))
    assert "parent 'f' is not a directory" in str(err)


def test_symlinks_that_climb_out_are_refused(tmp_path: Path, outside: Path) -> None:
    err = refused(tmp_path, layer_tar([Symlink("a", "../../.."), File("a/evil", b"pwned")]))
    assert "entry 'a': symlink to '../../..' leads out of the layer: refused" in str(err)
    err = refused(tmp_path, layer_tar([Symlink("x/y/l", "../../../outside/secret")]))
    assert "leads out of the layer" in str(err)
    err = refused(tmp_path, layer_tar([Symlink("x/l", "sub/../../../z")]))
    assert "leads out of the layer" in str(err)
    # Relative targets that stay inside, however deep, and absolute ones are kept as they are.
    layer = unpack(tmp_path, [Symlink("x/y/l", "../../etc"), Symlink("x/up", "./../x/./y"), Symlink("r", "/../../etc")])
    assert os.readlink(layer / "x/y/l") == "../../etc" and os.readlink(layer / "r") == "/../../etc"


@pytest.mark.parametrize(("target", "text"), [
    ("/etc/passwd", "absolute hard link target '/etc/passwd'"),
    ("../outside/secret", "hard link target '../outside/secret' has a '..' component"),
    ("missing", "hard link to 'missing', which is not a regular file of this layer"),
    ("s", "hard link to 's', which is not a regular file of this layer"),
    ("s/secret", "hard link to 's/secret', which is not a regular file of this layer"),
    ("d", "hard link to 'd', which is not a regular file of this layer"),
])
def test_hard_links_that_leave_the_layer_are_refused(tmp_path: Path, outside: Path, target: str, text: str) -> None:
    err = refused(tmp_path, layer_tar([Symlink("s", str(outside)), Dir("d"), Hardlink("h", target)]))
    assert f"entry 'h': {text}" in str(err)


def test_whiteouts_of_dot_and_dotdot_are_refused(tmp_path: Path, outside: Path) -> None:
    assert "whiteout of '..': refused" in str(refused(tmp_path, layer_tar([member("x/.wh...")])))
    assert "whiteout of '.': refused" in str(refused(tmp_path, layer_tar([member(".wh..")])))
    assert "whiteout of '': refused" in str(refused(tmp_path, layer_tar([member("x/.wh.")])))
    err = refused(tmp_path, layer_tar([Symlink("a", str(outside)), Whiteout("a/secret")]))
    assert "parent 'a' is a symlink" in str(err)


def test_a_gzip_bomb_is_stopped_by_the_byte_limit(tmp_path: Path, outside: Path) -> None:
    limits = UnpackLimits(max_bytes=8 << 20)
    err = refused(tmp_path, b"", blob=gzip_bomb(1 << 30), limits=limits)
    assert "entry 'zeros': a file of 1073741824 bytes (more than the layer's limit of 8388608)" in str(err)
    # Members that lie about nothing: the stream itself is counted, trailing zeros included.
    tar = layer_tar([File("small", b"s")]) + bytes(16 << 20)
    err = refused(tmp_path, tar, limits=limits)
    assert str(err).endswith(": more than 8388608 bytes uncompressed (the limit against decompression bombs)")
    tar = layer_tar([File(f"f{i}", bytes(3 << 20)) for i in range(4)])
    err = refused(tmp_path, tar, compression="zstd", limits=limits)
    assert "entry 'f2': more than 8388608 bytes uncompressed" in str(err)


def test_too_many_entries_are_refused(tmp_path: Path, outside: Path) -> None:
    err = refused(tmp_path, layer_tar([File(f"f{i}") for i in range(20)]), limits=UnpackLimits(max_entries=10))
    assert "entry 'f10': more than 10 entries (the limit of one layer)" in str(err)


def test_corrupt_streams_are_refused(tmp_path: Path, outside: Path) -> None:
    tar = layer_tar([File("a", os.urandom(200_000)), File("b", b"b")])
    blob = bytearray(gzip.compress(tar))
    blob[len(blob) // 2] ^= 0xFF
    assert "corrupt gzip stream" in str(refused(tmp_path, tar, blob=bytes(blob)))
    assert "corrupt gzip stream" in str(refused(tmp_path, tar, blob=gzip.compress(tar)[:-20]))  # truncated
    assert "corrupt gzip stream" in str(refused(tmp_path, tar, blob=b"not gzip at all"))
    assert "corrupt zstd stream" in str(refused(tmp_path, tar, "zstd", blob=b"\x28\xb5\x2f\xfd garbage"))
    # A corrupt header in the middle of the archive is an error, not a silent end.
    first = layer_tar([File("a", b"a")])[:1024]
    err = refused(tmp_path, first + b"X" * 512 + bytes(1024), compression="")
    assert "corrupt tar header at offset 1024" in str(err)
    err = refused(tmp_path, layer_tar([File("big", bytes(100_000))])[:50_000], compression="")
    assert "entry 'big': corrupt tar" in str(err)
    err = refused(tmp_path, layer_tar([member("x", pax_headers={"comment": "c" * (2 << 20)})]))
    assert "a tar metadata header of" in str(err)


def test_a_diff_id_mismatch_is_corrupt(tmp_path: Path, outside: Path) -> None:
    err = refused(tmp_path, layer_tar([File("a", b"a")]), expected_diff_id="sha256:" + "0" * 64)
    assert not isinstance(err, LayerError) and err.kind == "corrupt"
    assert "diff_id mismatch" in str(err)


def test_an_existing_dest_is_left_alone(tmp_path: Path) -> None:
    dest = tmp_path / "layer"
    dest.mkdir()
    (dest / "keep").write_text("x")
    with pytest.raises(LayerError, match="cannot create"):
        unpack_layer(write_blob(tmp_path, layer_tar([File("a")])), LAYER_MEDIA["gzip"], str(dest))
    assert (dest / "keep").read_text() == "x"
    with pytest.raises(LayerError, match="unsupported layer media type"):
        unpack_layer(write_blob(tmp_path, layer_tar([File("a")])), "application/x-rar", str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()


# -- reading through layers ---------------------------------------------------------------------

def test_read_in_layers_resolves_as_the_overlay_would(tmp_path: Path, outside: Path) -> None:
    (outside / "passwd").write_text("host:x:0:0::/:/bin/sh\n")
    bottom = unpack(tmp_path, [
        File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), File("etc/group", b"root:x:0:\n"),
        File("etc/shadow", b"s"), File("private/etc/hosts", b"h"), File("wiped/passwd", b"w"),
        File("opq/passwd", b"o"), File("masked/passwd", b"m"), File("deep/a/passwd", b"d"),
    ], name="bottom")
    top = unpack(tmp_path, [
        File("etc/group", b"root:x:0:\napp:x:1000:\n"), Whiteout("etc/shadow"), Whiteout("wiped"),
        Opaque("opq"), File("opq/other"), File("masked", b"a file hides the directory below"),
        Symlink("alias", "/private/etc"), Symlink("rel", "private/../etc"), Symlink("loop", "loop"),
        Whiteout("deep/a"),
    ], name="top")
    os.symlink("../../../../../../etc", top / "up")  # what this unpacker refuses; an overlay must still cope
    layers = [str(top), str(bottom)]
    assert read_in_layers(layers, "/etc/passwd") == b"root:x:0:0::/root:/bin/sh\n"
    assert read_in_layers(layers, "etc/group") == b"root:x:0:\napp:x:1000:\n"
    assert read_in_layers(layers, "/etc/passwd", limit=4) == b"root"
    assert read_in_layers(layers, "/etc/shadow") is None
    assert read_in_layers(layers, "/wiped/passwd") is None
    assert read_in_layers(layers, "/opq/passwd") is None
    assert read_in_layers(layers, "/masked/passwd") is None
    assert read_in_layers(layers, "/deep/a/passwd") is None
    assert read_in_layers(layers, "/alias/hosts") == b"h"       # a symlink of one layer into another
    assert read_in_layers(layers, "/rel/passwd") == b"root:x:0:0::/root:/bin/sh\n"
    assert read_in_layers(layers, "/up/passwd") == b"root:x:0:0::/root:/bin/sh\n"  # '..' stops at the root
    assert read_in_layers(layers, "/loop") is None
    assert read_in_layers(layers, "/etc") is None and read_in_layers(layers, "/nope") is None
    assert read_in_layers([str(bottom)], "/etc/shadow") == b"s"

    # An image whose /etc points at the host's directories reads its own, or nothing.
    escape = unpack(tmp_path, [Symlink("etc", str(outside))], name="escape")
    assert read_in_layers([str(escape)], "/etc/passwd") is None
    assert read_in_layers([str(escape), str(bottom)], "/etc/passwd") is None
    sneaky = unpack(tmp_path, [Symlink("etc", str(outside)), File(str(outside).lstrip("/") + "/passwd", b"mine")],
                    name="sneaky")
    assert read_in_layers([str(sneaky)], "/etc/passwd") == b"mine"
    assert read_in_layers([str(tmp_path / "missing")], "/etc/passwd") is None
