"""pyrunc create configmap|secret: build a ConfigMap or Secret from literals and files, as kubectl create does.

    create configmap NAME [--from-literal=k=v]... [--from-file=[key=]path]... [--from-env-file=path]...
    create secret generic NAME (the same flags) [--type T]
    create secret docker-registry NAME --docker-server S --docker-username U --docker-password P [--docker-email E]
    create secret tls NAME --cert FILE --key FILE
    [-n NS] [--dry-run=client] [-o yaml|json|name]

kubectl's rules: `--from-file` of a directory takes its regular files (each named by its file name), a key
given for a directory is refused, a key twice is refused, `--from-env-file` mixes with neither of the other
two; a ConfigMap keeps non-UTF-8 file content in binaryData. The object is validated by the same rules as a
manifest's (spec/objects.py), then stored; an existing one is refused (`already exists`), never replaced.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import sys
from typing import Any

from pyrunc.errors import PyruncError

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"  # kubectl's --docker-server default
# IsEnvVarName (k8s.io/apimachinery validation): the keys of an --from-env-file.
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_ENV_NAME_MESSAGE = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                     "or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
                     "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")


def add_arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="what", metavar="KIND", parser_class=type(parser))
    sub.required = True
    cm = sub.add_parser("configmap", aliases=["cm"], help="Create a ConfigMap from literals, files or an env file")
    _common(cm)
    _sources(cm)
    secret = sub.add_parser("secret", help="Create a Secret (generic, docker-registry, tls)")
    kinds = secret.add_subparsers(dest="secret_type", metavar="TYPE", parser_class=type(parser))
    kinds.required = True
    generic = kinds.add_parser("generic", help="A Secret from literals, files or an env file")
    _common(generic)
    _sources(generic)
    generic.add_argument("--type", default="", help="the Secret's type (default: Opaque)")
    docker = kinds.add_parser("docker-registry", help="A kubernetes.io/dockerconfigjson Secret for imagePullSecrets")
    _common(docker)
    docker.add_argument("--docker-server", default=DOCKER_HUB_SERVER)
    docker.add_argument("--docker-username", default="")
    docker.add_argument("--docker-password", default="")
    docker.add_argument("--docker-email", default="")
    docker.add_argument("--from-file", action="append", default=[], help="[key=]path of a docker config file")
    tls = kinds.add_parser("tls", help="A kubernetes.io/tls Secret from a certificate and its key")
    _common(tls)
    tls.add_argument("--cert", default="", help="PEM certificate (chain) file")
    tls.add_argument("--key", default="", help="PEM private key file")


def _common(parser: Any) -> None:
    from pyrunc.cli.view import namespace_arg  # noqa: PLC0415

    parser.add_argument("name", nargs="?", default="")
    parser.add_argument("-n", "--namespace", default=None, type=namespace_arg, help="namespace (default: default)")
    parser.add_argument("--dry-run", default="none", choices=("none", "client", "server"),
                        help="client: print the object, store nothing")
    parser.add_argument("-o", "--output", default="", help="yaml | json | name")


def _sources(parser: Any) -> None:
    parser.add_argument("--from-literal", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--from-file", action="append", default=[],
                        help="[key=]path: a file, or a directory's regular files (repeatable, comma-separated)")
    parser.add_argument("--from-env-file", action="append", default=[], help="a file of KEY=value lines")


# ------------------------------------------------------------------------------ kubectl's source parsing
def parse_literal(source: str) -> tuple[str, str]:
    """ParseLiteralSource: split at the first '=' (values may hold more); a leading '=' is no key."""
    key, sep, value = source.partition("=")
    if not sep or not key:
        raise PyruncError(f"invalid literal source {source}, expected key=value")
    return key, value


def parse_file_source(source: str) -> tuple[str, str]:
    """ParseFileSource: `path` (key = the file's base name) or `key=path`."""
    count = source.count("=")
    if count == 0:
        return os.path.basename(source.rstrip("/")) or source, source
    if count > 1:
        raise PyruncError("key names or file paths cannot contain '='")
    key, _, path = source.partition("=")
    if not key:
        raise PyruncError(f"key name for file path {path} missing")
    if not path:
        raise PyruncError(f"file path for key name {key} missing")
    return key, path


def file_entries(sources: list[str]) -> list[tuple[str, str]]:
    """(key, file) of every --from-file source, directories expanded to their regular files in name order.

    The flag is a string slice in kubectl: `--from-file=a,b` is two sources."""
    out: list[tuple[str, str]] = []
    for source in [s for value in sources for s in value.split(",")]:
        key, path = parse_file_source(source)
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as e:
            raise PyruncError(f"error reading {path}: {(e.strerror or str(e)).lower()}") from None
        if is_dir:
            if "=" in source:
                raise PyruncError("cannot give a key name for a directory path")
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full) and not os.path.islink(full):  # regular files only, as kubectl
                    out.append((name, full))
        else:
            out.append((key, path))
    return out


