"""`pyrunc get pods` and `pyrunc get pod NAME [-o json|wide]` without the full CLI (cli/entry.py dispatches here).

`get pods` is typed often and polled by scripts (the start benchmark polls `get pod NAME -o json`); through the
full CLI most of its time is the interpreter's imports (argparse, re, typing, json, the verb table, the node
configuration), not the pods. This path reads the same facts and derives the same status with the same
functions (status.py, printers/table.py: kept free of those imports), so its output is the full CLI's, byte
for byte (tests/integration/test_cli_get_lean.py compares them). Where the time goes: docs/performance.md.

Whatever it does not handle exactly goes to the full CLI, which answers as it always has: any other verb,
flag or spelling (-w, -o yaml, --show-labels, pod/NAME, several names, an abbreviation), a name that is not a
plain DNS name, a pod that is not there, an unreadable or unexpected file, a node configuration with more in
it than this path checks (below). Nothing has been printed when it falls back.

What it does not check: the full CLI validates every setting of `<root>/config.json` and refuses a bad one
before listing; this path reads only `node_name` from it (falling back on a file that is not a JSON object
of known settings, or a `node_name` that is not a string). `get` on a node whose configuration has a
known setting with a wrong value lists the pods instead of refusing.
"""

from __future__ import annotations

import os
import sys
import time

from pyrunc.store.leanjson import loads  # json.loads without json's imports (re: ~5-10 ms)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads any name TYPE_CHECKING as true
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/pyrunc"  # pyrunc.config.DEFAULT_ROOT (a unit test keeps them equal)
POD_WORDS = ("pods", "pod", "po")  # cli/common.py POD_WORDS
# pyrunc.config.NodeConfig._fields (a unit test keeps them equal), without importing config (json, typing).
CONFIG_FIELDS = frozenset((
    "root", "images_dir", "node_name", "network", "bridge", "pod_subnet", "crashloop_max_backoff",
    "backoff_reset_after", "cgroup_parent", "pod_pids_limit", "cpu_weight_conversion", "daemon_linger",
    "allowed_unsafe_sysctls", "seccomp_profile_root", "seccomp_default", "data_dir", "pod_logs_dir",
    "container_log_max_size", "container_log_max_files", "housekeeping_interval", "insecure_registries", "offline",
    "registry_certs_dir", "registry_auth_files", "registry_timeout", "image_gc_high_threshold",
    "image_gc_low_threshold", "image_minimum_gc_age", "image_max_layer_bytes", "image_max_layer_entries",
    "pod_manifest_path", "file_check_frequency", "node_labels", "extended_resources",
))
READ_SIZE = 65536
LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# Go's encoding/json escapes (printers/serialize.py _GO_JSON_ESCAPES; a unit test keeps them equal).
GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class GetRequest:
    """One `get` line, read. A plain class: typing.NamedTuple or a dataclass would import typing."""

    __slots__ = ("root", "namespace", "all_namespaces", "name", "output", "no_headers")

    def __init__(self, root: str | None, namespace: str, all_namespaces: bool, name: str | None, output: str,
                 no_headers: bool) -> None:
        self.root = root  # --root, as given (None: $PYRUNC_ROOT, then DEFAULT_ROOT)
        self.namespace = namespace
        self.all_namespaces = all_namespaces
        self.name = name  # None: every pod of the namespace (or all of them with -A)
        self.output = output  # "", "wide" or "json"
        self.no_headers = no_headers

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GetRequest) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "GetRequest(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def get_request(argv: list[str]) -> GetRequest | None:
    """The `get` line `argv` (the words after `pyrunc`) asks for, or None: not one this path takes.

    As cli/main.py reads it: --root anywhere (split_globals takes it out first), then the verb, then argparse's
    reading of the rest, whose positional words (`pods NAME`) must follow one another: argparse refuses a
    name after a flag (`get pod -n x NAME`), so this path leaves that line to it."""
    root: str | None = None
    namespace, all_namespaces, output, no_headers = "default", False, "", False
    words: list[str] = []
    flag_since_word = False  # a flag (not --root) came after the first word after the verb
    i = 0
    while i < len(argv):
        word = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else None
        if word in ("--root", "-n", "--namespace", "-o", "--output"):
            if value is None:
                return None
            flag, given, i = word, value, i + 2
        elif word.startswith(("--root=", "--namespace=", "--output=")):
            flag, given = word.split("=", 1)
            i += 1
        elif word.startswith(("-n", "-o")) and len(word) > 2 and word[2] != "=":  # -nNS, -owide; argparse reads -o=x
            flag, given, i = word[:2], word[2:], i + 1
        elif word in ("-A", "--all-namespaces", "--no-headers"):
            flag, given, i = word, "", i + 1
        elif word.startswith("-"):
            return None  # --debug, -w, --show-labels, -h, an abbreviation, `--`: the full CLI decides
        else:
            if flag_since_word:
                return None  # argparse: "unrecognized arguments"
            words.append(word)
            i += 1
            continue
        if flag == "--root":
            root = given
            continue
        if not words:
            return None  # a flag before the verb: the full CLI's "unknown command"
        flag_since_word = flag_since_word or len(words) > 1
        if flag in ("-n", "--namespace"):
            namespace = given
        elif flag in ("-o", "--output"):
            output = given
        elif flag == "--no-headers":
            no_headers = True
        else:
            all_namespaces = True
    if len(words) not in (2, 3) or words[0] != "get" or words[1] not in POD_WORDS or output not in ("", "wide", "json"):
        return None
    name = words[2] if len(words) == 3 else None
    if not _label(namespace) or (name is not None and (all_namespaces or not _subdomain(name))):
        return None
    return GetRequest(root, namespace, all_namespaces, name, output, no_headers)


