"""The pod worker's policy (pyrunc/worker/plan.py), root-free: the kubelet's rules as tables.

Most tests build a PodView by hand and read the PodActions. `Sim` is a tiny executor that carries
the actions out on records in memory, with a FakeClock, for the cases that need several rounds
(back-off growth, init and sidecar ordering, termination stages); the pod phase the facts lead to
is read through pyrunc.status.pod_status, as the read verbs show it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pyrunc.clock import FakeClock
from pyrunc.runtime.records import ContainerRecord, ContainerState
from pyrunc.spec.load import pod_from_dict
from pyrunc.spec.model import Pod
from pyrunc.status import pod_status
from pyrunc.worker.backoff import Backoff
from pyrunc.worker.plan import (
    ContainerFacts, ContainerView, Deletion, HookState, Kind, KillContainer, KillReason, KillRequest, PodActions,
    PodView, StartContainer, compute_pod_actions, kind_of, launch_batches, on_container_exit, on_create_failure,
    on_post_start_done,
    on_probe_result, on_started, restart_policy,
)

T0 = 1_700_000_000.0
UID = "0b6f3a52-1c1e-4a43-9d6f-6f2b1a0c7e11"
BACKOFF = Backoff()
RUNNING, EXITED, CREATED, UNKNOWN = ContainerState.RUNNING, ContainerState.EXITED, ContainerState.CREATED, ContainerState.UNKNOWN
INIT, SIDECAR, APP = Kind.INIT, Kind.SIDECAR, Kind.APP


# ---------------------------------------------------------------- builders
def manifest(containers: tuple[str, ...] = ("web",), init: tuple[str, ...] = (), sidecars: tuple[str, ...] = (),
             policy: str = "Always", grace: int = 30, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A pod manifest; `init` names init containers in order, those also in `sidecars` are native sidecars;
    `extra` adds fields to a container by name."""
    extra = extra or {}

    def c(name: str, sidecar: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"name": name, "image": "busybox:1.36"}
        if sidecar:
            d["restartPolicy"] = "Always"
        return d | extra.get(name, {})

    spec: dict[str, Any] = {"restartPolicy": policy, "terminationGracePeriodSeconds": grace,
                            "containers": [c(n) for n in containers]}
    if init:
        spec["initContainers"] = [c(n, n in sidecars) for n in init]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": UID}, "spec": spec}


def make_pod(**kw: Any) -> Pod:
    return pod_from_dict(manifest(**kw), "pod.yaml")


def rec(name: str, state: ContainerState, code: int = 0, started: float = T0, finished: float = 0.0,
        attempt: int = 0) -> ContainerRecord:
    return ContainerRecord(id=f"{name}-{attempt}".ljust(64, "0"), name=name, attempt=attempt, state=state,
                           created_at=started, started_at=started, pid=100 + attempt if state is RUNNING else 0,
                           finished_at=finished if state in (EXITED, UNKNOWN) else 0.0, exit_code=code)


def running(name: str, attempt: int = 0) -> ContainerRecord:
    return rec(name, RUNNING, attempt=attempt)


def exited(name: str, code: int, attempt: int = 0, started: float = T0, finished: float = T0 + 1) -> ContainerRecord:
    return rec(name, EXITED, code=code, started=started, finished=finished, attempt=attempt)


STARTED = ContainerFacts(started=True, ready=True)


def cv(name: str, kind: Kind = APP, instance: ContainerRecord | None = None, facts: ContainerFacts | None = None,
       **kw: Any) -> ContainerView:
    if facts is None:
        facts = STARTED if instance is not None and instance.state is RUNNING else ContainerFacts()
    return ContainerView(name=name, kind=kind, instance=instance, facts=facts, **kw)


def view(*containers: ContainerView, **kw: Any) -> PodView:
    kw.setdefault("volumes_ready", True)
    return PodView(containers=containers, **kw)


def plan(pod: Pod, v: PodView, now: float = T0 + 1, backoff: Backoff = BACKOFF) -> PodActions:
    return compute_pod_actions(pod, v, now, backoff)


def starts(actions: PodActions) -> list[tuple[str, int]]:
    return [(s.name, s.attempt) for s in actions.start]


def kills(actions: PodActions) -> list[tuple[str, float]]:
    return [(k.name, k.grace) for k in actions.kill]


# ---------------------------------------------------------------- status, as the read verbs show it
def _term(r: ContainerRecord) -> dict[str, Any]:
    code = 137 if r.state is UNKNOWN else r.exit_code
    return {"exitCode": code, "reason": r.reason or ("Completed" if code == 0 else "Error"),
            "startedAt": "", "finishedAt": "", "containerID": r.id}


def status_record(c: ContainerView) -> dict[str, Any]:
    """The per-container facts in the shape pyrunc.status reads (test-side adapter)."""
    f, inst = c.facts, c.instance
    d: dict[str, Any] = {"restartCount": f.restart_count, "willRestart": f.will_restart, "backoffUntil": f.backoff_until,
                         "backoffMessage": f.backoff_message, "started": f.started, "ready": f.ready,
                         "postStartPending": f.post_start is HookState.RUNNING}
    if f.waiting_reason:
        d["waiting"] = {"reason": f.waiting_reason, "message": f.waiting_message}
    if f.last_terminated is not None:
        d["lastTerminated"] = _term(f.last_terminated)
    if inst is not None:
        d["containerID"] = inst.id
        if inst.state is RUNNING:
            d.update(pid=inst.pid, startTime=1)
        elif inst.state in (EXITED, UNKNOWN):
            d["terminated"] = _term(inst)
    return d


def status(pod_manifest: dict[str, Any], v: PodView, now: float) -> dict[str, Any]:
    records = {c.name: status_record(c) for c in v.containers}
    return pod_status(pod_manifest, records, {"network": None}, lambda pid, st: pid > 0, now, True)


def phase(pod_manifest: dict[str, Any], v: PodView, now: float) -> str:
    return str(status(pod_manifest, v, now)["phase"])


