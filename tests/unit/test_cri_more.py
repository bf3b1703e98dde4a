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
