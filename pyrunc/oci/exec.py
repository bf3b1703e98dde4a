"""`pyrunc-oci exec`: a new process in a created or running container, as runc's exec.

    caller (subreaper)      joiner (child 1)                          command (child 2)
      pipes ─── fork ─────▶ not dumpable, closes what is not its
                            own, joins the container's cgroup,
                            setns user, ipc, uts, net, pid, cgroup,
                            time, mnt (those that differ), chroot
                            into the init's root; fork ─────────────▶ in the container's pid namespace:
      ◀── command pid ───── _exit(0): the command is reparented     setsid, [pty: master to the console
                            to the caller (its subreaper)            socket or to the caller], identity and
      wait for exec (the CLOEXEC error pipe closes) ──────────────  security (caps, seccomp, nnp), cwd, exec
      --pid-file; --detach: exit 0; else wait (relaying the pty with --tty), exit with its status

No process of pyrunc stays with a detached exec (as runc). The process's security is the container's
(linux.seccomp, the process's capabilities and noNewPrivileges), or --process FILE's process object;
its flags (--cwd, --env, --user, --cap, --no-new-privs, --tty) change the container's process as runc's do.

Lean (docs/performance.md): every module this one loads at import is builtin or of the same kind (no typing,
json, re, enum, signal, ctypes, dataclasses), and the process is the plain-JSON form state.json keeps
("process", process.to_facts), not the Process record: `exec ID CMD...` loads ~30 modules beyond the
interpreter's own (53 in all, where it loaded 88). What is rare loads more, when it is used: --process FILE
and the state of an older pyrunc-oci (config.py), a terminal (socket, exec_io), a seccomp filter (json,
pyseccomp) the first time: the joiner keeps the compiled program in the container's directory (seccomp.bpf)
and the next execs load that (linux/privileges.py BpfFilter), as the filter never changes after create.
"""

from __future__ import annotations

import gc
import os

from pyrunc.errors import FieldError, PyruncError
from pyrunc.linux import hygiene, privileges
from pyrunc.linux import syscalls as sc
from pyrunc.oci.program import _home, _look_path, not_found
from pyrunc.oci.state import OciError, connect_console_socket, container_dir, load_with_facts, set_child_subreaper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (which loads re)
if TYPE_CHECKING:
    import signal
    import socket  # loaded with a terminal only: ~3 ms of every exec otherwise
    from typing import Any, NoReturn
else:
    import _signal as signal  # the builtin under `signal`, which loads enum (for its IntEnums) on import

# user first (joining the others needs the capabilities it gives), mnt last (the paths of /proc are the host's
# until then); time before the fork so that the command is in it.
NS_ORDER = ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")
NS_CLONE = {"user": 0x10000000, "ipc": 0x08000000, "uts": 0x04000000, "net": 0x40000000, "pid": 0x20000000,
            "cgroup": 0x02000000, "time": 0x00000080, "mnt": 0x00020000}
SECCOMP_BPF = "seccomp.bpf"  # in the container's directory: its filter compiled by the first exec
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


class ExecFailed(PyruncError):
    """The process could not be started: runc's exec exits 255 then."""

    exit_code = 255


class ExecOptions:
    """exec's flags. Plain classes here, not NamedTuples (see the module docstring)."""

    __slots__ = ("args", "process_file", "detach", "tty", "console_socket", "pid_file", "cwd", "env", "user",
                 "additional_gids", "caps", "no_new_privs", "preserve_fds")

    def __init__(self, args: tuple[str, ...] = (), process_file: str = "", detach: bool = False, tty: bool = False,
                 console_socket: str = "", pid_file: str = "", cwd: str = "", env: tuple[str, ...] = (),
                 user: str = "", additional_gids: tuple[int, ...] = (), caps: tuple[str, ...] = (),
                 no_new_privs: bool = False, preserve_fds: int = 0) -> None:
        self.args, self.process_file, self.detach, self.tty = args, process_file, detach, tty
        self.console_socket, self.pid_file, self.cwd, self.env, self.user = console_socket, pid_file, cwd, env, user
        self.additional_gids, self.caps, self.no_new_privs = additional_gids, caps, no_new_privs
        self.preserve_fds = preserve_fds


