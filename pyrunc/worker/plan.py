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
from dataclasses import dataclass, field
from typing import Mapping

from pyrunc.runtime.records import ContainerRecord
from pyrunc.spec.model import Pod
from pyrunc.supervisor.backoff import Backoff

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

    def container(self, name: str) -> ContainerView:
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(name)


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


def kind_of(pod: Pod, name: str) -> Kind:
    """INIT, SIDECAR (an init container with restartPolicy Always) or APP. The one place the sidecar rule is read."""
    raise NotImplementedError


def restart_policy(pod: Pod, name: str) -> str:
    """Always for sidecars; an init container of an Always pod restarts OnFailure; else the pod's policy."""
    raise NotImplementedError


def compute_pod_actions(pod: Pod, view: PodView, now: float, backoff: Backoff) -> PodActions:
    """The actions to take now (see the module docstring and the kubelet rules in docs/design.md)."""
    raise NotImplementedError


def on_container_exit(pod: Pod, view: ContainerView, exited: ContainerRecord, deleting: bool,
                      backoff: Backoff) -> ContainerFacts:
    """The facts after instance `exited` (EXITED or UNKNOWN, with finished_at) ended: back-off step,
    will_restart and backoff_until/backoff_message, not ready, post_start NONE."""
    raise NotImplementedError


def on_create_failure(view: ContainerView, reason: str, message: str, now: float, backoff: Backoff) -> ContainerFacts:
    """The facts after an instance could not be created (reason: CreateContainerConfigError,
    CreateContainerError, ErrImagePull, InvalidImageName): waiting reason, retry time."""
    raise NotImplementedError


def on_started(pod: Pod, view: ContainerView, attempt: int, has_post_start: bool, has_startup_probe: bool,
               has_readiness_probe: bool) -> ContainerFacts:
    """The facts once a new instance runs: restart count = attempt, create failures cleared, no
    waiting reason, post_start RUNNING if it has a hook; started/ready as the probes allow."""
    raise NotImplementedError


def on_post_start_done(pod: Pod, view: ContainerView, succeeded: bool, has_startup_probe: bool,
                       has_readiness_probe: bool) -> tuple[ContainerFacts, KillRequest | None]:
    """postStart returned: SUCCEEDED (and started/ready as the probes allow), or FAILED with a kill
    request (grace: the pod's terminationGracePeriodSeconds)."""
    raise NotImplementedError


def on_probe_result(pod: Pod, view: ContainerView, kind: str, result: bool | None, changed: bool, kill: bool,
                    has_readiness_probe: bool) -> tuple[ContainerFacts, KillRequest | None]:
    """A probe worker published `result` (prober.Outcome): readiness sets ready; a startup success
    sets started (and ready when there is no readiness probe); `kill` gives a kill request whose grace
    is the probe's terminationGracePeriodSeconds or the pod's."""
    raise NotImplementedError
