"""exec (kubelet pkg/probe/exec): run a command inside the container; exit code 0 succeeds.

The command runs like `pyrunc exec` does (runtime/exec.py), with the kubelet's ExecProbeTimeout: at `timeout`
the command is killed and the probe fails. The first MAX_OUTPUT bytes of its output are the message.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import Sequence

from pyrunc.probe import ERROR, FAILURE, MAX_OUTPUT, SUCCESS, Target, errno_text, go_quote
from pyrunc.runtime import exec as rexec
from pyrunc.runtime.config import ContainerConfig


def run(command: Sequence[str], target: Target, timeout: float) -> tuple[int, str]:
    """Run the command in the container like `pyrunc exec`; kill it at `timeout` (kubelet ExecProbeTimeout).

    A joiner process (runtime/exec.py `enter_and_run`) enters the container and forks the command; its stdout and
    stderr go to a pipe whose first MAX_OUTPUT bytes are the message (kubelet reports the output on failure).
    """
    with open(target.exec_config, encoding="utf-8") as f:
        cfg = ContainerConfig.from_json(f.read())
    try:  # the container is gone: the kubelet's ExecSync errors and the result is thrown away
        os.close(os.open(f"/proc/{target.container_pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
    except OSError as e:
        return ERROR, f"container process {target.container_pid} is not running: {errno_text(e)}"
    deadline = time.monotonic() + timeout
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:  # pragma: no cover - seen through the command's output and status
        try:  # stdin /dev/null, stdout and stderr the pipe; every other descriptor is closed before joining
            rexec.enter_and_run(cfg, target.container_pid, list(command), target.cgroup_procs,
                                (None, out_w, out_w), out_w)
        finally:
            os._exit(126)
    os.close(out_w)
    try:
        output, status = _wait_with_output(out_r, joiner, deadline)
    finally:
        os.close(out_r)
    if status is None:
        return FAILURE, f"command {go_quote(' '.join(command))} timed out"
    code = os.waitstatus_to_exitcode(status)
    return (SUCCESS if code == 0 else FAILURE), output


def _wait_with_output(out_r: int, joiner: int, deadline: float) -> tuple[str, int | None]:
    """Read the command's output until the joiner exits; (output, wait status), status None on timeout.

    The end is the joiner's exit, not EOF: a background process the command left behind may hold the pipe.
    """
    pidfd = os.pidfd_open(joiner)
    kept = bytearray()
    out_open = True
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_command(joiner, pidfd)
                return kept.decode(errors="replace"), None
            ready, _, _ = select.select([pidfd, out_r] if out_open else [pidfd], [], [], left)
            if out_r in ready:
                out_open = _read_some(out_r, kept)  # a readable pipe never blocks one read
            if pidfd in ready:
                os.set_blocking(out_r, False)
                while _read_some(out_r, kept):
                    pass
                _, status = os.waitpid(joiner, 0)
                return kept.decode(errors="replace"), status
    finally:
        os.close(pidfd)


def _read_some(fd: int, kept: bytearray) -> bool:
    """One read into `kept` (capped at MAX_OUTPUT, the rest drained); False at EOF or when nothing is there."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return False
    if data and len(kept) < MAX_OUTPUT:
        kept += data[:MAX_OUTPUT - len(kept)]
    return bool(data)


def _kill_command(joiner: int, pidfd: int) -> None:
    """SIGKILL the command (the joiner's child, inside the container), let the joiner reap it, then reap the joiner.

    Killing only the joiner would leave the command running, re-parented to the container's PID 1, which may
    never reap it. /proc/PID/task/PID/children needs CONFIG_PROC_CHILDREN (on in Debian/Ubuntu/Fedora kernels).
    """
    try:
        with open(f"/proc/{joiner}/task/{joiner}/children", encoding="ascii") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        children = []
    for child in children:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if not children or not select.select([pidfd], [], [], 1.0)[0]:
        try:
            os.kill(joiner, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.waitpid(joiner, 0)