def _label(name: str) -> bool:
    """spec/names.py dns1123_label, without `re`."""
    return 0 < len(name) <= 63 and set(name) <= LABEL_CHARS and name[0] != "-" and name[-1] != "-"


def _subdomain(name: str) -> bool:
    """spec/names.py dns1123_subdomain, without `re`: dot-separated labels (no length limit of their own)."""
    return 0 < len(name) <= 253 and all(part and set(part) <= LABEL_CHARS and part[0] != "-" and part[-1] != "-"
                                        for part in name.split("."))


def lean_get(argv: list[str]) -> int | None:
    """Answer `argv` if it is a `get` this path takes: the exit status (the output written and flushed), or
    None when the full CLI must answer instead (nothing written then)."""
    request = get_request(argv)
    if request is None:
        return None
    try:
        text, empty = _answer(request)
    except KeyboardInterrupt:
        return 130  # as cli/main.py
    except Exception:  # noqa: BLE001 - anything unexpected: the full CLI reads it again and says what is wrong
        return None
    if text is None:
        return None
    try:
        if empty is not None:
            sys.stderr.write(empty + "\n")
            sys.stderr.flush()
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # a reader that left (`| head`), as cli/main.py
        return 0
    return 0


def _answer(request: GetRequest) -> tuple[str | None, str | None]:
    """(what goes to stdout, the "No resources" line for stderr or None); (None, None): the full CLI answers."""
    root = os.path.abspath(request.root or os.environ.get("PYRUNC_ROOT") or DEFAULT_ROOT)
    node_name = _node_name(root)
    if node_name is None:
        return None, None
    from pyrunc.linux.host import host_ip

    reader = _Reader(root, _daemon_running(root), time.time(), host_ip(), node_name)
    if request.name is not None:
        pod = reader.pod(request.namespace, request.name)
        if pod is None:
            return None, None  # not there: the full CLI says so (its NotFound line)
        pods = [pod]
    else:
        listed = reader.pods(None if request.all_namespaces else request.namespace)
        if listed is None:
            return None, None
        pods = listed
    if request.output == "json":
        if request.name is not None:
            return as_json(pods[0]), None
        return as_json({"apiVersion": "v1", "items": pods, "kind": "List", "metadata": {"resourceVersion": ""}}), None
    if not pods:
        from pyrunc.printers.table import no_resources

        return "", no_resources(None if request.all_namespaces else request.namespace)
    import datetime as dt

    from pyrunc.printers.table import pods_table

    return pods_table(pods, dt.datetime.now(dt.timezone.utc), wide=request.output == "wide",
                      all_namespaces=request.all_namespaces, no_headers=request.no_headers), None


