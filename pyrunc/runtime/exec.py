"""Running a process inside a running container (pyrunc exec, exec hooks and probes).

    caller            joiner (child 1)                        process (child 2)
      fork ─────────▶ open /proc/PID/ns/* and the cgroup
                      move into the container's cgroup
                      setns ipc, uts, net, pid, mnt (mount last: it changes what /proc shows)
                      fork ─────────────────────────────────▶ in the container's pid namespace:
                      waitpid, _exit(its status)               identity, cwd, env, exec argv
      waitpid ◀────── exit status = the command's

The joiner stays so that the caller gets the command's exit status: a process never changes
its own PID namespace, so only a child of the joiner is inside the container's.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from pyrunc.linux import syscalls as sc
from pyrunc.runtime.config import ContainerConfig
from pyrunc.runtime.launch import LaunchError, _reset_signals, exec_argv, set_identity
from pyrunc.security.process import prepare as prepare_security

NS_ORDER = ("ipc", "uts", "net", "pid", "cgroup", "mnt")


def _child(cfg: ContainerConfig, pid: int, argv: Sequence[str], cgroup_procs: Sequence[str],
           stdin: bool, errpipe: int) -> None:
    try:
        security = prepare_security(cfg)  # compiled here: after the chroot below, libseccomp is out of reach
        fds = [(os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC), kind) for kind in NS_ORDER]
        root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for procs in cgroup_procs:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        for fd, kind in fds:
            sc.setns(fd, sc.NS_FLAGS[kind])
            os.close(fd)
        # setns(mnt) leaves us at the namespace's root mount, which is the container's root only if
        # the runtime itself was not chrooted when it pivoted: take the container's own root.
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        child = os.fork()
        if child == 0:
            try:
                if not stdin:
                    devnull = os.open("/dev/null", os.O_RDONLY)
                    os.dup2(devnull, 0)
                security.enter(lambda: set_identity(cfg.uid, cfg.gid, cfg.additional_gids))
                try:
                    os.chdir(cfg.cwd)
                except OSError:
                    os.chdir("/")
                _reset_signals()
                exec_argv(list(argv), dict(cfg.env))
            except LaunchError as e:
                os.write(errpipe, e.message.encode())
                os._exit(127 if "not found" in e.message or "no such file" in e.message else 126)
            except BaseException as e:  # noqa: BLE001
                os.write(errpipe, f"{type(e).__name__}: {e}".encode())
                os._exit(126)
        os.close(errpipe)
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(errpipe, f"cannot enter the container: {e}".encode())
        finally:
            os._exit(126)


def exec_in(cfg: ContainerConfig, pid: int, argv: Sequence[str], *, cgroup_procs: Sequence[str] = (),
            stdin: bool = False) -> tuple[int, str]:
    """Run argv in the container whose first process is `pid`; return (exit status, error text)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(r)
        _child(cfg, pid, argv, cgroup_procs, stdin, w)
        os._exit(126)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    return (128 - code if code < 0 else code), b"".join(chunks).decode(errors="replace")
