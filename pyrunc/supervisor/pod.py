"""One pod under supervision: its sandbox, its containers' lives, restarts and termination.

The decisions (what to start next, whether and when to restart, what a status is) are small
pure functions (supervisor/backoff.py, status.py); this module carries them out and records the
facts they are made from in state.json files, so a new supervisor can take over after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from typing import Any, Callable

from pyrunc.errors import ContainerConfigError, FieldError, ImageError, PyruncError
from pyrunc.images.store import InvalidImageName, resolve as resolve_image
from pyrunc.linux import syscalls as sc
from pyrunc.linux.safepath import read_file_in
from pyrunc.runtime.config import SandboxFacts, container_config
from pyrunc.runtime.launch import LaunchError, launch
from pyrunc.sandbox import sandbox as sbx
from pyrunc.sandbox.eviction import disk_limits, emptydir_eviction, measure_usage
from pyrunc.sandbox.volumes import prepare_volumes, volume_path
from pyrunc.spec import Pod, is_sidecar, pod_from_dict
from pyrunc.status import backoff_message, rfc3339
from pyrunc.store.atomic import private_dir, read_json, write_json, write_text
from pyrunc.store.events import record_event
from pyrunc.store.logs import LogFile, LogWriter, RotationPolicy, parse_records, read_last
from pyrunc.store.paths import PodPaths, ensure_data_dir, ensure_log_dir, pod_paths, remove_pod_data
from pyrunc.supervisor.backoff import Backoff, should_restart
from pyrunc.supervisor.lifecycle import ActionRunner, ContainerProbes, handler_of
from pyrunc.supervisor.probes import ActionResult, Target

# A preStop hook still running when the grace period ends gets this much more, once (kubelet).
PRESTOP_EXTENSION = 2.0

TERMINATION_MESSAGE_MAX = 4096


class ContainerRun:
    """Supervision state of one container of the pod (init, sidecar or app)."""

    def __init__(self, spec: Any, kind: str, layout: Any) -> None:
        self.spec = spec
        self.kind = kind  # "init" | "sidecar" | "app"
        self.layout = layout
        self.rec: dict[str, Any] = read_json(layout.container_state(spec.name), {}) or {}
        self.timer: int | None = None
        self.readers: list[tuple[int, LogWriter]] = []
        self.probes: ContainerProbes | None = None
        self.hooks: ActionRunner | None = None
        self.stopping = False  # a stop (signal, then SIGKILL at the deadline) is under way
        self.stop_hook_running = False
        self.stop_extended = False
        self.kill_timer: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return int(self.rec.get("pid", 0))

    def alive(self) -> bool:
        """Started and its exit not yet recorded. A zombie not yet reaped still counts: the kernel
        cannot finish a shared PID namespace (the holder's exit) until we have reaped it."""
        return bool(self.pid) and not self.rec.get("terminated")

    def succeeded(self) -> bool:
        term = self.rec.get("terminated")
        return bool(term) and term.get("exitCode") == 0 and not self.rec.get("willRestart")

    def save(self) -> None:
        os.makedirs(self.layout.container_dir(self.name), exist_ok=True)
        write_json(self.layout.container_state(self.name), self.rec)


class PodRunner:
    def __init__(self, node: Any, layout: Any, manifest: dict[str, Any]) -> None:
        self.node = node
        self.layout = layout
        self.manifest = manifest
        self.pod: Pod = pod_from_dict(manifest)
        self.backoff = Backoff(node.cfg.crashloop_max_backoff, node.cfg.backoff_reset_after)
        self.runs: list[ContainerRun] = []
        for c in self.pod.spec.init_containers:
            self.runs.append(ContainerRun(c, "sidecar" if is_sidecar(c) else "init", layout))
        for c in self.pod.spec.containers:
            self.runs.append(ContainerRun(c, "app", layout))
        self.sandbox: sbx.SandboxState | None = None
        self.volumes: dict[str, str] = {}
        self.terminating = False
        self.volumes_ready = False
        self.volume_retry: int | None = None
        self.volume_failures = 0
        self.on_terminated: list[Callable[[], None]] = []
        self.deadline: float | None = None  # monotonic end of the grace period while terminating
        self.cgroup_plan: Any = None
        self.evicted = os.path.exists(layout.eviction_json)
        self.disk_timer: int | None = None

    # ---------------------------------------------------------------- set-up
    @property
    def uid(self) -> str:
        return self.pod.metadata.uid

    @property
    def paths(self) -> PodPaths:
        return pod_paths(self.node.cfg, self.manifest)

    def event(self, type_: str, reason: str, message: str, run: ContainerRun | None = None) -> None:
        record_event(self.layout, self.node.cfg.node_name, type_, reason, message,
                     container=run.name if run else "", init=bool(run and run.kind != "app"))

    def warn_once(self, message: str) -> None:
        """A degraded-but-running condition (e.g. a clamped oom_score_adj): logged once, shown by describe."""
        if self.sandbox is None or message in self.sandbox.warnings:
            return
        self.sandbox.warnings.append(message)
        write_json(self.layout.sandbox_json, self.sandbox.to_dict())
        import logging

        logging.getLogger("pyrunc.pod").warning("pod %s: %s", self.layout.key, message)
        self.event("Warning", "Degraded", message)

    def create(self) -> None:
        """Sandbox, files, volumes, cgroups — undone in reverse on any failure — then start containers."""
        with contextlib.ExitStack() as undo:
            private_dir(self.layout.dir)  # 0750 root, as the kubelet's pod directories
            undo.callback(self.teardown)
            write_json(self.layout.pod_json, self.manifest)
            self.event("Normal", "Scheduled", f"Successfully assigned {self.pod.metadata.namespace}/{self.pod.metadata.name} to {self.node.cfg.node_name}")
            hostname = self.pod.spec.hostname or self.pod.metadata.name
            self.sandbox = sbx.create_sandbox(self.layout, self.pod.spec, hostname[:63],
                                              setup_network=self.node.network_setup(self))
            self.node.cgroups_setup(self)
            write_json(self.layout.sandbox_json, self.sandbox.to_dict())
            self.node.write_etc_files(self)
            undo.pop_all()
        self.sync()
        self._check_disk()

    def adopt(self) -> None:
        """Take over after a supervisor restart: watch what still runs, account for what ended unseen."""
        self.sandbox = sbx.load_sandbox(self.layout)
        self.cgroup_plan = self.node.cgroups_plan(self)
        self.volumes = {}
        for vol in self.pod.spec.volumes:
            if (where := volume_path(vol, self.layout, self.paths)) is not None:
                self.volumes[vol.name] = where
        self.volumes_ready = True
        self.terminating = bool(self.manifest["metadata"].get("deletionTimestamp"))
        for run in self.runs:
            if run.pid and not run.rec.get("terminated"):
                if sc.pid_alive(run.pid, run.rec.get("startTime")):
                    self._reopen_logs(run)
                    self.node.loop.watch_foreign(run.pid, lambda pid, st, r=run: self.on_exit(r, st))
                    if not self.terminating:
                        self._running(run)
                else:
                    self.on_exit(run, None)
            elif run.rec.get("willRestart") and not self.terminating:
                delay = max(0.0, float(run.rec.get("backoffUntil", 0)) - time.time())
                run.timer = self.node.loop.call_later(delay, lambda r=run: self.restart(r))
        self._check_disk()

    # ---------------------------------------------------------------- decisions
    def _mount_volumes(self) -> bool:
        """Volumes before any container (kubelet volume manager): a failure is retried, not fatal."""
        if self.volumes_ready:
            return True
        if self.volume_retry is not None:
            return False
        try:
            self.volumes = prepare_volumes(self.pod, self.layout, self.node.memory, self.paths)
        except (OSError, PyruncError) as e:
            self.volume_failures += 1
            detail = e.detail if isinstance(e, FieldError) else str(e)
            self.event("Warning", "FailedMount", f"MountVolume.SetUp failed: {detail}")
            delay = min(120.0, 2.0 * 2 ** (self.volume_failures - 1))

            def retry() -> None:
                self.volume_retry = None
                self.sync()

            self.volume_retry = self.node.loop.call_later(delay, retry)
            return False
        self.volumes_ready = True
        return True

    def sync(self) -> None:
        """Start whatever should run now: init containers one at a time, then every app container."""
        if self.terminating or not self._mount_volumes():
            return
        for run in self.runs:
            if run.kind == "app":
                break
            if run.kind == "sidecar":
                if not run.rec and run.timer is None:
                    self.start(run)
                if not (run.alive() and run.rec.get("started") and not run.rec.get("postStartPending")):
                    return  # the next init container waits until the sidecar has started
                continue
            if run.succeeded():
                continue
            if not run.rec and run.timer is None:
                self.start(run)
            return
        for run in self.runs:
            if run.kind == "app" and not run.rec and run.timer is None:
                self.start(run)

    def restart_policy(self, run: ContainerRun) -> str:
        if self.evicted:
            return "Never"  # an evicted pod is over: nothing of it restarts
        if run.kind == "sidecar":
            return "Always"
        policy = self.pod.spec.restart_policy
        if run.kind == "init" and policy == "Always":
            return "OnFailure"  # init containers are only ever re-run to make them succeed
        return policy

    # ---------------------------------------------------------------- actions
    def start(self, run: ContainerRun) -> None:
        run.timer = None
        rec = run.rec
        rec.setdefault("restartCount", 0)
        rec.update(pid=0, startTime=0, terminated=None, waiting=None, willRestart=False)
        try:
            image = resolve_image(self.node.cfg.images_dir, run.spec.image)
        except InvalidImageName as e:  # the kubelet's reason; nothing was looked up on disk
            self._fail_to_create(run, "InvalidImageName", e.message)
            return
        except ImageError as e:
            self._fail_to_create(run, "ErrImagePull", e.message)
            return
        self.event("Normal", "Pulled", f'Container image "{run.spec.image}" already present on machine', run)
        try:
            cfg = self._prepare(run, image)
        except ContainerConfigError as e:
            self._fail_to_create(run, "CreateContainerConfigError", e.message)
            return
        except (OSError, PyruncError) as e:
            self._fail_to_create(run, "CreateContainerError", str(e))
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        container_id = uuid.uuid4().hex + uuid.uuid4().hex
        try:
            launched = launch(cfg, out_w, err_w, before_go=lambda pid: self.node.cgroups_attach(self, run, pid),
                              readers=(out_r, err_r))
        except LaunchError as e:
            os.close(out_r)
            os.close(err_r)
            if e.stage in ("create", "config"):  # "config": a subPath the init could not prepare
                reason = "CreateContainerConfigError" if e.stage == "config" else "CreateContainerError"
                self._fail_to_create(run, reason, e.message)
            else:
                now = time.time()
                rec.update(containerID=f"pyrunc://{container_id}", startedAt=rfc3339(now), imageID=image.image_id)
                self.event("Warning", "Failed", f"Error: failed to start container \"{run.name}\": {e.message}", run)
                self._record_exit(run, 128 << 8, now, reason="StartError", message=e.message)
            return
        finally:
            # Only the container holds the write ends now: its exit is our EOF.
            os.close(out_w)
            os.close(err_w)
        now = time.time()
        rec.update(createFailures=0, pid=launched.pid, startTime=launched.start_time, startedAt=rfc3339(now), startedEpoch=now,
                   containerID=f"pyrunc://{container_id}", imageID=image.image_id, started=True, ready=True)
        run.save()
        self._attach_logs(run, out_r, err_r)
        self.node.loop.watch_child(launched.pid, lambda pid, st, r=run: self.on_exit(r, st))
        self.event("Normal", "Created", f"Created container {run.name}", run)
        self.event("Normal", "Started", f"Started container {run.name}", run)
        lifecycle = run.spec.lifecycle
        if lifecycle is not None and lifecycle.post_start is not None:
            self._post_start(run, lifecycle.post_start)
        else:
            self._running(run)

    def _check_disk(self) -> None:
        """Every housekeeping interval: evict the pod once a disk emptyDir passes its sizeLimit."""
        self.disk_timer = None
        limits = disk_limits(self.pod)
        if not limits or self.terminating or self.evicted:
            return
        evicted = emptydir_eviction({v.volume: measure_usage(self.paths.empty_dir(v.volume)) for v in limits}, limits)
        if evicted is None:
            self.disk_timer = self.node.loop.call_later(self.node.cfg.housekeeping_interval, self._check_disk)
            return
        self.evicted = True
        write_json(self.layout.eviction_json, {"reason": evicted.reason, "message": evicted.message})
        self.event("Warning", evicted.reason, evicted.message)
        for run in self.runs:
            self.node.loop.cancel(run.timer)
            run.timer = None
            if run.rec.get("willRestart"):
                run.rec["willRestart"] = False
                run.save()
            if run.alive():
                self.stop_container(run, 0, f"Stopping container {run.name}")

    # ---------------------------------------------------------------- hooks and probes
    def _target(self, run: ContainerRun) -> Target:
        # Without a sandbox record, probes still go to the pod's own pinned netns, never the host's.
        sandbox = self.sandbox or sbx.SandboxState(
            namespaces={"net": "host" if self.pod.spec.host_network else self.layout.ns_file("net")})
        netns = sandbox.namespaces.get("net", "host")
        pod_ip = (sandbox.network or {}).get("ip") or (self.node.host_ip if netns == "host" else "127.0.0.1")
        procs = tuple(f"{d}/cgroup.procs" for d in (run.rec.get("cgroupPaths") or {}).values())
        return Target(netns=None if netns == "host" else netns, pod_ip=pod_ip, container_pid=run.pid,
                      exec_config=self.layout.container_config(run.name), cgroup_procs=procs)

    def _ports(self, run: ContainerRun) -> dict[str, int]:
        return {p.name: p.container_port for p in run.spec.ports if p.name}

    def _run_hook(self, run: ContainerRun, action: Any, timeout: float, done: Callable[[ActionResult], None]) -> None:
        """exec and httpGet hooks run as children; a sleep hook is a timer."""
        handler, sleep = handler_of(action)
        run.hooks = run.hooks or ActionRunner(self.node.loop)
        if sleep is not None:
            run.timer = self.node.loop.call_later(min(sleep, timeout), lambda: done(ActionResult(True, "")))
            return
        run.hooks.run(handler, self._target(run), timeout, self._ports(run), "lifecycle", done)

    def _post_start(self, run: ContainerRun, action: Any) -> None:
        """The container is not Running until postStart returns; a failed hook kills it (kubelet)."""
        run.rec["postStartPending"] = True
        run.save()
        instance = run.rec.get("containerID")

        def done(result: ActionResult) -> None:
            run.timer = None
            if run.rec.get("containerID") != instance or not run.alive():
                return
            run.rec["postStartPending"] = False
            run.save()
            if result.result is True:
                self._running(run)
                return
            self.event("Warning", "FailedPostStartHook", f"PostStartHook failed: {result.message}".rstrip(), run)
            self.stop_container(run, self.pod.spec.termination_grace_period_seconds,
                                f"FailedPostStartHook: container {run.name} will be killed")

        self._run_hook(run, action, float(max(30, self.pod.spec.termination_grace_period_seconds)), done)

    def _running(self, run: ContainerRun) -> None:
        """postStart is done: start the probes (startup gates readiness and liveness)."""
        workers = ContainerProbes(run.spec, self.node.loop, self._target(run), self._ports(run),
                                  lambda kind, raw, outcome, msg, r=run: self._probe_outcome(r, kind, raw, outcome, msg))
        run.probes = workers
        started = "startup" not in workers.workers
        # kubelet prober manager: readiness is not even considered before the container has started.
        run.rec.update(started=started, ready=started and not workers.has_readiness)
        run.save()
        workers.start()
        if run.kind == "sidecar":
            self.sync()  # the next init container may wait for this sidecar to be started

    def _probe_outcome(self, run: ContainerRun, kind: str, raw: bool | None, outcome: Any, message: str) -> None:
        if not run.alive() or run.stopping:
            return
        if raw is False:  # kubelet prober: every failed probe is an event, below the threshold too
            self.event("Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {message}".rstrip(), run)
        elif raw is None:
            self.event("Warning", "Unhealthy", f"{kind.capitalize()} probe errored: {message}".rstrip(), run)
        if kind == "readiness" and outcome.changed:
            run.rec["ready"] = bool(outcome.result)
            run.save()
        elif kind == "startup" and outcome.result is True and not run.rec.get("started"):
            run.rec["started"] = True
            run.rec["ready"] = run.probes is None or not run.probes.has_readiness
            run.save()
            if run.kind == "sidecar":
                self.sync()
        if outcome.kill:
            probe = run.spec.liveness_probe if kind == "liveness" else run.spec.startup_probe
            grace = probe.termination_grace_period_seconds
            if grace is None:
                grace = self.pod.spec.termination_grace_period_seconds
            self.stop_container(run, grace, f"Container {run.name} failed {kind} probe, will be restarted")

    def _prepare(self, run: ContainerRun, image: Any) -> Any:
        # Fail closed: without verified sandbox facts the container is not started (never the host's namespaces).
        sandbox = sbx.verified_sandbox(self.layout, self.pod.spec, self.sandbox)
        cdir = self.layout.container_dir(run.name)
        os.makedirs(cdir, exist_ok=True)
        ensure_data_dir(self.paths)
        layer = self.paths.layer(run.name)  # on disk: a container's writes are not RAM
        # A (re)started container gets a fresh writable layer, as containerd gives each new container.
        shutil.rmtree(layer, ignore_errors=True)
        for d in ("upper", "work", "merged"):
            os.makedirs(os.path.join(layer, d), exist_ok=True)
        log = os.path.join(cdir, "termination-log")
        with open(log, "w"):
            pass
        os.chmod(log, 0o666)  # as the kubelet makes it: whatever user the container runs as writes its message
        facts = SandboxFacts(
            namespaces=sandbox.namespaces, shm=sandbox.shm, etc_files=self.node.etc_mounts(self),
            volumes=self.volumes, pod_ip=(sandbox.network or {}).get("ip", ""),
            host_ip=self.node.host_ip, node_name=self.node.cfg.node_name,
        )
        cfg = container_config(self.pod, run.spec, image, facts, layout=self.layout, node_cpus=self.node.cpus,
                               node_memory=self.node.memory,
                               read_image_file=lambda path: read_file_in(image.rootfs, path),
                               seccomp_profile_root=self.node.cfg.seccomp_profile_root,
                               seccomp_default=self.node.cfg.seccomp_default)
        cg_mounts, cgroupns = self.node.cgroup_mounts(self, run)
        cfg = cfg._replace(mounts=cfg.mounts + tuple(cg_mounts), cgroupns=cgroupns, upper=os.path.join(layer, "upper"),
                           work=os.path.join(layer, "work"), merged=os.path.join(layer, "merged"))
        write_text(self.layout.container_config(run.name), cfg.to_json())  # 0600: it holds the env
        return cfg

    def _attach_logs(self, run: ContainerRun, out_r: int, err_r: int) -> None:
        count = int(run.rec.get("restartCount", 0))
        ensure_log_dir(self.paths, run.name)
        cfg = self.node.cfg
        log = LogFile(self.paths.log_file(run.name, count), streams=2,
                      policy=RotationPolicy(cfg.container_log_max_size, cfg.container_log_max_files))
        for fd, stream in ((out_r, "stdout"), (err_r, "stderr")):
            writer = LogWriter(log, stream)
            os.set_blocking(fd, False)
            run.readers.append((fd, writer))
            self.node.loop.add_reader(fd, lambda fd=fd, w=writer, r=run: self._pump(r, fd, w))

    def _reopen_logs(self, run: ContainerRun) -> None:
        """After a supervisor restart: the pipes still exist, held by the container; open new read ends."""
        fds = []
        for n in (1, 2):
            try:
                fds.append(os.open(f"/proc/{run.pid}/fd/{n}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            except OSError:
                fds.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
        self._attach_logs(run, fds[0], fds[1])

    def _pump(self, run: ContainerRun, fd: int, writer: LogWriter, final: bool = False) -> None:
        if all(f != fd for f, _ in run.readers):
            return
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                if final:
                    writer.flush()
                return
            except OSError:
                data = b""
            if not data:
                writer.close()
                self.node.loop.remove_reader(fd)
                os.close(fd)
                run.readers = [(f, w) for f, w in run.readers if f != fd]
                return
            writer.feed(data)

    def _fail_to_create(self, run: ContainerRun, reason: str, message: str) -> None:
        run.rec.update(waiting={"reason": reason, "message": message})
        failures = run.rec.get("createFailures", 0) + 1
        run.rec["createFailures"] = failures
        run.save()
        self.event("Warning", "Failed", f"Error: {message}", run)
        delay = max(1.0, self.backoff.delay(failures + 1))
        if not self.terminating:
            run.timer = self.node.loop.call_later(delay, lambda: self.start(run))

    def on_exit(self, run: ContainerRun, status: int | None) -> None:
        if run.probes is not None:
            run.probes.stop()
            run.probes = None
        if run.hooks is not None:
            run.hooks.cancel_all()
        self.node.loop.cancel(run.kill_timer)
        self.node.loop.cancel(run.timer)
        run.timer = run.kill_timer = None
        run.stopping = run.stop_hook_running = run.stop_extended = False
        run.rec["postStartPending"] = False
        for fd, writer in list(run.readers):
            self._pump(run, fd, writer, final=True)
        now = time.time()
        if status is None:
            self._record_exit(run, None, now, reason="ContainerStatusUnknown",
                              message="The container exited while pyrunc's supervisor was not running; its exit status is unknown")
        else:
            self._record_exit(run, status, now)

    def _record_exit(self, run: ContainerRun, status: int | None, now: float, reason: str = "", message: str = "") -> None:
        rec = run.rec
        if status is None:
            code, sig = 137, 0
        else:
            code = os.waitstatus_to_exitcode(status)
            sig = 0
            if code < 0:
                sig, code = -code, 128 - code
        if not reason:
            if self.node.cgroups_oom_killed(self, run):
                reason = "OOMKilled"
            else:
                reason = "Completed" if code == 0 else "Error"
        if not message:
            message = self._termination_message(run, code)
        rec["terminated"] = {
            "exitCode": code, "signal": sig or None, "reason": reason, "message": message or None,
            "startedAt": rec.get("startedAt"), "finishedAt": rfc3339(now), "containerID": rec.get("containerID"),
        }
        rec["ready"] = False
        ran_for = now - float(rec.get("startedEpoch", now))
        policy = self.restart_policy(run)
        if self.terminating or not should_restart(policy, code):
            rec["willRestart"] = False
            run.save()
            if self.terminating:
                self._maybe_finish()
            else:
                self.sync()
            return
        failures = self.backoff.failures_after_exit(int(rec.get("failures", 0)), ran_for)
        delay = self.backoff.delay(failures)
        rec.update(failures=failures, willRestart=True, backoffUntil=now + delay,
                   backoffMessage=backoff_message(delay, run.name, self.pod.metadata.name,
                                                  self.pod.metadata.namespace, self.uid))
        run.save()
        if delay > 0:
            self.event("Warning", "BackOff", "Back-off restarting failed container " + run.name, run)
        run.timer = self.node.loop.call_later(delay, lambda: self.restart(run))
        self.sync()

    def _termination_message(self, run: ContainerRun, code: int) -> str:
        try:
            with open(os.path.join(self.layout.container_dir(run.name), "termination-log"), "rb") as f:
                text = f.read(TERMINATION_MESSAGE_MAX).decode(errors="replace")
        except OSError:
            text = ""
        if not text and code != 0 and run.spec.termination_message_policy == "FallbackToLogsOnError":
            text = self._log_tail(run)
        return text

    def _log_tail(self, run: ContainerRun) -> str:
        try:
            data = read_last(self.paths.log_file(run.name, int(run.rec.get("restartCount", 0))), 64 * 1024)
        except OSError:
            return ""
        lines = [r.content for r in parse_records(data)][-80:]
        return b"\n".join(lines)[-2048:].decode(errors="replace")

    def restart(self, run: ContainerRun) -> None:
        run.timer = None
        if self.terminating:
            return
        rec = run.rec
        rec["restartCount"] = int(rec.get("restartCount", 0)) + 1
        rec["lastTerminated"] = rec.get("terminated")
        self.node.cgroups_reset_container(self, run)
        self.start(run)

    # ---------------------------------------------------------------- termination
    def terminate(self, grace: int | None, done: Callable[[], None]) -> None:
        """Stop every container within the grace period, then tear the pod down and call `done`.

        Main containers first (preStop, then the stop signal, SIGKILL at the deadline); native
        sidecars after the last main container ended, last one first. A shorter grace period given
        later (delete --grace-period=0 --force) cuts the running one short.
        """
        self.on_terminated.append(done)
        if grace is None:
            grace = self.pod.spec.termination_grace_period_seconds
        now = time.monotonic()
        if self.terminating and self.deadline is not None and now + grace >= self.deadline:
            return
        self.terminating = True
        self.deadline = now + grace
        meta = self.manifest["metadata"]
        meta.setdefault("deletionTimestamp", rfc3339(time.time() + grace))
        meta["deletionGracePeriodSeconds"] = grace
        write_json(self.layout.pod_json, self.manifest)
        for run in self.runs:
            self.node.loop.cancel(run.timer)
            run.timer = None
            if run.rec.get("willRestart"):
                run.rec["willRestart"] = False
                run.save()
        if grace <= 0:
            for run in self.runs:
                if run.alive():
                    self._kill(run)
        else:
            self._stop_stage()
        self._maybe_finish()

    def _remaining(self) -> float:
        return max(0.0, (self.deadline or 0.0) - time.monotonic())

    def _stop_stage(self) -> None:
        mains = [r for r in self.runs if r.kind != "sidecar" and r.alive()]
        if mains:
            for run in mains:
                self.stop_container(run, self._remaining(), f"Stopping container {run.name}", shorten=True)
            return
        for run in reversed(self.runs):
            if run.kind == "sidecar" and run.alive():
                self.stop_container(run, self._remaining(), f"Stopping container {run.name}", shorten=True)
                return

    def stop_container(self, run: ContainerRun, grace: float, message: str, shorten: bool = False) -> None:
        """kubelet killContainer: preStop (inside the grace period), the stop signal, SIGKILL at the end."""
        if run.stopping:
            if shorten and run.kill_timer is not None:
                self.node.loop.cancel(run.kill_timer)
                run.kill_timer = self.node.loop.call_later(min(grace, self._remaining()), lambda: self._grace_over(run))
            return
        run.stopping = True
        if run.probes is not None:
            run.probes.stop()
        self.event("Normal", "Killing", message, run)
        if grace <= 0:
            self._kill(run)
            return
        run.kill_timer = self.node.loop.call_later(grace, lambda: self._grace_over(run))
        lifecycle = run.spec.lifecycle
        if lifecycle is not None and lifecycle.pre_stop is not None:
            run.stop_hook_running = True

            def hook_done(result: ActionResult) -> None:
                run.stop_hook_running = False
                if result.result is not True:
                    self.event("Warning", "FailedPreStopHook", f"PreStopHook failed: {result.message}".rstrip(), run)
                if run.alive():
                    self._signal(run, self._stop_signal(run))

            self._run_hook(run, lifecycle.pre_stop, grace + PRESTOP_EXTENSION, hook_done)
        else:
            self._signal(run, self._stop_signal(run))

    def _grace_over(self, run: ContainerRun) -> None:
        run.kill_timer = None
        if not run.alive():
            return
        if run.stop_hook_running and not run.stop_extended:
            run.stop_extended = True  # a one-off 2 s more for a preStop hook that overran
            run.kill_timer = self.node.loop.call_later(PRESTOP_EXTENSION, lambda: self._grace_over(run))
            return
        self._kill(run)

    def _stop_signal(self, run: ContainerRun) -> int:
        try:
            with open(self.layout.container_config(run.name), encoding="utf-8") as f:
                return int(json.load(f).get("stop_signal", signal.SIGTERM))
        except (OSError, ValueError):
            return int(signal.SIGTERM)

    def _signal(self, run: ContainerRun, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, sig)

    def _kill(self, run: ContainerRun) -> None:
        """SIGKILL to a PID namespace's init kills every process in it; the cgroup kill reaches the
        rest (shared or host PID namespaces, processes that escaped)."""
        if run.hooks is not None:
            run.hooks.cancel_all()
        self._signal(run, signal.SIGKILL)
        self.node.cgroups_kill(self, run)

    def _maybe_finish(self) -> None:
        if not self.terminating:
            return
        if any(r.alive() for r in self.runs):
            self._stop_stage()
            return
        self.teardown()
        callbacks, self.on_terminated = self.on_terminated, []
        for cb in callbacks:
            cb()

    def teardown(self) -> None:
        """Idempotent: everything of the pod goes — logs readers, cgroups, network, mounts, files."""
        self.node.loop.cancel(self.volume_retry)
        for run in self.runs:
            self.node.loop.cancel(run.timer)
            self.node.loop.cancel(run.kill_timer)
            if run.probes is not None:
                run.probes.stop()
            if run.hooks is not None:
                run.hooks.cancel_all()
            for fd, writer in run.readers:
                self.node.loop.remove_reader(fd)
                with contextlib.suppress(OSError):
                    writer.close()
                with contextlib.suppress(OSError):
                    os.close(fd)
            run.readers = []
        self.node.loop.cancel(self.disk_timer)
        self.node.cgroups_teardown(self)
        self.node.network_teardown(self)
        sbx.teardown_sandbox(self.layout, self.sandbox)
        remove_pod_data(self.paths)


def new_manifest(pod: Pod, pod_dict: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a newly applied pod: uid and creationTimestamp filled in."""
    manifest = dict(pod_dict)
    meta = dict(manifest["metadata"])
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = rfc3339(time.time())
    manifest["metadata"] = meta
    return manifest

