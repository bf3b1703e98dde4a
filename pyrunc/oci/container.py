"""The runtime's side of pyrunc-oci: create, start, state, kill, delete, run. No process of pyrunc stays: after
`create` the container's init (blocked on its exec FIFO) is the only one, as with runc.

State, under --root (a directory per container, 0711 as runc's, so that an init that dropped to another
user can still open the FIFO in it):
    <root>/<id>/state.json   written once by create (atomically): pid, its start time, bundle, rootfs,
                             created, annotations, cgroup groups, the poststart/poststop hooks, and the
                             decoded process and seccomp JSON (what exec needs: it does not read config.json)
    <root>/<id>/exec.fifo    made by create, removed by start once the init went on
While `create` works it holds a lock (flock) on the directory and has noted the container's cgroup in
<root>/<id>/cgroups.json, so that what a `create` killed half-way leaves can still be deleted.
The status is derived on read, as runc does (state.py: the read side, which exec and the other verbs load
without this module).
"""

from __future__ import annotations

import fcntl
import os
import resource
import time

from pyrunc.linux import syscalls as sc
from pyrunc.oci.state import (  # noqa: F401 - the read side, re-exported
    CGROUPS,
    FIFO,
    STATE,
    OciError,
    State,
    _locked,
    _write_pid_file,
    connect_console_socket,
    container_dir,
    list_all,
    load,
    load_with_facts,
    set_child_subreaper,
)
from pyrunc.store import atomic, leanjson

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from pyrunc.records import NamedTuple
if TYPE_CHECKING:
    import signal
else:  # signal.py's C module: the same numbers and calls, without signal.py's enums (enum: ~2 ms)
    import _signal as signal

if TYPE_CHECKING:
    from pyrunc.oci import config as oc  # loaded by the verbs that decode a config (create, run): not by exec
    from pyrunc.runtime.launch import Pending


class CreateOptions(NamedTuple):
    bundle: str = "."
    pid_file: str = ""
    console_socket: str = ""
    preserve_fds: int = 0
    no_pivot: bool = False
    no_new_keyring: bool = False
    console_fd: int = -1  # run in the foreground with process.terminal: our end of a socketpair (exec.py relays)


