"""pyrunc apply -f FILE: create or update pods (FILE may be - for stdin; YAML streams or JSON)."""

from __future__ import annotations

import sys
from typing import Any

from pyrunc.errors import PyruncError


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--filename", required=True, action="append",
                        help="manifest file, directory of manifests, or - for stdin")


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(path: str) -> list[str]:
    """A file, `-`, or a directory's *.yaml/*.yml/*.json files in name order (like kubectl -f DIR)."""
    import os

    if path != "-" and os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(MANIFEST_SUFFIXES) and not n.startswith("."))
        if not names:
            raise PyruncError(f'error reading "{path}": no manifest files (*.yaml, *.yml, *.json) in the directory')
        return [os.path.join(path, n) for n in names]
    return [path]


def read_manifest_text(path: str) -> str:
    """The text, or its first 3 MiB + 1 character: the loader refuses anything larger, so a huge
    file is never read into memory whole."""
    from pyrunc.spec.load import MAX_MANIFEST_BYTES

    if path == "-":
        return sys.stdin.read(MAX_MANIFEST_BYTES + 1)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise PyruncError(f'the path "{path}" does not exist') from None
    except IsADirectoryError:
        raise PyruncError(f'the path "{path}" is a directory') from None
    except UnicodeDecodeError:
        raise PyruncError(f'the file "{path}" is not UTF-8 text') from None


def load_all(paths: list[str]) -> list[Any]:
    from pyrunc.spec import load_manifests

    pods = []
    for path in [f for p in paths for f in manifest_files(p)]:
        pods += load_manifests(read_manifest_text(path), "STDIN" if path == "-" else path)
    if not pods:
        raise PyruncError("no objects passed to apply")
    return pods


def run(cfg: Any, args: Any) -> int:
    from pyrunc.spec import pod_to_dict
    from pyrunc.supervisor.client import request

    from pyrunc.runtime.sysctls import admit_on_node

    pods = load_all(args.filename)  # every document is validated before anything is created
    for pod in pods:
        admit_on_node(pod, cfg)  # the kubelet's admission (sysctls), also before anything is created
    for pod in pods:
        reply = request(cfg, {"op": "apply", "manifest": pod_to_dict(pod)})
        print(f"pod/{pod.metadata.name} {reply['result']}")
    return 0
