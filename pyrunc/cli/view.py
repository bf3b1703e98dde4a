"""Reading pods from disk for the read-only verbs: the stored manifest plus a status derived now.

No daemon is contacted and nothing heavy is imported: get/describe/logs stay fast.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pyrunc.config import NodeConfig
from pyrunc.errors import NotFound, PyruncError
from pyrunc.linux.host import host_ip
from pyrunc.linux.syscalls import pid_alive
from pyrunc.node import NODE_WORDS  # the words of a node on the command line, for the verbs
from pyrunc.spec.names import dns1123_label
from pyrunc.status import container_facts, pod_status
from pyrunc.status import pick_container as exec_container
from pyrunc.store.atomic import read_json
from pyrunc.store.layout import PodLayout, layout_for_key, list_pod_keys, valid_label, valid_name
from pyrunc.store.supervisor import daemon_running


def pod_view(cfg: NodeConfig, layout: PodLayout, supervised: bool, now: float, node_ip: str) -> dict[str, Any] | None:
    manifest = read_json(layout.pod_json)
    if not manifest:
        return None
    names = [c["name"] for c in manifest["spec"].get("initContainers", []) + manifest["spec"]["containers"]]
    records = {n: container_on_disk(layout, n) for n in names}
    sandbox = read_json(layout.sandbox_json)
    # A gated or unschedulable pod is not bound to the node yet (worker/admission.py).
    admission = read_json(layout.admission_json)
    pod = as_stored(cfg, manifest, gated=bool(admission and ("gated" in admission or admission.get("unschedulable"))))
    pod["status"] = pod_status(manifest, records, sandbox, lambda pid, st: pid_alive(pid, st), now, supervised, node_ip,
                               eviction=read_json(layout.eviction_json), admission=admission)
    return pod


def as_stored(cfg: NodeConfig, manifest: dict[str, Any], gated: bool = False) -> dict[str, Any]:
    """The pod as `get -o yaml` shows it, before its status: what `apply --dry-run -o yaml` prints too.

    Bound to this node, as the scheduler's binding would show it; a gated pod is not bound yet. A pod
    naming another node never gets here (refused at apply: worker/admission.py node_name_problem)."""
    pod = dict(manifest)
    if not gated:
        pod["spec"] = dict(manifest["spec"], nodeName=manifest["spec"].get("nodeName") or cfg.node_name)
    return pod


def container_on_disk(layout: PodLayout, name: str) -> dict[str, Any]:
    """One container's flat facts: the runtime's record of its latest instance and the worker's facts."""
    return container_facts(read_json(layout.container_record(name)), read_json(layout.container_state(name)))


def load_pods(cfg: NodeConfig, namespace: str | None) -> list[dict[str, Any]]:
    supervised = daemon_running(cfg.root)
    now = time.time()
    node_ip = host_ip()
    pods = []
    for key in list_pod_keys(cfg.root):
        layout = layout_for_key(cfg.root, key)
        if namespace is not None and layout.namespace != namespace:
            continue
        view = pod_view(cfg, layout, supervised, now, node_ip)
        if view is not None:
            pods.append(view)
    return pods


def load_pod(cfg: NodeConfig, namespace: str, name: str) -> tuple[PodLayout, dict[str, Any]]:
    # Checked before any path is built: only DNS names can name a pod directory ("../x" cannot).
    if not (valid_label(namespace) and valid_name(name)):
        raise NotFound("pods", name)
    layout = PodLayout(cfg.root, namespace, name)
    view = pod_view(cfg, layout, daemon_running(cfg.root), time.time(), host_ip()) if os.path.isdir(layout.dir) else None
    if view is None:
        raise NotFound("pods", name)
    return layout, view


def pick_container(pod: dict[str, Any], container: str | None) -> str:
    # kubectl picks the default-container annotation or the first container.
    picked = exec_container(pod, container)  # the rule `pyrunc exec` shares (cli/entry.py, exec_handoff.py)
    if picked is None:
        raise PyruncError(f"container {container} is not valid for pod {pod['metadata']['name']}")
    return picked


def namespace_arg(value: str) -> str:
    """argparse type of -n: a DNS-1123 label, as the API server requires of a namespace. The error
    is a PyruncError, which argparse lets through: one line `error: ...`, exit 1."""
    problem = dns1123_label(value)
    if problem is None:
        return value
    raise PyruncError(f"-n/--namespace: {problem}")


def add_namespace_flag(parser: Any) -> None:
    parser.add_argument("-n", "--namespace", default="default", type=namespace_arg, help="namespace (default: default)")


def load_node(cfg: NodeConfig) -> dict[str, Any]:
    """This node as a v1 Node (pyrunc/node.py): its labels as admission sees them."""
    from pyrunc import __version__
    from pyrunc.node import host_details, node_facts, node_object

    return node_object(node_facts(cfg), host_details(), __version__)
