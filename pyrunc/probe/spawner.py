"""The action spawner: a small process that forks the probe and hook action children for the supervisor.

Why: an action child used to be a fork of the supervisor, ~50 MiB and ~1,800 descriptors at 200 pods, and an
exec action forks twice more (the joiner, the command). Each fork copies the page tables and the descriptor
table, the child then tears the copied address space down, and the supervisor takes copy-on-write faults while
the children live: ~64 % of an idle 200-pod supervisor's time went into the probes' os.fork(). The spawner is a
fresh interpreter (~24 MiB; six descriptors: stdio, its socket, a signal pipe) with only the action modules
loaded; its forks are the cheap ones, and the supervisor only sends a packet.

    supervisor (probe/starter.py SpawnerClient)         spawner (this module, its own process)
      posix_spawn(python -I -c ... spawner.main)  ───▶  PR_SET_PDEATHSIG(SIGKILL); every fd closed but 0-2
                                                        and the socket (fd 3); the action modules imported
      ◀── {"ready": pid} ─────────────────────────────  then serves
      {"id", handler, target, ...} + pipe write end ──▶ fork_action() exactly as the supervisor did
                                                        (probe/action.py: signals reset, every fd closed but
                                                        the pipe, not dumpable, setsid)
      ◀── {"id", "pid"} ───────────────────────────────
      (timeout backstop: pidfd_send_signal on pid)      SIGCHLD: waitpid(-1)
      ◀── {"id", "status"} ────────────────────────────
      closes its end (exit, handover)  ────── EOF ────▶ exits

The message pipe is the supervisor's: the child writes its result text into it as before, and the spawner
only relays the pid and the wait status. The messages are probe/wire.py's.

The spawner holds no pod descriptor and runs as root like the supervisor. It is started from the files the
supervisor was started from (the package's parent directory goes first on sys.path), and it checks that
they are still the same build: after an upgrade under a running supervisor it exits before it is ready,
and the supervisor then forks its actions itself, as before (probe/starter.py).
"""

from __future__ import annotations

import errno
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys

from pyrunc.build import build_id
from pyrunc.linux import hygiene
from pyrunc.linux import syscalls as sc
from pyrunc.probe import action, wire
from pyrunc.security import seccomp

SOCK_FD = 3  # the spawner's end of the socket pair (posix_spawn puts it there)
COMM = "pyrunc-spawner"  # what `ps` shows (its action children rename themselves "pyrunc-action")
PR_SET_PDEATHSIG = 1
EXIT_OTHER_BUILD = 3  # the files under the supervisor changed: not started (it forks its actions itself)
MAX_PACKET = 1 << 18  # above the socket's send buffer: a request (a command, headers) is never cut
# What the action children run, loaded once here (as supervisor/preload.py does for the supervisor): imports
# made inside the children's functions would read whatever is on disk then. The action modules are imported
# above through probe.action.
PRELOAD = (
    "pyrunc.runtime.exec", "pyrunc.runtime.exec_io", "pyrunc.runtime.exec_service", "pyrunc.security.process",
    "pyrunc.security.seccomp", "pyrunc.security.caps", "pyrunc.linux.terminal", "pyrunc.linux.safepath",
    "pyrunc.runtime.config", "pyrunc.errors",
    "ctypes", "ctypes.util", "fcntl", "struct", "stat", "termios", "tty", "http.client", "urllib.parse", "ssl",
    "encodings.idna",
)
PRELOAD_OPTIONAL = ("prctl",)  # a node may run without it until a container needs it


def command(parent: int, build: str) -> list[str]:
    """The spawner's command line, started by the supervisor `parent` of build `build`."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # -I: no PYTHON* environment, no user site, no current directory on sys.path. `site` stays: the joiner
    # may need the virtualenv's packages (pyseccomp). The checkout the supervisor runs goes first.
    code = (f"import sys; sys.path.insert(0, {pkg_parent!r}); "
            "from pyrunc.probe.spawner import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-I", "-c", code, str(parent), build]


def main(argv: list[str]) -> int:
    parent, build = int(argv[0]), argv[1]
    # Killed with the supervisor, also by SIGKILL; a supervisor that died before this line is not our parent.
    sc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, what="prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        return 0
    hygiene.close_fds_except([SOCK_FD])  # posix_spawn passed only close-on-exec ones; none stays by mistake
    hygiene.set_dumpable(False)
    action.set_comm(COMM)
    if build_id() != build:
        print(f"pyrunc spawner: the files changed under the supervisor (build {build_id()}, not {build}): "
              "leaving its actions to it", file=sys.stderr, flush=True)
        return EXIT_OTHER_BUILD
    preload()
    gc.freeze()  # the forks' copy-on-write: a collection here would touch every object the children share
    return Spawner(socket.socket(fileno=SOCK_FD)).serve()


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    for name in PRELOAD_OPTIONAL:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:
        seccomp._pyseccomp()  # pyseccomp, loaded the way the joiner loads it (no ldconfig subprocess)
    except (ImportError, RuntimeError):
        pass  # without libseccomp a container asking for a filter fails to exec, as in the supervisor


class Spawner:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: dict[int, int] = {}  # pid -> request id
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)  # the wakeup fd wakes the poll below

    def serve(self) -> int:
        self.sock.setblocking(True)
        self.sock.sendall(wire.encode_ready(os.getpid()))
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        while True:
            try:
                ready = [fd for fd, _ in poller.poll()]
            except InterruptedError:
                continue
            if self.wake_r in ready:
                self._drain_wakeups()
            self._reap()
            if self.sock.fileno() in ready and not self._receive():
                return 0  # the supervisor closed its end: it exits or hands its pods over

    def _receive(self) -> bool:
        """Serve one request; False when the supervisor is gone."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_PACKET, 1)
        except ConnectionError:
            return False
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        if len(fds) != 1:  # no message pipe: nothing to answer through; the supervisor sent nothing like it
            for fd in fds:
                os.close(fd)
            self._log(f"a request without its message pipe ({len(fds)} descriptors): dropped")
            return True
        message_w = fds[0]
        try:
            req = wire.decode_request(data)
        except wire.WireError as e:
            self._fail(message_w, _request_id(data), f"bad request: {e}")
            return True
        try:
            pid = action.fork_action(req.handler, req.target, req.timeout, req.ports, req.purpose, message_w)
        except OSError as e:  # no memory, no pids: the result is unknown and the next period retries
            self._fail(message_w, req.id, f"cannot start the {req.purpose}: {e}")
            return True
        os.close(message_w)
        self.children[pid] = req.id
        self._send(wire.encode_started(req.id, pid))
        return True

    def _fail(self, message_w: int, req_id: int, text: str) -> None:
        try:
            os.write(message_w, text.encode(errors="replace")[:60000])
        finally:
            os.close(message_w)
        if req_id:
            self._send(wire.encode_ended(req_id, None))

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            req_id = self.children.pop(pid, None)
            if req_id is not None:
                self._send(wire.encode_ended(req_id, status))

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)  # blocking: the supervisor reads its end from its loop
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise  # the supervisor is gone otherwise: the next receive sees the end

    @staticmethod
    def _log(text: str) -> None:
        print(f"pyrunc spawner: {text}", file=sys.stderr, flush=True)


def _request_id(data: bytes) -> int:
    """The id of a request that did not decode, if it has one (0 otherwise)."""
    try:
        msg = json.loads(data)
    except ValueError:
        return 0
    req_id = msg.get("id") if isinstance(msg, dict) else None
    return req_id if isinstance(req_id, int) and not isinstance(req_id, bool) else 0

