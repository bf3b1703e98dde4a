"""pyrunc-oci's config.json decoding: what it keeps, and the field path of every refusal."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pyrunc.cgroups.devices import ALLOW_ALL, DENY_ALL, DeviceRule
from pyrunc.errors import CgroupError, FieldError
from pyrunc.oci import cgroup, config
from pyrunc.oci.config import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, decode
from pyrunc.oci.defaults import default_spec, features


def spec(**changes: Any) -> dict[str, Any]:
    doc = default_spec()
    doc["process"]["terminal"] = False
    for dotted, value in changes.items():
        node = doc
        parts = dotted.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return doc


def refused(doc: dict[str, Any]) -> str:
    with pytest.raises(FieldError) as e:
        decode(doc, "/b")
    return e.value.message


def test_the_default_spec_decodes() -> None:
    cfg = decode(spec(), "/bundle")
    assert cfg.root == "/bundle/rootfs" and cfg.root_readonly
    assert cfg.process.args == ("sh",) and cfg.process.cwd == "/"
    assert cfg.process.env[0] == ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    assert cfg.process.capabilities.bounding == ("CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE") or \
        set(cfg.process.capabilities.bounding) == {"CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"}
    assert cfg.process.no_new_privileges
    assert cfg.process.rlimits == (config.Rlimit("RLIMIT_NOFILE", 1024, 1024),)
    assert cfg.namespaces == {"pid": "new", "network": "new", "ipc": "new", "uts": "new", "mount": "new"}
    assert cfg.hostname == "runc"
    assert cfg.resources.devices[0] == DENY_ALL and DeviceRule("c", 1, 3, "rwm", True) in cfg.resources.devices


def test_ambient_capabilities_the_kernel_would_refuse_are_left_out() -> None:
    # runc's default asks for ambient caps with an empty inheritable set: runc goes on without them.
    cfg = decode(spec(), "/b")
    assert cfg.process.capabilities.ambient and cfg.capabilities.ambient == ()
    doc = spec()
    doc["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    assert decode(doc, "/b").capabilities.ambient == ("CAP_KILL",)


def test_mount_options_become_flags_and_data() -> None:
    cfg = decode(spec(), "/b")
    by_dest = {m.destination: m for m in cfg.mounts}
    assert by_dest["/sys"].flags == MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY and by_dest["/sys"].data == ""
    assert by_dest["/dev"].data == "mode=755,size=65536k"
    doc = spec(mounts=[{"destination": "/data", "type": "none", "source": "/srv", "options": ["rbind", "ro", "rprivate"]}])
    (m,) = decode(doc, "/b").mounts
    assert m.type == "bind" and m.flags == MS_BIND | MS_REC | MS_RDONLY and m.propagation == MS_PRIVATE | MS_REC
    doc = spec(mounts=[{"destination": "/data", "type": "bind", "source": "data", "options": ["rw"]}])
    assert decode(doc, "/b").mounts[0].flags == MS_BIND


@pytest.mark.parametrize("changes, path", [
    ({"ociVersion": "2.0.0"}, "ociVersion"),
    ({"process__args": []}, "process.args"),
    ({"process__cwd": "relative"}, "process.cwd"),
    ({"process__env": ["NOEQUALS"]}, "process.env[0]"),
    ({"process__user": {"uid": -1}}, "process.user.uid"),
    ({"process__user": {"uid": 0, "gid": 0, "additionalGids": [1, "x"]}}, "process.user.additionalGids[1]"),
    ({"process__rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}, "process.rlimits[0].type"),
    ({"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]}, "process.rlimits[0].soft"),
    ({"process__capabilities": {"bounding": ["CAP_NOPE"]}}, "process.capabilities.bounding[0]"),
    ({"process__oomScoreAdj": 5000}, "process.oomScoreAdj"),
    ({"process__apparmorProfile": "x"}, "process.apparmorProfile"),
    ({"process__selinuxLabel": "x"}, "process.selinuxLabel"),
    ({"linux__mountLabel": "x"}, "linux.mountLabel"),
    ({"process__ioPriority": {"class": "IOPRIO_CLASS_NONE"}}, "process.ioPriority.class"),
    ({"process__ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}}, "process.ioPriority.priority"),
    ({"process__scheduler": {"policy": "SCHED_DEADLINE"}}, "process.scheduler.policy"),
    ({"process__scheduler": {"policy": "SCHED_FIFO", "priority": 0}}, "process.scheduler.priority"),
    ({"process__scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_DL_OVERRUN"]}}, "process.scheduler.flags[0]"),
    ({"process__scheduler": {"policy": "SCHED_OTHER", "nice": 20}}, "process.scheduler.nice"),
    ({"linux__personality": {"domain": "LINUX64"}}, "linux.personality.domain"),
    ({"linux__personality": {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}}, "linux.personality.flags"),
    ({"mounts": [{"destination": "rel", "type": "tmpfs"}]}, "mounts[0].destination"),
    ({"mounts": [{"destination": "/x", "type": "nfs"}]}, "mounts[0].type"),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/y", "options": ["idmap"]}]}, "mounts[0].options"),
    ({"mounts": [{"destination": "/x", "type": "tmpfs", "source": "t", "options": ["idmap"]}]}, "mounts[0].options"),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/y",
                  "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]}, "mounts[0].uidMappings"),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/y", "options": ["ridmap"],
                  "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]}, "mounts[0].gidMappings"),
    ({"mounts": [{"destination": "/x", "type": "bind", "source": "/y", "options": ["tmpcopyup"]}]}, "mounts[0].options"),
    ({"hooks": {"prestart": [{"path": "bin/true"}]}}, "hooks.prestart[0].path"),
    ({"hooks": {"poststop": [{"path": "/bin/true", "timeout": 0}]}}, "hooks.poststop[0].timeout"),
    ({"hooks": {"createRuntime": [{"path": "/bin/true", "env": ["X"]}]}}, "hooks.createRuntime[0].env[0]"),
    ({"linux__uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}, "linux.uidMappings"),
    ({"linux__namespaces": [{"type": "user"}, {"type": "mount"}], "hostname": ""}, "linux.uidMappings"),
    ({"linux__namespaces": [{"type": "user"}, {"type": "mount"}], "hostname": "",
      "linux__uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}, "linux.gidMappings"),
    ({"linux__namespaces": [{"type": "user", "path": "/proc/1/ns/user"}, {"type": "mount"}], "hostname": "",
      "linux__uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}, "linux.uidMappings"),
    ({"linux__uidMappings": [{"containerID": 0, "hostID": 1000, "size": 0}]}, "linux.uidMappings[0].size"),
    ({"linux__timeOffsets": {"monotonic": {"secs": 1}}}, "linux.timeOffsets"),
    ({"linux__namespaces": [{"type": "time"}, {"type": "mount"}], "hostname": "", "linux__timeOffsets": {"realtime": {"secs": 1}}},
     "linux.timeOffsets.realtime"),
    ({"linux__namespaces": [{"type": "mount", "path": "proc/1/ns/mnt"}]}, "linux.namespaces[0].path"),
    ({"linux__namespaces": [{"type": "pid"}]}, "linux.namespaces"),
    ({"linux__namespaces": [{"type": "mount"}, {"type": "bogus"}]}, "linux.namespaces[1].type"),
    ({"linux__namespaces": [{"type": "mount"}, {"type": "net", "path": "x"}]}, "linux.namespaces[1].type"),
    ({"linux__namespaces": [{"type": "mount"}, {"type": "network", "path": "x"}]}, "linux.namespaces[1].path"),
    ({"linux__resources": {"memory": {"kernel": 1}}}, "linux.resources.memory.kernel"),
    ({"linux__resources": {"memory": {"limit": "1G"}}}, "linux.resources.memory.limit"),
    ({"linux__resources": {"blockIO": {"weight": 5}}}, "linux.resources.blockIO.weight"),
    ({"linux__resources": {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}}},
     "linux.resources.blockIO.throttleReadBpsDevice[0].minor"),
    ({"linux__resources": {"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}}, "linux.resources.hugepageLimits[0].pageSize"),
    ({"linux__resources": {"network": {"priorities": [{"name": "a b", "priority": 1}]}}},
     "linux.resources.network.priorities[0].name"),
    ({"linux__resources": {"unified": {"cgroup.procs": "1"}}}, "linux.resources.unified.cgroup.procs"),
    ({"linux__resources": {"memory": {"swappiness": 101}}}, "linux.resources.memory.swappiness"),
    ({"linux__resources": {"devices": [{"allow": True, "type": "x", "access": "rwm"}]}}, "linux.resources.devices[0]"),
    ({"linux__seccomp": {"defaultAction": "SCMP_ACT_NOPE"}}, "linux.seccomp"),
    ({"linux__seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"}}, "linux.seccomp.listenerPath"),
    ({"linux__sysctl": {"net.ipv4.ip_forward": 1}}, "linux.sysctl.net.ipv4.ip_forward"),
    ({"linux__devices": [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]}, "linux.devices[0].path"),
    ({"linux__intelRdt": {"closID": "x"}}, "linux.intelRdt"),
    ({"linux__cgroupsPath": "/a/../b"}, "linux.cgroupsPath"),
    ({"root": {}}, "root.path"),
])
def test_refusals_name_the_field(changes: dict[str, Any], path: str) -> None:
    doc = spec(**{k: copy.deepcopy(v) for k, v in changes.items()})
    message = refused(doc)
    assert message.startswith(path + ":"), message


def test_a_mount_namespace_joined_by_path() -> None:
    doc = spec(linux__namespaces=[{"type": "mount", "path": "/run/netns-like/mnt"}, {"type": "uts"}])
    assert config.decode(doc, "/b").namespaces == {"mount": "/run/netns-like/mnt", "uts": "new"}


def test_hostname_needs_a_new_uts_namespace() -> None:
    doc = spec(linux__namespaces=[{"type": "mount"}])
    assert refused(doc).startswith("hostname:")


def test_unknown_properties_are_ignored_as_the_spec_says() -> None:
    doc = spec(somethingNew={"a": 1}, process__futureField=1)
    decode(doc, "/b")


def test_device_rules_get_the_config_devices_and_runcs_list() -> None:
    doc = spec(linux__devices=[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    cfg = decode(doc, "/b")
    assert cfg.devices[0].path == "/dev/fuse" and cfg.devices[0].mode == 0o666
    assert DeviceRule("c", 10, 229, "rwm", True) in cfg.resources.devices
    assert decode(spec(linux__resources={}), "/b").resources.devices == (ALLOW_ALL,)


def test_seccomp_is_kept_as_json() -> None:
    rule = {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]}
    cfg = decode(spec(linux__seccomp={"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                      "syscalls": [rule]}), "/b")
    assert '"mkdir"' in cfg.seccomp
    bad = spec(linux__seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "NOPE"}]})
    assert refused(bad) == "linux.seccomp: syscalls[0].action: unsupported value 'NOPE'"


def test_signals_and_ids() -> None:
    assert config.signal_number("KILL") == 9 and config.signal_number("SIGTERM") == 15 and config.signal_number("2") == 2
    with pytest.raises(FieldError):
        config.signal_number("NOPE")
    with pytest.raises(FieldError):
        config.check_id("../x")
    assert config.check_id("abc-1.2_x") == "abc-1.2_x"


def test_cgroup_files_as_runc_converts_them() -> None:
    res = config.Resources(memory_limit=64 << 20, memory_swap=128 << 20, cpu_shares=1024, cpu_quota=50000,
                           cpu_period=100000, pids_limit=20)
    v2 = dict(cgroup.v2_files(res))
    assert v2["memory.max"] == str(64 << 20) and v2["memory.swap.max"] == str(64 << 20)
    assert v2["cpu.max"] == "50000 100000" and v2["pids.max"] == "20" and v2["cpu.weight"] == "39"
    v1 = {(c, f): v for c, f, v in cgroup.v1_files(res)}
    assert v1[("memory", "memory.limit_in_bytes")] == str(64 << 20)
    assert v1[("memory", "memory.memsw.limit_in_bytes")] == str(128 << 20)
    assert v1[("cpu", "cpu.cfs_quota_us")] == "50000" and v1[("pids", "pids.max")] == "20"
    assert cgroup.relative_path("", "abc") == "abc" and cgroup.relative_path("/a/b", "abc") == "a/b"


def test_user_and_time_namespaces_are_kept() -> None:
    from pyrunc.oci.userns import IdMap, host_id, map_text

    cfg = decode(spec(linux__namespaces=[{"type": "mount"}, {"type": "user"}, {"type": "time"}],
                      linux__uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
                      linux__gidMappings=[{"containerID": 0, "hostID": 200000, "size": 10}],
                      linux__timeOffsets={"monotonic": {"secs": 86400}, "boottime": {"secs": -5, "nanosecs": 7}},
                      hostname=""), "/b")
    assert cfg.namespaces["user"] == "new" and cfg.namespaces["time"] == "new"
    assert cfg.uid_map == (IdMap(0, 100000, 65536),) and map_text(cfg.gid_map) == "0 200000 10\n"
    assert host_id(cfg.uid_map, 5) == 100005 and host_id(cfg.gid_map, 10) is None
    assert cfg.time_offsets == (("boottime", -5, 7), ("monotonic", 86400, 0))


def test_process_attributes_are_kept() -> None:
    cfg = decode(spec(process__scheduler={"policy": "SCHED_RR", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
                      process__ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 4},
                      linux__personality={"domain": "LINUX32"}), "/b")
    assert cfg.process.scheduler == config.Scheduler(2 | 0x40000000, 0, 10)
    assert cfg.process.io_priority == (2, 4) and cfg.personality == 8
    cfg = decode(spec(process__execCPUAffinity={"initial": "0-2,5", "final": "1"}), "/b")
    assert cfg.process.cpu_affinity_initial == (0, 1, 2, 5) and cfg.process.cpu_affinity_final == (1,)
    assert refused(spec(process__execCPUAffinity={"final": "3-1"})).startswith("process.execCPUAffinity.final:")
    cfg = decode(spec(linux__memoryPolicy={"mode": "MPOL_INTERLEAVE", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}),
                 "/b")
    assert cfg.memory_policy == (3 | 1 << 15, (0, 1))
    assert refused(spec(linux__memoryPolicy={"mode": "MPOL_BIND"})).startswith("linux.memoryPolicy.nodes:")
    assert refused(spec(linux__memoryPolicy={"mode": "MPOL_X"})).startswith("linux.memoryPolicy.mode:")


def test_more_resources_become_cgroup_files() -> None:
    cfg = decode(spec(linux__resources={
        "memory": {"swappiness": 10, "disableOOMKiller": True, "checkBeforeUpdate": True},
        "cpu": {"burst": 1000, "idle": 1},
        "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 30}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
        "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]}}), "/b")
    v1 = cgroup.v1_files(cfg.resources)
    for row in (("memory", "memory.swappiness", "10"), ("memory", "memory.oom_control", "1"),
                ("cpu", "cpu.cfs_burst_us", "1000"), ("blkio", "blkio.weight", "500"),
                ("blkio", "blkio.weight_device", "8:0 300"), ("blkio", "blkio.throttle.read_bps_device", "8:0 1000"),
                ("blkio", "blkio.throttle.write_iops_device", "8:16 30"),
                ("hugetlb", "hugetlb.2MB.limit_in_bytes", str(4 << 20)), ("net_cls", "net_cls.classid", "1048577"),
                ("net_prio", "net_prio.ifpriomap", "eth0 5")):
        assert row in v1
    with pytest.raises(CgroupError, match="linux.resources.memory.swappiness"):
        cgroup._v2_more(cfg.resources, "/nonexistent")
    res = config.Resources(blkio_weight=500, blkio_throttles=(("read_bps", 8, 0, 1000),),
                           hugepages=(("2MB", 1 << 21),), unified=(("memory.high", "1000000"),))
    assert cgroup._v2_more(res, "/nonexistent") == [("io.weight", "4950"), ("io.max", "8:0 rbps=1000"),
                                                    ("hugetlb.2MB.max", str(1 << 21)), ("memory.high", "1000000")]
    assert cgroup.v2_controllers(res)[-2:] == ["io", "hugetlb"]
    with pytest.raises(CgroupError, match="linux.resources.unified: needs cgroup v2"):
        cgroup.v1_files(res)


def test_recursive_mount_words_become_mount_attributes() -> None:
    from pyrunc.oci import mountattr as ma

    assert ma.combine(["rro", "rnosuid"]) == (0, ma.MOUNT_ATTR_RDONLY | ma.MOUNT_ATTR_NOSUID)
    assert ma.combine(["rro", "rrw"]) == (ma.MOUNT_ATTR_RDONLY, 0)
    assert ma.combine(["rnoatime"]) == (ma.MOUNT_ATTR__ATIME, ma.MOUNT_ATTR_NOATIME)
    assert ma.combine(["rnoatime", "rstrictatime"]) == (ma.MOUNT_ATTR__ATIME, ma.MOUNT_ATTR_STRICTATIME)
    cfg = decode(spec(mounts=[{"destination": "/x", "type": "bind", "source": "/y", "options": ["rbind", "rro", "nosymfollow"]}]), "/b")
    assert cfg.mounts[0].attr_set == ma.MOUNT_ATTR_RDONLY and cfg.mounts[0].flags & 256


def test_hooks_are_kept_by_kind() -> None:
    from pyrunc.oci.hooks import Hook, state_json

    cfg = decode(spec(hooks={"createRuntime": [{"path": "/h", "args": ["h", "x"], "env": ["A=1"], "timeout": 5}],
                             "poststop": [{"path": "/p"}]}), "/b")
    assert cfg.hooks_of("createRuntime") == (Hook("/h", ("h", "x"), ("A=1",), 5),)
    assert cfg.hooks_of("poststop") == (Hook("/p"),) and cfg.hooks_of("prestart") == ()
    assert state_json("c", "stopped", 0, "/b", {}) == b'{"ociVersion": "1.0.2-dev", "id": "c", "status": "stopped", "bundle": "/b"}'


def test_features_lists_only_what_is_handled() -> None:
    doc = features()
    assert "poststop" in doc["hooks"] and {"user", "time"} <= set(doc["linux"]["namespaces"])
    assert "rbind" in doc["mountOptions"] and "rro" in doc["mountOptions"] and "idmap" in doc["mountOptions"]
    assert "tmpcopyup" in doc["mountOptions"] and doc["linux"]["mountExtensions"]["idmap"]["enabled"]


def test_cgroup_v2_group_made_and_written(tmp_path: Any) -> None:
    """On a unified hierarchy (here a directory standing for it): controllers enabled on the way down, the
    values written in the container's group; a failure removes what was made."""
    top = tmp_path
    (top / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (top / "cgroup.subtree_control").write_text("")
    (top / "a").mkdir()
    (top / "a" / "cgroup.controllers").write_text("cpuset cpu memory pids\n")
    (top / "a" / "cgroup.subtree_control").write_text("")
    res = config.Resources(memory_limit=1 << 20, cpu_quota=1000, cpu_period=10000, pids_limit=5)
    groups = cgroup.create(2, {"": str(top)}, "a/b", res)
    assert groups == {"": str(top / "a" / "b")}
    assert (top / "cgroup.subtree_control").read_text() == "+cpuset +cpu +memory +pids"
    assert (top / "a" / "cgroup.subtree_control").read_text() == "+cpuset +cpu +memory +pids"
    assert (top / "a" / "b" / "memory.max").read_text() == str(1 << 20)
    assert (top / "a" / "b" / "cpu.max").read_text() == "1000 10000"
    assert (top / "a" / "b" / "pids.max").read_text() == "5"
    with pytest.raises(CgroupError):
        cgroup.create(2, {"": str(top)}, "a/c/d", res)  # a/c has no cgroup files: fails
    assert not (top / "a" / "c").exists()


def test_the_process_kept_in_state_json_comes_back_equal() -> None:
    """exec rebuilds the container's process from state.json (process.to_facts at create), not config.json."""
    import json

    from pyrunc.oci.process import from_facts, to_facts

    full = decode(spec(process__scheduler={"policy": "SCHED_RR", "priority": 10},
                       process__ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 4},
                       process__execCPUAffinity={"initial": "0-2", "final": "1"},
                       process__consoleSize={"height": 24, "width": 80},
                       process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
                       process__user={"uid": 5, "gid": 6, "additionalGids": [7, 8], "umask": 0o22},
                       process__oomScoreAdj=100, process__noNewPrivileges=True), "/b").process
    plain = decode(spec(), "/b").process
    for p in (full, plain):
        back = from_facts(json.loads(json.dumps(to_facts(p))))
        assert back == p
        assert type(back.capabilities) is type(p.capabilities) and all(type(r) is config.Rlimit for r in back.rlimits)
    assert full.scheduler is not None and full.console_size == (24, 80) and full.umask == 0o22
