"""The kubelet's atomic writer (sandbox/atomic_writer.py) in a temporary directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pyrunc.sandbox.atomic_writer import DATA_DIR, FileProjection, PayloadError, write


def _files(root: Path) -> dict[str, str]:
    """What a reader sees through the user-visible paths."""
    out = {}
    for dirpath, _, names in os.walk(root, followlinks=True):
        rel = os.path.relpath(dirpath, root)
        if rel.split("/")[0].startswith(".."):
            continue
        for name in names:
            if rel == "." and name.startswith(".."):
                continue
            out[os.path.normpath(os.path.join(rel, name))] = Path(dirpath, name).read_text()
    return out


def _ts_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("..") and p.name not in (DATA_DIR,))


def test_layout(tmp_path: Path) -> None:
    assert write(str(tmp_path), {"a": FileProjection(b"1", 0o644), "conf/b.yaml": FileProjection(b"2", 0o400)})
    (ts,) = _ts_dirs(tmp_path)
    assert ts.startswith("..20") and os.readlink(tmp_path / DATA_DIR) == ts
    assert os.readlink(tmp_path / "a") == "..data/a" and os.readlink(tmp_path / "conf") == "..data/conf"
    assert stat.S_IMODE(os.stat(tmp_path / ts).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "conf" / "b.yaml").st_mode) == 0o400
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o644
    assert _files(tmp_path) == {"a": "1", "conf/b.yaml": "2"}


def test_unchanged_payload_writes_nothing(tmp_path: Path) -> None:
    payload = {"a": FileProjection(b"1", 0o644)}
    assert write(str(tmp_path), payload)
    before = _ts_dirs(tmp_path)
    assert not write(str(tmp_path), payload)
    assert _ts_dirs(tmp_path) == before


def test_update_swaps_data_and_fixes_links(tmp_path: Path) -> None:
    write(str(tmp_path), {"a": FileProjection(b"1", 0o644), "gone": FileProjection(b"x", 0o644)})
    (old,) = _ts_dirs(tmp_path)
    held = open(tmp_path / "a")  # a reader (or a subPath bind) holding the old file keeps its content
    assert write(str(tmp_path), {"a": FileProjection(b"2", 0o644), "new": FileProjection(b"n", 0o600)})
    (new,) = _ts_dirs(tmp_path)
    assert new != old and os.readlink(tmp_path / DATA_DIR) == new
    assert _files(tmp_path) == {"a": "2", "new": "n"}
    assert not os.path.lexists(tmp_path / "gone")
    assert held.read() == "1"
    held.close()


def test_empty_payload(tmp_path: Path) -> None:
    assert write(str(tmp_path), {})
    assert _files(tmp_path) == {} and os.path.isdir(tmp_path / DATA_DIR)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "..data", "..x/y", "a//b", "./a", ""])
def test_paths_that_could_escape_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(PayloadError):
        write(str(tmp_path), {path: FileProjection(b"x", 0o644)})
    assert list(tmp_path.iterdir()) == []


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    vol, outside = tmp_path / "vol", tmp_path / "outside"
    vol.mkdir()
    outside.mkdir()
    os.symlink(str(outside), vol / "conf")  # a top-level entry the writer did not make
    write(str(vol), {"conf/x": FileProjection(b"x", 0o644)})
    assert list(outside.iterdir()) == []  # written in the data dir, never through the link
    (ts,) = _ts_dirs(vol)
    assert (vol / ts / "conf" / "x").read_text() == "x"


def test_mode_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(PayloadError):
        write(str(tmp_path), {"a": FileProjection(b"", 0o1777)})
