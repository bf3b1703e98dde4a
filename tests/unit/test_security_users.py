"""Users, groups and sysctls as the kubelet + containerd decide them (pure logic, no root).

The identity table follows containerd's CRI (oci.WithUser, WithUserID, WithUsername,
WithAdditionalGIDs, WithSupplementalGroups) and the kubelet (verifyRunAsNonRoot, the order of
fsGroup and supplementalGroups); the sysctl table follows pkg/kubelet/sysctl and the API server.
"""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.errors import ContainerConfigError, SpecError
from pyrunc.runtime import sysctls
from pyrunc.runtime.users import (
    ImageUsers, Identity, UserLookupError, image_user, parse_group, parse_passwd, resolve_identity, resolve_user,
)
from pyrunc.spec import pod_from_dict

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment line is not a user
broken:x:notanumber:0::/:/bin/sh
short:x:7
app:x:1000:1000:App:/home/app:/bin/sh
svc:x:1234:4321::/:/bin/sh
"""

GROUP = """\
root:x:0:
app:x:1000:app
staff:x:50:app,svc
video:x:44:app
audio:x:63:svc
broken:x:nan:app
"""


def db(passwd: str | None = PASSWD, group: str | None = GROUP) -> ImageUsers:
    files = {"/etc/passwd": passwd, "/etc/group": group}
    return ImageUsers(lambda path: None if files.get(path) is None else files[path].encode())


def pod(pod_sc: dict[str, Any] | None = None, ctr_sc: dict[str, Any] | None = None, name: str = "web") -> Any:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}]}
    if pod_sc is not None:
        spec["securityContext"] = pod_sc
    if ctr_sc is not None:
        spec["containers"][0]["securityContext"] = ctr_sc
    return pod_from_dict({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": name, "namespace": "team", "uid": "u-1"}, "spec": spec})


def identity(user: str, pod_sc: dict[str, Any] | None = None, ctr_sc: dict[str, Any] | None = None,
             users: ImageUsers | None = None) -> Identity:
    p = pod(pod_sc, ctr_sc)
    return resolve_identity(p, p.spec.containers[0], user, users if users is not None else db())


# ---------------------------------------------------------------- parsing
def test_parse_passwd_keeps_well_formed_entries_only() -> None:
    assert [(u.name, u.uid, u.gid) for u in parse_passwd(PASSWD)] == [
        ("root", 0, 0), ("daemon", 1, 1), ("app", 1000, 1000), ("svc", 1234, 4321)]


def test_parse_group_members() -> None:
    groups = {g.name: (g.gid, g.members) for g in parse_group(GROUP)}
    assert groups == {"root": (0, ()), "app": (1000, ("app",)), "staff": (50, ("app", "svc")),
                      "video": (44, ("app",)), "audio": (63, ("svc",))}


def test_a_malformed_uid_is_never_read_as_root() -> None:
    assert parse_passwd("evil:x::0::/:/bin/sh\nevil2:x:+0:0::/:/bin/sh\n") == []


def test_image_user_is_the_kubelets_view() -> None:
    assert image_user("") == (None, "")
    assert image_user("1000") == (1000, "")
    assert image_user("1000:50") == (1000, "")
    assert image_user("app:staff") == (None, "app")


# ---------------------------------------------------------------- the resolution table
@pytest.mark.parametrize("name,group,want", [
    ("0", None, (0, 0)),
    ("1000", None, (1000, 1000)),       # WithUserID: passwd primary group
    ("4242", None, (4242, 0)),          # no passwd entry: gid 0
    ("app", None, (1000, 1000)),        # WithUsername
    ("app", "staff", (1000, 50)),
    ("app", "7", (1000, 7)),
    ("4242", "staff", (4242, 50)),      # a numeric user is not looked up when a group is given
    ("4242", "7", (4242, 7)),
])
def test_resolve_user(name: str, group: str | None, want: tuple[int, int]) -> None:
    assert resolve_user(name, group, db()) == want


@pytest.mark.parametrize("name,group,fragment", [
    ("nobody", None, 'no users found: user "nobody"'),
    ("app", "nogroup", 'no groups found: group "nogroup"'),
    ("99999999999", None, "uid out of range"),
])
def test_unknown_names_cannot_be_created(name: str, group: str | None, fragment: str) -> None:
    with pytest.raises(UserLookupError, match=fragment):
        resolve_user(name, group, db())


def test_named_user_without_any_passwd_file_is_an_error() -> None:
    with pytest.raises(UserLookupError, match="no users found"):
        resolve_user("app", None, db(passwd=None))


def test_image_named_user_gets_primary_group_and_group_memberships() -> None:
    # uid and primary gid from passwd; staff and video list app; the group named "app" is skipped.
    assert identity("app") == Identity(1000, 1000, (1000, 50, 44))


def test_image_name_and_group() -> None:
    assert identity("app:video") == Identity(1000, 44, (44, 50))


def test_image_uid_gid_taken_as_they_are() -> None:
    assert identity("1234:7") == Identity(1234, 7, (7, 50, 63))


def test_no_image_user_is_root() -> None:
    assert identity("") == Identity(0, 0, (0,))


def test_run_as_user_takes_the_passwd_primary_group_of_that_uid() -> None:
    assert identity("app", {"runAsUser": 1234}) == Identity(1234, 4321, (4321, 50, 63))


def test_run_as_user_without_passwd_entry_has_group_0() -> None:
    assert identity("app", {"runAsUser": 4242}) == Identity(4242, 0, (0,))


def test_run_as_user_ignores_the_image_group() -> None:
    assert identity("app:video", {"runAsUser": 4242}) == Identity(4242, 0, (0,))


def test_run_as_group_alone_keeps_the_image_user() -> None:
    assert identity("app", {"runAsGroup": 3000}) == Identity(1000, 3000, (3000, 50, 44))


def test_container_wins_over_pod() -> None:
    got = identity("", {"runAsUser": 1000, "runAsGroup": 3000}, {"runAsUser": 2000})
    assert (got.uid, got.gid) == (2000, 3000)


def test_security_context_demo() -> None:
    """The docs' security-context-demo on busybox (no uid 1000 in its passwd)."""
    busybox = db(passwd="root:x:0:0:root:/root:/bin/sh\n", group="root:x:0:\n")
    got = identity("", {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000}, users=busybox)
    assert got == Identity(1000, 3000, (3000, 2000))  # the kernel sorts: `id` shows groups=2000,3000


