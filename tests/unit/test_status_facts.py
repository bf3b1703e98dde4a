"""status.container_facts: one container's two files (the runtime service's record of its latest
instance, the pod worker's facts) merged into what the status derivation reads."""

from __future__ import annotations

from pyrunc.runtime.records import ContainerRecord, ContainerState
from pyrunc.status import container_facts, container_state
from pyrunc.worker.facts import facts_from_json, facts_to_json
from pyrunc.worker.plan import ContainerFacts, HookState

T0 = 1_700_000_000.0


def record(state: ContainerState, **kw: object) -> dict[str, object]:
    base = dict(id="a" * 64, name="c", attempt=1, state=state, image="busybox", image_id="sha256:1",
                created_at=T0, started_at=T0 + 1, pid=4242, start_time=99)
    base.update(kw)
    return ContainerRecord(**base).to_json()  # type: ignore[arg-type]


def never_alive(pid: int, start_time: int) -> bool:
    return False


def test_a_running_instance() -> None:
    facts = container_facts(record(ContainerState.RUNNING), facts_to_json(ContainerFacts(restart_count=1, started=True,
                                                                                         ready=True)))
    assert facts["pid"] == 4242 and facts["startTime"] == 99 and facts["restartCount"] == 1
    assert facts["containerID"] == "pyrunc://" + "a" * 64 and facts["startedAt"] == "2023-11-14T22:13:21Z"
    assert "terminated" not in facts and facts["ready"] and facts["started"]
    state = container_state(facts, lambda pid, st: pid == 4242 and st == 99, T0 + 5, True)
    assert state == {"running": {"startedAt": "2023-11-14T22:13:21Z"}}


def test_an_exited_instance_waiting_for_its_back_off() -> None:
    exited = record(ContainerState.EXITED, finished_at=T0 + 3, exit_code=1, reason="Error")
    worker = ContainerFacts(restart_count=1, failures=2, will_restart=True, backoff_until=T0 + 13,
                            backoff_message="back-off 10s restarting failed container=c pod=p_default(u)")
    facts = container_facts(exited, facts_to_json(worker))
    assert facts["terminated"]["exitCode"] == 1 and facts["terminated"]["reason"] == "Error"
    assert facts["terminated"]["finishedAt"] == "2023-11-14T22:13:23Z"
    state = container_state(facts, never_alive, T0 + 5, True)
    assert state == {"waiting": {"reason": "CrashLoopBackOff", "message": worker.backoff_message}}


def test_a_create_failure_hides_the_instance_before_it() -> None:
    previous = record(ContainerState.EXITED, finished_at=T0 + 3, exit_code=1, reason="Error")
    worker = ContainerFacts(restart_count=2, waiting_reason="CreateContainerConfigError", waiting_message="no user",
                            last_terminated=ContainerRecord.from_json(previous))
    facts = container_facts(previous, facts_to_json(worker))
    assert "pid" not in facts and "terminated" not in facts
    assert facts["waiting"] == {"reason": "CreateContainerConfigError", "message": "no user"}
    assert facts["lastTerminated"]["exitCode"] == 1
    assert container_state(facts, never_alive, T0 + 5, True) == {"waiting": facts["waiting"]}


def test_an_instance_that_ended_unseen() -> None:
    unknown = record(ContainerState.UNKNOWN, finished_at=T0 + 3, exit_code=137, reason="ContainerStatusUnknown")
    facts = container_facts(unknown, facts_to_json(ContainerFacts()))
    assert facts["terminated"]["exitCode"] == 137 and facts["terminated"]["reason"] == "ContainerStatusUnknown"


def test_post_start_running_is_not_running_yet() -> None:
    facts = container_facts(record(ContainerState.RUNNING), facts_to_json(ContainerFacts(post_start=HookState.RUNNING)))
    assert container_state(facts, lambda pid, st: True, T0, True) == {"waiting": {"reason": "ContainerCreating"}}


def test_facts_round_trip() -> None:
    worker = ContainerFacts(restart_count=3, failures=2, will_restart=True, backoff_until=T0, backoff_message="m",
                            create_failures=1, retry_create_at=T0 + 1, waiting_reason="ErrImagePull",
                            waiting_message="x", post_start=HookState.FAILED, started=True, ready=True,
                            last_terminated=ContainerRecord.from_json(record(ContainerState.EXITED)))
    assert facts_from_json(facts_to_json(worker)) == worker
    assert facts_from_json(None) == ContainerFacts()
