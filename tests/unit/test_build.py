"""The build id's cache (pyrunc/build.py): the same id as hashing the files, and never a stale one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyrunc import build


def _tree(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("x = 1\n")
    (pkg / "sub" / "mod.py").write_text("y = 2\n")
    (pkg / "sub" / "profile.json").write_text("{}\n")
    (pkg / "README.txt").write_text("not hashed\n")
    return pkg


def _cache(pkg: Path) -> Path:
    return pkg / "__pycache__" / build.CACHE_NAME


def _forge(pkg: Path) -> str:
    """Replace the stored id (keeping the signature): a later answer equal to it came from the cache."""
    stored = _cache(pkg).read_text().split("\n", 1)
    forged = f"{stored[0].split('+')[0]}+forged"
    _cache(pkg).write_text(forged + "\n" + stored[1])
    return forged


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files just written count as settled (else the cache is never stored in a test's first seconds)."""
    monkeypatch.setattr(build, "RACY_SECONDS", -1e9)
    monkeypatch.setattr(build.sys, "dont_write_bytecode", False)


def test_the_cached_id_is_the_hash_of_the_files(tmp_path: Path, quiet: None) -> None:
    pkg = _tree(tmp_path)
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))
    assert _cache(pkg).exists()
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))


def test_an_unchanged_tree_is_answered_from_the_cache(tmp_path: Path, quiet: None) -> None:
    pkg = _tree(tmp_path)
    build.cached_compute(str(pkg))
    forged = _forge(pkg)
    assert build.cached_compute(str(pkg)) == forged


def test_a_cache_hit_imports_no_hashlib(tmp_path: Path, quiet: None) -> None:
    """What the cache saves on every `apply` is the hashing and hashlib's import (~4 ms)."""
    pkg = _tree(tmp_path)
    build.cached_compute(str(pkg))
    code = ("import sys; from pyrunc import build; build.RACY_SECONDS = -1e9; "
            f"build.cached_compute({str(pkg)!r}); print('hashlib' in sys.modules)")
    repo = str(Path(build.__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {repo!r}); {code}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("change", ["edit", "same size, old mtime", "new file", "removed", "renamed"])
def test_any_change_to_a_hashed_file_is_hashed_again(tmp_path: Path, quiet: None, change: str) -> None:
    pkg = _tree(tmp_path)
    build.cached_compute(str(pkg))
    forged = _forge(pkg)
    mod = pkg / "sub" / "mod.py"
    if change == "edit":
        mod.write_text("y = 3  # changed\n")
    elif change == "same size, old mtime":  # cp -p, touch -r: the mtime is put back, the ctime cannot be
        st = mod.stat()
        mod.write_text("y = 3\n")
        os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert mod.stat().st_mtime_ns == st.st_mtime_ns and mod.stat().st_size == st.st_size
    elif change == "new file":
        (pkg / "sub" / "new.py").write_text("")
    elif change == "removed":
        mod.unlink()
    else:
        mod.rename(pkg / "sub" / "other.py")
    got = build.cached_compute(str(pkg))
    assert got != forged
    assert got == build.compute(str(pkg))


def test_files_not_hashed_do_not_matter(tmp_path: Path, quiet: None) -> None:
    pkg = _tree(tmp_path)
    build.cached_compute(str(pkg))
    forged = _forge(pkg)
    (pkg / "README.txt").write_text("changed\n")
    (pkg / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"")
    assert build.cached_compute(str(pkg)) == forged


def test_recently_changed_files_are_hashed_but_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.sys, "dont_write_bytecode", False)
    pkg = _tree(tmp_path)  # just written: within RACY_SECONDS
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))
    assert not _cache(pkg).exists()


def test_no_cache_is_written_when_bytecode_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "RACY_SECONDS", -1e9)
    monkeypatch.setattr(build.sys, "dont_write_bytecode", True)
    pkg = _tree(tmp_path)
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))
    assert not _cache(pkg).exists()


def test_an_unwritable_cache_still_gives_the_id(tmp_path: Path, quiet: None) -> None:
    pkg = _tree(tmp_path)
    (pkg / "__pycache__").write_text("a file where the directory would be")
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))


def test_a_corrupt_cache_is_recomputed(tmp_path: Path, quiet: None) -> None:
    pkg = _tree(tmp_path)
    (pkg / "__pycache__").mkdir()
    _cache(pkg).write_bytes(b"\xff\xfe garbage")
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))
    build.cached_compute(str(pkg))
    assert build.cached_compute(str(pkg)) == build.compute(str(pkg))


def test_the_package_build_id_is_its_hash() -> None:
    assert build.build_id() == build.compute(build.package_dir())
