"""pyrunc-oci's command line, read by hand: argparse (with the gettext, locale and shutil it pulls in and the
parser it builds) was a tenth of `pyrunc-oci run`'s start-up (docs/performance.md), and engines call the
runtime several times per container.

The words are runc's (urfave/cli): global flags before the verb; per verb, flags as `--name value`,
`--name=value`, `-n value`, booleans as `--name` (or `--name=true|false`); `--` ends the flags. Flags may
come after the positional arguments too, except for `exec` and `ps`, whose arguments after the container id
are the command's own. The result has argparse's attribute names (`args.bundle`, `args.pid_file` ...).
"""

from __future__ import annotations

from types import SimpleNamespace


class UsageError(Exception):
    pass


class Flag:
    """One flag. Plain classes, not NamedTuples: building ~60 of those at start-up cost a millisecond."""

    __slots__ = ("long", "short", "kind", "default", "choices", "dest")

    def __init__(self, long: str, short: str = "", kind: str = "str", default: object = None,
                 choices: tuple[str, ...] = ()) -> None:
        self.long = long  # without the dashes
        self.short = short
        self.kind = kind  # str, int, bool, list, intlist
        self.default = default
        self.choices = choices
        self.dest = long.replace("-", "_")


class Verb:
    __slots__ = ("help", "flags", "positionals")

    def __init__(self, help: str, flags: tuple[Flag, ...], positionals: tuple[str, ...]) -> None:
        self.help = help
        self.flags = flags
        self.positionals = positionals  # required names; "signal?" optional; "args*" the rest (exec, ps)


def _create_flags() -> tuple[Flag, ...]:
    return (Flag("bundle", "b", default="."), Flag("console-socket", default=""), Flag("pid-file", default=""),
            Flag("no-pivot", kind="bool"), Flag("no-new-keyring", kind="bool"), Flag("preserve-fds", kind="int", default=0))


GLOBAL = (Flag("root", default="/run/pyrunc-oci"), Flag("log", default=""),
          Flag("log-format", default="text", choices=("text", "json")), Flag("debug", kind="bool"),
          Flag("systemd-cgroup", kind="bool"), Flag("version", "v", kind="bool"), Flag("help", "h", kind="bool"))
VERBS: dict[str, Verb] = {
    "create": Verb("create a container (its process waits for start)", _create_flags(), ("id",)),
    "run": Verb("create and start a container, wait for it unless --detach",
                _create_flags() + (Flag("detach", "d", kind="bool"),), ("id",)),
    "start": Verb("run the user process of a created container", (), ("id",)),
    "state": Verb("print a container's state JSON", (), ("id",)),
    "kill": Verb("send a signal to a container's init (default SIGTERM)", (Flag("all", "a", kind="bool"),),
                 ("id", "signal?")),
    "delete": Verb("delete a container (--force: even a running one)", (Flag("force", "f", kind="bool"),), ("id",)),
    "list": Verb("list the containers of --root", (Flag("format", "f", default="table", choices=("table", "json")),
                                                    Flag("quiet", "q", kind="bool")), ()),
    "spec": Verb("write a default config.json in the bundle", (Flag("bundle", "b", default="."),
                                                               Flag("rootless", kind="bool")), ()),
    "features": Verb("print the features document of this runtime", (), ()),
    "exec": Verb("run a new process in a container", (
        Flag("process", "p", default=""), Flag("detach", "d", kind="bool"), Flag("tty", "t", kind="bool"),
        Flag("console-socket", default=""), Flag("pid-file", default=""), Flag("cwd", default=""),
        Flag("env", "e", kind="list"), Flag("user", "u", default=""), Flag("additional-gids", "g", kind="intlist"),
        Flag("cap", "c", kind="list"), Flag("no-new-privs", kind="bool"), Flag("preserve-fds", kind="int", default=0),
        Flag("apparmor", default=""), Flag("process-label", default="")), ("id", "args*")),
    "ps": Verb("list the processes of a container", (Flag("format", "f", default="table", choices=("table", "json")),),
               ("id", "ps_args*")),
    "pause": Verb("freeze every process of a container", (), ("id",)),
    "resume": Verb("thaw a paused container", (), ("id",)),
    "update": Verb("change a container's cgroup limits", (Flag("resources", "r", default=""),) + tuple(
        Flag(name, default="") for name in ("memory", "memory-reservation", "memory-swap", "cpu-shares", "cpu-quota",
                                            "cpu-period", "cpuset-cpus", "cpuset-mems", "pids-limit")), ("id",)),
    "events": Verb("print a container's stats (and OOM) events as JSON lines",
                   (Flag("stats", kind="bool"), Flag("interval", default="5s")), ("id",)),
}


