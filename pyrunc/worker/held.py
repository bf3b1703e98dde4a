"""A pod the node did not admit: rejected (phase Failed), or kept Pending by scheduling gates or by the
scheduler's filter (Unschedulable: tried again by the daemon when the node's pods change).

It stays visible (`get`, `describe` with its event) and holds nothing: no sandbox, no cgroup, no IP, no
container; only pod.json, admission.json and events.json under its pod directory. It answers the
daemon as a PodWorker does (create, adopt, sync, terminate, ...) so the daemon keeps one map of pods.
The decision is worker/admission.py's; this only records it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from pyrunc.config import NodeConfig
from pyrunc.sandbox.sandbox import teardown_sandbox
from pyrunc.spec.load import pod_to_dict
from pyrunc.spec.model import Pod
from pyrunc.store.atomic import private_dir, read_json, write_json
from pyrunc.store.events import record_event
from pyrunc.store.layout import PodLayout
from pyrunc.worker.admission import (GATED_MESSAGE, GATED_REASON, REJECTED_PREFIX, UNSCHEDULABLE_REASON, Gated,
                                     Rejected, Unschedulable)

log = logging.getLogger("pyrunc.pod")


def admission_facts(decision: Rejected | Gated | Unschedulable) -> dict[str, object]:
    """What admission.json holds (read by status.py through cli/view.py)."""
    if isinstance(decision, Gated):
        return {"gated": list(decision.gates), "reason": GATED_REASON, "message": GATED_MESSAGE}
    if isinstance(decision, Unschedulable):
        return {"unschedulable": True, "reason": UNSCHEDULABLE_REASON, "message": decision.message}
    return {"reason": decision.reason, "message": decision.status_message}


class HeldPod:
    def __init__(self, cfg: NodeConfig, layout: PodLayout, pod: Pod, facts: dict[str, object] | None = None) -> None:
        self.cfg = cfg
        self.layout = layout
        self.pod = pod
        self.facts = facts if facts is not None else read_json(layout.admission_json, {}) or {}
        self.removed = False
        self.on_terminated: list[Callable[[], None]] = []

    @property
    def uid(self) -> str:
        return self.pod.metadata.uid

    @property
    def terminating(self) -> bool:
        return False  # nothing runs: a delete removes it at once

    @property
    def gated(self) -> bool:
        return "gated" in self.facts

    @property
    def unschedulable(self) -> bool:
        return bool(self.facts.get("unschedulable"))

    def create(self) -> None:
        private_dir(self.layout.dir)
        write_json(self.layout.admission_json, self.facts)
        write_json(self.layout.pod_json, pod_to_dict(self.pod))
        if self.gated:
            log.info("pod %s: scheduling gated (%s)", self.layout.key, self.facts["gated"])
            return
        if self.unschedulable:
            self.failed_scheduling()
            return
        # The kubelet's rejectPod: a Warning event with the admission's reason and message.
        self.event("Warning", str(self.facts["reason"]), str(self.facts["message"]).removeprefix(REJECTED_PREFIX))
        log.info("pod %s rejected: %s", self.layout.key, self.facts["message"])

    def adopt(self) -> None:
        pass

    def sync(self) -> None:
        pass

    def on_exit(self, record: object) -> None:
        pass

    def degraded(self, message: str) -> None:
        log.warning("pod %s: %s", self.layout.key, message)

    def update_metadata(self, labels: dict[str, str], annotations: dict[str, str]) -> None:
        self.pod = replace(self.pod, metadata=replace(self.pod.metadata, labels=labels, annotations=annotations))
        write_json(self.layout.pod_json, pod_to_dict(self.pod))

    def terminate(self, grace: int | None, done: Callable[[], None]) -> None:
        """Nothing to stop: the directory goes, then `done`."""
        self.on_terminated.append(done)
        if not self.removed:
            teardown_sandbox(self.layout)
            self.removed = True
        callbacks, self.on_terminated = self.on_terminated, []
        for cb in callbacks:
            cb()

    def failed_scheduling(self) -> None:
        """The scheduler's Warning event for an attempt that found no node (repeats bump its count)."""
        message = str(self.facts["message"])
        record_event(self.layout, self.cfg.node_name, "Warning", "FailedScheduling", message,
                     component="default-scheduler")
        log.info("pod %s unschedulable: %s", self.layout.key, message)

    def event(self, type_: str, reason: str, message: str) -> None:
        record_event(self.layout, self.cfg.node_name, type_, reason, message)
