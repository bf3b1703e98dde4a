"""The CRI's Linux security context as pyrunc's pod securityContext (pyrunc/cri/translate.py), and its wire format."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.cri import translate as tr

ROOT = "/var/lib/kubelet/seccomp"


def security(sc: dict[str, Any], sandbox_sc: dict[str, Any] | None = None) -> tr.ContainerSecurity:
    sandbox = {"linux": {"security_context": sandbox_sc or {}}}
    return tr.container_security({"linux": {"security_context": sc}}, sandbox, ROOT)


def test_wire_numbers_of_the_security_context() -> None:
    pytest.importorskip("google.protobuf")
    pytest.importorskip("grpc_tools")
    from pyrunc.cri import codegen

    codegen.ensure()
    from pyrunc.cri import api_pb2 as pb

    # ContainerConfig.linux is field 15 (key 15<<3|2 = 0x7a); LinuxContainerConfig.security_context field 2;
    # LinuxContainerSecurityContext.run_as_user field 5 (0x2a), an Int64Value whose value is field 1 (0x08).
    msg = pb.ContainerConfig(linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
        run_as_user=pb.Int64Value(value=7))))
    assert msg.SerializeToString() == b"\x7a\x06\x12\x04\x2a\x02\x08\x07"
    # no_new_privs is field 11 (a varint: 11<<3 = 0x58); run_as_group field 12 (0x62); seccomp 15 (0x7a).
    sc = pb.LinuxContainerSecurityContext(no_new_privs=True, run_as_group=pb.Int64Value(value=1),
                                          seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost,
                                                                     localhost_ref="p"))
    assert sc.SerializeToString() == b"\x58\x01" + b"\x62\x02\x08\x01" + b"\x7a\x05\x08\x02\x12\x01p"
    # LinuxPodSandboxConfig.sysctls: field 3, a map entry (key 1, value 2).
    assert pb.LinuxPodSandboxConfig(sysctls={"a": "b"}).SerializeToString() == b"\x1a\x06\x0a\x01a\x12\x01b"


def test_container_security_maps_to_the_pod_api() -> None:
    got = security({"run_as_user": {"value": "1000"}, "run_as_group": {"value": "2000"}, "readonly_rootfs": True,
                    "no_new_privs": True, "supplemental_groups": ["3000"], "supplemental_groups_policy": "Strict",
                    "capabilities": {"add_capabilities": ["NET_ADMIN"], "drop_capabilities": ["ALL"]},
                    "seccomp": {}, "masked_paths": ["/proc/keys"], "readonly_paths": ["/proc/sys"]})
    assert got.container == {"runAsUser": 1000, "runAsGroup": 2000, "readOnlyRootFilesystem": True,
                             "allowPrivilegeEscalation": False, "seccompProfile": {"type": "RuntimeDefault"},
                             "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}
    assert got.pod == {"supplementalGroups": [3000], "supplementalGroupsPolicy": "Strict"}
    assert (got.masked_paths, got.readonly_paths) == (("/proc/keys",), ("/proc/sys",))


def test_seccomp_profiles() -> None:
    assert security({}).container["seccompProfile"] == {"type": "Unconfined"}, "not given: unconfined, as CRI says"
    assert security({"seccomp": {"profile_type": "Unconfined"}}).container["seccompProfile"] == {"type": "Unconfined"}
    local = security({"seccomp": {"profile_type": "Localhost", "localhost_ref": f"{ROOT}/team/p.json"}})
    assert local.container["seccompProfile"] == {"type": "Localhost", "localhostProfile": "team/p.json"}
    legacy = security({"seccomp_profile_path": "runtime/default"})
    assert legacy.container["seccompProfile"] == {"type": "RuntimeDefault"}
    for ref in ("/etc/p.json", f"{ROOT}/../p.json", "p.json"):
        with pytest.raises(tr.CriError, match=r"^config.linux.security_context.seccomp.localhost_ref: "):
            security({"seccomp": {"profile_type": "Localhost", "localhost_ref": ref}})


def test_refusals_name_the_field() -> None:
    with pytest.raises(tr.CriError, match="privileged: no privileged container") as e:
        security({"privileged": True})
    assert e.value.code == "INVALID_ARGUMENT"
    assert security({"privileged": True}, {"privileged": True}).container["privileged"] is True
    assert security({"privileged": True, "masked_paths": ["/x"]}, {"privileged": True}).masked_paths is None
    with pytest.raises(tr.CriError, match=r"run_as_group: requires run_as_user") as e:
        security({"run_as_group": {"value": "1"}})
    assert security({"run_as_username": "nobody", "run_as_group": {"value": "1"}}).container == \
        {"runAsGroup": 1, "seccompProfile": {"type": "Unconfined"}}
    for sc in ({"selinux_options": {"type": "spc_t"}}, {"apparmor": {"profile_type": "Localhost"}},
               {"apparmor_profile": "localhost/x"},
               {"namespace_options": {"pid": "NODE"}}):
        with pytest.raises(tr.CriError) as e:
            security(sc)
        assert e.value.code == "UNIMPLEMENTED", sc
    assert security({"apparmor": {"profile_type": "Unconfined"}}).container  # nothing to apply: accepted


def test_sandbox_sysctls_and_lsm() -> None:
    config = {"linux": {"sysctls": {"kernel.shm_rmid_forced": "1", "net.ipv4.ping_group_range": "0 1"}}}
    assert tr.sandbox_security(config) == {"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"},
                                                       {"name": "net.ipv4.ping_group_range", "value": "0 1"}]}
    with pytest.raises(tr.CriError, match=r"^config.linux.security_context.selinux_options: "):
        tr.sandbox_security({"linux": {"security_context": {"selinux_options": {"level": "s0:c1"}}}})


def test_container_resources_back_to_requests_and_limits() -> None:
    # The kubelet's arithmetic for requests cpu 333m, limits cpu 500m and memory 64Mi: shares 340 (floored),
    # quota 50000 over 100000; taken back, the same millicores come out.
    res, oom = tr.container_resources({"cpu_shares": "340", "cpu_quota": "50000", "cpu_period": "100000",
                                       "memory_limit_in_bytes": str(64 << 20), "oom_score_adj": "-997"}, "r")
    assert res == {"requests": {"cpu": "333m"}, "limits": {"cpu": "500m", "memory": str(64 << 20)}} and oom == -997
    for milli in (1, 2, 100, 250, 333, 999, 1500, 64000):
        shares = max(2, milli * 1024 // 1000)
        got = tr.container_resources({"cpu_shares": shares}, "r")[0]
        if shares > 2:
            assert got["requests"]["cpu"] == f"{milli}m", milli
    # BestEffort: the minimum shares only, no request.
    assert tr.container_resources({"cpu_shares": "2", "hugepage_limits": [{"page_size": "2MB"}]}, "r") == ({}, None)
    # cpuset, unified and huge pages are not requests or limits: raw_resources carries them (test_cri_more.py).
    for other in ({"cpuset_cpus": "0-1"}, {"unified": {"memory.high": "1"}},
                  {"hugepage_limits": [{"page_size": "2MB", "limit": "2097152"}]}):
        assert tr.container_resources(other, "config.linux.resources") == ({}, None)
    with pytest.raises(tr.CriError, match=r"^r.cpu_period: required"):
        tr.container_resources({"cpu_quota": "1000"}, "r")


def test_stats_messages() -> None:
    from pyrunc.runtime.records import ContainerStats

    stats = ContainerStats(name="app", timestamp=1.0, cpu_usage_ns=5, memory_working_set=10, memory_usage=12,
                           memory_rss=7, page_faults=3, major_page_faults=1, process_count=2)
    facts = {"metadata": {"name": "app", "attempt": 0}, "labels": {"a": "b"}}
    msg = tr.container_stats_message("c1", facts, stats, ("/layer/upper", 4096, 3), 99)
    assert msg["attributes"] == {"id": "c1", "metadata": facts["metadata"], "labels": {"a": "b"}, "annotations": {}}
    assert msg["cpu"] == {"timestamp": 99, "usage_core_nano_seconds": {"value": 5}}
    assert msg["memory"]["working_set_bytes"] == {"value": 10} and msg["memory"]["rss_bytes"] == {"value": 7}
    assert msg["writable_layer"]["fs_id"] == {"mountpoint": "/layer/upper"}
    assert "cpu" not in tr.container_stats_message("c1", facts, None, ("/l", 0, 0), 99), "no cgroup: no usage"
    pod = tr.sandbox_stats_message({"id": "s"}, stats, {"rx_bytes": 1, "tx_bytes": 2, "rx_errors": 0, "tx_errors": 0},
                                   [msg], 99)
    assert pod["linux"]["process"]["process_count"] == {"value": 2}
    assert pod["linux"]["network"]["default_interface"]["name"] == "eth0"
    assert "network" not in tr.sandbox_stats_message({"id": "s"}, None, None, [], 99)["linux"]


def test_stats_json_parses_into_the_messages() -> None:
    pytest.importorskip("google.protobuf")
    from google.protobuf import json_format

    from pyrunc.cri import codegen
    from pyrunc.runtime.records import ContainerStats

    codegen.ensure()
    from pyrunc.cri import api_pb2 as pb

    stats = ContainerStats(name="", timestamp=1.0, cpu_usage_ns=5, memory_working_set=10, process_count=1)
    msg = tr.sandbox_stats_message({"id": "s", "metadata": {"name": "web"}}, stats,
                                   {"rx_bytes": 1, "tx_bytes": 2, "rx_errors": 0, "tx_errors": 0}, [], 99)
    parsed = json_format.ParseDict({"stats": msg}, pb.PodSandboxStatsResponse())
    assert parsed.stats.linux.network.default_interface.tx_bytes.value == 2
    assert parsed.stats.attributes.metadata.name == "web"


def test_pull_credentials_of_an_auth_config() -> None:
    import base64

    from pyrunc.images.auth import Credentials

    assert tr.pull_credentials({}, "r.example:5000") is None
    assert tr.pull_credentials({"username": "a", "password": "p"}, "r.example:5000") == Credentials("a", "p")
    encoded = base64.b64encode(b"a:p:q").decode()
    assert tr.pull_credentials({"auth": encoded}, "r.example:5000") == Credentials("a", "p:q")
    token = tr.pull_credentials({"registry_token": "t0k"}, "r.example:5000")
    assert token.registry_token == "t0k" and "t0k" not in repr(token)
    # server_address names the registry the auth is for: another one's is not sent.
    assert tr.pull_credentials({"username": "a", "password": "p", "server_address": "https://r.example:5000/v2/"},
                               "r.example:5000") == Credentials("a", "p")
    assert tr.pull_credentials({"username": "a", "server_address": "other.example"}, "r.example:5000") is None
    assert tr.pull_credentials({"username": "a", "server_address": "https://index.docker.io/v1/"},
                               "docker.io") == Credentials("a", "")
    with pytest.raises(tr.CriError, match=r"^auth.auth: not base64"):
        tr.pull_credentials({"auth": "%%%"}, "r")
    with pytest.raises(tr.CriError) as e:
        tr.pull_credentials({"identity_token": "x"}, "r")
    assert e.value.code == "UNIMPLEMENTED"
    with pytest.raises(tr.CriError, match=r"^auth: no username"):
        tr.pull_credentials({"password": "p"}, "r")


def test_cgroup_parent_of_a_sandbox() -> None:
    assert tr.cgroup_parent({}) == ""
    assert tr.cgroup_parent({"linux": {"cgroup_parent": "/kubepods/burstable/pod1"}}) == "/kubepods/burstable/pod1"
    with pytest.raises(tr.CriError) as e:
        tr.cgroup_parent({"linux": {"cgroup_parent": "kubepods-burstable-pod1.slice"}})
    assert e.value.code == "UNIMPLEMENTED"
    for bad in ("kubepods/pod1", "/kubepods/../x", "/kubepods//x"):
        with pytest.raises(tr.CriError, match=r"^config.linux.cgroup_parent: "):
            tr.cgroup_parent({"linux": {"cgroup_parent": bad}})


def test_a_placed_pod_group_in_the_v1_and_v2_drivers(tmp_path: Any) -> None:
    """The drivers' paths of a pod placed in a kubelet's group (files only: a fake hierarchy root)."""
    from pyrunc.cgroups.base import check_group
    from pyrunc.cgroups.v1 import V1Driver
    from pyrunc.cgroups.v2 import V2Driver
    from pyrunc.errors import CgroupError

    assert check_group("/kubepods/burstable/pod1") == "kubepods/burstable/pod1"
    with pytest.raises(CgroupError):
        check_group("kubepods/pod1")
    v1 = V1Driver(mounts={c: f"{tmp_path}/{c}" for c in ("cpu", "memory", "pids")})
    v1.place("u1", "/kubepods/pod1")
    assert v1.paths("u1", "app")["memory"] == f"{tmp_path}/memory/kubepods/pod1/app"
    v2 = V2Driver(mount_root=str(tmp_path / "unified"))
    v2.place("u1", "/kubepods/pod1")
    assert v2.paths("u1", "app") == {"": f"{tmp_path}/unified/kubepods/pod1/app"}
    # The other pods are found under the driver's own parent as before.
    with pytest.raises(CgroupError):
        v2.paths("u2", None)
