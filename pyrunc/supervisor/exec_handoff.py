"""`pyrunc exec` handed to the supervisor: the exec runs in a fork of the supervisor, not in a new interpreter.

A `pyrunc exec` process would spend most of its time importing what the supervisor has loaded already
(the exec path, ctypes, the process-security code): the lean CLI (cli/entry.py) sends the request over
the supervisor's socket instead, with its stdin, stdout and stderr attached (SCM_RIGHTS), and waits.

    CLI (cli/entry.py)                 supervisor (server.py, one loop)      exec child (a fork of it)
      {"op": "exec", ...} + fds 0,1,2 ──▶ (exec.sock) target(): the container running?
                                          no: an error reply (the CLI falls back to its own exec)
                                          yes: fork ──────────────────────────▶ default signals, every
                                          close its copies; watch the child      supervisor fd closed but
                                                                                 the connection and the fds
      ◀── "pid N" ──────────────────────────────────────────────────────────── the caller's fds as 0, 1, 2
      signals (INT TERM HUP QUIT WINCH                                           exec_service.exec_stream:
      TSTP CONT) forwarded to N ───────────────────────────────────────────────▶ pipes or a pty, the joiner,
                                                                                 the relay (as the CLI did)
                                                                                 an error: "error: ..." on 2
      ◀── "exit N" ──────────────────────────────────────────────────────────── then _exit
      exit(code)

The caller's descriptors stay in the exec child, outside the container, exactly where the CLI process
kept them: the command gets pipes (or a pty of the container's devpts) and the joiner closes every other
descriptor before it joins (runtime/exec.py), so nothing of the caller's enters the container. The exec
child sheds the supervisor's descriptors first (its socket, the pods' log pipes), and stops relaying when
the CLI goes away (its connection closes): as when the CLI process itself was killed, the command's
stdio is then closed (with -t its pty hangs up).

The exec has a socket of its own, <root>/exec.sock: a supervisor without it (an older one) is never asked,
and the CLI runs the exec itself (a request of unknown build on daemon.sock would make that supervisor hand
the node over). The exec is the container's business, not the node's: any supervisor of the same protocol
takes it, whatever its build (its code is the code that runs the pod's exec probes and hooks). The request is
a JSON line as on daemon.sock (protocol.py); the answers are two plain lines, "pid N" and "exit N", so that
the CLI reads them without a JSON decoder (importing json costs the CLI ~8 ms, a quarter of a `runc exec`).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from typing import Any, NoReturn

from pyrunc.errors import PyruncError
from pyrunc.linux import hygiene
from pyrunc.runtime import exec_service
from pyrunc.status import pick_container
from pyrunc.store.atomic import read_json
from pyrunc.store.layout import PodLayout, valid_label, valid_name

log = logging.getLogger("pyrunc.exec")


def socket_path(root: str) -> str:
    return os.path.join(root, "exec.sock")


def prepare(root: str, req: dict[str, Any]) -> tuple[exec_service.ExecTarget, list[str], bool, bool]:
    """The request's target and options, checked; a PyruncError when it cannot run (the CLI falls back to
    its own exec, which finds the same and words it as the `exec` verb does).

    request: {"op": "exec", "protocol": P, "namespace": NS, "pod": NAME, "container": NAME | null,
              "command": [ARG, ...], "stdin": bool, "tty": bool}   (null: kubectl's default container)
    """
    namespace, name, wanted = req.get("namespace"), req.get("pod"), req.get("container")
    argv = req.get("command")
    if not (isinstance(namespace, str) and isinstance(name, str) and valid_label(namespace) and valid_name(name)
            and (wanted is None or isinstance(wanted, str))):
        raise PyruncError("exec: bad request: namespace and pod must be names, container a name or null")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise PyruncError("exec: bad request: the command must be a non-empty list of strings")
    layout = PodLayout(root, namespace, name)
    manifest = read_json(layout.pod_json)
    container = pick_container(manifest, wanted) if manifest else None
    if container is None:
        raise PyruncError(f"exec: no container {wanted or ''} in pod {namespace}/{name}")
    target = exec_service.target(layout, container)  # NotRunning: not running
    return target, argv, bool(req.get("stdin")), bool(req.get("tty"))


def start(conn: int, fds: list[int], target: exec_service.ExecTarget, argv: list[str], stdin: bool,
          tty: bool) -> int:
    """Fork the exec child for connection `conn` with the caller's descriptors `fds` (stdin, stdout,
    stderr); its pid. The caller (the supervisor) closes its own copies of `conn` and `fds`."""
    for stream in (sys.stdout, sys.stderr):  # the supervisor's buffered log lines stay the supervisor's
        if stream is not None:
            stream.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - seen through the exec's output and status
        _child(conn, fds, target, argv, stdin, tty)
    return pid


def _child(conn: int, fds: list[int], target: exec_service.ExecTarget, argv: list[str], stdin: bool,
           tty: bool) -> NoReturn:
    code = 1
    try:
        # As the probe children (probe/action.py): the loop's wakeup fd and handlers are the supervisor's.
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        gc.disable()  # a collected supervisor object would close its old descriptor number, reused by then
        logging.disable(logging.CRITICAL)  # a log line would land on the caller's stderr (fd 2 below)
        hygiene.close_fds_except([conn, *fds])
        for stdio_fd, src in enumerate(fds):  # all >= 3: received while the supervisor's 0, 1, 2 were open
            os.dup2(src, stdio_fd)
        for src in fds:
            os.close(src)
        os.set_blocking(conn, True)  # the server made it non-blocking (the flag is the file description's)
        _send(conn, f"pid {os.getpid()}")
        status, err = exec_service.exec_stream(target, argv, stdin=stdin, tty=tty, hangup_fd=conn)
        if err:  # as the CLI prints it (cli/exec_cmd.py): this fd 2 is the caller's stderr
            _error_line(err)
        _send(conn, f"exit {status}")
        code = 0
    except BaseException as e:  # noqa: BLE001 - the CLI always gets a last line
        try:
            _error_line(f"{type(e).__name__}: {e}")
            _send(conn, "exit 1")
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _error_line(text: str) -> None:
    os.write(2, f"error: {text}\n".encode(errors="replace"))


def _send(conn: int, line: str) -> None:
    data = (line + "\n").encode()
    while data:
        try:
            data = data[os.write(conn, data):]
        except BrokenPipeError:
            return  # the CLI is gone
