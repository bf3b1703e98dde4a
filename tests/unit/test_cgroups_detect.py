"""Driver choice from a mount table (fake mountinfo files; no cgroup is touched)."""

from __future__ import annotations

from pathlib import Path

from pyrunc.cgroups import cgroup_mounts, detect

V1_TABLE = """\
30 24 0:26 / /R ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /R/unified rw - cgroup2 cgroup2 rw
34 30 0:30 / /R/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /R/memory rw - cgroup cgroup rw,memory
36 30 0:32 / /R/pids rw - cgroup cgroup rw,pids
37 30 0:33 / /R/systemd rw - cgroup cgroup rw,xattr,name=systemd
"""


def write_table(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(text.replace("/R", str(tmp_path / "cg")))
    return str(path)


def test_cgroup_mounts_parses_controllers(tmp_path: Path) -> None:
    mounts = cgroup_mounts(write_table(tmp_path, V1_TABLE))
    root = tmp_path / "cg"
    assert (str(root / "cpu,cpuacct"), "cgroup", ["cpu", "cpuacct"]) in mounts
    assert (str(root / "systemd"), "cgroup", []) in mounts
    assert (str(root / "unified"), "cgroup2", []) in mounts
    assert all(point != str(root) for point, _, _ in mounts)


def test_detect_v1_with_comounted_cpu(tmp_path: Path) -> None:
    driver = detect(str(tmp_path / "cg"), parent="p", mountinfo=write_table(tmp_path, V1_TABLE))
    assert driver.version == 1
    root = tmp_path / "cg"
    assert driver.mounts["cpu"] == driver.mounts["cpuacct"] == str(root / "cpu,cpuacct")  # type: ignore[attr-defined]


def test_detect_v1_missing_pids_is_null(tmp_path: Path) -> None:
    table = "\n".join(line for line in V1_TABLE.splitlines() if "pids" not in line)
    driver = detect(str(tmp_path / "cg"), mountinfo=write_table(tmp_path, table))
    assert driver.version == 0
    assert "pids" in driver.reason  # type: ignore[attr-defined]


def test_detect_v2(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    table = "31 24 0:27 / /R rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
    driver = detect(str(root), parent="p", weight_method="linear", mountinfo=write_table(tmp_path, table))
    assert driver.version == 2
    assert driver.weight_method == "linear"  # type: ignore[attr-defined]


def test_detect_v2_without_controllers_is_null(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("\n")
    table = "31 24 0:27 / /R rw - cgroup2 cgroup2 rw\n"
    assert detect(str(root), mountinfo=write_table(tmp_path, table)).version == 0


def test_detect_nothing_is_null(tmp_path: Path) -> None:
    driver = detect(str(tmp_path / "cg"), mountinfo=write_table(tmp_path, ""))
    assert driver.version == 0
    assert driver.paths("uid", None) == {}
