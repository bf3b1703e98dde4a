"""pyrunc apply -f FILE [--dry-run[=client] [-o yaml|json|name|plan]]: create or update pods, ConfigMaps and
Secrets (FILE may be - for stdin; YAML streams or JSON).

`--dry-run` validates exactly as apply does (the manifest and the node's admission checks that need no
running pod) and touches nothing: no daemon is started, nothing is written under the root, the data
directory or the cgroup tree. It prints `pod/NAME created (dry run)`, the pod as it would be stored
(`-o yaml|json`, as `get -o yaml` shows it, without uid, timestamps and status), or what the runtime
would do (`-o plan`: runtime/dryrun.py). ConfigMaps and Secrets of the file are validated and named
(`configmap/NAME (dry run)`), never stored.
"""

from __future__ import annotations

import sys
from typing import Any

from pyrunc.cli.common import load_all_kinds
from pyrunc.errors import PyruncError

DRY_RUN = ("none", "client", "server")
OUTPUTS = ("yaml", "json", "name", "plan")


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--filename", required=True, action="append",
                        help="manifest file, directory of manifests, or - for stdin")
    parser.add_argument("--dry-run", nargs="?", const="client", default="none",
                        help="client (or server, the same here): validate and print, change nothing")
    parser.add_argument("-o", "--output", default="", help="yaml | json | name | plan (plan: with --dry-run)")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.runtime.sysctls import admit_on_node

    if args.dry_run not in DRY_RUN:
        raise PyruncError(f'--dry-run: invalid value "{args.dry_run}", must be one of: {", ".join(DRY_RUN)}')
    if args.output and args.output not in OUTPUTS:
        raise PyruncError(f'unable to match a printer suitable for the output format "{args.output}", '
                          f"allowed formats are: {','.join(OUTPUTS)}")
    dry = args.dry_run != "none"
    if args.output in ("yaml", "json", "plan") and not dry:
        raise PyruncError(f"-o {args.output} needs --dry-run (apply prints the stored pod only in a dry run)")
    pods, objects = load_all_kinds(args.filename)  # every document is validated before anything is created
    for pod in pods:
        admit_on_node(pod, cfg)  # the kubelet's admission (sysctls), also before anything is created
    if dry:
        if args.output in ("", "name"):
            for obj in objects:
                print(f"{obj.kind.lower()}/{obj.metadata.name}" + (" (dry run)" if not args.output else ""))
        return _dry_run(cfg, pods, args.output)
    from pyrunc.cli.objects_view import apply_objects
    from pyrunc.spec import pod_to_dict
    from pyrunc.supervisor.client import request

    from pyrunc.worker.admission import node_name_problem

    from pyrunc.spec.notices import pod_warnings

    for pod in pods:
        for warning in pod_warnings(pod):  # fields accepted and not acted on, as kubectl prints API warnings
            print(f"Warning: {warning}", file=sys.stderr)
    for pod in pods:
        # A pod bound to another node is refused, not stored: that node's kubelet would run it, this one
        # never sees it, and a single node has no other node for it to wait for (worker/admission.py).
        wrong_node = node_name_problem(pod, cfg.node_name)
        if wrong_node:
            raise PyruncError(f'pod "{pod.metadata.name}": {wrong_node}')
    # ConfigMaps and Secrets first, whatever their place in the file: a pod of the same apply that reads
    # them then starts right instead of failing its first attempt (CreateContainerConfigError).
    apply_objects(cfg, objects)
    for pod in pods:
        reply = request(cfg, {"op": "apply", "manifest": pod_to_dict(pod)})
        print(f"pod/{pod.metadata.name}" if args.output == "name" else f"pod/{pod.metadata.name} {reply['result']}")
    return 0


def _dry_run(cfg: Any, pods: list[Any], output: str) -> int:
    from pyrunc import printers
    from pyrunc.cli.view import as_stored
    from pyrunc.spec import pod_to_dict

    if output == "plan":
        from pyrunc.printers.plan import render_plan
        from pyrunc.runtime.dryrun import host_facts, plan_pod_run

        facts = host_facts(cfg)
        sys.stdout.write("\n".join(render_plan(plan_pod_run(pod, cfg, facts)) for pod in pods))
        return 0
    stored = [as_stored(cfg, pod_to_dict(pod), gated=bool(pod.spec.scheduling_gates)) for pod in pods]
    if output in ("yaml", "json"):
        obj = stored[0] if len(stored) == 1 else printers.as_list(stored)
        sys.stdout.write(printers.as_json(obj) if output == "json" else printers.as_yaml(obj))
        return 0
    for pod in pods:
        print(f"pod/{pod.metadata.name}" if output == "name" else f"pod/{pod.metadata.name} {_outcome(cfg, pod)} (dry run)")
    return 0


def _outcome(cfg: Any, pod: Any) -> str:
    """created, unchanged or configured: what a real apply would answer, from the stored pod (read only)."""
    from pyrunc.spec.load import pod_from_dict
    from pyrunc.store.atomic import read_json
    from pyrunc.store.layout import PodLayout

    stored = read_json(PodLayout(cfg.root, pod.metadata.namespace, pod.metadata.name).pod_json)
    if not stored:
        return "created"
    try:
        old = pod_from_dict(stored)
    except PyruncError:
        return "configured"
    same_meta = (old.metadata.labels, old.metadata.annotations) == (pod.metadata.labels, pod.metadata.annotations)
    return "unchanged" if old.spec == pod.spec and same_meta else "configured"
