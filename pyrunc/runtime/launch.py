"""Starting a container: the fork/exec handshake between the supervisor and the container's first process.

    supervisor (subreaper)        launcher (child 1)                 init (child 2)
      fork ──────────────────────▶ setns net, ipc, uts
                                   unshare(NEWPID) or setns pid
                                   fork ─────────────────────────────▶ PID 1 of its pid namespace
      ◀──────── {"pid": N} ─────── _exit(0)
      waitpid(launcher)
      (init is reparented to us: we are its subreaper)
      ◀──────────────────────────────────────────────── {"ready": 1} ─ block on the go pipe
      cgroup attach, oom_score_adj ...
      ───────────────────────────────────────────────────── "go" ────▶ unshare(NEWNS [|NEWCGROUP]),
                                                                       build rootfs, pivot_root,
                                                                       setgroups/setgid/setuid, chdir,
                                                                       exec(argv)
      read sync pipe: EOF ⇒ exec succeeded (the pipe is close-on-exec)
                      {"error", "stage"} ⇒ create (CreateContainerError) or exec (StartError, exit 128)

Messages are JSON lines on one pipe (child → supervisor) and one byte on another (supervisor → init).
The supervisor is single-threaded, so a bare os.fork() is safe here; the launcher exists only because
a new PID namespace applies to the children of the process that unshares it, never to itself.
"""

from __future__ import annotations

import fcntl
import gc
import os
import resource  # imported here, not in the child: after pivot_root the host's stdlib is out of reach
import sys
import time

from pyrunc.errors import RuntimeFailure
from pyrunc.linux import hygiene
from pyrunc.linux import syscalls as sc
from pyrunc.linux.hygiene import reset_signals, set_identity  # noqa: F401 - re-exported (they moved to hygiene)
from pyrunc.store import leanjson

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, Callable, NamedTuple, NoReturn
else:
    from pyrunc.records import NamedTuple
if TYPE_CHECKING:
    import signal
else:  # signal.py's C module: the same numbers and calls, without signal.py's enums (enum: ~2 ms)
    import _signal as signal

if TYPE_CHECKING:  # socket and runtime.config are not loaded by pyrunc-oci's run (~5 ms)
    from pyrunc.runtime.config import ContainerConfig

# Joining order matters: user first would be, mount never (the init makes its own).
JOIN_ORDER = ("ipc", "uts", "net")
HANDSHAKE_TIMEOUT = 30.0


class LaunchError(RuntimeFailure):
    """The container could not be started; `stage` is "create" (before exec), "config" (a
    subPath that cannot be prepared: the kubelet's CreateContainerConfigError) or "exec"."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class Launched(NamedTuple):  # not a dataclass: keeps dataclasses off `pyrunc exec`'s imports
    pid: int
    start_time: int


def send(fd: int, msg: dict) -> None:
    os.write(fd, (leanjson.dumps(msg) + "\n").encode())


def join_namespaces(namespaces: dict[str, str], order: tuple[str, ...] = JOIN_ORDER) -> None:
    for kind in order:
        # No default: a namespace nobody recorded must not silently become the host's (fail closed).
        where = namespaces.get(kind)
        if not where:
            raise RuntimeFailure(f"no {kind} namespace given for the container: refusing to use the host's")
        if where == "new":
            sc.unshare(sc.NS_FLAGS[kind])
        elif where != "host":
            sc.setns_path(where, sc.NS_FLAGS[kind])


def enter_pid_namespace(where: str) -> None:
    """Affects the children of the caller only (a process never changes its own pid namespace)."""
    if where == "new":
        sc.unshare(sc.CLONE_NEWPID)
    elif where != "host":
        sc.setns_path(where, sc.CLONE_NEWPID)


def exec_argv(argv: list[str], env: dict[str, str]) -> NoReturn:
    """execvpe with runc's words when the binary is missing."""
    if not argv:
        raise LaunchError("exec", "no command specified")
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        where = "executable file not found in $PATH" if "/" not in argv[0] else "no such file or directory"
        raise LaunchError("exec", f'exec: "{argv[0]}": {where}') from None
    except PermissionError:
        raise LaunchError("exec", f'exec: "{argv[0]}": permission denied') from None
    except OSError as e:
        raise LaunchError("exec", f'exec: "{argv[0]}": {e.strerror}') from None