# ---------------------------------------------------------------- a tiny executor over records in memory
class Sim:
    """Carries PodActions out on in-memory records, the way the executor does through the runtime service."""

    def __init__(self, backoff: Backoff = BACKOFF, **kw: Any) -> None:
        self.manifest = manifest(**kw)
        self.pod = pod_from_dict(self.manifest, "pod.yaml")
        self.backoff = backoff
        self.clock = FakeClock(wall=T0)
        names = [c.name for c in self.pod.spec.init_containers] + [c.name for c in self.pod.spec.containers]
        self.containers = {n: ContainerView(n, kind_of(self.pod, n), None, ContainerFacts()) for n in names}
        self.deletion: Deletion | None = None
        self.removed = False
        self.history: list[PodActions] = []

    @property
    def now(self) -> float:
        return self.clock.wall()

    def view(self) -> PodView:
        return PodView(tuple(self.containers.values()), volumes_ready=True, deletion=self.deletion)

    def step(self) -> PodActions:
        actions = compute_pod_actions(self.pod, self.view(), self.now, self.backoff)
        self.history.append(actions)
        for s in actions.start:
            self._start(s)
        for k in actions.kill:
            c = self.containers[k.name]
            self.containers[k.name] = replace(c, stop_deadline=self.now + k.grace)
        if actions.remove_pod:
            self.removed = True
        return actions

    def _start(self, s: StartContainer) -> None:
        c = self.containers[s.name]
        spec = next(x for x in self.pod.spec.init_containers + self.pod.spec.containers if x.name == s.name)
        facts = on_started(self.pod, c, s.attempt, spec.lifecycle is not None and spec.lifecycle.post_start is not None,
                           spec.startup_probe is not None, spec.readiness_probe is not None)
        self.containers[s.name] = ContainerView(s.name, c.kind, rec(s.name, RUNNING, started=self.now, attempt=s.attempt),
                                                facts)

    def exit(self, name: str, code: int) -> None:
        c = self.containers[name]
        assert c.instance is not None and c.instance.state is RUNNING, name
        done = c.instance.with_(state=EXITED, exit_code=code, finished_at=self.now, pid=0)
        facts = on_container_exit(self.pod, c, done, self.deletion is not None, self.backoff)
        self.containers[name] = ContainerView(name, c.kind, done, facts)

    def set(self, name: str, **facts: Any) -> None:
        c = self.containers[name]
        self.containers[name] = replace(c, facts=replace(c.facts, **facts))

    def phase(self) -> str:
        return phase(self.manifest, self.view(), self.now)

    def state(self, name: str) -> dict[str, Any]:
        st = status(self.manifest, self.view(), self.now)
        for s in st["containerStatuses"] + st.get("initContainerStatuses", []):
            if s["name"] == name:
                return dict(s)
        raise KeyError(name)


# ================================================================ kinds and restart policies
@pytest.mark.parametrize(("pod_policy", "name", "kind", "policy"), [
    ("Always", "web", APP, "Always"),
    ("OnFailure", "web", APP, "OnFailure"),
    ("Never", "web", APP, "Never"),
    # An init container is only re-run to make it succeed: Always becomes OnFailure.
    ("Always", "setup", INIT, "OnFailure"),
    ("OnFailure", "setup", INIT, "OnFailure"),
    ("Never", "setup", INIT, "Never"),
    # A native sidecar always restarts, whatever the pod's policy.
    ("Always", "proxy", SIDECAR, "Always"),
    ("OnFailure", "proxy", SIDECAR, "Always"),
    ("Never", "proxy", SIDECAR, "Always"),
])
def test_kind_and_restart_policy(pod_policy: str, name: str, kind: Kind, policy: str) -> None:
    pod = make_pod(init=("proxy", "setup"), sidecars=("proxy",), policy=pod_policy)
    assert kind_of(pod, name) is kind
    assert restart_policy(pod, name) == policy


def test_kind_of_an_unknown_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        kind_of(make_pod(), "nope")


# ================================================================ restart policies × exit codes
# (pod policy, exit code, will restart, phase) for one app container that ran once and exited.
APP_EXITS = [
    ("Always", 0, True, "Running"),
    ("Always", 1, True, "Running"),
    ("Always", 137, True, "Running"),
    ("OnFailure", 0, False, "Succeeded"),
    ("OnFailure", 1, True, "Running"),
    ("OnFailure", 137, True, "Running"),
    ("Never", 0, False, "Succeeded"),
    ("Never", 1, False, "Failed"),
    ("Never", 137, False, "Failed"),
]


@pytest.mark.parametrize(("policy", "code", "restarts", "pod_phase"), APP_EXITS)
def test_app_container_exit(policy: str, code: int, restarts: bool, pod_phase: str) -> None:
    sim = Sim(policy=policy)
    assert starts(sim.step()) == [("web", 0)]
    sim.clock.advance(5)
    sim.exit("web", code)
    facts = sim.containers["web"].facts
    assert facts.will_restart is restarts
    assert (facts.ready, facts.started, facts.post_start) == (False, False, HookState.NONE)
    assert sim.phase() == pod_phase
    actions = sim.step()
    # The first crash restarts at once (the kubelet's back-off starts at the second).
    assert starts(actions) == ([("web", 1)] if restarts else [])
    assert actions.wake_at is None
    if restarts:
        assert sim.containers["web"].facts.restart_count == 1
        assert sim.phase() == "Running"


# (pod policy, exit code, will restart, phase) for the one init container of a pod with one app container.
INIT_EXITS = [
    ("Always", 0, False, "Pending"),  # done; the app container is only being created
    ("Always", 1, True, "Pending"),
    ("Always", 137, True, "Pending"),
    ("OnFailure", 0, False, "Pending"),
    ("OnFailure", 1, True, "Pending"),  # a failed init container is retried: the pod stays Pending
    ("OnFailure", 137, True, "Pending"),
    ("Never", 0, False, "Pending"),
    ("Never", 1, False, "Failed"),  # ... unless the pod never restarts: it has failed
    ("Never", 137, False, "Failed"),
]


@pytest.mark.parametrize(("policy", "code", "restarts", "pod_phase"), INIT_EXITS)
def test_init_container_exit(policy: str, code: int, restarts: bool, pod_phase: str) -> None:
    sim = Sim(policy=policy, init=("setup",))
    assert starts(sim.step()) == [("setup", 0)]
    sim.clock.advance(5)
    sim.exit("setup", code)
    assert sim.containers["setup"].facts.will_restart is restarts
    assert sim.phase() == pod_phase
    expected = [("setup", 1)] if restarts else [("web", 0)] if code == 0 else []
    actions = sim.step()
    assert starts(actions) == expected
    if code == 0:
        assert sim.phase() == "Running"
    elif not restarts:
        assert actions == PodActions()  # a failed pod starts nothing and waits for nothing