class _Reader:
    """cli/view.py's pod_view and load_pods, reading the same files with loads() below."""

    def __init__(self, root: str, supervised: bool, now: float, node_ip: str, node_name: str) -> None:
        self.pods_dir = root + "/pods"
        self.supervised = supervised
        self.now = now
        self.node_ip = node_ip
        self.node_name = node_name

    def pods(self, namespace: str | None) -> list[dict[str, object]] | None:
        """store/layout.py list_pod_keys, then the view of each; None when a directory name is not one this path
        can judge as that function does (the full CLI then skips it or not)."""
        try:
            keys = os.listdir(self.pods_dir)
        except FileNotFoundError:
            return []
        out = []
        for key in sorted(keys):
            ns, _, name = key.partition("_")
            if not (_label(ns) and _subdomain(name)):
                return None
            if namespace is not None and ns != namespace:
                continue
            view = self.view(self.pods_dir + "/" + key)
            if view is not None:
                out.append(view)
        return out

    def pod(self, namespace: str, name: str) -> dict[str, object] | None:
        pod_dir = f"{self.pods_dir}/{namespace}_{name}"
        return self.view(pod_dir) if os.path.isdir(pod_dir) else None

    def view(self, pod_dir: str) -> dict[str, object] | None:
        """cli/view.py pod_view (the same steps: the identity test holds them together)."""
        from pyrunc.status import container_facts, pod_status

        manifest = read_json(pod_dir + "/pod.json")
        if not manifest:
            return None
        spec = manifest["spec"]
        names = [c["name"] for c in spec.get("initContainers", []) + spec["containers"]]
        cdir = pod_dir + "/containers/"
        records = {n: container_facts(read_json(cdir + n + "/container.json"), read_json(cdir + n + "/state.json"))
                   for n in names}
        sandbox = read_json(pod_dir + "/sandbox.json")
        admission = read_json(pod_dir + "/admission.json")
        pod = dict(manifest)
        if not (admission and ("gated" in admission or admission.get("unschedulable"))):
            pod["spec"] = dict(spec, nodeName=spec.get("nodeName") or self.node_name)
        pod["status"] = pod_status(manifest, records, sandbox, pid_alive, self.now, self.supervised, self.node_ip,
                                   eviction=read_json(pod_dir + "/eviction.json"), admission=admission)
        return pod


def _node_name(root: str) -> str | None:
    """config.py load_config's node_name; None when config.json holds what only the full CLI can judge."""
    name = os.uname().nodename
    try:
        data = read_bytes(root + "/config.json")
    except FileNotFoundError:
        return name
    settings = loads(data)
    if not isinstance(settings, dict) or not set(settings) <= CONFIG_FIELDS or "root" in settings:
        return None
    given = settings.get("node_name", name)
    return given if isinstance(given, str) else None


def _daemon_running(root: str) -> bool:
    """store/supervisor.py daemon_running."""
    facts = read_json(root + "/daemon.json")
    return bool(facts) and pid_alive(int(facts.get("pid", 0)), facts.get("startTime"))


def pid_alive(pid: int, start_time: int | None) -> bool:
    """linux/syscalls.py pid_alive and proc_start_time, without that module's imports (functools, typing)."""
    if pid <= 0:
        return False
    try:
        data = read_bytes(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return False
    rest = data[data.rfind(b")") + 2:].split()  # comm may hold spaces and parentheses: after the last ')'
    if rest[0] in (b"Z", b"X"):
        return False
    return start_time is None or int(rest[19]) == start_time


# --- files -----------------------------------------------------------------------------------------------------
def read_bytes(path: str) -> bytes:
    """The file's bytes through os.open and os.read: open() builds a FileIO and a BufferedReader per file
    (~11 us against ~2 us here, and `get` reads ~8 files per pod)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, READ_SIZE)]
        while len(chunks[-1]) == READ_SIZE:  # a shorter read is the end (a file, or /proc's one-page stat)
            chunks.append(os.read(fd, READ_SIZE))
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_json(path: str) -> Any:
    """store/atomic.py read_json: None for a missing file or one that is not JSON."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        return loads(data)
    except ValueError:
        return None


def as_json(obj: object) -> str:
    """printers/serialize.py as_json (json.dumps, indent 4, sorted keys, not ASCII-only, Go's escapes), written
    here without the json package; a value of another type than JSON's goes to as_json itself."""
    from _json import encode_basestring  # json.encoder's c_encode_basestring

    out: list[str] = []
    try:
        _dump(obj, "\n", out, encode_basestring)
    except TypeError:
        from pyrunc.printers.serialize import as_json as full_as_json

        return full_as_json(obj)
    text = "".join(out)
    for char, escaped in GO_JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text + "\n"


def _dump(obj: object, newline: str, out: list[str], quote: "object") -> None:
    """json.encoder's _make_iterencode for indent=4, sort_keys=True: `newline` is "\\n" and the current indent."""
    if isinstance(obj, str):
        out.append(quote(obj))  # type: ignore[operator]
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        if obj != obj:
            out.append("NaN")
        elif obj in (float("inf"), float("-inf")):
            out.append("Infinity" if obj > 0 else "-Infinity")
        else:
            out.append(float.__repr__(obj))
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out.append("[]")
            return
        inner = newline + "    "
        out.append("[")
        for n, item in enumerate(obj):
            out.append(inner if n == 0 else "," + inner)
            _dump(item, inner, out, quote)
        out.append(newline + "]")
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("a key that is not a string")  # json.dumps converts or refuses it: as_json decides
        inner = newline + "    "
        out.append("{")
        for n, key in enumerate(sorted(obj)):
            out.append((inner if n == 0 else "," + inner) + quote(key) + ": ")  # type: ignore[operator]
            _dump(obj[key], inner, out, quote)
        out.append(newline + "}")
    else:
        raise TypeError(f"not JSON: {type(obj).__name__}")
