"""exec (kubelet pkg/probe/exec): run a command inside the container; exit code 0 succeeds.

The command runs like `pyrunc exec` does (runtime/exec_service.py), with the kubelet's ExecProbeTimeout: at `timeout`
the command is killed and the probe fails. The first MAX_OUTPUT bytes of its output are the message.
"""

from __future__ import annotations

import os
from typing import Sequence

from pyrunc.probe import ERROR, FAILURE, MAX_OUTPUT, SUCCESS, Target, errno_text, go_quote
from pyrunc.runtime.config import ContainerConfig
from pyrunc.runtime.exec_service import ExecTarget, exec_sync


def run(command: Sequence[str], target: Target, timeout: float) -> tuple[int, str]:
    """Run the command in the container like `pyrunc exec`; kill it at `timeout` (kubelet ExecProbeTimeout).

    The runtime service's ExecSync (runtime/exec_service.py) with stdout and stderr in one pipe, whose first
    MAX_OUTPUT bytes are the message (the kubelet reports the output on failure).
    """
    with open(target.exec_config, encoding="utf-8") as f:
        cfg = ContainerConfig.from_json(f.read())
    try:  # the container is gone: the kubelet's ExecSync errors and the result is thrown away
        os.close(os.open(f"/proc/{target.container_pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
    except OSError as e:
        return ERROR, f"container process {target.container_pid} is not running: {errno_text(e)}"
    into = ExecTarget(cfg, target.container_pid, tuple(target.cgroup_procs))
    result = exec_sync(into, command, timeout, max_output=MAX_OUTPUT, merge_output=True)
    output = result.stdout.decode(errors="replace")
    if result.exit_code is None:
        return FAILURE, f"command {go_quote(' '.join(command))} timed out"
    return (SUCCESS if result.exit_code == 0 else FAILURE), output