def test_failed_init_container_on_failure_crash_loops_pending_never_fails() -> None:
    on_failure = Sim(policy="OnFailure", init=("setup",))
    never = Sim(policy="Never", init=("setup",))
    for sim in (on_failure, never):
        sim.step()
        sim.exit("setup", 1)
    assert on_failure.phase() == "Pending"
    assert starts(on_failure.step()) == [("setup", 1)]  # restarted, the app container still waits
    on_failure.exit("setup", 1)
    assert on_failure.state("setup")["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert on_failure.phase() == "Pending"
    assert never.phase() == "Failed"
    assert never.step().start == ()


@pytest.mark.parametrize(("policy", "pod_phase"), [("Always", "Pending"), ("OnFailure", "Pending"), ("Never", "Failed")])
def test_failed_init_container_not_restarted_fails_the_pod_only_under_never(policy: str, pod_phase: str) -> None:
    """A failed init container shown terminated (it exited while the pod was being deleted): only a
    Never pod has failed; otherwise the pod is still Pending (the kubelet's getPhase)."""
    sim = Sim(policy=policy, init=("setup",))
    sim.step()
    sim.deletion = Deletion(sim.now + 30)
    sim.exit("setup", 1)
    assert sim.state("setup")["state"]["terminated"]["exitCode"] == 1
    assert sim.phase() == pod_phase


@pytest.mark.parametrize(("policy", "restarts", "pod_phase"), [
    ("Always", True, "Running"), ("OnFailure", True, "Running"), ("Never", False, "Failed")])
def test_unknown_exit_counts_as_137(policy: str, restarts: bool, pod_phase: str) -> None:
    """An instance that ended while no supervisor watched: exit code unknown, taken as 137 (killed)."""
    pod = make_pod(policy=policy)
    gone = rec("web", UNKNOWN, code=0, finished=T0 + 50)
    facts = on_container_exit(pod, cv("web", instance=running("web")), gone, False, BACKOFF)
    assert facts.will_restart is restarts
    v = view(cv("web", instance=gone, facts=facts))
    assert phase(manifest(policy=policy), v, T0 + 50) == pod_phase


def test_unknown_init_exit_is_not_success() -> None:
    pod = make_pod(policy="OnFailure", init=("setup",))
    gone = rec("setup", UNKNOWN, code=0, finished=T0 + 5)
    facts = on_container_exit(pod, cv("setup", INIT, running("setup")), gone, False, BACKOFF)
    v = view(cv("setup", INIT, gone, facts), cv("web"))
    assert starts(plan(pod, v, T0 + 5)) == [("setup", 1)]  # retried; web still waits


def test_exit_while_deleting_never_restarts() -> None:
    pod = make_pod(policy="Always")
    facts = on_container_exit(pod, cv("web", instance=running("web")), exited("web", 1), True, BACKOFF)
    assert facts.will_restart is False


# ================================================================ volumes come first
@pytest.mark.parametrize(("ready", "retry_at", "mount", "started", "wake"), [
    (False, 0.0, True, [], None),
    (False, T0 + 1, True, [], None),  # due exactly now
    (False, T0 + 9, False, [], T0 + 9),  # a failed mount is retried later; nothing starts meanwhile
    (True, 0.0, False, [("setup", 0)], None),
])
def test_volumes_before_any_container(ready: bool, retry_at: float, mount: bool, started: list[tuple[str, int]],
                                      wake: float | None) -> None:
    pod = make_pod(init=("setup",), containers=("web",))
    actions = plan(pod, view(cv("setup", INIT), cv("web"), volumes_ready=ready, volume_retry_at=retry_at), T0 + 1)
    assert actions.mount_volumes is mount
    assert starts(actions) == started
    assert actions.wake_at == wake


def test_no_restart_before_volumes_are_ready() -> None:
    pod = make_pod()
    f = ContainerFacts(will_restart=True, restart_count=2)
    actions = plan(pod, view(cv("web", APP, exited("web", 1), f), volumes_ready=False, volume_retry_at=T0 + 30), T0 + 1)
    assert (actions.start, actions.mount_volumes, actions.wake_at) == ((), False, T0 + 30)


# ================================================================ init containers in order
I3: dict[str, Any] = dict(init=("a", "b", "c"), containers=("web", "api"))
DONE = ContainerFacts()  # an init container that exited 0 has no restart pending


def init_view(a: ContainerView, b: ContainerView | None = None, c: ContainerView | None = None) -> PodView:
    return view(a, b or cv("b", INIT), c or cv("c", INIT), cv("web"), cv("api"))


@pytest.mark.parametrize(("v", "expected", "wake"), [
    pytest.param(init_view(cv("a", INIT)), [("a", 0)], None, id="first-init-first"),
    pytest.param(init_view(cv("a", INIT, running("a"))), [], None, id="running-init-blocks"),
    pytest.param(init_view(cv("a", INIT, rec("a", CREATED))), [], None, id="created-init-blocks"),
    pytest.param(init_view(cv("a", INIT, exited("a", 0), DONE)), [("b", 0)], None, id="done-then-next"),
    pytest.param(init_view(cv("a", INIT, exited("a", 0), DONE), cv("b", INIT, exited("b", 0), DONE)), [("c", 0)], None,
                 id="two-done-then-third"),
    pytest.param(init_view(cv("a", INIT, exited("a", 0), DONE), cv("b", INIT, exited("b", 0), DONE),
                           cv("c", INIT, exited("c", 0), DONE)), [("web", 0), ("api", 0)], None, id="all-done-apps"),
    pytest.param(init_view(cv("a", INIT, exited("a", 1), ContainerFacts(will_restart=True, backoff_until=T0 + 20))),
                 [], T0 + 20, id="failed-init-backs-off"),
    pytest.param(init_view(cv("a", INIT, exited("a", 1), ContainerFacts(will_restart=True, restart_count=3,
                                                                         backoff_until=T0))),
                 [("a", 4)], None, id="failed-init-restarts-alone"),
    pytest.param(init_view(cv("a", INIT, exited("a", 1), ContainerFacts())), [], None, id="failed-init-never"),
    # Exit 0 with a restart pending (a stale willRestart) is not success.
    pytest.param(init_view(cv("a", INIT, exited("a", 0), ContainerFacts(will_restart=True, backoff_until=T0 + 20))),
                 [], T0 + 20, id="exit0-with-restart-pending-blocks"),
    pytest.param(init_view(cv("a", INIT, rec("a", UNKNOWN, code=0), DONE)), [], None, id="unknown-is-not-success"),
])
def test_init_containers_one_at_a_time(v: PodView, expected: list[tuple[str, int]], wake: float | None) -> None:
    actions = plan(make_pod(**I3), v, T0 + 1)
    assert starts(actions) == expected
    assert actions.wake_at == wake
    assert actions.kill == ()


def test_init_sequence_end_to_end() -> None:
    sim = Sim(**I3)
    order: list[list[tuple[str, int]]] = []
    for name in ("a", "b", "c"):
        order.append(starts(sim.step()))
        assert sim.step().start == ()  # nothing more while it runs
        assert sim.phase() == "Pending"
        sim.clock.advance(1)
        sim.exit(name, 0)
    order.append(starts(sim.step()))
    assert order == [[("a", 0)], [("b", 0)], [("c", 0)], [("web", 0), ("api", 0)]]
    assert sim.phase() == "Running"


# ================================================================ native sidecars
SC: dict[str, Any] = dict(init=("proxy", "setup"), sidecars=("proxy",), containers=("web",))


def sc_view(proxy: ContainerView, setup: ContainerView | None = None, web: ContainerView | None = None) -> PodView:
    return view(proxy, setup or cv("setup", INIT), web or cv("web"))


@pytest.mark.parametrize(("v", "expected", "wake"), [
    pytest.param(sc_view(cv("proxy", SIDECAR)), [("proxy", 0)], None, id="sidecar-first"),
    pytest.param(sc_view(cv("proxy", SIDECAR, rec("proxy", CREATED))), [], None, id="created-not-started"),
    pytest.param(sc_view(cv("proxy", SIDECAR, running("proxy"), ContainerFacts(started=False))), [], None,
                 id="startup-probe-pending"),
    pytest.param(sc_view(cv("proxy", SIDECAR, running("proxy"),
                            ContainerFacts(started=True, post_start=HookState.RUNNING))), [], None,
                 id="post-start-running"),
    pytest.param(sc_view(cv("proxy", SIDECAR, running("proxy"),
                            ContainerFacts(started=True, post_start=HookState.SUCCEEDED))), [("setup", 0)], None,
                 id="post-start-done"),
    pytest.param(sc_view(cv("proxy", SIDECAR, running("proxy"), ContainerFacts(started=True, ready=False))),
                 [("setup", 0)], None, id="started-not-ready-is-enough"),
    pytest.param(sc_view(cv("proxy", SIDECAR, running("proxy")), cv("setup", INIT, exited("setup", 0), DONE)),
                 [("web", 0)], None, id="init-done-apps"),
    # Started once, now dead and backing off: the next init container waits for it again.
    pytest.param(sc_view(cv("proxy", SIDECAR, exited("proxy", 1),
                            ContainerFacts(will_restart=True, restart_count=1, backoff_until=T0 + 10))),
                 [], T0 + 10, id="dead-sidecar-blocks"),
    # Only a live sidecar counts, whatever its facts last said.
    pytest.param(sc_view(cv("proxy", SIDECAR, exited("proxy", 1),
                            ContainerFacts(started=True, will_restart=True, restart_count=1, backoff_until=T0 + 10))),
                 [], T0 + 10, id="dead-sidecar-with-stale-started-blocks"),
    # A sidecar restarts whatever runs after it; the init container it served is not touched.
    pytest.param(sc_view(cv("proxy", SIDECAR, exited("proxy", 0), ContainerFacts(will_restart=True, restart_count=1)),
                         cv("setup", INIT, running("setup"))), [("proxy", 2)], None, id="sidecar-restarts"),
    pytest.param(sc_view(cv("proxy", SIDECAR, exited("proxy", 0), ContainerFacts(will_restart=True, restart_count=1)),
                         cv("setup", INIT, exited("setup", 0), DONE), cv("web", APP, running("web"))),
                 [("proxy", 2)], None, id="sidecar-restarts-beside-apps"),
])
def test_sidecar_ordering(v: PodView, expected: list[tuple[str, int]], wake: float | None) -> None:
    actions = plan(make_pod(**SC), v, T0 + 1)
    assert starts(actions) == expected
    assert actions.wake_at == wake


@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never"])
@pytest.mark.parametrize("code", [0, 1])
def test_sidecar_restarts_always(policy: str, code: int) -> None:
    pod = make_pod(policy=policy, **SC)
    facts = on_container_exit(pod, cv("proxy", SIDECAR, running("proxy")), exited("proxy", code), False, BACKOFF)
    assert facts.will_restart is True


def test_sidecar_with_startup_probe_gates_the_next_init_container() -> None:
    probe = {"exec": {"command": ["true"]}}
    sim = Sim(extra={"proxy": {"startupProbe": probe}}, **SC)
    assert starts(sim.step()) == [("proxy", 0)]
    assert sim.containers["proxy"].facts.started is False
    assert sim.step().start == ()
    facts, kill = on_probe_result(sim.pod, sim.containers["proxy"], "startup", True, True, False, False)
    assert kill is None and facts.started
    sim.set("proxy", started=facts.started, ready=facts.ready)
    assert starts(sim.step()) == [("setup", 0)]
    sim.exit("setup", 0)
    assert starts(sim.step()) == [("web", 0)]
    assert sim.phase() == "Running"


def test_sidecar_does_not_hold_the_pod_in_pending_or_fail_a_never_pod() -> None:
    sim = Sim(policy="Never", **SC)
    sim.step()
    sim.step()  # setup
    sim.exit("setup", 0)
    sim.step()  # web
    sim.exit("web", 0)
    assert sim.phase() == "Succeeded"


# ================================================================ restarts and back-off
def crash_loop(sim: Sim, name: str, crashes: int, ran_for: float = 1.0) -> list[float]:
    """Run `name` into the ground `crashes` times; the delay before each restart, as the plan set it."""
    delays = []
    assert starts(sim.step()) == [(name, 0)]
    for n in range(crashes):
        sim.clock.advance(ran_for)
        sim.exit(name, 1)
        exit_time = sim.now
        actions = sim.step()
        if actions.start == ():
            assert actions.wake_at is not None and actions.wake_at > sim.now
            # Nothing starts before the back-off ends, however often the worker looks.
            sim.clock.advance(actions.wake_at - sim.now - 0.5)
            assert sim.step().start == ()
            assert sim.state(name)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            sim.clock.advance(0.5)
            actions = sim.step()
        assert starts(actions) == [(name, n + 1)]
        delays.append(sim.now - exit_time)
    return delays


def test_backoff_growth_over_consecutive_failures() -> None:
    sim = Sim(policy="Always")
    assert crash_loop(sim, "web", 8) == [0, 10, 20, 40, 80, 160, 300, 300]
    assert sim.containers["web"].facts.restart_count == 8


def test_backoff_growth_for_a_failing_init_container() -> None:
    sim = Sim(policy="OnFailure", init=("setup",))
    assert crash_loop(sim, "setup", 5) == [0, 10, 20, 40, 80]
    assert sim.phase() == "Pending"


def test_backoff_honours_a_configured_maximum() -> None:
    assert crash_loop(Sim(backoff=Backoff(max_delay=60.0)), "web", 7) == [0, 10, 20, 40, 60, 60, 60]
    assert crash_loop(Sim(backoff=Backoff(max_delay=4.0)), "web", 4) == [0, 4, 4, 4]


@pytest.mark.parametrize(("ran_for", "delay"), [
    (599.0, 300.0),  # not quite ten minutes: one more failure, still capped
    (600.0, 0.0),  # ten minutes of running: the back-off starts over (an immediate restart)
    (3000.0, 0.0),
])
def test_backoff_resets_after_ten_minutes_of_running(ran_for: float, delay: float) -> None:
    sim = Sim()
    crash_loop(sim, "web", 8)
    sim.clock.advance(ran_for)
    sim.exit("web", 1)
    f = sim.containers["web"].facts
    assert f.backoff_until == sim.now + delay
    actions = sim.step()
    assert starts(actions) == ([("web", 9)] if delay == 0 else [])
    if delay:
        assert actions.wake_at == sim.now + delay
    else:  # and the next crash backs off 10 s, not 300 s
        sim.clock.advance(1)
        sim.exit("web", 1)
        assert sim.containers["web"].facts.backoff_until == sim.now + 10


def test_backoff_counts_exit_0_under_always() -> None:
    """Under Always a clean exit is restarted, and backs off like a crash."""
    sim = Sim(policy="Always")
    sim.step()
    delays = []
    for _ in range(3):
        sim.clock.advance(1)
        sim.exit("web", 0)
        delays.append(sim.containers["web"].facts.backoff_until - sim.now)
        actions = sim.step()
        if actions.wake_at is not None:
            sim.clock.advance(actions.wake_at - sim.now)
            assert starts(sim.step()) != []
    assert delays == [0, 10, 20]


def test_backoff_message_and_crash_loop_status() -> None:
    sim = Sim()
    crash_loop(sim, "web", 1)
    sim.clock.advance(3)
    sim.exit("web", 2)
    f = sim.containers["web"].facts
    assert f.backoff_message == f"back-off 10s restarting failed container=web pod=p_default({UID})"
    st = sim.state("web")
    assert st["state"]["waiting"] == {"reason": "CrashLoopBackOff", "message": f.backoff_message}
    assert st["lastState"]["terminated"]["exitCode"] == 2
    assert st["restartCount"] == 1
    assert sim.phase() == "Running"


def test_restart_keeps_the_previous_instance_as_last_terminated() -> None:
    sim = Sim()
    sim.step()
    first = sim.containers["web"].instance
    sim.clock.advance(2)
    sim.exit("web", 3)
    sim.step()
    f = sim.containers["web"].facts
    assert f.last_terminated is not None and first is not None
    assert (f.last_terminated.id, f.last_terminated.exit_code) == (first.id, 3)
    assert sim.state("web")["lastState"]["terminated"]["exitCode"] == 3
    assert sim.state("web")["state"].get("running") is not None


def test_restarts_do_not_wait_for_each_other() -> None:
    pod = make_pod(containers=("web", "api", "db"))
    v = view(cv("web", APP, exited("web", 1), ContainerFacts(will_restart=True, restart_count=1, backoff_until=T0 + 20)),
             cv("api", APP, exited("api", 1), ContainerFacts(will_restart=True, restart_count=4, backoff_until=T0)),
             cv("db", APP, exited("db", 1), ContainerFacts(will_restart=True, restart_count=2, backoff_until=T0 + 10)))
    actions = plan(pod, v, T0 + 1)
    assert starts(actions) == [("api", 5)]
    assert actions.wake_at == T0 + 10  # the earliest thing due


@pytest.mark.parametrize("state", [RUNNING, CREATED])
def test_no_second_start_while_an_instance_is_there(state: ContainerState) -> None:
    f = ContainerFacts(will_restart=True, restart_count=1)  # stale: the new instance is already there
    assert plan(make_pod(), view(cv("web", APP, rec("web", state, attempt=2), f))).start == ()


# ================================================================ create failures
def test_create_failure_facts_and_retry_delays() -> None:
    c = cv("web")
    retries = []
    for n in range(1, 6):
        f = on_create_failure(c, 0, "ErrImagePull", "image busybox:nope not found", T0, BACKOFF)
        assert (f.waiting_reason, f.waiting_message, f.create_failures) == ("ErrImagePull", "image busybox:nope not found", n)
        retries.append(f.retry_create_at - T0)
        c = replace(c, facts=f)
    # The kubelet's image back-off: 10 s, doubling.
    assert retries == [10, 20, 40, 80, 160]


def test_create_failure_retry_is_at_least_one_second() -> None:
    f = on_create_failure(cv("web"), 0, "CreateContainerError", "boom", T0, Backoff(max_delay=0.2))
    assert f.retry_create_at == T0 + 1


@pytest.mark.parametrize(("instance", "now", "expected", "wake"), [
    (None, T0 + 5, [], T0 + 10),
    (None, T0 + 10, [("web", 0)], None),  # the same attempt again
    (rec("web", CREATED), T0 + 10, [("web", 0)], None),  # created, never started: that one failed
    (rec("web", CREATED), T0 + 5, [], T0 + 10),
])
def test_create_failure_is_retried_at_its_time(instance: ContainerRecord | None, now: float,
                                                expected: list[tuple[str, int]], wake: float | None) -> None:
    f = on_create_failure(cv("web"), 0, "CreateContainerConfigError", "no such user", T0, BACKOFF)
    actions = plan(make_pod(), view(cv("web", APP, instance, f)), now)
    assert starts(actions) == expected
    assert actions.wake_at == wake


def test_create_failure_of_a_restart_retries_the_same_attempt() -> None:
    pod = make_pod()
    prev = exited("web", 1, attempt=2)
    f = ContainerFacts(will_restart=True, restart_count=2, failures=2, backoff_until=T0 + 10)
    f = on_create_failure(cv("web", APP, prev, f), 3, "CreateContainerError", "boom", T0 + 10, BACKOFF)
    # The restart was made: its number shows (as before the failure), and it is retried as itself.
    assert not f.will_restart and f.restart_count == 3 and f.last_terminated == prev
    assert starts(plan(pod, view(cv("web", APP, prev, f)), T0 + 15)) == []
    assert plan(pod, view(cv("web", APP, prev, f)), T0 + 15).wake_at == T0 + 20
    assert starts(plan(pod, view(cv("web", APP, prev, f)), T0 + 20)) == [("web", 3)]


def test_create_failure_of_an_init_container_holds_the_next_one() -> None:
    pod = make_pod(init=("a", "b"))
    f = on_create_failure(cv("a", INIT), 0, "ErrImagePull", "not found", T0, BACKOFF)
    actions = plan(pod, view(cv("a", INIT, None, f), cv("b", INIT), cv("web")), T0 + 1)
    assert (actions.start, actions.wake_at) == ((), T0 + 10)


def test_started_clears_create_failures() -> None:
    pod = make_pod()
    f = on_create_failure(cv("web"), 0, "ErrImagePull", "not found", T0, BACKOFF)
    f = on_started(pod, cv("web", APP, None, f), 0, False, False, False)
    assert (f.create_failures, f.retry_create_at, f.waiting_reason, f.waiting_message) == (0, 0.0, "", "")
    assert plan(pod, view(cv("web", APP, running("web"), f))).start == ()


# ================================================================ started / ready, postStart, probes
@pytest.mark.parametrize(("post_start", "startup", "readiness", "hook", "started", "ready"), [
    (False, False, False, HookState.NONE, True, True),
    (False, False, True, HookState.NONE, True, False),  # ready once the readiness probe says so
    (False, True, False, HookState.NONE, False, False),  # not started before the startup probe succeeds
    (False, True, True, HookState.NONE, False, False),
    (True, False, False, HookState.RUNNING, False, False),  # not Running until postStart returns
    (True, True, True, HookState.RUNNING, False, False),
])
def test_on_started(post_start: bool, startup: bool, readiness: bool, hook: HookState, started: bool, ready: bool) -> None:
    f = on_started(make_pod(), cv("web"), 3, post_start, startup, readiness)
    assert (f.restart_count, f.will_restart, f.post_start, f.started, f.ready) == (3, False, hook, started, ready)


@pytest.mark.parametrize(("startup", "readiness", "started", "ready"), [
    (False, False, True, True), (False, True, True, False), (True, False, False, False), (True, True, False, False)])
def test_post_start_success(startup: bool, readiness: bool, started: bool, ready: bool) -> None:
    c = cv("web", APP, running("web"), ContainerFacts(post_start=HookState.RUNNING))
    f, kill = on_post_start_done(make_pod(), c, True, startup, readiness)
    assert kill is None
    assert (f.post_start, f.started, f.ready) == (HookState.SUCCEEDED, started, ready)


def test_post_start_failure_kills_with_the_pods_grace() -> None:
    pod = make_pod(grace=45)
    c = cv("web", APP, running("web"), ContainerFacts(post_start=HookState.RUNNING))
    f, kill = on_post_start_done(pod, c, False, False, False)
    assert kill == KillRequest(KillReason.POST_START, 45, "FailedPostStartHook: container web will be killed")
    assert (f.post_start, f.started, f.ready) == (HookState.FAILED, False, False)
    actions = plan(pod, view(replace(c, facts=f, kill_request=kill)))
    assert actions.kill == (KillContainer("web", 45, KillReason.POST_START,
                                          "FailedPostStartHook: container web will be killed"),)


@pytest.mark.parametrize("c", [
    cv("web", APP, exited("web", 0), ContainerFacts()),  # it is gone
    cv("web", APP, running("web"), ContainerFacts(started=True, ready=True)),  # no hook is running
])
def test_post_start_result_for_no_running_hook_changes_nothing(c: ContainerView) -> None:
    assert on_post_start_done(make_pod(), c, False, False, False) == (c.facts, None)


LIVENESS = {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 5}
PROBED: dict[str, Any] = dict(grace=40, extra={"web": {"livenessProbe": LIVENESS, "startupProbe": {"exec": {"command": ["true"]}}},
                               "api": {"livenessProbe": {"exec": {"command": ["true"]}}}}, containers=("web", "api"))


@pytest.mark.parametrize(("name", "facts", "kind", "result", "changed", "kill", "has_readiness", "after", "wanted"), [
    # readiness: only a change moves ready, and not before the container has started
    ("web", STARTED, "readiness", False, True, False, True, (True, False), None),
    ("web", ContainerFacts(started=True), "readiness", True, True, False, True, (True, True), None),
    ("web", ContainerFacts(started=True), "readiness", True, False, False, True, (True, False), None),
    ("web", ContainerFacts(), "readiness", True, True, False, True, (False, False), None),
    # startup: success starts it, and readies it if nothing else decides readiness
    ("web", ContainerFacts(), "startup", True, True, False, False, (True, True), None),
    ("web", ContainerFacts(), "startup", True, True, False, True, (True, False), None),
    ("web", ContainerFacts(), "startup", False, True, False, False, (False, False), None),
    ("web", ContainerFacts(), "startup", None, False, False, False, (False, False), None),
    # kills: the probe's terminationGracePeriodSeconds, else the pod's
    ("web", STARTED, "liveness", False, True, True, False, (True, True),
     KillRequest(KillReason.LIVENESS, 5, "Container web failed liveness probe, will be restarted")),
    ("api", STARTED, "liveness", False, True, True, False, (True, True),
     KillRequest(KillReason.LIVENESS, 40, "Container api failed liveness probe, will be restarted")),
    ("web", ContainerFacts(), "startup", False, True, True, False, (False, False),
     KillRequest(KillReason.STARTUP, 40, "Container web failed startup probe, will be restarted")),
    ("web", STARTED, "liveness", False, False, False, False, (True, True), None),  # below the threshold
])
def test_probe_results(name: str, facts: ContainerFacts, kind: str, result: bool | None, changed: bool, kill: bool,
                       has_readiness: bool, after: tuple[bool, bool], wanted: KillRequest | None) -> None:
    f, req = on_probe_result(make_pod(**PROBED), cv(name, APP, running(name), facts), kind, result, changed, kill,
                             has_readiness)
    assert (f.started, f.ready) == after
    assert req == wanted


@pytest.mark.parametrize("c", [
    cv("web", APP, running("web"), STARTED, stop_deadline=T0 + 30),  # being stopped: not judged any more
    cv("web", APP, exited("web", 1), ContainerFacts()),
])
def test_probe_results_for_a_stopping_or_dead_container_are_ignored(c: ContainerView) -> None:
    assert on_probe_result(make_pod(**PROBED), c, "liveness", False, True, True, False) == (c.facts, None)
    assert on_probe_result(make_pod(**PROBED), c, "readiness", False, True, False, True) == (c.facts, None)


def test_unknown_probe_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="probe kind"):
        on_probe_result(make_pod(), cv("web", APP, running("web")), "sideways", True, True, False, False)


