"""The remaining fields of CRI requests: devices, cpuset, swap, hugepages, unified, ContainerStatus's resources
and user, ambient capabilities (translate.py, pure)."""

from __future__ import annotations

import pytest

from pyrunc.cri import translate as tr
from pyrunc.runtime.config import ContainerConfig, DeviceNode


def test_devices_are_checked_and_default_to_rwm() -> None:
    config = {"devices": [{"host_path": "/dev/zero", "container_path": "/dev/myzero", "permissions": "rw"},
                          {"host_path": "/dev/fuse", "container_path": "/dev/fuse"}]}
    assert tr.container_devices(config) == [("/dev/zero", "/dev/myzero", "rw"), ("/dev/fuse", "/dev/fuse", "rwm")]
    assert tr.container_devices({}) == []
    for bad, field in (({"host_path": "dev/zero", "container_path": "/dev/z"}, "host_path"),
                       ({"host_path": "/dev/zero", "container_path": "/dev/../z"}, "container_path"),
                       ({"host_path": "/dev/zero", "container_path": "/dev/z", "permissions": "rwx"}, "permissions"),
                       ({"host_path": "/dev/zero", "container_path": "/dev/z", "permissions": "rr"}, "permissions")):
        with pytest.raises(tr.CriError, match=rf"config.devices\[0\].{field}"):
            tr.container_devices({"devices": [bad]})


def test_device_nodes_survive_the_config_file() -> None:
    node = DeviceNode("/dev/myzero", "c", 1, 5, 0o20666, 0, 0, "rw")
    cfg = ContainerConfig(pod_key="p", name="c", args=("sh",), env=(), cwd="/", uid=0, gid=0, additional_gids=(),
                          lower="l", upper="u", work="w", merged="m", namespaces={}, mounts=(), devices=(node,))
    assert ContainerConfig.from_json(cfg.to_json()).devices == (node,)


def test_raw_resources_of_linux_container_resources() -> None:
    from pyrunc.cgroups.raw import RawResources, v1_raw_files, v2_raw_files

    linux = {"cpuset_cpus": "0-1,3", "cpuset_mems": "0", "memory_limit_in_bytes": "1000",
             "memory_swap_limit_in_bytes": "3000", "hugepage_limits": [{"page_size": "2MB", "limit": "4194304"},
                                                                       {"page_size": "1GB"}]}
    raw = tr.raw_resources(linux, "r", 1)
    assert raw == RawResources("0-1,3", "0", 3000, (("2MB", 4194304), ("1GB", 0)), ())
    assert v1_raw_files(raw) == [("cpuset/cpuset.cpus", "0-1,3"), ("cpuset/cpuset.mems", "0"),
                                 ("memory/memory.memsw.limit_in_bytes", "3000"),
                                 ("hugetlb/hugetlb.2MB.limit_in_bytes", "4194304"),
                                 ("hugetlb/hugetlb.1GB.limit_in_bytes", "0")]
    # v2's memory.swap.max is swap alone: memory+swap minus the memory limit.
    assert ("memory.swap.max", "2000") in v2_raw_files(raw, 1000)
    assert ("memory.swap.max", "max") in v2_raw_files(RawResources(memory_swap=-1), 1000)
    assert RawResources.from_dict(raw.to_dict()) == raw
    assert not tr.raw_resources({"hugepage_limits": []}, "r", 1)
    unified = tr.raw_resources({"unified": {"memory.high": "1000"}}, "r", 2)
    assert v2_raw_files(unified, None) == [("memory.high", "1000")]
    with pytest.raises(tr.CriError, match=r"^r.unified: raw cgroup v2 files need a cgroup v2 node") as e:
        tr.raw_resources({"unified": {"memory.high": "1000"}}, "r", 1)
    assert e.value.code == "UNIMPLEMENTED"
    for bad, field in (({"cpuset_cpus": "0-"}, "cpuset_cpus"), ({"cpuset_mems": "a"}, "cpuset_mems"),
                       ({"memory_limit_in_bytes": "2000", "memory_swap_limit_in_bytes": "1000"},
                        "memory_swap_limit_in_bytes"),
                       ({"hugepage_limits": [{"page_size": "2M", "limit": "1"}]}, r"hugepage_limits\[0\].page_size"),
                       ({"unified": {"../x": "1"}}, "unified"), ({"unified": {"cgroup.procs": "1"}}, "unified")):
        with pytest.raises(tr.CriError, match=rf"^r.{field}"):
            tr.raw_resources(bad, "r", 2)