def _defaults(flags: tuple[Flag, ...], ns: SimpleNamespace) -> None:
    for f in flags:
        setattr(ns, f.dest, [] if f.kind in ("list", "intlist") else (False if f.kind == "bool" else f.default))


def _find(flags: tuple[Flag, ...], word: str) -> tuple[Flag | None, str | None]:
    """The flag `word` names (and its `=value`, if any)."""
    name, eq, value = word.lstrip("-").partition("=")
    long = word.startswith("--")
    for f in flags:
        if (long and name == f.long) or (not long and (name == f.short or name == f.long)):
            return f, value if eq else None
    return None, None


def _take(f: Flag, value: str, ns: SimpleNamespace) -> None:
    if f.choices and value not in f.choices:
        raise UsageError(f"--{f.long}: invalid choice {value!r} (choose from {', '.join(f.choices)})")
    if f.kind in ("int", "intlist"):
        try:
            number = int(value)
        except ValueError:
            raise UsageError(f"--{f.long}: invalid integer {value!r}") from None
        if f.kind == "int":
            setattr(ns, f.dest, number)
        else:
            getattr(ns, f.dest).append(number)
    elif f.kind == "list":
        getattr(ns, f.dest).append(value)
    else:
        setattr(ns, f.dest, value)


def _flags(words: list[str], i: int, flags: tuple[Flag, ...], ns: SimpleNamespace) -> int:
    """Read the flag at words[i] into ns; the index of the next word."""
    word = words[i]
    f, inline = _find(flags, word)
    if f is None:
        raise UsageError(f"flag provided but not defined: {word.partition('=')[0]}")
    if f.kind == "bool":
        if inline is not None and inline not in ("true", "false"):
            raise UsageError(f"--{f.long}: invalid boolean value {inline!r}")
        setattr(ns, f.dest, inline != "false")
        return i + 1
    if inline is None:
        if i + 1 >= len(words):
            raise UsageError(f"flag needs an argument: {word}")
        inline, i = words[i + 1], i + 1
    _take(f, inline, ns)
    return i + 1


def parse(argv: list[str]) -> SimpleNamespace:
    ns = SimpleNamespace(verb=None)
    _defaults(GLOBAL, ns)
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        i = _flags(argv, i, GLOBAL, ns)
    if i == len(argv) or ns.help or ns.version:
        return ns
    verb_name = argv[i]
    verb = VERBS.get(verb_name)
    if verb is None:
        raise UsageError(f"unknown command {verb_name!r} (see pyrunc-oci --help)")
    ns.verb = verb_name
    _defaults(verb.flags, ns)
    rest_name = next((p[:-1] for p in verb.positionals if p.endswith("*")), "")
    positional: list[str] = []
    i += 1
    while i < len(argv):
        word = argv[i]
        if rest_name and len(positional) == 1:  # exec ID ARGS..., ps ID PS_ARGS...: the rest is the command's
            positional += argv[i + 1:] if word == "--" else argv[i:]
            break
        if word == "--":
            positional += argv[i + 1:]
            break
        if word.startswith("-") and word != "-":
            if word in ("-h", "--help"):
                ns.help = True
                return ns
            i = _flags(argv, i, verb.flags, ns)
            continue
        positional.append(word)
        i += 1
    names = [p for p in verb.positionals if not p.endswith("*")]
    required = [p for p in names if not p.endswith("?")]
    if len(positional) < len(required):
        raise UsageError(f"the following arguments are required: {', '.join(required[len(positional):])}")
    for name in names:
        value = positional.pop(0) if positional else None
        setattr(ns, name.rstrip("?"), value)
    if rest_name:
        setattr(ns, rest_name, positional)
    elif positional:
        raise UsageError(f"unrecognized arguments: {' '.join(positional)}")
    if verb_name == "kill" and ns.signal is None:
        ns.signal = "SIGTERM"
    return ns


def help_text() -> str:
    lines = ["usage: pyrunc-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] "
             "COMMAND ...", "", "An OCI runtime (runc's command line) on pyrunc's launcher.", "", "commands:"]
    width = max(len(v) for v in VERBS)
    for name, verb in VERBS.items():
        lines.append(f"  {name.ljust(width)}  {verb.help}")
    return "\n".join(lines)


def verb_help(name: str) -> str:
    verb = VERBS[name]
    flags = " ".join(f"[--{f.long}{'' if f.kind == 'bool' else ' ' + f.dest.upper()}]" for f in verb.flags)
    args = " ".join(p.rstrip("?*").upper() + ("..." if p.endswith("*") else "") for p in verb.positionals)
    return f"usage: pyrunc-oci {name} {flags} {args}".replace("  ", " ") + f"\n\n{verb.help}"
