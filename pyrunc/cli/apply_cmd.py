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

    from pyrunc.errors import PyruncError
    from pyrunc.runtime.sysctls import admit_on_node
    from pyrunc.worker.admission import node_name_problem

    pods = load_all(args.filename)  # every document is validated before anything is created
    for pod in pods:
        admit_on_node(pod, cfg)  # the kubelet's admission (sysctls), also before anything is created
        # A pod bound to another node is refused, not stored: that node's kubelet would run it, this one
        # never sees it, and a single node has no other node for it to wait for (worker/admission.py).
        wrong_node = node_name_problem(pod, cfg.node_name)
        if wrong_node:
            raise PyruncError(f'pod "{pod.metadata.name}": {wrong_node}')
    for pod in pods:
        reply = request(cfg, {"op": "apply", "manifest": pod_to_dict(pod)})
        print(f"pod/{pod.metadata.name} {reply['result']}")
    return 0