def test_liveness_kill_then_restart_end_to_end() -> None:
    sim = Sim(**PROBED)
    sim.step()
    facts, req = on_probe_result(sim.pod, sim.containers["web"], "startup", True, True, False, False)
    sim.set("web", started=facts.started, ready=facts.ready)
    facts, req = on_probe_result(sim.pod, sim.containers["web"], "liveness", False, True, True, False)
    sim.containers["web"] = replace(sim.containers["web"], kill_request=req)
    actions = sim.step()
    assert actions.kill == (KillContainer("web", 5, KillReason.LIVENESS,
                                          "Container web failed liveness probe, will be restarted"),)
    assert sim.step().kill == ()  # a stop under way is not started again
    sim.clock.advance(5)
    sim.exit("web", 137)
    assert starts(sim.step()) == [("web", 1)]


@pytest.mark.parametrize(("c", "killed"), [
    (cv("web", APP, running("web"), kill_request=KillRequest(KillReason.LIVENESS, 7, "m")), [("web", 7)]),
    (cv("web", APP, running("web"), kill_request=KillRequest(KillReason.LIVENESS, 7, "m"), stop_deadline=T0 + 3), []),
    (cv("web", APP, exited("web", 1), kill_request=KillRequest(KillReason.LIVENESS, 7, "m")), []),
    (cv("web", APP, rec("web", CREATED), kill_request=KillRequest(KillReason.STARTUP, 7, "m")), []),
])
def test_kill_requests(c: ContainerView, killed: list[tuple[str, float]]) -> None:
    assert kills(plan(make_pod(), view(c))) == killed