class CapSets:
    """The five sets of state.json's "capabilities" (CapabilitySets' order), as ProcessSecurity reads them."""

    __slots__ = ("bounding", "effective", "permitted", "inheritable", "ambient")

    def __init__(self, sets: list[list[str]]) -> None:
        self.bounding, self.effective, self.permitted, self.inheritable, self.ambient = (tuple(s) for s in sets)


class Security:
    """What linux/privileges.py's ProcessSecurity reads, for the exec'd process."""

    __slots__ = ("capabilities", "no_new_privileges", "seccomp", "seccomp_bpf")

    def __init__(self, capabilities: CapSets, no_new_privileges: bool, seccomp: str, seccomp_bpf: bytes = b"") -> None:
        self.capabilities, self.no_new_privileges, self.seccomp = capabilities, no_new_privileges, seccomp
        self.seccomp_bpf = seccomp_bpf  # the filter's program kept by an earlier exec; then seccomp is ""


def exec_process_config(p: dict[str, Any], o: ExecOptions) -> dict[str, Any]:
    """The process to run, in state.json's plain form (process.to_facts): --process FILE's, else the
    container's (`p`) with the flags applied (runc's getProcess)."""
    if o.process_file:
        from pyrunc.oci import config as oc
        from pyrunc.oci.process import to_facts

        return to_facts(oc._process(oc.read_json_file(o.process_file, f"--process {o.process_file}"), "process"))
    if not o.args:
        raise FieldError("exec", "process args cannot be empty (give ARGS or --process FILE)")
    env = {k: v for k, v in p["env"]}
    for i, item in enumerate(o.env):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise FieldError(f"--env[{i}]", f"must be KEY=value, not {item!r}")
        env[key] = val
    uid, gid = p["uid"], p["gid"]
    if o.user:
        u, _, g = o.user.partition(":")
        try:
            uid = int(u)
            gid = int(g) if g else gid
        except ValueError:
            raise FieldError("--user", f"must be UID[:GID] (numbers), not {o.user!r}") from None
    bounding, effective, permitted, inheritable, ambient = p["capabilities"]
    for name in o.caps:
        if name not in privileges.CAP_NUMBERS:
            raise FieldError("--cap", f"unknown capability {name!r}")
        bounding, effective, permitted = _add(bounding, name), _add(effective, name), _add(permitted, name)
        if inheritable:  # as runc: ambient only when the process has an inheritable set to go with it
            ambient = _add(ambient, name)
    cwd = p["cwd"]
    if o.cwd:
        if not o.cwd.startswith("/"):
            raise FieldError("--cwd", f"must be an absolute path, not {o.cwd!r}")
        cwd = os.path.normpath(o.cwd)
    return {**p, "args": list(o.args), "env": [[k, v] for k, v in env.items()], "uid": uid, "gid": gid, "cwd": cwd,
            "additional_gids": [*p["additional_gids"], *o.additional_gids],
            "capabilities": [bounding, effective, permitted, inheritable, ambient],
            "no_new_privileges": bool(p["no_new_privileges"] or o.no_new_privs), "terminal": o.tty}


def _add(names: list[str], name: str) -> list[str]:
    return names if name in names else list(privileges.by_number((*names, name)))