def env_file_entries(path: str, kind: str) -> list[tuple[str, str]]:
    """AddFromEnvFile: `KEY=value` lines (leading blanks dropped, `#` comments and blank lines skipped);
    a line with a key alone takes the value of that variable in this environment."""
    if os.path.isdir(path):
        raise PyruncError(f"env {kind} file cannot be a directory")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise PyruncError(f"error reading {path}: {(e.strerror or str(e)).lower()}") from None
    out = []
    for number, line_bytes in enumerate(raw.split(b"\n"), 1):
        if number == 1:
            line_bytes = line_bytes.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        try:
            line = line_bytes.decode("utf-8").rstrip("\r").lstrip()
        except UnicodeDecodeError:
            raise PyruncError(f"env file {path} contains invalid utf8 bytes at line {number}") from None
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not _ENV_NAME.match(key):
            raise PyruncError(f'"{key}" is not a valid key name: {_ENV_NAME_MESSAGE}')
        out.append((key, value if sep else os.environ.get(key, "")))
    return out


def _key_problem(key: str) -> str | None:
    from pyrunc.spec.objects import data_key  # noqa: PLC0415

    problem = data_key(key)
    # data_key words it for a manifest field (`Invalid value: "k": ...`); kubectl create shows the bare rule.
    return None if problem is None else re.sub(r'^Invalid value: ".*?": ', "", problem)


