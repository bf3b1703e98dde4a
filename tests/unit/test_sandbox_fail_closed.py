"""Fail closed: sandbox facts that cannot be verified never become the host's namespaces; state files
are private. (The real-pod check is tests/integration/test_security_door.py.)"""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import pytest

from pyrunc.errors import RuntimeFailure
from pyrunc.runtime.launch import join_namespaces
from pyrunc.sandbox.sandbox import SandboxState, verified_sandbox
from pyrunc.store.atomic import private_dir, read_json, write_json, write_text
from pyrunc.store.layout import PodLayout


def spec(**kw: bool) -> SimpleNamespace:
    base = {"host_network": False, "host_pid": False, "host_ipc": False, "share_process_namespace": False}
    return SimpleNamespace(**(base | kw))


@pytest.fixture
def layout(tmp_path) -> PodLayout:
    lay = PodLayout(str(tmp_path), "default", "p")
    os.makedirs(lay.path("ns"))
    return lay


def own(layout: PodLayout, **changes: str) -> SandboxState:
    namespaces = {k: layout.ns_file(k) for k in ("net", "ipc", "uts")} | {"pid": "new"}
    return SandboxState(namespaces=namespaces | changes, shm=layout.path("shm"))


def test_missing_record_is_refused(layout: PodLayout) -> None:
    with pytest.raises(RuntimeFailure, match=r"sandbox record \(sandbox.json\) is missing or unreadable"):
        verified_sandbox(layout, spec(), None)


HOST_NET = {"net": "host", "uts": "host"}  # hostNetwork: so that the checks reach the next kind


@pytest.mark.parametrize("pod, changes, why", [
    (spec(), {"net": "host"}, "net namespace cannot be verified \\(recorded as 'host'"),
    (spec(host_network=True), HOST_NET | {"ipc": "host"}, "ipc namespace cannot be verified"),
    (spec(host_network=True), HOST_NET | {"ipc": "/proc/self/ns/ipc"}, "not the pod's own namespace file"),
    (spec(host_network=True, host_ipc=True), HOST_NET | {"ipc": "host", "pid": "host"},
     "pid namespace cannot be verified \\(recorded as 'host', the pod asks for 'new'"),
    (spec(), {"uts": "host"}, "net namespace cannot be verified"),  # net first: its pin is not mounted here
])
def test_a_host_namespace_the_pod_did_not_ask_for_is_refused(layout: PodLayout, pod, changes, why) -> None:
    with pytest.raises(RuntimeFailure, match=why):
        verified_sandbox(layout, pod, own(layout, **changes))


def test_a_record_without_namespaces_is_refused(layout: PodLayout) -> None:
    with pytest.raises(RuntimeFailure, match="net namespace cannot be verified \\(recorded as None"):
        verified_sandbox(layout, spec(), SandboxState())


def test_a_pin_that_lost_its_mount_is_refused(layout: PodLayout) -> None:
    # Without its bind mount the pin is an empty regular file; setns on it would fail anyway,
    # but the container must not even be prepared.
    for kind in ("net", "ipc", "uts"):
        open(layout.ns_file(kind), "w").close()
    with pytest.raises(RuntimeFailure, match="no longer holds a namespace"):
        verified_sandbox(layout, spec(), own(layout))


def test_shared_pid_namespace_needs_its_living_holder(layout: PodLayout) -> None:
    state = own(layout, pid="/proc/999999999/ns/pid", **HOST_NET, ipc="host")
    state.holder_pid, state.holder_start = 999999999, 1
    pod = spec(host_network=True, host_ipc=True, share_process_namespace=True)
    with pytest.raises(RuntimeFailure, match="process-namespace holder is gone"):
        verified_sandbox(layout, pod, state)


def test_host_shm_only_for_host_ipc(layout: PodLayout) -> None:
    host_all = spec(host_network=True, host_pid=True, host_ipc=True)
    state = SandboxState(namespaces={"net": "host", "ipc": "host", "uts": "host", "pid": "host"}, shm="")
    assert verified_sandbox(layout, host_all, state) is state
    state.shm = "/dev/shm"
    with pytest.raises(RuntimeFailure, match="/dev/shm is recorded as '/dev/shm'"):
        verified_sandbox(layout, host_all, state)


def test_join_namespaces_has_no_host_default() -> None:
    with pytest.raises(RuntimeFailure, match="no ipc namespace given"):
        join_namespaces({})
    with pytest.raises(RuntimeFailure, match="no net namespace given"):
        join_namespaces({"ipc": "host", "uts": "host", "net": ""})


def test_state_files_are_0600_and_dirs_0750(tmp_path) -> None:
    old = os.umask(0)
    try:
        path = str(tmp_path / "pod.json")
        write_json(path, {"env": "secret"})
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and read_json(path) == {"env": "secret"}
        write_text(path, "{}")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        d = tmp_path / "pods" / "default_p"
        private_dir(str(d))
        assert stat.S_IMODE(d.stat().st_mode) == 0o750
        os.chmod(d, 0o777)
        private_dir(str(d))  # an existing directory is narrowed
        assert stat.S_IMODE(d.stat().st_mode) == 0o750
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == ["pod.json", "pods"]  # no temp file left
