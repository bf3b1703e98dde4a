"""`pyrunc cri`: the remaining fields of the kubelet's requests (devices, cpuset, swap, ContainerStatus's
resources and user, ambient capabilities), each seen from the host."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import Node, _node
from tests.integration.test_cri import Cri, code_of, cri  # noqa: F401
from tests.integration.test_cri_ctx import _cid, cgroup_file, run, run_sandbox, sandbox, sleeper, status_of, v2

grpc = pytest.importorskip("grpc")
pytestmark = [pytest.mark.root, pytest.mark.network]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A node root beside the kubelet's log directory (tmp_path/logs), which the node's leak check leaves alone."""
    yield from _node(tmp_path / "n")


def test_devices_made_in_the_container_and_allowed_by_its_cgroup(cri: Cri, tmp_path: Path) -> None:  # noqa: F811
    pb, rt, n = cri.pb, cri.rt, cri.node
    config = sandbox(pb, tmp_path / "logs", name="dev")
    sandbox_id = run_sandbox(cri, config)
    n.remember_pids()
    app = sleeper(pb, "app", pb.LinuxContainerSecurityContext())
    app.devices.append(pb.Device(host_path="/dev/zero", container_path="/dev/myzero", permissions="rw"))
    # /dev/fuse (10:229) is not in the default allow-list: the request's rule is what lets it be opened.
    app.devices.append(pb.Device(host_path="/dev/fuse", container_path="/opt/devs/fuse", permissions="r"))
    pid = run(cri, sandbox_id, config, app)
    cid = _cid(cri, "app")
    zero = os.stat("/dev/zero")
    listed = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["ls", "-ln", "/dev/myzero", "/opt/devs/fuse"],
                                            timeout=10))
    assert listed.exit_code == 0, listed
    lines = listed.stdout.decode().splitlines()
    assert lines[0].startswith("c") and re.search(rf"\b{os.major(zero.st_rdev)},\s+{os.minor(zero.st_rdev)}\b",
                                                  lines[0]), lines
    assert lines[1].startswith("crw-------") and re.search(r"\b10,\s+229\b", lines[1]), lines
    read = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "head -c 8 /dev/myzero | od -An -tx1"],
                                          timeout=10))
    assert read.exit_code == 0 and read.stdout.decode().split() == ["00"] * 8, read
    # "r" only: opened for reading, refused by the device cgroup for writing.
    fuse = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "exec 3</opt/devs/fuse && echo read; "
                                                                 "exec 4>/opt/devs/fuse && echo written"], timeout=10))
    assert fuse.stdout.decode().split() == ["read"] and b"not permitted" in fuse.stderr, fuse
    if not v2():
        allowed = cgroup_file(pid, "devices", "devices.list").splitlines()
        assert "c 10:229 r" in allowed, allowed
        assert f"c {os.major(zero.st_rdev)}:{os.minor(zero.st_rdev)} rwm" in allowed, allowed  # runc's default list
    node_in = os.stat(f"/proc/{pid}/root/dev/myzero", follow_symlinks=False)
    assert stat.S_ISCHR(node_in.st_mode) and node_in.st_rdev == zero.st_rdev

    missing = sleeper(pb, "missing", pb.LinuxContainerSecurityContext())
    missing.devices.append(pb.Device(host_path="/dev/no-such-device", container_path="/dev/x", permissions="rwm"))
    with pytest.raises(grpc.RpcError) as info:
        rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=missing, sandbox_config=config))
    assert "/dev/no-such-device" in str(info.value.details()), info.value.details()
    # Nothing of it stays: the same container is created once the device is one the host has.
    missing.devices[0].host_path = "/dev/null"
    rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=missing, sandbox_config=config))
    bad = sleeper(pb, "bad", pb.LinuxContainerSecurityContext())
    bad.devices.append(pb.Device(host_path="/dev/null", container_path="/dev/x", permissions="rwx"))
    assert code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=sandbox_id, config=bad, sandbox_config=config))) == grpc.StatusCode.INVALID_ARGUMENT