# ================================================================ termination
MAINS_AND_SIDECARS: dict[str, Any] = dict(init=("log", "proxy", "setup"), sidecars=("log", "proxy"), containers=("web", "api"))


def term_view(deadline: float, **states: ContainerView) -> PodView:
    defaults = {"log": cv("log", SIDECAR, running("log")), "proxy": cv("proxy", SIDECAR, running("proxy")),
                "setup": cv("setup", INIT, exited("setup", 0), DONE),
                "web": cv("web", APP, running("web")), "api": cv("api", APP, running("api"))}
    defaults.update(states)
    return view(*defaults.values(), deletion=Deletion(deadline))


def gone(name: str, kind: Kind = APP) -> ContainerView:
    return cv(name, kind, exited(name, 0), ContainerFacts())


NOW = T0 + 10
STOP = "Stopping container {}"


@pytest.mark.parametrize(("v", "killed", "remove", "wake"), [
    # Main containers first, all at once, with what is left of the grace period.
    pytest.param(term_view(NOW + 30), [("web", 30), ("api", 30)], False, NOW + 30, id="mains-first"),
    # Already stopping with that deadline: not again.
    pytest.param(term_view(NOW + 30, web=cv("web", APP, running("web"), stop_deadline=NOW + 30),
                           api=cv("api", APP, running("api"), stop_deadline=NOW + 30)), [], False, NOW + 30,
                 id="no-second-kill"),
    # The executor read its clock a little later than the plan's `now`: the same deadline, no second kill.
    pytest.param(term_view(NOW + 30, web=cv("web", APP, running("web"), stop_deadline=NOW + 30.0005),
                           api=cv("api", APP, running("api"), stop_deadline=NOW + 30)), [], False, NOW + 30,
                 id="same-deadline-read-later"),
    # A shorter grace period given later brings the stop forward ...
    pytest.param(term_view(NOW + 5, web=cv("web", APP, running("web"), stop_deadline=NOW + 30)),
                 [("web", 5), ("api", 5)], False, NOW + 5, id="shortened"),
    # ... a longer one never puts it off (a liveness kill with a 5 s grace keeps it).
    pytest.param(term_view(NOW + 30, web=cv("web", APP, running("web"), stop_deadline=NOW + 5)),
                 [("api", 30)], False, NOW + 30, id="never-lengthened"),
    # Sidecars once no main container runs: the last one first, one at a time.
    pytest.param(term_view(NOW + 20, web=gone("web"), api=gone("api")), [("proxy", 20)], False, NOW + 20,
                 id="last-sidecar-first"),
    pytest.param(term_view(NOW + 20, web=gone("web"), api=gone("api"), proxy=gone("proxy", SIDECAR)), [("log", 20)],
                 False, NOW + 20, id="then-the-one-before"),
    pytest.param(term_view(NOW + 20, web=gone("web")), [("api", 20)], False, NOW + 20, id="sidecars-wait-for-all-mains"),
    pytest.param(term_view(NOW + 20, web=gone("web"), api=gone("api"),
                           proxy=cv("proxy", SIDECAR, running("proxy"), stop_deadline=NOW + 20)), [], False, NOW + 20,
                 id="sidecar-stopping"),
    # A main container still running its init step counts as main.
    pytest.param(term_view(NOW + 20, setup=cv("setup", INIT, running("setup")), web=cv("web"), api=cv("api")),
                 [("setup", 20)], False, NOW + 20, id="init-is-main"),
    # The grace period is over: everything still alive is killed at once.
    pytest.param(term_view(NOW), [("log", 0), ("proxy", 0), ("web", 0), ("api", 0)], False, None, id="grace-over"),
    pytest.param(term_view(NOW - 3, web=cv("web", APP, running("web"), stop_deadline=NOW + 25)),
                 [("log", 0), ("proxy", 0), ("web", 0), ("api", 0)], False, None, id="zero-grace-shortens"),
    # Nothing runs any more: the sandbox goes.
    pytest.param(term_view(NOW + 20, web=gone("web"), api=gone("api"), proxy=gone("proxy", SIDECAR),
                           log=gone("log", SIDECAR)), [], True, None, id="remove-pod"),
    pytest.param(term_view(NOW - 1, web=gone("web"), api=gone("api"), proxy=gone("proxy", SIDECAR),
                           log=gone("log", SIDECAR)), [], True, None, id="remove-pod-after-deadline"),
])
def test_termination(v: PodView, killed: list[tuple[str, float]], remove: bool, wake: float | None) -> None:
    actions = plan(make_pod(**MAINS_AND_SIDECARS), v, NOW)
    assert kills(actions) == killed
    assert all(k.reason is KillReason.DELETION and k.message == STOP.format(k.name) for k in actions.kill)
    assert actions.remove_pod is remove
    assert actions.wake_at == wake
    assert actions.start == () and actions.mount_volumes is False


