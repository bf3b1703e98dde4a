"""The `pyrunc` command's entry point: `exec` goes straight to the runtime service's exec, the rest to cli/main.py.

`pyrunc exec` is typed dozens of times an hour, and exec probes' peers (`runc exec`) take ~15 ms, so
the exec path carries as little Python as it can: no argparse, no verb table, no node configuration
and no pod status (the full `exec` verb builds the pod's whole status view to word its errors).
This module reads the exec line itself (the words `pyrunc exec` accepts, in their usual forms) and
hands the exec to the supervisor with its stdio (supervisor/exec_handoff.py: a fork of the supervisor
runs it, with every module loaded already); with no supervisor that takes it, it reads the pod's stored
manifest and the container's record and runs the exec here, as the `exec` verb does
(runtime/exec_service.py). Where the time goes: docs/performance.md.

Whatever it does not handle exactly goes to the full CLI, which parses the line again and answers as it
always has: a flag spelt another way (an abbreviation, `--help`), no `--`, not root, a pod or container
that is not there or not running, an unreadable file. Nothing has been done when it falls back (no
process made, nothing written), so the full CLI's answer, error line and exit status are the only ones.
"""

from __future__ import annotations

import os
import sys

DEFAULT_ROOT = "/run/pyrunc"  # pyrunc.config.DEFAULT_ROOT (a unit test keeps them equal), without its import
POD_PREFIXES = ("pod/", "pods/", "po/")
# What a pod or namespace name may hold on this path: DNS-1123 characters, and not starting with a dot
# (so "." and ".." cannot name a directory). Anything else goes to the full CLI, which validates it.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


class ExecRequest:
    """One exec line, read. A plain class: `typing.NamedTuple` would import typing (~4 ms) on this path."""

    __slots__ = ("root", "namespace", "pod", "container", "stdin", "tty", "command")

    def __init__(self, root: str | None, namespace: str, pod: str, container: str | None, stdin: bool, tty: bool,
                 command: list[str]) -> None:
        self.root = root  # --root, as given (None: $PYRUNC_ROOT, then DEFAULT_ROOT)
        self.namespace = namespace
        self.pod = pod
        self.container = container  # -c, or None: the manifest's default
        self.stdin = stdin
        self.tty = tty
        self.command = command

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecRequest) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "ExecRequest(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def main() -> int:
    """The console script: `pyrunc ...`."""
    argv = sys.argv[1:]
    request = exec_request(argv)
    if request is not None and os.geteuid() == 0:
        code = lean_exec(request)
        if code is not None:
            _exit(code)
    if "get" in argv:  # `get pods`, `get pod NAME [-o json|wide]`: cli/lean_get.py (None: the full CLI answers)
        from pyrunc.cli.lean_get import lean_get

        code = lean_get(argv)
        if code is not None:
            os._exit(code)  # its output is flushed; the teardown would only cost time, as for exec
    if "apply" in argv and os.geteuid() == 0:  # cli/lean_apply.py: one request to a running supervisor
        from pyrunc.cli.lean_apply import run_apply

        code = run_apply(argv)
        if code is not None:
            _exit(code)
    with_site()
    from pyrunc.cli.main import main as full_main

    return full_main(argv)