def _now() -> str:
    ns = time.time_ns()  # not datetime: one import less on every create
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(ns // 1_000_000_000)) + f"{ns % 1_000_000_000:09d}Z"


def create(root: str, container_id: str, opts: CreateOptions, *, detached: bool = True,
           cfg: oc.OciConfig | None = None) -> State:
    """Everything but the user's program: the init waits on its FIFO. On error nothing is left behind."""
    from pyrunc.oci import cgroup
    from pyrunc.oci import config as oc
    from pyrunc.oci.init import InitArgs, launcher_main
    from pyrunc.oci.process import to_facts

    cfg = cfg or oc.load(opts.bundle)
    if cfg.process.terminal and not opts.console_socket and opts.console_fd < 0:
        if detached:
            raise OciError("cannot allocate tty if pyrunc-oci will detach without setting console socket")
        raise OciError("process.terminal: pyrunc-oci run in the foreground cannot proxy a terminal yet: "
                       "use --detach with --console-socket (docs/oci.md)")
    if opts.console_socket and not cfg.process.terminal:
        raise OciError("cannot use console socket if pyrunc-oci will not detach or allocate tty")
    if not os.path.isdir(cfg.root):
        raise OciError(f"root.path: {cfg.root}: no such directory")
    os.makedirs(root, 0o711, exist_ok=True)
    where = container_dir(root, container_id)
    try:
        os.mkdir(where, 0o711)
    except FileExistsError:
        raise OciError(f"container with id exists: {container_id}") from None
    os.chmod(where, 0o711)
    lock = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(lock, fcntl.LOCK_EX)  # the init closes its copy before it waits (init.py: close_fds_except)
    groups: dict[str, str] = {}
    console = -1
    state_fd = -1
    trees: tuple[tuple[int, int], ...] = ()
    try:
        os.mkfifo(os.path.join(where, FIFO), 0o622)
        os.chmod(os.path.join(where, FIFO), 0o622)
        version, hierarchies = cgroup.host_version()
        rel = cgroup.relative_path(cfg.cgroups_path, container_id)
        atomic.write_text(os.path.join(where, CGROUPS), leanjson.dumps(cgroup.paths(version, hierarchies, rel)), mode=0o644)
        groups = cgroup.create(version, hierarchies, rel, cfg.resources)
        if opts.console_fd >= 0:
            console = os.dup(opts.console_fd)
        elif opts.console_socket:
            console = connect_console_socket(opts.console_socket)
        state_fd = os.open(where, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        trees = _idmapped_trees(cfg)
        args = InitArgs(cfg, container_id, state_fd, console, opts.preserve_fds, opts.no_pivot, opts.no_new_keyring,
                        cgroup.bind_names(hierarchies, groups) if version == 1 else (), version, trees)
        from pyrunc.runtime.launch import LaunchError, begin_with

        if cfg.seccomp:
            from pyrunc.oci import with_site

            with_site()  # the init compiles the filter with pyseccomp, from the virtualenv

        pending = begin_with(lambda sync_w, go_r: launcher_main(args, sync_w, go_r))

        # The cgroup as soon as the init's pid is known, while it still starts (the first cgroup.procs write
        # waits for an RCU grace period on v1, ~10 ms): unless execCPUAffinity.initial, which the init sets
        # before it joins the cgroup (whose cpuset then replaces it).
        early = not cfg.process.cpu_affinity_initial

        def before_go(pid: int) -> None:
            if cfg.namespaces.get("user") == "new":
                from pyrunc.oci.userns import write_maps

                write_maps(pid, cfg.uid_map, cfg.gid_map)
            if not early:
                cgroup.attach(groups, pid)
            for r in cfg.process.rlimits:
                resource.prlimit(pid, getattr(resource, r.resource), (r.soft, r.hard))
            if cfg.process.oom_score_adj is not None:
                from pyrunc.cgroups.oom import apply_oom_score_adj

                apply_oom_score_adj(pid, cfg.process.oom_score_adj)  # clamped as the pods' when refused

        try:
            pending.release(before_go, on_pid=(lambda pid: cgroup.attach(groups, pid)) if early else None)
            _create_hooks(pending, cfg, container_id)
            launched = pending.finish_at("created")
        except LaunchError as e:
            if cgroup.oom_killed(groups):
                raise OciError("the container's init was killed by the OOM killer: "
                               "linux.resources.memory.limit is too low") from None
            raise OciError(e.message) from None
        from pyrunc.oci import hooks

        facts = {"pid": launched.pid, "start_time": launched.start_time, "bundle": cfg.bundle, "rootfs": cfg.root,
                 "created": _now(), "annotations": dict(cfg.annotations), "cgroups": groups,
                 "poststart": hooks.to_json(cfg.hooks_of("poststart")),
                 "poststop": hooks.to_json(cfg.hooks_of("poststop")),
                 # what exec needs, so that it does not decode config.json again (runc keeps the spec in its state)
                 "process": to_facts(cfg.process), "seccomp": cfg.seccomp}
        atomic.write_text(os.path.join(where, STATE), leanjson.dumps(facts, sort_keys=True), mode=0o644)
        if opts.pid_file:
            _write_pid_file(opts.pid_file, launched.pid)
    except BaseException:
        _remove(where, groups)
        raise
    finally:
        for fd in (console, state_fd, lock, *(fd for _, fd in trees)):
            if fd >= 0:
                os.close(fd)
    return load(root, container_id)


def _idmapped_trees(cfg: oc.OciConfig) -> tuple[tuple[int, int], ...]:
    """(mount index, detached id-mapped tree) for each idmap/ridmap mount, made here in the host's user
    namespace (mountattr.idmapped_tree says why); the init moves them onto their targets."""
    out: list[tuple[int, int]] = []
    if not any(m.idmap for m in cfg.mounts):
        return ()
    from pyrunc.oci import config as oc
    from pyrunc.oci import mountattr, userns

    try:
        for i, m in enumerate(cfg.mounts):
            if not m.idmap:
                continue
            ns = userns.namespace_fd(m.uid_map or cfg.uid_map, m.gid_map or cfg.gid_map)
            try:
                source = m.source if m.source.startswith("/") else os.path.join(cfg.bundle, m.source)
                try:
                    tree = mountattr.idmapped_tree(source, ns, bool(m.flags & oc.MS_REC), m.idmap == "ridmap")
                except OSError as e:
                    raise OciError(f"mounts[{i}]: {e.strerror or e}") from None
                out.append((i, tree))
            finally:
                os.close(ns)
    except BaseException:
        for _, fd in out:
            os.close(fd)
        raise
    return tuple(out)


def _create_hooks(pending: Pending, cfg: oc.OciConfig, container_id: str) -> None:
    """prestart then createRuntime (runc's order), in our namespaces, while the init waits before pivot_root
    (init.py). The init runs createContainer hooks itself: its deadline grows by their timeouts."""
    from pyrunc.oci import hooks

    waits = [h.timeout or 3600 for k in ("prestart", "createRuntime", "createContainer") for h in cfg.hooks_of(k)]
    pending.extend_deadline(sum(waits))
    if not (cfg.hooks_of("prestart") or cfg.hooks_of("createRuntime")):
        return
    pending.wait_for("hooks")
    state = hooks.state_json(container_id, "creating", pending.init_pid, cfg.bundle, dict(cfg.annotations))
    try:
        hooks.run("prestart", cfg.hooks_of("prestart"), state)
        hooks.run("createRuntime", cfg.hooks_of("createRuntime"), state)
    except hooks.HookError as e:
        pending.abort()
        raise OciError(e.message) from None
    pending.answer(b"h")


def _state_for_hooks(st: State, status: str) -> bytes:
    from pyrunc.oci import hooks

    return hooks.state_json(st.id, status, st.pid if status != "stopped" else 0, st.bundle, st.annotations)


def start(root: str, container_id: str) -> None:
    """Release the init of a created container: read its FIFO (the init then execs), remove the FIFO."""
    st, facts = load_with_facts(root, container_id)
    if st.status != "created":
        raise OciError(f"cannot start a container that is {st.status}" if st.status != "running"
                       else "cannot start an already running container")
    path = os.path.join(container_dir(root, container_id), FIFO)
    # Non-blocking, then polled: a blocking open would hang for good if the init died meanwhile.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            if sc.readable(fd, 0.1):
                data = os.read(fd, 1)
                if data:
                    break
            if not sc.pid_alive(st.pid, st.start_time):
                raise OciError("cannot start a container that has stopped")
            time.sleep(0.01)
    finally:
        os.close(fd)
    os.unlink(path)
    from pyrunc.oci import hooks

    posts = hooks.from_json(facts.get("poststart") or [])
    if posts:
        hooks.run_warning("poststart", posts, _state_for_hooks(st, "running"))


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    st = load(root, container_id)
    if st.status not in ("created", "running", "paused") and not all_processes:
        # (runc's `kill --all` of a stopped container signals what is left in its cgroup and succeeds:
        # containerd's shim calls it after the init exited, to kill the init's children.)
        raise OciError("container not running")
    from pyrunc.oci import cgroup

    pids = cgroup.procs(st.cgroups) if all_processes else [st.pid]
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def delete(root: str, container_id: str, force: bool = False) -> None:
    if force and not os.path.isdir(container_dir(root, container_id)):
        # runc's `delete --force` of a container that does not exist succeeds: containerd's shim runs it
        # in its cleanup after the container may already be gone, and warns on a failure.
        return
    st, facts = load_with_facts(root, container_id)
    if st.status in ("running", "paused") and not force:
        raise OciError(f"cannot delete container {container_id} that is not stopped: {st.status}")
    if st.status in ("created", "running", "paused"):
        _kill_all(st)
    from pyrunc.oci import hooks

    posts = hooks.from_json(facts.get("poststop") or [])
    _remove(container_dir(root, container_id), st.cgroups)
    if posts:
        hooks.run_warning("poststop", posts, _state_for_hooks(st, "stopped"))


def _kill_all(st: State) -> None:
    from pyrunc.oci import cgroup

    for pid in [st.pid, *cgroup.procs(st.cgroups)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if st.status == "paused":  # a frozen task (cgroup v1) dies of SIGKILL only once thawed
        from pyrunc.oci.freeze import set_frozen

        set_frozen(st.cgroups, False)
    while sc.pid_alive(st.pid, st.start_time):  # reaped by whoever is its parent (or a zombie: dead already)
        time.sleep(0.01)


def _remove(where: str, groups: dict[str, str]) -> None:
    if groups:
        from pyrunc.oci import cgroup

        cgroup.remove(groups)
    # The directory holds files only (state.json, cgroups.json, exec.fifo): no shutil (an import) for them.
    try:
        for name in os.listdir(where):
            os.unlink(os.path.join(where, name))
        os.rmdir(where)
    except FileNotFoundError:
        pass
    except OSError:
        import shutil

        shutil.rmtree(where, ignore_errors=True)


def run(root: str, container_id: str, opts: CreateOptions, detach: bool) -> int:
    """create + start; in the foreground, wait for the init (we are the subreaper it is reparented to),
    forward the usual signals to it, then delete the container and return its exit status (128+N if killed)."""
    if detach:
        create(root, container_id, opts, detached=True)
        try:
            start(root, container_id)
        except BaseException:
            delete(root, container_id, force=True)
            raise
        return 0
    from pyrunc.oci import config as oc

    set_child_subreaper()
    relay = None
    cfg = oc.load(opts.bundle)
    if not opts.console_socket and cfg.process.terminal:
        # runc's foreground terminal: the init sends the pty master to us, we relay our stdio to it.
        import socket

        relay, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            st = create(root, container_id, opts._replace(console_fd=theirs.fileno()),
                        detached=False, cfg=cfg)
        except BaseException:
            relay.close()
            raise
        finally:
            theirs.close()
    else:
        st = create(root, container_id, opts, detached=False, cfg=cfg)
    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
    for s in forwarded:
        signal.signal(s, lambda n, _f: _forward(st.pid, n))
    try:
        start(root, container_id)
        if relay is not None:
            from pyrunc.oci.exec import relay_terminal

            relay_terminal(relay, st.pid)
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                code = 255
                break
            if pid == st.pid:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
                break
    finally:
        for s in forwarded:
            signal.signal(s, signal.SIG_DFL)
        delete(root, container_id, force=True)
    return code


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
