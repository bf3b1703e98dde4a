"""What to do next with one pod: the kubelet's computePodActions, as a pure function.

    compute_pod_actions(pod, view, now, backoff) -> PodActions

`view` is everything the worker knows at `now` (wall-clock seconds): per container the latest
instance's runtime record, the worker's own facts (restart count, back-off, hook and probe results)
and whether a kill is under way; the pod's volumes; whether the pod is being deleted. The answer is
the actions to take now and when to look again. Nothing here does I/O or reads a clock.

The executor (executor.py) calls it after every event (a container exited, a probe or hook finished,
a timer fired, apply, delete), carries out the actions through the runtime service, records the new
facts, and calls it again.

The other pure rules of the worker live here too, so that each exists once:
  restart_policy(pod, name)          the policy a container restarts under (sidecars Always, ...)
  on_container_exit(...)             the worker's facts after an instance exited (back-off, willRestart)
  on_create_failure(...)             ... after an instance could not be created or started
  on_probe_result(...)               ... after a probe outcome (started, ready; a kill request)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from pyrunc.runtime.records import ContainerRecord, ContainerState
from pyrunc.spec.model import Container, Pod, is_sidecar
from pyrunc.status import backoff_message
from pyrunc.worker.backoff import Backoff, should_restart

# kubelet: a preStop hook that is still running when the grace period ends gets this much more, once.
PRESTOP_EXTENSION = 2.0


class Kind(enum.Enum):
    INIT = "init"  # a regular init container: runs to completion, one at a time, in order
    SIDECAR = "sidecar"  # an init container with restartPolicy Always (a native sidecar)
    APP = "app"


class HookState(enum.Enum):
    NONE = "none"  # no postStart hook, or none run yet for this instance
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class KillReason(enum.Enum):
    DELETION = "deletion"  # the pod is being deleted (or replaced)
    LIVENESS = "liveness"  # liveness probe failed its threshold
    STARTUP = "startup"  # startup probe failed its threshold
    POST_START = "postStart"  # the postStart hook failed
    EVICTION = "eviction"  # the node evicted the pod (a disk emptyDir passed its sizeLimit)


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    """The pod worker's facts about one container of the pod, across its instances (persisted)."""

    restart_count: int = 0
    failures: int = 0  # consecutive failed runs counting the last exit (the back-off step)
    will_restart: bool = False  # the last instance exited and the policy restarts it
    backoff_until: float = 0.0  # wall time before which it is not restarted
    backoff_message: str = ""
    create_failures: int = 0  # consecutive failures to create or start an instance
    retry_create_at: float = 0.0  # wall time of the next attempt after a create failure
    waiting_reason: str = ""  # why no instance runs (CreateContainerConfigError, ErrImagePull, ...)
    waiting_message: str = ""
    post_start: HookState = HookState.NONE
    started: bool = False  # postStart done and the startup probe succeeded (or there is none)
    ready: bool = False
    last_terminated: ContainerRecord | None = None  # the instance before the latest one


@dataclass(frozen=True, slots=True)
class KillRequest:
    """A probe or the postStart hook asked for the running instance to be killed."""

    reason: KillReason
    grace: float  # seconds
    message: str


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    kind: Kind
    instance: ContainerRecord | None  # the latest instance; None before the first create
    facts: ContainerFacts
    stop_deadline: float | None = None  # a kill is under way; SIGKILL is due at this wall time
    kill_request: KillRequest | None = None


@dataclass(frozen=True, slots=True)
class Deletion:
    deadline: float  # wall time at which every container still alive is SIGKILLed


@dataclass(frozen=True, slots=True)
class PodView:
    containers: tuple[ContainerView, ...]  # init containers (and sidecars) in order, then app containers
    volumes_ready: bool = False
    volume_retry_at: float = 0.0  # wall time of the next mount attempt after a failure (0: now)
    deletion: Deletion | None = None
    evicted: bool = False  # the pod was evicted: it stays, Failed, and nothing of it runs again