def test_nothing_starts_while_deleting() -> None:
    pod = make_pod(init=("setup",))
    v = view(cv("setup", INIT, exited("setup", 1), ContainerFacts(will_restart=True, backoff_until=T0)), cv("web"),
             deletion=Deletion(NOW + 30))
    assert plan(pod, v, NOW) == PodActions(remove_pod=True)
    assert plan(pod, replace(v, volumes_ready=False), NOW) == PodActions(remove_pod=True)


def test_termination_end_to_end_reverse_sidecars() -> None:
    sim = Sim(grace=30, **MAINS_AND_SIDECARS)
    for _ in range(3):
        sim.step()
    sim.exit("setup", 0)
    assert starts(sim.step()) == [("web", 0), ("api", 0)]
    sim.deletion = Deletion(sim.now + 30)
    stages = [kills(sim.step())]
    sim.clock.advance(2)
    sim.exit("web", 143)
    stages.append(kills(sim.step()))
    sim.exit("api", 143)
    stages.append(kills(sim.step()))
    sim.clock.advance(1)
    sim.exit("proxy", 0)
    stages.append(kills(sim.step()))
    sim.exit("log", 0)
    final = sim.step()
    assert stages == [[("web", 30), ("api", 30)], [], [("proxy", 28)], [("log", 27)]]
    assert final.remove_pod and sim.removed
    assert not any(c.facts.will_restart for c in sim.containers.values())  # no restart while deleting


