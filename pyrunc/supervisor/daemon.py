"""The supervisor: one daemon per node root, owning every pod under it.

Why one daemon and not a process per pod: a Python interpreter costs ~10 MiB and ~30 ms to
start; one daemon forking containers directly keeps pod start in milliseconds and the runtime's
memory per pod small (its pages are shared by all pods). The daemon is the parent (and, as a
subreaper, the adoptive parent) of every container's first process, so it learns each exit status
directly. It keeps no state that is not on disk: killed with SIGKILL, it leaves the containers
running; pods show phase Unknown until the next mutating command starts a new daemon, which
adopts the running containers and carries on with their recorded restart counts.

Protocol: one JSON request per connection on <root>/daemon.sock, one JSON reply:
    {"op": "apply", "manifest": {...}}            -> {"ok": true, "result": "created|configured|unchanged"}
    {"op": "delete", "key": "ns_name", "grace": N|null} -> {"ok": true} once nothing of the pod is left
    {"op": "ping"}                                -> {"ok": true, "pid": N}
Errors: {"ok": false, "error": "one line", "hint": "...", "kind": "NotFound"|...}.
The daemon exits when it has supervised no pod and served no client for `daemon_linger` seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
import traceback
from typing import Any, Callable

from pyrunc.config import NodeConfig
from pyrunc.errors import PyruncError
from pyrunc.linux import syscalls as sc
from pyrunc.runtime.sysctls import admit_on_node
from pyrunc.spec import pod_from_dict, pod_to_dict
from pyrunc.store.atomic import private_dir, read_json, write_json
from pyrunc.store.layout import PodLayout, layout_for_key, list_pod_keys
from pyrunc.store.paths import reclaim_orphans
from pyrunc.supervisor.loop import Loop
from pyrunc.supervisor.node import Node
from pyrunc.supervisor.pod import PodRunner, new_manifest

log = logging.getLogger("pyrunc.daemon")
IDLE_EXIT_AFTER = 5.0  # seconds without pods or clients after start-up before the daemon leaves


def socket_path(root: str) -> str:
    return os.path.join(root, "daemon.sock")


class Daemon:
    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        self.loop = Loop()
        self.node = Node(cfg, self.loop)
        self.pods: dict[str, PodRunner] = {}
        self.clients: dict[int, tuple[socket.socket, bytes]] = {}
        self.pending = 0  # requests waiting for a pod to terminate
        self.listener: socket.socket | None = None
        self.idle_since = time.monotonic()
        self.served_once = False  # after a first answered request, idleness counts from daemon_linger

    # ------------------------------------------------------------------ lifecycle
    def serve(self) -> None:
        private_dir(self.cfg.pods_dir)  # 0750: an unprivileged user cannot even list the pods
        lock_fd = os.open(os.path.join(self.cfg.root, "daemon.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if _answers(socket_path(self.cfg.root)):
                log.info("another supervisor serves %s; leaving", self.cfg.root)  # two CLIs raced to start one
                os.close(lock_fd)
                return
            fcntl.flock(lock_fd, fcntl.LOCK_EX)  # a predecessor is exiting: wait for it
        sc.set_child_subreaper()
        write_json(os.path.join(self.cfg.root, "daemon.json"),
                   {"pid": os.getpid(), "startTime": sc.proc_start_time(os.getpid())})
        self._adopt_all()
        path = socket_path(self.cfg.root)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.loop.add_reader(self.listener.fileno(), self._accept)
        log.info("daemon %d serving %s with %d pod(s)", os.getpid(), self.cfg.root, len(self.pods))
        try:
            while not self.loop.got_term and not self._should_exit():
                self.loop.run_once(0.5)
        finally:
            self.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.cfg.root, "daemon.json"))
            if not self.pods:
                self.node.node_teardown()
            os.close(lock_fd)
            log.info("daemon %d exits", os.getpid())

    def _should_exit(self) -> bool:
        if self.pods or self.clients or self.pending:
            self.idle_since = time.monotonic()
            return False
        idle = time.monotonic() - self.idle_since
        return idle >= (self.cfg.daemon_linger if self.served_once else max(IDLE_EXIT_AFTER, self.cfg.daemon_linger))

    def _adopt_all(self) -> None:
        for key in list_pod_keys(self.cfg.root):
            layout = layout_for_key(self.cfg.root, key)
            manifest = read_json(layout.pod_json)
            if not manifest:
                # A pod whose creation never finished (the daemon died mid-way): remove its remains.
                self.node.remove_remains(layout)
                continue
            try:
                runner = PodRunner(self.node, layout, manifest)
                runner.adopt()
            except Exception:  # noqa: BLE001 - one broken pod must not stop the others
                log.exception("cannot adopt pod %s", key)
                continue
            self.pods[key] = runner
            if runner.terminating:
                self.pending += 1
                runner.terminate(manifest["metadata"].get("deletionGracePeriodSeconds"), self._pending_done)
            else:
                runner.sync()
        self.node.reclaim({key: runner.uid for key, runner in self.pods.items()})
        log.info("reclaimed %s", reclaim_orphans(self.cfg, [runner.uid for runner in self.pods.values()]) or "no pod data")

    def _pending_done(self) -> None:
        self.pending -= 1
        self._forget_terminated()

    def _forget_terminated(self) -> None:
        for key, runner in list(self.pods.items()):
            if runner.terminating and not runner.on_terminated and not os.path.exists(runner.layout.dir):
                del self.pods[key]

    # ------------------------------------------------------------------ requests
    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.clients[conn.fileno()] = (conn, b"")
            self.loop.add_reader(conn.fileno(), lambda fd=conn.fileno(): self._read(fd))

    def _read(self, fd: int) -> None:
        conn, buf = self.clients[fd]
        try:
            data = conn.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(fd)
            return
        buf += data
        self.clients[fd] = (conn, buf)
        if b"\n" not in buf:
            return
        self.loop.remove_reader(fd)
        line = buf.split(b"\n", 1)[0]

        def reply(msg: dict[str, Any]) -> None:
            self._reply(fd, msg)

        self._guarded(reply, lambda: self._handle(json.loads(line), reply))

    @staticmethod
    def _guarded(reply: Callable[[dict[str, Any]], None], work: Callable[[], None]) -> None:
        """Run request work; any failure becomes the client's error reply (a client never hangs)."""
        try:
            work()
        except PyruncError as e:
            reply({"ok": False, "error": e.message, "hint": e.hint, "kind": type(e).__name__})
        except Exception as e:  # noqa: BLE001
            log.error("request failed: %s", traceback.format_exc())
            reply({"ok": False, "error": f"internal error: {type(e).__name__}: {e}", "kind": "Internal"})

    def _reply(self, fd: int, msg: dict[str, Any]) -> None:
        entry = self.clients.get(fd)
        if entry is None:
            return
        conn = entry[0]
        with contextlib.suppress(OSError):
            conn.setblocking(True)
            conn.sendall((json.dumps(msg) + "\n").encode())
        self._close(fd)
        self.served_once = True

    def _close(self, fd: int) -> None:
        entry = self.clients.pop(fd, None)
        if entry is not None:
            self.loop.remove_reader(fd)
            entry[0].close()

    def _handle(self, req: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        op = req.get("op")
        if op == "ping":
            reply({"ok": True, "pid": os.getpid()})
        elif op == "apply":
            self._apply(req["manifest"], reply)
        elif op == "delete":
            self._delete(req["key"], req.get("grace"), reply)
        else:
            reply({"ok": False, "error": f"unknown request {op!r}", "kind": "BadRequest"})

    def _apply(self, pod_dict: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        pod = pod_from_dict(pod_dict)
        admit_on_node(pod, self.cfg)  # the CLI checked already; a request sent to the socket directly too
        layout = PodLayout(self.cfg.root, pod.metadata.namespace, pod.metadata.name)
        existing = self.pods.get(layout.key)
        if existing is not None and existing.terminating:
            self.pending += 1

            def after_termination() -> None:
                self._pending_done()
                self._guarded(reply, lambda: self._apply(pod_dict, reply))

            existing.on_terminated.append(after_termination)
            return
        if existing is None:
            self._create(pod, pod_dict, layout)
            reply({"ok": True, "result": "created"})
            return
        old = existing.manifest
        if _spec_of(old) == _spec_of(pod_dict):
            meta_new = {k: pod_dict["metadata"].get(k) or {} for k in ("labels", "annotations")}
            meta_old = {k: old["metadata"].get(k) or {} for k in ("labels", "annotations")}
            if meta_new == meta_old:
                reply({"ok": True, "result": "unchanged"})
                return
            old["metadata"].update(meta_new)
            write_json(layout.pod_json, old)
            reply({"ok": True, "result": "configured"})
            return

        def replaced() -> None:
            self.pending -= 1
            self.pods.pop(layout.key, None)

            def create() -> None:
                self._create(pod, pod_dict, layout)
                reply({"ok": True, "result": "configured"})

            self._guarded(reply, create)

        self.pending += 1
        existing.terminate(None, replaced)

    def _create(self, pod: Any, pod_dict: dict[str, Any], layout: PodLayout) -> None:
        manifest = new_manifest(pod, pod_to_dict(pod))
        runner = PodRunner(self.node, layout, manifest)
        self.pods[layout.key] = runner
        try:
            runner.create()
        except BaseException:
            self.pods.pop(layout.key, None)
            raise

    def _delete(self, key: str, grace: int | None, reply: Callable[[dict[str, Any]], None]) -> None:
        runner = self.pods.get(key)
        if runner is None:
            layout = layout_for_key(self.cfg.root, key)
            if os.path.exists(layout.dir):
                self.node.remove_remains(layout)
                reply({"ok": True})
                return
            ns, _, name = key.partition("_")
            reply({"ok": False, "error": f'Error from server (NotFound): pods "{name}" not found', "kind": "NotFound"})
            return
        self.pending += 1

        def done() -> None:
            self.pending -= 1
            self.pods.pop(key, None)
            if not self.pods and not self.pending:
                self.node.node_teardown()  # the last pod: bridge and NAT table go before we answer
            reply({"ok": True})

        runner.terminate(grace, done)


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def _spec_of(manifest: dict[str, Any]) -> Any:
    return json.dumps(manifest.get("spec"), sort_keys=True)


def run_daemon(cfg: NodeConfig) -> int:
    private_dir(cfg.root)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Daemon(cfg).serve()
    return 0
