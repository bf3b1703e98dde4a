"""The container's init holds nothing of the supervisor while it waits to become the container.

Until execve the init is a fork of the supervisor; in a pod with a shared PID namespace the other
containers can see it. It must hold only its own pipes by then (runc's init likewise), never the
supervisor's socket, other pods' pipes or any other descriptor the supervisor had open.
"""

from __future__ import annotations

import os

import pytest

from pyrunc.runtime.config import ContainerConfig
from pyrunc.runtime.launch import LaunchError, launch

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
