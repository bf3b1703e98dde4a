"""pyrunc apply -f FILE: create or update pods (FILE may be - for stdin; YAML streams or JSON)."""

from __future__ import annotations

from typing import Any

from pyrunc.cli.common import load_all


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--filename", required=True, action="append",
                        help="manifest file, directory of manifests, or - for stdin")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.spec import pod_to_dict
    from pyrunc.supervisor.client import request

    from pyrunc.runtime.sysctls import admit_on_node

    import sys

    from pyrunc.spec.notices import pod_warnings

    pods = load_all(args.filename)  # every document is validated before anything is created
    for pod in pods:
        for warning in pod_warnings(pod):  # fields accepted and not acted on, as kubectl prints API warnings
            print(f"Warning: {warning}", file=sys.stderr)
    for pod in pods:
        admit_on_node(pod, cfg)  # the kubelet's admission (sysctls), also before anything is created
    for pod in pods:
        reply = request(cfg, {"op": "apply", "manifest": pod_to_dict(pod)})
        print(f"pod/{pod.metadata.name} {reply['result']}")
    return 0