def test_docs_security_context_5_merges_the_image_groups() -> None:
    """The docs' security-context-5: agnhost's user 1000 is a member of group 50000 in its image."""
    agnhost = db(passwd="root:x:0:0::/:/bin/sh\nuser-defined-in-image:x:1000:1000::/:/bin/sh\n",
                 group="user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n")
    sc = {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000]}
    assert sorted(identity("", sc, users=agnhost).additional_gids) == [3000, 4000, 50000]
    strict = dict(sc, supplementalGroupsPolicy="Strict")
    assert sorted(identity("", strict, users=agnhost).additional_gids) == [3000, 4000]


def test_groups_are_deduplicated_in_containerds_order() -> None:
    got = identity("app", {"fsGroup": 50, "supplementalGroups": [44, 9, 9, 1000]})
    assert got.additional_gids == (1000, 50, 44, 9)


def test_fs_group_before_supplemental_groups() -> None:
    got = identity("", {"supplementalGroups": [5, 6], "fsGroup": 7}, users=db(None, None))
    assert got.additional_gids == (0, 7, 5, 6)


# ---------------------------------------------------------------- runAsNonRoot
WHERE = '(pod: "web_team(u-1)", container: app)'


@pytest.mark.parametrize("user,pod_sc,ctr_sc,message", [
    ("", {"runAsNonRoot": True}, None, f"container has runAsNonRoot and image will run as root {WHERE}"),
    ("0", None, {"runAsNonRoot": True}, f"container has runAsNonRoot and image will run as root {WHERE}"),
    ("app", {"runAsNonRoot": True}, None,
     f"container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root {WHERE}"),
    ("app:staff", None, {"runAsNonRoot": True}, "image has non-numeric user (app)"),
    ("1000", {"runAsNonRoot": True, "runAsUser": 0}, None, f"container's runAsUser breaks non-root policy {WHERE}"),
])
def test_run_as_non_root_refused(user: str, pod_sc: Any, ctr_sc: Any, message: str) -> None:
    with pytest.raises(ContainerConfigError) as e:
        identity(user, pod_sc, ctr_sc)
    assert message in e.value.message