def _exit(code: int) -> None:
    """Straight out: the interpreter's teardown (module and object finalisation) would add ~10 ms to every
    exec and apply, and nothing of this process needs it: the terminal is restored, the children reaped."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that left, a closed stream: nothing to say
            pass
    os._exit(code)


def with_site() -> None:
    """The virtualenv's packages on sys.path: scripts/write-launcher.sh starts Python without `site` (-S), which
    only the exec handed to the supervisor can do without (a console script or `python -m` has it already)."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def exec_request(argv: list[str]) -> ExecRequest | None:
    """The exec line `argv` (the words after `pyrunc`) asks for, or None: not one this path takes."""
    if "--" not in argv:
        return None  # the full CLI says "you must specify at least one command"
    cut = argv.index("--")
    words, command = argv[:cut], argv[cut + 1:]
    if not command:
        return None
    root: str | None = None
    namespace, container, names = "default", None, []
    stdin = tty = False
    seen_verb = False
    i = 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else None
        if word == "--root" and value is not None:  # global flags, before or after the verb (split_globals)
            root, i = value, i + 2
            continue
        if word.startswith("--root="):
            root, i = word[len("--root="):], i + 1
            continue
        if word == "--debug":
            return None  # the full CLI prints tracebacks for it
        if not seen_verb:
            if word != "exec":
                return None
            seen_verb, i = True, i + 1
            continue
        if word in ("-c", "--container", "-n", "--namespace") and value is not None:
            flag, given, i = word, value, i + 2
        elif word.startswith(("--container=", "--namespace=")):
            flag, given = word.split("=", 1)
            i += 1
        elif word.startswith(("-c", "-n")) and len(word) > 2 and word[2] != "=":  # -cNAME; argparse reads -c=NAME
            flag, given, i = word[:2], word[2:], i + 1
        elif word in ("--stdin", "--tty"):
            stdin, tty, i = stdin or word == "--stdin", tty or word == "--tty", i + 1
            continue
        elif len(word) > 1 and word[0] == "-" and set(word[1:]) <= {"i", "t"}:  # -i, -t, -it, -ti
            stdin, tty, i = stdin or "i" in word, tty or "t" in word, i + 1
            continue
        elif word.startswith("-"):
            return None  # not a flag of ours, or one spelt another way: argparse decides
        else:
            names.append(word)
            i += 1
            continue
        if flag in ("-c", "--container"):
            container = given
        else:
            namespace = given
    if not seen_verb or len(names) != 1:
        return None
    name = names[0]
    for prefix in POD_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if not (_plain_name(name) and _plain_name(namespace)) or (container is not None and not container):
        return None
    return ExecRequest(root, namespace, name, container, stdin, tty, command)


def _plain_name(name: str) -> bool:
    return bool(name) and len(name) <= 253 and name[0] != "." and set(name) <= NAME_CHARS


def lean_exec(request: ExecRequest) -> int | None:
    """Run the exec; None when the full CLI must answer instead (see the module docstring)."""
    root = os.path.abspath(request.root or os.environ.get("PYRUNC_ROOT") or DEFAULT_ROOT)
    # kubectl's rules (StreamOptions.SetupTTY), as cli/exec_cmd.py: a TTY only with -i and a terminal on stdin.
    tty = request.stdin and request.tty
    warn = tty and not _is_terminal(0)  # said once the exec runs (the verb says it after finding the container)
    tty = tty and not warn
    try:
        code = None
        # PYRUNC_EXEC_IN_PROCESS=1: never hand over (bench/exec_time.py measures both ways; a debugging aid).
        if os.environ.get("PYRUNC_EXEC_IN_PROCESS") != "1":
            code = _handed_exec(root, request, tty, warn)
        if code is None:
            code = _exec_here(root, request, tty, warn)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - one line and exit 1, as cli/main.py reports every failure
        with_site()
        from pyrunc.cli.main import report

        return report(e, False)
    return code


def _warn_no_tty() -> None:
    print("Unable to use a TTY - input is not a terminal or the right kind of file", file=sys.stderr)


def _exec_here(root: str, request: ExecRequest, tty: bool, warn: bool) -> int | None:
    """The exec in this process (no supervisor took it): the `exec` verb's run without its lookups."""
    with_site()  # the joiner loads libseccomp through pyseccomp, a package of the virtualenv
    from pyrunc.runtime import exec_service

    pod_dir = os.path.join(root, "pods", f"{request.namespace}_{request.pod}")
    try:
        container = _pick_container(os.path.join(pod_dir, "pod.json"), request.container)
        if container is None:
            return None
        cdir = os.path.join(pod_dir, "containers", container)
        target = exec_service.target_files(os.path.join(cdir, "container.json"), os.path.join(cdir, "config.json"),
                                           container)
    except (OSError, ValueError, LookupError, TypeError, AttributeError, exec_service.NotRunning):
        return None
    if warn:
        _warn_no_tty()
    code, err = exec_service.exec_stream(target, request.command, stdin=request.stdin, tty=tty)
    if err:
        print(f"error: {err}", file=sys.stderr)
    return code


