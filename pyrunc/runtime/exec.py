"""Running a process inside a running container (pyrunc exec, exec hooks and probes).

    caller                 joiner (child 1)                            command (child 2)
      pipes, or a socket   not dumpable, setsid, stdio = the pipes
      fork ──────────────▶ close every other fd >= 3 (close_range)
                           open /proc/PID/ns/* and the cgroup
                           move into the container's cgroup
                           setns ipc, uts, net, pid, cgroup, mnt; chroot into the container's root
                           -t: a pty from the container's devpts,
      ◀── pty master ───── its master sent back (SCM_RIGHTS)
                           fork ─────────────────────────────────────▶ in the container's pid namespace:
      relay stdio          forward signals, waitpid                     setsid (+ the pty as ctty), identity,
      (runtime/exec_io)    _exit(its status)                            cwd, signals, [process security], exec
      waitpid ◀─────────── exit status = the command's

The joiner stays so that the caller gets the command's exit status: a process never changes its own PID
namespace, so only a child of the joiner is inside the container's; the joiner itself is not visible from
the container, and holds nothing but its stdio and the error pipe when it joins.

What enters the container from the caller: nothing but pipes made for the command (runtime/exec_io.py
relays them) or, with -it, the slave of a pseudo-terminal allocated from the container's own devpts (the
caller relays its terminal to the master; the master never enters the container). The command is in a new
session (no controlling terminal of the host: /dev/tty cannot reach the admin's terminal) and is not
dumpable until execve (a process of the container cannot ptrace it or open its /proc/PID/fd meanwhile).

`-it`: the master goes back to the caller rather than being relayed by the joiner, so that the joiner holds
nothing but /dev/null while it waits, and the caller's terminal is only ever touched by the caller.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, NamedTuple, NoReturn, Sequence

from pyrunc.linux import hygiene
from pyrunc.linux import syscalls as sc
from pyrunc.runtime.config import ContainerConfig
from pyrunc.runtime.launch import LaunchError, reset_signals, exec_argv, set_identity

if TYPE_CHECKING:
    from pyrunc.runtime import exec_io
    from pyrunc.security.process import ProcessSecurity

NS_ORDER = ("ipc", "uts", "net", "pid", "cgroup", "mnt")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class TtyRequest(NamedTuple):
    sock: int  # the joiner's end of a socketpair: the pty master goes back through it
    winsize: bytes | None  # the caller's window size, set on the pty before the command starts


# --- the joiner (runs in a fresh fork of the caller, the probe child, ...) ----------------------------------------
def enter_and_run(cfg: ContainerConfig, pid: int, argv: Sequence[str], cgroup_procs: Sequence[str],
                  stdio: Sequence[int | None], errpipe: int, tty: TtyRequest | None = None) -> NoReturn:
    """Join the container of `pid` and run argv there; exit with its status. Never returns.

    `stdio` are the command's stdin, stdout and stderr (None = /dev/null); with `tty` the command gets the
    slave of a new pty on all three instead. Errors before exec go to `errpipe` as text (exit 126 or 127).
    """
    try:
        # A caller with an event loop (supervisor/loop.py) has a signal wakeup fd, which close_fds_except
        # below closes: without this, every signal here would print an error into the command's stderr.
        signal.set_wakeup_fd(-1)
        from pyrunc.security.process import ProcessSecurity  # here: ctypes stays off the caller's own path

        security = ProcessSecurity(cfg)  # compiled here: after the chroot below, libseccomp is out of reach
        # No collection from here on: a collected object of the caller's would close its old descriptor number,
        # which after close_fds_except may be one of ours.
        gc.disable()
        if tty:
            from pyrunc.linux import terminal  # noqa: F401 - now: after the chroot the host's modules are out of reach
        hygiene.set_dumpable(False)  # first: from here on, nothing of ours is reachable through /proc/PID
        os.setsid()  # out of the caller's session: a terminal's signals reach the caller only, who forwards them
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)  # the host's: no path of the container opened
        sources = [devnull if fd is None else fd for fd in stdio]
        keep = [errpipe] + ([tty.sock] if tty else [])
        moved = hygiene.move_above_stdio(sources + keep)
        for target, src in enumerate(sources):
            os.dup2(moved[src], target)  # inheritable copies: what the command's 0, 1, 2 are
        errpipe = moved[errpipe]
        sock = moved[tty.sock] if tty else -1
        hygiene.close_fds_except([errpipe, sock])  # the caller's or supervisor's fds, the originals, devnull
        _join(pid, cgroup_procs)
        slave = None
        if tty:
            slave = _make_pty(cfg, sock, tty.winsize)
        # Held until the handlers below forward them to the command: until then this process has the
        # caller's handlers, which forward to nobody (a SIGTERM sent as soon as the command runs was lost).
        # The command unblocks them (reset_signals) before its exec.
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        child = os.fork()
        if child == 0:
            _run_command(cfg, security, argv, slave, errpipe)
        if slave is not None:
            os.close(slave)
        os.close(errpipe)
        for sig in FORWARDED:
            signal.signal(sig, lambda s, _f: _kill(child, s))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(errpipe, f"cannot enter the container: {e}".encode())
        finally:
            os._exit(126)


def _join(pid: int, cgroup_procs: Sequence[str]) -> None:
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


def _make_pty(cfg: ContainerConfig, sock: int, winsize: bytes | None) -> int:
    """A pty of the container's devpts (we are in its mount namespace and root); the master goes to the caller."""
    from pyrunc.linux import terminal  # loaded before the chroot (enter_and_run)

    master, slave, _ = terminal.allocate_pty(cfg.uid)
    terminal.set_winsize(master, winsize)  # before the command starts: its first `stty size` sees it
    with socket.socket(fileno=sock) as s:
        socket.send_fds(s, [b"m"], [master])
    os.close(master)
    return slave


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _run_command(cfg: ContainerConfig, security: "ProcessSecurity", argv: Sequence[str], tty_slave: int | None,
                 errpipe: int) -> NoReturn:
    """The command: inside the container's pid namespace; still not dumpable (inherited) until execve."""
    try:
        os.setsid()  # a session of its own: no controlling terminal but the container's pty, if any
        if tty_slave is not None:
            from pyrunc.linux import terminal  # loaded before the chroot (enter_and_run)

            terminal.make_controlling(tty_slave)
        # Process security (capabilities, no_new_privs, seccomp) around the identity change, in runc's order.
        security.enter(lambda: set_identity(cfg.uid, cfg.gid, cfg.additional_gids))
        try:
            os.chdir(cfg.cwd)
        except OSError:
            os.chdir("/")
        reset_signals()
        exec_argv(list(argv), dict(cfg.env))
    except LaunchError as e:
        os.write(errpipe, e.message.encode())
        os._exit(127 if "not found" in e.message or "no such file" in e.message else 126)
    except BaseException as e:  # noqa: BLE001
        os.write(errpipe, f"{type(e).__name__}: {e}".encode())
        os._exit(126)


