"""Probe and hook actions: each one is a forked child whose exit status is the result.

The child is forked by fork_action(): in the action spawner (probe/spawner.py, a small process the supervisor
hands its actions to: probe/starter.py), or in the supervisor itself through spawn() (while the spawner
starts, or when it cannot run). Either way it is the same child:

    supervisor (single-threaded loop)               action child
      spawn(handler, target, timeout) ── fork ───▶  default SIGCHLD/SIGTERM, no wakeup fd; every fd closed
                                                    but the message pipe, not dumpable, a new session
        -> Spawned(pid, message_fd, kill_after)     exec:  join the container (probe/exec.py), run argv
      loop.watch_child(pid, ...)                    net:   setns(target.netns), then HTTP / TCP / gRPC
      loop.call_later(kill_after, SIGKILL pid)      every step bounded by `timeout`
                                              ◀───  one message into the pipe, _exit(0 | 1 | 2)
      on exit: collect(spawned, status) -> ActionResult(result, message)

The exit codes and the result's meaning are in the package docstring (pyrunc/probe/__init__.py).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Mapping

from pyrunc.linux import hygiene
from pyrunc.linux import syscalls as sc
from pyrunc.probe import ERROR, FAILURE, SUCCESS, ActionResult, Failed, Handler, Target
from pyrunc.probe import exec as exec_probe
from pyrunc.probe import grpc as grpc_probe
from pyrunc.probe import http as http_probe
from pyrunc.probe import tcp as tcp_probe
from pyrunc.spec.model import ExecAction, GRPCAction, HTTPGetAction, TCPSocketAction

BACKSTOP = 1.0  # the caller SIGKILLs the child this long after `timeout`
COMM = "pyrunc-action"  # the child's name in `ps` (else it would be its parent's: the supervisor, the spawner)


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int
    message_fd: int  # non-blocking read end; read it once the child has exited (collect / read_message)
    kill_after: float  # seconds after spawn when the caller should SIGKILL the child (timeout + BACKSTOP)


# --- the caller's side ----------------------------------------------------------------------------------------
def spawn(handler: Handler, target: Target, timeout: float, *, ports: Mapping[str, int] | None = None,
          purpose: str = "probe") -> Spawned:
    """Fork a child that runs `handler` against `target`; never blocks.

    `ports` resolves named ports (container port name -> number). `purpose` is "probe" or "lifecycle": a
    lifecycle httpGet succeeds on any HTTP response (kubelet runHTTPHandler checks only that the request
    completed) and says `User-Agent: kube-lifecycle/<version>`.
    """
    if purpose not in ("probe", "lifecycle"):
        raise ValueError(f"purpose must be 'probe' or 'lifecycle', not {purpose!r}")
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = fork_action(handler, target, timeout, ports or {}, purpose, w)
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    os.set_blocking(r, False)
    return Spawned(pid=pid, message_fd=r, kill_after=float(timeout) + BACKSTOP)


def fork_action(handler: Handler, target: Target, timeout: float, ports: Mapping[str, int], purpose: str,
                message_w: int) -> int:
    """Fork the action child, which writes its message into `message_w` and exits with its code; its pid.

    The caller keeps (and closes) its own copy of `message_w`. The supervisor calls it through spawn(); the
    action spawner (probe/spawner.py) calls it for the supervisor's requests, with the same child.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is seen through its exit status
        code, message = ERROR, "probe child ended without a result"
        try:
            _reset_inherited_signals()
            _shed_supervisor(message_w)
            set_comm(COMM)
            code, message = _run(handler, target, float(timeout), dict(ports), purpose)
        except Failed as e:
            code, message = e.code, e.message
        except BaseException as e:  # noqa: BLE001 - the child must always report and _exit
            code, message = ERROR, f"{type(e).__name__}: {e}"
        finally:
            try:  # below the 64 KiB pipe buffer: no block
                os.write(message_w, message.encode(errors="replace")[:60000])
            finally:
                os._exit(code)
    return pid


def read_message(fd: int) -> str:
    """Everything the child wrote (non-blocking), then close `fd`."""
    chunks = []
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def collect(spawned: Spawned, wait_status: int | None) -> ActionResult:
    """The result of an exited child, from its wait status (None when unknown); closes the message fd."""
    message = read_message(spawned.message_fd)
    if wait_status is None:
        return ActionResult(None, message or "probe process ended with an unknown status")
    if os.WIFSIGNALED(wait_status):
        return ActionResult(False, message or "probe timed out")  # the caller's backstop killed it
    code = os.waitstatus_to_exitcode(wait_status)
    if code == SUCCESS:
        return ActionResult(True, message)
    return ActionResult(False if code == FAILURE else None, message)


# --- the child -------------------------------------------------------------------------------------------------
def _reset_inherited_signals() -> None:
    # The supervisor's loop installed a wakeup fd and SIGCHLD/SIGTERM/SIGINT handlers. In this child they would
    # write into the parent's wakeup pipe and turn SIGTERM into a flag nobody reads.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def _shed_supervisor(keep: int) -> None:
    """Nothing of the supervisor's stays in an action child: its request socket, the pods' log pipes, ...

    Closed first thing (after the wakeup fd is gone, so no signal writes into a reused number), not
    dumpable, and a session of its own. An exec action's joiner closes again what this child opened since.
    """
    gc.disable()  # a collected supervisor object would close its old number, which may be reused by then
    hygiene.set_dumpable(False)
    hygiene.close_fds_except([keep])
    os.setsid()


def set_comm(name: str) -> None:
    """This process's name (/proc/self/comm, 15 bytes at most): what `ps` and `top` show."""
    fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, name.encode()[:15])
    finally:
        os.close(fd)


def _run(handler: Handler, target: Target, timeout: float, ports: dict[str, int], purpose: str) -> tuple[int, str]:
    if isinstance(handler, ExecAction):
        return exec_probe.run(handler.command, target, timeout)
    if target.netns:
        sc.setns_path(target.netns, sc.CLONE_NEWNET)  # only this child's network changes; it is single-threaded
    deadline = time.monotonic() + timeout
    if isinstance(handler, HTTPGetAction):
        return http_probe.run(handler, target.pod_ip, _port(handler.port, ports), deadline, purpose)
    if isinstance(handler, TCPSocketAction):
        return tcp_probe.run(handler.host or target.pod_ip, _port(handler.port, ports), deadline)
    if isinstance(handler, GRPCAction):
        return grpc_probe.run(target.pod_ip, handler.port, handler.service, deadline, timeout)
    return ERROR, f"unsupported handler {type(handler).__name__}"


def _port(port: int | str, ports: Mapping[str, int]) -> int:
    if isinstance(port, int):
        return port
    if port in ports:
        return ports[port]
    raise Failed(ERROR, f"couldn't find port: {port}")
