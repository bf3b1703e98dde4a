"""pyrunc get pods|configmaps|secrets [NAME...] [-n NS | -A] [-o wide|json|yaml|name]; get nodes; get events"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from pyrunc.cli.common import parse_targets
from pyrunc.cli.objects_view import get_objects, object_kind, object_names
from pyrunc.cli.view import NODE_WORDS, add_namespace_flag, load_node, load_pod, load_pods
from pyrunc.errors import NotFound, PyruncError

FORMATS = ("wide", "json", "yaml", "name")
EVENT_WORDS = ("events", "event", "ev")


def _events(cfg: Any, args: Any) -> int:
    """Every pod's events and the node's own (a bad static pod manifest), kubectl's `get events` table."""
    from pyrunc.printers.events import events_table
    from pyrunc.store.events import load_events, load_node_events
    from pyrunc.store.layout import layout_for_key, list_pod_keys

    if len(args.args) > 1 or args.output:
        raise PyruncError("pyrunc get events takes no names and prints only the table")
    namespace = None if args.all_namespaces else args.namespace
    events = [("default", ev) for ev in load_node_events(cfg.root)] if namespace in (None, "default") else []
    for key in list_pod_keys(cfg.root):
        layout = layout_for_key(cfg.root, key)
        if namespace is None or layout.namespace == namespace:
            events += [(layout.namespace, ev) for ev in load_events(layout)]
    if not events:
        from pyrunc import printers

        print(printers.no_resources(namespace), file=sys.stderr)
        return 0
    sys.stdout.write(events_table(events, dt.datetime.now(dt.timezone.utc), all_namespaces=args.all_namespaces,
                                  no_headers=args.no_headers))
    return 0


def add_arguments(parser: Any) -> None:
    parser.add_argument("args", nargs="+", help="pods [NAME...], pod/NAME, or events")
    add_namespace_flag(parser)
    parser.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("-o", "--output", default="", help="wide | json | yaml | name")
    parser.add_argument("--no-headers", action="store_true")
    parser.add_argument("--show-labels", action="store_true", help="a LABELS column (as kubectl)")


def run(cfg: Any, args: Any) -> int:
    from pyrunc import printers
    from pyrunc.printers.table import pods_table

    if args.args[0] in EVENT_WORDS:
        return _events(cfg, args)
    if args.output and args.output not in FORMATS:
        raise PyruncError(f'unable to match a printer suitable for the output format "{args.output}", '
                          f"allowed formats are: {','.join(FORMATS)}")
    kind = object_kind(args.args)
    if kind is not None:  # configmaps, secrets
        return get_objects(cfg, kind, object_names(args.args), args)
    if args.args[0].partition("/")[0] in NODE_WORDS:
        return _nodes(cfg, args)
    names = parse_targets(args.args)
    now = dt.datetime.now(dt.timezone.utc)
    failed = False
    if names:
        pods = []
        for name in names:
            try:
                pods.append(load_pod(cfg, args.namespace, name)[1])
            except PyruncError as e:
                print(e.message, file=sys.stderr)
                failed = True
    else:
        pods = load_pods(cfg, None if args.all_namespaces else args.namespace)
    if args.output in ("json", "yaml"):
        obj = pods[0] if len(names) == 1 and pods else printers.as_list(pods)
        if pods or not names:
            sys.stdout.write(printers.as_json(obj) if args.output == "json" else printers.as_yaml(obj))
    elif args.output == "name":
        for p in pods:
            print(printers.as_name(p))
    elif pods:
        sys.stdout.write(pods_table(pods, now, wide=args.output == "wide",
                                    all_namespaces=args.all_namespaces, no_headers=args.no_headers,
                                    show_labels=args.show_labels))
    elif not names:
        print(printers.no_resources(None if args.all_namespaces else args.namespace), file=sys.stderr)
    return 1 if failed else 0


def _nodes(cfg: Any, args: Any) -> int:
    """This node: the only one (`get nodes`, `get node NAME`, `get node/NAME`)."""
    from pyrunc import printers
    from pyrunc.printers.nodes import nodes_table

    kind, _, name = args.args[0].partition("/")
    names = ([name] if name else []) + args.args[1:]
    obj = load_node(cfg)
    for wanted in names:
        if wanted != obj["metadata"]["name"]:
            raise NotFound("nodes", wanted)
    if args.output in ("json", "yaml"):
        out = obj if names else printers.as_list([obj])
        sys.stdout.write(printers.as_json(out) if args.output == "json" else printers.as_yaml(out))
    elif args.output == "name":
        print(f"node/{obj['metadata']['name']}")
    else:
        sys.stdout.write(nodes_table(obj, dt.datetime.now(dt.timezone.utc), wide=args.output == "wide",
                                     show_labels=args.show_labels, no_headers=args.no_headers))
    return 0
