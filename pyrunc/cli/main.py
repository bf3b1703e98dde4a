"""`pyrunc`: kubectl-shaped verbs over the local pod runtime. One module per verb, imported on demand.

Global flags (anywhere before `--`): --root DIR (env PYRUNC_ROOT), --debug (tracebacks).
Every failure prints one line `error: ...` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

VERBS = {
    "apply": "Create or update pods, ConfigMaps and Secrets from a manifest file",
    "run": "Run a manifest's pods in the foreground until they end (for CI)",
    "create": "Create a ConfigMap or a Secret from literals and files",
    "get": "List pods, configmaps or secrets, or print one as json/yaml",
    "describe": "Show a pod's, a configmap's or a secret's details",
    "logs": "Print a container's logs",
    "exec": "Run a command in a container",
    "attach": "Attach to a running container's main process",
    "cp": "Copy files and directories to and from containers",
    "port-forward": "Forward local ports to a pod",
    "delete": "Delete pods (graceful termination)",
    "cri": "Serve the Container Runtime Interface (runtime.v1) to a kubelet",
    "wait": "Wait for a condition on a pod",
    "top": "Show CPU and memory use of pods",
    "label": "Update the labels of this node",
    "image": "Pull, import, list, inspect and remove images",
    "daemon": argparse.SUPPRESS,
    "completion": "Print a shell completion script (bash, zsh)",
    "version": "Print the version",
    "oci": "The OCI runtime (runc's command line): pyrunc oci create|start|state|kill|delete|run|list|spec|features",
}


# Verbs that create, enter or stop pods; the read-only ones work for anyone who may read the state.
NEEDS_ROOT = ("apply", "run", "create", "delete", "exec", "daemon", "top", "label", "attach", "cp", "port-forward",
              "cri")


class ArgumentError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting 2 (kubectl exits 1 on bad flags)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ArgumentError(message)


def split_globals(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    opts: dict[str, object] = {"root": None, "debug": False}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i:]
            break
        if a == "--debug":
            opts["debug"] = True
        elif a == "--root":
            if i + 1 >= len(argv):
                raise ArgumentError("flag needs an argument: --root")
            opts["root"] = argv[i + 1]
            i += 1
        elif a.startswith("--root="):
            opts["root"] = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return opts, rest


def verb_module(verb: str) -> str:
    return f"pyrunc.cli.{verb.replace('-', '_')}_cmd"  # port-forward -> port_forward_cmd


def build_parser() -> Parser:
    parser = Parser(prog="pyrunc", description="Run Kubernetes Pod manifests on this host.",
                    epilog="Global flags: --root DIR (state, env PYRUNC_ROOT; default /run/pyrunc), --debug.")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)
    for verb, help_text in VERBS.items():
        if help_text == argparse.SUPPRESS:
            continue  # a hidden verb (daemon): argparse would list it as "==SUPPRESS==" (a long-standing bug)
        module = importlib.import_module(verb_module(verb))
        p = sub.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["oci"]:  # pyrunc-oci's words, its own global flags included (cli/oci_cmd.py)
        from pyrunc.cli.oci_cmd import forward

        return forward(argv[1:])
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    try:
        opts, rest = split_globals(argv)
        if not rest or rest[0] in ("-h", "--help", "help"):
            build_parser().print_help()
            return 0
        verb = rest[0]
        if verb not in VERBS:
            raise ArgumentError(f'unknown command "{verb}" for "pyrunc"')
        # `apply --dry-run` changes nothing: anyone may ask what a pod would be (kubectl's client dry run).
        dry_run = verb == "apply" and any(w == "--dry-run" or w.startswith("--dry-run=") for w in rest)
        if verb in NEEDS_ROOT and os.geteuid() != 0 and not dry_run:
            from pyrunc.errors import PyruncError

            raise PyruncError(f"pyrunc {verb} needs root: namespaces, mounts and cgroups are root's to make",
                              hint=f"sudo pyrunc {verb} ...")
        module = importlib.import_module(verb_module(verb))
        parser = Parser(prog=f"pyrunc {verb}")
        module.add_arguments(parser)
        words, command = rest[1:], []
        if getattr(module, "TAKES_COMMAND", False) and "--" in words:
            cut = words.index("--")
            words, command = words[:cut], words[cut + 1 :]
        args = parser.parse_args(words)
        if getattr(module, "TAKES_COMMAND", False):
            args.command = command
        from pyrunc.config import load_config

        cfg = load_config(opts["root"] if isinstance(opts["root"], str) else None)
        return int(module.run(cfg, args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - the one place errors become a line and an exit status
        return report(e, debug)


def one_line(text: str) -> str:
    """An error stays one line whatever it quotes: a manifest's key or value may hold a newline, a
    carriage return or another control or separator character; each is shown escaped (\\x1e)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def report(e: BaseException, debug: bool) -> int:
    from pyrunc.errors import NotFound, PyruncError

    if debug:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)
    if isinstance(e, NotFound):
        print(e.message, file=sys.stderr)
        return 1
    if isinstance(e, PyruncError):
        print(f"error: {one_line(e.message)}", file=sys.stderr)
        if e.hint:
            print(f"hint: {one_line(e.hint)}", file=sys.stderr)
        return e.exit_code
    if isinstance(e, ArgumentError):
        print(f"error: {e}", file=sys.stderr)
        print("See 'pyrunc --help' for usage.", file=sys.stderr)
        return 1
    if isinstance(e, PermissionError) and os.geteuid() != 0:
        print(f"error: {e.strerror}: {e.filename or ''} (pyrunc must run as root)", file=sys.stderr)
        return 1
    print(f"error: {type(e).__name__}: {e}" + ("" if debug else " (run with --debug for the traceback)"), file=sys.stderr)
    return 1