def exec_in_container(root: str, container_id: str, o: ExecOptions) -> int:
    st, facts = load_with_facts(root, container_id)
    if st.status == "paused":
        raise OciError("cannot exec in a paused container")
    if st.status not in ("created", "running"):
        raise OciError("cannot exec in a stopped container")
    if o.preserve_fds < 0:
        raise FieldError("--preserve-fds", "must not be negative")
    if "process" in facts:
        container_process, seccomp = facts["process"], str(facts.get("seccomp") or "")
    else:  # the state of an older pyrunc-oci: the bundle's config, decoded again
        from pyrunc.oci import config as oc
        from pyrunc.oci.process import to_facts

        cfg = oc.load(st.bundle)
        container_process, seccomp = to_facts(cfg.process), cfg.seccomp
    proc = exec_process_config(container_process, o)
    if proc["terminal"] and o.detach and not o.console_socket:
        raise OciError("cannot allocate tty if pyrunc-oci will detach without setting console socket")
    if o.console_socket and not proc["terminal"]:
        raise OciError("cannot use console socket if pyrunc-oci will not detach or allocate tty")
    c = CapSets(proc["capabilities"])
    c.ambient = tuple(n for n in c.ambient if n in c.inheritable and n in c.permitted)
    kept = os.path.join(container_dir(root, container_id), SECCOMP_BPF)
    program = _kept_program(kept) if seccomp else b""
    security = Security(c, bool(proc["no_new_privileges"]), "" if program else seccomp, program)
    console = -1
    relay: socket.socket | None = None
    if proc["terminal"]:
        import socket

        if o.console_socket:
            console = connect_console_socket(o.console_socket)
        else:
            relay, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            console = theirs.detach()
    if security.seccomp:
        from pyrunc.oci import with_site

        with_site()  # the joiner compiles the filter with pyseccomp, from the virtualenv
    set_child_subreaper()  # the command is ours once the joiner exits
    if not o.detach:
        # The signals the foreground forwards stay pending until _wait has its handlers: the command may run
        # (say "ready") and this process be signalled before then, and a SIGTERM with no handler yet would end
        # this process and leave the command running (runc sets up its signal handler before the process
        # starts, for the same reason). The command unblocks them (hygiene.reset_signals).
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:
        os.close(err_r)
        os.close(pid_r)
        if relay is not None:
            relay.close()
        _joiner(st.pid, list(st.cgroups.values()), proc, security, console, o.preserve_fds, err_w, pid_w,
                kept if security.seccomp else "")
    for fd in (err_w, pid_w) + ((console,) if console >= 0 else ()):
        os.close(fd)
    # The pipes first, the joiner's exit last: its teardown (a whole interpreter's memory) then overlaps
    # the command's start instead of delaying it.
    with os.fdopen(pid_r, "rb") as f:
        text = f.read()
    with os.fdopen(err_r, "rb") as f:
        error = f.read().decode(errors="replace")  # EOF once the command has exec'd (or died)
    _, status = os.waitpid(joiner, 0)
    pid = int(text) if text.strip() else 0
    if error or not pid:
        if pid:
            _reap(pid)
        if relay is not None:
            relay.close()
        raise ExecFailed(f"exec failed: {error or 'the joiner exited with status ' + str(status)}")
    if o.pid_file:
        from pyrunc.oci.state import _write_pid_file

        _write_pid_file(o.pid_file, pid)
    if o.detach:
        return 0
    return _wait(pid, relay)


def _kept_program(path: str) -> bytes:
    """The filter's program an earlier exec kept (b"" if none: this exec compiles it)."""
    try:
        with open(path, "rb") as f:
            program = f.read()
    except OSError:
        return b""
    return program if program and len(program) % 8 == 0 else b""


