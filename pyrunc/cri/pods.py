"""The supervisor's side of `pyrunc cri`: CRI sandboxes and containers run by the runtime service.

The edge process (server.py) sends each CRI call to the supervisor as one request on its socket:
    {"op": "cri", "call": "RunPodSandbox", "request": {...the CRI message as JSON...}}
    -> {"ok": true, "response": {...the CRI answer as JSON...}}  or a failure whose `code` is a gRPC status
`CriRuntime.handle` serves them in the supervisor's loop, with its RuntimeService: mechanism only. A CRI
sandbox is a pyrunc pod (translate.py) held by a `CriPod` in the daemon's map of pods, beside the pod
workers: it answers the daemon as a worker does (adopt, on_exit, ...) but applies no policy (no restart,
probe, hook, grace period, volume): the kubelet owns those and drives every step through CRI.

Facts (one writer, the supervisor): pod.json (the pod, marked with translate.SANDBOX_ANNOTATION and holding
the containers the kubelet created), cri.json (the sandbox's CRI config, its state and each container's
CRI metadata, labels, annotations and mounts); the runtime's own sandbox.json and container.json.

Stop and remove answer once the containers' exits arrived (the runtime's on_exit), as CRI asks: the
reply is deferred, the loop goes on.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from typing import Any, Callable

from pyrunc.clock import Clock
from pyrunc.config import NodeConfig
from pyrunc.cri import translate as tr
from pyrunc.cri.translate import CriError
from pyrunc.errors import CgroupError, PyruncError, SpecError
from pyrunc.network import PortMapping
from pyrunc.runtime.records import ContainerRecord, ContainerState
from pyrunc.runtime.service import CreateError, RuntimeService, resources_of
from pyrunc.sandbox import sandbox as sbx
from pyrunc.spec.load import pod_from_dict, pod_to_dict
from pyrunc.spec.model import Pod
from pyrunc.store.atomic import private_dir, read_json, write_json
from pyrunc.store.layout import PodLayout
from pyrunc.worker.admission import HostPort

log = logging.getLogger("pyrunc.cri")
Reply = Callable[[dict[str, Any]], None]
RUNTIME_NAME = "pyrunc"
RUNTIME_API_VERSION = "v1"
EVENTS_KEPT = 1000  # GetContainerEvents: the events a slow reader may still catch up with
EVENTS_POLL = 5.0  # seconds a long poll of the edge waits for an event before answering none


def cri_json(layout: PodLayout) -> str:
    return layout.path("cri.json")


def is_cri_manifest(manifest: dict[str, Any]) -> bool:
    return tr.SANDBOX_ANNOTATION in (manifest.get("metadata", {}).get("annotations") or {})


class CriPod:
    """One CRI sandbox: its pod, its CRI facts, and the replies waiting for its containers' exits."""

    def __init__(self, rt: RuntimeService, layout: PodLayout, manifest: dict[str, Any], facts: dict[str, Any]) -> None:
        self.rt = rt
        self.layout = layout
        self.manifest = manifest
        self.pod = pod_from_dict(manifest, allow_no_containers=True)
        self.facts = facts
        self.sandbox: sbx.SandboxState | None = None
        self.removed = False
        self.on_terminated: list[Callable[[], None]] = []
        self.waiters: dict[str, list[Callable[[], None]]] = {}  # container id -> called at its exit
        # CriRuntime.emit: (pod, container id, CRI event type) as a container is created, started, stopped, deleted
        self.notify: Callable[[CriPod, str, str], None] = lambda pod, cid, kind: None

    # ------------------------------------------------------------------ what the daemon asks of a pod
    @property
    def uid(self) -> str:
        return self.pod.metadata.uid

    @property
    def id(self) -> str:
        return str(self.facts["id"])

    @property
    def terminating(self) -> bool:
        return False  # the kubelet stops and removes it through CRI; pyrunc never terminates it

    def create(self, ports: list[PortMapping]) -> None:
        private_dir(self.layout.dir)
        self.save()
        try:
            self.sandbox = self.rt.run_pod_sandbox(self.pod, self.layout, ports,
                                                   cgroup_parent=tr.cgroup_parent(self.facts["config"]))
        except BaseException:
            self.rt.remove_pod_sandbox(self.pod, self.layout, self.sandbox)
            raise

    def adopt(self) -> None:
        """After a supervisor restart: watch the containers that still run; nothing else (no policy)."""
        self.sandbox = sbx.load_sandbox(self.layout)
        for record in self.records().values():
            self.rt.adopt_container(self.pod, self.layout, record)

    def sync(self) -> None:
        pass

    def degraded(self, message: str) -> None:
        log.warning("CRI pod %s: %s", self.layout.key, message)

    def on_exit(self, record: ContainerRecord) -> None:
        if record.id in self.facts["containers"]:
            self.notify(self, record.id, "CONTAINER_STOPPED_EVENT")
        for waiter in self.waiters.pop(record.id, []):
            waiter()

    def terminate(self, grace: int | None, done: Callable[[], None]) -> None:
        """Only for a pod.json marked deleted by hand: removed as RemovePodSandbox would."""
        self.remove(done)

    # ------------------------------------------------------------------ containers
    def records(self) -> dict[str, ContainerRecord]:
        """Container name -> its record (the containers the kubelet created and did not remove)."""
        return {r.name: r for r in self.rt.list_containers(self.pod, self.layout)}

    def record_of(self, container_id: str) -> ContainerRecord | None:
        entry = self.facts["containers"].get(container_id)
        return self.rt.container_status(self.layout, entry["name"]) if entry else None

    def save(self) -> None:
        write_json(self.layout.pod_json, pod_to_dict(self.pod))
        write_json(cri_json(self.layout), self.facts)

    def _set_manifest(self, manifest: dict[str, Any]) -> None:
        try:
            pod = pod_from_dict(manifest, allow_no_containers=True)
        except SpecError as e:
            raise CriError(f"the container is not valid as pyrunc runs it: {e.message}") from None
        self.manifest, self.pod = manifest, pod

    def create_container(self, config: dict[str, Any]) -> str:
        if self.facts.get("stopped"):
            raise CriError(f"sandbox {self.id} is not ready", "FAILED_PRECONDITION")
        meta = config.get("metadata", {})
        name = tr.container_name(meta)
        if any(c.name == name for c in self.pod.spec.containers):
            raise CriError(f"container {meta.get('name')} attempt {meta.get('attempt', 0)} exists in sandbox {self.id}",
                           "ALREADY_EXISTS")
        spec_dict, volumes = tr.container_manifest(config, name, len(self.manifest["spec"].get("volumes", [])))
        devices = tr.container_devices(config)
        security = tr.container_security(config, self.facts["config"], self.rt.cfg.seccomp_profile_root)
        linux_resources = (config.get("linux") or {}).get("resources") or {}
        resources, oom_score_adj = tr.container_resources(linux_resources, "config.linux.resources")
        raw = tr.raw_resources(linux_resources, "config.linux.resources", self.rt.cgroups.version)
        spec_dict = {**spec_dict, "securityContext": security.container,
                     **({"resources": resources} if resources else {})}
        old = self.manifest
        # The pod-level fields CRI sends per container (supplemental groups) are set in the pod's securityContext
        # as this container is created: the runtime reads them now, and each container's config is fixed at its
        # creation, so the next container's values do not change this one.
        pod_security = {**tr.sandbox_security(self.facts["config"]), **security.pod}
        new = {**old, "spec": {**old["spec"], "containers": [*old["spec"]["containers"], spec_dict],
                               "volumes": [*old["spec"].get("volumes", []), *volumes],
                               "securityContext": pod_security}}
        self._set_manifest(new)
        log_path = ""
        log_dir = str(self.facts["config"].get("log_directory") or "")
        if log_dir and config.get("log_path"):
            log_path = os.path.join(log_dir, str(config["log_path"]))
            os.makedirs(os.path.dirname(log_path), 0o755, exist_ok=True)
        spec = next(c for c in self.pod.spec.containers if c.name == name)
        try:
            record = self.rt.create_container(self.pod, self.layout, spec, int(meta.get("attempt") or 0),
                                              {v["name"]: v["hostPath"]["path"] for v in volumes}, log_path,
                                              masked_paths=security.masked_paths,
                                              readonly_paths=security.readonly_paths,
                                              oom_score_adj=oom_score_adj, devices=devices, raw_resources=raw,
                                              username=security.username,
                                              ambient_capabilities=security.ambient)
        except CreateError as e:
            self._set_manifest(old)
            raise CriError(f"{e.reason}: {e.message}", "UNKNOWN") from None
        self.facts["containers"][record.id] = {
            "name": name, "metadata": {"name": str(meta.get("name")), "attempt": int(meta.get("attempt") or 0)},
            "image": spec_dict["image"], "labels": config.get("labels", {}),
            "annotations": config.get("annotations", {}), "mounts": config.get("mounts", []),
            "resources": linux_resources,
        }
        uid, gid, groups = self.rt.container_identity(self.layout, name)
        self.facts["containers"][record.id]["user"] = {"uid": uid, "gid": gid, "supplemental_groups": list(groups)}
        self.save()
        return record.id

    def update_resources(self, container_id: str, linux: dict[str, Any]) -> None:
        """UpdateContainerResources: the container's requests and limits in pod.json anew, and its cgroup
        rewritten now (a container that does not run yet starts with them)."""
        entry = self.facts["containers"].get(container_id)
        if entry is None:
            raise tr.not_found(f"container {container_id}")
        resources, _ = tr.container_resources(linux, "linux")
        raw = tr.raw_resources(linux, "linux", self.rt.cgroups.version)
        spec = self.manifest["spec"]
        containers = [{**{k: v for k, v in c.items() if k != "resources"},
                       **({"resources": resources} if resources else {})} if c["name"] == entry["name"] else c
                      for c in spec["containers"]]
        self._set_manifest({**self.manifest, "spec": {**spec, "containers": containers}})
        entry["resources"] = linux  # what ContainerStatus reports from now on
        self.save()
        record = self.record_of(container_id)
        if record is not None and record.state is ContainerState.CREATED:
            self.rt.set_created_raw_resources(self.layout, record, raw)  # its start writes them
        if record is not None and record.state is ContainerState.RUNNING:
            container = next(c for c in self.pod.spec.containers if c.name == entry["name"])
            try:
                self.rt.update_container_resources(self.pod, entry["name"], resources_of(container), raw)
            except CgroupError as e:
                raise CriError(f"linux: {e.message}", "UNKNOWN") from None

    def start_container(self, container_id: str) -> None:
        record = self.record_of(container_id)
        if record is None:
            raise tr.not_found(f"container {container_id}")
        if record.state is not ContainerState.CREATED:
            raise CriError(f"container {container_id} is {record.state.value.lower()}, not created",
                           "FAILED_PRECONDITION")
        try:
            started = self.rt.start_container(self.pod, self.layout, record)
        except CreateError as e:
            raise CriError(f"{e.reason}: {e.message}", "UNKNOWN") from None
        if started.state is not ContainerState.RUNNING:
            raise CriError(f"container {container_id} did not start: {started.message}", "UNKNOWN")

    def stop_container(self, container_id: str, timeout: float, done: Callable[[], None]) -> None:
        """The stop signal, SIGKILL after `timeout`; `done` once it exited (at once if it does not run)."""
        record = self.record_of(container_id)
        if record is None or record.state is not ContainerState.RUNNING:
            done()
            return
        self.waiters.setdefault(container_id, []).append(done)
        self.rt.stop_container(container_id, timeout)

    def stop_all(self, done: Callable[[], None]) -> None:
        """SIGKILL every running container; `done` when the last exit arrived."""
        running = [cid for cid in self.facts["containers"]
                   if (r := self.record_of(cid)) is not None and r.state is ContainerState.RUNNING]
        left = set(running)
        if not left:
            done()
            return

        def one_done(cid: str) -> Callable[[], None]:
            def finished() -> None:
                left.discard(cid)
                if not left:
                    done()
            return finished

        for cid in running:
            self.stop_container(cid, 0.0, one_done(cid))

    def remove_container(self, container_id: str) -> None:
        """An exited (or never started) container goes: its cgroup, layer and records; its log stays."""
        entry = self.facts["containers"].get(container_id)
        if entry is None:
            return
        record = self.rt.container_status(self.layout, entry["name"])
        if record is not None:
            self.rt.remove_container(self.pod, self.layout, record)
        shutil.rmtree(self.layout.container_dir(entry["name"]), ignore_errors=True)
        spec = self.manifest["spec"]
        kept = [c for c in spec["containers"] if c["name"] != entry["name"]]
        mounts = {m["name"] for c in spec["containers"] if c["name"] == entry["name"] for m in c.get("volumeMounts", [])}
        volumes = [v for v in spec.get("volumes", []) if v["name"] not in mounts]
        self._set_manifest({**self.manifest, "spec": {**spec, "containers": kept, "volumes": volumes}})
        del self.facts["containers"][container_id]
        self.save()
        self.notify(self, container_id, "CONTAINER_DELETED_EVENT")

    def remove(self, done: Callable[[], None]) -> None:
        def stopped() -> None:
            for cid in list(self.facts["containers"]):
                self.remove_container(cid)
            self.rt.remove_pod_sandbox(self.pod, self.layout, self.sandbox)
            self.removed = True
            callbacks, self.on_terminated = self.on_terminated, []
            for cb in callbacks:
                cb()
            done()

        self.stop_all(stopped)

    def host_ports(self) -> list[HostPort]:
        """The host ports the sandbox holds (for the admission of pyrunc's own pods): its port mappings,
        until StopPodSandbox releases them."""
        if self.removed or self.facts.get("stopped"):
            return []
        return [HostPort(proto, ip or "0.0.0.0", host) for host, _, proto, ip in tr.port_mappings(self.facts["config"])]

    # ------------------------------------------------------------------ stats
    def container_stats(self, container_id: str, now: int) -> dict[str, Any]:
        entry = self.facts["containers"][container_id]
        try:
            stats = self.rt.container_stats(self.pod, entry["name"])
        except (OSError, PyruncError):
            stats = None  # no cgroup: never started, or gone with its exit
        layer = self.rt.writable_layer_usage(self.pod, entry["name"])
        return dict(tr.container_stats_message(container_id, entry, stats, layer, now))

    def sandbox_stats(self, now: int) -> dict[str, Any]:
        config = self.facts["config"]
        attributes = {"id": self.id, "metadata": self.metadata(), "labels": config.get("labels", {}),
                      "annotations": config.get("annotations", {})}
        try:
            stats = self.rt.container_stats(self.pod, None)
        except (OSError, PyruncError):
            stats = None
        containers = [self.container_stats(cid, now) for cid in self.facts["containers"]]
        network = None if self.pod.spec.host_network else self.rt.pod_network_usage(self.layout)
        return dict(tr.sandbox_stats_message(attributes, stats, network, containers, now))

    # ------------------------------------------------------------------ status
    def ready(self) -> bool:
        if self.facts.get("stopped"):
            return False
        try:
            sbx.verified_sandbox(self.layout, self.pod.spec, sbx.load_sandbox(self.layout))
        except PyruncError:
            return False
        return True

    def metadata(self) -> dict[str, Any]:
        meta = self.facts["config"].get("metadata", {})
        return {k: meta[k] for k in ("name", "uid", "namespace", "attempt") if k in meta}

    def summary(self) -> dict[str, Any]:
        config = self.facts["config"]
        return {"id": self.id, "metadata": self.metadata(),
                "state": "SANDBOX_READY" if self.ready() else "SANDBOX_NOTREADY",
                "created_at": tr.nanos(float(self.facts["created"])),
                "labels": config.get("labels", {}), "annotations": config.get("annotations", {}),
                "runtime_handler": self.facts.get("runtime_handler", "")}

    def container_statuses(self) -> list[dict[str, Any]]:
        out = []
        for cid, entry in self.facts["containers"].items():
            record = self.rt.container_status(self.layout, entry["name"])
            if record is not None:
                out.append(dict(tr.container_status(record.to_json(), entry)))
        return out

    def status(self) -> dict[str, Any]:
        out = self.summary()
        out.pop("runtime_handler")
        sandbox = sbx.load_sandbox(self.layout)
        ip = str(((sandbox.network if sandbox else None) or {}).get("ip", ""))
        if ip:
            out["network"] = {"ip": ip}
        modes = tr.namespace_modes(self.facts["config"])
        out["linux"] = {"namespaces": {"options": modes}}
        out["runtime_handler"] = self.facts.get("runtime_handler", "")
        return out


