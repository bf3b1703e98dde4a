"""What `pyrunc apply` checks before it creates anything, in one place for both processes that run it.

    check_sources(cfg, [(source, documents), ...]) -> Intake

The documents are the parsed YAML/JSON streams of the files `-f` names (spec/documents.py). Every
document is decoded and validated (every error of a file at once, as load.py reports them), every pod
passes the node's admission (sysctls), then come the warnings apply prints and the refusal of a pod
bound to another node.

Where it runs: building the Pod model costs an interpreter ~80 ms of imports (63 frozen dataclasses),
which a supervisor has paid once at its start. So when one serves the root, `apply` sends it the parsed
documents (the "check" request, no side effects) and gets the pods back in their v1 form; otherwise (no
supervisor yet, a dry run, documents that JSON would change) the CLI runs this same function itself.
A file holding ConfigMaps or Secrets is applied by the CLI as before (it stores them itself): the
supervisor's answer then only says so (`objects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pyrunc.config import NodeConfig
from pyrunc.errors import PyruncError
from pyrunc.runtime.sysctls import admit_on_node
from pyrunc.spec.load import load_documents, pod_to_dict
from pyrunc.spec.model import Pod
from pyrunc.spec.notices import pod_warnings
from pyrunc.spec.objects import NodeObject
from pyrunc.worker.admission import node_name_problem


@dataclass(frozen=True, slots=True)
class Intake:
    pods: tuple[Pod, ...]
    objects: tuple[NodeObject, ...]
    warnings: tuple[str, ...]  # printed as `Warning: ...` before anything is created
    refused: str  # "" or the error of a pod bound to another node (raised after the warnings are printed)


def check_sources(cfg: NodeConfig, sources: Sequence[tuple[str, list[Any]]]) -> Intake:
    """Decode, validate and admit every document of every source (in order); raises the first source's
    SpecError, an admission error, or "no objects passed to apply"."""
    pods: list[Pod] = []
    objects: list[NodeObject] = []
    for source, documents in sources:
        more_pods, more_objects = load_documents(documents, source)
        pods += more_pods
        objects += more_objects
    if not pods and not objects:
        raise PyruncError("no objects passed to apply")
    for pod in pods:
        admit_on_node(pod, cfg)  # the kubelet's admission (sysctls), also before anything is created
    warnings = [warning for pod in pods for warning in pod_warnings(pod)]
    refused = ""
    for pod in pods:
        # A pod bound to another node is refused, not stored: that node's kubelet would run it, this one
        # never sees it, and a single node has no other node for it to wait for (worker/admission.py).
        wrong_node = node_name_problem(pod, cfg.node_name)
        if wrong_node:
            refused = f'pod "{pod.metadata.name}": {wrong_node}'
            break
    return Intake(tuple(pods), tuple(objects), tuple(warnings), refused)


def check_reply(cfg: NodeConfig, sources: Sequence[tuple[str, list[Any]]]) -> dict[str, Any]:
    """The supervisor's answer to a "check" request (errors are raised, and become its error reply)."""
    intake = check_sources(cfg, sources)
    if intake.objects:
        return {"ok": True, "objects": True}
    return {"ok": True, "pods": [pod_to_dict(pod) for pod in intake.pods], "warnings": list(intake.warnings),
            "refused": intake.refused}