@dataclass(frozen=True, slots=True)
class StartContainer:
    name: str
    attempt: int  # the restart count the new instance gets (the previous one + 1 on a restart)


@dataclass(frozen=True, slots=True)
class KillContainer:
    name: str
    grace: float  # seconds from now until SIGKILL (0: at once); a smaller one shortens a kill under way
    reason: KillReason
    message: str  # the Killing event's message


@dataclass(frozen=True, slots=True)
class PodActions:
    mount_volumes: bool = False
    start: tuple[StartContainer, ...] = ()
    kill: tuple[KillContainer, ...] = ()
    remove_pod: bool = False  # being deleted and nothing runs any more: tear the sandbox down
    wake_at: float | None = None  # call compute_pod_actions again at this wall time at the latest
    notes: tuple[str, ...] = field(default=(), compare=False)  # why, for the daemon's debug log


# An exit the runtime could not observe (the instance ended while no supervisor watched) counts as
# killed: the kubelet reports such a container with exit code 137.
UNKNOWN_EXIT_CODE = 137

# Deadlines are wall-clock floats computed in two places (here: deadline - now; the executor:
# now + grace), so equal deadlines may differ in the last bits; a stop is only shortened when the
# new deadline is earlier by more than this.
_DEADLINE_SLACK = 1e-3


def _container_spec(pod: Pod, name: str) -> Container:
    for c in pod.spec.init_containers:
        if c.name == name:
            return c
    for c in pod.spec.containers:
        if c.name == name:
            return c
    raise KeyError(name)


def kind_of(pod: Pod, name: str) -> Kind:
    """INIT, SIDECAR (an init container with restartPolicy Always) or APP (the sidecar rule itself: spec/sidecar.py)."""
    for c in pod.spec.init_containers:
        if c.name == name:
            return Kind.SIDECAR if is_sidecar(c) else Kind.INIT
    for c in pod.spec.containers:
        if c.name == name:
            return Kind.APP
    raise KeyError(name)


def restart_policy(pod: Pod, name: str) -> str:
    """Always for sidecars; an init container of an Always pod restarts OnFailure; else the pod's policy."""
    kind = kind_of(pod, name)
    if kind is Kind.SIDECAR:
        return "Always"
    policy = pod.spec.restart_policy
    if kind is Kind.INIT and policy == "Always":
        return "OnFailure"  # an init container is only ever run again to make it succeed
    return policy


def _alive(c: ContainerView) -> bool:
    return c.instance is not None and c.instance.state is ContainerState.RUNNING


def _present(c: ContainerView) -> bool:
    """An instance runs, or is created and about to: nothing to start. A CREATED instance while a
    create failure is recorded is the one that failed (it never ran): it is retried."""
    inst = c.instance
    if inst is None:
        return False
    return inst.state is ContainerState.RUNNING or (inst.state is ContainerState.CREATED and not c.facts.waiting_reason)


def _succeeded(c: ContainerView) -> bool:
    """A regular init container that is done: its last instance exited 0 and will not run again."""
    inst = c.instance
    return (inst is not None and inst.state is ContainerState.EXITED and inst.exit_code == 0
            and not c.facts.will_restart)


def _fresh(c: ContainerView) -> bool:
    """Never tried: no instance, no restart pending, no create failure pending."""
    return c.instance is None and not c.facts.will_restart and not c.facts.waiting_reason


def _sidecar_started(c: ContainerView) -> bool:
    """The next init container waits for a sidecar until it runs, has started and its postStart returned."""
    return _alive(c) and c.facts.started and c.facts.post_start is not HookState.RUNNING