def test_force_delete_after_graceful_delete() -> None:
    sim = Sim(grace=30)
    sim.step()
    sim.deletion = Deletion(sim.now + 30)
    assert kills(sim.step()) == [("web", 30)]
    sim.clock.advance(4)
    sim.deletion = Deletion(sim.now)  # delete --grace-period=0 --force
    assert kills(sim.step()) == [("web", 0)]
    assert sim.step().kill == ()  # a SIGKILL under way is not repeated


# ================================================================ wake_at
def test_wake_at_is_the_earliest_thing_due() -> None:
    pod = make_pod(init=("proxy",), sidecars=("proxy",), containers=("web", "api"))
    v = view(cv("proxy", SIDECAR, running("proxy")),
             cv("web", APP, exited("web", 1), ContainerFacts(will_restart=True, backoff_until=T0 + 40)),
             cv("api", APP, None, on_create_failure(cv("api"), 0, "ErrImagePull", "x", T0, BACKOFF)))
    assert plan(pod, v, T0 + 1).wake_at == T0 + 10
    assert plan(pod, v, T0 + 10).wake_at == T0 + 40
    assert plan(pod, v, T0 + 40).wake_at is None


def test_nothing_due_means_no_wake() -> None:
    pod = make_pod(containers=("web", "api"))
    v = view(cv("web", APP, running("web")), cv("api", APP, exited("api", 0), ContainerFacts()))
    assert plan(pod, v) == PodActions()


