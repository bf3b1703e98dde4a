"""The pod sandbox: the namespaces every member container joins, held for the pod's whole life.

Network, IPC and UTS namespaces are held by bind mounts of their /proc/PID/ns files onto
files under the pod directory (what `ip netns add` does), so no process is needed for them.
Only a shared PID namespace (shareProcessNamespace) needs a process: the holder, which is PID 1
there and reaps orphans, as the pause container does.

Every step registers its undo; a failure unwinds what was done, in reverse.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

from pyrunc.errors import RuntimeFailure
from pyrunc.linux import syscalls as sc
from pyrunc.runtime.sysctls import IPC, NET, namespace_of, pod_sysctls, proc_path
from pyrunc.store.atomic import private_dir, read_json, write_json

SHM_SIZE = 64 * 1024 * 1024  # containerd's default /dev/shm for a sandbox
HOLDER_TIMEOUT = 10.0  # seconds for the shared-PID holder to report that it is set up


@dataclass(frozen=True, slots=True)
class NamespacePlan:
    """Which namespaces the pod gets: "new" (held under the pod dir) or "host"."""

    net: str
    ipc: str
    uts: str
    pid: str  # "new" per container, "shared" (holder), or "host"

    @staticmethod
    def for_pod(spec: Any) -> "NamespacePlan":
        # hostNetwork pods also get the host's UTS namespace (their hostname is the node's).
        net = "host" if spec.host_network else "new"
        pid = "host" if spec.host_pid else ("shared" if spec.share_process_namespace else "new")
        return NamespacePlan(net=net, ipc="host" if spec.host_ipc else "new", uts=net, pid=pid)


@dataclass
class SandboxState:
    """Facts about a created sandbox, persisted as sandbox.json."""

    namespaces: dict[str, str] = field(default_factory=dict)  # kind -> "host" | ns file | /proc/PID/ns/pid
    shm: str = ""
    holder_pid: int = 0
    holder_start: int = 0
    network: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    qos_class: str = "BestEffort"
    cgroups: list[tuple[str, str]] = field(default_factory=list)  # what describe shows: file -> value

    def to_dict(self) -> dict[str, Any]:
        return {"namespaces": self.namespaces, "shm": self.shm, "holderPid": self.holder_pid,
                "holderStart": self.holder_start, "network": self.network, "warnings": self.warnings,
                "qosClass": self.qos_class, "cgroups": [list(row) for row in self.cgroups]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "SandboxState":
        return SandboxState(d.get("namespaces", {}), d.get("shm", ""), d.get("holderPid", 0),
                            d.get("holderStart", 0), d.get("network", {}), d.get("warnings", []),
                            d.get("qosClass", "BestEffort"), [tuple(r) for r in d.get("cgroups", [])])


def _hold_namespaces(layout: Any, kinds: list[str], hostname: str,
                     sysctls: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """Unshare `kinds` in a short-lived child and pin each namespace with a bind mount.

    The pod's `sysctls` (already admitted: namespaced, and only of namespaces in `kinds`) are
    written by that child right after unshare: /proc/sys/net/* and the IPC entries resolve to the
    namespaces of the process that opens them, so they land in the new namespaces, once, and
    every container that joins them sees the values (runc writes a sandbox's linux.sysctl so).
    """
    for name, _ in sysctls or ():
        if {IPC: "ipc", NET: "net"}.get(namespace_of(name) or "") not in kinds:
            raise RuntimeFailure(f"sysctl {name} is not in a namespace of the pod's own: refusing to change the host's")
    flags = 0
    for k in kinds:
        flags |= sc.NS_FLAGS[k]
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(flags)
            if "uts" in kinds:
                sc.set_hostname(hostname)
            if "net" in kinds:
                sc.loopback_up()
            for name, value in sysctls or ():
                try:
                    fd = os.open(f"/proc/sys/{proc_path(name)}", os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    try:
                        os.write(fd, value.encode())
                    finally:
                        os.close(fd)
                except OSError as e:
                    raise RuntimeFailure(f"sysctl {name}={value!r}: {e.strerror}") from None
            os.write(ready_w, b"ok")
            os.read(done_r, 1)
            os._exit(0)
        except BaseException as e:  # noqa: BLE001
            with contextlib.suppress(OSError):
                os.write(ready_w, f"error: {e}".encode())
            os._exit(1)
    os.close(ready_w)
    os.close(done_r)
    held: dict[str, str] = {}
    try:
        msg = os.read(ready_r, 4096).decode()
        if msg != "ok":
            raise RuntimeFailure(f"cannot create the pod's namespaces: {msg.removeprefix('error: ') or 'the child died'}")
        os.makedirs(layout.path("ns"), exist_ok=True)
        for kind in kinds:
            target = layout.ns_file(kind)
            with open(target, "w"):
                pass
            sc.mount(f"/proc/{pid}/ns/{kind}", target, None, sc.MS_BIND)
            held[kind] = target
        return held
    except BaseException:
        for target in held.values():
            sc.umount_quiet(target)
        raise
    finally:
        with contextlib.suppress(BrokenPipeError):  # a child that failed has exited already
            os.write(done_w, b"x")
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def _start_holder(namespaces: dict[str, str]) -> tuple[int, int]:
    """Fork the holder: PID 1 of the pod's shared PID namespace, reaping orphans until SIGTERM/SIGKILL.

    Returns once the holder has isolated itself (see _isolate_holder): before that it still has
    the supervisor's root and descriptors, so no container may join its namespace earlier.
    """
    from pyrunc.runtime.launch import enter_pid_namespace, join_namespaces

    r, w = os.pipe()
    launcher = os.fork()
    if launcher == 0:
        try:
            os.close(r)
            join_namespaces(namespaces)
            enter_pid_namespace("new")
            holder = os.fork()
            if holder == 0:
                _holder_main(w)
            os.write(w, f"pid {holder}\n".encode())
        except BaseException as e:  # noqa: BLE001 - the reason reaches the supervisor's error line
            with contextlib.suppress(OSError):
                os.write(w, f"error: {e}\n".encode())
        finally:
            os._exit(0)
    os.close(w)
    data = _read_to_eof(r, HOLDER_TIMEOUT)  # EOF: the launcher exited and the holder closed its copy
    os.waitpid(launcher, 0)
    lines = data.decode(errors="replace").splitlines()
    pids = [int(line.split()[1]) for line in lines if line.startswith("pid ")]
    holder = pids[0] if pids else 0
    if "ready" not in lines:
        if holder:
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder, signal.SIGKILL)
            _reap(holder)
        why = next((line for line in lines if line.startswith("error")), "it died")
        raise RuntimeFailure(f"cannot start the pod's process-namespace holder: {why}")
    return holder, sc.proc_start_time(holder) or 0



def _read_to_eof(fd: int, timeout: float) -> bytes:
    import time

    deadline = time.monotonic() + timeout
    data = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sc.readable(fd, left):
                return data
            chunk = os.read(fd, 4096)
            if not chunk:
                return data
            data += chunk
    finally:
        os.close(fd)


def _holder_main(ready_w: int) -> None:
    try:
        os.setsid()
        sc.set_process_name("pyrunc-pause")  # `ps` in the pod shows this as PID 1
        # PID 1 ignores signals it has no handler for: install one for TERM/INT.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: os._exit(0))
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        _isolate_holder(ready_w)
        os.write(ready_w, b"ready\n")
        os.close(ready_w)  # from here on the holder has no descriptor at all
    except BaseException as e:  # noqa: BLE001 - reported to _start_holder, which kills us
        with contextlib.suppress(OSError):
            os.write(ready_w, f"error: {e}\n".encode())
        os._exit(1)
    try:
        while True:
            try:
                os.wait()  # reap every orphan reparented to us
            except ChildProcessError:
                signal.pause()
    finally:
        os._exit(0)


def _isolate_holder(keep_fd: int) -> None:
    """Leave the holder nothing of the host: every container of the pod can see it as PID 1
    (/proc/1/root, /proc/1/cwd, /proc/1/fd/*), so it gets

    - no descriptor but the readiness pipe (closed right after, so 0-2 too are closed: a
      /dev/null opened before the pivot would still be the host's /dev/null);
    - a mount namespace of its own whose root is an empty read-only tmpfs (pivot_root, the old
      root detached), cwd there: /proc/1/root shows an empty directory;
    - no capability in any set, the bounding set included (it only reaps and takes signals),
      no_new_privs, and PR_SET_DUMPABLE 0 so its /proc files need CAP_SYS_PTRACE to open.
    """
    # Loaded (libc too) while the host's root is there: after the pivot no module can be imported.
    from pyrunc.linux import hygiene  # noqa: F401
    from pyrunc.security import caps, process  # noqa: F401

    caps.last_cap()  # read and cached now: after the pivot below there is no /proc
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:  # every open descriptor, whatever its number
        if fd != keep_fd:
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                os.close(fd)
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    # /proc is on every host that runs pyrunc; after this mount nothing here needs procfs.
    sc.mount("tmpfs", "/proc", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "size=4k,mode=0555")
    os.chdir("/proc")
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
    sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    _drop_all_capabilities()


def _drop_all_capabilities() -> None:
    """Every capability set empty (the bounding set first: dropping it needs CAP_SETPCAP),
    no_new_privs, not dumpable: the holder only reaps children and takes signals. The modules
    were imported by _isolate_holder before the pivot (no module can be imported after it)."""
    from pyrunc.linux import hygiene
    from pyrunc.security import process

    process.drop_bounding(())
    process.set_ambient(())
    process.capset(0, 0, 0)
    process.set_no_new_privs()
    hygiene.set_dumpable(False)


def create_sandbox(layout: Any, spec: Any, hostname: str,
                   setup_network: Callable[[SandboxState], None] | None = None) -> SandboxState:
    """Namespaces, /dev/shm, the holder; then `setup_network` (given the held netns). All undone on failure."""
    plan = NamespacePlan.for_pod(spec)
    state = SandboxState()
    with contextlib.ExitStack() as undo:
        private_dir(layout.dir)
        undo.callback(teardown_sandbox, layout, state)
        kinds = [k for k in ("net", "ipc", "uts") if getattr(plan, k) == "new"]
        # Sysctls are all of the net or IPC namespace, refused by validation when the pod shares it.
        held = _hold_namespaces(layout, kinds, hostname, pod_sysctls(spec)) if kinds else {}
        state.namespaces = {k: held.get(k, "host") for k in ("net", "ipc", "uts")}
        if plan.ipc == "new":
            state.shm = layout.path("shm")
            os.makedirs(state.shm, exist_ok=True)
            sc.mount("shm", state.shm, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                     f"mode=1777,size={SHM_SIZE}")
        if plan.pid == "shared":
            state.holder_pid, state.holder_start = _start_holder(state.namespaces)
            state.namespaces["pid"] = f"/proc/{state.holder_pid}/ns/pid"
        else:
            state.namespaces["pid"] = plan.pid
        if setup_network is not None:
            setup_network(state)
        write_json(layout.sandbox_json, state.to_dict())
        undo.pop_all()
    return state


def load_sandbox(layout: Any) -> SandboxState | None:
    data = read_json(layout.sandbox_json)
    return SandboxState.from_dict(data) if data else None


def _namespace_problem(path: str, kind: str) -> str:
    """"" when ``path`` holds a namespace of ``kind`` other than the caller's (the host's); else why not."""
    try:
        st = os.stat(path)
        ours = os.stat(f"/proc/self/ns/{kind}")
    except OSError as e:
        return f"{path}: {e.strerror}"
    # Every namespace file lives on the one nsfs: a pin whose bind mount was lost is an empty
    # regular file on another device.
    if st.st_dev != ours.st_dev:
        return f"{path} no longer holds a namespace"
    if st.st_ino == ours.st_ino:
        return "it is the host's"
    return ""


def verified_sandbox(layout: Any, spec: Any, state: SandboxState | None) -> SandboxState:
    """The sandbox facts a container may be started with, or RuntimeFailure: fail closed.

    A missing or unreadable sandbox.json (a crash, a disk problem, a hand edit) must never make a
    container run in the host's namespaces: each namespace must be exactly what the pod's spec asks
    for, "host" only where the spec says so, and a namespace the pod owns must be its pinned file
    under the pod directory, still a namespace, and not the host's own (the daemon runs in the host's).
    """
    if state is None:
        raise RuntimeFailure("the pod's sandbox record (sandbox.json) is missing or unreadable: the container "
                             "is not started, so that it cannot fall back to the host's namespaces")
    plan = NamespacePlan.for_pod(spec)
    for kind in ("net", "ipc", "uts", "pid"):
        want, have = getattr(plan, kind), state.namespaces.get(kind)
        if want == "host" or (kind == "pid" and want == "new"):  # pid "new": each container unshares its own
            wrong = "" if have == want else f"recorded as {have!r}, the pod asks for {want!r}"
        elif kind == "pid":  # shared: the holder's, and only while that very process lives
            holder = f"/proc/{state.holder_pid}/ns/pid"
            if not state.holder_pid or have != holder or not sc.pid_alive(state.holder_pid, state.holder_start):
                wrong = "the pod's process-namespace holder is gone"
            else:
                wrong = _namespace_problem(holder, kind)
        elif have != layout.ns_file(kind):
            wrong = f"recorded as {have!r}, not the pod's own namespace file"
        else:
            wrong = _namespace_problem(layout.ns_file(kind), kind)  # == have
        if wrong:
            raise RuntimeFailure(f"the pod's {kind} namespace cannot be verified ({wrong}): the container "
                                 "is not started, so that it cannot fall back to the host's namespaces")
    # An empty shm means "bind the host's /dev/shm" (hostIPC): only where the spec says so.
    if state.shm != ("" if plan.ipc == "host" else layout.path("shm")):
        raise RuntimeFailure(f"the pod's /dev/shm is recorded as {state.shm!r}, not its own: the container is not started")
    return state


def mounts_below(path: str) -> list[str]:
    """Mount points at or below `path`, deepest first (from /proc/self/mountinfo)."""
    prefix = path.rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == path or mnt.startswith(prefix):
                found.append(mnt)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def _reap(pid: int, timeout: float = 5.0) -> None:
    """Reap the holder without blocking forever: a dying PID-namespace init waits until every other
    process of its namespace has been reaped by its parent, which may be us (callers reap first)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return  # not our child (adopted after a restart) or already reaped by the event loop
        time.sleep(0.01)


def teardown_sandbox(layout: Any, state: SandboxState | None = None) -> None:
    """Idempotent: stop the holder, detach every mount under the pod dir, remove the dir."""
    state = state or load_sandbox(layout)
    if state is not None and state.holder_pid and sc.pid_alive(state.holder_pid, state.holder_start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.holder_pid, signal.SIGKILL)
        _reap(state.holder_pid)
    if os.path.isdir(layout.dir):
        for mnt in mounts_below(layout.dir):
            sc.umount_quiet(mnt)
        shutil.rmtree(layout.dir, ignore_errors=True)
