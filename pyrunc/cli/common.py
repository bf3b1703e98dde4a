"""Helpers more than one verb needs: which pods the words on the command line name, and reading manifests.

Verbs import from here (and from view.py), never from each other.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from pyrunc.errors import PyruncError

POD_WORDS = ("pod", "pods", "po")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def parse_targets(words: list[str]) -> list[str]:
    """`pods`, `pod a b`, `pod/a pod/b` -> the names asked for ([] = all)."""
    if words[0] in POD_WORDS:
        return words[1:]
    names = []
    for w in words:
        kind, sep, name = w.partition("/")
        if not sep or kind not in POD_WORDS:
            raise PyruncError(f'the server doesn\'t have a resource type "{kind}"')
        names.append(name)
    return names


def parse_timeout(text: str, flag: str = "--timeout") -> float:
    """A duration as kubectl's flags take it: 30s, 2m, 1h, 500ms, or bare seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text)
    if not m:
        raise PyruncError(f'invalid {flag} "{text}"')
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def manifest_files(path: str) -> list[str]:
    """A file, `-`, or a directory's *.yaml/*.yml/*.json files in name order (like kubectl -f DIR)."""
    if path != "-" and os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(MANIFEST_SUFFIXES) and not n.startswith("."))
        if not names:
            raise PyruncError(f'error reading "{path}": no manifest files (*.yaml, *.yml, *.json) in the directory')
        return [os.path.join(path, n) for n in names]
    return [path]


def read_manifest_text(path: str) -> str:
    """The text, or its first 3 MiB + 1 character: the loader refuses anything larger, so a huge
    file is never read into memory whole."""
    from pyrunc.spec.documents import MAX_MANIFEST_BYTES

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


def manifest_texts(paths: list[str]) -> list[tuple[str, str]]:
    """(source, text) of every manifest `-f` names, in order (`-f -` is read once: stdin is "STDIN")."""
    return [("STDIN" if path == "-" else path, read_manifest_text(path))
            for path in [f for p in paths for f in manifest_files(p)]]


def load_all_kinds(paths: list[str]) -> tuple[list[Any], list[Any]]:
    """Every pod and every ConfigMap/Secret of every manifest `-f` names (delete -f), each document
    validated before the caller acts on any; none at all is an error."""
    from pyrunc.spec import load_objects

    pods: list[Any] = []
    objects: list[Any] = []
    for source, text in manifest_texts(paths):
        more_pods, more_objects = load_objects(text, source)
        pods += more_pods
        objects += more_objects
    if not pods and not objects:
        raise PyruncError("no objects passed to apply")
    return pods, objects
