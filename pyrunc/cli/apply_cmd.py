"""pyrunc apply -f FILE: create or update pods, ConfigMaps and Secrets (FILE may be - for stdin; YAML streams or JSON)."""

from __future__ import annotations

from typing import Any

from pyrunc.cli.common import load_all_kinds
from pyrunc.cli.objects_view import apply_objects


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--filename", required=True, action="append",
                        help="manifest file, directory of manifests, or - for stdin")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.spec import pod_to_dict
    from pyrunc.supervisor.client import request

    from pyrunc.runtime.sysctls import admit_on_node

    pods, objects = load_all_kinds(args.filename)  # every document is validated before anything is created
    for pod in pods:
        admit_on_node(pod, cfg)  # the kubelet's admission (sysctls), also before anything is created
    # ConfigMaps and Secrets first, whatever their place in the file: a pod of the same apply that reads
    # them then starts right instead of failing its first attempt (CreateContainerConfigError).
    apply_objects(cfg, objects)
    for pod in pods:
        reply = request(cfg, {"op": "apply", "manifest": pod_to_dict(pod)})
        print(f"pod/{pod.metadata.name} {reply['result']}")
    return 0
