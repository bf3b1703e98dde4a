"""The runtime service's exec: CRI's ExecSync (run, wait, collect the output) and Exec (stream the
caller's stdio). A module of its own, light on imports: `pyrunc exec` and exec probes run it without
loading the rest of the runtime service (runtime/service.py delegates here).

    target(layout, name)                  -> ExecTarget   the running instance and its config, or NotRunning
    target_files(record, config, name)    -> ExecTarget   the same from the container's two files
    exec_sync(target, argv, timeout)      -> ExecResult   blocking; stdout and stderr kept up to a bound
    exec_stream(target, argv, stdin, tty) -> (code, err)  this process's stdio relayed (runtime/exec.py)
    exec_pipes(target, argv)              -> PipedExec    the command's stdin/stdout/stderr as pipes of ours

The joining itself (namespaces, cgroup, identity, process security) is runtime/exec.py's.
"""

from __future__ import annotations

import os
import signal
import time
from typing import NamedTuple, Sequence

from pyrunc.errors import RuntimeFailure
from pyrunc.linux.syscalls import pid_alive, readable
from pyrunc.runtime import exec as rexec
from pyrunc.runtime.config import ContainerConfig
from pyrunc.store.atomic import read_json

MAX_SYNC_OUTPUT = 16 * 1024 * 1024  # containerd's ExecSync keeps at most 16 MiB of each stream


class NotRunning(RuntimeFailure):
    """The container has no running instance to exec into."""


class ExecTarget(NamedTuple):  # NamedTuples, not dataclasses: this is on `pyrunc exec`'s start-up path
    config: ContainerConfig
    pid: int  # the instance's first process, as the host sees it
    cgroup_procs: tuple[str, ...]  # the cgroup.procs files the command joins


class ExecResult(NamedTuple):
    exit_code: int | None  # None: killed at the timeout
    stdout: bytes
    stderr: bytes  # empty when merged into stdout


def target(layout: object, name: str) -> ExecTarget:
    """The running instance of container `name` of the pod at `layout` (a store.layout.PodLayout)."""
    return target_files(getattr(layout, "container_record")(name), getattr(layout, "container_config")(name), name)


def target_files(record_path: str, config_path: str, name: str) -> ExecTarget:
    """target() from the container's record and config files (the lean `pyrunc exec` has no PodLayout)."""
    record = read_json(record_path) or {}
    pid = int(record.get("pid") or 0)
    if record.get("state") != "RUNNING" or not pid or not pid_alive(pid, record.get("startTime")):
        raise NotRunning(f"container {name} is not running")
    with open(config_path, encoding="utf-8") as f:
        config = ContainerConfig.from_json(f.read())
    procs = tuple(f"{d}/cgroup.procs" for d in (record.get("cgroupPaths") or {}).values())
    return ExecTarget(config, pid, procs)


def exec_stream(t: ExecTarget, argv: Sequence[str], stdin: bool = False, tty: bool = False,
                hangup_fd: int | None = None) -> tuple[int, str]:
    """CRI Exec: run argv in the container with this process's stdio relayed; (exit status, error text).
    `hangup_fd`: when it turns readable (the supervisor's exec child: its CLI left), stop relaying at once."""
    return rexec.exec_in(t.config, t.pid, argv, cgroup_procs=t.cgroup_procs, stdin=stdin, tty=tty,
                         hangup_fd=hangup_fd)


class PipedExec(NamedTuple):
    joiner: int  # wait for it with finish(): its exit status is the command's
    stdin: int  # our ends of the command's pipes (close stdin for its EOF)
    stdout: int
    stderr: int  # also carries the joiner's own error text (could not enter, command not found)


def exec_pipes(t: ExecTarget, argv: Sequence[str]) -> PipedExec:
    """CRI Exec with the streams given to the caller rather than to its stdio (`pyrunc cp` feeds and reads
    tar through them). The joining is the same as every exec's (runtime/exec.py): only these pipes enter."""
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:  # pragma: no cover - seen through the command's output and status
        try:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            rexec.enter_and_run(t.config, t.pid, list(argv), t.cgroup_procs, (in_r, out_w, err_w), err_w)
        finally:
            os._exit(126)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    return PipedExec(joiner, in_w, out_r, err_r)


def finish(p: PipedExec) -> int:
    """Wait for a PipedExec's command; its exit status (128+N when killed by signal N)."""
    _, status = os.waitpid(p.joiner, 0)
    return _exit_code(status)


def exec_sync(t: ExecTarget, argv: Sequence[str], timeout: float, max_output: int = MAX_SYNC_OUTPUT,
              merge_output: bool = False) -> ExecResult:
    """CRI ExecSync: run argv in the container, wait at most `timeout` seconds (then kill it), and return its
    status and output (the first `max_output` bytes of each stream; `merge_output`: stderr into stdout, as the
    kubelet's exec probe reads them). Blocking: the supervisor runs it in a child process."""
    deadline = time.monotonic() + timeout
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = (out_r, out_w) if merge_output else os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:  # pragma: no cover - seen through the command's output and status
        try:  # stdin /dev/null, stdout and stderr the pipes; every other descriptor is closed before joining
            rexec.enter_and_run(t.config, t.pid, list(argv), t.cgroup_procs, (None, out_w, err_w), err_w)
        finally:
            os._exit(126)
    os.close(out_w)
    if not merge_output:
        os.close(err_w)
    streams = {out_r: bytearray()} if merge_output else {out_r: bytearray(), err_r: bytearray()}
    try:
        status = _wait_with_output(streams, joiner, deadline, max_output)
    finally:
        for fd in streams:
            os.close(fd)
    out = bytes(streams[out_r])
    err = b"" if merge_output else bytes(streams[err_r])
    return ExecResult(None if status is None else _exit_code(status), out, err)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _wait_with_output(streams: dict[int, bytearray], joiner: int, deadline: float, limit: int) -> int | None:
    """Read the streams until the joiner exits; its wait status, or None when killed at the deadline.

    The end is the joiner's exit, not EOF: a background process the command left behind may hold a pipe.
    """
    pidfd = os.pidfd_open(joiner)
    open_fds = set(streams)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_command(joiner, pidfd)
                return None
            ready = readable([pidfd, *open_fds], left)  # poll: a probe child's fds may be numbered > 1024
            for fd in open_fds & set(ready):
                if not _read_some(fd, streams[fd], limit):  # a readable pipe never blocks one read
                    open_fds.discard(fd)
            if pidfd in ready:
                for fd in open_fds:
                    os.set_blocking(fd, False)
                    while _read_some(fd, streams[fd], limit):
                        pass
                _, status = os.waitpid(joiner, 0)
                return status
    finally:
        os.close(pidfd)


def _read_some(fd: int, kept: bytearray, limit: int) -> bool:
    """One read into `kept` (capped at `limit`, the rest drained); False at EOF or when nothing is there."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return False
    if data and len(kept) < limit:
        kept += data[:limit - len(kept)]
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
    if not children or not readable(pidfd, 1.0):
        try:
            os.kill(joiner, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.waitpid(joiner, 0)
