"""The pod worker's executor: carries out plan.compute_pod_actions through the runtime service.

    event (exit, probe, hook, timer, apply, delete)
        -> new facts (plan.on_*: pure)            -> state.json
        -> compute_pod_actions(pod, view, now)    (pure)
        -> mount volumes / start / kill / remove  (runtime service, hooks, probes)
        -> a timer for the plan's wake_at

Everything that decides lives in plan.py; this module keeps the things that run (probe workers, hook
children, grace timers) and the events the kubelet would record. One PodWorker per pod.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Callable

from pyrunc.clock import Clock
from pyrunc.config import NodeConfig
from pyrunc.errors import FieldError, PyruncError
from pyrunc.images.auth import auths_from_pull_secrets
from pyrunc.images.reference import InvalidImageName, is_loopback, parse_ref
from pyrunc.linux.syscalls import pid_alive
from pyrunc.probe import ActionResult, Target
from pyrunc.probe.runner import ActionRunner, ContainerProbes, handler_of
from pyrunc.probe.starter import InProcess, Starter
from pyrunc.runtime.records import ContainerRecord, ContainerState
from pyrunc.runtime.service import CreateError, RuntimeService
from pyrunc.sandbox import sandbox as sbx
from pyrunc.sandbox.eviction import disk_limits, emptydir_eviction, measure_usage
from pyrunc.runtime import envsources
from pyrunc.sandbox.projections import VolumeSetUpError, referenced_objects, uses_metadata
from pyrunc.sandbox.volumes import prepare_volumes, volume_path, write_projection
from pyrunc.spec.load import pod_to_dict
from pyrunc.spec.model import Container, Pod, Volume
from pyrunc.spec.objects import Secret
from pyrunc.status import container_facts, pod_status, rfc3339
from pyrunc.store.atomic import private_dir, read_json, write_json
from pyrunc.store.events import record_event
from pyrunc.store.layout import PodLayout
from pyrunc.store.objects import ObjectStore
from pyrunc.supervisor.loop import Loop
from pyrunc.worker import images, plan
from pyrunc.worker.backoff import Backoff
from pyrunc.worker.facts import facts_from_json, facts_to_json
from pyrunc.worker.puller import PullOutcome, Puller
from pyrunc.worker.plan import (ContainerFacts, ContainerView, Deletion, HookState, KillContainer,
                                KillRequest, Kind, PodView, StartContainer)
from pyrunc.worker.termination import Stopper

log = logging.getLogger("pyrunc.pod")

MAX_VOLUME_RETRY = 120.0  # kubelet volume manager: failed mounts are retried with back-off up to 2 min
# The kubelet's sync period (--sync-frequency, 1 min): each pod's configMap/secret/projected volumes are
# brought up to date at least this often, besides at once when the CLI says objects changed.
OBJECT_RESYNC_PERIOD = 60.0


class PodWorker:
    def __init__(self, runtime: RuntimeService, loop: Loop, clock: Clock, cfg: NodeConfig, layout: PodLayout,
                 pod: Pod, puller: Puller | None = None, actions: Starter | None = None) -> None:
        self.rt = runtime
        self.actions = actions or InProcess(loop)  # how probe and hook actions fork (probe/starter.py)
        self.puller = puller or Puller(cfg, loop, clock)
        self.pulling: dict[str, int] = {}  # container -> the attempt a pull in progress is for
        self.pulled: dict[str, int] = {}  # container -> the attempt its image was just pulled for
        self.backoff_timers: dict[str, int] = {}
        self.loop = loop
        self.clock = clock
        self.cfg = cfg
        self.layout = layout
        self.pod = pod
        self.backoff = Backoff(cfg.crashloop_max_backoff, cfg.backoff_reset_after)
        self.deletion: Deletion | None = None  # set by terminate(): the pod is being deleted
        self.deletion_grace: int | None = None
        self.specs: dict[str, Container] = {c.name: c for c in pod.spec.init_containers + pod.spec.containers}
        self.kinds = {name: plan.kind_of(pod, name) for name in self.specs}
        self.records: dict[str, ContainerRecord | None] = {}
        self.facts: dict[str, ContainerFacts] = {}
        for name in self.specs:
            self.records[name] = runtime.container_status(layout, name)
            self.facts[name] = facts_from_json(read_json(layout.container_state(name)))
        self.kill_requests: dict[str, KillRequest] = {}
        self.probes: dict[str, ContainerProbes] = {}
        self.hooks: dict[str, ActionRunner] = {}
        self.stopper = Stopper(runtime, loop, clock, self._run_hook, self._cancel_hooks, self.records.get,
                               self.event)
        self.sandbox: sbx.SandboxState | None = None
        self.volumes: dict[str, str] = {}
        self.volumes_ready = False
        self.volume_retry_at = 0.0
        self.volume_failures = 0
        self.wake_timer: int | None = None
        self.sync_pending = False
        self.on_terminated: list[Callable[[], None]] = []
        self.removed = False
        self.evicted = os.path.exists(layout.eviction_json)
        self.disk_timer: int | None = None
        # (kind, name) -> resourceVersion of each object the volumes read, as last written ("" = absent)
        self.object_versions: dict[tuple[str, str], str] = {}
        self.resync_timer: int | None = None

    @property
    def uid(self) -> str:
        return self.pod.metadata.uid

    @property
    def terminating(self) -> bool:
        return self.deletion is not None

    def terminal(self) -> bool:
        """Succeeded or Failed, as `get` derives the phase (status.py, from the facts on disk). The scheduler
        stops counting such a pod on its node (inter-pod affinity: worker/podaffinity.py)."""
        names = [c.name for c in self.pod.spec.init_containers + self.pod.spec.containers]
        layout = self.layout
        records = {n: container_facts(read_json(layout.container_record(n)), read_json(layout.container_state(n)))
                   for n in names}
        status = pod_status(pod_to_dict(self.pod), records, None, pid_alive, self.clock.wall(), True,
                            eviction=read_json(self.layout.eviction_json))
        return status["phase"] in ("Succeeded", "Failed")

    # ================================================================== entry points
    def create(self) -> None:
        """The sandbox (undone on failure), the stored pod, then the first sync."""
        private_dir(self.layout.dir)  # 0750 root, as the kubelet's pod directories
        try:
            self._write_pod()
            self.event("Normal", "Scheduled", f"Successfully assigned {self.pod.metadata.namespace}/"
                                              f"{self.pod.metadata.name} to {self.cfg.node_name}")
            self.sandbox = self.rt.run_pod_sandbox(self.pod, self.layout)
        except BaseException:
            self.rt.remove_pod_sandbox(self.pod, self.layout, self.sandbox)
            raise
        self.sync()
        self._check_disk()
        self._schedule_resync()

    def adopt(self) -> None:
        """Take over after a supervisor restart: watch what still runs, account for what ended unseen."""
        self.sandbox = sbx.load_sandbox(self.layout)
        self.volumes = {}
        for vol in self.pod.spec.volumes:
            where = volume_path(vol, self.layout, self.rt.paths(self.pod))
            if where is not None:
                self.volumes[vol.name] = where
        self.volumes_ready = True
        for name, record in list(self.records.items()):
            if record is None:
                continue
            if record.state is ContainerState.CREATED:
                # Created but never started (the supervisor died in between): gone, and started again.
                self.rt.remove_container(self.pod, self.layout, record)
                self.records[name] = None
                continue
            if record.state is not ContainerState.RUNNING:
                continue
            self.rt.adopt_container(self.pod, self.layout, record)
            if self.facts[name].post_start is HookState.RUNNING:
                # Its postStart hook ran under the supervisor that died: its outcome is lost, and a
                # hook is not run twice for one instance. Taken as done, as a restarted kubelet does.
                spec = self.specs[name]
                facts, _ = plan.on_post_start_done(self.pod, self._view_of(name), True,
                                                   spec.startup_probe is not None, spec.readiness_probe is not None)
                self._save_facts(name, facts)
            self._start_probes(name, record)
        self._check_disk()
        # What the volumes show was written by an earlier supervisor: compared at the first resync.
        self.object_versions = {}
        self._schedule_resync()

    def update_metadata(self, labels: dict[str, str], annotations: dict[str, str]) -> None:
        """apply of the same spec with other labels or annotations: stored, nothing restarts; the
        downwardAPI files of labels and annotations are rewritten (atomic writer), as the kubelet does."""
        self.pod = replace(self.pod, metadata=replace(self.pod.metadata, labels=labels, annotations=annotations))
        self._write_pod()
        if self.volumes_ready and not self.removed:
            self._refresh_volumes([v for v in self.pod.spec.volumes if uses_metadata(v)])

    def objects_changed(self) -> None:
        """A ConfigMap or Secret changed (the CLI says so; or the periodic resync): rewrite the volumes
        reading one whose resourceVersion moved, and retry a container waiting for one at once."""
        if self.removed or self.terminating:
            return
        now = self.clock.wall()
        retried = False
        for name, facts in list(self.facts.items()):
            if facts.waiting_reason == "CreateContainerConfigError" and facts.retry_create_at > now:
                self._save_facts(name, replace(facts, retry_create_at=now))
                retried = True
        if self.volumes_ready:
            versions = self._object_versions()
            if versions != self.object_versions:
                changed = {ref for ref in versions.keys() | self.object_versions.keys()
                           if versions.get(ref) != self.object_versions.get(ref)}
                self._refresh_volumes([v for v in self.pod.spec.volumes if referenced_objects(v) & changed])
        elif self.volume_retry_at > now:
            self.volume_retry_at = now  # a mount waiting for an object: try it again now
            retried = True
        if retried:
            self._sync_soon()

    def _object_versions(self) -> dict[tuple[str, str], str]:
        store = ObjectStore(self.cfg.root)
        ns = self.pod.metadata.namespace
        refs = set().union(*(referenced_objects(v) for v in self.pod.spec.volumes)) if self.pod.spec.volumes else set()
        return {(kind, name): store.resource_version(kind, ns, name) for kind, name in sorted(refs)}

    def _refresh_volumes(self, volumes: list[Volume]) -> None:
        """Rewrite these volumes' files (a no-op for one already current); a failure keeps the old files."""
        versions = self._object_versions()
        lookup = envsources.store_lookup(self.cfg.root, self.pod.metadata.namespace)
        for vol in volumes:
            try:
                write_projection(vol, self.pod, self.layout, lookup, self.rt.cpus, self.rt.memory)
            except (OSError, PyruncError) as e:
                self.event("Warning", "FailedMount", self._mount_message(e))
                for ref in referenced_objects(vol):
                    versions.pop(ref, None)  # not written: tried again at the next resync
        self.object_versions = versions

    def _schedule_resync(self) -> None:
        def resync() -> None:
            self.resync_timer = None
            if self.removed:
                return
            self.objects_changed()
            self._schedule_resync()

        self.loop.cancel(self.resync_timer)
        self.resync_timer = self.loop.call_later(OBJECT_RESYNC_PERIOD, resync)

    def terminate(self, grace: int | None, done: Callable[[], None]) -> None:
        """Stop every container within the grace period, then remove the pod and call `done`.

        A shorter grace period given later (delete --grace-period=0 --force) cuts the running one short."""
        self.on_terminated.append(done)
        if self.removed:
            self._finish()
            return
        if grace is None:
            grace = self.pod.spec.termination_grace_period_seconds
        now = self.clock.wall()
        if self.deletion is not None and now + grace >= self.deletion.deadline:
            return
        self.deletion = Deletion(deadline=now + grace)
        self.deletion_grace = grace
        self._write_pod()
        for name, facts in self.facts.items():
            if facts.will_restart:
                self._save_facts(name, replace(facts, will_restart=False))
        self.sync()

    def on_exit(self, record: ContainerRecord) -> None:
        """The runtime service recorded an instance's exit."""
        name = record.name
        if name not in self.specs:
            return
        current = self.records.get(name)
        if current is not None and current.id != record.id:
            return  # an instance this worker already replaced
        self._stop_workers(name)
        self.kill_requests.pop(name, None)
        view = self._view_of(name)
        self.records[name] = record
        facts = plan.on_container_exit(self.pod, view, record, self.terminating or self.evicted, self.backoff)
        self._save_facts(name, facts)
        if facts.will_restart and facts.backoff_until > record.finished_at:
            self.event("Warning", "BackOff", f"Back-off restarting failed container {name}", name)
        self.sync()

    # ================================================================== the loop of the worker
    def sync(self) -> None:
        """Compute the actions for now and carry them out, again while they change something
        (volumes mounted, a container started), so that apply answers with the pod's containers
        started as far as their order allows."""
        self.sync_pending = False
        for _ in range(2 + len(self.specs)):  # each round mounts or starts something, or stops
            if self.removed:
                return
            now = self.clock.wall()
            actions = plan.compute_pod_actions(self.pod, self._view(), now, self.backoff)
            for note in actions.notes:
                log.debug("pod %s: %s", self.layout.key, note)
            changed = False
            if actions.mount_volumes:
                changed = self._mount_volumes() or changed
            for kill in actions.kill:
                self._kill(kill)
            for batch in plan.launch_batches(actions.start, self.kinds):
                changed = self._start(batch) or changed
            if actions.remove_pod:
                self._remove()
                return
            self.loop.cancel(self.wake_timer)
            self.wake_timer = None
            if not changed:
                if actions.wake_at is not None:
                    self.wake_timer = self.loop.call_later(max(0.0, actions.wake_at - now), self.sync)
                return
        self._sync_soon()

    def _sync_soon(self) -> None:
        if not self.sync_pending:
            self.sync_pending = True
            self.loop.call_later(0, self.sync)

    def _view_of(self, name: str) -> ContainerView:
        return ContainerView(name=name, kind=self.kinds[name], instance=self.records.get(name),
                             facts=self.facts[name], stop_deadline=self.stopper.deadline(name),
                             kill_request=self.kill_requests.get(name))

    def _view(self) -> PodView:
        names = [c.name for c in self.pod.spec.init_containers + self.pod.spec.containers]
        return PodView(containers=tuple(self._view_of(n) for n in names), volumes_ready=self.volumes_ready,
                       volume_retry_at=self.volume_retry_at, deletion=self.deletion, evicted=self.evicted)

    # ================================================================== actions
    def _mount_volumes(self) -> bool:
        """Volumes before any container (kubelet volume manager): a failure is retried, not fatal."""
        try:
            versions = self._object_versions()
            self.volumes = prepare_volumes(self.pod, self.layout, self.rt.memory, self.rt.paths(self.pod), self.rt.cpus,
                                           envsources.store_lookup(self.cfg.root, self.pod.metadata.namespace))
            self.object_versions = versions
        except (OSError, PyruncError) as e:
            self.volume_failures += 1
            self.event("Warning", "FailedMount", self._mount_message(e))
            delay = min(MAX_VOLUME_RETRY, 2.0 * 2 ** (self.volume_failures - 1))
            self.volume_retry_at = self.clock.wall() + delay
            self._sync_at(delay)
            return False
        self.volumes_ready = True
        return True

    @staticmethod
    def _mount_message(e: Exception) -> str:
        if isinstance(e, VolumeSetUpError):  # the kubelet's words, with its space before the colon
            return f'MountVolume.SetUp failed for volume "{e.volume}" : {e.message}'
        detail = e.detail if isinstance(e, FieldError) else str(e)
        return f"MountVolume.SetUp failed: {detail}"

    def _sync_at(self, delay: float) -> None:
        self.loop.cancel(self.wake_timer)
        self.wake_timer = self.loop.call_later(delay, self.sync)

    def _ensure_image(self, start: StartContainer) -> str:
        """kubelet EnsureImageExists: "use" the image now; "wait" for a pull (started now or running:
        its end syncs the pod again); "failed" (recorded: the facts changed)."""
        name, spec = start.name, self.specs[start.name]
        if name in self.pulling:
            return "wait"  # its pull is still running
        try:
            registry = parse_ref(spec.image).registry
            present = self.rt.images.find(spec.image) is not None
        except InvalidImageName as e:
            self.event("Warning", "InspectFailed", e.message, name)
            self._create_failed(start, "InvalidImageName", e.message, "Error: InvalidImageName")
            return "failed"
        can_pull = not self.cfg.offline or is_loopback(registry)
        step = images.image_step(spec.image_pull_policy, present, self.pulled.get(name) == start.attempt, can_pull)
        if step is images.ImageStep.PULL and not can_pull:
            self._pull_failed(start, images.offline_message(registry))
            return "failed"
        if step is images.ImageStep.NEVER:
            message = images.never_pull_message(spec.image)
            self.event("Warning", "ErrImageNeverPull", message, name)
            self._create_failed(start, "ErrImageNeverPull", message, "Error: ErrImageNeverPull")
            return "failed"
        if step is images.ImageStep.PULL:
            self.pulling[name] = start.attempt
            self.event("Normal", "Pulling", images.pulling_message(spec.image), name)
            self.puller.pull(spec.image, lambda outcome: self._pulled(start, outcome), self._pull_secret_auths())
            return "wait"
        if self.pulled.pop(name, None) != start.attempt:
            self.event("Normal", "Pulled", images.present_message(spec.image), name)
        return "use"

    def _pull_secret_auths(self) -> dict[str, object]:
        """The kubelet's getPullSecretsForPod: the pod's imagePullSecrets read now (a Secret created after
        the pod counts at its next pull); a missing one is a warning event, and the pull goes on without it."""
        names = [ref.name for ref in self.pod.spec.image_pull_secrets if ref.name]
        if not names:
            return {}
        store = ObjectStore(self.cfg.root)
        found, missing = [], []
        for name in names:
            secret = store.get("Secret", self.pod.metadata.namespace, name)
            if isinstance(secret, Secret):
                found.append((secret.type, secret.data))
            else:
                missing.append(name)
        if missing:
            message = (f"Unable to retrieve some image pull secrets ({', '.join(missing)}); attempting to pull the "
                       "image may not succeed.")
            log.warning("%s: %s", self.layout.key, message)
            self.event("Warning", "FailedToRetrieveImagePullSecret", message)
        return auths_from_pull_secrets(found)

    def _pulled(self, start: StartContainer, outcome: PullOutcome) -> None:
        name, image = start.name, self.specs[start.name].image
        self.pulling.pop(name, None)
        if self.removed or self.terminating:
            return
        if outcome.ok:
            self.pulled[name] = start.attempt
            self.event("Normal", "Pulled", images.pulled_message(image, outcome.seconds, outcome.waited, outcome.size),
                       name)
        else:
            self._pull_failed(start, outcome.message)
        self.sync()

    def _pull_failed(self, start: StartContainer, why: str) -> None:
        name = start.name
        message = images.failed_pull_message(self.specs[name].image, why)
        self.event("Warning", "Failed", message, name)
        self._create_failed(start, "ErrImagePull", message, "Error: ErrImagePull", images.IMAGE_BACKOFF)
        # The pod worker's resync after a failed sync: still in back-off then, it shows ImagePullBackOff.
        self.loop.cancel(self.backoff_timers.pop(name, None))
        self.backoff_timers[name] = self.loop.call_later(images.RESYNC_AFTER_ERROR, lambda: self._image_backoff(name))

    def _image_backoff(self, name: str) -> None:
        self.backoff_timers.pop(name, None)
        if self.removed:
            return
        facts = images.in_backoff(self.facts[name], self.specs[name].image, self.clock.wall())
        if facts is not None:
            self._save_facts(name, facts)
            self.event("Normal", "BackOff", facts.waiting_message, name)
            self.event("Warning", "Failed", "Error: ImagePullBackOff", name)

    def _create_failed(self, start: StartContainer, reason: str, message: str, event: str,
                       backoff: Backoff | None = None) -> None:
        view = self._view_of(start.name)
        facts = plan.on_create_failure(view, start.attempt, reason, message, self.clock.wall(), backoff or self.backoff)
        self._save_facts(start.name, facts)
        self.event("Warning", "Failed", event, start.name)

    def _start(self, batch: tuple[StartContainer, ...]) -> bool:
        """Pull if needed, create and start an instance of each container of the batch (their launches
        overlap: runtime.start_containers). False when nothing changed (every one waits for a pull)."""
        changed = False
        created: list[tuple[StartContainer, ContainerView, ContainerRecord]] = []
        for start in batch:
            ready = self._create(start)
            if isinstance(ready, tuple):
                created.append(ready)
            else:
                changed = ready or changed
        if not created:
            return changed
        results = self.rt.start_containers(self.pod, self.layout, [record for _, _, record in created])
        for (start, _, _), result in zip(created, results):
            if not isinstance(result, CreateError):
                self.records[start.name] = result
        # Exits last: on_exit syncs again, which must see every instance of the batch.
        exited = [r for (s, v, _), r in zip(created, results) if not self._started(s, v, r)]
        for record in exited:
            assert isinstance(record, ContainerRecord)
            self.on_exit(record)
        return True

    def _create(self, start: StartContainer) -> tuple[StartContainer, ContainerView, ContainerRecord] | bool:
        """The image, then a CREATED instance; a bool (something changed) when there is none to start."""
        name = start.name
        spec = self.specs[name]
        image = self._ensure_image(start)
        if image != "use":
            return image == "failed"
        previous = self.records.get(name)
        if previous is not None and previous.state in (ContainerState.EXITED, ContainerState.UNKNOWN):
            self.rt.remove_container(self.pod, self.layout, previous)
        view = self._view_of(name)
        self._invalid_env_keys(spec)
        try:
            record = self.rt.create_container(self.pod, self.layout, spec, start.attempt, self.volumes)
        except CreateError as e:
            self._save_facts(name, plan.on_create_failure(view, start.attempt, e.reason, e.message, self.clock.wall(), self.backoff))
            self.event("Warning", "Failed", f"Error: {e.message}", name)
            return True
        except (OSError, PyruncError) as e:
            self._save_facts(name, plan.on_create_failure(view, start.attempt, "CreateContainerError", str(e), self.clock.wall(),
                                                          self.backoff))
            self.event("Warning", "Failed", f"Error: {e}", name)
            return True
        return start, view, record

    def _started(self, start: StartContainer, view: ContainerView, result: ContainerRecord | CreateError) -> bool:
        """The facts, events, hook or probes after a start (or its failure); False when the instance failed
        to start (StartError): recorded as exited, the caller reports its exit (on_exit)."""
        name = start.name
        spec = self.specs[name]
        if isinstance(result, CreateError):
            self._save_facts(name, plan.on_create_failure(view, start.attempt, result.reason, result.message,
                                                          self.clock.wall(), self.backoff))
            self.event("Warning", "Failed", f"Error: {result.message}", name)
            return True
        record = result
        lifecycle = spec.lifecycle
        has_post_start = lifecycle is not None and lifecycle.post_start is not None
        facts = plan.on_started(self.pod, view, start.attempt, has_post_start, spec.startup_probe is not None,
                                spec.readiness_probe is not None)
        self._save_facts(name, facts)
        if record.state is not ContainerState.RUNNING:  # StartError: recorded as an exit
            self.event("Warning", "Failed", f'Error: failed to start container "{name}": {record.message}', name)
            return False
        self.event("Normal", "Created", f"Created container {name}", name)
        self.event("Normal", "Started", f"Started container {name}", name)
        if has_post_start:
            assert lifecycle is not None
            self._post_start(name, record, lifecycle.post_start)
        else:
            self._start_probes(name, record)
        return True

    def _invalid_env_keys(self, spec: Container) -> None:
        """The kubelet's InvalidEnvironmentVariableNames event for envFrom keys it leaves out."""
        ns = self.pod.metadata.namespace
        try:
            _, skipped = envsources.env_from(spec.env_from, envsources.store_lookup(self.cfg.root, ns))
        except PyruncError:
            return  # a missing object: create_container reports it
        for keys in skipped:
            self.event("Warning", "InvalidEnvironmentVariableNames", keys.message(ns))

    def _kill(self, kill: KillContainer) -> None:
        """kubelet killContainer (worker/termination.py): preStop, the stop signal, SIGKILL at the end."""
        name = kill.name
        record = self.records.get(name)
        if record is None or record.state is not ContainerState.RUNNING:
            return
        lifecycle = self.specs[name].lifecycle
        pre_stop = lifecycle.pre_stop if lifecycle is not None else None
        if self.stopper.kill(kill, record, pre_stop):
            self.kill_requests.pop(name, None)
            probes = self.probes.pop(name, None)
            if probes is not None:
                probes.stop()

    def _cancel_hooks(self, name: str) -> None:
        hooks = self.hooks.get(name)
        if hooks is not None:
            hooks.cancel_all()

    def _check_disk(self) -> None:
        """Every housekeeping interval: evict the pod once a disk emptyDir passes its sizeLimit
        (the kubelet's eviction manager, localStorageEviction)."""
        self.disk_timer = None
        limits = disk_limits(self.pod)
        if not limits or self.terminating or self.evicted or self.removed:
            return
        paths = self.rt.paths(self.pod)
        usage = {v.volume: measure_usage(paths.empty_dir(v.volume)) for v in limits}
        eviction = emptydir_eviction(usage, limits)
        if eviction is None:
            self.disk_timer = self.loop.call_later(self.cfg.housekeeping_interval, self._check_disk)
            return
        self.evicted = True
        write_json(self.layout.eviction_json, {"reason": eviction.reason, "message": eviction.message})
        self.event("Warning", eviction.reason, eviction.message)
        for name, facts in self.facts.items():
            if facts.will_restart:
                self._save_facts(name, replace(facts, will_restart=False))
        self.sync()

    def _remove(self) -> None:
        for name in list(self.specs):
            self._stop_workers(name)
        self.loop.cancel(self.wake_timer)
        self.loop.cancel(self.disk_timer)
        self.loop.cancel(self.resync_timer)
        self.wake_timer = self.disk_timer = self.resync_timer = None
        self.rt.remove_pod_sandbox(self.pod, self.layout, self.sandbox)
        self.removed = True
        self._finish()

    def _finish(self) -> None:
        callbacks, self.on_terminated = self.on_terminated, []
        for cb in callbacks:
            cb()

    # ================================================================== hooks and probes
    def _target(self, record: ContainerRecord) -> Target:
        # Without a sandbox record, probes still go to the pod's own pinned netns, never the host's.
        sandbox = self.sandbox or sbx.SandboxState(
            namespaces={"net": "host" if self.pod.spec.host_network else self.layout.ns_file("net")})
        netns = sandbox.namespaces.get("net", "host")
        pod_ip = (sandbox.network or {}).get("ip") or (self.rt.host_ip if netns == "host" else "127.0.0.1")
        procs = tuple(f"{d}/cgroup.procs" for d in record.cgroup_paths.values())
        return Target(netns=None if netns == "host" else netns, pod_ip=pod_ip, container_pid=record.pid,
                      exec_config=self.layout.container_config(record.name), cgroup_procs=procs)

    def _ports(self, name: str) -> dict[str, int]:
        return {p.name: p.container_port for p in self.specs[name].ports if p.name}

    def _run_hook(self, name: str, record: ContainerRecord, action: object, timeout: float,
                  done: Callable[[ActionResult], None]) -> None:
        """exec and httpGet hooks run as children; a sleep hook is a timer."""
        handler, sleep = handler_of(action)
        runner = self.hooks.setdefault(name, ActionRunner(self.loop, self.actions))
        if sleep is not None:
            self.loop.call_later(min(sleep, timeout), lambda: done(ActionResult(True, "")))
            return
        runner.run(handler, self._target(record), timeout, self._ports(name), "lifecycle", done)

    def _post_start(self, name: str, record: ContainerRecord, action: object) -> None:
        """The container is not Running until postStart returns; a failed hook kills it (kubelet)."""

        def done(result: ActionResult) -> None:
            current = self.records.get(name)
            if current is None or current.id != record.id or current.state is not ContainerState.RUNNING:
                return
            spec = self.specs[name]
            ok = result.result is True
            facts, kill = plan.on_post_start_done(self.pod, self._view_of(name), ok, spec.startup_probe is not None,
                                                  spec.readiness_probe is not None)
            self._save_facts(name, facts)
            if ok:
                self._start_probes(name, record)
            else:
                self.event("Warning", "FailedPostStartHook", f"PostStartHook failed: {result.message}".rstrip(), name)
            if kill is not None:
                self.kill_requests[name] = kill
            self.sync()

        grace = float(max(30, self.pod.spec.termination_grace_period_seconds))
        self._run_hook(name, record, action, grace, done)

    def _start_probes(self, name: str, record: ContainerRecord) -> None:
        spec = self.specs[name]
        workers = ContainerProbes(spec, self.loop, self._target(record), self._ports(name),
                                  lambda kind, raw, outcome, msg: self._probe_outcome(name, record.id, kind, raw,
                                                                                       outcome, msg),
                                  self.actions)
        self.probes[name] = workers
        workers.start()

    def _probe_outcome(self, name: str, instance: str, kind: str, raw: bool | None, outcome: object,
                       message: str) -> None:
        current = self.records.get(name)
        if current is None or current.id != instance or current.state is not ContainerState.RUNNING:
            return
        if self.stopper.deadline(name) is not None:
            return
        if raw is False:  # kubelet prober: every failed probe is an event, below the threshold too
            self.event("Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {message}".rstrip(), name)
        elif raw is None:
            self.event("Warning", "Unhealthy", f"{kind.capitalize()} probe errored: {message}".rstrip(), name)
        spec = self.specs[name]
        before = self.facts[name]
        facts, kill = plan.on_probe_result(self.pod, self._view_of(name), kind, getattr(outcome, "result"),
                                           bool(getattr(outcome, "changed")), bool(getattr(outcome, "kill")),
                                           spec.readiness_probe is not None)
        if facts != before:
            self._save_facts(name, facts)
        if kill is not None:
            self.kill_requests[name] = kill
        if kill is not None or facts.started != before.started:
            self.sync()

    def _stop_workers(self, name: str) -> None:
        probes = self.probes.pop(name, None)
        if probes is not None:
            probes.stop()
        self._cancel_hooks(name)
        self.stopper.forget(name)

    # ================================================================== facts and events
    def _save_facts(self, name: str, facts: ContainerFacts) -> None:
        self.facts[name] = facts
        if self.removed or not os.path.isdir(self.layout.dir):
            return  # the pod is gone: nothing to keep
        os.makedirs(self.layout.container_dir(name), exist_ok=True)
        write_json(self.layout.container_state(name), facts_to_json(facts))

    def _write_pod(self) -> None:
        write_json(self.layout.pod_json, self.stored_manifest())

    def stored_manifest(self) -> dict[str, object]:
        """The v1 form of the pod as stored in pod.json (what get -o yaml prints)."""
        manifest = pod_to_dict(self.pod)
        if self.deletion is not None:
            meta = dict(manifest["metadata"])
            meta["deletionTimestamp"] = rfc3339(self.deletion.deadline)
            meta["deletionGracePeriodSeconds"] = self.deletion_grace
            manifest["metadata"] = meta
        return manifest

    def event(self, type_: str, reason: str, message: str, container: str = "") -> None:
        kind = self.kinds.get(container) if container else None
        record_event(self.layout, self.cfg.node_name, type_, reason, message, container=container,
                     init=kind is not None and kind is not Kind.APP)

    def degraded(self, message: str) -> None:
        """The runtime service recorded a degraded-but-running condition (once per pod): log and event."""
        log.warning("pod %s: %s", self.layout.key, message)
        self.event("Warning", "Degraded", message)