class CriRuntime:
    """The CRI calls the supervisor serves, over the daemon's map of pods (where CriPods sit beside workers)."""

    def __init__(self, cfg: NodeConfig, rt: RuntimeService, clock: Clock, pods: dict[str, Any],
                 guarded: Callable[[Reply, Callable[[], None]], None]) -> None:
        self.cfg = cfg
        self.rt = rt
        self.clock = clock
        self.pods = pods  # the daemon's: key -> PodWorker | HeldPod | CriPod
        self.guarded = guarded
        # GetContainerEvents: the recent events, numbered; the edge long-polls for those after the last it saw
        # (`epoch` tells it when a new supervisor numbers them afresh).
        self.events: list[dict[str, Any]] = []
        self.seq = 0
        self.epoch = uuid.uuid4().hex
        self.event_waiters: list[Callable[[], None]] = []

    def adopt(self, layout: PodLayout, manifest: dict[str, Any]) -> CriPod:
        pod = CriPod(self.rt, layout, manifest, read_json(cri_json(layout), {}) or {})
        pod.notify = self.emit
        if not pod.facts:
            raise PyruncError(f"CRI pod {layout.key} has no cri.json")
        pod.adopt()
        return pod

    # ------------------------------------------------------------------ events
    def emit(self, pod: CriPod, container_id: str, kind: str) -> None:
        """One container event, with its sandbox's status and its containers' as containerd sends them."""
        try:
            sandbox: dict[str, Any] | None = pod.status()
        except (OSError, PyruncError):
            sandbox = None  # the sandbox is going (RemovePodSandbox): the event goes without it
        self.seq += 1
        event: dict[str, Any] = {"seq": self.seq, "container_id": container_id, "container_event_type": kind,
                                 "created_at": tr.nanos(self.clock.wall()),
                                 "containers_statuses": pod.container_statuses()}
        if sandbox is not None:
            event["pod_sandbox_status"] = sandbox
        self.events = [*self.events[-(EVENTS_KEPT - 1):], event]
        waiters, self.event_waiters = self.event_waiters, []
        for wake in waiters:
            wake()

    def _ContainerEvents(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        """Not a CRI call: the edge's long poll behind GetContainerEvents. `after` None: from now on; else the
        events numbered after it, answered as soon as there is one (or none after EVENTS_POLL seconds)."""
        after = req.get("after")
        if after is None or req.get("epoch") != self.epoch:
            fresh = after is not None  # a new supervisor: what it has seen so far
            answer({"epoch": self.epoch, "seq": self.seq, "events": self.events if fresh else []})
            return
        newer = [e for e in self.events if e["seq"] > int(after)]
        if newer:
            answer({"epoch": self.epoch, "seq": self.seq, "events": newer})
            return
        done = False

        def respond() -> None:
            nonlocal done
            if not done:
                done = True
                self.rt.loop.cancel(timer)
                answer({"epoch": self.epoch, "seq": self.seq, "events": [e for e in self.events if e["seq"] > int(after)]})

        timer = self.rt.loop.call_later(EVENTS_POLL, respond)
        self.event_waiters.append(respond)

    def _cri_pods(self) -> list[CriPod]:
        return [p for p in self.pods.values() if isinstance(p, CriPod) and not p.removed]

    def _sandbox(self, sandbox_id: str) -> CriPod | None:
        return next((p for p in self._cri_pods() if p.id == sandbox_id), None)

    def _container(self, container_id: str) -> CriPod | None:
        return next((p for p in self._cri_pods() if container_id in p.facts["containers"]), None)

    def handle(self, req: dict[str, Any], reply: Reply) -> None:
        call = str(req.get("call"))
        body = req.get("request") or {}
        if not isinstance(body, dict):
            raise CriError("request: expected an object")
        method = getattr(self, f"_{call}", None)
        if method is None:
            raise CriError(f"{call} is not served by this supervisor", "UNIMPLEMENTED")

        def answer(response: dict[str, Any]) -> None:
            reply({"ok": True, "response": response})

        method(body, answer)

    # ------------------------------------------------------------------ sandboxes
    def _RunPodSandbox(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802 - CRI's names
        config = req.get("config") or {}
        handler = str(req.get("runtime_handler") or "")
        if handler not in ("", RUNTIME_NAME):
            raise CriError(f"runtime_handler: unknown handler {handler!r} (pyrunc has the default one only)")
        uid = str(uuid.uuid4())
        sandbox_id = uid.replace("-", "")  # the CRI id: the pyrunc pod's uid in hex
        manifest = tr.sandbox_manifest(config, sandbox_id, uid)
        try:
            pod_from_dict(manifest, allow_no_containers=True)
        except SpecError as e:
            raise CriError(f"the sandbox is not valid as pyrunc runs it: {e.message}") from None
        meta = manifest["metadata"]
        layout = PodLayout(self.cfg.root, meta["namespace"], meta["name"])
        if layout.key in self.pods or os.path.exists(layout.dir):
            raise CriError(f"a pod {meta['namespace']}/{meta['name']} exists on this node", "ALREADY_EXISTS")
        tr.cgroup_parent(config)  # refused before anything is made
        ports = [PortMapping(h, c, p, ip) for h, c, p, ip in tr.port_mappings(config)]
        for p in ports:
            p.check()
        facts = {"id": sandbox_id, "config": config, "created": self.clock.wall(), "stopped": False,
                 "runtime_handler": handler, "containers": {}}
        pod = CriPod(self.rt, layout, manifest, facts)
        pod.notify = self.emit
        self.pods[layout.key] = pod
        try:
            pod.create(ports)
        except BaseException:
            self.pods.pop(layout.key, None)
            raise
        answer({"pod_sandbox_id": sandbox_id})

    def _StopPodSandbox(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod = self._sandbox(str(req.get("pod_sandbox_id") or ""))
        if pod is None:
            answer({})  # idempotent: stopped, or removed already
            return

        def stopped() -> None:
            # containerd tears the sandbox's network down at stop (the kubelet may keep a stopped sandbox
            # for long): its address and hostPorts are free for the next pod.
            pod.rt.release_pod_network(pod.pod, pod.layout)
            pod.facts["stopped"] = True
            pod.save()
            answer({})

        pod.stop_all(lambda: self.guarded(answer, stopped))

    def _RemovePodSandbox(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod = self._sandbox(str(req.get("pod_sandbox_id") or ""))
        if pod is None:
            answer({})  # idempotent, as CRI asks: an unknown sandbox is removed already
            return

        def removed() -> None:
            self.pods.pop(pod.layout.key, None)
            answer({})

        pod.remove(lambda: self.guarded(answer, removed))

    def _PodSandboxStatus(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        sandbox_id = str(req.get("pod_sandbox_id") or "")
        pod = self._sandbox(sandbox_id)
        if pod is None:
            raise tr.not_found(f"pod sandbox {sandbox_id}")
        answer({"status": pod.status(), "timestamp": tr.nanos(self.clock.wall())})

    def _ListPodSandbox(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        filt = req.get("filter") or {}
        items = []
        for pod in self._cri_pods():
            item = pod.summary()
            if filt.get("id") and not pod.id.startswith(str(filt["id"])):
                continue
            if "state" in filt and item["state"] != filt["state"].get("state", "SANDBOX_READY"):
                continue
            if not tr.selected(item["labels"], filt.get("label_selector") or {}):
                continue
            items.append(item)
        answer({"items": items})

    # ------------------------------------------------------------------ containers
    def _CreateContainer(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        sandbox_id = str(req.get("pod_sandbox_id") or "")
        pod = self._sandbox(sandbox_id)
        if pod is None:
            raise tr.not_found(f"pod sandbox {sandbox_id}")
        container_id = pod.create_container(req.get("config") or {})
        answer({"container_id": container_id})
        self.emit(pod, container_id, "CONTAINER_CREATED_EVENT")

    def _owner(self, req: dict[str, Any]) -> tuple[CriPod, str]:
        container_id = str(req.get("container_id") or "")
        pod = self._container(container_id)
        if pod is None:
            raise tr.not_found(f"container {container_id}")
        return pod, container_id

    def _StartContainer(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod, cid = self._owner(req)
        pod.start_container(cid)
        answer({})
        self.emit(pod, cid, "CONTAINER_STARTED_EVENT")

    def _StopContainer(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        container_id = str(req.get("container_id") or "")
        pod = self._container(container_id)
        if pod is None:
            answer({})  # idempotent
            return
        pod.stop_container(container_id, float(req.get("timeout") or 0), lambda: answer({}))

    def _RemoveContainer(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        container_id = str(req.get("container_id") or "")
        pod = self._container(container_id)
        if pod is None:
            answer({})  # idempotent
            return

        def stopped() -> None:
            pod.remove_container(container_id)
            answer({})

        pod.stop_container(container_id, 0.0, lambda: self.guarded(answer, stopped))

    def _UpdateContainerResources(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod, cid = self._owner(req)
        pod.update_resources(cid, req.get("linux") or {})
        answer({})

    def _ReopenContainerLog(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod, cid = self._owner(req)
        try:
            pod.rt.reopen_container_log(cid)
        except PyruncError as e:
            raise CriError(e.message, "FAILED_PRECONDITION") from None
        except OSError as e:
            raise CriError(f"cannot reopen the log of container {cid}: {e.strerror}", "INTERNAL") from None
        answer({})

    def _ListContainers(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        filt = req.get("filter") or {}
        out = []
        for pod in self._cri_pods():
            if filt.get("pod_sandbox_id") and not pod.id.startswith(str(filt["pod_sandbox_id"])):
                continue
            for cid, entry in pod.facts["containers"].items():
                record = pod.rt.container_status(pod.layout, entry["name"])
                if record is None or (filt.get("id") and not cid.startswith(str(filt["id"]))):
                    continue
                item = tr.container_message(record.to_json(), entry, pod.id)
                if "state" in filt and item["state"] != filt["state"].get("state", "CONTAINER_CREATED"):
                    continue
                if not tr.selected(item["labels"], filt.get("label_selector") or {}):
                    continue
                out.append(item)
        answer({"containers": out})

    def _ContainerStatus(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod, cid = self._owner(req)
        record = pod.record_of(cid)
        if record is None:
            raise tr.not_found(f"container {cid}")
        answer({"status": tr.container_status(record.to_json(), pod.facts["containers"][cid])})

    def _ContainerStats(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        pod, cid = self._owner(req)
        answer({"stats": pod.container_stats(cid, tr.nanos(self.clock.wall()))})

    def _ListContainerStats(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        filt = req.get("filter") or {}
        now = tr.nanos(self.clock.wall())
        out = []
        for pod in self._cri_pods():
            if filt.get("pod_sandbox_id") and not pod.id.startswith(str(filt["pod_sandbox_id"])):
                continue
            for cid, entry in pod.facts["containers"].items():
                if filt.get("id") and not cid.startswith(str(filt["id"])):
                    continue
                if not tr.selected(entry.get("labels", {}), filt.get("label_selector") or {}):
                    continue
                out.append(pod.container_stats(cid, now))
        answer({"stats": out})

    def _PodSandboxStats(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        sandbox_id = str(req.get("pod_sandbox_id") or "")
        pod = self._sandbox(sandbox_id)
        if pod is None:
            raise tr.not_found(f"pod sandbox {sandbox_id}")
        answer({"stats": pod.sandbox_stats(tr.nanos(self.clock.wall()))})

    def _ListPodSandboxStats(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        filt = req.get("filter") or {}
        now = tr.nanos(self.clock.wall())
        out = []
        for pod in self._cri_pods():
            if filt.get("id") and not pod.id.startswith(str(filt["id"])):
                continue
            if not tr.selected(pod.facts["config"].get("labels", {}), filt.get("label_selector") or {}):
                continue
            out.append(pod.sandbox_stats(now))
        answer({"stats": out})

    def _ExecTarget(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        """Not a CRI call: where the edge's ExecSync runs its command (the supervisor's exec socket)."""
        pod, cid = self._owner(req)
        record = pod.record_of(cid)
        if record is None or record.state is not ContainerState.RUNNING:
            raise CriError(f"container {cid} is not running", "FAILED_PRECONDITION")
        answer({"namespace": pod.layout.namespace, "pod": pod.layout.name, "container": record.name})

    def _PortForwardTarget(self, req: dict[str, Any], answer: Reply) -> None:  # noqa: N802
        """Not a CRI call: the pod the edge's PortForward connects into (supervisor/pod_connect.py)."""
        sandbox_id = str(req.get("pod_sandbox_id") or "")
        pod = self._sandbox(sandbox_id)
        if pod is None:
            raise tr.not_found(f"pod sandbox {sandbox_id}")
        if not pod.ready():
            raise CriError(f"pod sandbox {sandbox_id} is not ready", "FAILED_PRECONDITION")
        answer({"namespace": pod.layout.namespace, "pod": pod.layout.name})


def refused_by_cri(key: str) -> PyruncError:
    """pyrunc's own verbs never change a CRI pod: one line saying whose it is."""
    ns, _, name = key.partition("_")
    return PyruncError(f'pod "{name}" (namespace {ns}) is managed through CRI (pyrunc cri, by the kubelet): '
                       f"pyrunc does not change it")


