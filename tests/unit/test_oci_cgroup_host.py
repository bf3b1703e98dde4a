"""pyrunc/oci/cgroup.py host_version: the cgroup version and v1 hierarchies read from a mountinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrunc.errors import CgroupError
from pyrunc.oci.cgroup import host_version

OTHER = "30 1 0:27 / /mnt/a\\040b rw,relatime shared:9 - ext4 /dev/sda1 rw\n"
V1 = (OTHER
      + "31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct\n"
      + "32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory\n"
      + "33 25 0:30 / /sys/fs/cgroup/systemd rw,nosuid shared:12 - cgroup cgroup rw,xattr,name=systemd\n"
      + "34 25 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:13 - cgroup2 cgroup2 rw\n"
      + "35 1 0:29 / /elsewhere/memory rw,nosuid shared:11 - cgroup cgroup rw,memory\n")
V2 = OTHER + "31 25 0:28 / /sys/fs/cgroup rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_v1_hierarchies_named_ones_too_and_only_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "mi").write_text(V1)
    assert host_version(str(tmp_path / "mi")) == (1, {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"})


def test_v2_when_the_root_is_cgroup2(tmp_path: Path) -> None:
    (tmp_path / "mi").write_text(V1.replace("/sys/fs/cgroup/unified", "/sys/fs/cgroup") + V2)
    assert host_version(str(tmp_path / "mi")) == (2, {"": "/sys/fs/cgroup"})


def test_no_hierarchy_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "mi").write_text(OTHER)
    with pytest.raises(CgroupError):
        host_version(str(tmp_path / "mi"))
