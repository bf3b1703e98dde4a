"""The pod worker's facts about one container, as stored in <pod>/containers/<name>/state.json.

The runtime service's record of the latest instance lives beside it in container.json; readers merge
the two with pyrunc.status.container_facts.
"""

from __future__ import annotations

from typing import Mapping

from pyrunc.runtime.records import ContainerRecord
from pyrunc.worker.plan import ContainerFacts, HookState


def facts_to_json(facts: ContainerFacts) -> dict[str, object]:
    out: dict[str, object] = {
        "restartCount": facts.restart_count, "failures": facts.failures, "willRestart": facts.will_restart,
        "backoffUntil": facts.backoff_until, "backoffMessage": facts.backoff_message,
        "createFailures": facts.create_failures, "retryCreateAt": facts.retry_create_at,
        "postStart": facts.post_start.value, "started": facts.started, "ready": facts.ready,
        "lastTerminated": facts.last_terminated.to_json() if facts.last_terminated is not None else None,
    }
    if facts.waiting_reason:
        out["waiting"] = {"reason": facts.waiting_reason, "message": facts.waiting_message}
    return out


def facts_from_json(data: Mapping[str, object] | None) -> ContainerFacts:
    if not data:
        return ContainerFacts()

    def num(key: str) -> float:
        value = data.get(key, 0)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

    waiting = data.get("waiting")
    waiting = waiting if isinstance(waiting, dict) else {}
    last = data.get("lastTerminated")
    try:
        post_start = HookState(str(data.get("postStart", "none")))
    except ValueError:
        post_start = HookState.NONE
    return ContainerFacts(
        restart_count=int(num("restartCount")), failures=int(num("failures")),
        will_restart=bool(data.get("willRestart")), backoff_until=num("backoffUntil"),
        backoff_message=str(data.get("backoffMessage") or ""), create_failures=int(num("createFailures")),
        retry_create_at=num("retryCreateAt"), waiting_reason=str(waiting.get("reason") or ""),
        waiting_message=str(waiting.get("message") or ""), post_start=post_start,
        started=bool(data.get("started")), ready=bool(data.get("ready")),
        last_terminated=ContainerRecord.from_json(last) if isinstance(last, dict) else None,
    )
