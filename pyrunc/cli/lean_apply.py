"""`pyrunc apply -f FILE` for the common case, with as little Python as it can: read the file, hand its text to
the running supervisor, print its answer.

The full `apply` (cli/apply_cmd.py) costs ~60 ms of which ~45 ms are not the apply: argparse and the verb
table, the node configuration, json/re/typing/socket imports, and three round trips to the supervisor (the
build check, "check", "apply"). Here: no argparse, C modules only for the socket and JSON (`json` and
`socket` import re and enum, ~12 ms), and one request, "apply-texts" (supervisor/daemon.py), in which the
supervisor checks the texts exactly as "check" does (supervisor/intake.py) and applies the one pod they
hold as "apply" does. The output, the error lines (cli/main.py report) and the exit status are the full
CLI's: warnings, then `pod/NAME created|configured|unchanged` (or `pod/NAME` with `-o name`), or the error.

Everything else goes to the full CLI, before anything was done (lean_apply returns None): a flag or a spelling
this reader does not know (argparse decides: abbreviations, `--dry-run`, `-o yaml`, `--help`), not root, a
file it cannot read (a directory, a missing file: the full CLI words the error), big manifests, no supervisor
serving the root (the full CLI starts one, after checking the manifest itself), a supervisor of another
build (it hands over first, as the full CLI's client does), and what the supervisor sends back
(`fallback`): several pods (the full CLI prints each one's outcome as it comes) or ConfigMaps and Secrets
(the CLI stores them). Stdin (`-f -`) already read is given to the full CLI as its stdin.

One difference: the node configuration (`<root>/config.json`) is not read here. The running supervisor
serves with the one it read at its start, whichever path the CLI takes; a config.json broken since then
fails the full CLI's start and not this path.
"""

from __future__ import annotations

import os
import sys

DEFAULT_ROOT = "/run/pyrunc"  # pyrunc.config.DEFAULT_ROOT (a unit test keeps them equal), without its import
PROTOCOL = 2  # pyrunc.supervisor.protocol.PROTOCOL (a unit test keeps them equal)
MAX_CHECK_TEXT = 256 * 1024  # pyrunc.supervisor.protocol.MAX_CHECK_TEXT (a unit test keeps them equal)
MAX_MANIFEST_BYTES = 3 * 1024 * 1024  # pyrunc.spec.documents.MAX_MANIFEST_BYTES (a unit test keeps them equal)
HANDOVER_TIMEOUT = 60.0  # supervisor/client.py: for a supervisor of another build to exit after it handed over


class ApplyLine:
    """An `apply` line this path takes. A plain class: NamedTuple would import typing (~4 ms) on this path."""

    __slots__ = ("root", "files", "output")

    def __init__(self, root: str | None, files: list[str], output: str) -> None:
        self.root = root  # --root as given (None: $PYRUNC_ROOT, then DEFAULT_ROOT)
        self.files = files  # every -f, in order ("-": stdin)
        self.output = output  # "" or "name"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApplyLine) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "ApplyLine(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def apply_line(argv: list[str]) -> ApplyLine | None:
    """The apply line `argv` (the words after `pyrunc`) asks for, or None: not one this path takes."""
    root: str | None = None
    files: list[str] = []
    output = ""
    seen_verb = False
    i = 0
    while i < len(argv):
        word = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else None
        if word == "--root" and value is not None:  # global flags, before or after the verb (main.split_globals)
            root, i = value, i + 2
            continue
        if word.startswith("--root="):
            root, i = word[len("--root="):], i + 1
            continue
        if not seen_verb:
            if word != "apply":
                return None
            seen_verb, i = True, i + 1
            continue
        if word in ("-f", "--filename") and value is not None:
            # argparse takes "-" as a value, and refuses any other word starting with "-" there
            if value.startswith("-") and value != "-":
                return None
            files.append(value)
            i += 2
        elif word.startswith("--filename="):
            files.append(word[len("--filename="):])
            i += 1
        elif word in ("-o", "--output") and value == "name":
            output, i = "name", i + 2
        elif word in ("-oname", "--output=name"):
            output, i = "name", i + 1
        else:
            return None  # --debug, --dry-run, -o yaml, a word argparse would refuse, ...: the full CLI
    if not seen_verb or not files:
        return None
    return ApplyLine(root, files, output)