# --- handing the exec to the supervisor (supervisor/exec_handoff.py) -------------------------------------------
PROTOCOL = 2  # pyrunc.supervisor.protocol.PROTOCOL (a unit test keeps them equal), without its imports
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGTSTP", "SIGCONT")


def _handed_exec(root: str, request: ExecRequest, tty: bool, warn: bool) -> int | None:
    """The exec run by the supervisor's exec child with our stdio; its exit status, or None when no
    supervisor took it (none running, an older one, the container not running): nothing ran then.

    C modules only: `socket`, `signal` and `json` would import enum and re (~8 ms, a third of this path).
    """
    import _signal  # type: ignore[import-not-found]  # no stub: signal.py is this C module and enums
    import _socket

    for fd in (0, 1, 2):  # a closed one is sent as /dev/null (it takes the lowest free number: this one)
        try:  # first: the socket below would take the number, and be sent as our stdio
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(os.path.join(root, "exec.sock"))
    except OSError:  # no supervisor, or one without the exec socket (older): the exec runs here
        sock.close()
        return None
    try:
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # struct int[3] for SCM_RIGHTS
        pending: list[int] = []  # signals that came before the exec child's pid
        child = [0]

        def forward(sig: int, _frame: object) -> None:
            if not child[0]:
                pending.append(sig)
                return
            _kill(child[0], sig)
            if sig == _signal.SIGTSTP:  # stop as a job should; SIGCONT (fg) is forwarded in turn
                os.kill(os.getpid(), _signal.SIGSTOP)

        saved = {name: _signal.signal(getattr(_signal, name), forward) for name in FORWARDED}
        sock.sendmsg([exec_request_line(request, tty)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        replies = _Lines(sock)
        pid = replies.number("pid")
        if pid is None:  # an error reply (JSON): not running, not there, ... the exec runs here or not at all
            for name, old in saved.items():
                _signal.signal(getattr(_signal, name), old)
            for sig in pending:  # nothing ran: they are ours again (a Ctrl-C in that moment stops us)
                os.kill(os.getpid(), sig)
            return None
        child[0] = pid
        for sig in pending:
            forward(sig, None)
        if warn:
            _warn_no_tty()
        status = replies.number("exit")
    finally:
        sock.close()
    if status is None:
        print("error: the supervisor's exec ended without the command's exit status", file=sys.stderr)
        return 1
    return status


def exec_request_line(request: ExecRequest, tty: bool) -> bytes:
    """The exec request as the JSON line the supervisor reads (supervisor/exec_handoff.py prepare)."""
    from _json import encode_basestring_ascii as quote  # json.dumps's own string encoder, without json's imports

    def boolean(value: bool) -> str:
        return "true" if value else "false"

    container = "null" if request.container is None else quote(request.container)
    fields = ['"op":"exec"', f'"protocol":{PROTOCOL}', f'"namespace":{quote(request.namespace)}',
              f'"pod":{quote(request.pod)}', f'"container":{container}',
              '"command":[' + ",".join(quote(arg) for arg in request.command) + "]",
              f'"stdin":{boolean(request.stdin)}', f'"tty":{boolean(tty)}']
    return ("{" + ",".join(fields) + "}\n").encode()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class _Lines:
    """The exec child's answers: lines "pid N" and "exit N"."""

    def __init__(self, sock: "object") -> None:
        self.sock = sock
        self.buf = b""

    def number(self, word: str) -> int | None:
        """N of the next line if it is "<word> N"; None for anything else or at the end."""
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)  # type: ignore[attr-defined]
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        parts = line.split(b" ")
        if len(parts) != 2 or parts[0] != word.encode() or not parts[1].isdigit():
            return None
        return int(parts[1])


def _pick_container(pod_json: str, wanted: str | None) -> str | None:
    """cli/view.py pick_container from the stored manifest; None when the full CLI must say what is wrong."""
    import json

    from pyrunc.status import pick_container

    with open(pod_json, encoding="utf-8") as f:
        return pick_container(json.load(f), wanted)


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
