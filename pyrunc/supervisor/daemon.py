"""The supervisor: one daemon per node root, owning every pod under it.

Why one daemon and not a process per pod: a Python interpreter costs ~10 MiB and ~30 ms to
start; one daemon forking containers directly keeps pod start in milliseconds and the runtime's
memory per pod small (its pages are shared by all pods). The daemon is the parent (and, as a
subreaper, the adoptive parent) of every container's first process, so it learns each exit status
directly. It keeps no state that is not on disk: killed with SIGKILL, it leaves the containers
running; pods show phase Unknown until the next mutating command starts a new daemon, which
adopts the running containers and carries on with their recorded restart counts.

Requests reach the daemon through ``server.py`` (the socket, bounded request lines) in the wire
format of ``protocol.py`` (typed errors, the build and protocol check). ``_handle`` dispatches:
    {"op": "apply", "manifest": {...}}            -> {"ok": true, "result": "created|configured|unchanged"}
    {"op": "delete", "key": "ns_name", "grace": N|null} -> {"ok": true} once nothing of the pod is left
    {"op": "ping"}                                -> {"ok": true, "pid": N}
    {"op": "objects-changed"}                     -> {"ok": true} (pods re-read their ConfigMaps/Secrets)
    {"op": "check", "texts": [[source, text]]}    -> {"ok": true, "pods": [...], "warnings": [...], "refused": ""}
                                                     (apply's checks, nothing changed: intake.py)
    {"op": "apply-texts", "texts": [[source, text]]} -> check, then apply of its one pod (cli/lean_apply.py):
                                                     {"ok": true, "name", "result", "warnings", "refused"};
                                                     {"ok": true, "fallback": true}, nothing done, for the rest
    {"op": "exec", ...} + the caller's stdio      -> on exec.sock only: run by a fork of the daemon (exec_handoff.py)
    {"op": "pod-connect", "port": N, ...}         -> on exec.sock only: a socket connected in the pod's netns, passed
                                                     back by a fork (pod_connect.py; `pyrunc cri`'s port-forward)
    {"op": "cri", "call": C, "request": {...}}    -> {"ok": true, "response": {...}}: a CRI call of `pyrunc cri`
                                                     (pyrunc/cri/pods.py; its pods are CriPods, with no policy)
A client of another build or protocol gets "Handover": the daemon stops accepting and exits leaving
every pod running (no teardown, as after SIGKILL); the client starts a supervisor of its own build,
which adopts them. Everything the daemon may run is imported before it serves (``preload.py``): the
files it was started from may change or vanish under it (an upgrade, a removed checkout).
The daemon exits when it has supervised no pod and served no client for `daemon_linger` seconds,
unless it runs static pods (``pod_manifest_path``, manifest_dir.py): then it stays until SIGTERM. A
supervisor with a manifest path that finds an on-demand one serving its root asks it to hand over
(as a client of another build would), so that the node's pods and its static pods have one owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import uuid
from dataclasses import replace
from typing import Any, Callable

from pyrunc.build import build_id
from pyrunc.clock import Clock, SystemClock
from pyrunc.config import NodeConfig
from pyrunc.cri.pods import CriPod, CriRuntime, is_cri_manifest, refused_by_cri
from pyrunc.errors import PyruncError
from pyrunc.linux import syscalls as sc
from pyrunc.node import node_facts
from pyrunc.probe.starter import SpawnerClient
from pyrunc.runtime.records import ContainerRecord
from pyrunc.runtime.service import RuntimeService
from pyrunc.runtime.sysctls import admit_on_node
from pyrunc.spec import Pod, pod_from_dict
from pyrunc.status import rfc3339
from pyrunc.store.atomic import private_dir, read_json, write_json
from pyrunc.store.events import record_node_event
from pyrunc.store.layout import PodLayout, layout_for_key, list_pod_keys
from pyrunc.store.supervisor import daemon_json
from pyrunc.supervisor import exec_handoff, pod_connect, protocol
from pyrunc.supervisor.loop import Loop
from pyrunc.supervisor.intake import check_reply, check_texts
from pyrunc.supervisor.manifest_dir import ManifestDir
from pyrunc.supervisor.preload import preload, watch_late_imports
from pyrunc.supervisor.server import Server, guarded
from pyrunc.supervisor.static_pods import HASH, SOURCE, Action
from pyrunc.worker.admission import Decision, admit, node_name_problem
from pyrunc.worker.executor import PodWorker
from pyrunc.worker.held import HeldPod, admission_facts
from pyrunc.worker.podaffinity import may_matter
from pyrunc.worker.puller import Puller

log = logging.getLogger("pyrunc.daemon")
IDLE_EXIT_AFTER = 5.0  # seconds without pods or clients after start-up before the daemon leaves


IMAGE_GC_PERIOD = 300.0  # seconds (kubelet ImageGCPeriod)


def socket_path(root: str) -> str:
    return os.path.join(root, "daemon.sock")


class Daemon:
    def __init__(self, cfg: NodeConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.loop = Loop(self.clock)
        self.runtime = RuntimeService(cfg, self.loop, self.clock, on_exit=self._container_exited, warn=self._warn)
        self.pods: dict[str, PodWorker | HeldPod | CriPod] = {}
        self.cri = CriRuntime(cfg, self.runtime, self.clock, self.pods, guarded)  # pods made through `pyrunc cri`
        self.puller = Puller(cfg, self.loop, self.clock)
        # Probe and hook actions are forked by a small helper process, not by this big one (probe/spawner.py).
        self.actions = SpawnerClient(self.loop, build_id())
        self.pending = 0  # requests waiting for a pod to terminate
        self.server = Server(self.loop, socket_path(cfg.root), self._handle, build_id(), self._hand_over)
        # `pyrunc exec` with the caller's stdio (exec_handoff.py): a socket of its own, which an older supervisor
        # does not have (a request of unknown build on daemon.sock would make that one hand the node over).
        self.exec_server = Server(self.loop, exec_handoff.socket_path(cfg.root), self._handle, build_id(),
                                  self._hand_over, exec_handler=self._exec)
        self.handing_over = False  # a client of another build asked: leave, pods running
        self.idle_since = self.clock.monotonic()
        self.static: ManifestDir | None = None  # the static pod source, with a pod_manifest_path

    # ------------------------------------------------------------------ lifecycle
    def serve(self) -> None:
        private_dir(self.cfg.pods_dir)  # 0750: an unprivileged user cannot even list the pods
        lock_fd = os.open(os.path.join(self.cfg.root, "daemon.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.cfg.pod_manifest_path and _ask_hand_over(socket_path(self.cfg.root)):
                log.info("an on-demand supervisor serves %s: asked it to hand over", self.cfg.root)
            elif _answers(socket_path(self.cfg.root)):
                log.info("another supervisor serves %s; leaving", self.cfg.root)  # two CLIs raced to start one
                os.close(lock_fd)
                return
            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # a predecessor is exiting: wait for it
        write_json(daemon_json(self.cfg.root),
                   {"pid": os.getpid(), "startTime": sc.proc_start_time(os.getpid())})
        self._adopt_all()
        self.server.open()
        self.exec_server.open()
        log.info("daemon %d (build %s) serving %s with %d pod(s)", os.getpid(), self.server.build, self.cfg.root,
                 len(self.pods))
        self._image_gc()
        if self.cfg.pod_manifest_path:
            self.static = ManifestDir(self.loop, self.clock, self.cfg.pod_manifest_path, self.cfg.node_name,
                                      self.cfg.file_check_frequency, self._static_snapshot, self._static_carry_out,
                                      self._static_report)
            self.static.start()
        try:
            while not self.loop.got_term and not self.handing_over and not self._should_exit():
                self.loop.run_once(0.5)
        finally:
            if self.static is not None:
                self.static.close()
            self.server.close()
            self.exec_server.close()
            self.server.drop_all()  # clients still waiting (a delete in flight) retry with the next supervisor
            self.actions.close()  # the spawner leaves with us
            with contextlib.suppress(FileNotFoundError):
                os.unlink(daemon_json(self.cfg.root))
            if not self.pods and not self.handing_over:
                self.runtime.node_teardown()
            os.close(lock_fd)
            log.info("daemon %d exits%s", os.getpid(), " (handed over)" if self.handing_over else "")

    def _image_gc(self) -> None:
        """Every IMAGE_GC_PERIOD, as the kubelet's image manager (5 minutes)."""
        self.puller.collect_garbage()
        self.loop.call_later(IMAGE_GC_PERIOD, self._image_gc)

    def _hand_over(self, req: dict[str, Any]) -> None:
        """A client of another build: stop accepting now; the loop then ends without any teardown.

        Pods are left exactly as a SIGKILL would leave them: their processes, mounts, cgroups and
        network stay, the facts on disk describe them, and the next supervisor adopts them.
        """
        self.handing_over = True
        self.server.close()

    def _should_exit(self) -> bool:
        if self.static is not None:
            return False  # static pods: the node's own daemon, until SIGTERM
        if self.pods or self.server.busy or self.pending or self.puller.busy:
            self.idle_since = self.clock.monotonic()
            return False
        idle = self.clock.monotonic() - self.idle_since
        linger = self.cfg.daemon_linger
        return idle >= (linger if self.server.served_once else max(IDLE_EXIT_AFTER, linger))

    def _adopt_all(self) -> None:
        for key in list_pod_keys(self.cfg.root):
            layout = layout_for_key(self.cfg.root, key)
            manifest = read_json(layout.pod_json)
            if not manifest:
                # A pod whose creation never finished (the daemon died mid-way): remove its remains.
                self.runtime.remove_remains(layout)
                continue
            try:
                worker: PodWorker | HeldPod | CriPod
                if is_cri_manifest(manifest):  # the kubelet's, through CRI: adopted with no policy
                    worker = self.cri.adopt(layout, manifest)
                    self.pods[key] = worker
                    continue
                if os.path.exists(layout.admission_json):  # not admitted: nothing to adopt but its files
                    worker = HeldPod(self.cfg, layout, pod_from_dict(manifest))
                else:
                    worker = PodWorker(self.runtime, self.loop, self.clock, self.cfg, layout,
                                       pod_from_dict(manifest), self.puller, self.actions)
                worker.adopt()
            except Exception:  # noqa: BLE001 - one broken pod must not stop the others
                log.exception("cannot adopt pod %s", key)
                continue
            self.pods[key] = worker
            meta = manifest["metadata"]
            if meta.get("deletionTimestamp"):
                self.pending += 1
                worker.terminate(meta.get("deletionGracePeriodSeconds"), self._pending_done)
            else:
                worker.sync()
        self.runtime.reclaim({key: worker.uid for key, worker in self.pods.items()})
        self._reschedule()  # pods may have ended while no supervisor ran

    def _container_exited(self, key: str, record: ContainerRecord) -> None:
        worker = self.pods.get(key)
        if worker is not None:
            worker.on_exit(record)
            self._reschedule()  # the pod may have become terminal: the scheduler stops counting it

    def _warn(self, layout: PodLayout, message: str) -> None:
        worker = self.pods.get(layout.key)
        if worker is not None:
            worker.degraded(message)

    def _pending_done(self) -> None:
        self.pending -= 1
        self._forget_terminated()

    def _forget_terminated(self) -> None:
        for key, worker in list(self.pods.items()):
            if worker.removed and not worker.on_terminated:
                del self.pods[key]

    # ------------------------------------------------------------------ requests
    # The socket and the wire format are server.py's and protocol.py's; requests arrive in _handle.
    _guarded = staticmethod(guarded)

    def _handle(self, req: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        op = req.get("op")
        if op == "ping":
            reply({"ok": True, "pid": os.getpid()})
        elif op == "apply":
            self._apply(req["manifest"], reply)
        elif op == "apply-texts":
            self._apply_texts([(str(source), str(text)) for source, text in req["texts"]], reply)
        elif op == "check":
            # apply's checks of the parsed manifests, here where the Pod model is loaded (supervisor/intake.py)
            reply(check_reply(self.cfg, [(str(source), str(text)) for source, text in req["texts"]]))
        elif op == "delete":
            self._delete(req["key"], req.get("grace"), reply)
        elif op == "cri":
            self.cri.handle(req, reply)
        elif op == "objects-changed":
            # A ConfigMap or Secret was stored or deleted (the CLI tells after each change): every pod
            # rewrites the volumes that read a changed one and retries containers waiting for one.
            for key, worker in list(self.pods.items()):
                if not isinstance(worker, PodWorker):
                    continue  # a held pod runs nothing and has no volumes
                try:
                    worker.objects_changed()
                except Exception:  # noqa: BLE001 - one pod's volume must not stop the others' updates
                    log.exception("pod %s: cannot update its volumes", key)
            reply({"ok": True})
        else:
            reply({"ok": False, "error": f"unknown request {op!r}", "kind": "BadRequest"})

    def _exec(self, req: dict[str, Any], conn: int, fds: list[int]) -> None:
        """`pyrunc exec` handed over with the caller's stdio: run in a fork (supervisor/exec_handoff.py)."""
        if req.get("op") == "pod-connect":  # `pyrunc cri`'s port-forward: a connection made in the pod's netns
            netns, port = pod_connect.prepare(self.cfg.root, req)
            self.loop.watch_child(pod_connect.start(conn, netns, port), lambda _pid, _status: None)
            return
        if len(fds) != 3:
            raise PyruncError(f"exec: expected the caller's stdin, stdout and stderr, got {len(fds)} descriptors")
        target, argv, stdin, tty = exec_handoff.prepare(self.cfg.root, req)  # an error reply: the CLI falls back
        pid = exec_handoff.start(conn, fds, target, argv, stdin, tty)
        self.loop.watch_child(pid, lambda _pid, _status: None)  # its status went to the CLI

    def _apply_texts(self, texts: list[tuple[str, str]], reply: Callable[[dict[str, Any]], None]) -> None:
        """`apply -f` of manifests holding one pod, in one request (cli/lean_apply.py): the checks of "check", then
        the pod applied as "apply" applies it, without sending it back and forth and decoding it twice. The
        warnings ride on the reply, also an error reply, since `apply` prints them before anything else.
        Several pods (the CLI prints each one's outcome as it comes), ConfigMaps or Secrets (the CLI stores
        them) and big texts get {"fallback": true}, nothing done: the CLI then applies them the usual way."""
        if sum(len(text) for _, text in texts) > protocol.MAX_CHECK_TEXT:
            reply({"ok": True, "fallback": True})
            return
        intake = check_texts(self.cfg, texts)
        if intake.objects or len(intake.pods) != 1:
            reply({"ok": True, "fallback": True})
            return
        warnings, pod = list(intake.warnings), intake.pods[0]
        if intake.refused:
            reply({"ok": True, "warnings": warnings, "refused": intake.refused})
            return

        def answer(msg: dict[str, Any]) -> None:
            reply({**msg, "warnings": warnings, "name": pod.metadata.name})

        self._guarded(answer, lambda: self._apply_pod(pod, answer))  # checked and admitted on the node above

    def _apply(self, pod_dict: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        pod = pod_from_dict(pod_dict)  # the socket is an edge too: decoded and validated once here
        admit_on_node(pod, self.cfg)  # the CLI checked already; a request sent to the socket directly too
        wrong_node = node_name_problem(pod, self.cfg.node_name)
        if wrong_node:
            raise PyruncError(wrong_node)
        self._apply_pod(pod, reply)

    def _apply_pod(self, pod: Pod, reply: Callable[[dict[str, Any]], None]) -> None:
        """Create, update or replace the pod (decoded, validated and admitted on this node)."""
        layout = PodLayout(self.cfg.root, pod.metadata.namespace, pod.metadata.name)
        existing = self.pods.get(layout.key)
        if isinstance(existing, CriPod):
            raise refused_by_cri(layout.key)
        if existing is not None and existing.terminating:
            self.pending += 1

            def after_termination() -> None:
                self._pending_done()
                self._guarded(reply, lambda: self._apply_pod(pod, reply))

            existing.on_terminated.append(after_termination)
            return
        if existing is None:
            self._create(pod, layout)
            reply({"ok": True, "result": "created"})
            self._reschedule()
            return
        # A pod that was not admitted is admitted again on every apply (after `label node`, or without its
        # gates): it holds nothing, so it is replaced even when its spec did not change.
        if existing.pod.spec == pod.spec and not isinstance(existing, HeldPod):
            old, new = existing.pod.metadata, pod.metadata
            if (old.labels, old.annotations) == (new.labels, new.annotations):
                reply({"ok": True, "result": "unchanged"})
                return
            existing.update_metadata(new.labels, new.annotations)
            reply({"ok": True, "result": "configured"})
            self._reschedule()  # its labels may now match (or stop matching) a pending pod's terms
            return

        def replaced() -> None:
            self.pending -= 1
            self.pods.pop(layout.key, None)

            def create() -> None:
                self._create(pod, layout)
                reply({"ok": True, "result": "configured"})
                self._reschedule()

            self._guarded(reply, create)

        self.pending += 1
        existing.terminate(None, replaced)

    def _create(self, pod: Pod, layout: PodLayout) -> None:
        meta = replace(pod.metadata, uid=str(uuid.uuid4()), creation_timestamp=rfc3339(self.clock.wall()))
        pod = replace(pod, metadata=meta)
        self._place(pod, layout, self._admit(pod, layout.key))

    def _admit(self, pod: Pod, key: str) -> Decision:
        """Admission (worker/admission.py) against the pods that hold the node's ports and devices: every
        admitted pod not yet removed (a completed pod keeps its sandbox, so its hostPorts, until deleted);
        inter-pod affinity against those the scheduler counts: the ones not terminal. A static pod does
        not go through the scheduler."""
        others = [w for k, w in self.pods.items() if k != key and isinstance(w, PodWorker) and not w.removed]
        static = pod.metadata.annotations.get(SOURCE) == "file"
        # Whether a pod is terminal is read from its files: asked only of pods the filter would look at.
        scheduled = None if static else [w.pod for w in others if may_matter(pod, w.pod) and not w.terminal()]
        cri_ports = [port for p in self.pods.values() if isinstance(p, CriPod) for port in p.host_ports()]
        return admit(pod, node_facts(self.cfg), [w.pod for w in others], scheduled, cri_ports)

    def _reschedule(self) -> None:
        """The scheduler tries an unschedulable pod again when the node's pods change: each held one is
        admitted again, until a round changes nothing (a pod let in may let in or keep out another)."""
        changed = True
        while changed:
            changed = False
            for key, held in list(self.pods.items()):
                if not isinstance(held, HeldPod) or not held.unschedulable or held.removed:
                    continue
                decision = self._admit(held.pod, key)
                if decision is not None and admission_facts(decision) == held.facts:
                    continue
                try:
                    self._place(held.pod, held.layout, decision)  # the same pod (UID): now bound, or held anew
                except Exception:  # noqa: BLE001 - one pod's failed start must not stop the others
                    log.exception("pod %s: cannot start it", key)
                changed = True

    def _place(self, pod: Pod, layout: PodLayout, decision: Decision) -> None:
        """A worker for `pod`: a PodWorker when admitted, else a HeldPod recording why not."""
        worker: PodWorker | HeldPod
        if decision is not None:
            worker = HeldPod(self.cfg, layout, pod, admission_facts(decision))
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(layout.admission_json)  # it was held: it is not any more
            worker = PodWorker(self.runtime, self.loop, self.clock, self.cfg, layout, pod, self.puller, self.actions)
        self.pods[layout.key] = worker
        try:
            worker.create()
        except BaseException:
            self.pods.pop(layout.key, None)
            raise

    def _delete(self, key: str, grace: int | None, reply: Callable[[dict[str, Any]], None]) -> None:
        worker = self.pods.get(key)
        if isinstance(worker, CriPod):
            raise refused_by_cri(key)
        if worker is None:
            layout = layout_for_key(self.cfg.root, key)
            if os.path.exists(layout.dir):
                self.runtime.remove_remains(layout)
                reply({"ok": True})
                return
            ns, _, name = key.partition("_")
            reply({"ok": False, "error": f'Error from server (NotFound): pods "{name}" not found', "kind": "NotFound"})
            return
        self.pending += 1

        def done() -> None:
            self.pending -= 1
            self.pods.pop(key, None)
            if not self.pods and not self.pending and self.cfg.daemon_linger <= 0:
                # The last pod, and the supervisor leaves at once: bridge and NAT table go before we answer.
                # A lingering supervisor keeps them for the next pod (as a kubelet's CNI bridge stays) and
                # removes them when it exits with no pod (serve()).
                self.runtime.node_teardown()
            reply({"ok": True})
            if self.static is not None:
                self.static.soon()  # a static pod deleted by a user comes back while its file is there
            self._reschedule()

        worker.terminate(grace, done)

    # ------------------------------------------------------------------ static pods (manifest_dir.py)
    def _static_snapshot(self) -> tuple[dict[str, str | None], frozenset[str]]:
        """Every pod: key -> its config hash (None when a user applied it); the keys terminating."""
        running: dict[str, str | None] = {}
        for key, worker in self.pods.items():
            notes = worker.pod.metadata.annotations
            running[key] = notes.get(HASH, "") if notes.get(SOURCE) == "file" else None
        return running, frozenset(key for key, worker in self.pods.items() if worker.terminating)

    def _static_carry_out(self, action: Action, done: Callable[[str], None]) -> None:
        """Through the same paths as a user's apply and delete; ``done`` gets the error, if any."""
        def answered(msg: dict[str, Any]) -> None:
            done("" if msg.get("ok") else str(msg.get("error") or "refused"))

        def create(msg: dict[str, Any]) -> None:
            if not msg.get("ok"):
                answered(msg)
                return
            assert action.pod is not None
            manifest = action.pod.manifest
            self._guarded(answered, lambda: self._apply(manifest, answered))

        if action.verb == "create":
            create({"ok": True})
        elif action.verb == "replace":  # the kubelet's pod of a changed file is a new pod (a new UID)
            self._guarded(create, lambda: self._delete(action.key, None, create))
        else:
            self._guarded(answered, lambda: self._delete(action.key, None, answered))

    def _static_report(self, path: str, message: str) -> None:
        log.warning("static pod manifest %s: %s", path, message)
        try:
            record_node_event(self.cfg.root, self.cfg.node_name, "Warning", "FailedValidation",
                              f"static pod manifest {path}: {message}")
        except OSError as e:
            log.warning("cannot record the event: %s", e)


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def _ask_hand_over(path: str) -> bool:
    """Ask the supervisor on ``path`` to leave its pods to us (a request of a build that is not its own:
    it answers Handover and exits without any teardown). True when it agreed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.settimeout(10.0)
            s.connect(path)
            s.sendall(protocol.encode({"op": "ping", "protocol": protocol.PROTOCOL, "build": "static-pods"}))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return False
    return data.endswith(b"\n") and protocol.decode_reply(data).get("kind") == protocol.HANDOVER


NOFILE_WANTED = 65536  # descriptors the supervisor may hold: ~10 per pod (log pipes, attach sockets, pidfds)


def raise_nofile_limit() -> None:
    """Raise the soft RLIMIT_NOFILE toward the hard one (as containerd's unit sets LimitNOFILE): a common
    soft default of 1024 runs out near 100 pods. Capped: containers inherit it (the kubelet's do,
    from containerd), and a container keeps copies of its log pipes near the top of its range
    (runtime/launch.py keep_pipe_readers), which sizes its descriptor table to the limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(hard, NOFILE_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_daemon(cfg: NodeConfig) -> int:
    private_dir(cfg.root)
    raise_nofile_limit()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    preload(network=cfg.network == "bridge")  # before anything can fork or serve: nothing is read from disk later
    build_id()  # the identity of the files loaded now, not of what may replace them later
    watch_late_imports()
    Daemon(cfg).serve()
    return 0
