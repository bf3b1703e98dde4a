"""pyrunc delete pod NAME... | delete configmap|secret NAME... | delete -f FILE: graceful termination of pods;
returns when nothing is left."""

from __future__ import annotations

from typing import Any

from pyrunc.cli.common import POD_WORDS, load_all_kinds, parse_targets
from pyrunc.cli.objects_view import all_names, delete_objects, object_kind, object_names
from pyrunc.cli.view import add_namespace_flag
from pyrunc.errors import PyruncError

def add_arguments(parser: Any) -> None:
    parser.add_argument("args", nargs="*", help="pod NAME... (or pod/NAME)")
    parser.add_argument("-f", "--filename", action="append", help="delete the pods a manifest names")
    add_namespace_flag(parser)
    parser.add_argument("--grace-period", type=int, default=-1,
                        help="seconds to wait before SIGKILL (default: the pod's terminationGracePeriodSeconds)")
    parser.add_argument("--force", action="store_true", help="with --grace-period=0: kill immediately")
    parser.add_argument("--now", action="store_true", help="same as --grace-period=1")
    parser.add_argument("--ignore-not-found", action="store_true")
    parser.add_argument("--all", action="store_true", help="every pod of the namespace")


def targets(args: Any, root: str = "") -> list[tuple[str, str]]:
    if args.all:
        from pyrunc.store.layout import layout_for_key, list_pod_keys

        if args.args and args.args != ["pods"] and args.args[0] not in POD_WORDS:
            raise PyruncError(f'the server doesn\'t have a resource type "{args.args[0]}"')
        layouts = [layout_for_key(root, k) for k in list_pod_keys(root)]
        return [(lay.namespace, lay.name) for lay in layouts if lay.namespace == args.namespace]
    if args.filename:
        return [(p.metadata.namespace, p.metadata.name) for p in load_all_kinds(args.filename)[0]]
    words = list(args.args)
    names = parse_targets(words) if words else []
    if not names:
        raise PyruncError("resource(s) were provided, but no name was specified" if words else
                          "You must provide one or more resources by argument or filename.")
    return [(args.namespace, n) for n in names]


def grace_of(args: Any) -> int | None:
    if args.now:
        return 1
    if args.grace_period < 0:
        return None
    if args.grace_period == 0 and not args.force:
        return 1  # kubectl: --grace-period=0 without --force means 1
    return int(args.grace_period)


def run(cfg: Any, args: Any) -> int:
    from pyrunc.errors import NotFound
    from pyrunc.store.layout import pod_exists, pod_key
    from pyrunc.supervisor.client import request

    kind = object_kind(args.args) if args.args and not args.filename else None
    if kind is not None:  # configmaps, secrets
        return _delete_objects(cfg, kind, args)
    file_objects: list[tuple[str, str, str]] = []
    if args.filename:
        pods, objects = load_all_kinds(args.filename)  # read once: `-f -` may be stdin
        chosen = [(p.metadata.namespace, p.metadata.name) for p in pods]
        file_objects = [(o.kind, o.metadata.namespace, o.metadata.name) for o in objects]
    else:
        chosen = targets(args, cfg.root)
    failed = 0
    grace = grace_of(args)
    if args.force and grace == 0:
        print("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. "
              "The resource may continue to run on the cluster indefinitely.")
    if args.all and not chosen:
        import sys

        print("No resources found", file=sys.stderr)
    for namespace, name in chosen:
        try:
            if not pod_exists(cfg.root, namespace, name):
                raise NotFound("pods", name)
            request(cfg, {"op": "delete", "key": pod_key(namespace, name), "grace": grace})
        except NotFound:
            if not args.ignore_not_found:
                import sys

                print(f'Error from server (NotFound): pods "{name}" not found', file=sys.stderr)
                failed = 1
            continue
        print(f'pod "{name}" {"force " if args.force and grace == 0 else ""}deleted')
    # The file's ConfigMaps and Secrets after its pods: a pod still running never loses what it reads.
    if file_objects:
        failed |= delete_objects(cfg, file_objects, args.ignore_not_found)
    return failed


def _delete_objects(cfg: Any, kind: str, args: Any) -> int:
    """`delete configmap|secret NAME... | --all`."""
    names = object_names(args.args)
    if args.all:
        if names:
            raise PyruncError("name cannot be provided when a selector or --all is specified")
        names = all_names(cfg, kind, args.namespace)
        if not names:
            import sys

            print("No resources found", file=sys.stderr)
            return 0
    elif not names:
        raise PyruncError("resource(s) were provided, but no name was specified")
    return delete_objects(cfg, [(kind, args.namespace, n) for n in names], args.ignore_not_found)