@pytest.mark.parametrize("user,pod_sc,ctr_sc", [
    ("1000", {"runAsNonRoot": True}, None),
    ("app", {"runAsNonRoot": True, "runAsUser": 1000}, None),  # runAsUser set: the image is not consulted
    ("", {"runAsNonRoot": True}, {"runAsUser": 5}),
    ("", {"runAsNonRoot": True}, {"runAsNonRoot": False}),     # the container wins
])
def test_run_as_non_root_allowed(user: str, pod_sc: Any, ctr_sc: Any) -> None:
    identity(user, pod_sc, ctr_sc)


def test_run_as_non_root_is_checked_before_any_lookup() -> None:
    """The kubelet refuses a non-numeric image user without reading the image's passwd."""
    read: list[str] = []
    users = ImageUsers(lambda path: read.append(path) or None)  # type: ignore[func-returns-value]
    with pytest.raises(ContainerConfigError):
        identity("app", {"runAsNonRoot": True}, users=users)
    assert read == []


# ---------------------------------------------------------------- sysctls
def test_safe_set_follows_kernel_versions() -> None:
    old = sysctls.safe_sysctls((4, 4))
    assert "net.ipv4.ip_local_port_range" in old and "net.ipv4.ip_local_reserved_ports" in old
    assert "net.ipv4.tcp_keepalive_time" not in old and "net.ipv4.tcp_fin_timeout" not in old
    assert "net.ipv4.tcp_fin_timeout" not in sysctls.safe_sysctls((4, 5))
    assert "net.ipv4.tcp_fin_timeout" in sysctls.safe_sysctls((4, 6))
    assert "net.ipv4.tcp_rmem" not in sysctls.safe_sysctls((4, 14))
    assert len(sysctls.safe_sysctls((6, 1))) == 12


def test_kernel_version_parsing() -> None:
    assert sysctls.kernel_version("6.1.0-18-amd64") == (6, 1)
    assert sysctls.kernel_version("4.15.0") == (4, 15)
    assert sysctls.kernel_version("garbage") == (0, 0)


@pytest.mark.parametrize("name,ns", [
    ("kernel.shm_rmid_forced", "IPC"), ("kernel.shmmax", "IPC"), ("kernel.msgmax", "IPC"), ("kernel.sem", "IPC"),
    ("fs.mqueue.msg_max", "IPC"), ("net.core.somaxconn", "Net"), ("net/ipv4/ip_forward", "Net"),
    ("kernel.hostname", None), ("vm.swappiness", None), ("kernel.semx", None), ("fs.file-max", None),
])
def test_namespaces(name: str, ns: str | None) -> None:
    assert sysctls.namespace_of(name) == ns


