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


def test_run_as_username_and_ambient_capabilities_are_handed_on() -> None:
    sandbox = {"linux": {"security_context": {}}}
    sec = tr.container_security({"linux": {"security_context": {
        "run_as_username": "www-data", "capabilities": {"add_ambient_capabilities": ["NET_BIND_SERVICE"]}}}},
        sandbox, "/var/lib/kubelet/seccomp")
    assert sec.username == "www-data" and sec.ambient == ("NET_BIND_SERVICE",)
    assert "runAsUser" not in sec.container


def test_ambient_capabilities_join_the_sets_a_process_holds() -> None:
    from pyrunc.errors import ContainerConfigError
    from pyrunc.runtime.config import CapabilitySets
    from pyrunc.security.caps import with_ambient

    nonroot = CapabilitySets(bounding=("CAP_CHOWN", "CAP_NET_BIND_SERVICE"))
    got = with_ambient(nonroot, ["net_bind_service"])
    assert got.ambient == got.inheritable == got.effective == got.permitted == ("CAP_NET_BIND_SERVICE",)
    assert got.bounding == nonroot.bounding
    both = ("CAP_CHOWN", "CAP_NET_BIND_SERVICE")
    root = CapabilitySets(bounding=both, effective=both, permitted=both)
    assert with_ambient(root, ["CAP_NET_BIND_SERVICE"]).permitted == root.permitted
    assert with_ambient(root, []) == root
    with pytest.raises(ContainerConfigError, match="CAP_NET_ADMIN: not in the container's bounding set"):
        with_ambient(nonroot, ["NET_ADMIN"])
    with pytest.raises(ContainerConfigError, match="not a capability name"):
        with_ambient(nonroot, ["ALL"])


def test_container_status_reports_resources_and_user() -> None:
    record = {"id": "c1", "state": "RUNNING", "createdAt": 1.0}
    facts = {"metadata": {"name": "app"}, "image": "busybox", "resources": {"cpu_shares": "512", "cpuset_cpus": "1"},
             "user": {"uid": 33, "gid": 33, "supplemental_groups": [33, 3000]}}
    status = tr.container_status(record, facts)
    assert status["resources"] == {"linux": {"cpu_shares": "512", "cpuset_cpus": "1"}}
    assert status["user"] == {"linux": {"uid": 33, "gid": 33, "supplemental_groups": [33, 3000]}}
    older = tr.container_status(record, {"metadata": {"name": "app"}, "image": "busybox"})
    assert "resources" not in older and "user" not in older
