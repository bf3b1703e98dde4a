"""Users, groups, fsGroup and sysctls on real pods, checked from the host.

Identities are read from /proc/PID/status of the container's PID 1 (Uid/Gid/Groups lines), volume
ownership with os.stat on the volume's host directory, sysctls inside the pod and from the host
inside the pod's network namespace. Images with their own users are built here from the busybox
image, in a temp images directory the node points at.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.imagekit import File, Symlink, Whiteout
from tests.integration.helpers import EXAMPLES, import_image, seeded_store, Node, _node, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

IMAGE_PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1500:1600:App:/:/bin/sh\nsvc:x:1700:1700::/:/bin/sh\n"
IMAGE_GROUP = "root:x:0:\napp:x:1600:app\nstaff:x:50:app,svc\nvideo:x:44:svc\n"
HOST_USER = "app:x:4242:4242::/:/bin/sh\n"  # a host file an image's absolute symlink points at


def status_ids(pid: int) -> dict[str, list[int]]:
    """Uid, Gid and Groups of a process, from its /proc/PID/status (seen from the host)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            out[key] = [int(v) for v in value.split()]
    return out


def make_image(images: Path, repo: str, user: str, passwd: str | None = IMAGE_PASSWD,
               group: str | None = IMAGE_GROUP, passwd_link: str = "") -> str:
    """docker.io/<repo>:latest in the store `images`: busybox under a layer with these /etc files
    (a whiteout where one is None) and `User`."""
    entries: list[Any] = []
    for name, text in (("passwd", passwd), ("group", group)):
        if name == "passwd" and passwd_link:
            entries.append(Symlink("etc/passwd", passwd_link))
        elif text is None:
            entries.append(Whiteout(f"etc/{name}"))
        else:
            entries.append(File(f"etc/{name}", text.encode()))
    import_image(images, f"docker.io/{repo}:latest", entries, user=user)
    return repo


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = seeded_store(tmp_path_factory.mktemp("images"))
    host = tmp_path_factory.mktemp("host") / "passwd"
    host.write_text(HOST_USER)
    make_image(d, "local/named", "app")
    make_image(d, "local/named-group", "app:video")
    make_image(d, "local/hostlink", "app", passwd=None, group=None, passwd_link=str(host))
    return d


