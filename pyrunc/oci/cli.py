"""`pyrunc-oci`: runc's command line on pyrunc's launcher (docs/oci.md).

    pyrunc-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] VERB ...

Every failure: one line `error: ...` on stderr (and in --log, in its format), exit status 1, nothing left.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from typing import Any

from pyrunc import __version__
from pyrunc.oci import OCI_VERSION

DEFAULT_ROOT = "/run/pyrunc-oci"
NEEDS_ROOT = ("create", "start", "kill", "delete", "run")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("id")
    p.add_argument("--bundle", "-b", default=".")
    p.add_argument("--console-socket", default="")
    p.add_argument("--pid-file", default="")
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)


def build_parser() -> Parser:
    parser = Parser(prog="pyrunc-oci", description="An OCI runtime (runc's command line) on pyrunc's launcher.")
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--log", default="")
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--systemd-cgroup", action="store_true")
    parser.add_argument("--version", "-v", action="store_true")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)
    _create_flags(sub.add_parser("create", help="create a container (its process waits for start)"))
    p = sub.add_parser("run", help="create and start a container, wait for it unless --detach")
    _create_flags(p)
    p.add_argument("--detach", "-d", action="store_true")
    sub.add_parser("start", help="run the user process of a created container").add_argument("id")
    sub.add_parser("state", help="print a container's state JSON").add_argument("id")
    p = sub.add_parser("kill", help="send a signal to a container's init (default SIGTERM)")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    p.add_argument("--all", "-a", action="store_true")
    p = sub.add_parser("delete", help="delete a container (--force: even a running one)")
    p.add_argument("id")
    p.add_argument("--force", "-f", action="store_true")
    p = sub.add_parser("list", help="list the containers of --root")
    p.add_argument("--format", "-f", default="table", choices=("table", "json"))
    p.add_argument("--quiet", "-q", action="store_true")
    p = sub.add_parser("spec", help="write a default config.json in the bundle")
    p.add_argument("--bundle", "-b", default=".")
    p.add_argument("--rootless", action="store_true")
    sub.add_parser("features", help="print the features document of this runtime")
    return parser


def version_text() -> str:
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
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": msg, "time": now})
        else:
            line = f"time={json.dumps(now)} level={level} msg={json.dumps(msg)}"
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
        args = build_parser().parse_args(argv)
        log = Log(args.log, args.log_format)
        if args.version:
            print(version_text())
            return 0
        if not args.verb:
            build_parser().print_help()
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
        return 1


def _dispatch(args: Any) -> int:
    from pyrunc.oci import container as ct

    root = os.path.abspath(args.root)
    verb = args.verb
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
        from pyrunc.oci.defaults import features

        print(json.dumps(features(), indent=4))
    return 0


def _list(root: str, fmt: str, quiet: bool) -> None:
    from pyrunc.oci import container as ct

    states = ct.list_all(root)
    if quiet:
        for s in states:
            print(s.id)
        return
    if fmt == "json":
        print(json.dumps([{**s.to_oci(), "rootfs": s.rootfs} for s in states]))
        return
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for s in states:
        rows.append((s.id, str(s.to_oci()["pid"]), s.status, s.bundle, s.created, "root"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _spec(bundle: str, rootless: bool) -> None:
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
    """The `pyrunc-oci` console script."""
    sys.exit(main())