@dataclass(slots=True)
class _Plan:
    """The actions being gathered by one compute_pod_actions call (private, mutable)."""

    now: float
    start: list[StartContainer] = field(default_factory=list)
    kill: list[KillContainer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wake: list[float] = field(default_factory=list)

    def due(self, at: float) -> bool:
        """Whether something due at `at` is due now; if not, wake up then."""
        if self.now >= at:
            return True
        self.wake.append(at)
        return False

    def starting(self, c: ContainerView, attempt: int, why: str) -> None:
        if all(s.name != c.name for s in self.start):
            self.start.append(StartContainer(c.name, attempt))
            self.notes.append(f"start {c.name} (attempt {attempt}): {why}")

    def killing(self, c: ContainerView, grace: float, reason: KillReason, message: str) -> None:
        if all(k.name != c.name for k in self.kill):
            self.kill.append(KillContainer(c.name, max(0.0, grace), reason, message))
            self.notes.append(f"kill {c.name} ({reason.value}, grace {max(0.0, grace):g}s)")

    def actions(self, **extra: bool) -> PodActions:
        return PodActions(start=tuple(self.start), kill=tuple(self.kill), wake_at=min(self.wake, default=None),
                          notes=tuple(self.notes), **extra)


def _kill_requests(view: PodView, plan: _Plan) -> None:
    """A probe or postStart asked for a kill: carried out once, unless a stop is already under way."""
    for c in view.containers:
        req = c.kill_request
        if req is not None and _alive(c) and c.stop_deadline is None:
            plan.killing(c, req.grace, req.reason, req.message)


def _deletion(view: PodView, deletion: Deletion, plan: _Plan) -> PodActions:
    """kubelet killPodWithSyncResult: main containers together, then the sidecars last one first;
    at the deadline everything still alive is SIGKILLed; the sandbox goes once nothing runs."""
    alive = [c for c in view.containers if _alive(c)]
    if not alive:
        plan.notes.append("deleting: nothing runs any more")
        return plan.actions(remove_pod=True)
    remaining = deletion.deadline - plan.now

    def stop(c: ContainerView, grace: float) -> None:
        # A stop under way is only ever brought forward, never put off.
        if c.stop_deadline is None or plan.now + grace < c.stop_deadline - _DEADLINE_SLACK:
            plan.killing(c, grace, KillReason.DELETION, f"Stopping container {c.name}")

    if remaining <= 0:
        for c in alive:
            stop(c, 0.0)
    else:
        plan.wake.append(deletion.deadline)
        mains = [c for c in alive if c.kind is not Kind.SIDECAR]
        if mains:
            for c in mains:
                stop(c, remaining)
        else:
            stop(alive[-1], remaining)  # sidecars in reverse order of definition, one at a time
    # A sidecar still waiting for its turn keeps its probes (as before the refactor).
    _kill_requests(view, plan)
    return plan.actions()


def compute_pod_actions(pod: Pod, view: PodView, now: float, backoff: Backoff) -> PodActions:
    """The actions to take now (see the module docstring and the kubelet rules in docs/design.md)."""
    plan = _Plan(now)
    if view.deletion is not None:
        return _deletion(view, view.deletion, plan)
    if view.evicted:
        # kubelet eviction manager: the pod's containers are killed at once; nothing restarts.
        for c in view.containers:
            if _alive(c) and c.stop_deadline is None:
                plan.killing(c, 0.0, KillReason.EVICTION, f"Stopping container {c.name}")
        return plan.actions()
    _kill_requests(view, plan)
    if not view.volumes_ready:
        # kubelet volume manager: every volume is mounted before any container is created.
        if plan.due(view.volume_retry_at):
            plan.notes.append("mount volumes")
            return plan.actions(mount_volumes=True)
        plan.notes.append("volumes: waiting for the next mount attempt")
        return plan.actions()

    # Restarts and retries of failed creates: each on its own timer, whatever the init order.
    for c in view.containers:
        if _present(c):
            continue
        f = c.facts
        if f.will_restart:
            at = max(f.backoff_until, f.retry_create_at) if f.waiting_reason else f.backoff_until
            if plan.due(at):
                plan.starting(c, f.restart_count + 1, "restart")
        elif f.waiting_reason:
            if plan.due(f.retry_create_at):
                plan.starting(c, f.restart_count, f"retry after {f.waiting_reason}")

    # First starts: init containers one at a time in order (a sidecar only has to have started),
    # then every app container.
    for c in view.containers:
        if c.kind is Kind.APP:
            break
        if c.kind is Kind.SIDECAR:
            if _fresh(c) and plan.due(c.facts.retry_create_at):
                plan.starting(c, c.facts.restart_count, "sidecar, in order")
            if not _sidecar_started(c):
                plan.notes.append(f"init: waiting for sidecar {c.name} to start")
                return plan.actions()
            continue
        if _succeeded(c):
            continue
        if _fresh(c) and plan.due(c.facts.retry_create_at):
            plan.starting(c, c.facts.restart_count, "init container, in order")
        plan.notes.append(f"init: waiting for {c.name} to complete")
        return plan.actions()
    for c in view.containers:
        if c.kind is Kind.APP and _fresh(c) and plan.due(c.facts.retry_create_at):
            plan.starting(c, c.facts.restart_count, "app container")
    return plan.actions()


def launch_batches(starts: tuple[StartContainer, ...], kinds: dict[str, Kind]) -> list[tuple[StartContainer, ...]]:
    """The plan's starts grouped into batches the executor may launch side by side, in order.

    App containers have no order among themselves (the kubelet starts them all in one sync), so a run of
    them is one batch. An init container or a sidecar is a batch of its own: each is started, up to its
    exec, before the next start of the list begins, as the kubelet starts them one after the other.
    """
    batches: list[tuple[StartContainer, ...]] = []
    run: list[StartContainer] = []
    for start in starts:
        if kinds[start.name] is Kind.APP:
            run.append(start)
            continue
        if run:
            batches.append(tuple(run))
            run = []
        batches.append((start,))
    if run:
        batches.append(tuple(run))
    return batches


def on_container_exit(pod: Pod, view: ContainerView, exited: ContainerRecord, deleting: bool,
                      backoff: Backoff) -> ContainerFacts:
    """The facts after instance `exited` (EXITED or UNKNOWN, with finished_at) ended: back-off step,
    will_restart and backoff_until/backoff_message, not ready, post_start NONE."""
    f = view.facts
    code = UNKNOWN_EXIT_CODE if exited.state is ContainerState.UNKNOWN else exited.exit_code
    ran_for = exited.finished_at - exited.started_at if exited.started_at > 0 else 0.0
    failures = backoff.failures_after_exit(f.failures, max(0.0, ran_for))
    delay = backoff.delay(failures)
    meta = pod.metadata
    return ContainerFacts(
        restart_count=f.restart_count, failures=failures,
        will_restart=not deleting and should_restart(restart_policy(pod, view.name), code),
        backoff_until=exited.finished_at + delay,
        backoff_message=backoff_message(delay, view.name, meta.name, meta.namespace, meta.uid),
        create_failures=f.create_failures, retry_create_at=f.retry_create_at,
        waiting_reason=f.waiting_reason, waiting_message=f.waiting_message,
        post_start=HookState.NONE, started=False, ready=False, last_terminated=f.last_terminated,
    )


def on_create_failure(view: ContainerView, attempt: int, reason: str, message: str, now: float,
                      backoff: Backoff) -> ContainerFacts:
    """The facts after instance `attempt` could not be created (reason: CreateContainerConfigError,
    CreateContainerError, ErrImagePull, InvalidImageName): waiting reason, retry time.

    The attempt counts as made (the restart count shows it, as before the failure the kubelet had
    already decided the restart); it is retried with the same attempt number, not as a new restart."""
    f = view.facts
    failures = f.create_failures + 1
    # The kubelet's image back-off: 10 s after the first failure, doubling to the maximum; never
    # sooner than 1 s (a maximum below that would spin).
    delay = max(1.0, backoff.delay(failures + 1))
    last = f.last_terminated
    prev = view.instance
    if prev is not None and prev.state in (ContainerState.EXITED, ContainerState.UNKNOWN):
        last = prev
    return ContainerFacts(
        restart_count=attempt, failures=f.failures, will_restart=False,
        backoff_until=f.backoff_until, backoff_message=f.backoff_message,
        create_failures=failures, retry_create_at=now + delay, waiting_reason=reason, waiting_message=message,
        post_start=HookState.NONE, started=False, ready=False, last_terminated=last,
    )


def _started_ready(has_startup_probe: bool, has_readiness_probe: bool) -> tuple[bool, bool]:
    """kubelet prober manager: started once the startup probe succeeded (or there is none); readiness
    is not even considered before that, and without a readiness probe a started container is ready."""
    started = not has_startup_probe
    return started, started and not has_readiness_probe


def on_started(pod: Pod, view: ContainerView, attempt: int, has_post_start: bool, has_startup_probe: bool,
               has_readiness_probe: bool) -> ContainerFacts:
    """The facts once a new instance runs: restart count = attempt, create failures cleared, no
    waiting reason, post_start RUNNING if it has a hook; started/ready as the probes allow.

    `view` is the container as it was before the new instance (its instance the previous one, if any):
    that previous instance becomes last_terminated."""
    f = view.facts
    last = f.last_terminated
    prev = view.instance
    if prev is not None and prev.state in (ContainerState.EXITED, ContainerState.UNKNOWN):
        last = prev
    if has_post_start:
        started, ready = False, False  # not Running until postStart returns
    else:
        started, ready = _started_ready(has_startup_probe, has_readiness_probe)
    return ContainerFacts(
        restart_count=attempt, failures=f.failures, will_restart=False, backoff_until=f.backoff_until,
        backoff_message=f.backoff_message, create_failures=0, retry_create_at=0.0, waiting_reason="",
        waiting_message="", post_start=HookState.RUNNING if has_post_start else HookState.NONE,
        started=started, ready=ready, last_terminated=last,
    )


def on_post_start_done(pod: Pod, view: ContainerView, succeeded: bool, has_startup_probe: bool,
                       has_readiness_probe: bool) -> tuple[ContainerFacts, KillRequest | None]:
    """postStart returned: SUCCEEDED (and started/ready as the probes allow), or FAILED with a kill
    request (grace: the pod's terminationGracePeriodSeconds)."""
    f = view.facts
    if f.post_start is not HookState.RUNNING or not _alive(view):
        return f, None  # the instance it ran for is gone: nothing to change
    if succeeded:
        started, ready = _started_ready(has_startup_probe, has_readiness_probe)
        return replace(f, post_start=HookState.SUCCEEDED, started=started, ready=ready), None
    kill = KillRequest(KillReason.POST_START, float(pod.spec.termination_grace_period_seconds),
                       f"FailedPostStartHook: container {view.name} will be killed")
    return replace(f, post_start=HookState.FAILED, started=False, ready=False), kill


def on_probe_result(pod: Pod, view: ContainerView, kind: str, result: bool | None, changed: bool, kill: bool,
                    has_readiness_probe: bool) -> tuple[ContainerFacts, KillRequest | None]:
    """A probe worker published `result` (prober.Outcome): readiness sets ready; a startup success
    sets started (and ready when there is no readiness probe); `kill` gives a kill request whose grace
    is the probe's terminationGracePeriodSeconds or the pod's."""
    f = view.facts
    if not _alive(view) or view.stop_deadline is not None:
        return f, None  # a container being stopped is not judged any more
    if kind == "readiness":
        if changed and f.started:
            f = replace(f, ready=bool(result))
    elif kind == "startup":
        if result is True and not f.started:
            f = replace(f, started=True, ready=not has_readiness_probe)
    elif kind != "liveness":
        raise ValueError(f"probe kind must be startup, liveness or readiness, not {kind!r}")
    if not kill or kind == "readiness":
        return f, None
    spec = _container_spec(pod, view.name)
    probe = spec.liveness_probe if kind == "liveness" else spec.startup_probe
    grace = probe.termination_grace_period_seconds if probe is not None else None
    if grace is None:
        grace = pod.spec.termination_grace_period_seconds
    reason = KillReason.LIVENESS if kind == "liveness" else KillReason.STARTUP
    return f, KillRequest(reason, float(grace), f"Container {view.name} failed {kind} probe, will be restarted")