@pytest.fixture(scope="module")
def snode(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for the module: the test images, and kernel.msg* allowed as unsafe sysctls."""
    yield from _node(tmp_path_factory.mktemp("node"), images_dir=str(images), allowed_unsafe_sysctls=["kernel.msg*"])


def waiting(n: Node, pod: str, reason: str) -> dict[str, Any]:
    def get() -> dict[str, Any] | None:
        state = n.pod_json(pod)["status"].get("containerStatuses", [{}])[0].get("state", {})
        w = state.get("waiting") or {}
        return w if w.get("reason") == reason else None

    return poll(f"{pod} waiting with {reason}", get)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the seeds' security-context-demo
def test_security_context_demo(snode: Node) -> None:
    snode.apply_file(EXAMPLES / "security-context.yaml")
    snode.wait_running("security-context-demo")
    pod, ctr = "security-context-demo", "sec-ctx-demo"
    # containerd (since the CVE-2023-25173 fix) adds the primary group to the supplementary
    # groups: a kubelet + containerd node prints groups=2000,3000 here.
    assert snode.exec(pod, ctr, "id").stdout == "uid=1000 gid=3000 groups=2000,3000\n"
    vol = snode.volume_dir(pod, "sec-ctx-vol")
    st = os.stat(vol)
    assert st.st_gid == 2000 and st.st_mode & stat.S_ISGID, oct(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o2777  # drwxrwsrwx, as in the documentation
    assert snode.exec(pod, ctr, "ls", "-ld", "/data/demo").stdout.split()[3] == "2000"
    snode.exec(pod, ctr, "sh", "-c", "echo hello > /data/demo/testfile")
    f = os.stat(vol / "testfile")
    assert (f.st_uid, f.st_gid) == (1000, 2000)
    assert (vol / "testfile").read_text() == "hello\n"
    ids = status_ids(snode.container_pid(pod, ctr))
    assert ids == {"Uid": [1000] * 4, "Gid": [3000] * 4, "Groups": [2000, 3000]}
    snode.delete(pod)


# ---------------------------------------------------------------- users from the image
def test_named_image_user_runs_with_its_primary_group_and_memberships(snode: Node) -> None:
    snode.apply(pod_yaml("named", sleeper("c").replace("image: busybox", "image: local/named")))
    snode.wait_running("named")
    # app is 1500:1600 in the image's passwd, and a member of staff (50) in its group file.
    assert status_ids(snode.container_pid("named", "c")) == {"Uid": [1500] * 4, "Gid": [1600] * 4,
                                                            "Groups": [50, 1600]}
    snode.delete("named")


def test_strict_supplemental_groups_policy_leaves_out_the_images_memberships(snode: Node) -> None:
    c = sleeper("c").replace("image: busybox", "image: local/named")
    snode.apply(pod_yaml("strict", c, "  securityContext: {supplementalGroupsPolicy: Strict, supplementalGroups: [7]}\n"))
    snode.wait_running("strict")
    assert status_ids(snode.container_pid("strict", "c"))["Groups"] == [7, 1600]
    snode.delete("strict")


def test_image_user_with_a_group_name(snode: Node) -> None:
    snode.apply(pod_yaml("named-group", sleeper("c").replace("image: busybox", "image: local/named-group")))
    snode.wait_running("named-group")
    assert status_ids(snode.container_pid("named-group", "c")) == {"Uid": [1500] * 4, "Gid": [44] * 4,
                                                                  "Groups": [44, 50]}
    snode.delete("named-group")


def test_run_as_user_takes_the_primary_group_from_the_images_passwd_else_0(snode: Node) -> None:
    known = sleeper("known", "    securityContext: {runAsUser: 1700}\n").replace("image: busybox", "image: local/named")
    unknown = sleeper("unknown", "    securityContext: {runAsUser: 1234}\n").replace("image: busybox",
                                                                                  "image: local/named")
    snode.apply(pod_yaml("runas", known + unknown))
    snode.wait_running("runas")
    # svc (1700) has primary group 1700 and is in staff (50) and video (44); 1234 has no entry:
    # group 0, nothing else.
    assert status_ids(snode.container_pid("runas", "known")) == {"Uid": [1700] * 4, "Gid": [1700] * 4,
                                                                "Groups": [44, 50, 1700]}
    assert status_ids(snode.container_pid("runas", "unknown")) == {"Uid": [1234] * 4, "Gid": [0] * 4,
                                                                  "Groups": [0]}
    assert snode.exec("runas", "unknown", "id").stdout == "uid=1234 gid=0(root) groups=0(root)\n"
    snode.delete("runas")


def test_run_as_non_root_with_a_root_image(snode: Node) -> None:
    snode.apply(pod_yaml("nonroot", sleeper("c"), "  securityContext: {runAsNonRoot: true}\n"))
    w = waiting(snode, "nonroot", "CreateContainerConfigError")
    uid = snode.pod_json("nonroot")["metadata"]["uid"]
    assert w["message"] == f'container has runAsNonRoot and image will run as root (pod: "nonroot_default({uid})", container: c)'
    assert not snode.state("nonroot", "c").get("pid")  # nothing was started
    snode.delete("nonroot")


def test_run_as_non_root_with_a_non_numeric_image_user(snode: Node) -> None:
    c = sleeper("c", "    securityContext: {runAsNonRoot: true}\n").replace("image: busybox", "image: local/named")
    snode.apply(pod_yaml("nonnumeric", c))
    w = waiting(snode, "nonnumeric", "CreateContainerConfigError")
    assert w["message"].startswith("container has runAsNonRoot and image has non-numeric user (app), "
                                   'cannot verify user is non-root (pod: "nonnumeric_default(')
    snode.delete("nonnumeric")


def test_an_image_passwd_symlinked_to_the_host_is_not_read(snode: Node) -> None:
    """/etc/passwd -> /abs/host/file: resolved inside the image, where it does not exist."""
    snode.apply(pod_yaml("hostlink", sleeper("c").replace("image: busybox", "image: local/hostlink")))
    w = waiting(snode, "hostlink", "CreateContainerError")
    assert 'no users found: user "app"' in w["message"]
    assert not snode.state("hostlink", "c").get("pid")  # had the host's file been read, it would run as 4242
    snode.delete("hostlink")


# ---------------------------------------------------------------- fsGroup
def test_fs_group_on_root_mismatch_pod_still_owns_its_empty_dir(snode: Node) -> None:
    """The kubelet ignores fsGroupChangePolicy for emptyDir (always the full walk): accepted and owned."""
    c = sleeper("c", "    volumeMounts: [{name: d, mountPath: /d}]\n")
    spec = ("  securityContext: {runAsUser: 1000, fsGroup: 3456, fsGroupChangePolicy: OnRootMismatch}\n"
            "  volumes: [{name: d, emptyDir: {}}]\n")
    snode.apply(pod_yaml("policy", c, spec))
    snode.wait_running("policy")
    st = os.stat(snode.volume_dir("policy", "d"))
    assert st.st_gid == 3456 and st.st_mode & stat.S_ISGID
    snode.exec("policy", "c", "mkdir", "/d/sub")
    sub = os.stat(snode.volume_dir("policy", "d") / "sub")
    assert (sub.st_uid, sub.st_gid) == (1000, 3456) and sub.st_mode & stat.S_ISGID  # inherited setgid
    snode.delete("policy")


def test_set_volume_ownership_on_root_mismatch_and_symlinks(tmp_path: Path) -> None:
    from pyrunc.sandbox.volumes import set_volume_ownership

    host = tmp_path / "host-file"
    host.write_text("host")
    os.chmod(host, 0o600)
    vol = tmp_path / "vol"
    (vol / "dir").mkdir(parents=True)
    (vol / "dir" / "file").write_text("x")
    os.chmod(vol / "dir" / "file", 0o600)
    (vol / "dir" / "to-host").symlink_to(host)
    (vol / "to-host-dir").symlink_to(tmp_path)

    assert set_volume_ownership(str(vol), 2000) is True
    f = os.stat(vol / "dir" / "file")
    assert f.st_gid == 2000 and stat.S_IMODE(f.st_mode) == 0o660
    d = os.stat(vol / "dir")
    assert d.st_gid == 2000 and d.st_mode & stat.S_ISGID and d.st_mode & 0o070 == 0o070
    assert os.lstat(vol / "dir" / "to-host").st_gid == 2000  # the link itself (lchown)
    h = os.stat(host)
    assert (h.st_gid, stat.S_IMODE(h.st_mode)) == (0, 0o600)  # never through the symlink
    assert os.stat(tmp_path).st_gid == 0

    # OnRootMismatch: the root matches, so the walk is skipped and a mismatched child stays.
    os.chown(vol / "dir" / "file", -1, 0)
    assert set_volume_ownership(str(vol), 2000, "OnRootMismatch") is False
    assert os.stat(vol / "dir" / "file").st_gid == 0
    # The default (Always) walks; so does OnRootMismatch once the root differs.
    assert set_volume_ownership(str(vol), 2000) is True
    assert os.stat(vol / "dir" / "file").st_gid == 2000
    os.chown(vol / "dir" / "file", -1, 0)
    os.chmod(vol, 0o755)  # no setgid, no group write: a mismatch
    assert set_volume_ownership(str(vol), 2000, "OnRootMismatch") is True
    assert os.stat(vol / "dir" / "file").st_gid == 2000


# ---------------------------------------------------------------- sysctls
def host_value(path: str) -> list[str]:
    return Path(path).read_text().split()


def test_safe_sysctl_is_set_in_the_pods_namespace_only(snode: Node) -> None:
    key = "/proc/sys/net/ipv4/ip_local_port_range"
    want = ["40000", "40999"]
    assert host_value(key) != want
    spec = "  securityContext:\n    sysctls:\n    - {name: net.ipv4.ip_local_port_range, value: '40000 40999'}\n"
    snode.apply(pod_yaml("sysctl", sleeper("a") + sleeper("b"), spec))
    snode.wait_running("sysctl")
    for ctr in ("a", "b"):  # every container of the pod
        assert snode.exec("sysctl", ctr, "cat", key).stdout.split() == want
    netns = str(snode.pod_dir("sysctl") / "ns" / "net")
    out = subprocess.run(["nsenter", f"--net={netns}", "cat", key], capture_output=True, text=True, check=True)
    assert out.stdout.split() == want
    assert host_value(key) != want
    snode.delete("sysctl")


def test_unsafe_sysctl_refused_at_apply_with_one_line(snode: Node) -> None:
    spec = "  securityContext:\n    sysctls:\n    - {name: kernel.shmmni, value: '1000'}\n"
    proc = snode.apply(pod_yaml("unsafe", sleeper("c"), spec), check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert 'SysctlForbidden: Pod was rejected: forbidden sysctl: "kernel.shmmni" not allowlisted' in lines[0]
    assert not snode.pod_dir("unsafe").exists()
    assert snode.run("get", "pod", "unsafe", check=False).returncode == 1


def test_allowlisted_unsafe_sysctl_is_accepted(snode: Node) -> None:
    key = "/proc/sys/kernel/msgmax"
    assert host_value(key) != ["12345"]
    spec = "  securityContext:\n    sysctls:\n    - {name: kernel.msgmax, value: '12345'}\n"
    snode.apply(pod_yaml("msg", sleeper("c"), spec))
    snode.wait_running("msg")
    assert snode.exec("msg", "c", "cat", key).stdout.split() == ["12345"]
    assert host_value(key) != ["12345"]
    snode.delete("msg")


def test_a_value_the_kernel_refuses_fails_apply_and_leaves_nothing(snode: Node) -> None:
    spec = "  securityContext:\n    sysctls:\n    - {name: net.ipv4.ip_local_port_range, value: '9 1'}\n"
    proc = snode.apply(pod_yaml("badvalue", sleeper("c"), spec), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: cannot create the pod's namespaces: "
                                   "sysctl net.ipv4.ip_local_port_range='9 1': Invalid argument"), proc.stderr
    assert not snode.pod_dir("badvalue").exists()
    snode.pods.discard(("default", "badvalue"))


def test_invalid_sysctl_name_is_a_field_error(snode: Node) -> None:
    spec = "  securityContext:\n    sysctls:\n    - {name: net..bad, value: '1'}\n"
    proc = snode.apply(pod_yaml("badname", sleeper("c"), spec), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: spec.securityContext.sysctls[0].name: Invalid value: "net..bad"'), proc.stderr
    assert not snode.pod_dir("badname").exists()
