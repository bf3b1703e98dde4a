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

from pyrunc.cli.common import manifest_texts
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
    if args.dry_run not in DRY_RUN:
        raise PyruncError(f'--dry-run: invalid value "{args.dry_run}", must be one of: {", ".join(DRY_RUN)}')
    if args.output and args.output not in OUTPUTS:
        raise PyruncError(f'unable to match a printer suitable for the output format "{args.output}", '
                          f"allowed formats are: {','.join(OUTPUTS)}")
    dry = args.dry_run != "none"
    if args.output in ("yaml", "json", "plan") and not dry:
        raise PyruncError(f"-o {args.output} needs --dry-run (apply prints the stored pod only in a dry run)")
    texts = manifest_texts(args.filename)
    # Every document is validated, and every pod admitted, before anything is created (supervisor/intake.py):
    # by the supervisor when one runs (it has pyyaml and the Pod model loaded), else here.
    checked = None if dry else _checked_by_supervisor(cfg, texts)
    objects: tuple[Any, ...] = ()
    if checked is None:
        from pyrunc.spec import pod_to_dict
        from pyrunc.supervisor.intake import check_texts

        intake = check_texts(cfg, texts)
        if dry:
            if args.output in ("", "name"):
                for obj in intake.objects:
                    print(f"{obj.kind.lower()}/{obj.metadata.name}" + (" (dry run)" if not args.output else ""))
            return _dry_run(cfg, list(intake.pods), args.output)
        manifests = [pod_to_dict(pod) for pod in intake.pods]
        warnings, refused, objects = list(intake.warnings), intake.refused, intake.objects
    else:
        manifests, warnings, refused = checked["pods"], checked["warnings"], checked["refused"]
    for warning in warnings:  # fields accepted and not acted on, as kubectl prints API warnings
        print(f"Warning: {warning}", file=sys.stderr)
    if refused:
        raise PyruncError(refused)
    from pyrunc.supervisor.client import request

    if objects:
        from pyrunc.cli.objects_view import apply_objects

        # ConfigMaps and Secrets first, whatever their place in the file: a pod of the same apply that reads
        # them then starts right instead of failing its first attempt (CreateContainerConfigError).
        apply_objects(cfg, list(objects))
    for manifest in manifests:
        reply = request(cfg, {"op": "apply", "manifest": manifest})
        name = manifest["metadata"]["name"]
        print(f"pod/{name}" if args.output == "name" else f"pod/{name} {reply['result']}")
    return 0


def _checked_by_supervisor(cfg: Any, texts: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The supervisor's "check" answer, or None when this process checks for itself: no supervisor serves
    the root (none is started for a manifest that may be invalid), the manifests are big, or they hold
    ConfigMaps or Secrets (the CLI stores those)."""
    from pyrunc.store.supervisor import daemon_running
    from pyrunc.supervisor.protocol import MAX_CHECK_TEXT

    if sum(len(text) for _, text in texts) > MAX_CHECK_TEXT or not daemon_running(cfg.root):
        return None
    from pyrunc.supervisor.client import request

    reply = request(cfg, {"op": "check", "texts": [[source, text] for source, text in texts]})
    return None if reply.get("objects") else reply


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
