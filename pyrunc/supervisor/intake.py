"""What `pyrunc apply` checks before it creates anything, in one place for both processes that run it.

    check_texts(cfg, [(source, text), ...]) -> Intake

The texts are the files `-f` names (YAML or JSON streams). Every one is parsed (spec/documents.py), then
every document decoded and validated (every error of a file at once, as load.py reports them), every pod
passes the node's admission (sysctls), then come the warnings apply prints and the refusal of a pod
bound to another node.

Where it runs: pyyaml and the Pod model cost an interpreter ~100 ms of imports (the model alone ~80 ms:
63 frozen dataclasses), which a supervisor has paid once at its start. So when one serves the root and the
manifests are small (protocol.MAX_CHECK_TEXT: the supervisor's loop must not stall on a big parse), `apply` sends
it the texts (the "check" request, no side effects) and gets the pods back in their v1 form; otherwise (no
supervisor yet, a dry run, big manifests) the CLI runs this same function itself. Files holding ConfigMaps
or Secrets are applied by the CLI as before (it stores them itself): the supervisor's answer then only
says so (`objects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pyrunc.config import NodeConfig
from pyrunc.errors import PyruncError
from pyrunc.runtime.sysctls import admit_on_node
from pyrunc.spec.documents import yaml_documents
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


def check_texts(cfg: NodeConfig, texts: Sequence[tuple[str, str]]) -> Intake:
    """Parse, decode, validate and admit every document of every text (in order); raises the first text's
    SpecError, an admission error, or "no objects passed to apply"."""
    pods: list[Pod] = []
    objects: list[NodeObject] = []
    for source, text in texts:
        more_pods, more_objects = load_documents(yaml_documents(text, source), source)
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


def check_reply(cfg: NodeConfig, texts: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The supervisor's answer to a "check" request (errors are raised, and become its error reply)."""
    intake = check_texts(cfg, texts)
    if intake.objects:
        return {"ok": True, "objects": True}
    return {"ok": True, "pods": [pod_to_dict(pod) for pod in intake.pods], "warnings": list(intake.warnings),
            "refused": intake.refused}