def _keep_program(flt: Any, seccomp: str, path: str) -> None:
    """Keep the compiled filter's program (libseccomp's export of it) for the container's next execs, when
    libseccomp loads it without flags (none of linux.seccomp.flags: those need seccomp(2) with them).
    Written whole (a temporary file renamed) by whichever exec compiles first: the same bytes each time.
    A failure here only means the next exec compiles again."""
    from pyrunc.store import leanjson

    if leanjson.loads(seccomp).get("flags"):
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as f:
            flt.export_bpf(f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _wait(pid: int, relay: socket.socket | None) -> int:
    """The foreground: forward signals, relay the pty when there is one, return the exit status."""
    def forward(n: int, _f: Any) -> None:
        try:
            os.kill(pid, n)
        except ProcessLookupError:
            pass

    saved = {s: signal.signal(s, forward) for s in FORWARDED if s != signal.SIGWINCH}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked since before the fork: what came is forwarded now
    try:
        if relay is not None:
            relay_terminal(relay, pid)
        while True:
            try:
                got, status = os.waitpid(pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:
                return 255
            if got == pid:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code
    finally:
        for s, old in saved.items():
            signal.signal(s, old)


def relay_terminal(relay: socket.socket, pid: int) -> None:
    """Take the pty master the container's side sends, relay this process's stdin/stdout to it (stdin in raw
    mode when it is a terminal) until `pid` exits. Used by exec --tty and run with process.terminal."""
    import socket

    from pyrunc.runtime import exec_io

    with relay:
        _, fds, _, _ = socket.recv_fds(relay, 64, 1)
    if not fds:
        return
    master = fds[0]
    os.set_blocking(master, False)
    pidfd = os.pidfd_open(pid)
    pumps = [exec_io.Pump(master, 1, outgoing=True)]
    if exec_io.is_open(0):
        pumps.insert(0, exec_io.Pump(0, master, outgoing=False))
    raw = None
    if os.isatty(0):
        raw = exec_io.RawTerminal(0, master)
        signal.signal(signal.SIGWINCH, lambda _n, _f: raw.on_winch() if raw else None)
        raw.enter()
        raw.on_winch()
    try:
        exec_io.relay(pumps, pidfd)
    except OSError:
        pass  # the pty hung up (EIO) as the command exited
    finally:
        if raw is not None:
            raw.restore()
        os.close(pidfd)
        for p in pumps:
            try:
                p.close()
            except OSError:
                pass
        try:
            os.close(master)
        except OSError:
            pass


# --- the joiner and the command (forked; never return) ------------------------------------------------------------
def _joiner(init: int, groups: list[str], proc: dict[str, Any], security: Security, console: int, preserve: int,
            err_w: int, pid_w: int, keep: str) -> NoReturn:
    try:
        sec = privileges.ProcessSecurity(security)  # compiled now: after the chroot below libseccomp is out of reach
        if keep:
            _keep_program(sec.filter, security.seccomp, keep)
        gc.disable()
        if console >= 0:
            import socket  # noqa: F401 - now: after the chroot the host's modules are out of reach

            from pyrunc.linux import terminal  # noqa: F401 - the same
        hygiene.set_dumpable(False)
        hygiene.close_fds_except([0, 1, 2, err_w, pid_w, *range(3, 3 + preserve)] + ([console] if console >= 0 else []))
        for directory in sorted(set(groups)):
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        fds = []
        for kind in NS_ORDER:
            try:
                theirs = os.stat(f"/proc/{init}/ns/{kind}")
            except FileNotFoundError:
                continue  # this kernel has no such namespace
            if theirs.st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino:
                continue
            fds.append((os.open(f"/proc/{init}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC), kind))
        root = os.open(f"/proc/{init}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for fd, kind in fds:
            sc.setns(fd, NS_CLONE[kind])
            os.close(fd)
        # setns(mnt) leaves us at the namespace's root mount, which is not the container's root after
        # --no-pivot (a chroot): take the init's own root.
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # until the command has its own handlers (none)
        child = os.fork()
        if child == 0:
            _command(proc, sec, console, preserve, err_w)
        os.write(pid_w, str(child).encode())
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(err_w, f"joining the container: {_describe(e)}".encode())
        finally:
            os._exit(1)


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError):
        return f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}"
    return f"{type(e).__name__}: {e}" if not isinstance(e, PyruncError) else str(e)


def _command(proc: dict[str, Any], sec: Any, console: int, preserve: int, err_w: int) -> NoReturn:
    try:
        os.setsid()
        if console >= 0:
            import socket

            from pyrunc.linux import terminal

            master, slave, _ = terminal.allocate_pty(proc["uid"])
            size = proc["console_size"]
            if size is not None:
                import struct

                terminal.set_winsize(master, struct.pack(terminal.WINSIZE, size[0], size[1], 0, 0))
            with socket.socket(fileno=console) as s:
                socket.send_fds(s, [b"/dev/ptmx"], [master])
            os.close(master)
            terminal.make_controlling(slave)
        for fd in (0, 1, 2, *range(3, 3 + preserve)):
            try:
                os.set_inheritable(fd, True)
            except OSError:
                pass
        env = {k: v for k, v in proc["env"]}
        if "HOME" not in env:
            env["HOME"] = _home(proc["uid"])
        args = list(proc["args"])
        program = _look_path(args[0], env.get("PATH", ""))
        if not program:
            raise ExecFailed(not_found(args[0]))
        sec.enter(lambda: hygiene.set_identity(proc["uid"], proc["gid"], tuple(proc["additional_gids"])))
        if proc["umask"] is not None:
            os.umask(proc["umask"])
        cwd = proc["cwd"]
        try:
            os.chdir(cwd)
        except OSError as e:
            raise ExecFailed(f"chdir to cwd ({cwd!r}) set in config.json failed: {e.strerror}") from None
        hygiene.reset_signals()
        try:
            os.execve(program, args, env)
        except OSError as e:
            raise ExecFailed(f'exec: "{args[0]}": {e.strerror}') from None
    except BaseException as e:  # noqa: BLE001
        try:
            os.write(err_w, ("unable to start container process: " + _describe(e)).encode())
        finally:
            os._exit(127)
