"""safepath: paths inside a directory someone else controls resolve inside it, and creation never leaves it.

Both resolvers are exercised: openat2 (the kernel's RESOLVE_IN_ROOT/BENEATH) and the user-space
walk used where the kernel lacks it and for every creation.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.linux import safepath


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(safepath, "_openat2_missing", request.param == "walk")
    return str(request.param)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """(root, outside, root_fd): a root with hostile symlinks, and a directory outside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("host")
    (root / "real").mkdir()
    (root / "real" / "file").write_text("inside")
    os.symlink("/", root / "to-slash")
    os.symlink(str(outside), root / "to-outside")  # absolute: means <root>/<that path> inside
    os.symlink("../../../../../../..", root / "dotdot")
    os.symlink("real", root / "rel")
    os.symlink("/nowhere/deeper", root / "dangling")
    fd = safepath.open_dir(str(root))
    try:
        yield root, outside, fd
    finally:
        os.close(fd)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _ident_path(p: Path) -> tuple[int, int]:
    st = os.stat(p)
    return st.st_dev, st.st_ino


def test_symlinks_resolve_inside_the_root(tree: tuple[Path, Path, int], resolver: str) -> None:
    root, outside, fd = tree
    for path in ("to-slash", "dotdot", "/..", "to-slash/.."):
        got = safepath.open_in(fd, path)
        try:
            assert _ident(got) == _ident_path(root), path
        finally:
            os.close(got)
    with pytest.raises(FileNotFoundError):
        safepath.open_in(fd, "to-outside/secret")  # <root>/<outside>/secret does not exist
    got = safepath.open_in(fd, "rel/file", os.O_RDONLY)
    try:
        assert os.read(got, 100) == b"inside"
    finally:
        os.close(got)


def test_beneath_refuses_every_way_out(tree: tuple[Path, Path, int], resolver: str) -> None:
    _, _, fd = tree
    for path in ("to-slash/x", "to-outside", "dotdot", "real/../.."):
        with pytest.raises(OSError) as e:
            safepath.open_in(fd, path, beneath=True)
        assert e.value.errno == errno.EXDEV, path


def test_mkdirs_in_creates_inside_through_dangling_links(tree: tuple[Path, Path, int]) -> None:
    root, outside, fd = tree
    made = safepath.mkdirs_in(fd, "dangling/a/b", 0o750)
    try:
        assert _ident(made) == _ident_path(root / "nowhere" / "deeper" / "a" / "b")
        assert stat.S_IMODE(os.stat(root / "nowhere" / "deeper" / "a").st_mode) == 0o750  # exact, no umask
    finally:
        os.close(made)
    made = safepath.mkdirs_in(fd, "to-outside/new")
    os.close(made)
    assert (root / str(outside).lstrip("/") / "new").is_dir()
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_mkdirs_in_beneath_creates_nothing_outside(tree: tuple[Path, Path, int]) -> None:
    root, outside, fd = tree
    before = sorted(str(p) for p in root.parent.rglob("*"))
    for path in ("to-slash/made-here", "to-outside/made-here", "dotdot/made-here", "dangling/made-here"):
        with pytest.raises(OSError) as e:
            safepath.mkdirs_in(fd, path, beneath=True)
        assert e.value.errno == errno.EXDEV, path
    assert sorted(str(p) for p in root.parent.rglob("*")) == before


def test_create_file_in_follows_links_inside(tree: tuple[Path, Path, int]) -> None:
    root, outside, fd = tree
    made = safepath.create_file_in(fd, "to-outside/secret", 0o600)
    try:
        inside = root / str(outside).lstrip("/") / "secret"
        assert _ident(made) == _ident_path(inside) and inside.read_text() == ""
        assert stat.S_IMODE(inside.stat().st_mode) == 0o600
    finally:
        os.close(made)
    assert (outside / "secret").read_text() == "host"
    existing = safepath.create_file_in(fd, "rel/file")
    try:
        assert _ident(existing) == _ident_path(root / "real" / "file")
    finally:
        os.close(existing)


def test_mkdirs_in_refuses_a_file_on_the_way(tree: tuple[Path, Path, int]) -> None:
    _, _, fd = tree
    with pytest.raises(NotADirectoryError):
        safepath.mkdirs_in(fd, "real/file/sub")
    with pytest.raises(NotADirectoryError):
        safepath.mkdirs_in(fd, "real/file")


def test_resolve_in_returns_what_exists_or_makes_a_directory(tree: tuple[Path, Path, int]) -> None:
    root, _, fd = tree
    got = safepath.resolve_in(fd, "real/file", beneath=True, create="dir", mode=0o777)
    try:
        assert stat.S_ISREG(os.fstat(got).st_mode)
    finally:
        os.close(got)
    got = safepath.resolve_in(fd, "real/x/y", beneath=True, create="dir", mode=0o777)
    os.close(got)
    assert stat.S_IMODE((root / "real" / "x" / "y").stat().st_mode) == 0o777


def test_symlink_loops_end(tree: tuple[Path, Path, int], resolver: str) -> None:
    root, _, fd = tree
    os.symlink("loop", root / "loop")
    with pytest.raises(OSError) as e:
        safepath.open_in(fd, "loop/x")
    assert e.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        safepath.mkdirs_in(fd, "loop/x")