def keep_pipe_readers(fds: tuple[int, ...]) -> None:
    """Give the container its own copy of its log pipes' read ends, at high descriptor numbers.

    The supervisor reads the pipes; if it is killed, the container would otherwise be left with
    pipes nobody holds for reading, and its next write to stdout would kill it with SIGPIPE. With
    these copies a write blocks at worst (once the 64 KiB pipe buffer is full) until the next
    supervisor reopens the pipes through /proc/PID/fd/1 and drains them. The container never reads
    them; they sit near the top of its descriptor range, away from the ones programs assume free.
    """
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    low = max(3, min(soft, 1 << 20) - 2 * len(fds) - 2)
    for fd in fds:
        fcntl.fcntl(fd, fcntl.F_DUPFD, low)  # F_DUPFD leaves FD_CLOEXEC clear: it survives exec


class Stdio(NamedTuple):
    """The container's stdio besides the log pipes: `stdin` (the read end of a pipe the supervisor writes;
    -1: /dev/null) or, for `tty: true`, `console` (a socket the pty master goes back through, as runc's
    --console-socket; -1: no terminal)."""

    stdin: int = -1
    console: int = -1


def _own_terminal(cfg: ContainerConfig, console: int) -> None:
    """tty: true: a pty of the container's own devpts (we are in its mount namespace and root, as exec -t's
    joiner is), the slave as controlling terminal and stdio, the master sent to the supervisor, which keeps it
    (logs and attach). The master never stays in the container."""
    import socket  # both imported before build_rootfs (_init_main): the host's modules are gone here

    from pyrunc.linux import terminal

    master, slave, _ = terminal.allocate_pty(cfg.uid)
    socket.send_fds(socket.socket(fileno=console), [b"m"], [master])
    os.close(master)
    terminal.make_controlling(slave)  # in the session of its own made by setsid() above