def configmap_data(name: str, literals: list[str], files: list[str], env_files: list[str]
                   ) -> tuple[dict[str, str], dict[str, bytes]]:
    """The data and binaryData of `create configmap`: files first, then literals, then env files (kubectl's order)."""
    if env_files and (files or literals):
        raise PyruncError("from-env-file cannot be combined with from-file or from-literal")
    data: dict[str, str] = {}
    binary: dict[str, bytes] = {}

    def add(key: str, value: bytes | str) -> None:
        problem = _key_problem(key)
        if problem:
            raise PyruncError(f'"{key}" is not a valid key name for a ConfigMap: {problem}')
        for where, taken in (("Data", data), ("BinaryData", binary)):
            if key in taken:
                raise PyruncError(f'cannot add key "{key}", another key by that name already exists in {where} '
                                  f'for ConfigMap "{name}"')
        if isinstance(value, str):
            data[key] = value
            return
        try:
            data[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = value

    for key, path in file_entries(files):
        add(key, _read(path))
    for literal in literals:
        add(*parse_literal(literal))
    for path in env_files:
        for key, value in env_file_entries(path, "config"):
            add(key, value)
    return data, binary


def secret_data(literals: list[str], files: list[str], env_files: list[str]) -> dict[str, bytes]:
    """The data of `create secret generic`: literals first, then files, then env files (kubectl's order)."""
    if env_files and (files or literals):
        raise PyruncError("from-env-file cannot be combined with from-file or from-literal")
    data: dict[str, bytes] = {}

    def add(key: str, value: bytes) -> None:
        problem = _key_problem(key)
        if problem:
            raise PyruncError(f'"{key}" is not valid key name for a Secret {problem}')
        if key in data:
            raise PyruncError(f"cannot add key {key}, another key by that name already exists")
        data[key] = value

    for literal in literals:
        key, value = parse_literal(literal)
        add(key, value.encode())
    for key, path in file_entries(files):
        add(key, _read(path))
    for path in env_files:
        for key, value in env_file_entries(path, "secret"):
            add(key, value.encode())
    return data


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PyruncError(f"error reading {path}: {(e.strerror or str(e)).lower()}") from None


def go_json(value: Any) -> str:
    """Go's json.Marshal: compact, struct fields in declaration order, <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def dockerconfigjson(server: str, username: str, password: str, email: str) -> bytes:
    """The `.dockerconfigjson` of `kubectl create secret docker-registry`: one `auths` entry with username,
    password, email (omitted when empty) and auth = base64("username:password"), in that order."""
    entry = {"username": username, "password": password, "email": email,
             "auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    return go_json({"auths": {server: {k: v for k, v in entry.items() if v}}}).encode()


# ---------------------------------------------------------------------------------------------- run
def _manifest(args: Any) -> tuple[dict[str, Any], str]:
    """The object as kubectl builds it (before the API server's defaults), and kubectl's "failed to create" lead."""
    name = args.name
    meta: dict[str, Any] = {"name": name}
    if args.namespace:
        meta["namespace"] = args.namespace
    if args.what in ("configmap", "cm"):
        data, binary = configmap_data(name, args.from_literal, args.from_file, args.from_env_file)
        doc: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
        if data:
            doc["data"] = data
        if binary:
            doc["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
        return doc, "failed to create configmap: "
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
    failed = "failed to create secret: "
    if args.secret_type == "generic":
        values = secret_data(args.from_literal, args.from_file, args.from_env_file)
        if args.type:
            doc["type"] = args.type
    elif args.secret_type == "docker-registry":
        if not args.from_file and not (args.docker_username and args.docker_password and args.docker_server):
            raise PyruncError("either --from-file or the combination of --docker-username, --docker-password and "
                              "--docker-server is required")
        values = secret_data([], args.from_file, []) if args.from_file else {
            ".dockerconfigjson": dockerconfigjson(args.docker_server, args.docker_username, args.docker_password,
                                                  args.docker_email)}
        doc["type"] = "kubernetes.io/dockerconfigjson"
        failed = "failed to create secret "  # kubectl's docker-registry wording has no colon
    else:
        values = _tls_data(args.cert, args.key)
        doc["type"] = "kubernetes.io/tls"
    if values:
        doc["data"] = {k: base64.b64encode(v).decode() for k, v in values.items()}
    return doc, failed


def _tls_data(cert: str, key: str) -> dict[str, bytes]:
    if not cert:
        raise PyruncError("certificate must be specified")
    if not key:
        raise PyruncError("key must be specified")
    import ssl  # noqa: PLC0415 - only for `create secret tls`

    try:
        # kubectl loads the pair (tls.X509KeyPair): a key that does not match the certificate is refused.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError, ValueError) as e:
        raise PyruncError(f"failed to load key pair {getattr(e, 'reason', None) or e}") from None
    return {"tls.crt": _read(cert), "tls.key": _read(key)}


def run(cfg: Any, args: Any) -> int:
    from pyrunc import printers  # noqa: PLC0415
    from pyrunc.cli.objects_view import create_object  # noqa: PLC0415
    from pyrunc.spec.objects import object_from_dict  # noqa: PLC0415

    if args.output not in ("", "yaml", "json", "name"):
        raise PyruncError(f'unable to match a printer suitable for the output format "{args.output}", '
                          "allowed formats are: json,name,yaml")
    if args.dry_run == "server":
        raise PyruncError("--dry-run=server: not supported by pyrunc (there is no API server); use --dry-run=client")
    if not args.name:
        raise PyruncError("name must be specified")
    doc, failed = _manifest(args)
    obj, errors = object_from_dict(doc)
    if obj is None or errors:
        details = "; ".join(e.message for e in errors) or "invalid object"
        raise PyruncError(f'{failed}{doc["kind"]} "{args.name}" is invalid: {details}')
    kind = doc["kind"].lower()
    if args.dry_run == "client":
        shown = {**doc, "metadata": {"creationTimestamp": None, **doc["metadata"]}}
        suffix = " (dry run)"
    else:
        from pyrunc.store.objects import ObjectStore  # noqa: PLC0415

        create_object(cfg, obj, failed)
        shown = ObjectStore(cfg.root).raw(obj.kind, obj.metadata.namespace, obj.metadata.name) or doc
        suffix = ""
    if args.output == "yaml":
        sys.stdout.write(printers.as_yaml(shown))
    elif args.output == "json":
        sys.stdout.write(printers.as_json(shown))
    elif args.output == "name":
        print(f"{kind}/{args.name}")
    else:
        print(f"{kind}/{args.name} created{suffix}")
    return 0
