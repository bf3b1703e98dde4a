"""pyrunc get pods|configmaps|secrets [NAME...] [-n NS | -A] [-o wide|json|yaml|name] [-w | --watch-only];
get nodes; get events

With -w, the list is printed, then one more line (or object) each time a pod's printed row changes,
as kubectl's watch prints one per change; a deleted pod gets its last row once more. There is no
API server to send watch events: the state on disk is read again every POLL seconds (status is
derived from the facts on read, cli/view.py), so changes that come and go within one interval are
not seen. It ends on Ctrl-C or after --request-timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any, Callable, Mapping

from pyrunc.cli.common import parse_targets, parse_timeout
from pyrunc.cli.objects_view import get_objects, object_kind, object_names
from pyrunc.cli.view import NODE_WORDS, add_namespace_flag, load_node, load_pod, load_pods
from pyrunc.errors import NotFound, PyruncError

FORMATS = ("wide", "json", "yaml", "name")
EVENT_WORDS = ("events", "event", "ev")

POLL = 0.2  # seconds between two reads of the state in a watch
# The rows of a watch are compared as printed at this fixed instant: AGE and "(5s ago)" then only
# change when the pod does, as kubectl prints a row per change of the object, not per second.
SIGNATURE_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


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
    parser.add_argument("-w", "--watch", action="store_true", help="after the list, print a line per change of a pod")
    parser.add_argument("--watch-only", action="store_true", help="print only the changes, not the list first")
    parser.add_argument("--output-watch-events", action="store_true",
                        help="with -w: print the kind of change too (ADDED, MODIFIED, DELETED)")
    parser.add_argument("--request-timeout", default="0",
                        help="with -w: stop watching after this long (e.g. 30s, 5m; 0 = never)")
    parser.add_argument("--show-labels", action="store_true", help="a LABELS column (as kubectl)")


def run(cfg: Any, args: Any) -> int:
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
    if args.watch or args.watch_only:
        return watch(cfg, args, names)
    return list_once(cfg, args, names)


def list_once(cfg: Any, args: Any, names: list[str]) -> int:
    from pyrunc import printers
    from pyrunc.printers.table import pods_table

    now = dt.datetime.now(dt.timezone.utc)
    pods, failed = chosen_pods(cfg, args, names)
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


def chosen_pods(cfg: Any, args: Any, names: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """The pods named (each missing one reported on stderr), or every pod of the namespace(s)."""
    if not names:
        return load_pods(cfg, None if args.all_namespaces else args.namespace), False
    pods, failed = [], False
    for name in names:
        try:
            pods.append(load_pod(cfg, args.namespace, name)[1])
        except PyruncError as e:
            print(e.message, file=sys.stderr)
            failed = True
    return pods, failed


# ------------------------------------------------------------------------------------ watch (pure)
def pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def watch_events(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str]]:
    """(event, key) for what changed between two reads of {key: signature}: ADDED, MODIFIED or
    DELETED, in key order (the order the list is printed in)."""
    events = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            events.append(("ADDED", key))
        elif key not in after:
            events.append(("DELETED", key))
        elif before[key] != after[key]:
            events.append(("MODIFIED", key))
    return events


def signature(pod: dict[str, Any], output: str, all_namespaces: bool) -> str:
    """What must change for a watch to print the pod again: its row as printed at a fixed instant
    (table outputs), or the whole object (json, yaml, name: kubectl prints those per change of
    the object)."""
    from pyrunc.printers.table import pods_table

    if output in ("", "wide"):
        return pods_table([pod], SIGNATURE_TIME, wide=output == "wide", all_namespaces=all_namespaces, no_headers=True)
    return json.dumps(pod, sort_keys=True)


class WatchPrinter:
    """Prints one pod per event in the chosen output: table rows (the header before the first
    one, unless --no-headers), json objects one after the other, yaml documents separated by
    `---` (as kubectl's printers do in a watch), or pod/NAME."""

    def __init__(self, output: str, all_namespaces: bool, no_headers: bool, write: Callable[[str], Any],
                 events: bool = False) -> None:
        self.output = output
        self.events = events  # --output-watch-events: an EVENT column, or {"type", "object"} objects
        self.all_namespaces = all_namespaces
        self.headers = not no_headers
        self.write = write
        self.printed = 0

    def __call__(self, pod: dict[str, Any], now: dt.datetime, event: str = "ADDED") -> None:
        from pyrunc import printers
        from pyrunc.printers.table import pods_table
        from pyrunc.printers.tabwriter import TABLE_MINWIDTH, TABLE_PADDING

        obj: Any = {"type": event, "object": pod} if self.events else pod
        if self.output == "json":
            self.write(printers.as_json(obj))
        elif self.output == "yaml":
            self.write(("---\n" if self.printed else "") + printers.as_yaml(obj))
        elif self.output == "name":
            self.write(printers.as_name(pod) + "\n")
        else:
            # Each row is aligned on its own, as kubectl's watch flushes its tab writer per event.
            text = pods_table([pod], now, wide=self.output == "wide", all_namespaces=self.all_namespaces,
                              no_headers=not (self.headers and self.printed == 0))
            if self.events:  # a first column, as wide as the tab writer makes it
                cells = (["EVENT"] if text.count("\n") > 1 else []) + [event]
                width = max(TABLE_MINWIDTH, *(len(c) for c in cells)) + TABLE_PADDING
                text = "".join(c.ljust(width) + line + "\n" for c, line in zip(cells, text.splitlines()))
            self.write(text)
        self.printed += 1


# ------------------------------------------------------------------------------------ watch
def watch(cfg: Any, args: Any, names: list[str]) -> int:
    limit = parse_timeout(args.request_timeout, "--request-timeout")
    deadline = time.monotonic() + limit if limit > 0 else None
    namespace = None if args.all_namespaces else args.namespace

    def read() -> dict[str, dict[str, Any]]:
        pods = load_pods(cfg, namespace)
        return {pod_key(p): p for p in pods if not names or p["metadata"]["name"] in names}

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    printer = WatchPrinter(args.output, args.all_namespaces, args.no_headers, write, args.output_watch_events)
    pods, failed = chosen_pods(cfg, args, names)  # kubectl reports a missing named pod first
    if failed:
        return 1
    current = {pod_key(p): p for p in pods}
    if not args.watch_only:
        now = dt.datetime.now(dt.timezone.utc)
        for key in sorted(current):
            printer(current[key], now)
    sigs = {k: signature(p, args.output, args.all_namespaces) for k, p in current.items()}
    while deadline is None or time.monotonic() < deadline:
        time.sleep(POLL)
        latest = read()
        new_sigs = {k: signature(p, args.output, args.all_namespaces) for k, p in latest.items()}
        now = dt.datetime.now(dt.timezone.utc)
        for event, key in watch_events(sigs, new_sigs):
            printer(current[key] if event == "DELETED" else latest[key], now, event)
        current, sigs = latest, new_sigs
    return 0
