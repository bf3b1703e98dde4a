"""The container's init holds nothing of the supervisor while it waits to become the container.

Until execve the init is a fork of the supervisor; in a pod with a shared PID namespace the other
containers can see it. It must hold only its own pipes by then (runc's init likewise), never the
supervisor's socket, other pods' pipes or any other descriptor the supervisor had open.
"""

from __future__ import annotations

import os

import pytest

from pyrunc.runtime.config import ContainerConfig
from pyrunc.runtime.launch import LaunchError, begin, launch

pytestmark = [pytest.mark.root]


def test_init_holds_only_its_own_descriptors_before_exec() -> None:
    supervisors = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)  # stands for the supervisor's own files
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    cfg = ContainerConfig(
        pod_key="t_hygiene", name="c", args=("true",), env=(), cwd="/", uid=0, gid=0, additional_gids=(),
        lower="", upper="", work="", merged="", mounts=(),
        namespaces={"ipc": "host", "uts": "host", "net": "host", "pid": "new"})
    seen: dict[int, str] = {}

    def before_go(pid: int) -> None:
        # The init has reported ready and blocks on the go pipe: look at it from the host, then stop it.
        for name in os.listdir(f"/proc/{pid}/fd"):
            seen[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        raise RuntimeError("inspected")

    try:
        with pytest.raises(LaunchError):
            launch(cfg, out_w, err_w, before_go, readers=(out_r, err_r))
    finally:
        for fd in (supervisors, out_r, out_w, err_r, err_w):
            os.close(fd)
    assert seen, "the init was never inspected"
    assert "/etc" not in seen.values(), seen
    # 0-2 as inherited, the sync and go pipes, its stdout/stderr write ends and their read-end copies.
    beyond_stdio = {fd: target for fd, target in seen.items() if fd > 2}
    assert len(beyond_stdio) <= 6 and all(t.startswith("pipe:") for t in beyond_stdio.values()), seen


def _pipe_name(fd: int) -> str:
    return f"pipe:[{os.fstat(fd).st_ino}]"


def test_inits_launched_together_hold_none_of_each_others_pipes() -> None:
    """The containers of a pod are launched side by side (launch.begin for each, then release): the second
    one is forked while the first one's launch is under way, and must hold none of the first's pipes."""
    pendings, ends, own = [], [], []
    for name in ("a", "b"):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        cfg = ContainerConfig(
            pod_key="t_hygiene", name=name, args=("true",), env=(), cwd="/", uid=0, gid=0, additional_gids=(),
            lower="", upper="", work="", merged="", mounts=(),
            namespaces={"ipc": "host", "uts": "host", "net": "host", "pid": "new"})
        pending = begin(cfg, out_w, err_w, readers=(out_r, err_r))
        own.append({_pipe_name(fd) for fd in (out_r, err_r, pending.sync_r, pending.go_w)})
        os.close(out_w)  # as the runtime service does: only the launcher holds the write ends now
        os.close(err_w)
        pendings.append(pending)
        ends += [out_r, err_r]
    seen: list[set[str]] = []

    def inspect(pid: int) -> None:
        seen.append({os.readlink(f"/proc/{pid}/fd/{name}") for name in os.listdir(f"/proc/{pid}/fd")})
        raise RuntimeError("inspected")

    try:
        for pending in pendings:
            with pytest.raises(LaunchError):
                pending.release(inspect)
    finally:
        for pending in pendings:
            pending.abort()
        for fd in ends:
            os.close(fd)
    assert len(seen) == 2, "an init was never inspected"
    assert not seen[0] & own[1], seen[0] & own[1]
    assert not seen[1] & own[0], seen[1] & own[0]