# --- the caller ---------------------------------------------------------------------------------------------------
def exec_in(cfg: ContainerConfig, pid: int, argv: Sequence[str], *, cgroup_procs: Sequence[str] = (),
            stdin: bool = False, tty: bool = False, hangup_fd: int | None = None) -> tuple[int, str]:
    """Run argv in the container whose first process is `pid`, relaying this process's stdio to it.

    Returns (exit status, error text). `stdin`: relay fd 0 (else the command reads /dev/null). `tty`: fd 0 is
    a terminal; the command gets a pty of the container instead of pipes (the caller checks isatty).
    `hangup_fd`: readable means the one we relay for is gone (supervisor/exec_handoff.py): return at once,
    as after SIGHUP with -t (the command's pipes or pty close behind us).
    """
    from pyrunc.runtime import exec_io

    for fd in (0, 1, 2):  # a closed one would be reused by the pipes below: /dev/null in its place
        if not exec_io.is_open(fd):
            os.open("/dev/null", os.O_RDWR)  # the lowest free number: this one
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    theirs: list[int] = [err_w]  # the joiner's ends, closed here once it has them
    request: TtyRequest | None = None
    stdio: list[int | None] = [None, None, None]
    pumps: list = []
    if tty:
        from pyrunc.linux import terminal

        ours, joiners = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        request = TtyRequest(joiners.fileno(), terminal.get_winsize(0))
    else:
        if stdin:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            stdio[0] = in_r
            theirs.append(in_r)
            if exec_io.is_open(0):
                os.set_blocking(in_w, False)
                pumps.append(exec_io.Pump(0, in_w, outgoing=False, close_dst_at_eof=True))
            else:  # the caller has no stdin at all: the command reads EOF
                os.close(in_w)
        for target in (1, 2):
            r, w = os.pipe2(os.O_CLOEXEC)
            stdio[target] = w
            theirs.append(w)
            pumps.append(exec_io.Pump(r, target, outgoing=True))
    errors = bytearray()
    pumps.append(exec_io.Pump(err_r, errors, outgoing=True))
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None when the caller started us with that descriptor closed
            stream.flush()
    with exec_io.Forwarder() as forwarder:  # installed before the fork: the joiner replaces them at once
        joiner = os.fork()
        if joiner == 0:
            enter_and_run(cfg, pid, argv, cgroup_procs, stdio, err_w, request)
        forwarder.target = joiner
        for fd in theirs:
            os.close(fd)
        pidfd = os.pidfd_open(joiner)
        try:
            if request is not None:
                joiners.close()
                _relay_tty(ours, pumps, pidfd, forwarder, hangup_fd)
            else:
                exec_io.relay(pumps, pidfd, hangup_fd)
        except exec_io.Hangup as e:  # -it: the pty is hung up by closing the master below; do not wait
            return 128 + e.sig, ""
        finally:
            os.close(pidfd)
            for p in pumps:
                p.close()
        _, status = os.waitpid(joiner, 0)
    code = os.waitstatus_to_exitcode(status)
    return (128 - code if code < 0 else code), bytes(errors).decode(errors="replace")


def _relay_tty(ours: socket.socket, pumps: list, pidfd: int, forwarder: "exec_io.Forwarder",
               hangup_fd: int | None = None) -> None:
    """Take the pty master from the joiner, then relay the caller's terminal (raw mode) to it."""
    from pyrunc.runtime import exec_io

    with ours:
        _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    if not fds:
        exec_io.relay(pumps, pidfd, hangup_fd)  # the joiner failed before the pty existed: only its error to read
        return
    master = fds[0]
    os.set_blocking(master, False)
    raw = exec_io.RawTerminal(0, master)
    pumps[:0] = [exec_io.Pump(0, master, outgoing=False), exec_io.Pump(master, 1, outgoing=True)]
    try:
        forwarder.add(raw.handlers())
        raw.enter()
        raw.on_winch()  # the size may have changed since the joiner set it
        exec_io.relay(pumps, pidfd, hangup_fd)
    finally:
        raw.restore()
