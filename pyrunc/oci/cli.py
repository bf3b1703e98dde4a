"""`pyrunc-oci`: runc's command line on pyrunc's launcher (docs/oci.md).

    pyrunc-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] VERB ...

Every failure: one line `error: ...` on stderr (and in --log, in its format), exit status 1, nothing left.
"""

from __future__ import annotations

import os
import sys

from pyrunc import __version__
from pyrunc.oci import OCI_VERSION
from pyrunc.oci.args import UsageError, help_text, parse, verb_help
from pyrunc.store.leanjson import dumps  # json.dumps without json's imports (re, enum): docs/performance.md

# json and typing are loaded where they are used: json loads re and enum, typing loads re, ~15 ms of every
# command that needs neither (run, exec: docs/performance.md).
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any
DEFAULT_ROOT = "/run/pyrunc-oci"
NEEDS_ROOT = ("create", "start", "kill", "delete", "run", "exec", "pause", "resume", "update")


def version_text() -> str:
    import platform

    from pyrunc.oci.defaults import libseccomp_version as _libseccomp_version

    return (f"pyrunc-oci version {__version__}\nspec: {OCI_VERSION}\npython: {platform.python_version()}\n"
            f"libseccomp: {_libseccomp_version()}")


class Log:
    """--log: runc writes its errors (and --debug messages) there, one per line, logrus text or JSON."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path, self.fmt = path, fmt

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        import datetime
        import json

        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.fmt == "json":
            line = dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f"time={dumps(now)} level={level} msg={dumps(msg)}"
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = Log("", "text")
    debug = "--debug" in argv
    try:
        args = parse(argv)
        log = Log(args.log, args.log_format)
        if args.version:
            print(version_text())
            return 0
        if args.help or not args.verb:
            print(verb_help(args.verb) if args.verb else help_text())
            return 0
        if args.systemd_cgroup:
            # systemd's cgroup driver (transient units over D-Bus) is not implemented: say so rather than
            # put the container somewhere the caller does not expect.
            present = os.path.isdir("/run/systemd/system")
            raise UsageError("--systemd-cgroup: " + ("not supported by pyrunc-oci yet (docs/oci.md)" if present
                                                     else "systemd is not running on this host"))
        if args.verb in NEEDS_ROOT and os.geteuid() != 0:
            raise UsageError(f"pyrunc-oci {args.verb} needs root (rootless containers are not supported yet)")
        if args.debug:
            log.write("debug", f"pyrunc-oci {' '.join(argv)}")
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - the one place errors become a line and an exit status
        from pyrunc.errors import PyruncError

        if debug:
            import traceback

            traceback.print_exception(type(e), e, e.__traceback__)
        text = str(e) if isinstance(e, (PyruncError, UsageError)) else f"{type(e).__name__}: {e}"
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
        log.write("error", text)
        print(f"error: {text}", file=sys.stderr)
        return int(getattr(e, "exit_code", 1))  # exec's failures: 255, as runc's


def _dispatch(args: Any) -> int:
    root = os.path.abspath(args.root)
    verb = args.verb
    if verb in ("exec", "ps", "pause", "resume", "update", "events"):
        return _lifecycle(root, args)  # before container.py is loaded: those read the state only
    from pyrunc.oci import container as ct

    if verb in ("create", "run"):
        if args.preserve_fds < 0:
            raise UsageError("--preserve-fds: must not be negative")
        opts = ct.CreateOptions(bundle=os.path.abspath(args.bundle), pid_file=args.pid_file,
                                console_socket=args.console_socket, preserve_fds=args.preserve_fds,
                                no_pivot=args.no_pivot, no_new_keyring=args.no_new_keyring)
        if verb == "create":
            ct.create(root, args.id, opts)
            return 0
        return ct.run(root, args.id, opts, args.detach)
    if verb == "start":
        ct.start(root, args.id)
    elif verb == "state":
        import json  # with indent: json's own encoder

        print(json.dumps(ct.load(root, args.id).to_oci(), indent=2))
    elif verb == "kill":
        from pyrunc.oci.config import signal_number

        ct.kill(root, args.id, signal_number(args.signal), args.all)
    elif verb == "delete":
        ct.delete(root, args.id, args.force)
    elif verb == "list":
        _list(root, args.format, args.quiet)
    elif verb == "spec":
        _spec(args.bundle, args.rootless)
    elif verb == "features":
        import json

        from pyrunc.oci.defaults import features

        print(json.dumps(features(), indent=4))
    return 0


def _lifecycle(root: str, args: Any) -> int:
    verb = args.verb
    if verb == "exec":
        from pyrunc.oci import exec as ex

        for flag in ("apparmor", "process_label"):
            if getattr(args, flag):
                raise UsageError(f"--{flag.replace('_', '-')}: not supported by pyrunc-oci (no AppArmor or SELinux here)")
        opts = ex.ExecOptions(args=tuple(args.args), process_file=args.process, detach=args.detach, tty=args.tty,
                              console_socket=args.console_socket, pid_file=args.pid_file, cwd=args.cwd,
                              env=tuple(args.env), user=args.user, additional_gids=tuple(args.additional_gids),
                              caps=tuple(args.cap), no_new_privs=args.no_new_privs, preserve_fds=args.preserve_fds)
        return ex.exec_in_container(root, args.id, opts)
    if verb == "ps":
        from pyrunc.oci.ps import ps

        print(ps(root, args.id, args.format, [a for a in args.ps_args if a != "--"]))
    elif verb in ("pause", "resume"):
        from pyrunc.oci import state
        from pyrunc.oci.freeze import set_frozen

        st = state.load(root, args.id)
        if verb == "pause" and st.status != "running":
            raise state.OciError("container not running")
        if verb == "resume" and st.status != "paused":
            raise state.OciError("container not paused")
        set_frozen(st.cgroups, verb == "pause")
    elif verb == "update":
        from pyrunc.oci.update import Flags, update

        update(root, args.id, Flags(args.resources, args.memory, args.memory_reservation, args.memory_swap,
                                    args.cpu_shares, args.cpu_quota, args.cpu_period, args.cpuset_cpus,
                                    args.cpuset_mems, args.pids_limit))
    elif verb == "events":
        import gc

        from pyrunc.oci.events import events, parse_interval

        gc.enable()  # console() turned it off for the short commands: this one may run for days
        events(root, args.id, parse_interval(args.interval), args.stats)
    return 0


def _list(root: str, fmt: str, quiet: bool) -> None:
    import json

    from pyrunc.oci import state

    states = state.list_all(root)
    if quiet:
        for s in states:
            print(s.id)
        return
    if fmt == "json":
        print(dumps([{**s.to_oci(), "rootfs": s.rootfs} for s in states]))
        return
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for s in states:
        rows.append((s.id, str(s.to_oci()["pid"]), s.status, s.bundle, s.created, "root"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _spec(bundle: str, rootless: bool) -> None:
    import json

    from pyrunc.oci.defaults import default_spec

    if rootless:
        raise UsageError("--rootless: pyrunc-oci runs as root only, no rootless containers "
                         "(a container can still have a user namespace: linux.uidMappings)")
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise UsageError(f"File {path} exists. Remove it first")
    with open(path, "x", encoding="utf-8") as f:
        f.write(json.dumps(default_spec(), indent="\t") + "\n")


def console() -> None:
    """The `pyrunc-oci` console script. It leaves with os._exit: the interpreter's teardown (finalising every
    module and object) was ~10 ms of each command, and nothing of ours needs it once the streams are flushed.
    Nor the cyclic garbage collector: its ~16 passes over what the imports make were 1-3 ms of a `run`, and a
    command's few cycles die with it (`events`, which loops until killed, turns it back on)."""
    import gc

    gc.disable()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass
    os._exit(code)
