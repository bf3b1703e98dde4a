"""pyrunc label node [NODE] KEY=VALUE ... [KEY-] [--overwrite]: this node's labels, as kubectl label.

The labels are stored under the node root (pyrunc/node.py) and matched by nodeSelector and node affinity
when a pod is next admitted (a rejected pod is admitted again when it is applied again).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pyrunc.errors import NotFound, PyruncError


def add_arguments(parser: Any) -> None:
    parser.add_argument("args", nargs="+", help="node [NODE] KEY=VALUE ... KEY- ... (or node/NODE)")
    parser.add_argument("--overwrite", action="store_true", help="allow changing the value of an existing label")


def run(cfg: Any, args: Any) -> int:
    from pyrunc import node
    from pyrunc.store.atomic import private_dir, write_json

    words = list(args.args)
    kind, slash, name = words.pop(0).partition("/")
    if kind not in node.NODE_WORDS:
        raise PyruncError(f'the server doesn\'t have a resource type "{kind}"')
    if not slash and words and "=" not in words[0] and not words[0].endswith("-"):
        name = words.pop(0)
    name = name or cfg.node_name  # the node may go unnamed: there is only this one
    if name != cfg.node_name:
        raise NotFound("nodes", name)
    to_set, to_remove = node.parse_label_words(words)
    facts = node.node_facts(cfg)
    overrides = node.stored_overrides(cfg.root)
    change = node.change_labels(facts, overrides, to_set, to_remove, args.overwrite, os.uname().machine)
    for warning in change.warnings:
        print(warning, file=sys.stderr)
    if change.overrides != overrides:
        private_dir(cfg.root)
        write_json(node.labels_path(cfg.root), {"labels": change.overrides})
    print(change.message)
    return 0
