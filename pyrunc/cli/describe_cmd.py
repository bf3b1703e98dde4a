"""pyrunc describe pod|configmap|secret NAME... (or all of the namespace)"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from pyrunc.cli.common import parse_targets
from pyrunc.cli.objects_view import describe_objects, object_kind, object_names
from pyrunc.cli.view import add_namespace_flag, load_pod, load_pods
from pyrunc.errors import PyruncError
from pyrunc.store.atomic import read_json
from pyrunc.store.layout import PodLayout


def add_arguments(parser: Any) -> None:
    parser.add_argument("args", nargs="+", help="pod NAME... or pod/NAME")
    add_namespace_flag(parser)


def extra_sections(layout: PodLayout) -> dict[str, list[tuple[str, str]]]:
    """Runtime facts kubectl has no place for: cgroup values written, warnings (e.g. clamped oom_score_adj)."""
    sandbox = read_json(layout.sandbox_json) or {}
    extra: dict[str, list[tuple[str, str]]] = {}
    cg = sandbox.get("cgroups")
    if cg:
        extra["Cgroup"] = [(k, str(v)) for k, v in cg]
    if sandbox.get("warnings"):
        extra["Warnings"] = [(str(i + 1), w) for i, w in enumerate(sandbox["warnings"])]
    return extra


def run(cfg: Any, args: Any) -> int:
    from pyrunc.printers import describe_pod
    from pyrunc.store.events import load_events

    kind = object_kind(args.args)
    if kind is not None:  # configmaps, secrets
        return describe_objects(cfg, kind, object_names(args.args), args.namespace)
    now = dt.datetime.now().astimezone()
    names = parse_targets(args.args)
    failed = False
    if names:
        found = []
        for name in names:
            try:
                found.append(load_pod(cfg, args.namespace, name))
            except PyruncError as e:
                print(e.message, file=sys.stderr)
                failed = True
    else:
        found = [(PodLayout(cfg.root, p["metadata"]["namespace"], p["metadata"]["name"]), p)
                 for p in load_pods(cfg, args.namespace)]
    for i, (layout, pod) in enumerate(found):
        if i:
            print()
        sys.stdout.write(describe_pod(pod, load_events(layout), now, extra_sections(layout)))
    return 1 if failed else 0