def run_apply(argv: list[str]) -> int | None:
    """cli/entry.py's call: the exit status of the apply `argv` asks for, or None: the full CLI's to run."""
    line = apply_line(argv)
    if line is None:
        return None
    try:
        return lean_apply(line)
    except KeyboardInterrupt:  # as cli/main.py main
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - one line and exit 1, as cli/main.py reports every failure
        from pyrunc.cli.entry import with_site

        with_site()
        from pyrunc.cli.main import report

        return report(e, False)


def lean_apply(line: ApplyLine) -> int | None:
    """Apply; the exit status, or None when the full CLI must do it (nothing was done then)."""
    texts: list[tuple[str, str]] = []
    stdin_text: str | None = None
    for path in line.files:
        if path == "-":
            if stdin_text is None:
                stdin_text = sys.stdin.read(MAX_MANIFEST_BYTES + 1)
            texts.append(("STDIN", stdin_text))
            continue
        try:
            with open(path, encoding="utf-8") as f:
                texts.append((path, f.read(MAX_MANIFEST_BYTES + 1)))
        except (OSError, UnicodeDecodeError):  # missing, a directory, not UTF-8: the full CLI says which
            return _fall_back(stdin_text)
    if sum(len(text) for _, text in texts) > MAX_CHECK_TEXT:
        return _fall_back(stdin_text)
    root = os.path.abspath(line.root or os.environ.get("PYRUNC_ROOT") or DEFAULT_ROOT)
    reply = _exchange(root, _request(texts))
    if reply is None or "protocol" not in reply:  # no supervisor, it left, or one older than the handover
        return _fall_back(stdin_text)
    if reply.get("kind") == "Handover":  # of another build: it leaves the node; the full CLI starts ours
        pid = reply.get("pid")
        _wait_gone(pid if isinstance(pid, int) else 0)
        return _fall_back(stdin_text)
    if reply.get("ok") and reply.get("fallback"):
        return _fall_back(stdin_text)
    warnings = reply.get("warnings")
    for warning in warnings if isinstance(warnings, list) else ():
        print(f"Warning: {warning}", file=sys.stderr)
    if not reply.get("ok"):
        return _report(reply)
    if reply.get("refused"):
        return _report({"ok": False, "kind": "PyruncError", "error": reply["refused"], "hint": ""})
    name = reply["name"]
    print(f"pod/{name}" if line.output == "name" else f"pod/{name} {reply['result']}")
    return 0


def _fall_back(stdin_text: str | None) -> int | None:
    """None (the full CLI's to do), with the stdin text read here put back for it."""
    if stdin_text is not None:  # read already: the full CLI reads the same text from here
        import io

        sys.stdin = io.StringIO(stdin_text)
    return None


def _report(reply: dict[str, object]) -> int:
    """The error line and exit status the full CLI gives for this error reply (its client and report)."""
    from pyrunc.cli.entry import with_site

    with_site()
    from pyrunc.cli.main import report
    from pyrunc.supervisor.protocol import decode_error

    return report(decode_error(reply), False)


def _request(texts: list[tuple[str, str]]) -> bytes:
    """The "apply-texts" request line (protocol.py's format), encoded by json's own C string encoder."""
    from _json import encode_basestring_ascii as quote

    from pyrunc.build import build_id

    pairs = ",".join(f"[{quote(source)},{quote(text)}]" for source, text in texts)
    return (f'{{"op":"apply-texts","protocol":{PROTOCOL},"build":{quote(build_id())},"texts":[{pairs}]}}\n').encode()


def _exchange(root: str, data: bytes) -> dict[str, object] | None:
    """Send one request, read one reply (supervisor/client.py _exchange); None: no supervisor, or it broke off."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(os.path.join(root, "daemon.sock"))
        sock.sendall(data)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except OSError:
        return None
    finally:
        sock.close()
    return decode(buf)


def decode(data: bytes) -> dict[str, object] | None:
    """A reply line as json.loads reads it; None when it is not one JSON object."""
    from pyrunc.store.leanjson import scan

    text = data.decode("utf-8", "replace").strip()
    try:
        value, end = scan(text)
    except (StopIteration, ValueError):
        return None
    return value if isinstance(value, dict) and end == len(text) else None


def _wait_gone(pid: int) -> None:
    """Until the supervisor `pid` that handed over has exited (supervisor/client.py _wait_gone)."""
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, ValueError, OSError):
        return
    try:
        select.select([pidfd], [], [], HANDOVER_TIMEOUT)
    finally:
        os.close(pidfd)