# ================================================================ eviction
def test_an_evicted_pod_is_killed_at_once_and_nothing_starts_again() -> None:
    pod = make_pod(containers=("web", "api", "db"))
    v = view(cv("web", APP, running("web")),
             cv("api", APP, exited("api", 1), ContainerFacts(will_restart=True, restart_count=1, backoff_until=T0)),
             cv("db", APP, running("db"), stop_deadline=T0 + 30),  # a kill under way is not repeated
             evicted=True)
    actions = plan(pod, v, T0 + 5)
    assert kills(actions) == [("web", 0.0)] and actions.kill[0].reason is KillReason.EVICTION
    assert actions.start == () and not actions.remove_pod and not actions.mount_volumes


def test_an_evicted_pods_exit_does_not_restart() -> None:
    pod = make_pod(policy="Always")
    f = on_container_exit(pod, cv("web", APP, running("web")), exited("web", 137), True, BACKOFF)
    assert not f.will_restart
    assert plan(pod, view(cv("web", APP, exited("web", 137), f), evicted=True), T0 + 100).start == ()


# ---------------------------------------------------------------- launch batches


def test_launch_batches_run_app_containers_together_and_init_containers_alone() -> None:
    kinds = {"i1": Kind.INIT, "s1": Kind.SIDECAR, "s2": Kind.SIDECAR, "a": Kind.APP, "b": Kind.APP, "c": Kind.APP}
    starts = tuple(StartContainer(name, 0) for name in ("s1", "s2", "a", "b", "i1", "c"))
    assert launch_batches(starts, kinds) == [
        (StartContainer("s1", 0),), (StartContainer("s2", 0),), (StartContainer("a", 0), StartContainer("b", 0)),
        (StartContainer("i1", 0),), (StartContainer("c", 0),)]
    assert launch_batches((), kinds) == []
    apps = tuple(StartContainer(name, 1) for name in ("a", "b", "c"))
    assert launch_batches(apps, kinds) == [apps]