def _init_main(cfg: ContainerConfig, sync_w: int, go_r: int, stdout: int, stderr: int,
               readers: tuple[int, ...] = (), stdio: Stdio = Stdio()) -> None:
    """Child 2: becomes the container. Never returns."""
    stage = "create"
    try:
        from pyrunc.runtime.rootfs import build_rootfs
        from pyrunc.security.process import ProcessSecurity

        # Until execve this process is a copy of the supervisor: in a pod with a shared PID namespace the
        # other containers see it. Not dumpable (no /proc/PID/fd, mem or exe for them) and holding none of
        # the supervisor's descriptors (its socket, other pods' pipes), as runc's init. No garbage
        # collection from here on: a collected object of the supervisor's would close a descriptor number
        # that may by then be one of ours.
        gc.disable()
        hygiene.set_dumpable(False)
        hygiene.close_fds_except([sync_w, go_r, stdout, stderr, *readers, *(fd for fd in stdio if fd >= 0)])
        if stdio.console >= 0:
            import socket  # noqa: F401 - now: after build_rootfs the host's modules are out of reach

            from pyrunc.linux import terminal  # noqa: F401 - the same

        security = ProcessSecurity(cfg)  # the seccomp filter is compiled while the host's libseccomp is reachable
        os.setsid()
        send(sync_w, {"ready": 1})
        if os.read(go_r, 1) != b"g":
            os._exit(1)
        os.close(go_r)
        # Now in the container's cgroup: a cgroup namespace made here is rooted at it.
        sc.unshare(sc.CLONE_NEWNS | (sc.CLONE_NEWCGROUP if cfg.cgroupns else 0))
        build_rootfs(cfg)
        if stdio.console >= 0:
            _own_terminal(cfg, stdio.console)
        else:
            os.dup2(stdio.stdin if stdio.stdin >= 0 else os.open("/dev/null", os.O_RDWR), 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
        os.set_inheritable(0, True)
        os.set_inheritable(1, True)
        os.set_inheritable(2, True)
        # no_new_privs, bounding set, identity, capabilities, seccomp (pyrunc/security/process.py)
        security.enter(lambda: set_identity(cfg.uid, cfg.gid, cfg.additional_gids))
        try:
            os.chdir(cfg.cwd)
        except FileNotFoundError:
            os.makedirs(cfg.cwd, exist_ok=True)  # runc creates a missing working directory
            os.chdir(cfg.cwd)
        keep_pipe_readers(readers)
        stage = "exec"
        reset_signals()
        exec_argv(list(cfg.args), dict(cfg.env))
    except LaunchError as e:
        report_and_exit(sync_w, e.stage, e.message)
    except BaseException as e:  # noqa: BLE001 - anything that escapes must reach the supervisor
        report_and_exit(sync_w, stage, f"{type(e).__name__}: {e}")


def report_and_exit(sync_w: int, stage: str, message: str) -> None:
    try:
        send(sync_w, {"error": message, "stage": stage})
    finally:
        os._exit(128)


def _launcher_main(cfg: ContainerConfig, sync_w: int, go_r: int, stdout: int, stderr: int,
                   readers: tuple[int, ...], stdio: Stdio = Stdio()) -> None:
    """Child 1: joins the pod's namespaces, forks the init into its pid namespace, exits."""
    try:
        join_namespaces(dict(cfg.namespaces))
        enter_pid_namespace(cfg.namespaces.get("pid", "new"))
        pid = os.fork()
        if pid == 0:
            _init_main(cfg, sync_w, go_r, stdout, stderr, readers, stdio)
            os._exit(127)
        send(sync_w, {"pid": pid})
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        report_and_exit(sync_w, "create", f"joining the pod sandbox: {e}")


class _Reader:
    """JSON lines from the sync pipe, with one deadline for the whole handshake."""

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd, self.deadline, self.buf = fd, deadline, b""

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0 or not sc.readable(self.fd, left):
                raise LaunchError("create", "timed out waiting for the container to start")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg: dict[str, Any] = leanjson.loads(line)
        return msg


class Pending:
    """A launch under way (begin()): the launcher is forked; release() lets its init go once it is ready and
    `before_go` has run, finish() waits for its exec. Several launches can be under way at once (the
    containers of a pod): each one's set-up in its own processes overlaps the others'.

    On any error the init and the launcher are gone (killed and reaped) and the pipes closed before
    LaunchError is raised; abort() does the same for a launch given up."""

    def __init__(self, launcher: int, sync_r: int, go_w: int) -> None:
        self.launcher = launcher
        self.sync_r, self.go_w = sync_r, go_w
        self.init_pid = 0
        self.start_time = 0
        self.reader = _Reader(sync_r, time.monotonic() + HANDSHAKE_TIMEOUT)

    def release(self, before_go: Callable[[int], None], on_pid: Callable[[int], None] | None = None) -> None:
        """Wait until the init is ready, run `before_go(pid)` (cgroup attach etc.), then let it go.
        `on_pid(pid)` runs as soon as the init's pid is known, while the init still starts: work that may overlap
        the init's own start-up (pyrunc-oci's cgroup attach: the first cgroup.procs write waits for an RCU grace
        period on cgroup v1). Its error is raised once the init is ready (the init's own error comes first)."""
        late: Exception | None = None
        try:
            # The launcher's {"pid"} and the init's {"ready"} share the pipe: they may come in either order.
            got: dict = {}
            while "pid" not in got or "ready" not in got:
                msg = self.reader.next()
                if msg is None or "error" in msg:
                    raise LaunchError((msg or {}).get("stage", "create"),
                                      (msg or {}).get("error", "the container init died"))
                got.update(msg)
                if "pid" in msg:
                    self.init_pid = int(msg["pid"])
                    os.waitpid(self.launcher, 0)
                    self.launcher = 0
                    if on_pid is not None:
                        try:
                            on_pid(self.init_pid)
                        except Exception as e:  # noqa: BLE001 - raised below, unless the init reports its own
                            late = e
            if late is not None:
                raise LaunchError("create", str(late)) from late
            self.start_time = sc.proc_start_time(self.init_pid) or 0
            try:
                before_go(self.init_pid)
            except Exception as e:  # noqa: BLE001 - e.g. a cgroup write refused: the container cannot be created
                raise LaunchError("create", str(e)) from e
            os.write(self.go_w, b"g")
        except BaseException:
            self.abort()
            raise

    def finish(self) -> Launched:
        """Wait for the exec (EOF on the close-on-exec sync pipe) or the init's error."""
        try:
            msg = self.reader.next()
            if msg is not None:
                raise LaunchError(msg.get("stage", "exec"), msg.get("error", "exec failed"))
            return Launched(self.init_pid, self.start_time)
        except BaseException:
            self.abort()
            raise
        finally:
            self._close()

    def finish_at(self, marker: str) -> Launched:
        """Wait for the init's {marker: ...} instead of its exec, and leave it running: pyrunc-oci's `create`
        (its init then blocks on the exec FIFO until `start`). An error or EOF before it is a LaunchError."""
        try:
            msg = self.reader.next()
            if msg is None or marker not in msg:
                raise LaunchError((msg or {}).get("stage", "create"), (msg or {}).get("error", "the container init died"))
            self.init_pid, pid = 0, self.init_pid  # ours no longer: abort() must not kill it
            return Launched(pid, self.start_time)
        except BaseException:
            self.abort()
            raise
        finally:
            self._close()

    def wait_for(self, marker: str) -> None:
        """Wait for the init's {marker: ...} and keep the launch pending: pyrunc-oci's init asks for its
        createRuntime hooks this way, then waits for answer(). An error or EOF before it is a LaunchError."""
        try:
            msg = self.reader.next()
            if msg is None or marker not in msg:
                raise LaunchError((msg or {}).get("stage", "create"), (msg or {}).get("error", "the container init died"))
        except BaseException:
            self.abort()
            raise

    def answer(self, data: bytes) -> None:
        os.write(self.go_w, data)

    def extend_deadline(self, seconds: float) -> None:
        """Give the init longer than the handshake's deadline (pyrunc-oci: hooks with their own timeouts)."""
        self.reader.deadline = max(self.reader.deadline, time.monotonic() + HANDSHAKE_TIMEOUT + seconds)

    def abort(self) -> None:
        if self.init_pid:
            _kill_and_reap(self.init_pid)
            self.init_pid = 0
        if self.launcher:
            _kill_and_reap(self.launcher)
            self.launcher = 0
        self._close()

    def _close(self) -> None:
        for fd in (self.sync_r, self.go_w):
            if fd >= 0:
                os.close(fd)
        self.sync_r = self.go_w = -1


def begin(cfg: ContainerConfig, stdout: int, stderr: int, readers: tuple[int, ...] = (),
          stdio: Stdio = Stdio()) -> Pending:
    """Fork the launcher of the container (see the module docstring); the caller may close its copies of
    `stdout`, `stderr` and `stdio` once this returns: the launcher holds its own."""
    return begin_with(lambda sync_w, go_r: _launcher_main(cfg, sync_w, go_r, stdout, stderr, readers, stdio))


def begin_with(launcher_main: Callable[[int, int], None]) -> Pending:
    """The handshake's mechanism for any launcher: fork, run `launcher_main(sync_w, go_r)` in the child (it
    must send {"pid"} and have its init send {"ready"}, then wait for "g" on go_r; it never returns), and
    hand back the Pending launch. The pod's containers and pyrunc-oci's (pyrunc/oci/init.py) both use it."""
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    launcher = os.fork()
    if launcher == 0:
        os.close(sync_r)
        os.close(go_w)
        launcher_main(sync_w, go_r)
        os._exit(127)
    os.close(sync_w)
    os.close(go_r)
    return Pending(launcher, sync_r, go_w)


def launch(cfg: ContainerConfig, stdout: int, stderr: int, before_go: Callable[[int], None],
           readers: tuple[int, ...] = (), stdio: Stdio = Stdio()) -> Launched:
    """Start the container; `before_go(pid)` runs while its init waits (cgroup attach etc.).

    `readers` are the read ends of the stdout/stderr pipes, which the container keeps a copy of
    (see keep_pipe_readers).

    Raises LaunchError; on any error the init is gone (killed and reaped) before this returns.
    """
    pending = begin(cfg, stdout, stderr, readers, stdio)
    pending.release(before_go)
    return pending.finish()


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