def test_slash_names() -> None:
    assert sysctls.normalize("net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter"
    assert sysctls.proc_path("net/ipv4/conf/eth0.100/rp_filter") == "net/ipv4/conf/eth0.100/rp_filter"
    assert sysctls.proc_path("net.ipv4.ip_local_port_range") == "net/ipv4/ip_local_port_range"


def test_allowlist_checks() -> None:
    allow = sysctls.Allowlist(["kernel.msg*", "net.core.somaxconn"], kernel=(6, 1))
    assert allow.check("net.ipv4.ip_local_port_range", False, False) is None
    assert allow.check("net/ipv4/ip_local_port_range", False, False) is None
    assert allow.check("kernel.msgmax", False, False) is None
    assert allow.check("net.core.somaxconn", False, False) is None
    assert allow.check("net.core.rmem_max", False, False) == '"net.core.rmem_max" not allowlisted'
    assert allow.check("kernel.msgmax", False, True) == '"kernel.msgmax" not allowed with host IPC enabled'
    assert allow.check("net.core.somaxconn", True, False) == '"net.core.somaxconn" not allowed with host Net enabled'


@pytest.mark.parametrize("pattern", ["vm.swappiness", "kernel.*", "kernel.core_pattern", "Net.core", "net..x", "*"])
def test_allowlist_refuses_patterns_that_are_not_namespaced_or_malformed(pattern: str) -> None:
    with pytest.raises(ValueError):
        sysctls.Allowlist([pattern], kernel=(6, 1))


def _sysctl_pod(*names: str, **spec: Any) -> Any:
    d = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
         "spec": {"containers": [{"name": "app", "image": "busybox"}],
                  "securityContext": {"sysctls": [{"name": n, "value": "1"} for n in names]}, **spec}}
    return pod_from_dict(d)


def test_admission_message_is_the_kubelets() -> None:
    allow = sysctls.Allowlist([], kernel=(6, 1))
    assert sysctls.admit(_sysctl_pod("net.ipv4.tcp_syncookies"), allow) is None
    assert sysctls.admit(_sysctl_pod("net.ipv4.tcp_syncookies", "kernel.msgmax"), allow) == \
        'Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted'


@pytest.mark.parametrize("names,spec,path,fragment", [
    (["net.ipv4..x"], {}, "spec.securityContext.sysctls[0].name", 'Invalid value: "net.ipv4..x": must have at most 253'),
    (["Kernel.shmmax"], {}, "spec.securityContext.sysctls[0].name", "match regex"),
    (["a" * 254], {}, "spec.securityContext.sysctls[0].name", "at most 253 characters"),
    (["kernel.shmmax", "kernel.shmmax"], {}, "spec.securityContext.sysctls[1].name", 'Duplicate value: "kernel.shmmax"'),
    (["net.ipv4.tcp_syncookies"], {"hostNetwork": True}, "spec.securityContext.sysctls[0].name",
     "may not be specified when 'hostNetwork' is true"),
    (["kernel.msgmax"], {"hostIPC": True}, "spec.securityContext.sysctls[0].name",
     "may not be specified when 'hostIPC' is true"),
])
def test_sysctl_names_are_validated_with_their_path(names: list[str], spec: dict[str, Any], path: str,
                                                    fragment: str) -> None:
    with pytest.raises(SpecError) as e:
        _sysctl_pod(*names, **spec)
    assert any(err.path == path and fragment in err.detail for err in e.value.errors), e.value.message


def test_pod_sysctls_in_dotted_form() -> None:
    p = _sysctl_pod("net/ipv4/tcp_syncookies", "kernel.shmmni")
    assert sysctls.pod_sysctls(p.spec) == [("net.ipv4.tcp_syncookies", "1"), ("kernel.shmmni", "1")]


def test_node_setting_is_a_list_of_strings(tmp_path: Any) -> None:
    import json

    from pyrunc.config import load_config
    from pyrunc.errors import PyruncError

    (tmp_path / "config.json").write_text(json.dumps({"allowed_unsafe_sysctls": ["kernel.msg*"]}))
    assert load_config(str(tmp_path)).allowed_unsafe_sysctls == ("kernel.msg*",)
    (tmp_path / "config.json").write_text(json.dumps({"allowed_unsafe_sysctls": "kernel.msg*"}))
    with pytest.raises(PyruncError, match="expected a list of strings"):
        load_config(str(tmp_path))


def test_node_allowlist_names_the_config_file(tmp_path: Any) -> None:
    from pyrunc.config import NodeConfig
    from pyrunc.errors import PyruncError

    cfg = NodeConfig(root=str(tmp_path), allowed_unsafe_sysctls=("vm.swappiness",))
    with pytest.raises(PyruncError, match=r"config.json: allowed_unsafe_sysctls: .*not known to be namespaced"):
        sysctls.node_allowlist(cfg)
