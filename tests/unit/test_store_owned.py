"""The reclaim rule for host-wide per-pod places: a root reclaims only the uids it marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrunc.store import owned


def test_a_root_reclaims_only_its_own_marked_uids(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    owned.mark(a, "data", "uid-a1")
    owned.mark(a, "data", "uid-a2")
    owned.mark(b, "data", "uid-b1")
    # Root a after a crash: only uid-a1 still lives. uid-b1 (another root's pod) is never a's to remove.
    assert owned.reclaimable(a, "data", alive={"uid-a1"}) == ["uid-a2"]
    assert owned.reclaimable(b, "data", alive=set()) == ["uid-b1"]
    owned.unmark(a, "data", "uid-a2")
    assert owned.reclaimable(a, "data", alive={"uid-a1"}) == []
    assert owned.marked(a, "logs") == set()  # places are separate


def test_orphans_are_what_no_root_marked(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    owned.mark(a, "logs", "u1")
    owned.mark(b, "logs", "u2")
    assert owned.orphans({"u1", "u2", "u3"}, [a, b], "logs") == ["u3"]


@pytest.mark.parametrize("uid", ["", "..", "a/b", "../x", "x" * 70])
def test_a_uid_must_be_one_plain_path_component(tmp_path: Path, uid: str) -> None:
    with pytest.raises(ValueError):
        owned.mark(str(tmp_path), "data", uid)
